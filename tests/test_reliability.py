"""Reliability of the on-disk market: never overwriting one, the writer lock, files
written before the blocks that refer to them (crash points), readers while a writer
appends, torn and flipped bytes at every offset of the log's tail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import tagger as tg
from tagger import errors
from tagger._core import ledger as _core_ledger

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))


def run_py(code: str, *args: str, timeout: int = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=env or ENV, timeout=timeout)


# ---------------------------------------------------------------- never overwrite a market

@pytest.mark.parametrize("leftover", ["wallet.keystore", "blobs", "tasks", "manifests"])
def test_open_refuses_a_market_whose_log_is_missing(tmp_path, leftover):
    d = tmp_path / "m"
    net = tg.Network.open(d)
    a = net.create_account("a", fund=5)
    net.store.put(tg.crypto.seal(b"x", [a.public_key]))
    (d / "tasks").mkdir()
    (d / "manifests").mkdir()
    net.close()
    (d / "blocks.log").unlink()
    for f in list(d.iterdir()):
        if f.name not in (leftover, "LOCK"):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
    before = sorted(p.name for p in d.rglob("*"))
    for kw in ({}, {"create": True}, {"read_only": True}):
        with pytest.raises(errors.CorruptLedger, match="log missing") as e:
            tg.Network.open(d, **kw)
        assert str(d / "blocks.log") in str(e.value)
    assert sorted(p.name for p in d.rglob("*")) == before   # nothing created over it


def test_open_creates_only_in_a_new_or_empty_directory(tmp_path):
    tg.Network.open(tmp_path / "new").close()              # does not exist: created
    (tmp_path / "empty").mkdir()
    tg.Network.open(tmp_path / "empty").close()            # empty: created
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(errors.LedgerError, match="create=True"):
        tg.Network.open(tmp_path / "other")
    assert not (tmp_path / "other" / "blocks.log").exists()
    tg.Network.open(tmp_path / "other", create=True).close()
    with pytest.raises(errors.LedgerError, match="no ledger"):
        tg.Network.open(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def test_deleted_lock_file_does_not_let_a_second_writer_in(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d)
    net.create_account("a", fund=3)
    (d / "LOCK").unlink()
    code = """
        import sys, tagger as tg
        try:
            tg.Network.open(sys.argv[1])
            print("OPENED")
        except tg.errors.LedgerLocked as e:
            print("LOCKED", e)
    """
    out = run_py(code, str(d))
    assert "LOCKED" in out.stdout, out.stdout + out.stderr
    with pytest.raises(errors.LedgerLocked):                # a second open in this process, too
        tg.Network.open(d)
    assert tg.Network.open(d, read_only=True).height == net.height
    net.transfer("a", "issuer", 1)                          # the first writer carries on
    net.close()
    again = tg.Network.open(d)
    assert again.balance("a") == 2
    again.verify()
    again.close()


# ---------------------------------------------------------------- crash points: files before blocks

CRASH_SCRIPT = """
    import sys
    import pandas as pd
    import tagger as tg
    import tagger.network as tn

    d, op, step = sys.argv[1:4]
    net = tg.Network.open(d, snapshot_every=0)
    def at(name):
        if name == op:
            tn._crash_at = step
    owner = net.create_account("owner", fund=1000 * tg.TAG)
    crowd = net.create_accounts(["w0", "w1", "w2"], fund=10 * tg.TAG)
    at("account")
    net.create_account("victim", fund=123)
    at("task")
    texts = pd.Series([f"Review {i}: {'great' if i % 2 else 'awful'} product" for i in range(6)])
    task = net.publish_task(owner=owner, title="Reviews", description="Label product reviews as positive or negative.",
                            kind="classification", labels=["pos", "neg"], items=texts, overlap=3,
                            budget=30 * tg.TAG, categories=0, method="majority_vote")
    task.assign(crowd)
    rows = [(i, w.name, "pos" if i % 2 else "neg") for i in task.items["item_id"] for w in crowd]
    task.submit_many(pd.DataFrame(rows, columns=["item_id", "worker", "label"]))
    task.finalize("majority_vote")
    at("nft")
    task.mint_nft(license="CC-BY-4.0")
    print("DONE")
"""

STEPS = {"account": ["after_wallet_write", "before_commit", "after_commit"],
         "task": ["after_task_record", "before_commit", "after_commit"],
         "nft": ["after_manifest_write", "before_commit", "after_commit"]}


def _check_all_or_nothing(d: Path) -> dict:
    """Reopen after a crash: everything the ledger names has its files."""
    net = tg.Network.open(d)
    net.verify()
    seen = {"victim": False, "task": False, "nft": False}
    wallet = set(net._wallet)
    for a in net.accounts.itertuples():
        if a.balance > 0 or a.name == "victim":
            assert a.name in wallet, f"account {a.name} is on the ledger without its keys"
            net.account(a.name)
    seen["victim"] = "victim" in set(net.accounts["name"])
    if "owner" in wallet:
        h = net.history("owner")
        for txid in h.loc[h["kind"].isin(["escrow_lock", "publish"]), "txid"]:
            t = net.task(txid)                      # the record is readable
            assert t.id.hex() == txid
            seen["task"] = True
        for txid in h.loc[h["kind"] == "nft_mint", "txid"]:
            manifest, leaves = net._load_manifest(bytes.fromhex(txid))
            assert manifest["task_id"] and leaves
            seen["nft"] = True
        assert len(net.nfts()) == int(seen["nft"])
    net.close()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("op,step", [(op, s) for op, steps in STEPS.items() for s in steps])
def test_crash_at_each_step_is_all_or_nothing(tmp_path, op, step):
    d = tmp_path / "m"
    out = run_py(CRASH_SCRIPT, str(d), op, step)
    assert out.returncode == 1 and "DONE" not in out.stdout, out.stdout + out.stderr[-3000:]
    seen = _check_all_or_nothing(d)
    key = {"account": "victim", "task": "task", "nft": "nft"}[op]
    # Crashing after the commit keeps the operation; before it, the operation is simply absent.
    assert seen[key] == (step == "after_commit"), (op, step, seen)


def test_failed_commit_removes_the_files_of_its_block(tmp_path, monkeypatch):
    net = tg.Network.open(tmp_path / "m")
    owner = net.create_account("owner", fund=100 * tg.TAG)
    real = net._core

    class Failing:
        def __getattr__(self, name):
            return getattr(real, name)

        def commit(self, *a):
            raise errors.LedgerError("disk full (simulated)")

    net._core = Failing()
    texts = pd.Series(["good product", "bad product"])
    with pytest.raises(errors.LedgerError, match="disk full"):
        net.publish_task(owner=owner, title="t", description="Label product reviews.", kind="classification",
                         labels=["pos", "neg"], items=texts, overlap=1, budget=tg.TAG, categories=0)
    with pytest.raises(errors.LedgerError, match="disk full"):
        net.create_account("ghost", fund=5)
    net._core = real
    assert real.pending == 0
    del real
    assert list((tmp_path / "m" / "tasks").glob("*")) == []
    assert "ghost" not in net._wallet and net.tasks == []
    net.close()
    again = tg.Network.open(tmp_path / "m")
    assert "ghost" not in again._wallet
    again.create_account("ghost")                           # the name is free
    again.close()


def test_damaged_task_or_manifest_file_is_corrupt_ledger_naming_it(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d)
    owner = net.create_account("owner", fund=100 * tg.TAG)
    task = net.publish_task(owner=owner, title="t", description="Label product reviews.", kind="classification",
                            labels=["pos", "neg"], items=pd.Series(["good", "bad"]), overlap=1, budget=tg.TAG,
                            categories=0)
    net.close()
    rec = d / "tasks" / task.id.hex()
    good = rec.read_bytes()
    for bad in (b"zz", b"", good[:10], b"\xff\xfe"):
        rec.write_bytes(bad)
        with pytest.raises(errors.CorruptLedger, match=str(rec)):
            tg.Network.open(d)
        with pytest.raises(errors.CorruptLedger, match=str(rec)):
            tg.Network.open(d, read_only=True)
    rec.write_bytes(good)
    (d / "manifests").mkdir()
    man = d / "manifests" / ("ab" * 32 + ".json")
    for bad in (b"{", b"[]", b'{"manifest": {}, "leaves": ["zz"]}', b'{"manifest": 1, "leaves": []}'):
        man.write_bytes(bad)
        with pytest.raises(errors.CorruptLedger, match=str(man)):
            tg.Network.open(d)
    man.unlink()
    (d / "tasks" / (task.id.hex() + ".tmp")).write_bytes(b"half")   # an interrupted write is ignored
    again = tg.Network.open(d)
    assert again.task(task.id).id == task.id
    again.close()
    # The sealed record the file names is gone from the blob store.
    ref = good.decode().strip()
    (d / "blobs" / "blobs" / ref[:2] / ref).unlink()
    again = tg.Network.open(d)
    with pytest.raises(errors.CorruptLedger, match="missing from the blob store"):
        again.task(task.id)
    again.close()


# ---------------------------------------------------------------- readers while a writer appends

WRITER_SCRIPT = """
    import sys, tagger as tg
    # A snapshot after every block makes the old failure (a snapshot newer than
    # the prefix a reader mapped) likely; the writer stops at a bounded height
    # so the test's time stays bounded, and waits to be killed.
    net = tg.Network.open(sys.argv[1], snapshot_every=1, sync=False)
    a, b = net.create_accounts(["a", "b"], fund=10**9)
    print("READY", flush=True)
    i = 0
    while net.height < 1200:
        with net.batch():
            for _ in range(1 + i % 4):
                net.transfer(a, b, 1)
        i += 1
    sys.stdin.read()
"""


N_READS = 20


@pytest.mark.slow
def test_read_only_open_and_verify_while_a_writer_appends(tmp_path):
    d = tmp_path / "m"
    w = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER_SCRIPT), str(d)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    heights = []
    try:
        assert w.stdout.readline().strip() == "READY", w.stderr.read()
        for _ in range(N_READS):
            ro = tg.Network.open(d, read_only=True)
            rep = ro.verify(threads=1)
            assert rep["blocks"] == ro.height + 1 == ro.open_report()["blocks"]
            assert ro.supply()["minted"] == 2 * 10**9
            heights.append(ro.height)
            ro.close()
        out = subprocess.run([sys.executable, "-m", "tagger", "verify", str(d)], capture_output=True, text=True,
                             env=ENV, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("OK"), out.stdout + out.stderr
        assert w.poll() is None, w.stderr.read()
    finally:
        w.kill()
        w.wait()
        for f in (w.stdin, w.stdout, w.stderr):
            f.close()
    assert heights == sorted(heights) and heights[-1] > heights[0], heights
    print(f"\nreader runs: {N_READS} read-only opens + verify, heights {heights[0]}..{heights[-1]}")
    again = tg.Network.open(d)       # the killed writer's log opens (a torn tail, if any, is cut)
    again.verify()
    again.close()


# ---------------------------------------------------------------- torn and flipped bytes at every offset

def _records(log: bytes) -> list[tuple[int, int]]:
    """(start, end) of every framed record (docs/ledger.md: length(4, LE) crc crc payload)."""
    out, off = [], 8
    while off < len(log):
        n = int.from_bytes(log[off:off + 4], "little")
        out.append((off, off + 12 + n))
        off += 12 + n
    assert off == len(log)
    return out


@pytest.mark.slow
def test_every_offset_of_the_last_two_records_torn_or_flipped(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d, snapshot_every=0)
    a, b = net.create_accounts(["a", "b"], fund=1000)
    roots = {}
    for i in range(3):
        net.transfer(a, b, 1 + i)
        roots[net.height] = net.state_root()
    roots[net.height - 3] = None
    top = net.height
    net.close()
    log = (d / "blocks.log").read_bytes()
    recs = _records(log)
    assert len(recs) == top + 1
    first = recs[-2][0]
    work = tmp_path / "w"
    shutil.copytree(d, work)
    wlog = work / "blocks.log"
    checked = 0
    for off in range(first, len(log)):
        # Truncated at `off`: the blocks wholly before it remain, the partial record is cut.
        # (The core Ledger is opened directly: the wallet's KDF would dominate the time.)
        whole = sum(1 for s, e in recs if e <= off)
        wlog.write_bytes(log[:off])
        led = _core_ledger.Ledger.open(str(work))
        assert led.height == whole - 1, off
        assert led.open_report()["torn_bytes"] == off - recs[whole - 1][1]
        if roots.get(led.height) is not None:
            assert led.state_root() == roots[led.height]
        del led
        assert wlog.stat().st_size == recs[whole - 1][1]          # cut back to the last whole record
        # One byte flipped at `off`: always refused, never accepted as different data.
        bad = bytearray(log)
        bad[off] ^= 0x5A
        wlog.write_bytes(bytes(bad))
        for ro in (True, False):
            with pytest.raises(errors.CorruptLedger, match="block"):
                _core_ledger.Ledger.open(str(work), read_only=ro)
        assert wlog.read_bytes() == bytes(bad)                   # a refused open changes nothing
        checked += 1
    # And through the Network API, once each way.
    wlog.write_bytes(log[:len(log) - 5])
    net = tg.Network.open(work)
    assert net.height == top - 1 and net.state_root() == roots[top - 1]
    net.close()
    assert checked == len(log) - first
    print(f"\ntorn/flipped: {checked} offsets of the last two records")


def test_cli_verify_reports_how_far_it_checked_a_torn_log(tmp_path, capsys):
    from tagger.__main__ import main
    d = tmp_path / "m"
    net = tg.Network.open(d, snapshot_every=0)
    net.create_account("a", fund=3)
    h = net.height
    net.close()
    log = d / "blocks.log"
    log.write_bytes(log.read_bytes()[:-7])       # the last record cut short, as if being written
    size = log.stat().st_size
    assert main(["verify", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {h} blocks") and f"verified blocks 0..{h - 1}" in out and "not checked" in out
    assert log.stat().st_size == size            # a reader never cuts the tail


def test_creating_writes_the_wallet_exclusively(tmp_path):
    from tagger.network import _write_atomic
    f = tmp_path / "wallet.keystore"
    _write_atomic(f, b"first", 0o600, exclusive=True)
    with pytest.raises(FileExistsError):
        _write_atomic(f, b"second", 0o600, exclusive=True)     # a second creator never replaces the keys
    assert f.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == ["wallet.keystore"]
    _write_atomic(f, b"third", 0o600)                          # later saves replace it
    assert f.read_bytes() == b"third" and oct(f.stat().st_mode & 0o777) == oct(0o600)
