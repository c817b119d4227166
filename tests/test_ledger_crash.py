"""Crash safety: a writer in a subprocess commits blocks (fsync) and reports each
height; it is killed with SIGKILL at random moments. After every kill the ledger
reopens (a torn last record is cut back), holds every block reported committed,
and verify() passes. The C++ recovery suite (cpp/tests/ledger_recovery_test.cc)
adds 60 more kills with fork(); together well over 50 across the suite."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import tagger as tg

WRITER = r"""
import random, sys
import tagger as tg
net = tg.Network.open(sys.argv[1], snapshot_every=3)
names = [n for n in ("a", "b", "c")]
for n in names:
    try:
        net.account(n)
    except tg.errors.UnknownAccount:
        net.create_account(n, fund=10**9)
rng = random.Random(int(sys.argv[2]))
print("ready", net.height, flush=True)
while True:
    with net.batch():
        for _ in range(rng.randint(1, 30)):
            s, d = rng.sample(names, 2)
            net.transfer(s, d, rng.randint(1, 1000))
    print("committed", net.height, flush=True)
"""


def test_sigkill_at_random_moments(tmp_path):
    d = tmp_path / "crash"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    rng = random.Random(7)
    committed = 0
    kills = 0
    for round_ in range(10):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(d), str(round_)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        line = p.stdout.readline()
        assert line.startswith("ready"), p.stderr.read()
        target = rng.randint(1, 6)
        for _ in range(target):
            line = p.stdout.readline()
            assert line.startswith("committed"), line
            committed = max(committed, int(line.split()[1]))
        time.sleep(rng.random() * 0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        kills += 1
        net = tg.Network.open(d)
        assert net.height >= committed, f"block {committed} was reported committed but is gone"
        committed = net.height
        rep = net.verify()
        assert rep["blocks"] == net.height + 1
        s = net.supply()
        assert s["minted"] == s["balances"]
        net.close()
    assert kills == 10
