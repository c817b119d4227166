"""Off the happy path of tg.consensus: ids and labels of the wrong type, options that
were silently ignored, and crowd-kit code (attrs.evolve, its metrics, BinaryRelevance)
handed tagger's estimators."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import tagger as tg
import tagger.consensus as tc
from tagger.errors import InvalidArgument

CROWD = Path(__file__).resolve().parents[2] / "shared" / "data" / "crowd"


@pytest.fixture(scope="module")
def rte() -> pd.DataFrame:
    if not (CROWD / "rte").exists():
        pytest.skip(f"shared crowd data not found at {CROWD} (../shared beside the repo)")
    return pd.read_csv(CROWD / "rte" / "answers.csv")


def small() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [(t, w, int(rng.integers(2))) for t in range(40) for w in rng.choice(8, 3, replace=False)]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_declared_labels_that_print_alike_are_refused() -> None:
    d = small()
    with pytest.raises(InvalidArgument, match="labels 1 and '1' are different values that print alike"):
        tc.DawidSkene(labels=[0, 1, "1"]).fit(d)


def test_labels_that_print_alike_are_refused_not_two_classes() -> None:
    d = small()
    d["label"] = d["label"].astype(object)
    d.loc[::2, "label"] = d["label"][::2].astype(str)  # half the column read as text
    with pytest.raises(InvalidArgument, match=r"labels 0 and '0' are different values that print alike"):
        tc.DawidSkene().fit(d)
    with pytest.raises(InvalidArgument, match="print alike"):
        tc.MajorityVote().fit(d)
    d["label"] = d["label"].astype(str)
    assert list(tc.DawidSkene().fit(d).probas_.columns) == ["0", "1"]


def test_gold_ids_of_the_other_type_are_refused_absent_ones_allowed() -> None:
    d = small()
    with pytest.raises(InvalidArgument, match=r"true_labels: none of its 3 task id\(s\).*strings \(\['0', '1', '2'\]\)"
                                              r".*numbers"):
        tc.DawidSkene().fit(d, pd.Series({"0": 1, "1": 0, "2": 1}))
    # Gold for tasks without answers (same type) is ignored, as before.
    tc.DawidSkene().fit(d, pd.Series({1000: 1, 1001: 0}))
    fitted = tc.DawidSkene().fit(d, pd.Series({0: 1, 1000: 0}))
    assert fitted.labels_.loc[0] == 1


def test_next_items_exclude_reads_ids_and_says_when_it_cannot() -> None:
    d = small()
    top = tc.next_items(d, 5)
    truth = pd.Series("y", index=top.index)  # a task -> label Series: its values are not task ids
    with pytest.raises(InvalidArgument, match=r"exclude is a Series whose index holds tasks.*pass series.index"):
        tc.next_items(d, 5, exclude=truth)
    # A column cut out of the answers: its row numbers may all be task ids too, its values are tasks.
    rows = d.loc[d["task"].isin(top.index[:2]), "task"]
    rows.index = [t for t in range(40) if t not in set(top.index[:2])][:len(rows)]  # row numbers that are tasks
    assert not set(tc.next_items(d, 5, exclude=rows).index) & set(top.index[:2])
    with pytest.raises(InvalidArgument, match=r"exclude: none of its 5 task id\(s\).*strings"):
        tc.next_items(d, 5, exclude=[str(t) for t in top.index])
    for exclude in (top.index, pd.Series(top.index), list(top.index), dict.fromkeys(top.index, 1), truth.index):
        assert not set(tc.next_items(d, 5, exclude=exclude).index) & set(top.index)
    # Gold as true_labels takes it, {task: label}: its values are labels. Labels of another type
    # than the tasks were answered with advice to convert them; labels that are task ids too (0/1
    # labels, integer tasks) excluded those tasks silently.
    with pytest.raises(InvalidArgument, match=r"exclude is a Series whose index holds tasks.*pass series.index"):
        tc.next_items(d, 5, exclude=pd.Series({0: "x", 1: "y"}))
    with pytest.raises(InvalidArgument, match=r"values are tasks too, so which to exclude is unclear"):
        tc.next_items(d, 5, exclude=pd.Series({int(top.index[0]): 1, int(top.index[2]): 1}))
    # Where both readings agree, or the values are ids without answers yet, it passes
    ids = [int(t) for t in top.index[:3]]
    assert not set(tc.next_items(d, 5, exclude=pd.Series(ids, index=ids)).index) & set(ids)
    assert list(tc.next_items(d, 5, exclude=pd.Series([998, 999])).index) == list(top.index)
    # Ids of the right type that have no answers yet (control items not answered) stay allowed.
    assert list(tc.next_items(d, 5, exclude=[998, 999]).index) == list(top.index)


def test_next_items_refuses_smoothing_it_would_ignore() -> None:
    d = small()
    with pytest.raises(InvalidArgument, match="smoothing applies to a method name"):
        tc.next_items(d, 5, method=tc.DawidSkene(), smoothing=5)
    tc.next_items(d, 5, method=tc.DawidSkene())
    a = tc.next_items(d, 40, method="dawid_skene", smoothing=0)
    b = tc.next_items(d, 40, method="dawid_skene")  # the default pseudo-count 1
    assert not np.allclose(a["score"].sort_index(), b["score"].sort_index())
    truth = pd.Series(d.groupby("task")["label"].first())
    curve = tc.active.replay_curve(d, truth, select=tc.MajorityVote(), step=0.5)  # an estimator ranks: no smoothing passed
    assert len(curve) >= 2


def test_fit_parquet_names_a_repeated_answer_by_its_ids(tmp_path: Path, rte: pd.DataFrame) -> None:
    pytest.importorskip("pyarrow", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    dd = pd.concat([rte, rte.iloc[[10]]]).sort_values("task", kind="stable")
    dd.to_parquet(tmp_path / "a.parquet")
    task, worker = rte.iloc[10]["task"], rte.iloc[10]["worker"]
    with pytest.raises(InvalidArgument, match=rf"the first task={task}, worker='{worker}'"):
        tc.fit_parquet(tmp_path / "a.parquet")


def test_missing_extra_is_a_public_error() -> None:
    from tagger import _optional

    assert tg.errors.MissingExtra is _optional.MissingExtra
    assert issubclass(tg.errors.MissingExtra, ImportError) and issubclass(tg.errors.MissingExtra, tg.errors.TaggerError)
    assert "MissingExtra" in tg.errors.__all__


def test_glad_crowdkit_names_set_after_construction_are_used(rte: pd.DataFrame) -> None:
    d = rte[:600]
    priors = pd.Series({0: 0.9, 1: 0.1})
    g = tc.GLAD(n_iter=3)
    g.labels_priors = priors  # crowd-kit's name, set on the object: the fit must use it
    assert g.class_priors is priors
    given = tc.GLAD(n_iter=3, labels_priors=priors).fit(d).probas_
    pd.testing.assert_frame_equal(g.fit(d).probas_, given)
    assert not np.allclose(tc.GLAD(n_iter=3).fit(d).probas_, given)
    g = tc.GLAD()
    assert g.silent and not g.verbose
    g.silent = False
    assert g.verbose


def test_kos_has_no_skills_for_metrics_to_misread(rte: pd.DataFrame) -> None:
    d = rte[:400]
    k = tc.KOS().fit(d)
    assert not hasattr(k, "skills_")
    with pytest.raises(InvalidArgument, match="KOS estimates no worker skills"):
        tc.metrics.consistency(d, aggregator=tc.KOS())
    ck_metrics = pytest.importorskip("crowdkit.metrics.data", reason="crowd-kit not installed")
    with pytest.raises(AssertionError, match="not supported"):  # as with crowd-kit's own KOS
        ck_metrics.consistency(d, aggregator=tc.KOS())


def test_attrs_evolve_keeps_every_other_parameter() -> None:
    attrs = pytest.importorskip("attrs")
    pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed")
    e = attrs.evolve(tc.DawidSkene(n_iter=7, tol=0.5, initial_error_strategy="addition"), n_iter=3)
    assert (e.n_iter, e.tol, e.initial_error_strategy) == (3, 0.5, "addition")
    e = attrs.evolve(tc.GLAD(n_iter=7, m_step_max_iter=3, labels_priors=pd.Series({0: 0.5, 1: 0.5})), tol=0.1)
    assert (e.n_iter, e.tol, e.m_step_max_iter, e.labels_priors.to_dict()) == (7, 0.1, 3, {0: 0.5, 1: 0.5})
    # GLAD's tagger-side aliases are not fields: passed back beside their crowd-kit name they
    # made the old value win (silent) or clash; a change under either name now counts or is refused.
    g = tc.GLAD(m_steps=4, labels_priors=pd.Series({0: 0.5, 1: 0.5}))
    assert not attrs.evolve(g, silent=False).silent
    assert attrs.evolve(g, labels_priors=pd.Series({0: 0.3, 1: 0.7})).labels_priors[1] == 0.7
    assert attrs.evolve(g, m_step_max_iter=7).m_step_max_iter == 7
    with pytest.raises(InvalidArgument, match="give m_step_max_iter or m_steps"):
        attrs.evolve(g, m_steps=2)
    from crowdkit.aggregation.utils import clone_aggregator

    assert repr(clone_aggregator(tc.BCC(n_iter=3))) == repr(tc.BCC(n_iter=3))  # n_groups passed back: taken
    with pytest.raises(InvalidArgument, match="one subtype per class"):
        tc.BCC(n_groups=2)
    classes = [c for c in vars(tc).values() if isinstance(c, type) and issubclass(c, tc.base.BaseClassifier)]
    assert len(classes) > 10
    for cls in classes:
        est = cls()
        assert repr(attrs.evolve(est)) == repr(est), cls.__name__


def test_an_estimator_built_before_crowdkit_is_imported_is_a_crowdkit_aggregator() -> None:
    pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed")
    code = textwrap.dedent("""
        import sys
        import tagger.consensus as tc
        ds = tc.DawidSkene(n_iter=5)
        assert "crowdkit" not in sys.modules
        from crowdkit.aggregation import BinaryRelevance
        from crowdkit.aggregation.base import BaseClassificationAggregator
        assert isinstance(ds, BaseClassificationAggregator)
        BinaryRelevance(ds)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_estimator_built_while_crowdkit_is_being_imported_is_built() -> None:
    # Another thread running crowd-kit's base module: the class is not in it yet (AttributeError
    # "partially initialized module"); adoption waits for the module to finish.
    code = textwrap.dedent("""
        import sys, types
        sys.modules["crowdkit.aggregation.base"] = types.ModuleType("crowdkit.aggregation.base")
        import tagger.consensus as tc
        tc.DawidSkene()
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_weights_too_large_to_add_up_are_refused_not_voted_wrong():
    # 1e308 passed the "finite and >= 0" check; a task's sum overflowed to inf, probas_ came out
    # NaN and the label went against the votes (task 2 voted 1, 1, 0 and got 0).
    df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"), "label": [0, 0, 1, 1, 1, 0]})
    huge = pd.Series({"a": 1e308, "b": 1e308, "c": 1e308})
    with pytest.raises(InvalidArgument, match="add up to more than a float holds"):
        tg.consensus.MajorityVote().fit(df, huge)
    with pytest.raises(InvalidArgument, match="add up to more than a float holds"):
        tg.consensus.WeightedMajorityVote(skills=huge).fit(df)
    # large weights that do add up vote as weights of 1 do
    big = huge / 4
    assert tg.consensus.MajorityVote().fit_predict(df, big).to_dict() == {1: 0, 2: 1}


def test_weighted_majority_vote_names_what_is_wrong_with_its_skills():
    df = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": [0, 1]})
    with pytest.raises(InvalidArgument, match="skills name worker 'a' more than once"):
        tg.consensus.WeightedMajorityVote(skills=pd.Series([1.0, 2.0], index=["a", "a"])).fit(df)
    with pytest.raises(InvalidArgument, match="skills must be numbers"):
        tg.consensus.WeightedMajorityVote(skills=pd.Series({"a": "x", "b": 1.0})).fit(df)


def test_labels_option_refuses_a_missing_value():
    # It added a phantom NaN class to probas_ and priors_ and turned int labels into floats.
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": list("abab"), "label": [0, 0, 1, 1]})
    for missing in (np.nan, None):
        with pytest.raises(InvalidArgument, match="labels= lists a missing value"):
            tg.consensus.DawidSkene(labels=[0, 1, missing]).fit(df)


def test_numeric_aggregators_name_the_row_of_a_value_that_is_not_finite():
    df = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "output": [np.inf, 2.0]}, index=[10, 11])
    for cls in (tg.consensus.Median, tg.consensus.TrimmedMean):
        with pytest.raises(InvalidArgument, match=rf"{cls.__name__}: output at row 0 \(index label 10\) is not finite"):
            cls().fit(df)


def test_segmentation_weights_too_large_to_add_up_are_refused():
    # Every worker marked pixel 0; with skills of 1e308 the overflowed sum left it unmarked.
    seg = pd.DataFrame({"task": [1, 1, 1], "worker": list("abc"), "segmentation": [np.array([True, False])] * 3})
    with pytest.raises(InvalidArgument, match="add up to more than a float holds"):
        tg.consensus.SegmentationMajorityVote().fit(seg, pd.Series({"a": 1e308, "b": 1e308, "c": 1e308}))
    ok = tg.consensus.SegmentationMajorityVote().fit(seg, pd.Series({"a": 1e300, "b": 1e300, "c": 1e300}))
    assert ok.segmentations_[1].tolist() == [True, False]
