"""Ledger throughput against the raw Ed25519 verify rate, in one run.

1. raw verify rate: tagger.crypto.verify_batch over the same (txid, signature,
   key) triples the ledger checks, on 1 and 2 threads;
2. ledger apply rate: pre-signed transfers applied through the ledger in blocks
   of 1,000 (decode, stateless checks, batch signature verification with the GIL
   released, atomic apply, Merkle root, state root, block sealed and appended), on
   1 and 2 threads, and the ratios to (1);
3. open/replay rate of a ledger of REPLAY_TX transactions (default 1,000,000) and
   the peak memory of the process that opens it;
4. eth-tester (py-evm) plain value transfers per second, if it is installed.

Targets (issue 3): apply >= 90% of raw verify on 1 thread and >= 1.8x the 1-thread
raw rate on 2 threads; replay >= 500k tx/s; a 1M-tx ledger opened in < 1 GiB.
Usage: python benchmarks/bench_ledger.py [--replay-tx N] [--accounts N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import tagger as tg
from tagger import crypto
from tagger._core import ledger as _c

BLOCK = 1_000


def setup(n_accounts: int, disk: str | None = None):
    if disk:
        net = tg.Network.open(disk, sync=False, snapshot_every=0)
    else:
        net = tg.Network.memory()
    accts = []
    with net.batch():
        for i in range(n_accounts):
            accts.append(net.create_account(f"u{i}", fund=10**12))
    return net, accts


def sign_blocks(net, accts, n_tx: int, seed: int = 0) -> list[list[bytes]]:
    rng = random.Random(seed)
    n = len(accts)
    nonces = {a.address_bytes: net.nonce(a) for a in accts}
    idx, to, amounts, nonce_list = [], [], [], []
    for _ in range(n_tx):
        s = rng.randrange(n)
        d = (s + 1 + rng.randrange(n - 1)) % n
        a = accts[s].address_bytes
        idx.append(s)
        to.append(accts[d].address_bytes)
        amounts.append(1 + rng.randrange(1000))
        nonce_list.append(nonces[a])
        nonces[a] += 1
    txs = _c.make_transfers([a.signing_key._k for a in accts], idx, to, amounts, nonce_list, net.chain_id, 0)
    return [txs[i:i + BLOCK] for i in range(0, n_tx, BLOCK)]


def raw_verify_rate(records: list[bytes], threads: int) -> float:
    from tagger import codec
    msgs, sigs, keys = [], [], []
    for r in records:
        body, sig = codec.decode(r)
        msgs.append(_c.tx_id(r))
        sigs.append(sig)
        keys.append(codec.decode(body)[3])
    crypto.verify_batch(msgs[:100], sigs[:100], keys[:100], threads=threads)  # warm up
    t0 = time.perf_counter()
    ok = crypto.verify_batch(msgs, sigs, keys, threads=threads)
    dt = time.perf_counter() - t0
    assert ok.all()
    return len(msgs) / dt


def apply_rate(net, blocks: list[list[bytes]], threads: int) -> float:
    t0 = time.perf_counter()
    for b in blocks:
        net._led.apply_block(b, threads)
    return sum(map(len, blocks)) / (time.perf_counter() - t0)


REPLAY_CHILD = r"""
import resource, sys, time
import tagger as tg
from tagger._core import ledger as _c
t0 = time.perf_counter()
led = _c.Ledger.open(sys.argv[1], snapshot_every=0, read_only=True)
dt = time.perf_counter() - t0
rep = led.open_report()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(rep["transactions"], dt, rss, led.height)
"""


def replay(n_tx: int, n_accounts: int, threads: int) -> dict:
    d = tempfile.mkdtemp(prefix="tagger-bench-")
    try:
        net, accts = setup(n_accounts, disk=os.path.join(d, "m"))
        t0 = time.perf_counter()
        done = 0
        while done < n_tx:
            chunk = min(100_000, n_tx - done)
            for b in sign_blocks(net, accts, chunk, seed=done):
                net._led.apply_block(b, threads)
            done += chunk
        build = time.perf_counter() - t0
        net.close()
        size = os.path.getsize(os.path.join(d, "m", "blocks.log"))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run([sys.executable, "-c", REPLAY_CHILD, os.path.join(d, "m")], capture_output=True,
                             text=True, env=env, check=True)
        ntx, dt, rss, height = out.stdout.split()
        return {"tx": int(ntx), "seconds": float(dt), "rate": int(ntx) / float(dt), "rss": int(rss),
                "log_bytes": size, "build_seconds": build, "blocks": int(height) + 1}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tagger_single_tx_rate(n: int = 300) -> float:
    """The same shape as eth-tester's auto-mining: sign, apply and seal one block per transfer."""
    net = tg.Network.memory()
    a = net.create_account("a", fund=10**9)
    b = net.create_account("b")
    t0 = time.perf_counter()
    for _ in range(n):
        net.transfer(a, b, 1)
    return n / (time.perf_counter() - t0)


def eth_tester_rate(n: int = 300) -> str:
    try:
        from eth_tester import EthereumTester  # type: ignore
    except Exception:
        return "skipped: eth-tester (py-evm) is not installed (pip install 'eth-tester[py-evm]')"
    t = EthereumTester()
    a, b = t.get_accounts()[:2]
    t.send_transaction({"from": a, "to": b, "gas": 21000, "value": 1})  # warm up
    t0 = time.perf_counter()
    for _ in range(n):
        t.send_transaction({"from": a, "to": b, "gas": 21000, "value": 1})
    eth = n / (time.perf_counter() - t0)
    ours = tagger_single_tx_rate(n)
    return (f"eth-tester {eth:,.0f} tx/s vs tagger net.transfer {ours:,.0f} tx/s (both: sign, apply, seal one block "
            f"per value transfer, same process) = {ours / eth:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replay-tx", type=int, default=int(os.environ.get("REPLAY_TX", 1_000_000)))
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--apply-tx", type=int, default=10_000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} logical CPUs")
    net, accts = setup(args.accounts)
    blocks = sign_blocks(net, accts, 2 * args.apply_tx)
    flat = [t for b in blocks for t in b]
    raw1 = raw_verify_rate(flat[: args.apply_tx], 1)
    raw2 = raw_verify_rate(flat[: args.apply_tx], 2)
    half = len(blocks) // 2
    ap1 = apply_rate(net, blocks[:half], 1)
    ap2 = apply_rate(net, blocks[half:], 2)
    net.verify()
    rows = [("raw Ed25519 verify, 1 thread", raw1, 1.0), ("raw Ed25519 verify, 2 threads", raw2, raw2 / raw1),
            ("ledger apply (blocks of 1,000), 1 thread", ap1, ap1 / raw1),
            ("ledger apply (blocks of 1,000), 2 threads", ap2, ap2 / raw1)]
    print(f"{'measure':<44}{'tx/s':>12}{'x raw(1)':>10}")
    for name, rate, ratio in rows:
        print(f"{name:<44}{rate:>12,.0f}{ratio:>10.3f}")
    print(f"apply/raw on 1 thread: {ap1 / raw1:.3f} (target >= 0.90); apply(2)/raw(1): {ap2 / raw1:.3f} (target >= 1.8)")
    r = replay(args.replay_tx, args.accounts, 2)
    print(f"replay: {r['tx']:,} tx in {r['blocks']:,} blocks, log {r['log_bytes'] / 2**20:.0f} MiB, opened in "
          f"{r['seconds']:.2f} s = {r['rate']:,.0f} tx/s (target >= 500,000); peak RSS of the opening process "
          f"{r['rss'] / 2**20:.0f} MiB (target < 1024); building it took {r['build_seconds']:.0f} s")
    print("eth-tester peer:", eth_tester_rate())


if __name__ == "__main__":
    main()
