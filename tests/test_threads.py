"""Thread safety: one Network (and its C++ objects) shared by many Python threads.

The soak test runs 8 threads on one on-disk network: transfers, account
creation, batches, task publishing and answers, balance reads and verify(),
then closes, reopens and checks that every acknowledged operation is there.
Before the fix two threads calling ``net.transfer`` aborted the process
(double free) and damaged the block log.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors

SOAK_SECONDS = 6.0
N_SENDERS = 3


def _run(workers: list, seconds: float) -> list[BaseException]:
    stop = threading.Event()
    errs: list[BaseException] = []
    barrier = threading.Barrier(len(workers))

    def wrap(fn):
        def go():
            barrier.wait()
            try:
                fn(stop)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errs.append(e)
                stop.set()
        return go

    ts = [threading.Thread(target=wrap(fn), daemon=True) for fn in workers]
    for t in ts:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in ts:
        t.join(120)
        assert not t.is_alive(), "a thread hung"
    return errs


@pytest.mark.slow
def test_soak_eight_threads_on_one_on_disk_network(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d, snapshot_every=16)
    fund = 1_000_000
    senders = net.create_accounts([f"s{i}" for i in range(N_SENDERS)], fund=fund)
    sink = net.create_account("sink")
    owner = net.create_account("owner", fund=10_000 * tg.TAG)
    crowd = net.create_accounts([f"w{i}" for i in range(3)], fund=10 * tg.TAG)

    sent = [0] * N_SENDERS           # units each sender had acknowledged
    batched = [0]                    # units sent in 2-transfer batches by one thread
    created: list[str] = []          # accounts whose create_account returned
    tasks: list[tuple[bytes, int]] = []  # (task id, answers acknowledged)
    uploads: list[tuple[bytes, bytes, bool]] = []  # (task id, ciphertext hash, accepted)
    counts = {"transfers": 0, "batches": 0, "creates": 0, "reads": 0, "verifies": 0, "tasks": 0, "answers": 0, "uploads": 0}

    def sender(i):
        def go(stop):
            rng = np.random.default_rng(i)
            while not stop.is_set():
                dst = senders[(i + 1 + int(rng.integers(N_SENDERS - 1))) % N_SENDERS] if rng.random() < 0.5 else sink
                net.transfer(senders[i], dst, 1, memo=f"t{i}")
                sent[i] += 1
                counts["transfers"] += 1
        return go

    def creator(stop):
        k = 0
        while not stop.is_set():
            net.create_account(f"new{k}", fund=7)
            created.append(f"new{k}")
            k += 1
            counts["creates"] += 1

    def batcher(stop):
        # Its transactions must commit together and never mix with other threads' blocks.
        a = net.create_account("batcher", fund=fund)
        while not stop.is_set():
            with net.batch():
                t1 = net.transfer(a, sink, 2)
                t2 = net.transfer(a, sink, 3)
            # The block holding t1 holds exactly the batch.
            blk = _block_with(net, t1)
            assert sorted(t.txid for t in blk.transactions) == sorted([t1, t2]), "another thread's tx in the batch"
            batched[0] += 5
            counts["batches"] += 1

    def reader(stop):
        while not stop.is_set():
            s = net.supply()
            assert s["balances"] + s["escrowed"] + s["staked"] == s["minted"]
            for a in senders:
                assert 0 <= net.balance(a) <= fund * N_SENDERS
            net.history(senders[0])
            net.accounts
            counts["reads"] += 1

    def verifier(stop):
        while not stop.is_set():
            r = net.verify(threads=1)
            assert r["blocks"] >= 1
            counts["verifies"] += 1

    def tasker(stop):
        texts = [f"Review {i}: the product {'works well' if i % 2 else 'broke'}" for i in range(6)]
        while not stop.is_set():
            task = net.publish_task(owner=owner, title="Review sentiment",
                                    description="Label product reviews as positive or negative.",
                                    kind="classification", labels=["pos", "neg"], items=pd.Series(texts),
                                    overlap=1, budget=10 * tg.TAG, categories=0)
            counts["tasks"] += 1
            row = task.assign(crowd).iloc[0]
            task.submit(row["worker"], row["item_id"], "pos")
            tasks.append((task.id, 1))
            counts["answers"] += 1
            # A collection task and one upload (verified, sealed, stored, receipt on the ledger).
            k = counts["tasks"]
            coll = net.publish_task(owner=owner, title="Collect card questions", kind="collection", items=2,
                                    description="Questions a bank customer asks about card payments.",
                                    budget=2 * tg.TAG, categories=0,
                                    verify={"examples": ["Why was my card payment declined?"]})
            up = coll.upload(crowd[k % 3], f"Why was card payment number {k} declined at the shop?".encode())
            uploads.append((coll.id, up.ciphertext_hash, up.status == "accepted"))
            counts["uploads"] += 1

    workers = [sender(i) for i in range(N_SENDERS)] + [creator, batcher, reader, verifier, tasker]
    assert len(workers) == 8
    errs = _run(workers, SOAK_SECONDS)
    assert not errs, errs
    counts["transfers"] = sum(sent)   # the shared counter is only approximate (unlocked +=)
    assert min(counts["transfers"], counts["creates"], counts["batches"], counts["reads"], counts["verifies"]) > 0
    print(f"\nsoak (8 threads, {SOAK_SECONDS:.0f} s): {counts}")

    height = net.height
    root = net.state_root()
    net.verify()
    net.close()
    with pytest.raises(errors.LedgerError):
        net.transfer(senders[0], sink, 1)

    again = tg.Network.open(d)
    assert again.height == height and again.state_root() == root
    rep = again.verify()
    assert rep["blocks"] == height + 1
    for i, a in enumerate(senders):
        assert again.nonce(a) == 1 + sent[i], f"sender {i}: nonce != 1 + acknowledged transfers"
        assert again.balance(a) + sent[i] - _received(again, a, senders) == fund
    assert again.balance("batcher") == fund - batched[0]
    for name in created:
        assert again.balance(name) == 7, name
        assert again.account(name).address  # keys were written before the block
    for tid, n in tasks:
        info = again.ledger.task(tid)
        assert info is not None and info["n_answers"] >= n
        assert again.task(tid).id == tid     # the record is readable
    for tid, blob, accepted in uploads:
        info = again.ledger.task(tid)
        assert info is not None and info["n_uploads"] == int(accepted)
        if blob is not None:                        # rejected uploads are not stored
            assert again.store.get(blob)            # the sealed upload is in the store
    s = again.supply()
    assert s["balances"] + s["escrowed"] + s["staked"] == s["minted"]
    again.close()


def _block_with(net, txid):
    for h in range(net.height, 0, -1):
        blk = net.block(h)
        if any(t.txid == txid for t in blk.transactions):
            return blk
    raise AssertionError("transaction not found")


def _received(net, acct, senders):
    """Units acct received from the other senders (from the ledger's history)."""
    h = net.history(acct)
    inc = h[(h["kind"] == "transfer") & (~h["outgoing"])]
    return int(inc["amount"].sum())


def test_memory_network_transfers_from_many_threads():
    net = tg.Network.memory()
    accts = net.create_accounts([f"a{i}" for i in range(6)], fund=10_000)
    n = 150

    def go(i):
        def run(stop):
            for _ in range(n):
                net.transfer(accts[i], accts[(i + 1) % 6], 1)
        return run

    errs = _run([go(i) for i in range(6)], 0.0)
    assert not errs, errs
    for a in accts:
        assert net.balance(a) == 10_000 and net.nonce(a) == 1 + n
    net.verify()


def test_sha256_shared_by_threads_does_not_crash():
    h = tg.crypto.Sha256()
    chunk = b"x" * (1 << 17)  # large enough that the binding releases the GIL

    def run(stop):
        for _ in range(20):
            h.update(chunk)

    errs = _run([run] * 4, 0.0)
    assert not errs, errs
    assert h.digest() == tg.crypto.sha256(chunk * 80)


def test_embedder_refit_while_other_threads_embed():
    e = tg.match.Embedder(hash_bits=14)
    corpus = [f"label images of cats number {i}" for i in range(400)]
    e.fit(corpus[:10])

    def refit(stop):
        for k in range(8):
            e.fit(corpus[k:k + 300])

    def embed(stop):
        for _ in range(40):
            e.transform(corpus[:200])

    errs = _run([refit, embed, embed], 0.0)
    assert not errs, errs


def test_minhash_lsh_insert_and_query_from_threads():
    from tagger._core import verify as cv
    lsh = cv.MinHashLSH(64, 0.8)
    docs = [f"document number {i} about the weather in town {i % 7}" for i in range(300)]

    def ins(stop):
        for k in range(0, 300, 50):
            lsh.insert_many(docs[k:k + 50])

    def qry(stop):
        for _ in range(20):
            lsh.query_many(docs[:50])

    errs = _run([ins, qry, qry], 0.0)
    assert not errs, errs
    assert len(lsh) == 300


def test_batch_holds_other_threads_out():
    net = tg.Network.memory()
    a, b = net.create_accounts(["a", "b"], fund=100)
    entered, release = threading.Event(), threading.Event()
    done = []

    def other():
        entered.wait()
        net.transfer(b, a, 1)   # must wait for the batch to end
        done.append(net.height)

    t = threading.Thread(target=other)
    t.start()
    with net.batch():
        net.transfer(a, b, 5)
        entered.set()
        time.sleep(0.2)
        assert not done         # the other thread's transfer has not run
        h = net.height
    t.join(30)
    assert done == [h + 2]
    assert [x.kind for x in net.block(h + 1).transactions] == ["transfer"]


def test_one_task_shared_by_threads_records_every_answer_once():
    """Workers' clients submit to one Task object from their own threads while another
    thread polls its progress; every answer lands once and the task settles."""
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=100 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(6)], fund=10 * tg.TAG)
    task = net.publish_task(owner=owner, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=list(range(40)), overlap=3, budget=60 * tg.TAG, categories=0)
    asg = task.assign(ws)
    asg["label"] = "y"
    errs: list[BaseException] = []
    polls = []

    def answer(name, half):
        try:
            # Two threads per worker (its nonces are shared), several small submits each.
            mine = asg[asg["worker"] == name].iloc[half::2]
            for lo in range(0, len(mine), 3):
                task.submit_many(mine.iloc[lo:lo + 3][["item_id", "worker", "label"]])
        except BaseException as e:  # noqa: BLE001
            errs.append(e)

    def poll():
        try:
            for _ in range(30):
                polls.append(int(task.progress["answered"].sum()))
        except BaseException as e:  # noqa: BLE001
            errs.append(e)

    threads = [threading.Thread(target=answer, args=(w.name, h)) for w in ws for h in (0, 1)]
    threads.append(threading.Thread(target=poll))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errs, errs
    assert polls == sorted(polls)  # progress only grows
    assert len(task.answers()) == len(asg) == 120
    assert not task.answers().duplicated(["item_id", "worker"]).any()
    res = task.finalize()
    assert res.payouts.sum() <= 60 * tg.TAG and net.verify()["transactions"] > 0
