"""The fast paths of tg.consensus against slow, obviously-correct references:
the C++ factorization and duplicate detection against pandas, and the
Dawid-Skene EM (probability space, fixed-point counts, fused passes) against a
plain numpy log-space EM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.consensus.base import factorize
from tagger.errors import InvalidArgument

C = tg.consensus
core = tg._core.consensus


# ---- factorization and duplicates ------------------------------------------

def _reference_factorize(df: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """What the estimators used before the C++ path: pandas all the way."""
    df = df.loc[~df.duplicated(["task", "worker"], keep="last").to_numpy()]
    t, tn = pd.factorize(df["task"])
    w, wn = pd.factorize(df["worker"])
    try:
        lab, ln = pd.factorize(df["label"], sort=True)
    except TypeError:
        lab, ln = pd.factorize(df["label"])
    return t, w, lab, pd.Index(tn), pd.Index(wn), pd.Index(ln)


def _frames(rng: np.random.Generator):
    n = 3000
    yield pd.DataFrame({"task": rng.integers(400, size=n), "worker": rng.integers(60, size=n),
                        "label": rng.integers(4, size=n)})  # int64, dense table, duplicates
    yield pd.DataFrame({"task": rng.integers(400, size=n).astype(np.int32),
                        "worker": rng.integers(10**12, 10**12 + 60, size=n),  # offset range: dense
                        "label": rng.integers(-3, 3, size=n).astype(np.int16)})
    yield pd.DataFrame({"task": rng.integers(-2**62, 2**62, size=n),  # hash table path
                        "worker": rng.integers(60, size=n).astype(np.uint8),
                        "label": (rng.integers(5, size=n) * 10**15).astype(np.int64)})  # sparse labels: hash + sort
    yield pd.DataFrame({"task": rng.integers(400, size=n).astype(np.uint32), "worker": rng.integers(60, size=n),
                        "label": rng.integers(3, size=n).astype(np.uint64)})  # uint64: pandas path
    yield pd.DataFrame({"task": [f"t{i}" for i in rng.integers(400, size=n)], "worker": rng.integers(60, size=n),
                        "label": rng.choice(["b", "a", "c"], size=n)})  # object columns: pandas path
    yield pd.DataFrame({"task": np.sort(rng.integers(400, size=n)), "worker": rng.integers(60, size=n),
                        "label": rng.integers(2, size=n).astype(bool)})  # grouped by task: no sort inside
    yield pd.DataFrame({"task": [1, 1, 2, 1], "worker": [7, 7, 7, 7], "label": [9, 3, 4, 5]})  # 9 only in a dropped row


@pytest.mark.filterwarnings("ignore:.*repeated \\(task, worker\\) answer")  # duplicates incidental to the data
def test_factorize_matches_pandas() -> None:
    rng = np.random.default_rng(11)
    for i, df in enumerate(_frames(rng)):
        got, used = factorize(df)
        t, w, lab, tn, wn, ln = _reference_factorize(df)
        assert np.array_equal(got.task, t) and np.array_equal(got.worker, w) and np.array_equal(got.label, lab), i
        assert got.task.dtype == got.worker.dtype == got.label.dtype == np.int32, i
        for a, b in ((got.task_names, tn), (got.worker_names, wn), (got.label_names, ln)):
            assert a.equals(b) and a.dtype == b.dtype, (i, a[:5], b[:5])
        assert len(used) == len(t)


def test_core_factorize_orders_and_paths() -> None:
    rng = np.random.default_rng(3)
    for values in (rng.integers(50, size=1000), rng.integers(-2**63, 2**63 - 1, size=1000, dtype=np.int64),
                   np.array([2**63 - 1, -2**63, 0, -2**63, 5], dtype=np.int64), rng.integers(7, size=10).astype(np.int32),
                   np.zeros(0, dtype=np.int64)):
        for sort in (False, True):
            codes, uniq = core.factorize(values, sort)
            ref_codes, ref_uniq = pd.factorize(values, sort=sort)
            assert np.array_equal(codes, ref_codes) and np.array_equal(uniq, ref_uniq)
    ids = np.repeat(np.arange(100, dtype=np.int32), 3)  # already codes: copied, never the caller's array
    for sort in (False, True):
        codes = core.factorize(ids, sort)[0]
        assert np.array_equal(codes, ids) and not np.may_share_memory(codes, ids)
        ids[0] = 7  # the caller's later edit does not reach the codes
        assert codes[0] == 0
        ids[0] = 0
    big = np.repeat(np.arange(300_000, dtype=np.int32), 2)  # mapped arrays, kept for reuse when freed
    for _ in range(3):
        codes = core.factorize(big, False)[0]
        assert np.array_equal(codes, big) and codes.flags.c_contiguous
        del codes
    assert np.array_equal(core.factorize(ids[::-1].copy(), False)[0], pd.factorize(ids[::-1])[0])
    with pytest.raises(InvalidArgument):
        core.factorize(np.zeros((2, 2), dtype=np.int64))


def _string_columns(rng: np.random.Generator):
    """The same ids in every storage a user's frame can hold strings in."""
    pool = ["", "a", "a\0", "ab", "abc", "abcd", "héllo", "日本語", "x" * 8, "x" * 9, "y" * 16, "y" * 17, "z" * 60,
            *(f"worker-{i}" for i in range(300))]
    ids = [pool[i] for i in rng.integers(len(pool), size=4000)]
    ids[100:110] = [ids[100]] * 10  # a run of one id
    yield "object", pd.Series(ids, dtype=object)
    yield "python str", pd.Series(ids, dtype=pd.StringDtype("python"))
    pytest.importorskip("pyarrow")
    import pyarrow as pa

    yield "arrow str", pd.Series(ids, dtype="str")
    for width in (pa.large_string(), pa.string()):  # 64- and 32-bit offsets
        chunks = [pa.array(["pad"] * 7 + ids[:1500], type=width)[7:], pa.array(ids[1500:], type=width)]
        col = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks)))  # as read_parquet(dtype_backend="pyarrow")
        arrow = col.array.__arrow_array__()
        assert arrow.type == width and arrow.num_chunks == 2 and arrow.chunk(0).offset == 7
        yield f"ArrowDtype({width}), two chunks, the first sliced", col
        yield f"str from {width}, two chunks", pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks)))


def test_string_ids_are_coded_as_pandas_codes_them() -> None:
    """C++ hashing of string ids gives pd.factorize's codes and uniques (values
    and dtype), for every storage; a column that is not all strings falls back."""
    from tagger.consensus.base import _codes, _string_parts

    rng = np.random.default_rng(5)
    for name, col in _string_columns(rng):
        assert _string_parts(col) is not None, name  # the C++ path, not pandas'
        for sort in (False, True):
            codes, names = _codes(col, sort)
            ref_codes, ref_names = pd.factorize(col, sort=sort)
            assert np.array_equal(codes, ref_codes), (name, sort)
            assert codes.dtype == np.int32
            assert names.equals(pd.Index(ref_names)) and names.dtype == pd.Index(ref_names).dtype, (name, sort)
    assert core.factorize_strings(np.array(["a", 1, "a"], dtype=object)) is None  # pandas decides mixed columns
    mixed = pd.Series(["a", 1, "a", 1.0, True], dtype=object)
    codes, names = _codes(mixed, False)
    ref_codes, ref_names = pd.factorize(mixed)
    assert np.array_equal(codes, ref_codes) and names.equals(pd.Index(ref_names))
    with pytest.raises(InvalidArgument, match="outside their data buffer"):
        core.factorize_strings([(np.array([0, 5], np.int64), np.zeros(3, np.uint8))])
    with pytest.raises(InvalidArgument, match="must not decrease"):
        core.factorize_strings([(np.array([0, 2, 1], np.int32), np.zeros(3, np.uint8))])


@pytest.mark.filterwarnings("ignore:.*repeated \\(task, worker\\) answer")  # duplicates incidental to the data
def test_large_string_frames_code_both_id_columns_in_parallel_like_pandas() -> None:
    """Above the parallel threshold the worker column is coded on a second
    thread; the result is the same as pandas', and an error there reaches the caller."""
    from tagger.consensus import base

    rng = np.random.default_rng(9)
    n = base._PARALLEL_IDS + 10
    df = pd.DataFrame({"task": [f"t{i}" for i in np.repeat(np.arange(n // 4 + 1), 4)[:n]],
                       "worker": [f"w{i}" for i in rng.integers(500, size=n)], "label": rng.integers(3, size=n)})
    got, _ = factorize(df)
    t, w, lab, tn, wn, ln = _reference_factorize(df)
    assert np.array_equal(got.task, t) and np.array_equal(got.worker, w) and np.array_equal(got.label, lab)
    assert got.task_names.equals(tn) and got.worker_names.equals(wn)


@pytest.mark.parametrize("grouped", [False, True])
def test_superseded_equals_pandas_duplicated(grouped: bool) -> None:
    rng = np.random.default_rng(int(grouped))
    for n, n_tasks, n_workers in ((0, 0, 0), (1, 1, 1), (500, 40, 8), (5000, 300, 30), (2000, 5, 3)):
        t = rng.integers(max(n_tasks, 1), size=n).astype(np.int32)
        if grouped:
            t = np.sort(t)
        w = rng.integers(max(n_workers, 1), size=n).astype(np.int32)
        got = core.superseded(t, w, n_tasks, n_workers)
        ref = np.flatnonzero(pd.DataFrame({"t": t, "w": w}).duplicated(keep="last").to_numpy())
        assert np.array_equal(got, ref), (n, grouped)
    with pytest.raises(InvalidArgument, match="worker index 3"):
        core.superseded(np.array([0, 0], np.int32), np.array([0, 3], np.int32), 1, 3)


# ---- Dawid-Skene against a log-space numpy EM ------------------------------

def ds_reference(t, w, y, T, W, K, n_iter, tol=None, smoothing=0.0, gold=None, priors=None):
    """Textbook Dawid-Skene EM in log space, no fixed point, no fusion.

    Start: majority-vote shares; each iteration: E-step (posteriors and the
    log-likelihood per answer) from the current parameters, then M-step
    e[w, k, l] = max(sum P(z=k) over w's answers l + smoothing, 1e-10),
    normalized over l; priors from the answered tasks' posteriors. Stops when
    the log-likelihood gain is below tol (from the second iteration; never
    when tol is None). Returns
    the posteriors of the last E-step, the last M-step's errors and priors,
    and the iteration count."""
    answered = np.bincount(t, minlength=T) > 0
    is_gold = np.zeros(T, bool) if gold is None else gold >= 0

    def clamp(post):
        if gold is not None:
            post[is_gold] = 0.0
            post[np.flatnonzero(is_gold), gold[is_gold]] = 1.0
        return post

    def m_step(post):
        counts = np.zeros((W, K, K))
        for k in range(K):
            np.add.at(counts[:, k, :], (w, y), post[t, k])
        e = np.maximum(counts + smoothing, 1e-10)
        e /= e.sum(axis=2, keepdims=True)
        if priors is not None:
            pi = np.asarray(priors, float) / np.sum(priors)
        else:
            pc = post[answered].sum(axis=0) + smoothing
            pi = np.maximum(pc / pc.sum(), 1e-10)
        return e, pi

    post = np.zeros((T, K))
    np.add.at(post, (t, y), 1.0)
    post[answered] /= post[answered].sum(axis=1, keepdims=True)
    e, pi = m_step(clamp(post))
    last, it = -np.inf, 0
    for it in range(1, n_iter + 1):
        logp = np.tile(np.log(pi), (T, 1))
        np.add.at(logp, t, np.log(e[w, :, y]))
        m = logp.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logp - m).sum(axis=1))
        post = np.exp(logp - lse[:, None])
        obj = lse[answered].sum() / max(len(t), 1)
        post = clamp(post)
        post[~answered & ~is_gold] = pi
        e, pi = m_step(post)
        change, last = obj - last, obj
        if tol is not None and it > 1 and change < tol:
            break
    return post, e, pi, it


def _ds_case(seed: int, K: int, T: int = 400, W: int = 40, overlap: int = 5, long_tasks: bool = False):
    """Answers of W one-coin workers on T tasks, rows shuffled; returns (t, w, y, n_tasks, n_workers)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(K, size=T)
    acc = rng.uniform(0.3, 0.95, W)
    per_task = np.where(rng.random(T) < 0.1, 20, overlap) if long_tasks else np.full(T, overlap)
    t = np.repeat(np.arange(T), per_task)
    w = np.concatenate([rng.choice(W, size=c, replace=False) for c in per_task])
    right = rng.random(len(t)) < acc[w]
    y = np.where(right, truth[t], (truth[t] + 1 + rng.integers(K - 1, size=len(t))) % K)
    perm = rng.permutation(len(t))  # unsorted input: exercises the counting sort
    return (t[perm].astype(np.int32), w[perm].astype(np.int32), y[perm].astype(np.int32), T + 3, W + 1)


@pytest.mark.parametrize("K", [2, 3, 5, 7, 12])
@pytest.mark.parametrize("variant", ["plain", "gold_smooth", "priors_tol", "long", "many_tasks"])
def test_dawid_skene_equals_log_space_reference(K: int, variant: str) -> None:
    # many_tasks: several blocks of 2048 tasks, so threads share (and may skip) passes.
    # (Enough answers per worker that EM is well conditioned: with ~100 answers for
    # 144 confusion cells, 1e-9 differences grow 2x per iteration in any implementation.)
    size = dict(T=6000, W=60, overlap=5) if variant == "many_tasks" else {}
    t, w, y, T, W = _ds_case(K * 7 + len(variant), K, long_tasks=variant == "long", **size)
    kw: dict = dict(n_iter=25, tol=0.0)
    gold = priors = None
    smoothing = 0.0
    if variant == "gold_smooth":
        gold = np.full(T, -1, np.int32)
        gold[:40] = np.arange(40) % K
        gold[T - 1] = 0  # a gold task without answers
        smoothing = 0.3
        kw.update(gold=gold, smoothing=smoothing)
    if variant == "priors_tol":
        priors = np.arange(1, K + 1, dtype=float)
        kw.update(class_priors=priors, tol=1e-4, n_iter=100)
    r = C.dawid_skene(t, w, y, K, n_tasks=T, n_workers=W, **kw)
    if kw["tol"] > 0:  # a real stopping decision: both must take it at the same iteration
        post, e, pi, n_it = ds_reference(t, w, y, T, W, K, kw["n_iter"], kw["tol"], smoothing, gold, priors)
        assert r.n_iter == n_it < kw["n_iter"]
    else:  # tol = 0 stops only on a rounding-level decrease near the optimum: replay as many iterations
        post, e, pi, _ = ds_reference(t, w, y, T, W, K, r.n_iter, None, smoothing, gold, priors)
    assert np.allclose(r.probas, post, rtol=0, atol=1e-7)
    assert np.allclose(r.errors, e, rtol=0, atol=1e-7)
    assert np.allclose(r.priors, pi, rtol=0, atol=1e-9)
    clear = np.sort(post, axis=1)[:, -1] - np.sort(post, axis=1)[:, -2] > 1e-6
    answered = (np.bincount(t, minlength=T) > 0) | ((gold if gold is not None else np.full(T, -1)) >= 0)
    assert np.array_equal(r.labels[clear & answered], post.argmax(axis=1)[clear & answered])
    assert np.all(r.labels[~answered] == -1)
    for threads in (1, 2, 5):  # bit-identical for any thread count
        other = C.dawid_skene(t, w, y, K, n_tasks=T, n_workers=W, threads=threads, **kw)
        assert np.array_equal(other.probas, r.probas) and np.array_equal(other.errors, r.errors)


def test_dawid_skene_grouped_input_equals_counting_sort() -> None:
    # Input already grouped by task takes the parallel layout pass (task offsets from
    # the boundaries, chunks of 2^18 answers); shuffled input the stable counting sort.
    # With the same order inside each task both layouts are the same: identical bits.
    rng = np.random.default_rng(11)
    T, W, K = 150_000, 300, 3
    per_task = rng.integers(1, 8, T)
    per_task[[0, 1, 5000, 5001, 140_000]] = 0  # tasks without answers: first, middle
    t = np.repeat(np.arange(T), per_task)
    w = rng.integers(0, W, len(t))
    y = rng.integers(0, K, len(t))
    assert len(t) > 2 * 2**18  # several chunks; tasks straddle chunk boundaries
    perm = rng.permutation(len(t))
    ts, ws, ys = (a[perm].astype(np.int32) for a in (t, w, y))
    grouped = np.argsort(ts, kind="stable")
    tg_, wg, yg = ts[grouped], ws[grouped], ys[grouped]
    n_tasks = T + 4  # and tasks without answers at the end
    for threads in (1, 2):
        a = C.dawid_skene(ts, ws, ys, K, n_tasks=n_tasks, n_workers=W, n_iter=4, tol=0.0, threads=threads)
        b = C.dawid_skene(tg_, wg, yg, K, n_tasks=n_tasks, n_workers=W, n_iter=4, tol=0.0, threads=threads)
        assert np.array_equal(a.probas, b.probas) and np.array_equal(a.errors, b.errors) and np.array_equal(a.labels, b.labels)
    assert np.all(b.labels[[0, 1, 5000, 5001, 140_000, T, T + 3]] == -1)
    # Out-of-range indices in grouped input: the exact index and answer are named.
    bad = tg_.copy()
    bad[-1] = n_tasks
    with pytest.raises(InvalidArgument, match=rf"task index {n_tasks} at answer {len(bad) - 1} is outside"):
        C.dawid_skene(bad, wg, yg, K, n_tasks=n_tasks, n_workers=W)
    bad_w = wg.copy()
    bad_w[300_000] = -2
    with pytest.raises(InvalidArgument, match="worker index -2 at answer 300000 is outside"):
        C.dawid_skene(tg_, bad_w, yg, K, n_tasks=n_tasks, n_workers=W)


def test_dawid_skene_early_stop_reports_last_e_step() -> None:
    t, w, y, T, W = _ds_case(5, 4)
    seen = []

    def stop_at_3(it, n_iter, objective, change):
        seen.append(it)
        return it < 3

    r = C.dawid_skene(t, w, y, 4, n_tasks=T, n_workers=W, n_iter=50, tol=0.0, callback=stop_at_3)
    post, e, pi, _ = ds_reference(t, w, y, T, W, 4, 3)
    assert seen == [1, 2, 3] and r.n_iter == 3 and not r.converged
    assert np.allclose(r.probas, post, atol=1e-7) and np.allclose(r.errors, e, atol=1e-7)
    full = C.dawid_skene(t, w, y, 4, n_tasks=T, n_workers=W, n_iter=3, tol=0.0)  # same 3 iterations, final pass
    assert np.array_equal(full.probas, r.probas) and np.array_equal(full.errors, r.errors)


def test_numpy_fast_path_refuses_raw_ids_as_indices() -> None:
    """An id of 2e9 read as an index allocated per id: MemoryError (std::bad_alloc)."""
    big = np.array([2_000_000_000, 2_000_000_000])
    with pytest.raises(InvalidArgument, match="these look like raw ids, not 0-based indices"):
        tg.consensus.dawid_skene(big, np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(InvalidArgument, match="workers: the largest index"):
        tg.consensus.majority_vote(np.array([0, 1]), big, np.array([0, 1]))
    r = tg.consensus.majority_vote(np.array([0, 1]), np.array([5, 9]), np.array([0, 1]))  # small gaps are fine
    assert r.labels.tolist() == [0, 1] and len(r.skills) == 10


def test_large_frames_code_labels_beside_the_duplicate_check_with_the_same_outcome() -> None:
    # From 200k answers the labels are coded on a thread while the duplicate check runs:
    # a label error counts only for a row that is kept, as when the two ran in turn.
    n = 200_001
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"task": np.arange(n) // 3, "worker": np.arange(n) % 3, "label": rng.integers(0, 3, n)})
    df.loc[10, "label"] = 9  # outside labels=[0, 1, 2]
    with pytest.raises(InvalidArgument, match="answer label 9 is not in labels"):
        factorize(df, labels=[0, 1, 2])
    repeated = pd.concat([df.iloc[[10]], df.iloc[[10]].assign(label=1), df.drop(index=10)], ignore_index=True)
    with pytest.warns(UserWarning, match="1 repeated"):
        answers, used = factorize(repeated, labels=[0, 1, 2])  # the bad answer was superseded: no error
    assert len(used) == n and 9 not in set(used["label"])
    mixed = df.assign(label=df["label"].astype(object))
    mixed.loc[20, "label"] = "1"
    with pytest.raises(InvalidArgument, match="print alike"):
        factorize(mixed)
    answers, _ = factorize(df.drop(index=10))
    small, _ = factorize(df.drop(index=10).iloc[:1000])
    assert list(answers.label_names) == [0, 1, 2] and np.array_equal(answers.label[:1000], small.label)
