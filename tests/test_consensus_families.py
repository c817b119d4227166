"""Non-classification consensus families (pairwise, segmentation, embeddings,
texts, boxes): parity with crowd-kit 1.4.2 on synthetic data built here from
fixed seeds, the documented departures, and clear errors for bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument, MissingColumn

C = tg.consensus
# crowd-kit's own numpy/pandas warnings (0/0 on empty masks, chained assignment)
# are not tagger's; tagger's code stays under the suite's warnings-as-errors.
pytestmark = pytest.mark.filterwarnings("ignore:::crowdkit.*")


def _ck():
    return pytest.importorskip("crowdkit.aggregation", reason="crowd-kit not installed (pip install 'tagger[test]')")


# ---------------------------------------------------------------- pairwise


def _comparisons(seed=0, n_items=12, n_workers=8, n=600, spam=2):
    """Items with true strengths; workers answer by BT, `spam` of them at random."""
    rng = np.random.default_rng(seed)
    strength = np.linspace(-2, 2, n_items)
    names = np.array([f"i{k:02d}" for k in range(n_items)])
    rows = []
    for _ in range(n):
        a, b = rng.choice(n_items, 2, replace=False)
        w = int(rng.integers(n_workers))
        p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
        win = a if (rng.random() < (0.5 if w < spam else p)) else b
        rows.append((f"w{w}", names[a], names[b], names[win]))
    return pd.DataFrame(rows, columns=["worker", "left", "right", "label"]), pd.Series(strength, index=names)


def _bt_loglik(df, scores):
    s = scores.to_dict()
    win = df["label"].map(s).to_numpy()
    lose = np.where(df["label"] == df["left"], df["right"], df["left"])
    lose = pd.Series(lose).map(s).to_numpy()
    return float(np.sum(np.log(win / (win + lose))))


def _spearman(a, b):
    return float(np.corrcoef(pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy())[0, 1])


def test_bradley_terry_two_steps_equal_crowdkit():
    ck = _ck()
    df, _ = _comparisons()
    theirs = ck.BradleyTerry(n_iter=100).fit_predict(df)
    ours = C.BradleyTerry(n_iter=2).fit_predict(df)
    assert ours.name == theirs.name == "agg_score"
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-12)


def test_bradley_terry_converges_to_a_better_likelihood_than_crowdkit():
    ck = _ck()
    df, truth = _comparisons(seed=1)
    theirs = ck.BradleyTerry(n_iter=100).fit_predict(df)
    est = C.BradleyTerry(n_iter=1000, tol=1e-10).fit(df)
    assert est.converged_ and est.loss_history_[-1] < 1e-10
    assert _bt_loglik(df, est.scores_) > _bt_loglik(df, theirs)
    assert _spearman(est.scores_, truth[est.scores_.index]) >= 0.95
    assert est.scores_.sum() == pytest.approx(1.0)


def test_noisy_bt_format_and_optimum_vs_crowdkit():
    ck = _ck()
    df, truth = _comparisons(seed=2, n=400)
    theirs = ck.NoisyBradleyTerry(n_iter=100).fit(df)
    ours = C.NoisyBT(n_iter=100).fit(df)
    for a, b in ((ours.scores_, theirs.scores_), (ours.skills_, theirs.skills_), (ours.biases_, theirs.biases_)):
        assert a.name == b.name and a.index.name == b.index.name and list(a.index) == list(b.index)
    obj = ours.objective
    assert obj(df, ours.scores_, ours.biases_, ours.skills_) < obj(df, theirs.scores_, theirs.biases_, theirs.skills_)
    assert _spearman(ours.scores_, truth[ours.scores_.index]) >= 0.9
    # the spammers (w0, w1) get the lowest skills
    assert set(ours.skills_.nsmallest(2).index) == {"w0", "w1"}


def test_pairwise_degenerate_but_valid_inputs():
    one = pd.DataFrame({"worker": ["w"] * 3, "left": ["a", "b", "a"], "right": ["b", "c", "c"], "label": ["a", "b", "a"]})
    bt = C.BradleyTerry(n_iter=50).fit_predict(one)
    assert list(bt.index) == ["a", "b", "c"] and bt["a"] > bt["b"] > bt["c"] == 0
    nbt = C.NoisyBradleyTerry(n_iter=50).fit(one)
    assert list(nbt.skills_.index) == ["w"] and nbt.scores_["a"] > nbt.scores_["c"]


@pytest.mark.parametrize("cls", [lambda: C.BradleyTerry(n_iter=5), lambda: C.NoisyBradleyTerry()])
def test_pairwise_bad_input(cls):
    good = pd.DataFrame({"worker": ["w1", "w2"], "left": ["a", "a"], "right": ["b", "b"], "label": ["a", "b"]})
    with pytest.raises(MissingColumn) as e:
        cls().fit(good.drop(columns="right"))
    assert isinstance(e.value, KeyError) and "right" in str(e.value)
    with pytest.raises(InvalidArgument, match="empty"):
        cls().fit(good.iloc[:0])
    with pytest.raises(InvalidArgument, match="label must equal left or right; row 1"):
        cls().fit(good.assign(label=["a", "zzz"]))
    with pytest.raises(InvalidArgument, match="missing value"):
        cls().fit(good.assign(left=["a", None]))
    with pytest.raises(InvalidArgument, match="with itself"):
        cls().fit(good.assign(right=["b", "a"], label=["a", "a"]))
    with pytest.raises(InvalidArgument, match="DataFrame"):
        cls().fit([1, 2])


def test_pairwise_bad_options():
    df = pd.DataFrame({"worker": ["w"], "left": ["a"], "right": ["b"], "label": ["a"]})
    with pytest.raises(InvalidArgument, match="n_iter"):
        C.BradleyTerry(n_iter=0).fit(df)
    with pytest.raises(InvalidArgument, match="tol"):
        C.NoisyBT(tol=-1).fit(df)
    with pytest.raises(InvalidArgument, match="random_state"):
        C.NoisyBT(random_state=-1).fit(df)


# ------------------------------------------------------------ segmentation


def _segmentations(seed=0, n_tasks=6, n_workers=5, shape=(12, 16)):
    rng = np.random.default_rng(seed)
    rows = []
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for t in range(n_tasks):
        cy, cx, r = rng.integers(3, shape[0] - 3), rng.integers(3, shape[1] - 3), rng.integers(2, 6)
        truth = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        for w in range(n_workers):
            noise = 0.02 + 0.25 * (w == 0) + 0.1 * (w == 1)   # two sloppy workers
            m = truth ^ (rng.random(shape) < noise)
            rows.append((f"t{t}", f"w{w}", m))
    # a task whose masks differ in shape from the others, and one nobody marked
    rows += [("u", f"w{w}", np.zeros((4, 5), dtype=bool)) for w in range(3)]
    rows += [("v", f"w{w}", rng.random((3, 3)) < 0.5) for w in range(4)]
    return pd.DataFrame(rows, columns=["task", "worker", "segmentation"])


def _same_masks(ours, theirs):
    assert ours.name == theirs.name == "agg_segmentation" and ours.index.name == theirs.index.name == "task"
    assert list(ours.index) == list(theirs.index)
    for t in ours.index:
        assert ours[t].dtype == bool and ours[t].shape == np.asarray(theirs[t]).shape
        np.testing.assert_array_equal(ours[t], np.asarray(theirs[t], dtype=bool), err_msg=str(t))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segmentation_equal_crowdkit(seed):
    ck = _ck()
    df = _segmentations(seed)
    _same_masks(C.SegmentationMajorityVote().fit_predict(df), ck.SegmentationMajorityVote().fit_predict(df))
    ours, theirs = C.SegmentationRASA().fit(df), ck.SegmentationRASA().fit(df)
    _same_masks(ours.segmentations_, theirs.segmentations_)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-9)
    ours, theirs = C.SegmentationEM().fit(df), ck.SegmentationEM().fit(df)
    _same_masks(ours.segmentations_, theirs.segmentations_)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-9)


def test_segmentation_weighted_vote_equal_crowdkit():
    ck = _ck()
    df = _segmentations(3)
    skills = pd.Series([0.1, 0.3, 1.0, 0.9, 0.8], index=[f"w{w}" for w in range(5)])
    _same_masks(C.SegmentationMajorityVote().fit_predict(df, skills), ck.SegmentationMajorityVote().fit_predict(df, skills))
    part = skills.drop("w4")
    _same_masks(C.SegmentationMajorityVote(on_missing_skill="value", default_skill=0.5).fit_predict(df, part),
                ck.SegmentationMajorityVote(on_missing_skill="value", default_skill=0.5).fit_predict(df, part))
    _same_masks(C.SegmentationMajorityVote(on_missing_skill="ignore").fit_predict(df, part),
                ck.SegmentationMajorityVote(on_missing_skill="ignore").fit_predict(df, part))
    with pytest.raises(InvalidArgument, match="skill value is missing"):
        C.SegmentationMajorityVote().fit(df, part)


def test_segmentation_em_finds_the_sloppy_worker():
    est = C.SegmentationEM().fit(_segmentations(4))
    e = est.errors_.xs("t0", level="task")
    assert e.idxmin() == "w0" and e.min() < e.drop("w0").min()


@pytest.mark.parametrize("cls", [C.SegmentationMajorityVote, C.SegmentationRASA, C.SegmentationEM])
def test_segmentation_bad_input(cls):
    df = _segmentations(0, n_tasks=1, n_workers=2).iloc[:2]
    with pytest.raises(MissingColumn):
        cls().fit(df.drop(columns="segmentation"))
    with pytest.raises(InvalidArgument, match="empty"):
        cls().fit(df.iloc[:0])
    bad = df.copy()
    bad.at[1, "segmentation"] = np.zeros((2, 2), dtype=bool)
    with pytest.raises(InvalidArgument, match="same shape"):
        cls().fit(bad)
    bad.at[1, "segmentation"] = np.full(df.at[0, "segmentation"].shape, 0.5)
    with pytest.raises(InvalidArgument, match="boolean"):
        cls().fit(bad)
    bad.at[1, "segmentation"] = None
    with pytest.raises(InvalidArgument, match="not a numpy array"):
        cls().fit(bad)
    with pytest.raises(InvalidArgument, match="missing value"):
        cls().fit(df.assign(task=[None, "t0"]))
    # one worker is valid: its mask is the answer
    one = df.iloc[:1]
    np.testing.assert_array_equal(cls().fit_predict(one)["t0"], one.at[0, "segmentation"])


# ---------------------------------------------------------------- embeddings


def _embeddings(seed=0, n_tasks=8, n_workers=6, dim=5):
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_tasks):
        center = rng.normal(size=dim)
        for w in range(n_workers):
            if rng.random() < 0.2 and w > 1:
                continue  # sparse overlap
            e = center + rng.normal(scale=0.1 + 1.0 * (w == 0), size=dim)
            rows.append((f"t{t}", f"w{w}", f"out-{t}-{w}", e))
    return pd.DataFrame(rows, columns=["task", "worker", "output", "embedding"])


def _same_outputs(ours, theirs):
    assert list(ours.columns) == list(theirs.columns)
    assert ours.index.name == theirs.index.name == "task"
    assert list(ours.index) == list(theirs.index)
    assert list(ours["output"]) == list(theirs["output"])


@pytest.mark.parametrize("distance", ["callable", "name"])
def test_closest_to_average_equal_crowdkit(distance):
    ck = _ck()
    from scipy.spatial.distance import euclidean
    df = _embeddings(1)
    theirs = ck.ClosestToAverage(distance=euclidean).fit(df)
    ours = C.ClosestToAverage(distance=(lambda a, b: euclidean(a, b)) if distance == "callable" else "euclidean").fit(df)
    _same_outputs(ours.embeddings_and_outputs_, theirs.embeddings_and_outputs_)
    assert list(ours.scores_.columns) == list(theirs.scores_.columns)
    np.testing.assert_allclose(ours.scores_["score"].to_numpy(), theirs.scores_["score"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_rasa_equal_crowdkit(seed):
    ck = _ck()
    df = _embeddings(seed)
    ours, theirs = C.RASA(), ck.RASA()
    _same_outputs(ours.fit_predict(df), theirs.fit_predict(df))
    assert list(ours.skills_.index) == list(theirs.skills_.index)
    np.testing.assert_allclose(ours.skills_.to_numpy(), theirs.skills_.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(np.stack(ours.aggregated_embeddings_), np.stack(theirs.aggregated_embeddings_), rtol=1e-9)
    np.testing.assert_allclose(ours.prior_skills_.to_numpy(), theirs.prior_skills_.to_numpy())
    assert ours.skills_.idxmin() == "w0"  # the noisy worker
    truth = pd.Series([df.embedding.iloc[0] * 0 + 1.0], index=["t0"])
    _same_outputs(ours.fit_predict(df, truth), theirs.fit_predict(df, truth))


@pytest.mark.parametrize("make", [lambda: C.ClosestToAverage("cosine"), lambda: C.RASA()])
def test_embeddings_bad_input(make):
    df = _embeddings(2, n_tasks=2)
    with pytest.raises(MissingColumn):
        make().fit(df.drop(columns="embedding"))
    with pytest.raises(InvalidArgument, match="empty"):
        make().fit(df.iloc[:0])
    bad = df.copy()
    bad.at[0, "embedding"] = np.ones(3)
    with pytest.raises(InvalidArgument, match="different dimensions"):
        make().fit(bad)
    bad.at[0, "embedding"] = np.full(5, np.nan)
    with pytest.raises(InvalidArgument, match="NaN"):
        make().fit(bad)
    with pytest.raises(InvalidArgument, match="multiple true embeddings"):
        make().fit(df, true_embeddings=pd.Series([np.ones(5), np.ones(5)], index=["t0", "t0"]))
    one = df[df.worker == "w1"]  # one worker: its answers win
    assert list(make().fit_predict(one)["output"]) == list(one["output"])


def test_closest_to_average_bad_distance():
    with pytest.raises(InvalidArgument, match="distance"):
        C.ClosestToAverage("manhattan").fit(_embeddings(0))


# ---------------------------------------------------------------- texts


def _texts(seed=0, n_tasks=10, n_workers=5):
    rng = np.random.default_rng(seed)
    vocab = "the a cat dog sat on mat and ran far away big small red".split()
    rows = []
    for t in range(n_tasks):
        truth = list(rng.choice(vocab, rng.integers(3, 8)))
        for w in range(n_workers):
            words = list(truth)
            for _ in range(rng.integers(0, 3)):
                op, k = rng.integers(3), int(rng.integers(len(words) + 1))
                if op == 0 and words:
                    words.pop(min(k, len(words) - 1))
                elif op == 1:
                    words.insert(k, str(rng.choice(vocab)))
                elif words:
                    words[min(k, len(words) - 1)] = str(rng.choice(vocab))
            rows.append((f"t{t}", f"w{w}", " ".join(words)))
    rows.append(("solo", "w0", "just one text"))
    rows.append(("blank", "w0", ""))
    rows.append(("blank", "w1", "word"))
    return pd.DataFrame(rows, columns=["task", "worker", "text"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rover_equal_crowdkit(seed):
    ck = _ck()
    df = _texts(seed)
    args = dict(tokenizer=lambda s: s.split(" "), detokenizer=lambda toks: " ".join(toks))
    ours, theirs = C.ROVER(**args).fit_predict(df), ck.ROVER(**args).fit_predict(df)
    assert ours.index.name == theirs.index.name == "task" and ours.name == theirs.name
    pd.testing.assert_series_equal(ours, theirs)


def _char_encoder(text: str) -> np.ndarray:
    v = np.zeros(16)
    for i, ch in enumerate(text):
        v[(ord(ch) * 7 + i) % 16] += 1.0
    return v


def test_text_rasa_equal_crowdkit():
    ck = _ck()
    df = _texts(4)
    df = df[df.text != ""]
    ours = C.TextRASA(encoder=_char_encoder).fit_predict(df)
    theirs = ck.TextRASA(encoder=_char_encoder).fit_predict(df, None)
    pd.testing.assert_series_equal(ours, theirs, check_names=False)
    assert ours.name == "agg_text"


def test_texts_bad_input():
    df = _texts(0, n_tasks=2)
    rover = C.ROVER(tokenizer=str.split, detokenizer=" ".join)
    with pytest.raises(MissingColumn):
        rover.fit(df.drop(columns="text"))
    with pytest.raises(InvalidArgument, match="empty"):
        rover.fit(df.iloc[:0])
    with pytest.raises(InvalidArgument, match="not str"):
        rover.fit(df.assign(text=[1] + list(df.text[1:])))
    with pytest.raises(InvalidArgument, match="missing value"):
        rover.fit(df.assign(text=[None] + list(df.text[1:])))
    with pytest.raises(InvalidArgument, match="encoder"):
        C.TextRASA(encoder=None).fit(df)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="different dimensions"):
        C.TextRASA(encoder=lambda s: np.ones(len(s) % 3 + 1)).fit(df)


# ---------------------------------------------------------------- boxes


def _boxes(seed=0):
    rng = np.random.default_rng(seed)
    truth = {"img1": [("car", (10, 10, 50, 40)), ("car", (60, 15, 90, 45)), ("person", (20, 50, 30, 80))],
             "img2": [("dog", (0, 0, 20, 20))]}
    rows = []
    for task, objs in truth.items():
        for w in range(5):
            for lab, box in objs:
                if w == 4 and lab == "person":
                    continue  # one worker missed it
                b = np.asarray(box, dtype=float) + rng.normal(scale=1.0, size=4)
                rows.append((task, f"w{w}", lab, *b))
        rows.append((task, "w3", "car", 200, 200, 210, 210))  # a stray box
    return pd.DataFrame(rows, columns=["task", "worker", "label", "x_min", "y_min", "x_max", "y_max"]), truth


@pytest.mark.parametrize("median", [False, True])
def test_bbox_recovers_objects_and_drops_strays(median):
    df, truth = _boxes()
    est = C.BoxMajorityVote(iou_threshold=0.5, aggregate="median" if median else "mean")
    out = est.fit_predict(df)
    assert list(out.columns) == ["task", "label", "x_min", "y_min", "x_max", "y_max", "support"]
    assert len(out) == sum(len(v) for v in truth.values())
    for task, objs in truth.items():
        got = out[out.task == task]
        for lab, box in objs:
            cand = got[got.label == lab][["x_min", "y_min", "x_max", "y_max"]].to_numpy()
            assert np.abs(cand - np.asarray(box)).max(axis=1).min() < 2.5
    assert out.loc[(out.task == "img1") & (out.label == "person"), "support"].item() == 4
    assert est.clusters_.loc[df.x_min == 200].eq(-1).all()  # strays are in no kept cluster


def test_bbox_bad_input():
    df, _ = _boxes()
    with pytest.raises(MissingColumn):
        C.BoxMajorityVote().fit(df.drop(columns="y_max"))
    with pytest.raises(InvalidArgument, match="empty"):
        C.BoxMajorityVote().fit(df.iloc[:0])
    with pytest.raises(InvalidArgument, match="x_max < x_min"):
        C.BoxMajorityVote().fit(df.assign(x_max=df.x_min - 1))
    with pytest.raises(InvalidArgument, match="NaN"):
        C.BoxMajorityVote().fit(df.assign(x_min=np.nan))
    with pytest.raises(InvalidArgument, match="iou_threshold"):
        C.BoxMajorityVote(iou_threshold=0).fit(df)
    with pytest.raises(InvalidArgument, match="aggregate"):
        C.BoxMajorityVote(aggregate="mode").fit(df)
    one = df[df.worker == "w0"]  # one worker: its boxes come back
    assert len(C.BoxMajorityVote().fit_predict(one)) == len(one)


def _with_single(df):
    extra = pd.DataFrame([("lone", "w9", "lone-out", np.arange(1.0, 6.0))], columns=df.columns)
    return pd.concat([df, extra], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 5])
def test_hrrasa_equal_crowdkit(seed, ck_hrrasa):
    ck = ck_hrrasa
    df = _with_single(_embeddings(seed))
    df["output"] = [f"a {t[-1]} b{w[-1]}" for t, w in zip(df.task, df.worker)]  # GLEU sees single-char words
    ours, theirs = C.HRRASA(), ck.HRRASA()
    _same_outputs(ours.fit_predict(df), theirs.fit_predict(df))
    assert list(ours.skills_.index) == list(theirs.skills_.index)
    np.testing.assert_allclose(ours.skills_.to_numpy(dtype=float), theirs.skills_.to_numpy(dtype=float), rtol=1e-8)
    assert list(ours.aggregated_embeddings_.index) == list(theirs.aggregated_embeddings_.index)
    np.testing.assert_allclose(np.stack(ours.aggregated_embeddings_), np.stack(theirs.aggregated_embeddings_), rtol=1e-9)
    np.testing.assert_allclose(ours.loss_history_, theirs.loss_history_, rtol=1e-6)


def test_glue_similarity_equals_crowdkits():
    ck_hr = pytest.importorskip("crowdkit.aggregation.embeddings.hrrasa", reason="crowd-kit not installed")
    for a, b in [("a b c", "a b"), ("the cat", "the cat sat"), ("", "x"), ("a a a", "aa a"), ("x y", "")]:
        assert C.embeddings.glue_similarity(a, b) == pytest.approx(ck_hr.glue_similarity(a, b), abs=1e-15)


def test_text_hrrasa_equal_crowdkit(ck_hrrasa):
    ck = ck_hrrasa
    df = _texts(6)
    df = df[df.text != ""]
    ours = C.TextHRRASA(encoder=_char_encoder).fit_predict(df)
    theirs = ck.TextHRRASA(encoder=_char_encoder).fit_predict(df, None)
    pd.testing.assert_series_equal(ours, theirs, check_names=False)


def test_hrrasa_ranks_and_bad_input():
    df = _with_single(_embeddings(1))
    est = C.HRRASA(calculate_ranks=True).fit(df)
    assert list(est.ranks_.columns) == ["task", "output", "rank"] and len(est.ranks_) == len(df)
    assert np.isnan(est.ranks_["rank"].iloc[-1]) and np.isfinite(est.ranks_["rank"].iloc[:-1]).all()
    with pytest.raises(MissingColumn):
        C.HRRASA().fit(df.drop(columns="output"))
    with pytest.raises(InvalidArgument, match="output_similarity"):
        C.HRRASA(output_similarity=None).fit(df)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="alpha"):
        C.HRRASA(alpha=2).fit(df)


@pytest.mark.parametrize("cls", [C.TextRASA, C.TextHRRASA])
def test_text_embeddings_accept_a_tagger_embedder(cls):
    df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": list("abcabc"),
                       "text": ["the cat sat", "the cat sat down", "a dog", "red car", "red cars", "blue car fast"]})
    emb = tg.match.Embedder(hash_bits=8).fit(df.text)
    out = cls(encoder=emb).fit_predict(df)
    assert out.name == "agg_text" and list(out) == ["the cat sat", "red car"]


def _degenerate_embeddings():
    """Task 1 has two zero embeddings (HRRASA's local skill is 0/0 there); task 2 is ordinary."""
    return pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": [1, 2, 3, 1, 2, 3], "output": list("abcxyz"),
                         "embedding": [np.zeros(2), np.zeros(2), np.array([1.0, 0]), np.array([1.0, 1]),
                                       np.array([1.0, 1.1]), np.array([-5.0, 3])]})


def test_hrrasa_one_degenerate_task_stays_in_its_task(ck_hrrasa):
    """A NaN local skill used to turn every skill and every aggregate into NaN, and the
    outputs into the first row of each task (so they followed the row order). Like
    crowd-kit's pandas sums, the NaN is skipped in the skills and stays in its own task."""
    df = _degenerate_embeddings()
    ours = C.HRRASA().fit(df)
    assert np.isfinite(ours.skills_.to_numpy(dtype=float)).all()
    assert np.isnan(ours.aggregated_embeddings_.loc[1]).all() and np.isfinite(ours.aggregated_embeddings_.loc[2]).all()
    assert C.HRRASA().fit_predict(df).loc[2, "output"] == "y"
    assert C.HRRASA().fit_predict(df.iloc[::-1]).loc[2, "output"] == "y"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ck_hrrasa.HRRASA()
        picked = theirs.fit_predict(df)
    assert picked.loc[2, "output"] == "y"
    assert list(ours.skills_.index) == list(theirs.skills_.index)
    np.testing.assert_allclose(ours.skills_.to_numpy(dtype=float), theirs.skills_.to_numpy(dtype=float), rtol=1e-8)
    np.testing.assert_allclose(ours.aggregated_embeddings_.loc[2], theirs.aggregated_embeddings_.loc[2], rtol=1e-9)


def test_text_hrrasa_empty_texts_do_not_poison_the_fit():
    enc = lambda s: np.array([s.count(c) for c in "abcde"], dtype=float)  # "" -> the zero vector
    df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": [1, 2, 3, 1, 2, 3],
                       "text": ["", "", "abc", "aab", "aabb", "eeee"]})
    est = C.TextHRRASA(encoder=enc)
    out = est.fit_predict(df)
    assert out.loc[2] in ("aab", "aabb")
    assert np.isfinite(est.skills_.to_numpy(dtype=float)).all()


@pytest.mark.parametrize("cls", [C.TextRASA, C.TextHRRASA])
def test_text_aggregators_copy_and_parameters_are_independent(cls):
    """A copy fitted on other data used to refit the original's shared inner estimator,
    and a parameter set after construction was ignored."""
    import copy

    df = _texts(6)
    df = df[df.text != ""]
    first = cls(encoder=_char_encoder)
    first.fit(df)
    skills = first.skills_.copy()
    other = copy.copy(first)
    other.fit(df.assign(worker=df.worker + "-b"))
    pd.testing.assert_series_equal(first.skills_, skills)
    assert set(other.skills_.index).isdisjoint(skills.index)
    one = cls(encoder=_char_encoder)
    one.n_iter = 1
    one.fit(df)
    assert one.n_iter_ == 1 and "n_iter=1" in repr(one)


@pytest.mark.parametrize("cls", [C.TextRASA, C.TextHRRASA])
def test_text_aggregators_name_themselves_in_errors(cls):
    df = pd.DataFrame({"task": [1, 1], "worker": [1, 2], "text": [3, 4]})
    with pytest.raises(InvalidArgument, match=f"{cls.__name__}: text at row 0 is int(64)?, not str"):
        cls(encoder=_char_encoder).fit(df)
    with pytest.raises(InvalidArgument, match=f"^{cls.__name__}: n_iter"):
        cls(encoder=_char_encoder, n_iter=-1).fit(df.assign(text=["a", "b"]))
    with pytest.raises(AttributeError, match=f"{cls.__name__} is not fitted"):
        cls(encoder=_char_encoder).skills_


def test_hrrasa_default_similarity_needs_str_outputs():
    df = _degenerate_embeddings().assign(output=range(6))
    with pytest.raises(InvalidArgument, match="HRRASA: output at row 0 is int(64)?, not str"):
        C.HRRASA().fit(df)
    C.HRRASA(output_similarity=lambda a, b: float(a == b)).fit(df)  # a user similarity takes any outputs


@pytest.mark.parametrize("scale", [1.0, 1e-300, 1e160, 1e300])
def test_bbox_clusters_the_same_at_any_scale(scale):
    """Areas of boxes at 1e160 overflowed to inf, so IoU was NaN and every box stood alone."""
    df, truth = _boxes()
    ref = C.BoxMajorityVote().fit_predict(df)
    big = df.assign(**{c: df[c] * scale for c in ["x_min", "y_min", "x_max", "y_max"]})
    out = C.BoxMajorityVote().fit_predict(big)
    assert out["support"].tolist() == ref["support"].tolist()
    coords = ["x_min", "y_min", "x_max", "y_max"]
    np.testing.assert_allclose(out[coords].to_numpy() / scale, ref[coords].to_numpy(), rtol=1e-12)
    huge = pd.DataFrame({"task": [1], "worker": [1], "x_min": [-1e308], "y_min": [0.0], "x_max": [1e308], "y_max": [1.0]})
    with pytest.raises(InvalidArgument, match="wider or taller than a double can hold"):
        C.BoxMajorityVote().fit(huge)


def test_bbox_identical_zero_area_boxes_agree():
    """Two workers' identical point boxes had IoU 0: two clusters of support 1 instead of one of 2."""
    pts = pd.DataFrame({"task": [1, 1, 1], "worker": [1, 2, 3], "x_min": [1.0, 1.0, 5.0], "y_min": [1.0, 1.0, 5.0],
                        "x_max": [1.0, 1.0, 5.0], "y_max": [1.0, 1.0, 9.0]})
    out = C.BoxMajorityVote().fit_predict(pts)
    assert out[["x_min", "y_min", "x_max", "y_max", "support"]].values.tolist() == [[1.0, 1.0, 1.0, 1.0, 2]]


def test_repeated_index_arguments_are_named():
    """Each used to fail inside pandas: "cannot reindex on an axis with duplicate labels"."""
    seg = _segmentations(0)
    with pytest.raises(InvalidArgument, match="skills has more than one skill for worker 'w0'"):
        C.SegmentationMajorityVote().fit(seg, pd.Series([0.5, 0.6], index=["w0", "w0"]))
    emb = _embeddings(0)
    agg = C.RASA().fit(emb).aggregated_embeddings_
    with pytest.raises(InvalidArgument, match="aggregated_embeddings has more than one row for task 't0'"):
        C.ClosestToAverage("cosine").fit(emb, pd.concat([agg, agg.iloc[:1]]))
    answers = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "label": [0, 1, 1, 1]})
    with pytest.raises(InvalidArgument, match="workers_skills has more than one skill for worker 'a'"):
        C.metrics.consistency(answers, workers_skills=pd.Series([0.9, 0.8, 0.7], index=["a", "a", "b"]))


def test_user_callables_that_return_the_wrong_thing_are_named():
    texts = pd.DataFrame({"task": [1, 1], "worker": [1, 2], "text": ["a b", "a c"]})
    with pytest.raises(InvalidArgument, match="ROVER: the tokenizer returned NoneType for row 0"):
        C.ROVER(tokenizer=lambda s: None, detokenizer=" ".join).fit(texts)
    emb = _embeddings(0)
    with pytest.raises(InvalidArgument, match="distance returned an array of shape \\(5,\\) for row 0"):
        C.ClosestToAverage(distance=lambda a, b: a - b).fit(emb)
    with pytest.raises(MissingColumn, match="Median: data is missing the value column 'output'"):
        C.Median().fit(pd.DataFrame({"task": [1], "worker": [1], "value": [1.0]}))


def test_noisy_bt_objective_refuses_missing_parameters():
    df, _ = _comparisons(seed=2, n=100)
    est = C.NoisyBT(n_iter=5).fit(df)
    assert np.isfinite(est.objective(df, est.scores_, est.biases_, est.skills_))
    with pytest.raises(InvalidArgument, match="skills has no value for"):
        est.objective(df, est.scores_, est.biases_, est.skills_.iloc[1:])


def test_a_refit_drops_what_only_the_earlier_fit_set():
    a, b = _embeddings(0), _embeddings(1).assign(task=lambda d: d.task + "-b")
    r = C.RASA()
    r.fit_predict(a)
    r.fit(b)
    assert not hasattr(r, "scores_") and not hasattr(r, "embeddings_and_outputs_")
    h = C.HRRASA(calculate_ranks=True)
    h.fit(a)
    assert hasattr(h, "ranks_")
    h.calculate_ranks = False
    h.fit(b)
    assert not hasattr(h, "ranks_")


def test_bbox_iou_equal_to_the_threshold_clusters():
    """IoU 50/100 of pixel boxes came out 0.49999999999999994 in the scaled units and missed the
    0.5 threshold ("IoU >= iou_threshold"): two boxes of support 1 instead of one of 2."""
    df = pd.DataFrame({"task": ["t", "t"], "worker": ["w1", "w2"], "x_min": [15, 12], "y_min": [16, 19],
                       "x_max": [25, 26], "y_max": [24, 24]})
    out = C.BoxMajorityVote(iou_threshold=0.5).fit_predict(df)
    assert out["support"].tolist() == [2]


def test_hrrasa_pairwise_distances_in_blocks_give_the_same_bits(monkeypatch) -> None:
    """HRRASA held answers^2 x dim doubles for one task's pairwise distances (11.4 GB for 1,000
    answers of 1,536 dims); blocks of rows give the same bits, and the same fit."""
    from tagger.consensus import embeddings

    rng = np.random.default_rng(0)
    m = rng.normal(size=(40, 9))
    whole = ((m[:, None, :] - m[None, :, :]) ** 2).sum(axis=2)
    monkeypatch.setattr(embeddings, "_PAIR_CHUNK", 50)  # blocks of a few rows
    assert np.array_equal(embeddings._pairwise_sq_dist(m), whole)
    df = pd.DataFrame({"task": np.repeat([0, 1], 6), "worker": np.tile(np.arange(6), 2),
                       "embedding": list(rng.normal(size=(12, 5))), "output": [f"o{i % 3}" for i in range(12)]})
    blocked = tg.consensus.HRRASA().fit(df)
    monkeypatch.setattr(embeddings, "_PAIR_CHUNK", 1 << 22)
    whole_fit = tg.consensus.HRRASA().fit(df)
    pd.testing.assert_series_equal(whole_fit.skills_, blocked.skills_, check_exact=True)
    pd.testing.assert_frame_equal(whole_fit.weights_, blocked.weights_, check_exact=True)
