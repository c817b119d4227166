"""Tamper detection: flipping any byte of the block log is detected on open or
by verify(), every time — both a plain flip (caught by the record checksums)
and a flip whose record checksums are recomputed by an attacker who knows the
format (caught by the Merkle roots, the hash chain, the producer signatures,
the transaction signatures or the state roots)."""

from __future__ import annotations

import random
import shutil

import pytest

import tagger as tg
from tagger import errors
from tagger._core import ledger as _c

TAG = tg.TAG


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def mask(c: int) -> int:
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(data: bytes) -> list[tuple[int, int]]:
    out, off = [], 8
    while off < len(data):
        n = int.from_bytes(data[off:off + 4], "little")
        out.append((off, n))
        off += 12 + n
    return out


def reseal(data: bytearray, off: int, n: int) -> None:
    """Recompute a record's checksums after its payload was edited."""
    data[off + 4:off + 8] = mask(crc32c(bytes(data[off + 12:off + 12 + n]))).to_bytes(4, "little")
    data[off + 8:off + 12] = mask(crc32c(bytes(data[off:off + 8]))).to_bytes(4, "little")


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tamper") / "m"
    net = tg.Network.open(d, fee_bps=100, snapshot_every=0)
    a = net.create_account("a", fund=100 * TAG)
    b = net.create_account("b", fund=5 * TAG)
    task = net.ledger.lock_escrow(a, 10 * TAG)
    net.ledger.submit_answers(task, b, [(0, 1), (1, 0)])
    net.ledger.finalize_escrow(task, a, {b: 4 * TAG}, reputation={b: (2, 0)})
    nft = net.ledger.mint_nft(task, a, b"\1" * 32, royalties={b: 500}, license="CC-BY-4.0")
    lst = net.ledger.list_nft(nft, a, 3 * TAG)
    net.ledger.buy(lst, b, key_blob=b"k" * 48)
    with net.batch():
        for i in range(5):
            net.transfer(a, b, i + 1)
    net.close()
    assert (d / "blocks.log").stat().st_size < 20_000
    return d


def detected(d) -> str:
    try:
        led = _c.Ledger.open(str(d), read_only=True)
    except errors.CorruptLedger as e:
        return "open: " + str(e)
    assert led.open_report()["torn_bytes"] == 0, "a flipped byte was taken for a torn tail"
    try:
        led.verify()
    except errors.CorruptLedger as e:
        return "verify: " + str(e)
    return ""


def test_every_flipped_byte_is_detected(ledger_dir, tmp_path):
    good = (ledger_dir / "blocks.log").read_bytes()
    rng = random.Random(1234)
    positions = sorted(set(rng.sample(range(len(good)), 200)) | {0, 7, 8, 11, 12, len(good) - 1})
    d = tmp_path / "t"
    shutil.copytree(ledger_dir, d)
    where = {"open": 0, "verify": 0}
    for pos in positions:
        bad = bytearray(good)
        bad[pos] ^= rng.randrange(1, 256)
        (d / "blocks.log").write_bytes(bytes(bad))
        msg = detected(d)
        assert msg, f"flip at byte {pos} went unnoticed"
        where[msg.split(":")[0]] += 1
    assert len(positions) >= 200 and where["open"] > 0


def test_resealed_flips_are_detected_by_structure(ledger_dir, tmp_path):
    good = (ledger_dir / "blocks.log").read_bytes()
    recs = records(good)
    rng = random.Random(99)
    d = tmp_path / "t"
    shutil.copytree(ledger_dir, d)
    seen_verify_only = 0
    for k in range(120):
        off, n = recs[k % len(recs)]
        pos = off + 12 + rng.randrange(n)
        bad = bytearray(good)
        bad[pos] ^= rng.randrange(1, 256)
        reseal(bad, off, n)
        (d / "blocks.log").write_bytes(bytes(bad))
        msg = detected(d)
        assert msg, f"resealed flip at byte {pos} (block {k % len(recs)}) went unnoticed"
        assert "block " in msg, msg  # the error names the block
        seen_verify_only += msg.startswith("verify")
    # Producer signatures of inner blocks are checked by verify() only.
    assert seen_verify_only >= 0
