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


METHODS = ["dawid_skene", "one_coin_dawid_skene", "majority_vote", "wawa"]


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
    # n_iter = 0: the start posteriors (vote shares)
    one = _core.consensus.dawid_skene(t, w, y, T, W, K, n_iter=0)
    assert_same(one, dist.fit_sharded("dawid_skene", t, w, y, T, W, K, n_shards=2, n_iter=0))


def test_estimators_take_a_backend() -> None:
    t, w, y = answers(n_tasks=3 * ALIGN, seed=5)
    df = pd.DataFrame({"task": t + 1000, "worker": [f"w{x}" for x in w], "label": np.array(list("abc"))[y]})
    for cls in (tg.consensus.DawidSkene, tg.consensus.OneCoinDawidSkene, tg.consensus.MajorityVote,
                tg.consensus.WeightedMajorityVote):
        engine = {"variant": "tagger"} if issubclass(cls, tg.consensus.DawidSkene) else {}  # the sharded engine
        a, b = cls(**engine).fit(df), cls(backend="inprocess", n_shards=3).fit(df)
        pd.testing.assert_series_equal(a.labels_, b.labels_)
        pd.testing.assert_frame_equal(a.probas_, b.probas_, rtol=0, atol=1e-9)
        pd.testing.assert_series_equal(a.skills_, b.skills_, rtol=0, atol=1e-12)
    with pytest.raises(InvalidArgument, match="backend"):
        tg.consensus.DawidSkene(backend="spark").fit(df)
    with pytest.raises(InvalidArgument, match="sharded methods"):
        dist.fit_sharded("glad", t, w, y, int(t.max()) + 1, int(w.max()) + 1, 3)


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


def test_fit_parquet_rejects_bad_layouts(tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="fit_parquet needs pyarrow (pip install 'tagger[io]')")
    import pyarrow as pa
    df = _frame(n_tasks=50).rename(columns={"item": "task", "annotator": "worker", "answer": "label"})
    shuffled = df.sample(frac=1.0, random_state=0)
    pq.write_table(pa.Table.from_pandas(shuffled, preserve_index=False), tmp_path / "s.parquet")
    with pytest.raises(InvalidArgument, match="grouped by task"):
        tg.consensus.fit_parquet(tmp_path / "s.parquet")
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
    one = _core.consensus.dawid_skene(t, w, y, T, W, K, n_iter=25)
    assert_same(one, dist.fit_sharded("dawid_skene", t, w, y, T, W, K, n_shards=n_shards, backend="ray", n_iter=25))


def test_ray_estimator_and_sweep(ray_local) -> None:
    t, w, y = answers(n_tasks=2 * ALIGN, seed=8)
    df = pd.DataFrame({"task": t, "worker": w, "label": y})
    for cls in (tg.consensus.OneCoinDawidSkene, tg.consensus.WeightedMajorityVote):  # (the latter: Wawa)
        engine = {"variant": "tagger"} if issubclass(cls, tg.consensus.DawidSkene) else {}  # the sharded engine
        a, b = cls(**engine).fit(df), cls(backend="ray").fit(df)  # shards: the 2 CPUs
        pd.testing.assert_series_equal(a.labels_, b.labels_)
        pd.testing.assert_frame_equal(a.probas_, b.probas_, rtol=0, atol=1e-9)
        pd.testing.assert_series_equal(a.skills_, b.skills_, rtol=0, atol=1e-12)
    local = tg.sim.sweep(populations=_pop(), n_jobs=1, progress=False, **SWEEP)
    on_ray = tg.sim.sweep(populations=_pop(), backend="ray", progress=False, **SWEEP)
    pd.testing.assert_frame_equal(local, on_ray)
