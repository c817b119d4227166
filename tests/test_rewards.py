"""tg.rewards: mechanisms against slow reference implementations written from
the formulas in docs/rewards.md, integer policies on hand-made examples, and
the budget, reputation and slashing invariants."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import tagger as tg
from tagger import rewards as R
from tagger.errors import InvalidArgument


def random_answers(seed: int, n_tasks: int = 40, n_workers: int = 8, L: int = 3, per_task: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    truth = rng.integers(0, L, n_tasks)
    for t in range(n_tasks):
        for w in rng.choice(n_workers, per_task, replace=False):
            lab = truth[t] if rng.random() < 0.7 else rng.integers(0, L)
            rows.append((t, int(w), int(lab)))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


# ---------------------------------------------------- slow references ------

def peers(df):
    """(answer row, peer row) pairs of distinct workers on the same task."""
    for _, g in df.groupby("task"):
        recs = list(g.itertuples(index=False))
        for a in recs:
            yield a, [b for b in recs if b.worker != a.worker]


def ref_mean_over_peers(df, f):
    out = {w: 0.0 for w in sorted(df.worker.unique())}
    for a, ps in peers(df):
        if ps:
            vals = [f(a, p) for p in ps]
            vals = [v for v in vals if v is not None]
            if vals:
                out[a.worker] += sum(vals) / len(vals)
    return pd.Series(out)


def ref_joint(df, L):
    j = np.zeros((L, L))
    for a, ps in peers(df):
        for p in ps:
            j[a.label, p.label] += 1
    return j


def ref_oa(df, L):
    return ref_mean_over_peers(df, lambda a, p: float(a.label == p.label))


def ref_pp(df, L):
    c = ref_joint(df, L) + 1.0
    q = c / c.sum(axis=1, keepdims=True)
    return ref_mean_over_peers(df, lambda a, p: 2 * q[a.label, p.label] - (q[a.label] ** 2).sum())


def ref_pts(df, L):
    def f(a, p):
        others = df[df.worker != a.worker]
        r = ((others.label == a.label).sum() + 1) / (len(others) + L)
        return (1 / r if a.label == p.label else 0) - 1
    return ref_mean_over_peers(df, f)


def ref_ca(df, L):
    j = ref_joint(df, L)
    j /= j.sum()
    m = j.sum(axis=1)
    S = (j - np.outer(m, m) > 0).astype(float)

    def f(a, p):
        fw = df[(df.worker == a.worker) & (df.task != a.task)].label
        fp = df[(df.worker == p.worker) & (df.task != a.task)].label
        if len(fw) == 0 or len(fp) == 0:
            return None
        pen = np.mean([S[x, y] for x in fw for y in fp])
        return S[a.label, p.label] - pen
    return ref_mean_over_peers(df, f)


def ref_dmi(df, L):
    out = {w: 0.0 for w in sorted(df.worker.unique())}
    lab = {(r.task, r.worker): r.label for r in df.itertuples()}
    workers = sorted(df.worker.unique())
    for w, p in combinations(workers, 2):
        shared = sorted(set(df[df.worker == w].task) & set(df[df.worker == p].task))
        if len(shared) // 2 < L:
            continue
        halves = [shared[0::2], shared[1::2]]
        dets = []
        for h in halves:
            M = np.zeros((L, L))
            for t in h:
                M[lab[t, w], lab[t, p]] += 1
            dets.append(np.linalg.det(M / len(h)))
        v = len(shared) * L ** (2 * L) * dets[0] * dets[1]
        out[w] += v
        out[p] += v
    return pd.Series(out)


def ref_bts(df, L, pred, alpha=1.0, eps=1e-3):
    out = {w: 0.0 for w in sorted(df.worker.unique())}
    df = df.reset_index(drop=True)
    for _, g in df.groupby("task"):
        if len(g) < 2:
            continue
        xbar = np.array([(g.label == k).mean() for k in range(L)])
        logy = np.log(np.maximum(pred[g.index], eps)).mean(axis=0)
        for i, r in g.iterrows():
            k = r.label
            info = math.log(xbar[k]) - logy[k]
            y = np.log(np.maximum(pred[i], eps))
            pr = sum(xbar[j] * (y[j] - math.log(xbar[j])) for j in range(L) if xbar[j] > 0)
            out[r.worker] += info + alpha * pr
    return pd.Series(out)


REFS = {"output_agreement": ref_oa, "peer_prediction": ref_pp, "peer_truth_serum": ref_pts,
        "correlated_agreement": ref_ca}


@pytest.mark.parametrize("mechanism", sorted(REFS))
@pytest.mark.parametrize("seed", [0, 1])
def test_peer_mechanisms_match_reference(mechanism, seed):
    df = random_answers(seed)
    got = R.score(mechanism, df)["score"]
    want = REFS[mechanism](df, 3)
    np.testing.assert_allclose(got.sort_index().values, want.sort_index().values, rtol=1e-9, atol=1e-9)


def test_dmi_matches_reference():
    # Two teams sharing many tasks (DMI needs >= 2L shared tasks per pair).
    rows = []
    rng = np.random.default_rng(3)
    for t in range(200):
        team = [0, 1, 2] if t % 2 else [3, 4, 5]
        truth = rng.integers(0, 3)
        for w in team:
            rows.append((t, w, int(truth if rng.random() < 0.8 else rng.integers(0, 3))))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    got = R.score("dmi", df)["score"]
    want = ref_dmi(df, 3)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-9, atol=1e-12)
    assert (got > 0).all()


def test_dmi_constant_reporter_scores_exactly_zero():
    rows = [(t, w, 0 if w == 0 else t % 2) for t in range(20) for w in range(2)]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    assert R.score("dmi", df)["score"].tolist() == [0.0, 0.0]


def test_bts_matches_reference():
    df = random_answers(4)
    rng = np.random.default_rng(4)
    pred = rng.dirichlet(np.ones(3), len(df))
    got = R.score("bts", df, predictions=pred, bts_alpha=0.7)["score"]
    want = ref_bts(df, 3, pred, alpha=0.7)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-9, atol=1e-9)
    # The prediction column path gives the same.
    df2 = df.assign(prediction=list(pred))
    np.testing.assert_allclose(R.score("bts", df2, bts_alpha=0.7)["score"].values, got.values)


def test_gold_and_consensus_accuracy_scores():
    df = pd.DataFrame({"task": [0, 0, 1, 1, 2], "worker": ["a", "b", "a", "b", "a"], "label": [1, 0, 1, 1, 0]})
    g = R.score("gold_standard", df, gold={0: 1, 1: 1})
    assert g.loc["a", "score"] == pytest.approx(3 * 1.0) and g.loc["b", "score"] == pytest.approx(2 * 0.5)
    post = pd.DataFrame({0: [0.2, 0.5, 0.9], 1: [0.8, 0.5, 0.1]}, index=[0, 1, 2])
    c = R.score("consensus_accuracy", df, consensus=post)
    assert c.loc["a", "score"] == pytest.approx(0.8 + 0.5 + 0.9)
    assert c.loc["b", "score"] == pytest.approx(0.2 + 0.5)


def test_ca_score_matrix_is_sign_of_delta():
    df = random_answers(5)
    j = ref_joint(df, 3)
    j /= j.sum()
    m = j.sum(1)
    code = R._Encoded(df)
    np.testing.assert_allclose(tg._core.sim.peer_joint(*code.args()).reshape(3, 3), j)
    np.testing.assert_array_equal(tg._core.sim.ca_score_matrix(*code.args()).reshape(3, 3), (j - np.outer(m, m) > 0))


def test_scores_do_not_depend_on_answer_order():
    df = random_answers(6)
    shuffled = df.sample(frac=1.0, random_state=1)
    for m in ("output_agreement", "peer_truth_serum", "correlated_agreement", "dmi"):
        a = R.score(m, df)["score"]
        b = R.score(m, shuffled)["score"]
        np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-12)


def test_score_rejects_bad_input():
    df = random_answers(0)
    with pytest.raises(InvalidArgument, match="unknown mechanism"):
        R.score("nope", df)
    with pytest.raises(InvalidArgument, match="column"):
        R.score("output_agreement", df.drop(columns="label"))
    with pytest.raises(InvalidArgument, match="predictions"):
        R.score("bts", df)
    with pytest.raises(InvalidArgument, match="signal_model"):
        R.score("peer_prediction", df, signal_model=np.ones((3, 3)))
    with pytest.raises(InvalidArgument, match="posterior"):
        R.score("consensus_accuracy", df, consensus=pd.DataFrame({0: [1.0]}, index=[0]))


# ------------------------------------------------------ integer payouts ----

@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e9, allow_nan=False), min_size=1, max_size=30),
       st.integers(0, 10**15), st.floats(0, 1e4), st.floats(0, 1e3))
def test_to_amounts_never_exceeds_budget(scores, budget, rate, base):
    n = np.arange(len(scores), dtype=np.int64) % 7
    amt = R.to_amounts(np.array(scores), n, rate=rate, base=base, budget=budget)
    assert amt.dtype == np.int64 and (amt >= 0).all()
    assert sum(int(a) for a in amt) <= budget
    raw = [max(0.0, base * k + rate * s) for s, k in zip(scores, n)]
    if sum(math.floor(r) for r in raw) <= budget:  # no cap: exactly the floors
        assert [int(a) for a in amt] == [math.floor(r) for r in raw]


def test_to_amounts_scales_exactly_when_capped():
    amt = R.to_amounts(np.array([1.0, 2.0, 3.0]), np.zeros(3, np.int64), rate=100, budget=100)
    assert amt.tolist() == [100 * 100 // 600, 200 * 100 // 600, 300 * 100 // 600]


DF = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2, 3, 3], "worker": ["a", "b", "c", "a", "b", "c", "a", "b"],
                   "label": ["x", "x", "y", "y", "y", "y", "x", "y"]})
POST = pd.DataFrame({"x": [0.9, 0.1, 0.5], "y": [0.1, 0.9, 0.5]}, index=[1, 2, 3])


def test_flat_policy():
    assert R.Flat().apply(DF, None, None, 800).to_dict() == {"a": 300, "b": 300, "c": 200}
    assert R.Flat(per_answer=10).apply(DF, None, None, 800).to_dict() == {"a": 30, "b": 30, "c": 20}
    assert R.Flat(per_answer=1000).apply(DF, None, None, 801).sum() == 800  # capped at budget // n


def test_consensus_accuracy_policy():
    out = R.ConsensusAccuracy().apply(DF, POST, None, 800)  # price 100
    assert out.to_dict() == {"a": 90 + 90 + 50, "b": 90 + 90 + 50, "c": 10 + 90}
    labels = pd.Series({1: "x", 2: "y", 3: "y"})
    assert R.ConsensusAccuracy().apply(DF, labels, None, 800).to_dict() == {"a": 200, "b": 300, "c": 100}
    with pytest.raises(InvalidArgument, match="consensus"):
        R.ConsensusAccuracy().apply(DF, None, None, 800)


def test_gold_standard_policy():
    gold = {1: "x", 2: "y"}
    out = R.GoldStandard().apply(DF, None, gold, 800)  # price 100
    assert out.to_dict() == {"a": 300, "b": 300, "c": 100}  # c: 1 of 2 right -> 5000 bps * 2 answers
    assert R.GoldStandard(threshold_bps=6000).apply(DF, None, gold, 800).to_dict() == {"a": 300, "b": 300, "c": 0}


@pytest.mark.parametrize("policy", [R.OutputAgreement(), R.PeerPrediction(), R.PeerTruthSerum(),
                                    R.CorrelatedAgreement(), R.DMI(), R.Flat(), R.ConsensusAccuracy(),
                                    R.GoldStandard()])
@pytest.mark.parametrize("budget", [0, 1, 7, 10**6, 10**15])
def test_every_policy_respects_budget(policy, budget):
    df = random_answers(7)
    post = pd.get_dummies(df.groupby("task").label.agg(lambda s: s.mode()[0])).astype(float)
    out = policy.apply(df, post, {0: 0, 1: 1, 2: 2}, budget)
    assert out.dtype == np.int64 and (out >= 0).all() and int(out.sum()) <= budget
    assert repr(policy).startswith(type(policy).__name__)


def test_python_policy_interface_and_validation():
    class Winner(R.RewardPolicy):
        def payouts(self, answers, consensus, gold, budget):
            return {"a": budget}

    assert Winner().apply(DF, None, None, 50).to_dict() == {"a": 50}

    def bad(result):
        class P(R.RewardPolicy):
            def payouts(self, answers, consensus, gold, budget):
                return result
        return P()

    for result, msg in [({"a": 1.5}, "not an int"), ({"a": -1}, "negative"), ({"a": 60}, "more than the budget"),
                        ({"zed": 1}, "gave no answer"), ({"a": True}, "not an int"), ([1, 2], "Series or a mapping")]:
        with pytest.raises(InvalidArgument, match=msg):
            bad(result).apply(DF, None, None, 50)
    with pytest.raises(InvalidArgument, match="budget"):
        R.Flat().apply(DF, None, None, -1)


# ------------------------------------------------ reputation, slashing -----

def test_reputation_counts_and_rule():
    labels = pd.Series({1: "x", 2: "y", 3: "y"})
    c = R.reputation_counts(DF, labels, gold={1: "y"})
    # task 1 judged by gold y: a, b wrong, c right; tasks 2, 3 by consensus.
    assert c.loc["a"].tolist() == [1, 2] and c.loc["b"].tolist() == [2, 1] and c.loc["c"].tolist() == [2, 0]
    rule = R.ReputationRule(decay_bps=5000)
    s = rule.update(pd.DataFrame({"alpha": [10], "beta": [3]}, index=["a"]), c)
    assert s.loc["a"].tolist() == [5 + 1, 1 + 2, 10000 * 7 // 11]
    assert s.loc["c"].tolist() == [2, 0, 10000 * 3 // 4]
    assert R.reputation_bps(0, 0) == 5000


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10000))
def test_reputation_python_matches_core(a, b, c, i, d):
    pa, pb = R.update_reputation(a, b, c, i, d)
    ca, cb = tg._core.sim.update_reputation(np.array([a], np.uint64), np.array([b], np.uint64),
                                            np.array([c], np.uint64), np.array([i], np.uint64), d)
    assert (pa, pb) == (int(ca[0]), int(cb[0]))
    assert R.reputation_bps(pa, pb) == tg._core.sim.reputation_bps(pa, pb)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**62), st.integers(0, 50), st.integers(0, 50), st.integers(0, 10000), st.integers(0, 10000),
       st.integers(0, 10))
def test_slashing_python_matches_core(stake, correct, extra, thr, share, min_control):
    total = correct + extra
    py = R.slash_amounts(pd.Series({"w": stake}), {"w": correct}, {"w": total}, thr, share, min_control)["w"]
    assert py == tg._core.sim.slash_amount(stake, correct, total, thr, share, min_control)
    assert 0 <= py <= stake


def test_slashing_rule_on_control_tasks():
    rule = R.SlashingRule(threshold_bps=6000, share_bps=2500, min_control=2)
    out = rule(DF, {1: "x", 2: "y", 3: "x"}, pd.Series({"a": 1000, "b": 1000, "c": 1000}))
    # a: 3/3, b: 2/3 (6666 bps >= 6000), c: 1/2 (5000 bps < 6000) -> c loses 25%.
    assert out.to_dict() == {"a": 0, "b": 0, "c": 250}
    assert "SlashingRule" in repr(rule)
