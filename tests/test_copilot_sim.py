"""The adaptive-overlap simulator (tagger.consensus.adaptive): the stop rule's invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.consensus.adaptive import (COPILOT, CopilotReplay, copilot_from_proba, simulate_crowd,
                                       synthetic_copilot, uninformative)
from tagger.errors import InvalidArgument


def crowd(n_tasks: int = 60, per_item: int = 5, k: int = 3, skill=(6.0, 3.0), seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = pd.Series(rng.integers(0, k, n_tasks), index=pd.Index([f"t{i}" for i in range(n_tasks)], name="task"))
    answers = simulate_crowd(truth, range(k), n_workers=12, per_item=per_item, skill=skill, seed=seed)
    return answers, truth


def fixed_copilot(truth: pd.Series, labels, confidence: float) -> pd.DataFrame:
    return pd.DataFrame({"label": list(labels), "confidence": confidence}, index=truth.index)


@st.composite
def replays(draw):
    n_tasks = draw(st.integers(1, 12))
    k = draw(st.integers(2, 4))
    rows = []
    for t in range(n_tasks):
        n = draw(st.integers(1, 6))
        rows += [(t, w, draw(st.integers(0, k - 1))) for w in range(n)]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    truth = pd.Series([draw(st.integers(0, k - 1)) for _ in range(n_tasks)], index=range(n_tasks))
    cop = pd.DataFrame({"label": [draw(st.integers(0, k - 1)) for _ in range(n_tasks)],
                        "confidence": [draw(st.floats(0, 1)) for _ in range(n_tasks)]}, index=range(n_tasks))
    return answers, truth, cop, draw(st.integers(1, 6)), draw(st.floats(0, 1)), draw(st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(replays())
def test_stop_rule_is_exactly_the_ledger_rule(case):
    answers, truth, cop, overlap, thr, seed = case
    r = CopilotReplay(answers, truth, cop, overlap=overlap, seed=seed)
    counts, stopped = r.stop_counts(thr)
    cap = r.full_counts()
    assert (counts <= cap).all() and (counts >= 1).all()  # never more than full overlap
    assert counts.sum() <= cap.sum()
    assert (counts[~stopped] == cap[~stopped]).all()  # an unsettled item gets its full overlap
    first = r._df[r._rank == 0].set_index("task")["label"]
    for i, task in enumerate(r._tasks):
        # Every human answer so far agrees with the copilot only if the first one does, so the
        # round-by-round rule settles an item after one answer or never.
        settles = cop.loc[task, "confidence"] >= thr and first[task] == cop.loc[task, "label"] and cap[i] > 1
        assert stopped[i] == settles
        assert counts[i] == (1 if settles else cap[i])


def test_adaptive_never_buys_more_than_full_overlap_and_copilot_is_no_human():
    answers, truth = crowd()
    cop = synthetic_copilot(truth, 0.8, labels=range(3), seed=1)
    r = CopilotReplay(answers, truth, cop, overlap=4, seed=0)
    full = r.full()
    for thr in (0.0, 0.5, 0.9, 1.0):
        assert r.adaptive(thr).answers <= full.answers
    assert full.answers == 60 * 4
    assert COPILOT not in set(r._frame(r.full_counts(), False)["worker"])
    assert (r._frame(r.full_counts(), True)["worker"] == COPILOT).sum() == 60


def test_perfect_copilot_and_perfect_humans_settle_every_item_after_one_answer():
    answers, truth = crowd(skill=(1e6, 1e-6))
    r = CopilotReplay(answers, truth, fixed_copilot(truth, truth.tolist(), 1.0), overlap=5, seed=3)
    res = r.adaptive(0.0)
    assert res.answers == len(truth) and res.stopped == len(truth) and res.accuracy == 1.0


def test_perfect_copilot_settles_exactly_the_items_whose_first_answer_is_right():
    answers, truth = crowd()
    r = CopilotReplay(answers, truth, fixed_copilot(truth, truth.tolist(), 0.5), overlap=5, seed=2)
    counts, stopped = r.stop_counts(0.0)
    first = r._df[r._rank == 0].set_index("task")["label"].reindex(r._tasks)
    right = (first == truth.reindex(r._tasks)).to_numpy()
    assert 0 < right.sum() < len(right)
    assert (stopped == right).all()
    assert counts.sum() == right.sum() + 5 * (~right).sum()


def test_always_wrong_copilot_or_high_threshold_stops_nothing():
    answers, truth = crowd()
    wrong = fixed_copilot(truth, ((truth + 1) % 3).tolist(), 1.0)
    wrong["label"] = wrong["label"].astype(int)
    # Humans of accuracy ~1 never agree with an always-wrong copilot.
    answers_p, _ = crowd(skill=(1e6, 1e-6))
    r = CopilotReplay(answers_p, truth, wrong, overlap=4, seed=0)
    res = r.adaptive(0.0)
    assert res.stopped == 0 and res.answers == r.full().answers
    right = CopilotReplay(answers, truth, fixed_copilot(truth, truth.tolist(), 0.6), overlap=4, seed=0)
    assert right.adaptive(0.61).stopped == 0 and right.adaptive(0.61).answers == right.full().answers


def test_budgeted_adaptive_spends_saved_answers_only_on_unsettled_items():
    answers, truth = crowd(per_item=8)
    cop = synthetic_copilot(truth, 0.7, labels=range(3), seed=4)
    r = CopilotReplay(answers, truth, cop, overlap=3, seed=1)
    counts, stopped = r.stop_counts(0.5)
    assert stopped.any()
    res = r.adaptive_budget(0.5)
    assert counts.sum() < res.answers <= r.full().answers
    assert res.stopped == stopped.sum()
    small = r.adaptive_budget(0.5, budget=int(counts.sum()) + 7)
    assert small.answers == counts.sum() + 7
    # No answers left beyond what was collected: the budget cannot be spent in full.
    tight = CopilotReplay(answers.groupby("task").head(3), truth, cop, overlap=3, seed=1)
    assert tight.adaptive_budget(0.5).answers == tight.adaptive(0.5).answers


def test_even_spreads_the_budget():
    answers, truth = crowd()
    r = CopilotReplay(answers, truth, synthetic_copilot(truth, 0.8, labels=range(3)), overlap=4, seed=0)
    cap = r.full_counts()
    for budget in (0, 59, 60, 131, 240):
        counts = r.even_counts(budget)
        assert counts.sum() == budget and (counts <= cap).all() and counts.max() - counts.min() <= 1
    assert r.even(131).answers == 131
    with pytest.raises(InvalidArgument, match="budget"):
        r.even(241)
    assert r.even(131).accuracy == r.even(131).accuracy  # deterministic


def test_synthetic_copilot_accuracy_and_confidence_models():
    truth = pd.Series(np.random.default_rng(0).integers(0, 4, 20_000))
    for p in (0.6, 0.75, 0.9):
        cop = synthetic_copilot(truth, p, labels=range(4), seed=7)
        assert abs(cop["correct"].mean() - p) < 0.015
        assert ((cop["label"] == truth) == cop["correct"]).all()
        c = cop["confidence"]
        assert c[cop["correct"]].mean() > c[~cop["correct"]].mean() + 0.2  # informative
        u = uninformative(cop, seed=1)
        assert np.array_equal(np.sort(u["confidence"]), np.sort(c))  # same values, as many pass a threshold
        assert abs(u["confidence"][u["correct"]].mean() - u["confidence"][~u["correct"]].mean()) < 0.02
    assert synthetic_copilot(truth, 0.7, seed=3).equals(synthetic_copilot(truth, 0.7, seed=3))
    assert synthetic_copilot(truth, 0.0, labels=range(4))["correct"].sum() == 0
    with pytest.raises(InvalidArgument, match="accuracy"):
        synthetic_copilot(truth, 1.5)
    with pytest.raises(InvalidArgument, match="2 labels"):
        synthetic_copilot(pd.Series([1, 1]), 0.5)


def test_simulated_crowd_and_model_copilot():
    truth = pd.Series([0, 1, 2, 0, 1] * 40)
    ans = simulate_crowd(truth, [0, 1, 2], n_workers=6, per_item=4, seed=0)
    assert len(ans) == 800 and (ans.groupby("task")["worker"].nunique() == 4).all()
    # Wrong answers follow `confusable`: label 2 never chosen when it has no weight (and is not the truth).
    conf = np.tile([1.0, 1.0, 0.0], (len(truth), 1))
    bad = simulate_crowd(truth, [0, 1, 2], n_workers=6, per_item=4, skill=(1e-3, 1e3), confusable=conf, seed=1)
    wrong_on_01 = bad[truth.reindex(bad["task"]).to_numpy() != 2]
    assert (wrong_on_01["label"] != 2).all() and (wrong_on_01["label"].to_numpy()
                                                   != truth.reindex(wrong_on_01["task"]).to_numpy()).all()
    with pytest.raises(InvalidArgument, match="per_item"):
        simulate_crowd(truth, [0, 1, 2], n_workers=3, per_item=4)
    proba = pd.DataFrame([[0.2, 0.8], [0.9, 0.1]], columns=["a", "b"], index=["x", "y"])
    cop = copilot_from_proba(proba, pd.Series({"x": "b", "y": "b"}))
    assert cop["label"].tolist() == ["b", "a"] and cop["confidence"].tolist() == [0.8, 0.9]
    assert cop["correct"].tolist() == [True, False]


def test_bad_arguments_name_the_reason():
    answers, truth = crowd(n_tasks=5)
    cop = synthetic_copilot(truth, 0.8, labels=range(3))
    with pytest.raises(InvalidArgument, match="overlap"):
        CopilotReplay(answers, truth, cop, overlap=0)
    with pytest.raises(InvalidArgument, match="no answer for 1 task"):
        CopilotReplay(answers, truth, cop.iloc[1:], overlap=2)
    with pytest.raises(InvalidArgument, match="threshold"):
        CopilotReplay(answers, truth, cop, overlap=2).stop_counts(1.5)
    with pytest.raises(InvalidArgument, match="copilot's id"):
        CopilotReplay(answers.assign(worker=COPILOT), truth, cop, overlap=2)


def test_anchoring_copies_the_suggestion_only_where_it_is_shown():
    answers, truth = crowd()
    cop = synthetic_copilot(truth, 0.7, labels=range(3), seed=5)
    plain = CopilotReplay(answers, truth, cop, overlap=4, seed=0)
    copied = CopilotReplay(answers, truth, cop, overlap=4, seed=0, anchoring=1.0)
    assert copied.full(False) == plain.full(False)  # no suggestion shown, nobody copies
    counts, stopped = copied.stop_counts(0.5)
    assert (stopped == (cop.reindex(copied._tasks)["confidence"].to_numpy() >= 0.5)).all()
    shown = copied._frame(copied.full_counts(), True)
    assert (shown["label"].to_numpy() == cop.reindex(shown["task"])["label"].to_numpy()).all()
    half = CopilotReplay(answers, truth, cop, overlap=4, seed=0, anchoring=0.5)
    assert plain.stop_counts(0.5)[1].sum() <= half.stop_counts(0.5)[1].sum() <= stopped.sum()
    with pytest.raises(InvalidArgument, match="anchoring"):
        CopilotReplay(answers, truth, cop, overlap=4, anchoring=1.5)


def test_replay_refuses_truth_it_cannot_score():
    """truth of another type scored 0 (str labels) or NaN (str task ids); NaN truth counted as
    wrong; mixed-type labels raised TypeError from sorted()."""
    answers, truth = crowd(n_tasks=12)
    cop = synthetic_copilot(truth, 0.8, labels=range(3), seed=1)
    with pytest.raises(InvalidArgument, match="different types"):
        CopilotReplay(answers, truth.astype(str), cop, overlap=3)
    with pytest.raises(InvalidArgument, match="shares no task"):
        CopilotReplay(answers, truth.set_axis(range(12)), cop, overlap=3)
    with pytest.raises(InvalidArgument, match="no label .* for 1 replayed task"):
        CopilotReplay(answers, truth.astype(float).where(truth.index != "t3"), cop, overlap=3)
    with pytest.raises(InvalidArgument, match="must be a pandas Series"):
        CopilotReplay(answers, truth.to_dict(), cop, overlap=3)
    mixed = answers.assign(label=answers["label"].map({0: 0, 1: "b", 2: 2}))
    r = CopilotReplay(mixed, truth, cop, overlap=3)
    assert set(r.labels) == {0, 1, "b", 2} and 0 <= r.full().accuracy <= 1  # (the copilot says 1)
