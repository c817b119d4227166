"""Answers only where needed: does routing an item to its most reliable answerer help?

An exploratory replay beside bench_active.py (same protocol: each set's real answers per task in a
random order, one answer per task first, then one more answer for the 5 % of tasks ranked first,
accuracy of the method with every answer as the target; the truth only scores the curve). With
``route=True`` the extra answer of a chosen task comes not from the next answer in the random order
but from the not-yet-revealed real answerer of that task whose answer has the largest expected
information gain under the current posterior, with each worker's confusion matrix estimated from
the revealed answers (soft counts against the posterior, optionally leave-one-out so that a worker
does not vouch for itself, shrunk with weight ``a`` towards the pooled matrix). A worker who did
not answer a task in the data is never asked for it. Results are in docs/consensus.md.

    python benchmarks/bench_active_routing.py rte,dog 0,1,2 '{"route": false}' '{"route": true, "loo": true, "a": 10}'
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import tagger as tg
from tagger import _core
from tagger.consensus.base import factorize

DATA = str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd")
def H(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        l = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * l).sum(-1)

def confusions(t, w, y, p, W, K, a=2.0, loo=False, pi_prev=None):
    P = p[t]
    if loo and pi_prev is not None:
        lp = np.log(np.maximum(P, 1e-300)) - np.log(np.maximum(pi_prev[w, :, y], 1e-300))
        lp -= lp.max(1, keepdims=True); P = np.exp(lp); P /= P.sum(1, keepdims=True)
    C = np.zeros((W, K, K))
    for j in range(K):
        m = y == j
        np.add.at(C[:, :, j], w[m], P[m])
    pooled = C.sum(0) + 1.0
    pibar = pooled / pooled.sum(1, keepdims=True)
    pi = (C + a * pibar[None]) / (C.sum(2, keepdims=True) + a)
    return pi

def eig_pairs(P, Pi):
    py = np.einsum("nk,nkj->nj", P, Pi)
    return np.maximum(H(py) - np.einsum("nk,nk->n", P, H(Pi)), 0)

def replay(name, seed, policy="active", score="margin", route=True, step=0.05, smoothing=1.0, a=2.0,
           pilot=0.0, pilot_n=2, route_first=False, loo=False, method="dawid_skene"):
    ans = pd.read_csv(f"{DATA}/{name}/answers.csv")
    truth = pd.read_csv(f"{DATA}/{name}/truth.csv").set_index("task")["truth"]
    A, _ = factorize(ans)
    T, W, K = len(A.task_names), len(A.worker_names), len(A.label_names)
    t, w, y = A.task.astype(np.int64), A.worker.astype(np.int64), A.label.astype(np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(t))
    rank = np.empty(len(t), np.int64)
    # rank of each answer within its task in the random order
    order = perm[np.argsort(t[perm], kind="stable")]
    starts = np.r_[0, np.flatnonzero(np.diff(t[order])) + 1]
    cnt = np.bincount(t, minlength=T)
    rank[order] = np.arange(len(t)) - np.repeat(starts, cnt)
    rev = np.zeros(len(t), bool)
    truth_codes = A.label_names.get_indexer(truth.reindex(A.task_names).astype(ans["label"].dtype))
    est = tg.consensus.get_method(method)
    def score_acc():
        cur = ans.iloc[np.flatnonzero(rev)]
        pred = est.fit_predict(cur)
        return float((pred.reindex(truth.index) == truth).mean())
    def fitp():
        idx = np.flatnonzero(rev)
        f = _core.consensus.fit("dawid_skene", A.task[idx], A.worker[idx], A.label[idx], T, W, K, smoothing=smoothing)
        return np.asarray(f["probas"], float), np.asarray(f["errors"], float)
    # first round
    if pilot > 0:
        pt = rng.choice(T, size=int(round(pilot * T)), replace=False)
        ispilot = np.zeros(T, bool); ispilot[pt] = True
        rev |= ispilot[t] & (rank < pilot_n)
        if route_first:
            p, err = fitp()
            pi = confusions(t[rev], w[rev], y[rev], p, W, K, a)
            cand = np.flatnonzero(~ispilot[t])
            e = pi[w[cand]]
            # with no answers the task posterior is the prior: value a worker by eig under p
            ev = eig_pairs(p[t[cand]], e)
            # best candidate per task
            o = np.lexsort((-ev, t[cand]))
            c = cand[o]
            first = np.r_[True, t[c][1:] != t[c][:-1]]
            rev[c[first]] = True
        else:
            rev |= ~ispilot[t] & (rank < 1)
    else:
        rev |= rank < 1
    batch = max(1, int(round(step * T)))
    rows = []
    while True:
        rows.append((rev.sum(), rev.mean(), score_acc()))
        openm = ~rev
        if not openm.any():
            break
        open_tasks = np.unique(t[openm])
        if policy == "random":
            pick = rng.choice(open_tasks, size=min(batch, len(open_tasks)), replace=False)
            c = np.flatnonzero(openm & np.isin(t, pick))
            o = np.lexsort((rank[c], t[c])); c = c[o]
            first = np.r_[True, t[c][1:] != t[c][:-1]]
            rev[c[first]] = True
            continue
        p, err = fitp()
        srt = np.sort(p, 1); margin = srt[:, -1] - srt[:, -2]
        cand = np.flatnonzero(openm)
        if route:
            idx = np.flatnonzero(rev)
            pi = confusions(t[idx], w[idx], y[idx], p, W, K, a, loo=loo, pi_prev=err if loo else None)
            ev = eig_pairs(p[t[cand]], pi[w[cand]])
            o = np.lexsort((rank[cand], -np.round(ev, 12), t[cand]))
        else:
            pi = confusions(t[rev], w[rev], y[rev], p, W, K, a)
            ev = eig_pairs(p[t[cand]], pi[w[cand]])
            o = np.lexsort((rank[cand], t[cand]))
        c = cand[o]; evc = ev[o]
        first = np.r_[True, t[c][1:] != t[c][:-1]]
        c1 = c[first]; e1 = evc[first]; tt = t[c1]
        if score == "margin":
            s = 1 - margin[tt]
        elif score == "eig":
            s = e1
        elif score == "entropy":
            s = H(p[tt])
        nans = np.bincount(t[rev], minlength=T)[tt]
        sel = np.lexsort((tt, nans, -np.round(s, 12)))[:batch]
        rev[c1[sel]] = True
    return pd.DataFrame(rows, columns=["answers", "fraction", "accuracy"])

def target(name, method="dawid_skene"):
    ans = pd.read_csv(f"{DATA}/{name}/answers.csv")
    truth = pd.read_csv(f"{DATA}/{name}/truth.csv").set_index("task")["truth"]
    full = tg.consensus.get_method(method).fit_predict(ans)
    return float((full.reindex(truth.index) == truth).mean())

def reach(c, tgt):
    h = c[c.accuracy >= tgt - 1e-12]
    return float(h.fraction.iloc[0]) if len(h) else float("nan")

def main() -> int:
    if not Path(DATA).exists():
        print(f"skipped: {DATA} is missing")
        return 0
    sets = sys.argv[1].split(",") if len(sys.argv) > 1 else ["rte", "dog"]
    seeds = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0, 1, 2]
    configs = [json.loads(c) for c in sys.argv[3:]] or [{"route": False}, {"route": True, "loo": True, "a": 10},
                                                          {"policy": "random"}]
    tgt = {n: target(n) for n in sets}
    for kw in configs:
        out = []
        t0 = time.time()
        for n in sets:
            r = [reach(replay(n, s, **kw), tgt[n]) for s in seeds]
            out.append(f"{n} median {np.nanmedian(r):.1%} [{' '.join(f'{x:.1%}' for x in r)}]")
        print(kw, " | ".join(out), f"{time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
