"""The blob store: content addressing, idempotence, atomic sharded layout,
corruption detection on read, refusal of plaintext, the in-memory twin."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

import tagger as tg
from tagger.crypto import PrivateKey, open_sealed, seal, seal_file
from tagger.errors import DecodeError, InvalidArgument
from tagger.store import BlobStore

KEY = PrivateKey.generate()


def sealed(data: bytes) -> bytes:
    return seal(data, [KEY.public_key])


@pytest.fixture(params=["disk", "memory"])
def store(request, tmp_path) -> BlobStore:
    return BlobStore.open(tmp_path / "blobs") if request.param == "disk" else BlobStore.memory()


def test_put_get_contains(store: BlobStore) -> None:
    s = sealed(b"an upload")
    h = store.put(s)
    assert h == hashlib.sha256(s).digest()
    assert h in store and h.hex() in store and bytes(32) not in store and "zz" not in store
    assert store.get(h) == s and store[h.hex()] == s
    assert open_sealed(store.get(h), KEY) == b"an upload"
    assert store.put(s) == h and len(store) == 1          # idempotent
    with pytest.raises(KeyError):
        store.get(bytes(32))
    assert repr(store).startswith("BlobStore(")


def test_many_blobs_iterate_sorted_and_remove(store: BlobStore) -> None:
    hashes = {store.put(sealed(os.urandom(i))) for i in range(20)}
    assert set(store) == hashes and list(store) == sorted(hashes) and len(store) == 20
    h = next(iter(hashes))
    assert store.remove(h) and not store.remove(h) and h not in store
    del store[next(iter(store))]
    with pytest.raises(KeyError):
        del store[h]
    assert len(store) == 18


def test_refuses_plaintext(store: BlobStore) -> None:
    for raw in (b"", b"plain text upload", os.urandom(1000)):
        with pytest.raises(InvalidArgument, match="sealed"):
            store.put(raw)
    assert len(store) == 0


def test_bad_hash_argument(store: BlobStore) -> None:
    with pytest.raises(InvalidArgument):
        store.get(b"short")
    with pytest.raises(InvalidArgument):
        store.get("not hex")


def test_disk_layout_is_sharded_and_leaves_no_temp_files(tmp_path) -> None:
    store = BlobStore.open(tmp_path / "s")
    h = store.put(sealed(b"x"))
    p = tmp_path / "s" / "blobs" / h.hex()[:2] / h.hex()
    assert p.is_file() and store.path_of(h) == str(p)
    assert list((tmp_path / "s" / "tmp").iterdir()) == []
    assert store.path == str(tmp_path / "s")


def test_reopen_sees_the_blobs_and_cleans_crash_leftovers(tmp_path) -> None:
    store = BlobStore.open(tmp_path / "s")
    h = store.put(sealed(b"persist"))
    old = tmp_path / "s" / "tmp" / "deadbeef.123.tmp"
    old.write_bytes(b"half a blob")   # a crash mid-write, an hour ago
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    # A fresh temp file may be another process's write in progress: it stays.
    (tmp_path / "s" / "tmp" / "cafe.456.tmp").write_bytes(b"being written")
    again = BlobStore.open(tmp_path / "s")
    assert h in again and open_sealed(again[h], KEY) == b"persist"
    assert [f.name for f in (tmp_path / "s" / "tmp").iterdir()] == ["cafe.456.tmp"]


def test_corruption_on_disk_is_detected(tmp_path) -> None:
    store = BlobStore.open(tmp_path / "s")
    h = store.put(sealed(b"y" * 1000))
    p = tmp_path / "s" / "blobs" / h.hex()[:2] / h.hex()
    b = bytearray(p.read_bytes())
    b[200] ^= 1
    p.write_bytes(bytes(b))
    with pytest.raises(DecodeError, match="corrupt"):
        store.get(h)
    p.write_bytes(bytes(b[:100]))    # truncated
    with pytest.raises(DecodeError):
        store.get(h)


def test_put_file_streams_a_sealed_file(tmp_path) -> None:
    src, enc = tmp_path / "big.bin", tmp_path / "big.sealed"
    data = os.urandom(3 * 65536 + 5)
    src.write_bytes(data)
    seal_file(src, enc, [KEY.public_key])
    for store in (BlobStore.open(tmp_path / "s"), BlobStore.memory()):
        h = store.put_file(enc)
        assert h == hashlib.sha256(enc.read_bytes()).digest()
        assert open_sealed(store[h], KEY) == data
    with pytest.raises(InvalidArgument):
        BlobStore.open(tmp_path / "s").put_file(src)       # the plaintext file is refused


def test_concurrent_puts_of_the_same_blob(tmp_path) -> None:
    store = BlobStore.open(tmp_path / "s")
    s = sealed(os.urandom(100000))
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(store.put(s))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and store.get(results[0]) == s and len(store) == 1


def test_public_name() -> None:
    import tagger.store
    assert tagger.store.BlobStore is BlobStore and tg.crypto is not None
