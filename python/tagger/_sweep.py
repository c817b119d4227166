"""``tg.sim.sweep``: the simulator over a grid of parameters, populations,
mechanisms and seeds, on a local process pool or on Ray.

Every run is a :class:`~tagger.sim.Simulation` built from its own seed, and
the simulator is deterministic for a seed (whatever its thread count), so the
table does not depend on the backend, the number of processes or the order
the runs finish in: rows are sorted by run.
"""

from __future__ import annotations

import inspect
import itertools
import os
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from .errors import InvalidArgument

__all__ = ["sweep"]

# Per run and strategy, from SimResult.summary(); per run, from SimResult.rounds.
_STRATEGY_COLUMNS = ["answers", "earnings", "earnings_per_answer", "utility_per_worker_round", "answer_accuracy",
                     "stake_lost"]
_RUN_COLUMNS = ["accuracy", "paid", "cost_per_correct"]


def _names(items: Any, what: str) -> list[tuple[str, Any]]:
    if isinstance(items, Mapping):
        return [(str(k), v) for k, v in items.items()]
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        items = [items]
    out = []
    for i, v in enumerate(items):
        if what == "mechanism":
            out.append((v if isinstance(v, str) else f"{getattr(v, 'mechanism', type(v).__name__)}#{i}", v))
        else:
            out.append((f"pop{i}", v))
    if not out:
        raise InvalidArgument(f"sweep needs at least one {what}")
    return out


def _run_one(spec: tuple) -> list[dict]:
    from .sim import Simulation
    run, pop_name, pop, mech_name, mech, params, seed, rounds, fixed = spec
    kw = {"threads": 1, **fixed, **params}
    res = Simulation(pop, mechanism=mech, seed=seed, **kw).run(rounds)
    r = res.rounds
    n_correct = int(r["n_correct"].sum())
    paid = int(r["paid"].sum())
    base = {"run": run, "population": pop_name, "mechanism": mech_name, "seed": seed, **params,
            "accuracy": float(r["accuracy"].mean()) if len(r) else np.nan, "paid": paid,
            "cost_per_correct": paid / n_correct if n_correct else np.nan}
    summary = res.summary()
    return [{**base, "strategy": s, **{c: summary.at[s, c] for c in _STRATEGY_COLUMNS}} for s in summary.index]


def _run_chunk(specs: list[tuple]) -> list[list[dict]]:
    return [_run_one(s) for s in specs]


def sweep(grid: Mapping[str, Sequence[Any]] | None = None, populations: Any = None,
          mechanisms: Union[str, Sequence[Any]] = "output_agreement", seeds: Union[int, Sequence[int]] = 1, *,
          rounds: int = 10, backend: str = "local", n_jobs: int | None = None, progress: bool = True,
          **fixed: Any) -> pd.DataFrame:
    """Runs the simulator for every combination of ``populations`` x
    ``mechanisms`` x ``grid`` x ``seeds`` and returns one tidy row per (run,
    strategy).

    ``grid``: ``Simulation`` keyword -> values (e.g. ``{"overlap": [3, 5],
    "per_answer": [500, 1000]}``); ``populations``: a
    :class:`~tagger.sim.Population`, a list, or a dict name -> population;
    ``mechanisms``: names of :data:`tagger.rewards.MECHANISMS` (or policies);
    ``seeds``: an int n (seeds 0..n-1) or the seeds; ``fixed``: keywords
    given to every ``Simulation``. ``backend="local"``: a process pool of
    ``n_jobs`` processes (default: the CPU count; 1 runs in this process);
    ``backend="ray"``: Ray tasks (``pip install 'tagger[ray]'``; uses the
    running Ray, or starts a local one).

    Columns: ``run, population, mechanism, seed``, the grid keys, run-level
    ``accuracy`` (mean over rounds), ``paid``, ``cost_per_correct``, then
    ``strategy`` and its totals ``answers, earnings, earnings_per_answer,
    utility_per_worker_round, answer_accuracy, stake_lost``.
    """
    from .sim import Population, Simulation
    if populations is None:
        raise InvalidArgument("sweep needs populations= (a Population, a list or a dict of them)")
    pops = _names(populations, "population")
    for name, p in pops:
        if not isinstance(p, Population):
            raise InvalidArgument(f"population {name!r} is a {type(p).__name__}, not a tg.sim.Population")
    mechs = _names(mechanisms, "mechanism")
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list:
        raise InvalidArgument("sweep needs at least one seed")
    grid = dict(grid or {})
    allowed = set(inspect.signature(Simulation.__init__).parameters) - {"self", "population", "mechanism", "seed"}
    bad = sorted((set(grid) | set(fixed)) - allowed)
    if bad:
        raise InvalidArgument(f"unknown Simulation parameter(s) {bad}; known: {sorted(allowed)}")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise InvalidArgument(f"parameter(s) {both} are both in grid and fixed")
    if backend not in ("local", "ray"):
        raise InvalidArgument(f"backend must be 'local' or 'ray', not {backend!r}")
    if rounds < 1:
        raise InvalidArgument("rounds must be >= 1")
    keys = list(grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(list(grid[k]) for k in keys))]
    specs = [(i, pn, p, mn, m, params, s, rounds, fixed)
             for i, ((pn, p), (mn, m), params, s) in enumerate(itertools.product(pops, mechs, combos, seed_list))]
    # Build one simulation per population up front: a bad parameter fails here,
    # with its message, not in a worker process after minutes.
    _run_one((0, pops[0][0], pops[0][1], mechs[0][0], mechs[0][1], combos[0], seed_list[0], 1, fixed))

    workers = n_jobs or (os.cpu_count() or 1)
    n_chunks = min(len(specs), max(1, 4 * workers))
    chunks = [specs[i::n_chunks] for i in range(n_chunks)]  # interleaved: similar cost per chunk
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(specs), desc=f"sweep ({backend})", unit="run")
    results: list[list[dict]] = []
    try:
        if backend == "ray":
            results = _on_ray(chunks, bar)
        elif workers == 1:
            for c in chunks:
                results.extend(_run_chunk(c))
                if bar is not None:
                    bar.update(len(c))
        else:
            results = _on_pool(chunks, workers, bar)
    finally:
        if bar is not None:
            bar.close()
    rows = [row for run in results for row in run]
    df = pd.DataFrame(rows)
    cols = ["run", "population", "mechanism", "seed", *keys, *_RUN_COLUMNS, "strategy", *_STRATEGY_COLUMNS]
    df = df[cols].sort_values(["run", "strategy"], kind="stable").reset_index(drop=True)
    return df


def _on_pool(chunks: list[list[tuple]], workers: int, bar: Any) -> list[list[dict]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    # forkserver: children do not inherit this process's threads (Ray's, the
    # core's teams) or its open files.
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    out: list[list[dict]] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx) as ex:
        futs = {ex.submit(_run_chunk, c): len(c) for c in chunks}
        for f in as_completed(futs):
            out.extend(f.result())
            if bar is not None:
                bar.update(futs[f])
    return out


def _on_ray(chunks: list[list[tuple]], bar: Any) -> list[list[dict]]:
    from ._optional import require
    ray = require("ray", "sweep(backend='ray')")
    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    task = ray.remote(_run_chunk)
    pending = {task.remote(c): len(c) for c in chunks}
    out: list[list[dict]] = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            out.extend(ray.get(ref))
            n = pending.pop(ref)
            if bar is not None:
                bar.update(n)
    return out
