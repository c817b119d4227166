"""tg.consensus.metrics: Krippendorff's alpha against the `krippendorff`
package (0.9.0) to 1e-9, Fleiss' kappa against its textbook example and a
direct formula, uncertainty and consistency, and the bad-input errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.consensus import metrics
from tagger.errors import InvalidArgument

C = tg.consensus

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd"


def _random_reliability(rng: np.random.Generator, coders: int, units: int, values: list, missing: float) -> np.ndarray:
    data = rng.choice(np.asarray(values, dtype=np.float64), size=(coders, units))
    # Agreement to make alpha non-trivial: half the cells copy the unit's first coder.
    copy = rng.random((coders, units)) < 0.5
    data = np.where(copy, data[0:1, :], data)
    data[rng.random((coders, units)) < missing] = np.nan
    return data


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(6))
def test_alpha_equals_krippendorff_package(level: str, seed: int) -> None:
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    rng = np.random.default_rng(seed)
    values = sorted(rng.choice(np.arange(1, 40), size=int(rng.integers(2, 8)), replace=False).tolist())
    data = _random_reliability(rng, int(rng.integers(2, 9)), int(rng.integers(5, 300)), values, float(rng.uniform(0, 0.6)))
    want = kr.alpha(reliability_data=data, level_of_measurement=level)
    got = metrics.krippendorff_alpha(reliability_data=data, level_of_measurement=level)
    assert abs(got - want) <= 1e-9, (got, want)
    # The same through the value_counts argument, with an explicit domain.
    domain = np.unique(data[~np.isnan(data)])
    counts = (data.T[..., None] == domain[None, None, :]).sum(axis=1)
    got2 = metrics.krippendorff_alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    assert abs(got2 - kr.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)) <= 1e-9


def test_alpha_wikipedia_example_and_frame_form() -> None:
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    nan = np.nan
    data = np.array([[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
                     [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
                     [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]])
    assert round(metrics.krippendorff_alpha(reliability_data=data, level_of_measurement="nominal"), 3) == 0.691
    assert round(metrics.krippendorff_alpha(reliability_data=data, level_of_measurement="interval"), 3) == 0.811
    # The same data as a task/worker/label frame (crowd-kit's form).
    coders, units = np.nonzero(~np.isnan(data))
    frame = pd.DataFrame({"task": units, "worker": coders, "label": data[coders, units].astype(int)})
    for level in ("nominal", "ordinal", "interval", "ratio"):
        want = kr.alpha(reliability_data=data, level_of_measurement=level)
        assert abs(metrics.alpha_krippendorff(frame, level) - want) <= 1e-9
    # The frame passed where the matrix goes used to be read as a 3-column matrix (a number
    # that means nothing); the pivot of it is the matrix.
    with pytest.raises(InvalidArgument, match="looks like answers .* use alpha_krippendorff"):
        metrics.krippendorff_alpha(frame, level_of_measurement="nominal")
    matrix = frame.pivot(index="worker", columns="task", values="label")
    assert abs(metrics.krippendorff_alpha(matrix, level_of_measurement="nominal") -
               kr.alpha(reliability_data=data, level_of_measurement="nominal")) <= 1e-9


def test_alpha_on_a_shared_set() -> None:
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    path = SHARED / "rte" / "answers.csv"
    if not path.exists():
        pytest.skip("../shared/data/crowd is missing")
    df = pd.read_csv(path)
    data = df.pivot(index="worker", columns="task", values="label").to_numpy(dtype=np.float64)
    want = kr.alpha(reliability_data=data, level_of_measurement="nominal")
    assert abs(metrics.alpha_krippendorff(df) - want) <= 1e-9
    assert abs(tg.consensus.metrics.alpha_krippendorff(df, distance="interval")
               - kr.alpha(reliability_data=data, level_of_measurement="interval")) <= 1e-9


def _fleiss_reference(table: np.ndarray) -> float:
    n = table.sum(axis=1)
    p_i = (table * (table - 1)).sum(axis=1) / (n * (n - 1))
    p_j = table.sum(axis=0) / table.sum()
    pe = (p_j ** 2).sum()
    return float((p_i.mean() - pe) / (1 - pe))


def _frame_from_table(table: np.ndarray) -> pd.DataFrame:
    rows = []
    for t, row in enumerate(table):
        w = 0
        for k, c in enumerate(row):
            for _ in range(int(c)):
                rows.append((t, f"w{w}", k))
                w += 1
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_fleiss_kappa_textbook_example() -> None:
    # Fleiss (1971) as in the Wikipedia article: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    got = metrics.fleiss_kappa(_frame_from_table(table))
    assert abs(got - _fleiss_reference(table)) <= 1e-12
    assert round(got, 3) == 0.210


def test_fleiss_kappa_random_tables_and_single_answer_tasks() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        table = rng.multinomial(7, rng.dirichlet(np.ones(4)), size=50)
        frame = _frame_from_table(table)
        lone = pd.DataFrame({"task": [1000, 1001], "worker": ["w0", "w1"], "label": [0, 3]})  # left out
        assert abs(metrics.fleiss_kappa(pd.concat([frame, lone])) - _fleiss_reference(table)) <= 1e-12


def test_uncertainty_and_consistency() -> None:
    df = pd.DataFrame({"task": ["a", "a", "a", "b", "b", "c"], "worker": ["x", "y", "z", "x", "y", "x"],
                       "label": [1, 1, 0, 0, 0, 1]})
    per_task = metrics.uncertainty(df, aggregate=False)
    h = -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3))
    assert per_task.loc["a"] == pytest.approx(h, abs=1e-12)
    assert per_task.loc["b"] == 0 and per_task.loc["c"] == 0
    assert metrics.uncertainty(df) == pytest.approx(h / 3, abs=1e-12)
    # Skills as accuracies (crowd-kit): an answer puts s on its label and (1 - s)/(K - 1) on the
    # others. Task a: x, y (s = 1) say 1, z (s = 0.5) says 0 -> (0.5, 2.5) / 3.
    skills = pd.Series({"x": 1.0, "y": 1.0, "z": 0.5})
    q = np.array([0.5, 2.5]) / 3
    assert metrics.uncertainty(df, workers_skills=skills, aggregate=False).loc["a"] == pytest.approx(-(q * np.log(q)).sum())
    with pytest.raises(InvalidArgument, match=r"accuracies in \[0, 1\]; worker 'z' has 2.0"):
        metrics.uncertainty(df, workers_skills=skills.replace(0.5, 2.0))
    by_worker = metrics.uncertainty(df, compute_by="worker", aggregate=False)
    assert by_worker.loc["x"] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    # crowd-kit's one-coin posterior of the aggregated label: with MV's skills (x, y always agree
    # with the vote: skill 1) task a is certain; with given skills P(1) = .9*.6*.7 / (that + .1*.4*.3).
    cons = metrics.consistency(df, by_task=True)
    assert cons.loc["a"] == 1.0 and cons.loc["b"] == 1.0
    given = metrics.consistency(df, workers_skills=pd.Series({"x": 0.9, "y": 0.6, "z": 0.3}), by_task=True)
    assert given.loc["a"] == pytest.approx(0.378 / 0.39, abs=1e-12)
    assert metrics.accuracy_on_aggregates(df) == pytest.approx(5 / 6)
    acc = metrics.accuracy_on_aggregates(df, by="worker")
    assert acc.loc["z"] == 0.0 and acc.loc["x"] == 1.0
    wc = metrics.worker_consistency(df)
    assert wc.loc["z", "agreement"] == 0.0 and wc.loc["x", "n_answers"] == 3
    iu = metrics.item_uncertainty(df)
    assert iu.loc["b", "margin"] == 1.0 and iu.loc["a", "answer_entropy"] == pytest.approx(h)


@pytest.mark.parametrize("call", [
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [], "worker": [], "label": []})),
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [1, 2], "worker": [1, 1], "label": [0, 1]})),  # no pairs
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, 0]})),  # one value
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, np.nan]})),
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": [0, 1]}), "cosine"),
    lambda: metrics.alpha_krippendorff(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": ["a", "b"]}), "interval"),
    lambda: metrics.krippendorff_alpha(),
    lambda: metrics.krippendorff_alpha(value_counts=[[1, 1]], reliability_data=[[1, 2]]),
    lambda: metrics.krippendorff_alpha(value_counts=[[1, -1], [2, 0]]),
    lambda: metrics.krippendorff_alpha(value_counts=[[1, 1]], value_domain=[1, 2, 3]),
    lambda: metrics.krippendorff_alpha(value_counts=[[1, 1], [1, 1]], value_domain=[2, 1], level_of_measurement="interval"),
    lambda: metrics.krippendorff_alpha(reliability_data=[[1.0, 2.0], [1.0, 5.0]], value_domain=[1, 2]),
    lambda: metrics.fleiss_kappa(pd.DataFrame({"task": [1, 2], "worker": [1, 1], "label": [0, 1]})),
    lambda: metrics.fleiss_kappa(pd.DataFrame({"task": [1, 1], "worker": [1, 2], "label": ["a", "a"]})),
    lambda: metrics.fleiss_kappa(pd.DataFrame({"task": [1], "label": [0]})),
    lambda: metrics.uncertainty(pd.DataFrame({"task": [1], "worker": [1], "label": [0]}), compute_by="label"),
    lambda: metrics.uncertainty(pd.DataFrame({"task": [1], "worker": [1], "label": [0]}),
                                workers_skills=pd.Series({2: 1.0})),
    lambda: metrics.uncertainty(pd.DataFrame({"task": [1], "worker": [1], "label": [0]}),
                                workers_skills=pd.Series({1: -1.0})),
])
def test_bad_input_is_invalid_argument(call) -> None:
    with pytest.raises(InvalidArgument):
        call()


@pytest.mark.filterwarnings("ignore:::crowdkit.*")  # crowd-kit's own pandas deprecations
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("compute_by", ["task", "worker"])
def test_uncertainty_equals_crowdkit(seed: int, compute_by: str) -> None:
    ckm = pytest.importorskip("crowdkit.metrics.data", reason="crowd-kit not installed (pip install 'tagger[test]')")
    rng = np.random.default_rng(seed)
    n = 300
    df = pd.DataFrame({"task": rng.integers(40, size=n), "worker": [f"w{i}" for i in rng.integers(12, size=n)],
                       "label": rng.choice(["a", "b", "c", "d"], size=n)}).drop_duplicates(["task", "worker"])
    skills = pd.Series(rng.uniform(0, 1, 12), index=[f"w{i}" for i in range(12)])
    for kw in ({}, {"workers_skills": skills}):
        ours = metrics.uncertainty(df, compute_by=compute_by, aggregate=False, **kw)
        theirs = ckm.uncertainty(df, compute_by=compute_by, aggregate=False, **kw)
        assert list(ours.index) == list(theirs.index)
        np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(dtype=float), rtol=0, atol=1e-12)
        assert metrics.uncertainty(df, compute_by=compute_by, **kw) == pytest.approx(
            ckm.uncertainty(df, compute_by=compute_by, **kw), abs=1e-12)


@pytest.mark.filterwarnings("ignore:::crowdkit.*")
def test_consistency_equals_crowdkit() -> None:
    ckm = pytest.importorskip("crowdkit.metrics.data", reason="crowd-kit not installed (pip install 'tagger[test]')")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"task": rng.integers(40, size=300), "worker": [f"w{i}" for i in rng.integers(12, size=300)],
                       "label": rng.choice(["a", "b", "c", "d"], size=300)}).drop_duplicates(["task", "worker"])
    skills = pd.Series(rng.uniform(0, 1, 12), index=[f"w{i}" for i in range(12)])
    # The same aggregated labels on both sides (their majority votes break ties differently).
    agg = C.DawidSkene().fit(df)
    ours = metrics.consistency(df, workers_skills=skills, aggregator=agg, by_task=True)
    fixed = type("Fixed", (), {"fit_predict": lambda self, data: agg.labels_})()
    theirs = ckm.consistency(df, workers_skills=skills, aggregator=fixed, by_task=True)
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(dtype=float), rtol=0, atol=1e-12)
    # A task with 400 answers: crowd-kit's product underflows to 0 (consistency 0.0); ours does not.
    long = pd.DataFrame({"task": 1, "worker": range(400), "label": ["x"] * 300 + ["y"] * 100})
    assert metrics.consistency(long, workers_skills=pd.Series(0.6, index=range(400))) == 1.0
    with pytest.raises(InvalidArgument, match="accuracies in \\[0, 1\\]"):
        metrics.consistency(df, aggregator=C.MMSR())  # its skills_ are log-odds


def test_alpha_refuses_a_value_domain_with_repeats() -> None:
    """A repeated domain value counted each answer once per copy (0.4706 where the package, given
    each value once, agrees with tagger's 0.5455)."""
    data = [[1, 2, 3], [1, 3, 3]]
    with pytest.raises(InvalidArgument, match="value_domain lists 2 more than once"):
        metrics.krippendorff_alpha(data, value_domain=[1, 2, 2, 3], level_of_measurement="nominal")
    with pytest.raises(InvalidArgument, match="1-d"):
        metrics.krippendorff_alpha(data, value_domain=[[1, 2], [3, 4]], level_of_measurement="nominal")
    assert metrics.krippendorff_alpha(data, value_domain=[1, 2, 3], level_of_measurement="nominal") == pytest.approx(6 / 11)


def test_metrics_leave_the_callers_estimator_as_it_was() -> None:
    """item_uncertainty / worker_consistency / uncertainty / consistency refit the estimator passed
    in: a DawidSkene fitted on 800 tasks kept 20 rows of probas_, a MajorityVote fitted with skills
    was refitted without them, a fitted CROWDLAB raised 'needs model_probas'."""
    df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2, 3, 3, 3], "worker": list("abc") * 3,
                       "label": [0, 0, 1, 1, 1, 0, 0, 1, 1]})
    ds = tg.consensus.DawidSkene().fit(df)
    probas = ds.probas_.copy()
    sub = df[df["task"] != 3]
    metrics.item_uncertainty(sub, aggregator=ds)
    metrics.worker_consistency(sub, aggregator=ds)
    metrics.uncertainty(sub, aggregator=ds)
    metrics.consistency(sub, aggregator=ds)
    pd.testing.assert_frame_equal(ds.probas_, probas)
    skills = pd.Series({"a": 0.9, "b": 0.2, "c": 0.2})
    mv = tg.consensus.MajorityVote().fit(df, skills)
    # fitted on these very answers: used as fitted (its skills kept), not refitted without them
    assert metrics.item_uncertainty(df, aggregator=mv)["entropy"].tolist() == mv.quality().tasks["entropy"].tolist()
    cl = tg.consensus.CROWDLAB().fit(df, pd.DataFrame({0: [0.6, 0.4, 0.5], 1: [0.4, 0.6, 0.5]}, index=[1, 2, 3]))
    assert len(metrics.worker_consistency(df, aggregator=cl)) == 3


def test_alpha_of_fractional_counts_is_computed_as_the_package_does() -> None:
    """Units of 1.5 values were counted in the sums but made the "undefined" guard fire (it asked
    for 2 pairable values, the sums need more than 1): the package gives 0.111."""
    vc = [[1, 0.5], [0.5, 1]]
    ours = metrics.krippendorff_alpha(value_counts=vc, level_of_measurement="nominal")
    kr = pytest.importorskip("krippendorff", reason="krippendorff not installed")
    assert ours == pytest.approx(kr.alpha(value_counts=vc, level_of_measurement="nominal"), abs=1e-12)
    with pytest.raises(InvalidArgument, match="pairable values"):
        metrics.krippendorff_alpha(value_counts=[[1, 0], [0, 1]], level_of_measurement="nominal")


def test_alpha_takes_the_pivot_its_error_message_suggests() -> None:
    """For string labels answers.pivot(...) gives an object array with NaN, which was refused as
    'not dtype object' right after the error message had suggested it."""
    answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 3, 3, 3], "worker": list("abcabab") + ["c"],
                            "label": ["x", "x", "y", "y", "y", "x", "y", "x"]})
    piv = answers.pivot(index="worker", columns="task", values="label")
    assert piv.to_numpy().dtype == object
    ours = metrics.krippendorff_alpha(piv, level_of_measurement="nominal")
    assert ours == pytest.approx(metrics.alpha_krippendorff(answers, "nominal"), abs=1e-12)
    nullable = answers.assign(label=answers["label"].map({"x": 0, "y": 1}).astype("Int64"))
    assert metrics.krippendorff_alpha(nullable.pivot(index="worker", columns="task", values="label"),
                                      level_of_measurement="nominal") == pytest.approx(ours, abs=1e-12)
    with pytest.raises(InvalidArgument, match="numbers or strings"):
        metrics.krippendorff_alpha(np.array([[1, "a"], ["b", None]], dtype=object), level_of_measurement="nominal")


def test_alpha_of_continuous_ratings_needs_no_values_squared_memory() -> None:
    """A value per answer (slider ratings, scores) made the matrix form build units x coders x
    values booleans (here 1e5 x 2 x 2e5 = 40 GB) and the frame form a values x values matrix. The
    textbook form of interval alpha for pairs is the reference: each unit of two values a, b adds
    2 (a - b)^2 to the observed sum; the expected one is 2 n sum (x - mean)^2 / (n - 1)."""
    rng = np.random.default_rng(7)
    truth = rng.normal(size=100_000)
    data = truth + rng.normal(scale=0.5, size=(2, truth.size)) + 1e6  # far from 0: cancellation shows
    x = data.ravel()
    n = x.size
    expected = 2 * n * ((x - x.mean()) ** 2).sum() / (n - 1)
    observed = (2 * (data[0] - data[1]) ** 2).sum()
    want = 1 - observed / expected
    assert metrics.krippendorff_alpha(data, level_of_measurement="interval") == pytest.approx(want, abs=1e-9)
    frame = pd.DataFrame({"task": np.tile(np.arange(truth.size), 2), "worker": np.repeat([0, 1], truth.size),
                          "label": x})
    assert metrics.alpha_krippendorff(frame, "interval") == pytest.approx(want, abs=1e-9)
    # Ordinal and nominal on the same data: ordinal is interval alpha on midranks; nominal sees no
    # two equal values (no agreement beyond chance).
    assert 0.5 < metrics.krippendorff_alpha(data, level_of_measurement="ordinal") < 1
    assert metrics.alpha_krippendorff(frame, "nominal") == pytest.approx(0, abs=1e-6)
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    small = data[:, :200]
    for level in ("interval", "ordinal", "ratio"):
        assert abs(metrics.krippendorff_alpha(small, level_of_measurement=level) -
                   kr.alpha(reliability_data=small, level_of_measurement=level)) <= 1e-9, level


def test_ordinal_alpha_orders_numeric_string_labels_as_numbers() -> None:
    """Labels "1" .. "10" read from a CSV as text sorted "10" between "1" and "2": ordinal alpha
    measured the distance on the text order."""
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 11, size=300)
    rows = [(t, w, int(np.clip(truth[t] + rng.integers(-1, 2), 1, 10))) for t in range(300) for w in range(3)]
    numbers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    text = numbers.assign(label=numbers["label"].astype(str))
    want = metrics.alpha_krippendorff(numbers, "ordinal")
    assert metrics.alpha_krippendorff(text, "ordinal") == pytest.approx(want, abs=1e-12)
    assert want > 0.7
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    matrix = numbers.pivot(index="worker", columns="task", values="label").to_numpy(dtype=np.float64)
    assert abs(want - kr.alpha(reliability_data=matrix, level_of_measurement="ordinal")) <= 1e-9


def test_a_label_that_is_the_text_nan_is_a_label_in_the_pivot() -> None:
    """The object pivot marked missing cells with the text "nan": a real label "nan" (a CSV's
    "not applicable" answer, say) was dropped as missing (-0.109 instead of -0.048)."""
    answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 3, 3, 3, 4, 4], "worker": list("abcab") + list("abcab"),
                            "label": ["x", "nan", "y", "nan", "nan", "x", "y", "x", "nan", "y"]})
    want = metrics.alpha_krippendorff(answers, "nominal")
    piv = answers.pivot(index="worker", columns="task", values="label")
    assert metrics.krippendorff_alpha(piv, level_of_measurement="nominal") == pytest.approx(want, abs=1e-12)
    renamed = answers.assign(label=answers["label"].replace("nan", "q"))
    assert metrics.alpha_krippendorff(renamed, "nominal") == pytest.approx(want, abs=1e-12)


def test_metric_refusals_name_the_metric_and_a_vote_prints_its_options() -> None:
    """item_uncertainty/worker_consistency refused MMSR saying 'quality() needs ...', a function the
    user did not call; MajorityVote(on_missing_skill='value', default_skill=0.5) printed as
    MajorityVote()."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"task": np.repeat(np.arange(20), 3), "worker": np.tile(["a", "b", "c"], 20),
                       "label": rng.choice(["x", "y"], 60)})
    for name in ("item_uncertainty", "worker_consistency"):
        with pytest.raises(InvalidArgument, match=f"^{name} needs posterior probabilities; MMSR"):
            getattr(metrics, name)(df, aggregator=tg.consensus.MMSR())
    assert repr(tg.consensus.MajorityVote(on_missing_skill="value", default_skill=0.5)) == \
        "MajorityVote(default_skill=0.5, on_missing_skill='value')"
    assert repr(tg.consensus.MajorityVote()) == "MajorityVote()"


@pytest.mark.parametrize("offset", [1e12, 1e15])
def test_interval_alpha_keeps_its_digits_under_a_large_offset(offset: float) -> None:
    """The interval distances were taken about a mean summed from the raw values: with values
    1e15 + N(0, 1) (microsecond timestamps) alpha came out -0.035 for -0.065."""
    kr = pytest.importorskip("krippendorff", reason="the krippendorff package (test extra) is the reference")
    data = np.random.default_rng(1).normal(size=(3, 50)) + offset
    want = kr.alpha(reliability_data=data - offset, level_of_measurement="interval")  # exact: shifts change nothing
    assert abs(metrics.krippendorff_alpha(data) - want) <= 1e-9
    frame = pd.DataFrame({"task": np.tile(np.arange(50), 3), "worker": np.repeat(["a", "b", "c"], 50),
                          "label": data.ravel()})
    assert abs(metrics.alpha_krippendorff(frame, "interval") - want) <= 1e-9


@pytest.mark.parametrize("level", ["ordinal", "interval", "ratio"])
def test_numbers_written_as_text_take_their_numeric_order(level: str) -> None:
    """interval and ratio refused labels "9", "10", "2" ("domain must be strictly increasing"): the
    label index is in text order. They are the numbers they read as, as ordinal already took them."""
    df = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3, 4, 4], "worker": ["a", "b"] * 4,
                       "label": ["9", "10", "2", "2", "10", "10", "-1", "2"]})
    want = metrics.alpha_krippendorff(df.assign(label=df["label"].astype(int)), level)
    assert metrics.alpha_krippendorff(df, level) == pytest.approx(want, abs=1e-12)
    with pytest.raises(InvalidArgument, match=r"labels '2' and '2.0' are the same number \(2\)"):
        metrics.alpha_krippendorff(df.assign(label=["9", "10", "2", "2.0", "10", "10", "-1", "2"]), level)


def test_ordinal_alpha_takes_an_ordered_categoricals_order() -> None:
    """An ordered Categorical is how a frame declares low < mid < high; it was read alphabetically
    (high < low < mid): 0.708 for 0.148."""
    df = pd.DataFrame({"task": list("aabbccdd"), "worker": ["w1", "w2"] * 4,
                       "label": ["low", "high", "mid", "mid", "low", "mid", "high", "high"]})
    scale = pd.Categorical(df["label"], ["low", "mid", "high"], ordered=True)
    codes = pd.Series(scale.codes, dtype=np.float64).to_numpy().reshape(4, 2).T  # coders x units
    want = metrics.krippendorff_alpha(codes, level_of_measurement="ordinal")
    assert want == pytest.approx(0.1483333333, abs=1e-9)
    assert metrics.alpha_krippendorff(df.assign(label=scale), "ordinal") == pytest.approx(want, abs=1e-12)
    # Unordered: the sorted values, as before.
    unordered = metrics.alpha_krippendorff(df.assign(label=pd.Categorical(df["label"], ["low", "mid", "high"])), "ordinal")
    assert unordered == pytest.approx(metrics.alpha_krippendorff(df, "ordinal"), abs=1e-12)


def test_accuracy_on_aggregates_scores_a_gold_subset_with_weights() -> None:
    """As crowd-kit's: answers to tasks the aggregates do not label are left out (a gold subset
    was refused, "aggregates lacks task(s)"), a weight column weights each answer (it was
    ignored), and by="worker" is indexed by "worker" and unnamed."""
    df = pd.DataFrame({"task": [1, 1, 2, 2, 3], "worker": ["a", "b", "a", "b", "a"],
                       "label": ["x", "y", "y", "y", "x"], "weight": [1.0, 3.0, 2.0, 1.0, 5.0]})
    gold = pd.Series({1: "x", 2: "y"})
    assert metrics.accuracy_on_aggregates(df.drop(columns="weight"), aggregates=gold) == pytest.approx(3 / 4)
    assert metrics.accuracy_on_aggregates(df, aggregates=gold) == pytest.approx((1 + 2 + 1) / 7)
    by = metrics.accuracy_on_aggregates(df, aggregates=gold, by="worker")
    assert by.to_dict() == {"a": 1.0, "b": pytest.approx(1 / 4)} and by.index.name == "worker" and by.name is None
    with pytest.raises(InvalidArgument, match="labels none of the answers' tasks.*same values and type"):
        metrics.accuracy_on_aggregates(df, aggregates=pd.Series({"1": "x"}))
    with pytest.raises(InvalidArgument, match="more than one label for task"):
        metrics.accuracy_on_aggregates(df, aggregates=pd.Series(["x", "y"], index=[1, 1]))
    with pytest.raises(InvalidArgument, match="'weight' must hold finite numbers >= 0; row 2 holds nan"):
        metrics.accuracy_on_aggregates(df.assign(weight=[1, 1, np.nan, 1, 1]), aggregates=gold)
    # A row the gold subset does not score is not read (crowd-kit's 0.75): task 3 has no gold.
    assert metrics.accuracy_on_aggregates(df.assign(weight=[1, 1, 1, 1, np.nan]), aggregates=gold) == pytest.approx(0.75)
    ck = pytest.importorskip("crowdkit.metrics.workers", reason="crowd-kit (bench extra) is the reference")
    path = SHARED / "rte"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    rte = pd.read_csv(path / "answers.csv")
    truth = pd.read_csv(path / "truth.csv").set_index("task")["truth"].iloc[:100]
    rte = rte.assign(weight=np.random.default_rng(0).random(len(rte)))
    with warnings.catch_warnings():  # crowd-kit's own pandas deprecations
        warnings.simplefilter("ignore")
        theirs_all = ck.accuracy_on_aggregates(rte, aggregates=truth)
        theirs = ck.accuracy_on_aggregates(rte, aggregates=truth, by="worker")
    assert metrics.accuracy_on_aggregates(rte, aggregates=truth) == pytest.approx(theirs_all, abs=1e-12)
    ours = metrics.accuracy_on_aggregates(rte, aggregates=truth, by="worker")
    pd.testing.assert_series_equal(ours, theirs, check_exact=False, atol=1e-12)


def test_metric_series_are_named_as_crowd_kits() -> None:
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x", "y", "y", "y"]})
    for s in (metrics.uncertainty(df, aggregate=False), metrics.consistency(df, by_task=True)):
        assert s.name is None and s.index.name == "task"


@pytest.mark.parametrize("call, message", [
    (lambda df: metrics.consistency(df, aggregator="ds"), "aggregator must be an estimator instance.*not 'ds'"),
    (lambda df: metrics.uncertainty(df, aggregator=C.MajorityVote), "not the class MajorityVote"),
    (lambda df: metrics.uncertainty(df, workers_skills=pd.Series({"a": 0.5, "b": np.nan})), r"no value \(NaN\) for worker\(s\) \['b'\]"),
    (lambda df: metrics.uncertainty(df, workers_skills=np.array([0.5, 0.5])), "must be a pandas Series.*not ndarray"),
    (lambda df: metrics.worker_consistency(df, confidence=1), "worker_consistency: confidence must be"),
    (lambda df: metrics.item_uncertainty(df.assign(label=[1.0, 2, 3, 4]), aggregator=C.Median()), "Median is not one"),
    (lambda df: metrics.worker_consistency(df.iloc[:0]), "answers are empty: the metric needs at least one answer"),
    (lambda df: metrics.uncertainty(df.iloc[:0]), "needs at least one answer"),
    (lambda df: metrics.krippendorff_alpha(value_counts=[["a", "b"]]), "value_counts must hold numbers"),
    (lambda df: metrics.krippendorff_alpha(np.array([[True, False], [True, None]], dtype=object)), "not bool values"),
    (lambda df: metrics.krippendorff_alpha([[1, 2], [1, 2]], dtype="int"), "dtype must be a floating type"),
    (lambda df: C.DawidSkene().fit(df.assign(label=[[1]] * 4)), "column 'label' holds list values"),
])
def test_metric_errors_give_the_reason(call, message: str) -> None:
    """Each was a bare AttributeError/TypeError/ValueError, or an InvalidArgument giving another
    reason (a NaN skill "lacks" the worker; confidence=1 blamed quality())."""
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x", "y", "y", "y"]})
    with pytest.raises(InvalidArgument, match=message):
        call(df)


def test_krippendorff_alpha_takes_the_packages_dtype_argument() -> None:
    data = [[1, 2, 3, 3], [1, 2, 4, 3]]
    assert metrics.krippendorff_alpha(data, dtype=np.float32) == metrics.krippendorff_alpha(data)


def test_quality_answers_keep_the_fitted_frames_row_labels() -> None:
    """quality().answers had a fresh 0..n-1 index: df.assign(error=q.answers["error"]) on a
    shuffled or filtered frame put each error on another answer, silently. tasks' label kept
    int labels as objects."""
    df = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3, 3], "worker": ["a", "b", "a", "b", "a", "b", "a"],
                       "label": [0, 1, 1, 1, 0, 0, 1]}, index=[10, 11, 12, 13, 14, 15, 16])
    df = df.sample(frac=1, random_state=0)
    with pytest.warns(UserWarning, match="repeated"):  # rows 14 and 16: same task and worker, the later one kept
        est = C.DawidSkene().fit(df)
    q = est.quality()
    superseded = [i for i in df.index if i in (14, 16)][0]
    assert list(q.answers.index) == [i for i in df.index if i != superseded]
    mine = df.loc[q.answers.index, ["task", "worker", "label"]]
    pd.testing.assert_frame_equal(mine, q.answers[["task", "worker", "label"]], check_dtype=False)
    assert q.tasks["label"].dtype == np.int64


def test_crowdlab_names_a_missing_label_column() -> None:
    df = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": ["x", "y", "z", "z"]})
    mp = pd.DataFrame({"x": [0.5, 0.5], "y": [0.5, 0.5]}, index=[1, 2])
    with pytest.raises(InvalidArgument, match=r"no column for label\(s\) \['z'\]"):
        C.CROWDLAB(labels=["x", "y", "z"]).fit(df, model_probas=mp)


@pytest.mark.parametrize("name", ["Wawa", "ZeroBasedSkill", "MMSR"])
def test_a_predict_on_other_answers_does_not_leak_into_the_metrics_of_the_fitted_ones(name):
    # predict(other) replaced labels_/probas_ but kept the fit's answers_: the metrics and
    # next_items took the estimator for one fitted on the fit's answers and read the other
    # data's labels (consistency 0 for every task, every task "maximally uncertain").
    fit_df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2, 3, 3, 3], "worker": list("abcabcabc"),
                           "label": [0, 0, 1, 1, 1, 0, 0, 1, 1]})
    other = pd.DataFrame({"task": [7, 7, 7], "worker": list("abc"), "label": [1, 1, 0]})
    make = getattr(tg.consensus, name)
    fresh, est = make().fit(fit_df), make().fit(fit_df)
    est.predict(other)
    C = tg.consensus
    if name == "MMSR":  # skills are log-odds (no consistency) and scores no posteriors (no next_items)
        assert C.metrics.accuracy_on_aggregates(fit_df, aggregator=est) == \
            C.metrics.accuracy_on_aggregates(fit_df, aggregator=fresh)
        return
    pd.testing.assert_series_equal(C.metrics.consistency(fit_df, aggregator=est, by_task=True),
                                   C.metrics.consistency(fit_df, aggregator=fresh, by_task=True))
    pd.testing.assert_frame_equal(C.next_items(fit_df, 3, method=est), C.next_items(fit_df, 3, method=fresh))
    assert C.metrics.accuracy_on_aggregates(fit_df, aggregator=est) == \
        C.metrics.accuracy_on_aggregates(fit_df, aggregator=fresh)
    # predicting on the fit's own answers keeps the fit usable as it is
    est.predict(fit_df)
    pd.testing.assert_series_equal(C.metrics.consistency(fit_df, aggregator=est, by_task=True),
                                   C.metrics.consistency(fit_df, aggregator=fresh, by_task=True))


@pytest.mark.parametrize("scale", [1e200, 1e150, 1e-150, 1e-300])
def test_interval_and_ratio_alpha_do_not_depend_on_the_scale_of_the_values(scale):
    # The squared differences overflowed (1e200: NaN, silently) or underflowed (1e-300: refused as
    # "every pairable value is the same"); the alpha of the values times any number is the same.
    data = np.array([[1.0, 2.0, 3.0, 1.0], [1.0, 3.0, 3.0, 2.0]])
    for level in ("interval", "ratio"):
        plain = metrics.krippendorff_alpha(reliability_data=data, level_of_measurement=level)
        assert metrics.krippendorff_alpha(reliability_data=data * scale, level_of_measurement=level) == \
            pytest.approx(plain, rel=1e-12)
