"""Beyond one machine's memory and cores (issue 16), three measurements:

1. Dawid-Skene streamed from Parquet (``tg.consensus.fit_parquet``) on
   ``--parquet-answers`` synthetic answers (default 100M): seconds per EM
   pass and peak RSS of the streaming process (target < 2 GB), against the
   in-memory fit per answer on ``--inmem-answers`` (target: within 2x).
2. Sharded Dawid-Skene on a local Ray with 1 and 2 workers (one shard per
   worker, one thread each) on ``--ray-answers`` answers (default 10M):
   seconds per iteration, speed-up, and the bytes moved per iteration.
3. Sharded GLAD on ``--glad-answers`` answers (default 2M): the single
   process against 1, 2, 4 shards in process and 1, 2 Ray workers, results
   asserted bit-identical.
4. A sweep of ``--sweep-runs`` (>= 1000) small simulations: the local
   process pool against Ray, same table.

Run: python benchmarks/bench_scale.py [--parquet-answers N] [--inmem-answers N]
     [--ray-answers N] [--glad-answers N] [--sweep-runs N] [--iters N] [--skip parquet,ray,glad,sweep]
Needs pyarrow (tagger[io]) and, for 2-4, ray (tagger[ray]); parts whose
package is missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _util import table  # noqa: E402

import tagger as tg  # noqa: E402
from tagger import _core  # noqa: E402
from tagger.consensus import distributed as dist  # noqa: E402

N_WORKERS, N_LABELS, PER_TASK = 2000, 2, 5


def synth(n: int, seed: int, t_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n answers, PER_TASK per task, grouped by task; workers of skill 0.55-0.95."""
    rng = np.random.default_rng(seed)
    n_tasks = n // PER_TASK
    truth = rng.integers(0, N_LABELS, n_tasks)
    skill = np.random.default_rng(12345).uniform(0.55, 0.95, N_WORKERS)
    t = np.repeat(np.arange(n_tasks, dtype=np.int64), PER_TASK)
    base = np.repeat(rng.integers(0, N_WORKERS, n_tasks), PER_TASK)  # distinct workers inside a task
    w = (base + np.tile(np.arange(PER_TASK), n_tasks) * 7) % N_WORKERS
    y = np.where(rng.random(t.size) < skill[w], truth[t], rng.integers(0, N_LABELS, t.size))
    return (t + t_offset), w.astype(np.int32), y.astype(np.int8)


def write_parquet(path: str, n: int, chunk: int = 5_000_000) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq
    t0 = time.perf_counter()
    schema = pa.schema([("task", pa.int64()), ("worker", pa.int32()), ("label", pa.int8())])
    done = 0
    with pq.ParquetWriter(path, schema) as wr:
        while done < n:
            m = min(chunk, n - done)
            m -= m % PER_TASK
            t, w, y = synth(m, seed=done, t_offset=done // PER_TASK)
            wr.write_table(pa.table({"task": t, "worker": w, "label": y}, schema=schema), row_group_size=1 << 20)
            done += m
    return time.perf_counter() - t0


def peak_rss_mib() -> float:
    """Peak resident set of this process (the kernel's high-water mark: VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_stream(path: str, iters: int) -> None:
    """Runs in its own process so that its peak RSS is the streaming fit's."""
    t0 = time.perf_counter()
    est = tg.consensus.fit_parquet(path, n_iter=iters, tol=0.0)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "passes": est.passes_, "n_iter": est.n_iter_, "rss_mib": peak_rss_mib(),
                      "source_s": sum(est.source_seconds_), "pass_s": sorted(est.pass_seconds_)[len(est.pass_seconds_) // 2],
                      "spill_bytes": est.spill_bytes_, "n_tasks": len(est.labels_)}))


def bench_parquet(n: int, n_mem: int, iters: int) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print("\n(parquet part skipped: pyarrow missing, pip install 'tagger[io]')")
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TAGGER_BENCH_TMP")) as d:
        path = os.path.join(d, "answers.parquet")
        gen = write_parquet(path, n)
        size = os.path.getsize(path)
        out = subprocess.run([sys.executable, __file__, "--child-stream", path, "--iters", str(iters)],
                             capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"streaming child failed:\n{out.stderr}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
    # In memory: the same generator, fewer answers (they must fit), same iterations.
    t, w, y = synth(n_mem, seed=0)
    args = (t.astype(np.int32), w, y.astype(np.int32), n_mem // PER_TASK, N_WORKERS, N_LABELS)
    t0 = time.perf_counter()
    mem = _core.consensus.dawid_skene(*args, n_iter=iters, tol=0.0)
    mem_wall = time.perf_counter() - t0
    mem_pass = mem_wall / (int(mem["n_iter"]) + 1)  # the layout build shared out over the passes
    ns_pass, ns_mem = r["pass_s"] / n * 1e9, mem_pass / n_mem * 1e9
    ns_fit = r["wall"] / r["passes"] / n * 1e9
    table(f"Dawid-Skene from Parquet: {n:,} answers ({size / 2**20:,.0f} MiB file, written in {gen:.0f} s; "
          f"spill file {r['spill_bytes'] / 2**20:,.0f} MiB), {r['n_iter']} iterations",
          ["path", "answers", "s per EM pass", "ns per answer-pass", "source passes s", "fit s", "peak RSS MiB"],
          [["streamed (fit_parquet)", f"{n:,}", r["pass_s"], ns_pass, r["source_s"], r["wall"], r["rss_mib"]],
           ["in memory (dawid_skene)", f"{n_mem:,}", mem_pass, ns_mem, "-", mem_wall, peak_rss_mib()]])
    print(f"  streamed / in-memory time per answer and EM pass: {ns_pass / ns_mem:.2f}x (target <= 2x); "
          f"whole fit incl. the two source passes, per answer-pass: {ns_fit / ns_mem:.2f}x; "
          f"streaming peak RSS {r['rss_mib']:,.0f} MiB (target < 2048)")


def _e_step_seconds(shards: dist.ShardSet, repeat: int = 7) -> float:
    """Median wall time of one EM iteration's round trip: parameters out,
    E-step on every shard, statistics back (the M-step on the sums is ~0.1 ms)."""
    p = {"e": np.full(N_WORKERS * N_LABELS * N_LABELS, 1.0 / N_LABELS), "prior": np.full(N_LABELS, 1.0 / N_LABELS)}
    shards.call("e_step", p)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        shards.call("e_step", p)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def bench_ray(n: int, iters: int) -> None:
    try:
        import ray
    except ImportError:
        print("\n(Ray part skipped: ray missing, pip install 'tagger[ray]')")
        return
    t, w, y = synth(n, seed=1)
    args = (t.astype(np.int32), w, y.astype(np.int32), n // PER_TASK, N_WORKERS, N_LABELS)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    rows, base = [], None
    try:
        t0 = time.perf_counter()
        one = _core.consensus.dawid_skene(*args, n_iter=iters, tol=0.0, threads=1)
        fit_single = time.perf_counter() - t0
        local = dist.ShardSet("dawid_skene", *args, n_shards=1, backend="inprocess", threads=1)
        rows.append(["in process, 1 thread", 1, "-", 1e3 * _e_step_seconds(local), "-", 0, fit_single])
        local.close()
        for workers in (1, 2):
            t0 = time.perf_counter()
            shards = dist.ShardSet("dawid_skene", *args, n_shards=workers, backend="ray", threads=1)
            setup = time.perf_counter() - t0
            it = _e_step_seconds(shards)
            t0 = time.perf_counter()
            out = dist.fit_sharded("dawid_skene", *args, shards=shards, n_iter=iters, tol=0.0)
            fit = time.perf_counter() - t0
            shards.close()
            assert (out["labels"] == one["labels"]).all() and (out["probas"] == one["probas"]).all()
            base = base or it
            moved = dist.bytes_per_iteration("dawid_skene", N_WORKERS, N_LABELS, n // PER_TASK, workers)
            rows.append([f"ray, {workers} worker(s)", workers, setup, 1e3 * it, base / it, moved, fit])
    finally:
        ray.shutdown()
    table(f"Sharded Dawid-Skene on a local Ray: {n:,} answers, {N_WORKERS} workers, {N_LABELS} labels "
          f"(one thread per shard)", ["backend", "shards", "setup s", "ms per iteration", "speed-up",
                                      "bytes moved per iteration", f"fit s ({iters} it. + posteriors)"], rows)


def bench_glad(n: int) -> None:
    """Sharded GLAD: the single-process fit against 1, 2 and 4 shards in
    process and on a local Ray (2 workers), identical results asserted."""
    t, w, y = synth(n, seed=2)
    args = (t.astype(np.int32), w, y.astype(np.int32), n // PER_TASK, N_WORKERS, N_LABELS)
    kw = dict(n_iter=10, tol=0.0, m_steps=5, m_tol=0.0)
    t0 = time.perf_counter()
    one = _core.consensus.glad(*args, **kw)
    rows = [["single process (glad)", 1, time.perf_counter() - t0, "-"]]
    backends = [("inprocess", 1), ("inprocess", 2), ("inprocess", 4)]
    try:
        import ray
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
        backends += [("ray", 1), ("ray", 2)]
    except ImportError:
        ray = None
        print("\n(GLAD on Ray skipped: ray missing)")
    try:
        for backend, shards in backends:
            t0 = time.perf_counter()
            out = dist.fit_sharded("glad", *args, n_shards=shards, backend=backend, **kw)
            wall = time.perf_counter() - t0
            for key in ("labels", "probas", "abilities", "difficulties", "skills"):
                assert np.array_equal(out[key], one[key], equal_nan=True), key
            moved = dist.bytes_per_iteration("glad", N_WORKERS, N_LABELS, n // PER_TASK, shards, m_rounds=5)
            rows.append([f"{backend}", shards, wall, moved])
    finally:
        if ray is not None:
            ray.shutdown()
    table(f"Sharded GLAD: {n:,} answers, {kw['n_iter']} iterations x {kw['m_steps']} Fisher rounds "
          "(results bit-identical, asserted)", ["backend", "shards", "fit s", "bytes moved per iteration"], rows)


def bench_sweep(runs: int) -> None:
    S = tg.sim
    pops = {"honest": S.Population([S.Honest(skill=S.Beta(8, 2))], n_workers=30, n_labels=2, seed=1),
            "spammers": S.Population([(S.Honest(skill=S.Beta(8, 2)), 0.6), (S.RandomSpammer(), 0.4)],
                                     n_workers=30, n_labels=2, seed=2)}
    mechs = ["output_agreement", "peer_prediction", "peer_truth_serum", "correlated_agreement", "consensus_accuracy"]
    grid = {"overlap": [3, 5], "per_answer": [500.0, 1000.0]}
    per_seed = len(pops) * len(mechs) * 4
    seeds = max(1, -(-runs // per_seed))
    kw = dict(grid=grid, populations=pops, mechanisms=mechs, seeds=seeds, rounds=5, n_tasks=60, progress=False)
    rows = []
    t0 = time.perf_counter()
    local = S.sweep(**kw, n_jobs=2)
    rows.append(["local process pool (2)", seeds * per_seed, time.perf_counter() - t0])
    try:
        import ray
    except ImportError:
        ray = None
        print("\n(Ray sweep skipped: ray missing)")
    if ray is not None:
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
        try:
            t0 = time.perf_counter()
            on_ray = S.sweep(**kw, backend="ray")
            rows.append(["ray (2 CPUs)", seeds * per_seed, time.perf_counter() - t0])
            assert on_ray.equals(local), "sweep results differ between backends"
        finally:
            ray.shutdown()
    table("Sweep of simulations (30 workers, 60 tasks, 5 rounds each)", ["backend", "runs", "seconds"],
          [r + [] for r in rows])
    for r in rows:
        print(f"  {r[0]}: {r[1] / r[2]:.1f} runs/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parquet-answers", type=int, default=100_000_000)
    ap.add_argument("--inmem-answers", type=int, default=10_000_000)
    ap.add_argument("--ray-answers", type=int, default=10_000_000)
    ap.add_argument("--sweep-runs", type=int, default=1000)
    ap.add_argument("--glad-answers", type=int, default=2_000_000)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: parquet, ray, glad, sweep")
    ap.add_argument("--child-stream", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_stream:
        return child_stream(a.child_stream, a.iters)
    skip = set(filter(None, a.skip.split(",")))
    print(f"machine: {os.cpu_count()} CPUs; {os.uname().machine}")
    if "parquet" not in skip:
        bench_parquet(a.parquet_answers, a.inmem_answers, a.iters)
    if "ray" not in skip:
        bench_ray(a.ray_answers, a.iters)
    if "glad" not in skip:
        bench_glad(a.glad_answers)
    if "sweep" not in skip:
        bench_sweep(a.sweep_runs)


if __name__ == "__main__":
    main()
