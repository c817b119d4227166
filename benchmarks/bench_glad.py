"""GLAD: tagger's two variants against crowd-kit 1.4, in the same process, on the same data.

1. Speed at a realistic size: synthetic answers (default 100,000: 10,000 tasks
   x overlap 10, 2,000 workers, 3 classes), ``n_iter`` EM iterations forced for
   both (tol = -1e18), crowd-kit's defaults otherwise; prints both times, the
   ratio and label agreement.
2. Agreement per shared set (../shared/data/crowd) and its sparse split (every
   worker cut into pseudo-workers of 1-5 answers, as tests/test_consensus_parity.py
   builds it), plus the long-tailed synthetic set: labels of
   ``GLAD()`` (variant="crowdkit") and ``GLAD(variant="tagger")`` against
   crowd-kit's, accuracy against the shared truth, parameter distance, times.
   crowd-kit's GLAD takes 10 s to several minutes per set here.

    python benchmarks/bench_glad.py [--answers N] [--n-iter I] [--sets dog,rte,...] [--threads T]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import tagger as tg

C = tg.consensus
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crowd"
SETS = "dog,dog-split,rte,rte-split,product,product-split,long-tailed"

try:
    import crowdkit.aggregation as ck
except ImportError:  # the bench extra is optional
    ck = None


def split_workers(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    chunk = np.zeros(len(df), dtype=np.int64)
    for idx in df.groupby("worker").indices.values():
        cuts = np.cumsum(rng.integers(1, 6, size=len(idx)))
        chunk[idx] = np.searchsorted(cuts, np.arange(len(idx)), side="right")
    return df.assign(worker=df["worker"] + "_" + chunk.astype(str))


def long_tailed(n_tasks: int = 600, k: int = 3, n_workers: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(k, size=n_tasks)
    act = rng.zipf(1.6, n_workers).clip(1, 200)
    accuracy = rng.uniform(0.3, 0.95, n_workers)
    rows = []
    for w in range(n_workers):
        for t in rng.choice(n_tasks, size=act[w], replace=False):
            lab = truth[t] if rng.random() < accuracy[w] else rng.integers(k)
            rows.append((f"t{t}", f"w{w}", f"c{lab}"))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def load(name: str) -> tuple[pd.DataFrame, pd.Series | None]:
    if name == "long-tailed":
        return long_tailed(), None
    base = name.removesuffix("-split")
    df = pd.read_csv(SHARED / base / "answers.csv", dtype=str)
    gt = pd.read_csv(SHARED / base / "truth.csv", dtype=str).set_index("task")["truth"]
    return (split_workers(df) if name.endswith("-split") else df), gt


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def agree(a: pd.Series, b: pd.Series) -> float:
    return float((a.loc[b.index].to_numpy() == b.to_numpy()).mean())


def accuracy(labels: pd.Series, gt: pd.Series | None) -> str:
    if gt is None:
        return "-"
    common = labels.index.intersection(gt.index)
    return f"{(labels.loc[common] == gt.loc[common]).mean():.4f}"


def speed(n: int, n_iter: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    n_tasks, overlap, n_workers, k = n // 10, 10, max(2, n // 50), 3
    task = np.repeat(np.arange(n_tasks), overlap)
    worker = rng.integers(0, n_workers, len(task))
    skill = rng.uniform(0.35, 0.95, n_workers)
    truth = rng.integers(0, k, n_tasks)
    label = np.where(rng.random(len(task)) < skill[worker], truth[task], rng.integers(0, k, len(task)))
    df = pd.DataFrame({"task": task, "worker": worker, "label": label})
    never = -1e18  # crowd-kit stops when Q rises by less than tol: this runs every iteration
    ours, t_ours = timed(lambda: C.GLAD(n_iter=n_iter, tol=never, threads=threads).fit(df))
    # the tagger engine takes tol >= 0 only; its objective rises every iteration here, so 0 runs them all
    tag, t_tag = timed(lambda: C.GLAD(n_iter=n_iter, tol=0.0, variant="tagger", threads=threads).fit(df))
    print(f"synthetic {len(df):,} answers ({n_tasks:,} tasks, {n_workers:,} workers, {k} classes), {n_iter} EM iterations:")
    print(f"  tagger GLAD variant='crowdkit' {t_ours:.3f} s, variant='tagger' {t_tag:.3f} s")
    if ck is None:
        print("  crowd-kit not installed (pip install tagger[bench]): no comparison")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, t_ck = timed(lambda: ck.GLAD(n_iter=n_iter, tol=never).fit(df))
    print(f"  crowd-kit GLAD {t_ck:.2f} s -> variant='crowdkit' {t_ck / t_ours:.0f}x faster, "
          f"variant='tagger' {t_ck / t_tag:.0f}x faster; label agreement {agree(ours.labels_, theirs.labels_):.4f} "
          f"(crowdkit variant), {agree(tag.labels_, theirs.labels_):.4f} (tagger variant)")


def shared(names: list[str], threads: int) -> None:
    print("| set | answers | agreement crowdkit-variant | agreement tagger-variant | acc crowd-kit | acc crowdkit-variant "
          "| acc tagger-variant | max abs diff alphas / betas | time crowd-kit / crowdkit-variant |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        if name != "long-tailed" and not (SHARED / name.removesuffix("-split")).exists():
            print(f"| {name} | not found under {SHARED} |")
            continue
        df, gt = load(name)
        ours, t_ours = timed(lambda: C.GLAD(threads=threads).fit(df))
        tag = C.GLAD(variant="tagger", threads=threads).fit(df)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs, t_ck = timed(lambda: ck.GLAD().fit(df))
        da = np.abs(ours.alphas_.loc[theirs.alphas_.index] - theirs.alphas_).max()
        db = np.abs(ours.betas_.loc[theirs.betas_.index] - theirs.betas_).max()
        print(f"| {name} | {len(df):,} | {agree(ours.labels_, theirs.labels_):.4f} | {agree(tag.labels_, theirs.labels_):.4f} "
              f"| {accuracy(theirs.labels_, gt)} | {accuracy(ours.labels_, gt)} | {accuracy(tag.labels_, gt)} "
              f"| {da:.1e} / {db:.1e} | {t_ck:.1f} s / {t_ours:.3f} s ({t_ck / t_ours:.0f}x) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=100_000)
    ap.add_argument("--n-iter", type=int, default=5)
    ap.add_argument("--sets", default=SETS, help=f"comma-separated subset of {SETS} (empty: none)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    speed(args.answers, args.n_iter, args.threads)
    names = [s for s in args.sets.split(",") if s]
    if names and ck is not None:
        shared(names, args.threads)


if __name__ == "__main__":
    main()
