"""Sharded consensus (tagger.consensus.distributed), Parquet streaming and
simulation sweeps: identity with the single-process results. The Ray tests
share one local Ray (2 CPUs) and are skipped when Ray is not installed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import _core
from tagger.consensus import distributed as dist
from tagger._optional import MissingExtra
from tagger.errors import InvalidArgument

ALIGN = int(_core.consensus_shard.TASK_ALIGN)


def answers(n_tasks: int = 5 * ALIGN + 300, n_workers: int = 80, k: int = 3, per_task: int = 4, seed: int = 0,
            shuffle: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Workers of mixed skill, per_task answers per task, rows shuffled (the
    sharded fit must group them as the single-process one does)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    skill = rng.uniform(0.3, 0.95, n_workers)
    t = np.repeat(np.arange(n_tasks), per_task)
    w = np.concatenate([rng.choice(n_workers, per_task, replace=False) for _ in range(n_tasks)])
    right = rng.random(t.size) < skill[w]
    y = np.where(right, truth[t], rng.integers(0, k, t.size))
    if shuffle:
        p = rng.permutation(t.size)
        t, w, y = t[p], w[p], y[p]
    return t.astype(np.int32), w.astype(np.int32), y.astype(np.int32)


def assert_same(one: dict, other: dict) -> None:
    np.testing.assert_array_equal(one["labels"], other["labels"])
    assert np.abs(one["probas"] - other["probas"]).max() <= 1e-9
    np.testing.assert_allclose(other["skills"], one["skills"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(other["priors"], one["priors"], rtol=0, atol=1e-12)
    if one["errors"] is not None:
        np.testing.assert_allclose(other["errors"], one["errors"], rtol=0, atol=1e-12)
    assert int(one["n_iter"]) == int(other["n_iter"])
    assert bool(one["converged"]) == bool(other["converged"])
    np.testing.assert_array_equal(one["objective_history"], other["objective_history"])
    for key in ("abilities", "difficulties"):  # GLAD
        np.testing.assert_array_equal(one[key], other[key])


METHODS = ["dawid_skene", "one_coin_dawid_skene", "glad", "majority_vote", "wawa"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_shards", [1, 2, 4])
def test_sharded_equals_single_process(method: str, n_shards: int) -> None:
    t, w, y = answers()
    T, W, K = int(t.max()) + 1, int(w.max()) + 1, 3
    one = _core.consensus.fit(method, t, w, y, T, W, K, n_iter=30, tol=1e-7)
    sh = dist.fit_sharded(method, t, w, y, T, W, K, n_shards=n_shards, n_iter=30, tol=1e-7)
    assert_same(one, sh)


def test_sharded_with_gold_priors_smoothing_and_weights() -> None:
    t, w, y = answers(seed=3)
    T, W, K = int(t.max()) + 1, int(w.max()) + 1, 3
    gold = np.full(T, -1, np.int32)
    gold[::97] = np.arange(len(gold[::97])) % K
    pri = np.array([0.5, 0.3, 0.2])
    for method in ("dawid_skene", "one_coin_dawid_skene"):
        one = _core.consensus.fit(method, t, w, y, T, W, K, n_iter=20, gold=gold, class_priors=pri, smoothing=0.5)
        sh = dist.fit_sharded(method, t, w, y, T, W, K, n_shards=3, n_iter=20, gold=gold, class_priors=pri,
                              smoothing=0.5)
        assert_same(one, sh)
    skills = np.random.default_rng(1).uniform(0, 1, W)
    one = _core.consensus.weighted_majority_vote(t, w, y, T, W, K, skills=skills, gold=gold)
    assert_same(one, dist.fit_sharded("weighted_majority_vote", t, w, y, T, W, K, n_shards=4, skills=skills, gold=gold))
    # GLAD with every option; m_tol = 0 runs every Fisher round, and the
    # objective keeps rising for all 8 iterations here (many alpha chains)
    kw = dict(gold=gold, class_priors=pri, m_steps=3, m_tol=0.0, alpha_prior=0.5, beta_prior=-0.3, tol=0.0)
    one = _core.consensus.glad(t, w, y, T, W, K, n_iter=8, **kw)
    assert int(one["n_iter"]) == 8
    for n_shards in (1, 2, 4):
        sh = dist.fit_sharded("glad", t, w, y, T, W, K, n_shards=n_shards, n_iter=8, **kw)
        assert_same(one, sh)
        np.testing.assert_array_equal(one["probas"], sh["probas"])  # bit for bit
        np.testing.assert_array_equal(one["skills"], sh["skills"])
    assert_same(_core.consensus.glad(t, w, y, T, W, K, n_iter=0), dist.fit_sharded("glad", t, w, y, T, W, K, n_iter=0))
    # n_iter = 0: the start posteriors (vote shares)
    one = _core.consensus.dawid_skene(t, w, y, T, W, K, n_iter=0)
    assert_same(one, dist.fit_sharded("dawid_skene", t, w, y, T, W, K, n_shards=2, n_iter=0))


def test_estimators_take_a_backend() -> None:
    t, w, y = answers(n_tasks=3 * ALIGN, seed=5)
    df = pd.DataFrame({"task": t + 1000, "worker": [f"w{x}" for x in w], "label": np.array(list("abc"))[y]})
    for cls in (tg.consensus.DawidSkene, tg.consensus.OneCoinDawidSkene, tg.consensus.GLAD, tg.consensus.MajorityVote,
                tg.consensus.WeightedMajorityVote):
        engine = {"variant": "tagger"} if issubclass(cls, (tg.consensus.DawidSkene, tg.consensus.GLAD)) else {}  # the sharded engine
        a, b = cls(**engine).fit(df), cls(backend="inprocess", n_shards=3).fit(df)
        pd.testing.assert_series_equal(a.labels_, b.labels_)
        pd.testing.assert_frame_equal(a.probas_, b.probas_, rtol=0, atol=1e-9)
        pd.testing.assert_series_equal(a.skills_, b.skills_, rtol=0, atol=1e-12)
    with pytest.raises(InvalidArgument, match="backend"):
        tg.consensus.DawidSkene(backend="spark").fit(df)
    with pytest.raises(InvalidArgument, match="sharded methods"):
        dist.fit_sharded("mace", t, w, y, int(t.max()) + 1, int(w.max()) + 1, 3)


def test_partition_is_aligned_and_balanced() -> None:
    t, _, _ = answers(n_tasks=10 * ALIGN + 5, shuffle=False)
    T = int(t.max()) + 1
    for n in (1, 2, 3, 4, 7):
        r = dist.partition(t, T, n)
        assert r[0][0] == 0 and r[-1][1] == T and len(r) == n
        assert all(a[1] == b[0] for a, b in zip(r, r[1:]))
        assert all(t0 % ALIGN == 0 and t1 > t0 for t0, t1 in r)
    # fewer blocks than shards: fewer shards, none empty
    assert dist.partition(np.arange(10, dtype=np.int32), 10, 4) == [(0, 10)]
    with pytest.raises(InvalidArgument):
        dist.partition(t, T, 0)


def test_ray_backend_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # imports of ray fail as if not installed
    df = pd.DataFrame({"task": [1, 1, 2], "worker": ["a", "b", "a"], "label": [0, 1, 1]})
    with pytest.raises(MissingExtra, match=r"pip install 'tagger\[ray\]'"):
        tg.consensus.DawidSkene(backend="ray").fit(df)
    with pytest.raises(MissingExtra, match=r"pip install 'tagger\[ray\]'"):
        tg.sim.sweep(populations=_pop(), seeds=1, rounds=1, backend="ray", progress=False, n_tasks=10)


def test_import_tagger_imports_neither_ray_nor_pyarrow() -> None:
    code = "import sys, tagger; bad = [m for m in ('ray', 'pyarrow') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------------------ Parquet ---

def _frame(seed: int = 2, n_tasks: int = 3 * ALIGN + 100) -> pd.DataFrame:
    t, w, y = answers(n_tasks=n_tasks, seed=seed, shuffle=False)  # grouped by task
    return pd.DataFrame({"item": t * 7 + 3, "annotator": np.array([f"u{x}" for x in w]),
                         "answer": np.array(["neg", "neu", "pos"])[y]})


@pytest.mark.parametrize("method", ["dawid_skene", "one_coin_dawid_skene"])
def test_fit_parquet_equals_in_memory(tmp_path, method: str) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    df = _frame()
    path = tmp_path / "answers.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=4000)
    est = tg.consensus.fit_parquet(path, method, columns=("item", "annotator", "answer"), batch_size=3000,
                                   chunk_answers=5000, n_iter=40)
    mem = tg.consensus.get_method(method, n_iter=40, variant="tagger").fit(df.rename(columns={"item": "task", "annotator": "worker",
                                                                           "answer": "label"}))
    assert est.passes_ == 1 + 1 + est.n_iter_ + 1  # coding, start, one per iteration, posteriors
    np.testing.assert_array_equal(est.labels_.to_numpy(), mem.labels_.to_numpy())
    np.testing.assert_array_equal(est.labels_.index.to_numpy(), mem.labels_.index.to_numpy())
    assert np.abs(est.probas_.to_numpy() - mem.probas_.to_numpy()).max() <= 1e-9
    np.testing.assert_array_equal(est.skills_.index.to_numpy(), mem.skills_.index.to_numpy())
    np.testing.assert_allclose(est.skills_.to_numpy(), mem.skills_.to_numpy(), rtol=0, atol=1e-12)
    assert est.n_iter_ == mem.n_iter_ and est.loss_history_ == mem.loss_history_
    pd.testing.assert_frame_equal(est.errors_, mem.errors_, rtol=0, atol=1e-12)


def test_fit_parquet_spill_is_bit_identical_and_leaves_no_file(tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    df = _frame(seed=5).rename(columns={"item": "task", "annotator": "worker", "answer": "label"})
    path = tmp_path / "answers.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=5000)
    spill = tmp_path / "spill"
    spill.mkdir()
    mem = tg.consensus.DawidSkene(n_iter=30, tol=1e-7, variant="tagger").fit(df)
    for chunk in (1, 3000, 10**7):  # one chunk per block, several blocks, one chunk
        est = tg.consensus.fit_parquet(path, n_iter=30, tol=1e-7, batch_size=2000, chunk_answers=chunk, spill_dir=spill)
        np.testing.assert_array_equal(est.probas_.to_numpy(), mem.probas_.to_numpy())  # bit for bit
        np.testing.assert_array_equal(est.errors_.to_numpy(), mem.errors_.to_numpy())
        assert est.loss_history_ == mem.loss_history_ and est.source_passes_ == 2
        assert est.spill_bytes_ == 4 * (len(df) + df["task"].nunique())
        assert list(spill.iterdir()) == []
    # an error in the middle of the spilling pass: the file goes too
    dup = pd.concat([df, df.iloc[-1:]])
    pq.write_table(pa.Table.from_pandas(dup, preserve_index=False), tmp_path / "d.parquet")
    with pytest.raises(InvalidArgument, match="repeated"):
        tg.consensus.fit_parquet(tmp_path / "d.parquet", chunk_answers=3000, spill_dir=spill)
    assert list(spill.iterdir()) == []
    with pytest.raises(InvalidArgument, match="spill_dir"):
        tg.consensus.fit_parquet(path, spill_dir=tmp_path / "nope")


def test_spill_checks_what_it_is_given(tmp_path) -> None:
    s = _core.consensus_shard.DsSpill(str(tmp_path), 3, 2)
    t, w, y = np.array([0, 0, 1], np.int32), np.array([0, 1, 2], np.int32), np.array([1, 0, 1], np.int32)
    with pytest.raises(InvalidArgument, match="non-decreasing"):
        s.append(t[::-1].copy(), w, y, 2)
    with pytest.raises(InvalidArgument, match="worker code 3"):
        s.append(t, w + 1, y, 2)
    with pytest.raises(InvalidArgument, match="label code 2"):
        s.append(t, w, y + 1, 2)
    s.append(t, w, y, 2)
    with pytest.raises(InvalidArgument, match="TASK_ALIGN"):
        s.append(t, w, y, 2)  # the first chunk did not end on a block
    assert (s.n_tasks, s.n_answers, s.bytes, s.n_chunks) == (2, 3, 4 * 5, 1)
    with pytest.raises(InvalidArgument, match="cannot create"):
        _core.consensus_shard.DsSpill(str(tmp_path / "missing"), 3, 2)


def test_fit_parquet_string_ids_of_every_arrow_kind_equal_in_memory(tmp_path) -> None:
    # String task, worker and label columns are dictionary-encoded in Arrow batch by batch
    # (no Python string per row); plain, large and dictionary-typed string columns agree
    # with the in-memory fit, and an ungrouped file names the task seen twice.
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    df = _frame(seed=7, n_tasks=ALIGN + 300).rename(columns={"item": "task", "annotator": "worker", "answer": "label"})
    df["task"] = "task-" + df["task"].astype(str)
    mem = tg.consensus.DawidSkene(n_iter=20, variant="tagger").fit(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    kinds = {"string": table,
             "large_string": table.cast(pa.schema([(n, pa.large_string()) for n in table.column_names])),
             "dictionary": pa.table({n: table.column(n).dictionary_encode() for n in table.column_names})}
    for kind, t in kinds.items():
        path = tmp_path / f"{kind}.parquet"
        pq.write_table(t, path, row_group_size=3000)
        est = tg.consensus.fit_parquet(path, n_iter=20, batch_size=2500, chunk_answers=4000)
        assert list(est.labels_.index) == list(mem.labels_.index), kind
        np.testing.assert_array_equal(est.labels_.to_numpy(), mem.labels_.to_numpy())
        assert list(est.probas_.columns) == list(mem.probas_.columns), kind
        np.testing.assert_array_equal(est.probas_.to_numpy(), mem.probas_.to_numpy())
        assert est.loss_history_ == mem.loss_history_
    ungrouped = pd.concat([df, df[df["task"] == "task-3"].assign(worker="late")])
    pq.write_table(pa.Table.from_pandas(ungrouped, preserve_index=False), tmp_path / "u.parquet")
    with pytest.raises(InvalidArgument, match="task 'task-3' appears in more than one run"):
        tg.consensus.fit_parquet(tmp_path / "u.parquet", batch_size=1000)


def test_fit_parquet_names_unreadable_sources_and_bad_sizes(tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    (tmp_path / "garbage.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(InvalidArgument, match="cannot read .*garbage.parquet.* as Parquet"):
        tg.consensus.fit_parquet(tmp_path / "garbage.parquet")
    pq.write_table(pa.table({"task": [[1], [1]], "worker": ["a", "b"], "label": ["x", "y"]}), tmp_path / "l.parquet")
    with pytest.raises(InvalidArgument, match="column 'task' holds list<"):
        tg.consensus.fit_parquet(tmp_path / "l.parquet")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"task": [1, 1], "worker": ["a", "b"], "label": ["x", "y"]}), mixed / "a.parquet")
    pq.write_table(pa.table({"task": [2.5, 2.5], "worker": ["a", "b"], "label": ["x", "y"]}), mixed / "b.parquet")
    with pytest.raises(InvalidArgument, match="reading the source failed"):
        tg.consensus.fit_parquet(mixed)
    for name in ("batch_size", "chunk_answers"):
        for bad in (0, -1, 2.5):
            with pytest.raises(InvalidArgument, match=f"{name} must be an int >= 1"):
                tg.consensus.fit_parquet(mixed / "a.parquet", **{name: bad})


def test_fit_parquet_rejects_bad_layouts(tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    df = _frame(n_tasks=50).rename(columns={"item": "task", "annotator": "worker", "answer": "label"})
    shuffled = df.sample(frac=1.0, random_state=0)
    pq.write_table(pa.Table.from_pandas(shuffled, preserve_index=False), tmp_path / "s.parquet")
    for batch in (2, 7, 1 << 20):  # a task seen again in a later batch, or in the same one
        with pytest.raises(InvalidArgument, match="grouped by task"):
            tg.consensus.fit_parquet(tmp_path / "s.parquet", batch_size=batch)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "g.parquet")
    est = tg.consensus.fit_parquet(tmp_path / "g.parquet", batch_size=2)  # batches inside one task
    pd.testing.assert_series_equal(est.labels_, tg.consensus.DawidSkene(variant="tagger").fit(df).labels_)
    # int8 labels spanning more than int8 can hold as a difference, negative worker ids
    odd = df.assign(label=df["label"].map({"neg": -100, "neu": 0, "pos": 100}).astype(np.int8),
                    worker=-df["worker"].str[1:].astype(np.int64))
    pq.write_table(pa.Table.from_pandas(odd, preserve_index=False), tmp_path / "o.parquet")
    est = tg.consensus.fit_parquet(tmp_path / "o.parquet", batch_size=64)
    mem = tg.consensus.DawidSkene(variant="tagger").fit(odd)
    pd.testing.assert_series_equal(est.labels_, mem.labels_)
    pd.testing.assert_series_equal(est.skills_, mem.skills_)
    dup = pd.concat([df.iloc[:1], df]).sort_values("task", kind="stable")
    pq.write_table(pa.Table.from_pandas(dup, preserve_index=False), tmp_path / "d.parquet")
    with pytest.raises(InvalidArgument, match="repeated"):
        tg.consensus.fit_parquet(tmp_path / "d.parquet")
    with pytest.raises(InvalidArgument, match="not in the data"):
        tg.consensus.fit_parquet(tmp_path / "d.parquet", columns=("task", "worker", "nope"))
    with pytest.raises(InvalidArgument, match="no such file"):
        tg.consensus.fit_parquet(tmp_path / "missing.parquet")
    pq.write_table(pa.Table.from_pandas(df.iloc[:0], preserve_index=False), tmp_path / "e.parquet")
    with pytest.raises(InvalidArgument, match="no answers"):
        tg.consensus.fit_parquet(tmp_path / "e.parquet")
    with pytest.raises(InvalidArgument, match="supports"):
        tg.consensus.fit_parquet(tmp_path / "d.parquet", "glad")


# ------------------------------------------------------------------- sweeps ---

def _pop() -> dict:
    s = tg.sim
    return {"honest": s.Population([s.Honest(skill=s.Beta(8, 2))], n_workers=12, n_labels=2, seed=1),
            "mixed": s.Population([(s.Honest(skill=s.Beta(8, 2)), 0.6), (s.RandomSpammer(), 0.4)], n_workers=12,
                                  n_labels=2, seed=2)}


SWEEP = dict(grid={"overlap": [2, 3]}, mechanisms=["output_agreement", "peer_prediction"], seeds=2, rounds=2,
             n_tasks=20)


def test_sweep_is_tidy_and_the_same_on_any_pool() -> None:
    one = tg.sim.sweep(populations=_pop(), n_jobs=1, progress=False, **SWEEP)
    two = tg.sim.sweep(populations=_pop(), n_jobs=2, progress=False, **SWEEP)
    pd.testing.assert_frame_equal(one, two)
    assert one["run"].nunique() == 2 * 2 * 2 * 2
    assert list(one.columns[:5]) == ["run", "population", "mechanism", "seed", "overlap"]
    assert set(one.loc[one.population == "mixed", "strategy"]) == {"honest", "random"}
    # each run is the Simulation a user would build
    first = one[one.run == 0].set_index("strategy")
    pop = _pop()["honest"]
    res = tg.sim.Simulation(pop, mechanism="output_agreement", seed=0, overlap=2, n_tasks=20).run(2)
    assert first.at["honest", "earnings"] == res.summary().at["honest", "earnings"]
    with pytest.raises(InvalidArgument, match="unknown Simulation parameter"):
        tg.sim.sweep(grid={"overlapp": [1]}, populations=_pop(), progress=False)
    with pytest.raises(InvalidArgument, match="Population"):
        tg.sim.sweep(populations=[1], progress=False)


# ---------------------------------------------------------------------- Ray ---

@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tagger[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("n_shards", [1, 2, 4])
def test_ray_equals_single_process(ray_local, n_shards: int) -> None:
    t, w, y = answers(seed=7)
    T, W, K = int(t.max()) + 1, int(w.max()) + 1, 3
    for method in ("dawid_skene", "glad"):
        kw = {"m_steps": 4} if method == "glad" else {}  # (GLAD: a Ray round trip per shard per Fisher round)
        one = getattr(_core.consensus, method)(t, w, y, T, W, K, n_iter=25, **kw)
        assert_same(one, dist.fit_sharded(method, t, w, y, T, W, K, n_shards=n_shards, backend="ray", n_iter=25, **kw))


def test_ray_estimator_and_sweep(ray_local) -> None:
    t, w, y = answers(n_tasks=2 * ALIGN, seed=8)
    df = pd.DataFrame({"task": t, "worker": w, "label": y})
    for cls in (tg.consensus.OneCoinDawidSkene, tg.consensus.WeightedMajorityVote):  # (the latter: Wawa)
        engine = {"variant": "tagger"} if issubclass(cls, (tg.consensus.DawidSkene, tg.consensus.GLAD)) else {}  # the sharded engine
        a, b = cls(**engine).fit(df), cls(backend="ray").fit(df)  # shards: the 2 CPUs
        pd.testing.assert_series_equal(a.labels_, b.labels_)
        pd.testing.assert_frame_equal(a.probas_, b.probas_, rtol=0, atol=1e-9)
        pd.testing.assert_series_equal(a.skills_, b.skills_, rtol=0, atol=1e-12)
    local = tg.sim.sweep(populations=_pop(), n_jobs=1, progress=False, **SWEEP)
    on_ray = tg.sim.sweep(populations=_pop(), backend="ray", progress=False, **SWEEP)
    pd.testing.assert_frame_equal(local, on_ray)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own DataContext() warns about itself
def test_ray_data_reader_equals_in_memory(ray_local, tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="ray.data.read_parquet needs pyarrow")
    import pyarrow as pa
    df = _frame(seed=9).rename(columns={"item": "task", "annotator": "worker", "answer": "label"})
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):  # a directory of files, read in order
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), tmp_path / f"part-{i}.parquet")
    ds = ray_local.data.read_parquet(str(tmp_path))
    est = tg.consensus.fit_parquet(ds, n_iter=30, batch_size=4000, chunk_answers=6000)
    mem = tg.consensus.DawidSkene(n_iter=30, variant="tagger").fit(df)
    pd.testing.assert_series_equal(est.labels_, mem.labels_)
    np.testing.assert_array_equal(est.probas_.to_numpy(), mem.probas_.to_numpy())
    assert est.n_iter_ == mem.n_iter_ and est.source_passes_ == 2  # Ray Data runs twice, the rest is local
    with pytest.raises(InvalidArgument, match="not in the data"):
        tg.consensus.fit_parquet(ds, columns=("task", "worker", "nope"))


def test_sharded_one_coin_reports_the_local_fits_bits() -> None:
    """errors_ and priors_ of a sharded one-coin fit were numpy's exp of the log parameters, up to
    2.8e-17 off the local fit's (the core's exp) although the docs promise the same bits."""
    t, w, y = answers(seed=3, k=4)
    T, W, K = int(t.max()) + 1, int(w.max()) + 1, 4
    one = _core.consensus.fit("one_coin_dawid_skene", t, w, y, T, W, K, n_iter=20)
    for n_shards in (1, 3):
        sh = dist.fit_sharded("one_coin_dawid_skene", t, w, y, T, W, K, n_shards=n_shards, n_iter=20)
        for key in ("probas", "errors", "priors", "skills"):
            np.testing.assert_array_equal(one[key], sh[key], err_msg=key)


def test_a_warm_shard_set_refits_glad_as_fresh_shards_do_also_from_two_threads() -> None:
    """GLAD shards kept the previous fit's b and posteriors: a second fit on the same ShardSet
    (documented as kept warm across fits) started from there and differed from a fresh fit; two
    threads' fits interleaved their steps on the shared state and matched neither."""
    import threading

    t, w, l = answers(n_tasks=2 * ALIGN + 100, seed=5)
    args = (t, w, l, int(t.max()) + 1, int(w.max()) + 1, 3)
    opts = {"m_steps": 25, "m_tol": 1e-2, "alpha_prior": 1.0, "beta_prior": 1.0, "class_priors": None}
    fresh = dist.fit_sharded("glad", *args, n_shards=2, threads=1)["probas"]
    with dist.ShardSet("glad", *args, n_shards=2, threads=1, options=opts) as warm:
        for _ in range(2):
            assert np.array_equal(dist.fit_sharded("glad", *args, threads=1, shards=warm)["probas"], fresh)
        results: list[np.ndarray] = []
        fits = [threading.Thread(target=lambda: results.append(
            dist.fit_sharded("glad", *args, threads=1, shards=warm)["probas"])) for _ in range(3)]
        for f in fits:
            f.start()
        for f in fits:
            f.join()
    assert len(results) == 3 and all(np.array_equal(r, fresh) for r in results)


def test_fit_parquet_names_a_corrupt_file_and_a_missing_column(tmp_path) -> None:
    """A corrupt compressed page raised the codec's raw OSError; a file of a directory without
    the label column read as "column 'label' has 60 missing value(s)"."""
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (the parquet extra) reads the files")
    import pyarrow as pa

    df = pd.DataFrame({"task": np.repeat(np.arange(40), 3), "worker": np.tile([0, 1, 2], 40),
                       "label": np.arange(120) % 3})
    df.to_parquet(tmp_path / "ok.parquet")
    raw = (tmp_path / "ok.parquet").read_bytes()
    (tmp_path / "corrupt.parquet").write_bytes(raw[:200] + bytes(300) + raw[500:])
    with pytest.raises(InvalidArgument, match="fit_parquet: reading the source failed"):
        tg.consensus.fit_parquet(tmp_path / "corrupt.parquet")
    (tmp_path / "two").mkdir()
    pq.write_table(pa.Table.from_pandas(df.iloc[:60], preserve_index=False), tmp_path / "two" / "a.parquet")
    pq.write_table(pa.Table.from_pandas(df.iloc[60:, :2], preserve_index=False), tmp_path / "two" / "b.parquet")
    with pytest.raises(InvalidArgument, match="60 missing value.*a file of the source without that column"):
        tg.consensus.fit_parquet(tmp_path / "two")


def test_fit_parquet_refuses_tables_beyond_memory_before_its_passes(tmp_path, monkeypatch) -> None:
    """A one-coin fit_parquet on 10,000 workers x 1,000 labels ran every EM pass, then failed to
    allocate its 75 GB errors table; the size is known after the coding pass."""
    pytest.importorskip("pyarrow", reason="pyarrow (the parquet extra) writes the file")
    from tagger import _system

    df = pd.DataFrame({"task": np.repeat(np.arange(100), 3), "worker": np.tile([0, 1, 2], 100),
                       "label": np.arange(300) % 50})
    df.to_parquet(tmp_path / "a.parquet")
    monkeypatch.setattr(_system, "physical_memory", lambda: 1000)
    with pytest.raises(InvalidArgument, match="OneCoinDawidSkene on 3 workers x 50 labels needs about"):
        tg.consensus.fit_parquet(tmp_path / "a.parquet", "one_coin_dawid_skene")
    monkeypatch.setattr(_system, "physical_memory", lambda: 0)
    tg.consensus.fit_parquet(tmp_path / "a.parquet", "one_coin_dawid_skene")
