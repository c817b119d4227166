"""A child of os.fork() gets the locks of tagger's objects unlocked (tagger/_fork.py): a lock
held by another thread of the parent at the fork stayed held in the child, where that thread does
not exist, and the child waited forever on its first use (an estimator fitting in a thread when a
multiprocessing 'fork' pool started: every worker hung reading its probas_)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.consensus import _serial

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


def _in_child(work) -> int:
    """Runs work() in a forked child with a 20 s alarm; the child's exit status (0: it ran)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (3.12+: fork with threads running)
        pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            signal.alarm(20)
            work()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _holding(lock_of):
    """A thread that holds lock_of() until released; returns (release, thread)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock_of():
            taken.set()
            release.wait()

    th = threading.Thread(target=hold, daemon=True)
    th.start()
    assert taken.wait(10)
    return release, th


def test_a_child_uses_an_estimator_whose_lock_a_thread_held() -> None:
    df = pd.DataFrame({"task": [0, 0, 0, 1, 1, 1], "worker": [0, 1, 2, 0, 1, 2], "label": [0, 0, 1, 1, 1, 0]})
    est = tg.consensus.DawidSkene().fit(df)
    release, th = _holding(lambda: _serial._lock_of(est))
    try:
        assert _in_child(lambda: (est.probas_, est.fit(df))) == 0  # it hung until the alarm (-14)
    finally:
        release.set()
        th.join()


def test_a_child_uses_matching_and_verification_whose_locks_a_thread_held() -> None:
    idx = tg.match.CategoryIndex.default()
    reg = tg.verify.DedupRegistry()
    spec = tg.verify.VerifySpec(description="Customer questions about card delivery", registry=reg)
    for lock_of in (lambda: tg.match.CategoryIndex._state_lock, lambda: reg._lock):
        release, th = _holding(lock_of)
        try:
            assert _in_child(lambda: (idx.predict(["transcribe podcast audio"]),
                                      tg.verify.check(b"When will my card arrive?", "text", spec))) == 0
        finally:
            release.set()
            th.join()


def test_a_child_uses_a_minhash_index_a_thread_was_writing() -> None:
    """The C++ per-object locks (MinHashLSH, Simulator) are renewed in the child too."""
    lsh = tg.verify.MinHashLSH(num_perm=64, threshold=0.8)
    docs = [f"document number {i} about card delivery and fees" for i in range(20_000)]
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            lsh.insert_many(docs)

    th = threading.Thread(target=write, daemon=True)
    th.start()
    time.sleep(0.3)  # inside an insert_many, holding the index's lock, most of the time
    try:
        assert _in_child(lambda: lsh.query_many(["document number 7 about card delivery and fees"])) == 0
    finally:
        stop.set()
        th.join()
