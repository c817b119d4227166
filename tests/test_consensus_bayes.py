"""BWA and EBCC: accuracy on the shared sets (the figures in docs/consensus.md),
determinism, gold and priors, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd"
EBCC_ACCURACY = {"product": 0.9383, "dog": 0.8389, "rte": 0.9275}  # docs/consensus.md's table


@pytest.mark.parametrize("name,want", [("product", 0.9246), ("dog", 0.8315), ("rte", 0.9275)])
def test_bwa_accuracy_on_the_shared_sets(name: str, want: float) -> None:
    if not DATA.exists():
        pytest.skip("../shared/data/crowd is missing")
    answers = pd.read_csv(DATA / name / "answers.csv")
    truth = pd.read_csv(DATA / name / "truth.csv").set_index("task")["truth"]
    est = tg.consensus.BWA()
    labels = est.fit_predict(answers)
    acc = float((labels.reindex(truth.index) == truth).mean())
    assert acc == pytest.approx(want, abs=5e-5)
    mv = float((tg.consensus.MajorityVote().fit_predict(answers).reindex(truth.index) == truth).mean())
    assert acc > mv
    again = tg.consensus.BWA(threads=1).fit(answers)
    assert np.array_equal(again.probas_.to_numpy(), est.probas_.to_numpy())  # bit for bit
    p = est.probas_.to_numpy()
    assert np.allclose(p.sum(axis=1), 1) and (p >= 0).all()
    assert est.skills_.between(0, 1).all()


def test_bwa_weights_reliable_workers_and_clamps_gold() -> None:
    # Workers g1..g3 always agree with the truth; s1 answers the opposite on tasks 0-7.
    rows = []
    for t in range(20):
        truth = t % 2
        rows += [(t, "g1", truth), (t, "g2", truth), (t, "g3", truth), (t, "s1", 1 - truth if t < 8 else truth)]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    est = tg.consensus.BWA()
    labels = est.fit_predict(df)
    assert est.skills_["g1"] > est.skills_["s1"] and (labels == pd.Series({t: t % 2 for t in range(20)})).all()
    gold = pd.Series({5: 0})
    clamped = tg.consensus.BWA().fit(df, true_labels=gold)
    assert clamped.labels_[5] == 0 and clamped.probas_.loc[5, 0] == 1.0
    assert len(labels) == 20


@pytest.mark.parametrize("make", [
    lambda: tg.consensus.BWA(a=0).fit(pd.DataFrame({"task": [1], "worker": [1], "label": [0]})),
    lambda: tg.consensus.BWA(lambda0=-1).fit(pd.DataFrame({"task": [1], "worker": [1], "label": [0]})),
    lambda: tg.consensus.BWA(n_iter=-1).fit(pd.DataFrame({"task": [1], "worker": [1], "label": [0]})),
    lambda: tg.consensus.BWA().fit(pd.DataFrame({"task": [1, 2], "worker": [1, 1], "label": [0, np.nan]})),
    lambda: tg.consensus.BWA().fit(pd.DataFrame({"task": [1], "label": [0]})),
    lambda: tg.consensus.BWA(class_priors=[1.0]).fit(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, 1]})),
])
def test_bwa_bad_input_is_invalid_argument(make) -> None:
    with pytest.raises(InvalidArgument):
        make()


def test_bwa_edge_cases() -> None:
    empty = tg.consensus.BWA().fit_predict(pd.DataFrame({"task": [], "worker": [], "label": []}))
    assert len(empty) == 0
    one = tg.consensus.BWA().fit_predict(pd.DataFrame({"task": [1, 2], "worker": ["w", "w"], "label": ["x", "x"]}))
    assert (one == "x").all()


@pytest.mark.parametrize("name", ["product", "dog", "rte"])
def test_ebcc_on_the_shared_sets_is_deterministic_and_above_majority_vote(name: str) -> None:
    if not DATA.exists():
        pytest.skip("../shared/data/crowd is missing")
    answers = pd.read_csv(DATA / name / "answers.csv")
    truth = pd.read_csv(DATA / name / "truth.csv").set_index("task")["truth"]
    est = tg.consensus.EBCC()
    acc = float((est.fit_predict(answers).reindex(truth.index) == truth).mean())
    assert acc == pytest.approx(EBCC_ACCURACY[name], abs=5e-5)
    mv = float((tg.consensus.MajorityVote().fit_predict(answers).reindex(truth.index) == truth).mean())
    assert acc > mv
    again = tg.consensus.EBCC(threads=1).fit(answers)
    assert np.array_equal(again.probas_.to_numpy(), est.probas_.to_numpy())  # same seed: bit for bit
    p = est.probas_.to_numpy()
    assert np.allclose(p.sum(axis=1), 1) and (p >= 0).all() and est.converged_


def test_ebcc_gold_and_bad_input() -> None:
    rows = [(t, w, t % 2 if w != "s" or t >= 8 else 1 - t % 2) for t in range(20) for w in ("g1", "g2", "g3", "s")]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    est = tg.consensus.EBCC().fit(df, true_labels=pd.Series({3: 0}))
    assert est.labels_[3] == 0 and est.probas_.loc[3, 0] == 1.0
    assert (est.labels_.drop(3) == pd.Series({t: t % 2 for t in range(20)}).drop(3)).all()
    one = pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, 1]})
    for bad in (dict(n_groups=0), dict(a_v=0), dict(alpha=-1.0), dict(b_v=float("nan")), dict(class_priors=[0.5, 0.5]),
                dict(seed=-1)):
        with pytest.raises(InvalidArgument):
            tg.consensus.EBCC(**bad).fit(one)
    assert len(tg.consensus.EBCC().fit_predict(pd.DataFrame({"task": [], "worker": [], "label": []}))) == 0


@pytest.mark.parametrize("name", ["product", "dog", "rte"])
def test_bcc_is_ebcc_with_one_subtype_and_deterministic(name: str) -> None:
    if not DATA.exists():
        pytest.skip("../shared/data/crowd is missing")
    answers = pd.read_csv(DATA / name / "answers.csv")
    truth = pd.read_csv(DATA / name / "truth.csv").set_index("task")["truth"]
    bcc = tg.consensus.BCC().fit(answers)
    one = tg.consensus.EBCC(n_groups=1, seed=7).fit(answers)  # one subtype: the seed moves only the last bit
    assert np.allclose(bcc.probas_.to_numpy(), one.probas_.to_numpy(), rtol=0, atol=1e-12)
    assert np.array_equal(bcc.probas_.to_numpy(), tg.consensus.BCC().fit(answers).probas_.to_numpy())
    acc = float((bcc.labels_.reindex(truth.index) == truth).mean())
    mv = float((tg.consensus.MajorityVote().fit_predict(answers).reindex(truth.index) == truth).mean())
    assert acc > mv and acc == pytest.approx(EBCC_ACCURACY[name], abs=5e-5)
    assert tg.consensus.get_method("bcc").n_groups == 1


def test_bcc_bad_input() -> None:
    df = pd.DataFrame({"task": [0, 0, 1], "worker": ["a", "b", "a"], "label": [1, 0, 1]})
    with pytest.raises(InvalidArgument):
        tg.consensus.BCC(a_v=0).fit(df)
    with pytest.raises(InvalidArgument):
        tg.consensus.BCC().fit(df.assign(label=[1, None, 1]))
    assert tg.consensus.BCC().fit(df.iloc[0:0]).labels_.empty  # crowd-kit's convention: empty in, empty out


def test_zero_rounds_report_the_start_and_huge_priors_are_refused() -> None:
    """EBCC/BCC with n_iter=0 reported NaN priors (0/0); priors of 1e80 gave NaN posteriors and
    label 0 everywhere (the digamma is exact to 1e40): refused above 1e30, numpy numbers taken."""
    df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2, "label": [0, 0, 1, 1, 1, 0]})
    for est in (tg.consensus.EBCC(n_iter=0), tg.consensus.BCC(n_iter=0)):
        assert est.fit(df).priors_.to_numpy() == pytest.approx([0.5, 0.5])
    for make in (lambda: tg.consensus.BCC(a_v=1e80), lambda: tg.consensus.EBCC(a_pi=1e80),
                 lambda: tg.consensus.CBCC(strength=1e80), lambda: tg.consensus.BWA(a=float("inf"))):
        with pytest.raises(InvalidArgument, match=r"must be a number in \(0, 1e\+30\]"):
            make().fit(df)
    assert tg.consensus.EBCC(n_groups=np.int64(2), a_pi=np.float32(0.1)).fit(df).labels_.tolist() == \
        tg.consensus.EBCC(n_groups=2, a_pi=float(np.float32(0.1))).fit(df).labels_.tolist()
    tg.consensus.BWA(a=np.int64(2)).fit(df)


def test_repr_shows_every_hyperparameter_and_errors_name_the_class() -> None:
    """EBCC(a_v=100, b_v=50, tol=.5) printed as the default EBCC(n_iter=500, n_groups=10,
    seed=1234) in experiment logs; BCC's errors said "EBCC: ..."; ZeroBasedSkill's said
    "zero_based_skill: ..."."""
    C = tg.consensus
    assert repr(C.EBCC(a_v=100, b_v=50, tol=0.5)) == \
        "EBCC(n_iter=500, tol=0.5, n_groups=10, a_pi=0.1, alpha=1.0, a_v=100, b_v=50, seed=1234)"
    assert "alpha=2.0" in repr(C.CBCC(alpha=2.0)) and "tol=0.1" in repr(C.BWA(tol=0.1))
    assert "b_v=3.0" in repr(C.BCC(b_v=3.0))
    df = pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, 1]})
    with pytest.raises(InvalidArgument, match=r"^BCC: alpha must be"):
        C.BCC(alpha=0).fit(df)
    with pytest.raises(InvalidArgument, match="^BCC infers the class prior"):
        C.BCC(class_priors=[0.5, 0.5]).fit(df)
    with pytest.raises(InvalidArgument, match="^ZeroBasedSkill: lr_init"):
        C.ZeroBasedSkill(lr_init=0).fit(df)
