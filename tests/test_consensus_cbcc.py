"""Community BCC: planted communities, the shared sets (the figures in
docs/consensus.md), determinism, fitted attributes and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd"
CBCC_ACCURACY = {"product": 0.9376, "dog": 0.8401, "rte": 0.9300}  # docs/consensus.md's table


def planted(seed: int, n_tasks: int = 600, per_task: int = 7, per_worker: int = 4,
            adversarial: float = 0.3) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Binary tasks; workers answer 4 tasks each, 30 % of them right 10 % of the
    time (adversaries), the others 85 %."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_tasks)
    n_workers = n_tasks * per_task // per_worker
    bad = rng.random(n_workers) < adversarial
    slots = rng.permutation(np.repeat(np.arange(n_workers), per_worker))
    rows = []
    for t in range(n_tasks):
        for w in sorted(set(slots[t * per_task:(t + 1) * per_task].tolist())):
            right = rng.random() < (0.1 if bad[w] else 0.85)
            rows.append((t, f"w{w}", int(truth[t] if right else 1 - truth[t])))
    names = [f"w{w}" for w in range(n_workers)]
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), pd.Series(truth), pd.Series(bad, index=names)


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels.reindex(truth.index) == truth).mean())


def test_cbcc_recovers_planted_communities_and_beats_per_worker_bcc() -> None:
    df, truth, bad = planted(3)
    est = tg.consensus.CBCC(n_communities=2).fit(df)
    com = est.communities_
    flags = bad.reindex(com.index).astype(int)
    purity = max(float((com == flags).mean()), float((com != flags).mean()))
    assert purity >= 0.9
    adv = int(com[flags == 1].mode()[0])  # the adversaries' community flips labels, the other does not
    assert est.community_errors_.loc[(adv, 0), 0] < 0.3 and est.community_errors_.loc[(1 - adv, 0), 0] > 0.7
    acc = accuracy(est.labels_, truth)
    bcc = accuracy(tg.consensus.BCC().fit_predict(df), truth)
    mv = accuracy(tg.consensus.MajorityVote().fit_predict(df), truth)
    assert acc >= 0.9 and acc >= bcc + 0.05 and bcc > mv, (acc, bcc, mv)
    assert np.allclose(est.community_probas_.sum(axis=1), 1)
    assert np.allclose(est.errors_.groupby(level="worker").sum(), 1)  # each worker's columns sum to 1
    assert est.skills_[flags[flags == 1].index].mean() < 0.3 < 0.7 < est.skills_[flags[flags == 0].index].mean()


@pytest.mark.parametrize("name", ["product", "dog", "rte"])
def test_cbcc_on_the_shared_sets_is_deterministic_and_at_least_majority_vote(name: str) -> None:
    if not DATA.exists():
        pytest.skip("../shared/data/crowd is missing")
    answers = pd.read_csv(DATA / name / "answers.csv")
    truth = pd.read_csv(DATA / name / "truth.csv").set_index("task")["truth"]
    est = tg.consensus.get_method("cbcc").fit(answers)
    acc = accuracy(est.labels_, truth)
    assert acc == pytest.approx(CBCC_ACCURACY[name], abs=5e-5)
    assert acc >= accuracy(tg.consensus.MajorityVote().fit_predict(answers), truth)
    for again in (tg.consensus.CBCC(threads=1).fit(answers), tg.consensus.CBCC(threads=2).fit(answers)):
        assert np.array_equal(again.probas_.to_numpy(), est.probas_.to_numpy())  # bit for bit
        assert np.array_equal(again.community_probas_.to_numpy(), est.community_probas_.to_numpy())
    p = est.probas_.to_numpy()
    assert np.allclose(p.sum(axis=1), 1) and (p >= 0).all() and est.converged_
    assert list(est.community_probas_.columns) == [0, 1, 2] and est.communities_.index.equals(est.skills_.index)


def test_cbcc_gold_is_clamped() -> None:
    df, truth, _ = planted(5, n_tasks=100)
    flipped = 1 - int(truth[4])
    est = tg.consensus.CommunityBCC().fit(df, true_labels=pd.Series({4: flipped}))
    assert est.labels_[4] == flipped and est.probas_.loc[4, flipped] == 1.0


@pytest.mark.parametrize("data,kwargs,match", [
    (pd.DataFrame({"task": [], "worker": [], "label": []}), {}, "empty"),
    (pd.DataFrame({"task": [1, 2], "worker": ["w", "w"], "label": ["x", "y"]}), {}, "at least 2 workers"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "x"]}), {}, "at least 2 label classes"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", np.nan]}), {}, "missing"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), {"n_communities": 0}, "n_communities"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), {"n_communities": 2.5}, "n_communities"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), {"strength": 0}, "strength"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), {"a_v": float("nan")}, "a_v"),
    (pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), {"class_priors": [0.5, 0.5]}, "class_priors"),
])
def test_cbcc_bad_input_is_invalid_argument(data: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        tg.consensus.CBCC(**kwargs).fit(data)


def test_cbcc_raw_core_rejects_bad_input() -> None:
    core = tg._core.consensus
    with pytest.raises(InvalidArgument, match="n_communities"):
        core.cbcc(np.array([0, 0], np.int32), np.array([0, 1], np.int32), np.array([0, 1], np.int32), 1, 2, 2,
                  n_communities=-1)
