"""Off-path input for the consensus families and M-MSR: frames an ordinary user can hand in
that the parity tests' synthetic data never reach (NaN in M-MSR's sort, a worker answering a
task twice in HRRASA, NaN distances, ...), checked against crowd-kit 1.4.2 where it has an
answer (skipped when crowd-kit is absent), and clear errors where it has none."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tagger as tg

C = tg.consensus
pytestmark = pytest.mark.filterwarnings("ignore:::crowdkit.*")


def _ck():
    return pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed (pip install 'tagger[test]')")


# ---------------------------------------------------------------- MMSR: NaN in the trimmed sort


def _mmsr_dense() -> pd.DataFrame:
    """8 tasks, 5 workers: a worker's u reaches 0, so |C| / u holds 0 / 0 = NaN, which numpy
    sorts last; before 2026-12-08 std::sort got the NaN (undefined behaviour) and every skill
    turned NaN, so MMSR refused the frame while crowd-kit fits it in 10 iterations."""
    return pd.DataFrame({
        "task": [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 7, 7, 7],
        "worker": ["w0", "w1", "w2", "w4", "w3", "w4", "w3", "w1", "w0", "w0", "w4", "w1", "w3", "w4", "w1", "w3",
                   "w2", "w4", "w3", "w2", "w2", "w4", "w3", "w0", "w1", "w0", "w1", "w2", "w3", "w1"],
        "label": [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0]})


def _ck_mmsr(df: pd.DataFrame):
    """crowd-kit's fitted MMSR and its labels as a dict."""
    ck = _ck()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ck.MMSR()
        return theirs, theirs.fit_predict(df).to_dict()


def _mmsr_same(df: pd.DataFrame, exact_signs: bool = True, fitted=None) -> None:
    theirs, labels_ck = fitted or _ck_mmsr(df)
    ours = C.MMSR().fit(df)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-9, atol=1e-15)  # NaN == NaN
    mine, ref = ours.skills_.loc[theirs.skills_.index].to_numpy(), theirs.skills_.to_numpy()
    if not exact_signs:
        # A degenerate sign eigenproblem: ARPACK starts from a random vector, and crowd-kit's signs
        # (and labels) change from one fit to the next; tagger's magnitudes must still agree.
        np.testing.assert_allclose(np.abs(mine), np.abs(ref), rtol=1e-9, atol=1e-12)
        if not np.allclose(mine, ref, rtol=1e-9, atol=1e-12):
            return
    np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12)
    assert ours.labels_.to_dict() == labels_ck


def test_mmsr_nan_in_trim_sorts_last_as_numpy():
    df = _mmsr_dense()
    _mmsr_same(df)
    assert len(C.MMSR().fit(df).loss_history_) == 10


def _small_frames(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for trial in range(n):
        K = 2 if trial % 2 == 0 else int(rng.integers(2, 4))
        nt, nw = rng.integers(2, 12), rng.integers(2, 6)
        rows = []
        for t in range(nt):
            z = rng.integers(0, K)
            for w in rng.choice(nw, rng.integers(1, nw + 1), replace=False):
                rows.append((t, f"w{w}", int(z if rng.random() < 0.7 else rng.integers(0, K))))
        yield pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_mmsr_equals_crowdkit_on_small_random_frames():
    _ck()
    compared = 0
    for df in _small_frames(11, 40):  # frame 34 diverged before (NaN in the sort)
        try:
            fitted = _ck_mmsr(df)
        except (ValueError, KeyError, ZeroDivisionError):  # crowd-kit fails on some tiny frames
            continue
        # The u/v iteration (where the NaN sorted) is compared through loss_history_.
        _mmsr_same(df, exact_signs=False, fitted=fitted)
        compared += 1
    assert compared >= 20


# ---------------------------------------------------------------- HRRASA: a worker answering a task twice


def _emb(*v):
    return np.array(v, dtype=float)


def _hrrasa_repeated() -> pd.DataFrame:
    """Worker a answers task 1 twice."""
    return pd.DataFrame({
        "task": [1, 1, 1, 2, 2, 3, 3], "worker": ["a", "a", "c", "a", "b", "c", "b"],
        "output": ["x y", "x z", "q", "p", "p q", "r", "r s"],
        "embedding": [_emb(1, 0), _emb(0.9, 0.1), _emb(0, 1), _emb(1, 1), _emb(1, 0.8), _emb(0.3, 0.3), _emb(0.2, 0.4)]})


def _hrrasa_random_repeated(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(10):
        center = rng.normal(size=4)
        for w in range(5):
            for _ in range(1 + int(rng.random() < 0.3) + int(rng.random() < 0.1)):  # some answer twice or three times
                rows.append((f"t{t}", f"w{w}", f"a {t} b{w} {len(rows)}",
                             center + rng.normal(scale=0.1 + 0.8 * (w == 0), size=4)))
    df = pd.DataFrame(rows, columns=["task", "worker", "output", "embedding"])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _hrrasa_same(ours, theirs, df):
    out_ours, out_theirs = ours.fit_predict(df), theirs.fit_predict(df)
    assert list(out_ours.index) == list(out_theirs.index)
    assert list(out_ours["output"]) == list(out_theirs["output"])
    assert list(ours.skills_.index) == list(theirs.skills_.index)
    np.testing.assert_allclose(ours.skills_.to_numpy(dtype=float), theirs.skills_.to_numpy(dtype=float), rtol=1e-8)
    assert list(ours.aggregated_embeddings_.index) == list(theirs.aggregated_embeddings_.index)
    np.testing.assert_allclose(np.stack(ours.aggregated_embeddings_), np.stack(theirs.aggregated_embeddings_), rtol=1e-9)
    assert list(ours.weights_.index) == list(theirs.weights_.index)
    np.testing.assert_allclose(ours.weights_["weight"].to_numpy(), theirs.weights_["weight"].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-6)


def test_hrrasa_repeated_answers_equal_crowdkit(ck_hrrasa):
    """crowd-kit gives each of a worker's rows on a task the local skill of its first row, and its
    aggregate's join on (task, worker) counts each of those k rows k times; before 2026-12-08
    tagger computed one local skill per row and counted each row once (another output on task 1,
    skills 300x apart)."""
    _hrrasa_same(C.HRRASA(), ck_hrrasa.HRRASA(), _hrrasa_repeated())


@pytest.mark.parametrize("seed", [0, 1])
def test_hrrasa_random_repeated_answers_equal_crowdkit(ck_hrrasa, seed):
    df = _hrrasa_random_repeated(seed)
    assert df.duplicated(["task", "worker"]).any()
    _hrrasa_same(C.HRRASA(), ck_hrrasa.HRRASA(), df)
    if seed == 1:  # with a true embedding for one task
        true = pd.Series([np.ones(4)], index=["t3"])
        ours, theirs = C.HRRASA().fit(df, true), ck_hrrasa.HRRASA().fit(df, true)
        np.testing.assert_allclose(ours.skills_.to_numpy(dtype=float), theirs.skills_.to_numpy(dtype=float), rtol=1e-8)
        np.testing.assert_allclose(np.stack(ours.aggregated_embeddings_), np.stack(theirs.aggregated_embeddings_),
                                   rtol=1e-9)


def test_hrrasa_repeated_loop_is_the_cores_loop():
    """Without repeated answers the core's average weighted by the repeats (all 1) gives the
    numbers of its plain loop."""
    from tagger import _core
    from tagger.consensus.embeddings import _Emb, _chi2_priors

    df = _hrrasa_random_repeated(2).drop_duplicates(["task", "worker"]).reset_index(drop=True)
    est = C.HRRASA()
    e = _Emb(df, "HRRASA", ("task", "worker", "embedding", "output"))
    local = est._local_skills(e)
    prior = _chi2_priors(e.frame["worker"], 0.05).reindex(e.workers).to_numpy(dtype=float)
    fixed, mask = np.zeros(0), np.zeros(0, dtype=np.uint8)
    rasa = _core.consensus_families.embeddings_rasa
    core = rasa(e.matrix, e.task, e.worker, len(e.tasks), len(e.workers), prior, local, np.zeros(0), fixed, mask, 100, 1e-9)
    mine = rasa(e.matrix, e.task, e.worker, len(e.tasks), len(e.workers), prior, local, np.ones(len(df)), fixed, mask,
                100, 1e-9)
    assert mine["n_iter"] == core["n_iter"]
    np.testing.assert_allclose(mine["skills"], core["skills"], rtol=1e-10)
    np.testing.assert_allclose(mine["aggregated"], core["aggregated"], rtol=1e-10)
    np.testing.assert_allclose(mine["loss_history"], core["loss_history"], rtol=1e-8)


# ---------------------------------------------------------------- ClosestToAverage: NaN distances


def _two_tasks() -> pd.DataFrame:
    return pd.DataFrame({"task": [1, 1, 1, 2, 2], "worker": ["a", "b", "c", "a", "b"], "output": list("xyzuv"),
                         "embedding": [_emb(1, 0), _emb(0, 1), _emb(2, 2), _emb(1, 1), _emb(0, 3)]})


def test_closest_to_average_all_nan_distances_raise_naming_the_task():
    """crowd-kit raises ValueError (idxmin of all-NaN scores); before 2026-12-08 tagger read NaN
    as infinity and silently returned each task's first row."""
    from tagger.errors import InvalidArgument

    df = _two_tasks()
    with pytest.raises(InvalidArgument, match=r"^ClosestToAverage: the distance is NaN for every answer of task 1\b"):
        C.ClosestToAverage(lambda a, b: np.nan).fit(df)
    with pytest.raises(ValueError, match="task 2;"):  # InvalidArgument is a ValueError, as crowd-kit's
        C.ClosestToAverage(lambda a, b: np.nan if b[1] == 2.0 else 1.0).fit(df)  # task 2's mean is (0.5, 2)


def test_closest_to_average_some_nan_distances_skipped_as_crowdkit():
    """A NaN score is skipped, after an infinite one (pandas' idxmin with skipna)."""
    ck = _ck()
    df = _two_tasks()
    values = {(1, 0): np.nan, (0, 1): np.inf, (2, 2): 5.0, (1, 1): np.nan, (0, 3): np.inf}
    dist_inf_first = dict(values)
    dist_inf_first[(2, 2)] = np.nan  # task 1: NaN, inf, NaN -> the inf row
    for table in (values, dist_inf_first):
        f = lambda a, b, table=table: table[(a[0], a[1])]  # noqa: E731
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = ck.ClosestToAverage(distance=f).fit_predict(df)
        ours = C.ClosestToAverage(distance=f).fit_predict(df)
        assert list(ours["output"]) == list(theirs["output"])


# ---------------------------------------------------------------- messages: the class, the id, the value


def _masks(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"),
                         "segmentation": [rng.random((4, 5)) < 0.5 for _ in range(6)]})


def test_segmentation_non_numeric_skill_names_worker():
    from tagger.errors import InvalidArgument

    df = _masks()
    with pytest.raises(InvalidArgument, match=r"^SegmentationMajorityVote: the skill of worker 'b' is 'y'; skills must be"):
        C.SegmentationMajorityVote().fit(df, skills=pd.Series({"a": 1.0, "b": "y", "c": 2.0}))
    with pytest.raises(InvalidArgument, match=r"skill of worker 3 is 'x'"):
        C.SegmentationMajorityVote().fit(df.assign(worker=[3, 4, 5, 3, 4, 5]), skills=pd.Series({3: "x", 4: 1.0, 5: 1.0}))


def test_ids_in_messages_are_plain_values():
    """Messages showed task ids as np.int64(2)."""
    from tagger.errors import InvalidArgument

    df = _masks().assign(task=[1, 1, 1, 2, 2, 2])
    with pytest.raises(InvalidArgument, match=r"no worker with a known skill, e\.g\. 2$"):
        C.SegmentationMajorityVote(on_missing_skill="ignore").fit(df.iloc[[0, 1, 3]], skills=pd.Series({"b": 1.0}))
    with pytest.raises(InvalidArgument, match=r"skill value is missing in 2 assignment\(s\), first for worker 7;"):
        C.SegmentationMajorityVote().fit(df.assign(worker=[7, 8, 9, 7, 8, 9]), skills=pd.Series({8: 1.0, 9: 1.0}))
    e = pd.DataFrame({"task": [1, 1, 3], "worker": ["a", "b", "a"], "output": list("xyz"), "embedding": [np.ones(2)] * 3})
    with pytest.raises(InvalidArgument, match=r"^ClosestToAverage: aggregated_embeddings has no row for task 3$"):
        C.ClosestToAverage("cosine").fit(e, pd.Series({1: np.ones(2)}))


def test_closest_to_average_distance_errors_name_the_class():
    from tagger.errors import InvalidArgument

    e = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "output": list("xy"), "embedding": [np.ones(2)] * 2})
    with pytest.raises(InvalidArgument, match=r"^ClosestToAverage: distance must be a callable or one of .*'manhattan'"):
        C.ClosestToAverage("manhattan").fit(e)
    with pytest.raises(InvalidArgument, match=r"^ClosestToAverage: distance must be a callable"):
        C.ClosestToAverage(3).fit(e)
    with pytest.raises(InvalidArgument, match=r"^ClosestToAverage: distance returned str for row 0, not a number"):
        C.ClosestToAverage(lambda a, b: "far").fit(e)


def test_box_majority_vote_core_errors_name_the_class():
    """The core's errors began with its function's name, 'bbox:'."""
    from tagger.errors import InvalidArgument

    b = pd.DataFrame({"task": [1], "worker": ["a"], "x_min": [5], "y_min": [0], "x_max": [1], "y_max": [1]})
    with pytest.raises(InvalidArgument, match=r"^BoxMajorityVote: box at row 0 has x_max < x_min or y_max < y_min$"):
        C.BoxMajorityVote().fit(b)
    with pytest.raises(InvalidArgument, match=r"^BoxMajorityVote: iou_threshold must be in \(0, 1\]$"):
        C.BoxMajorityVote(iou_threshold=2).fit(b.assign(x_min=0))
    with pytest.raises(InvalidArgument, match=r"^BoxMajorityVote: min_support must be in \[0, 1\]$"):
        C.BoxMajorityVote(min_support=-1).fit(b.assign(x_min=0))


@pytest.mark.parametrize("cls", ["SegmentationMajorityVote", "SegmentationRASA", "SegmentationEM"])
def test_segmentation_float_masks_of_zeros_and_ones(cls):
    """crowd-kit's majority vote and EM take float masks of 0.0/1.0; they were refused
    ('must be boolean (or 0/1)'). They give the boolean masks' results."""
    df = _masks(3)
    as_float = df.assign(segmentation=[m.astype(np.float64) for m in df.segmentation])
    as_f32 = df.assign(segmentation=[m.astype(np.float32) for m in df.segmentation])
    ref = getattr(C, cls)().fit_predict(df)
    for frame in (as_float, as_f32):
        out = getattr(C, cls)().fit_predict(frame)
        assert all(np.array_equal(a, b) for a, b in zip(out, ref)) and all(a.dtype == np.bool_ for a in out)
    if cls == "SegmentationRASA":  # crowd-kit's RASA computes masks & votes: it fails on float masks
        return
    ck = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(ck, cls)().fit_predict(as_float)
    assert all(np.array_equal(a, b) for a, b in zip(out, theirs))


def test_segmentation_other_mask_values_refused_clearly():
    from tagger.errors import InvalidArgument

    df = _masks(3)
    half = df.assign(segmentation=[m.astype(float) * 0.5 for m in df.segmentation])
    with pytest.raises(InvalidArgument, match=r"^SegmentationEM: segmentation at row 0 has the value 0\.5 \(dtype "
                                              r"float64\); a mask holds booleans, or only 0 and 1"):
        C.SegmentationEM().fit(half)
    twos = df.assign(segmentation=[m.astype(int) * 2 for m in df.segmentation])
    with pytest.raises(InvalidArgument, match=r"has the value 2 \(dtype int64\)"):
        C.SegmentationRASA().fit(twos)
    nan = df.assign(segmentation=[np.full((4, 5), np.nan)] + list(df.segmentation[1:]))
    with pytest.raises(InvalidArgument, match=r"at row 0 has the value nan"):
        C.SegmentationMajorityVote().fit(nan)
    strs = df.assign(segmentation=[np.full((4, 5), "1")] + list(df.segmentation[1:]))
    with pytest.raises(InvalidArgument, match=r"at row 0 must be a boolean mask \(or of 0 and 1\), got dtype <U1"):
        C.SegmentationMajorityVote().fit(strs)


# ---------------------------------------------------------------- ROVER: the worker column


def _rover_texts() -> pd.DataFrame:
    return pd.DataFrame({"task": [2, 2, 2, 1, 1], "worker": ["a", "b", "c", "a", "b"],
                         "text": ["the cat sat", "a cat sat", "the cat sa", "red car", "red bar"]})


def test_rover_runs_without_a_worker_column_as_crowdkit():
    """ROVER never reads `worker`; it required the column (MissingColumn) where crowd-kit runs."""
    ck = _ck()
    df = _rover_texts().drop(columns="worker")
    ours = C.ROVER(str.split, " ".join).fit_predict(df)
    theirs = ck.ROVER(str.split, " ".join).fit_predict(df)
    pd.testing.assert_series_equal(ours, theirs, check_names=False)
    assert ours.name == "agg_text" and ours.index.name == "task"
    pd.testing.assert_series_equal(ours, C.ROVER(str.split, " ".join).fit_predict(_rover_texts()))


def test_rover_does_not_read_worker_ids():
    """crowd-kit aggregates a frame with NaN worker ids (ROVER never reads them); so does tagger."""
    from tagger.errors import MissingColumn

    ck = _ck()
    df = _rover_texts()
    for missing in (None, np.nan):
        odd = df.assign(worker=pd.Series(["a", missing, "c", "a", "b"], dtype=object))
        pd.testing.assert_series_equal(C.ROVER(str.split, " ".join).fit_predict(odd),
                                       ck.ROVER(str.split, " ".join).fit_predict(odd), check_names=False)
    with pytest.raises(MissingColumn, match=r"\['text'\]"):
        C.ROVER(str.split, " ".join).fit(df.drop(columns="text"))


def test_closest_to_average_cosine_of_zero_vectors_is_undefined_as_scipys() -> None:
    """The built-in cosine (also what scipy's own cosine is routed to) gave a zero-norm vector
    the distance inf, not scipy's NaN: a task of such vectors kept its first answer silently,
    where a callable cosine raised as the docs say, and scores_ differed from crowd-kit's."""
    import scipy.spatial.distance as sd

    v = lambda *a: np.array(a, float)  # noqa: E731
    df = pd.DataFrame([[1, "a", "x", v(1, 0)], [1, "b", "y", v(-1, 0)], [2, "a", "z", v(1, 1)], [2, "b", "w", v(0, 0)]],
                      columns=["task", "worker", "output", "embedding"])
    for d in ("cosine", sd.cosine, lambda a, b: sd.cosine(a, b)):
        with pytest.raises(tg.errors.InvalidArgument, match="the distance is NaN for every answer of task 1"), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own division by a zero norm
            C.ClosestToAverage(d).fit(df)
    scores = C.ClosestToAverage("cosine").fit(df[df["task"] == 2]).scores_["score"].tolist()
    assert scores[0] == 0.0 and np.isnan(scores[1])


def test_true_embeddings_and_encoders_of_the_wrong_kind_are_named() -> None:
    v = lambda *a: np.array(a, float)  # noqa: E731
    df = pd.DataFrame([[1, "a", "x", v(1, 0)], [1, "b", "y", v(0.9, 0.1)]], columns=["task", "worker", "output", "embedding"])
    with pytest.raises(tg.errors.InvalidArgument, match="true_embeddings: none of its 1 task id.*strings"):
        C.RASA().fit(df, true_embeddings=pd.Series({"1": v(1, 0)}))
    texts = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "text": ["hi there", "hello"]})
    with pytest.raises(tg.errors.InvalidArgument, match="encoder returned str for the text of row 0"):
        C.TextRASA(encoder=lambda s: "abc").fit(texts)


@pytest.mark.parametrize("bad", [np.inf, -1.0, np.nan])
def test_segmentation_skills_are_finite_weights(bad: float) -> None:
    """An inf skill made every pixel of its tasks False (inf - inf is NaN), silently."""
    masks = [np.array([[True, False], [True, True]]), np.array([[True, False], [False, True]])]
    df = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "segmentation": masks})
    ok = C.SegmentationMajorityVote().fit(df, skills=pd.Series({"a": 1.0, "b": 0.5}))
    assert ok.segmentations_.loc[1].tolist() == [[True, False], [True, True]]
    with pytest.raises(tg.errors.InvalidArgument, match="the skill of worker 'b' is .*finite numbers >= 0|skill value is missing"):
        C.SegmentationMajorityVote().fit(df, skills=pd.Series({"a": 1.0, "b": bad}))
