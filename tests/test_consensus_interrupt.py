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


_DAEMON_FIT = r"""
import sys, threading, time
import numpy as np, pandas as pd
import tagger.consensus as C
from tagger import match as m
df = pd.read_csv(sys.argv[1])
rng = np.random.default_rng(0)
texts = [" ".join(f"w{rng.integers(3000)}" for _ in range(8)) for _ in range(6000)]
fits = {"mmsr": lambda: C.MMSR(n_iter=10**6, tol=0).fit(df),
        "ds": lambda: C.DawidSkene(n_iter=10**6, tol=-1).fit(df),
        "ds_tagger": lambda: C.DawidSkene(n_iter=10**6, tol=0, variant="tagger").fit(df),
        "index": lambda: m.CategoryIndex.fit(texts, [f"c{i % 1500}" for i in range(6000)], epochs=15,
                                             calibrate=False, dense=False),
        # Fits that end while the interpreter finalizes (slowed by the __del__ below)
        "ds_short": lambda: C.DawidSkene(n_iter=300, tol=-1).fit(df),
        "index_short": lambda: m.CategoryIndex.fit(texts[:2000], [f"c{i % 300}" for i in range(2000)], epochs=3,
                                                   calibrate=False, dense=False)}


class SlowExit:
    def __del__(self):
        time.sleep(2.0)


slow = SlowExit()
threading.Thread(target=fits[sys.argv[2]], daemon=True).start()
time.sleep(0.05)
print("main exits", flush=True)
"""


@pytest.mark.parametrize("fit", ["mmsr", "ds", "ds_tagger", "index", "ds_short", "index_short"])
def test_a_fit_in_a_daemon_thread_lets_the_process_exit(fit: str) -> None:
    """With the Ctrl-C hooks the fitting thread asked for the GIL during interpreter shutdown:
    Python ends such a thread with pthread_exit, whose unwind met a joinable std::thread (or a
    frame that cannot unwind) and aborted the process ("terminate called", exit status 134). A
    fit that ended during shutdown did the same when it took the GIL back: it is parked."""
    path = SHARED / "dog" / "answers.csv"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    out = subprocess.run([sys.executable, "-c", _DAEMON_FIT, str(path), fit], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr[-500:])
    assert out.stdout.strip() == "main exits"


def test_a_fit_without_a_callback_runs_beside_a_busy_python_thread() -> None:
    """The hook took the GIL every iteration: beside a thread running Python, each took a switch
    interval (~5 ms), and DawidSkene(n_iter=300) on rte went from 0.04 s to 2.3 s. Without a
    callback it now checks for Ctrl-C at most every 100 ms."""
    import threading
    import time

    task, worker, label, nt, nw, k = _answers(n_tasks=2000)
    spin = threading.Event()

    def busy() -> None:
        x = 0
        while not spin.is_set():
            x += 1

    fn = _core.consensus_crowdkit.dawid_skene
    t0 = time.perf_counter()
    fn(task, worker, label, nt, nw, k, n_iter=300, tol=-1.0)
    idle = time.perf_counter() - t0
    # A long switch interval makes each GIL take cost 50 ms, so taking it every iteration (>= 15 s)
    # stands far apart from a fit slowed by a loaded machine (the busy thread holds one core).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    th = threading.Thread(target=busy)
    th.start()
    try:
        t0 = time.perf_counter()
        fn(task, worker, label, nt, nw, k, n_iter=300, tol=-1.0)
        loaded = time.perf_counter() - t0
    finally:
        spin.set()
        th.join()
        sys.setswitchinterval(interval)
    assert loaded < 20 * idle + 3.0, (idle, loaded)  # 300 switch intervals would be >= 15 s


_VERBOSE_DAEMON = r"""
import sys, threading, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
import tagger.consensus as C
rng = np.random.default_rng(0)
n = 20000
df = pd.DataFrame({"task": np.repeat(np.arange(n), 5), "worker": rng.integers(300, size=5 * n),
                   "label": rng.integers(2, size=5 * n)})


def run():
    while True:
        C.MMSR(n_iter=3000, tol=0, verbose=True).fit(df)


threading.Thread(target=run, daemon=True).start()
time.sleep(float(sys.argv[1]))
sys.exit(3)
"""


def test_a_verbose_fit_in_a_daemon_thread_lets_the_process_exit() -> None:
    """A verbose fit takes the GIL every iteration for its progress bar, so its thread is often
    already waiting for the GIL when the interpreter starts to shut down. Python 3.11 then ends it
    with pthread_exit inside take_gil, whose unwind aborted the process at gil_scoped_release's
    noexcept destructor (4 of 20 exits: "terminate called", status 134). The thread is parked
    instead (common.h, take_gil_or_park)."""
    for delay in (0.3, 0.7, 1.1, 1.5, 1.9, 2.3):
        out = subprocess.run([sys.executable, "-c", _VERBOSE_DAEMON, str(delay)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 3, (delay, out.returncode, out.stderr[-300:])


_GLAD_INTERRUPTED = r"""
import os, signal, threading, time, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
import tagger.consensus as C
rng = np.random.default_rng(1)
n = 100_000
t = np.repeat(np.arange(n), 5)
df = pd.DataFrame({"task": t, "worker": rng.integers(300, size=5 * n), "label": rng.integers(2, size=5 * n)})
est = C.GLAD(variant="crowdkit", n_iter=10**6, tol=-1)  # (tol=0 stopped a fit on random labels early)
for delay in (2.5, 4.0):
    timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        est.fit(df)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted", time.perf_counter() - t0 - delay)
    timer.join()
"""


def test_ctrl_c_stops_crowd_kit_glad_inside_its_m_step() -> None:
    """crowd-kit's GLAD checked for Ctrl-C once per EM iteration, whose M-step (up to 25 conjugate
    gradient steps over every answer) took 1.3-1.6 s at 500k answers: it now checks between them."""
    out = subprocess.run([sys.executable, "-c", _GLAD_INTERRUPTED], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-500:]
    rows = [line.split() for line in out.stdout.splitlines()]
    assert [r[0] for r in rows] == ["interrupted", "interrupted"], out.stdout
    assert all(float(r[1]) < 0.8 for r in rows), out.stdout
