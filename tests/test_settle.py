"""tagger._core.ledger.settle, the finalize rule the ledger re-executes:
its labels against tg.consensus, its payouts against the tg.rewards formulas
(same data, Python price = terms.rate), and the budget bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import rewards as R
from tagger.errors import IncompleteTask

from conftest import shared_path

L = tg._core.ledger
C = tg.consensus
RATE = 1_000


def synthetic(seed: int = 3, n_tasks: int = 600, n_workers: int = 40, n_labels: int = 3, overlap: int = 5):
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.35, 0.95, n_workers)
    truth = rng.integers(0, n_labels, n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, overlap, replace=False):
            lab = truth[t] if rng.random() < skill[w] else rng.integers(0, n_labels)
            rows.append((f"t{t:04d}", f"w{w:03d}", str(lab)))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return df, pd.Series([str(x) for x in truth], index=[f"t{t:04d}" for t in range(n_tasks)])


def load(name: str):
    if name == "synthetic":
        return synthetic()
    d = shared_path("data", "crowd", name)
    df = pd.read_csv(d / "answers.csv", dtype=str)
    return df, pd.read_csv(d / "truth.csv", dtype=str).set_index("task")["truth"]


class Encoded:
    """The ledger's view of a DataFrame: items and labels indexed in sorted
    order (as tg.consensus and tg.rewards do), workers by sorted id with
    addresses that sort the same way."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.item_codes, self.items = pd.factorize(df["task"], sort=True)
        self.worker_codes, self.workers = pd.factorize(df["worker"], sort=True)
        self.label_codes, self.labels = pd.factorize(df["label"], sort=True)
        self.addresses = [int(i + 1).to_bytes(20, "big") for i in range(len(self.workers))]
        self.worker_of = dict(zip(self.addresses, self.workers))
        self.counts = np.bincount(self.item_codes, minlength=len(self.items))

    def terms(self, method: str, policy: str, **kw) -> dict:
        return dict(n_items=len(self.items), n_labels=len(self.labels), overlap=int(self.counts.max()), rate=RATE,
                    method=method, policy=policy, **kw)

    def gold(self, truth: pd.Series) -> list[tuple[int, int]]:
        t = truth.reindex(self.items).dropna()
        t = t.iloc[::10]  # every tenth item with a known truth is a control item
        return [(int(self.items.get_loc(i)), int(self.labels.get_loc(v))) for i, v in t.items() if v in self.labels]

    def settle(self, terms: dict, gold=(), stakes=None, escrow: int = 10**15, partial: bool | None = None) -> dict:
        gold = list(gold)
        if gold:
            terms = dict(terms, gold_commitment=L.gold_commitment(bytes(32), gold))
        if partial is None:
            partial = bool((self.counts < terms["overlap"]).any())
        return L.settle(terms, self.addresses, self.item_codes.astype(np.int32), self.worker_codes.astype(np.int32),
                        self.label_codes.astype(np.int32), gold, stakes or [0] * len(self.addresses), escrow, partial)

    def labels_series(self, out: dict) -> pd.Series:
        return pd.Series(self.labels[out["labels"]], index=self.items)

    def payouts_series(self, out: dict) -> pd.Series:
        s = pd.Series({self.worker_of[a]: v for a, v in out["payouts"]}, dtype=np.int64)
        return s.reindex(self.workers, fill_value=0)


DATASETS = ("synthetic", "dog", "rte")


@pytest.fixture(params=DATASETS)
def data(request):
    df, truth = load(request.param)
    return df, truth, Encoded(df)


def test_majority_vote_labels_equal_tg_consensus(data) -> None:
    df, _, enc = data
    out = enc.settle(enc.terms("majority_vote", "flat"))
    ours = enc.labels_series(out)
    theirs = C.MajorityVote().fit_predict(df).reindex(enc.items)
    assert (ours == theirs).all()
    assert out["n_answered_items"] == len(enc.items)


@pytest.mark.parametrize("method", ["dawid_skene", "glad", "mace"])
def test_iterative_labels_agree_with_tg_consensus(data, method: str) -> None:
    df, _, enc = data
    out = enc.settle(enc.terms(method, "flat"))
    theirs = C.get_method(method).fit_predict(df).reindex(enc.items)
    assert (enc.labels_series(out) == theirs).mean() >= 0.99


def test_flat_equals_rewards_flat(data) -> None:
    df, _, enc = data
    out = enc.settle(enc.terms("majority_vote", "flat"))
    expected = R.Flat(per_answer=RATE).payouts(df, None, None, budget=RATE * len(df))
    pd.testing.assert_series_equal(enc.payouts_series(out), expected.reindex(enc.workers), check_names=False)


@pytest.mark.parametrize("method,estimator", [("majority_vote", C.MajorityVote), ("dawid_skene", C.DawidSkene)])
def test_consensus_accuracy_equals_rewards_formula(data, method: str, estimator) -> None:
    df, _, enc = data
    out = enc.settle(enc.terms(method, "consensus_accuracy"))
    # The ledger re-executes tagger's engine (variant="tagger"), not the crowd-kit-exact default.
    posterior = estimator(**({"variant": "tagger"} if method == "dawid_skene" else {})).fit_predict_proba(df)
    expected = R.ConsensusAccuracy(per_answer=RATE).payouts(df, posterior, None, budget=RATE * len(df))
    pd.testing.assert_series_equal(enc.payouts_series(out), expected.reindex(enc.workers), check_names=False)
    # settle's floored posterior is the Python formula's floor(1e6 * p) too.
    ppm = np.floor(np.clip(posterior.reindex(index=enc.items, columns=enc.labels).to_numpy(), 0, 1) * 1e6)
    np.testing.assert_array_equal(out["posterior_ppm"], ppm.astype(np.uint32))


def test_gold_standard_equals_rewards_formula(data) -> None:
    df, truth, enc = data
    gold = enc.gold(truth)
    assert gold
    terms = enc.terms("majority_vote", "gold_standard", policy_threshold_bps=6000, policy_no_control_bps=5000)
    out = enc.settle(terms, gold)
    gold_series = pd.Series({enc.items[i]: enc.labels[k] for i, k in gold})
    expected = R.GoldStandard(per_answer=RATE, threshold_bps=6000, no_control_bps=5000).payouts(
        df, None, gold_series, budget=RATE * len(df))
    pd.testing.assert_series_equal(enc.payouts_series(out), expected.reindex(enc.workers), check_names=False)
    # Control items come out as their gold label.
    labels = out["labels"]
    assert all(labels[i] == k for i, k in gold)


@pytest.mark.parametrize("policy", [p for p in L.SETTLE_POLICIES if p != "discretionary"])
def test_payouts_respect_rate_and_escrow(data, policy: str) -> None:
    df, _, enc = data
    n_w = pd.Series(np.bincount(enc.worker_codes, minlength=len(enc.workers)), index=enc.workers)
    terms = enc.terms("majority_vote", policy, policy_base=RATE // 10)
    out = enc.settle(terms)
    paid = enc.payouts_series(out)
    # The price of an answer is rate + base (mechanisms only add the base); no worker
    # is paid more than that per answer, whatever its score.
    price = RATE + (RATE // 10 if policy not in ("flat", "consensus_accuracy", "gold_standard") else 0)
    assert paid.sum() <= price * len(df)
    assert (paid <= price * n_w.reindex(paid.index)).all()
    escrow = RATE * len(df) // 3
    capped = enc.payouts_series(enc.settle(terms, escrow=escrow))
    assert capped.sum() <= escrow
    assert (capped <= paid).all()


def test_slashing_and_reputation_from_control_answers(data) -> None:
    df, truth, enc = data
    gold = enc.gold(truth)
    terms = enc.terms("dawid_skene", "flat", slashing=True, slash_min_control=1, slash_threshold_bps=9000)
    stakes = [10_000] * len(enc.addresses)
    out = enc.settle(terms, gold, stakes=stakes)
    cc = R.control_counts(df, pd.Series({enc.items[i]: enc.labels[k] for i, k in gold}))
    expected = R.slash_amounts(pd.Series(10_000, index=enc.workers), cc["correct"], cc["total"], 9000, 5000, 1)
    got = pd.Series({enc.worker_of[a]: v for a, v in out["slashes"]}, dtype=np.int64).reindex(enc.workers, fill_value=0)
    pd.testing.assert_series_equal(got, expected.reindex(enc.workers), check_names=False)
    rep = {enc.worker_of[a]: (c, i) for a, c, i in out["reputation"]}
    assert list(rep) == list(enc.workers)  # every worker that answered, in address order
    n_w = np.bincount(enc.worker_codes)
    assert [c + i for c, i in rep.values()] == list(n_w)


def test_deterministic_and_incomplete_without_partial() -> None:
    df, _ = synthetic(n_tasks=200)
    enc = Encoded(df)
    terms = enc.terms("mace", "consensus_accuracy", seed=5)
    a, b = enc.settle(terms), enc.settle(terms)
    assert a["result_hash"] == b["result_hash"]
    np.testing.assert_array_equal(a["posterior_ppm"], b["posterior_ppm"])
    short = df.drop(index=[0, 1])  # item t0000 loses two of its five answers
    enc_short = Encoded(short)
    with pytest.raises(IncompleteTask, match="1 of 200 items lack answers"):
        enc_short.settle(enc_short.terms("mace", "flat"), partial=False)
    out = enc_short.settle(enc_short.terms("mace", "flat"), partial=True)
    assert out["n_answered_items"] == 200


def test_baseline_kernels_give_the_same_result_hash() -> None:
    """TAGGER_FORCE_BASELINE=1 (read once per process) runs the non-AVX2 DS
    kernels; the ledger's result must not depend on the CPU it runs on."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from test_settle import Encoded, synthetic\n"
        "enc = Encoded(synthetic()[0])\n"
        "print(enc.settle(enc.terms('dawid_skene', 'consensus_accuracy'))['result_hash'].hex())\n"
    ) % os.path.dirname(__file__)
    hashes = []
    for force in ("0", "1"):
        env = dict(os.environ, TAGGER_FORCE_BASELINE=force)
        hashes.append(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                     text=True).stdout.strip())
    assert len(hashes[0]) == 64 and hashes[0] == hashes[1]
