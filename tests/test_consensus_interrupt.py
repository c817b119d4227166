"""The crowd-kit-faithful fits (DawidSkene, OneCoinDawidSkene, GLAD with variant='crowdkit', KOS,
MMSR) run in C++ with the GIL released: they took no per-iteration hook, so verbose=True showed
an empty progress bar and Ctrl-C waited for the end of a fit of minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tagger import _core

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd"


def _answers(seed: int = 0, n_tasks: int = 300, n_workers: int = 20, k: int = 2):
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(n_tasks, dtype=np.int32), 5)
    worker = rng.integers(0, n_workers, len(task)).astype(np.int32)
    truth = rng.integers(0, k, n_tasks)
    label = np.where(rng.random(len(task)) < 0.75, truth[task], rng.integers(0, k, len(task))).astype(np.int32)
    return task, worker, label, n_tasks, n_workers, k


@pytest.mark.parametrize("name, kwargs", [("dawid_skene", {"tol": -1.0}), ("one_coin_dawid_skene", {"tol": -1.0}),
                                          ("glad", {"tol": -1.0}), ("mmsr", {"tol": 0.0}), ("kos", {})])
def test_each_iteration_reaches_the_callback_which_can_stop_the_fit(name: str, kwargs: dict) -> None:
    seen: list[int] = []

    def callback(iteration: int, n_iter: int, objective: float, change: float) -> bool:
        seen.append(iteration)
        return iteration < 3  # False stops the fit after the third iteration

    fn = getattr(_core.consensus_crowdkit, name)
    out = fn(*_answers(), n_iter=50, callback=callback, **kwargs)
    assert seen == [1, 2, 3]
    assert out["n_iter"] == 3


def test_a_callback_error_is_raised_after_the_fit() -> None:
    def callback(*_: object) -> bool:
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        _core.consensus_crowdkit.mmsr(*_answers(), n_iter=50, callback=callback)


_INTERRUPTED = r"""
import os, signal, sys, threading, time
import pandas as pd, tagger.consensus as C
df = pd.read_csv(sys.argv[1])
for make in (lambda: C.MMSR(n_iter=10**6, tol=0), lambda: C.OneCoinDawidSkene(n_iter=10**6, tol=-1),
             lambda: C.DawidSkene(n_iter=10**6, tol=-1)):
    est = make()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        est.fit(df)
        print(type(est).__name__, "finished", time.perf_counter() - t0)
    except KeyboardInterrupt:
        print(type(est).__name__, "interrupted", time.perf_counter() - t0)
    timer.join()
"""


def test_ctrl_c_stops_the_crowd_kit_fits() -> None:
    """In a child process, so that the SIGINT cannot reach pytest itself. Each fit would run for
    minutes (10**6 iterations on dog)."""
    path = SHARED / "dog" / "answers.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    out = subprocess.run([sys.executable, "-c", _INTERRUPTED, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    assert [r[:2] for r in rows] == [["MMSR", "interrupted"], ["OneCoinDawidSkene", "interrupted"],
                                     ["DawidSkene", "interrupted"]], out.stdout
    assert all(float(r[2]) < 5.0 for r in rows), out.stdout
