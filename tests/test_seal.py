"""The sealed envelope: round trips at every size class, every tamper /
truncate / reorder / extend case, wrong recipients, key misuse, rewrap and
streaming. Each failure must be DecryptionFailed with no plaintext returned."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

import tagger as tg
from tagger.crypto import (ChaoticCipher, PrivateKey, PublicKey, SealWriter, SigningKey, hkdf_sha256,
                           aead_decrypt, open_sealed, open_sealed_file, open_sealed_stream, rewrap, seal,
                           seal_file, seal_stream, sealed_size)
from tagger.errors import DecryptionFailed, InvalidArgument, InvalidKey

CHUNK, SEALED_CHUNK = 65536, 65536 + 16


def header_size(n_recipients: int) -> int:
    return 60 + 80 * n_recipients


@pytest.fixture(scope="module")
def alice() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture(scope="module")
def bob() -> PrivateKey:
    return PrivateKey.generate()


def payload(n: int) -> bytes:
    return np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("n", [0, 1, 63, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 10 * 2**20])
def test_round_trip_sizes(alice: PrivateKey, n: int) -> None:
    data = payload(n)
    s = seal(data, [alice.public_key])
    assert len(s) == sealed_size(n, 1)
    assert open_sealed(s, alice) == data
    assert open_sealed(s, alice, threads=1) == data


def test_each_seal_is_fresh(alice: PrivateKey) -> None:
    a, b = seal(b"same", [alice.public_key]), seal(b"same", [alice.public_key])
    assert a != b and open_sealed(a, alice) == open_sealed(b, alice) == b"same"


def test_many_recipients_each_can_open(alice: PrivateKey, bob: PrivateKey) -> None:
    carol = PrivateKey.generate()
    s = seal(b"dataset", [alice.public_key, bytes(bob.public_key), carol.public_key])
    for k in (alice, bob, carol):
        assert open_sealed(s, k) == b"dataset"


def test_wrong_recipient(alice: PrivateKey, bob: PrivateKey) -> None:
    s = seal(payload(1000), [alice.public_key])
    with pytest.raises(DecryptionFailed, match="no recipient"):
        open_sealed(s, bob)


def test_payload_is_not_plain_aes_of_the_data(alice: PrivateKey) -> None:
    # The payload really goes through the chaotic layer: with the data key
    # recovered the way open_sealed does, AES-GCM alone yields chaotic ciphertext.
    data = payload(5000)
    s = seal(data, [alice.public_key])
    from tagger._core import seal as _s
    h = _s.parse_header(s)
    eph = h["ephemeral_keys"][0]
    shared = alice.exchange(PublicKey(eph))
    wk = hkdf_sha256(shared, eph + bytes(alice.public_key), b"tagger/seal/v1/x25519", 32)
    dk = aead_decrypt(wk, bytes(12), s[28 + 32:28 + 80], s[:26])
    nonce = h["nonce"]
    aead_key = hkdf_sha256(dk, nonce, b"tagger/seal/v1/aead", 32)
    inner = aead_decrypt(aead_key, bytes(11) + b"\x01", s[h["size"]:], s[:26])
    assert inner != data
    chaotic = ChaoticCipher(hkdf_sha256(dk, nonce, b"tagger/seal/v1/chaotic", 32), nonce)
    assert chaotic.decrypt(inner) == data


# ---- tampering --------------------------------------------------------------

@pytest.fixture(scope="module")
def three_chunks(alice: PrivateKey) -> tuple[bytes, bytes]:
    data = payload(2 * CHUNK + 500)
    return data, seal(data, [alice.public_key])


def flip(b: bytes, i: int) -> bytes:
    x = bytearray(b)
    x[i] ^= 1
    return bytes(x)


def test_every_region_bitflip_fails(alice: PrivateKey, three_chunks: tuple[bytes, bytes]) -> None:
    _, s = three_chunks
    h = header_size(1)
    positions = [0, 5, 6, 7, 8, 9, 12, 25, 26, 27, 28, 40, 60, 80, 107, h - 1,   # header fields, stanza, MAC
                 h, h + 1000, h + CHUNK, h + SEALED_CHUNK - 1,                    # chunk 0 body and tag
                 h + SEALED_CHUNK + 7, h + 2 * SEALED_CHUNK + 3, len(s) - 1]      # chunks 1, 2
    for i in positions:
        with pytest.raises(DecryptionFailed):
            open_sealed(flip(s, i), alice)


def test_truncation_at_every_boundary_fails(alice: PrivateKey, three_chunks: tuple[bytes, bytes]) -> None:
    _, s = three_chunks
    h = header_size(1)
    for cut in [0, 10, 27, h - 1, h, h + 15, h + 16, h + SEALED_CHUNK, h + SEALED_CHUNK + 16,
                h + 2 * SEALED_CHUNK, len(s) - 1]:
        with pytest.raises(DecryptionFailed):
            open_sealed(s[:cut], alice)


def test_truncation_of_an_exact_multiple_of_the_chunk_size(alice: PrivateKey) -> None:
    s = seal(payload(2 * CHUNK), [alice.public_key])
    h = header_size(1)
    assert len(s) == h + 2 * SEALED_CHUNK   # no empty trailing chunk: the full last one is flagged
    with pytest.raises(DecryptionFailed):
        open_sealed(s[:h + SEALED_CHUNK], alice)   # cut at a chunk boundary: flag mismatch
    with pytest.raises(DecryptionFailed):
        open_sealed(s + s[-16:], alice)            # an appended empty chunk


def test_reordered_and_duplicated_chunks_fail(alice: PrivateKey, three_chunks: tuple[bytes, bytes]) -> None:
    _, s = three_chunks
    h = header_size(1)
    c0, c1, c2 = s[h:h + SEALED_CHUNK], s[h + SEALED_CHUNK:h + 2 * SEALED_CHUNK], s[h + 2 * SEALED_CHUNK:]
    for body in (c1 + c0 + c2, c0 + c0 + c2, c0 + c1 + c1[:len(c2)], c0 + c2):
        with pytest.raises(DecryptionFailed):
            open_sealed(s[:h] + body, alice)


def test_chunks_from_another_item_fail(alice: PrivateKey) -> None:
    a, b = seal(payload(CHUNK + 10), [alice.public_key]), seal(payload(CHUNK + 10), [alice.public_key])
    h = header_size(1)
    with pytest.raises(DecryptionFailed):
        open_sealed(a[:h] + b[h:], alice)


def test_removed_or_swapped_stanza_fails(alice: PrivateKey, bob: PrivateKey) -> None:
    s = seal(b"x" * 100, [alice.public_key, bob.public_key])
    st0, st1 = s[28:108], s[108:188]
    swapped = s[:28] + st1 + st0 + s[188:]
    with pytest.raises(DecryptionFailed):          # the header MAC covers the stanza list
        open_sealed(swapped, alice)
    dropped = s[:26] + b"\x01\x00" + st0 + s[188:]
    with pytest.raises(DecryptionFailed):
        open_sealed(dropped, alice)


def test_low_order_ephemeral_key_in_a_stanza_is_skipped(alice: PrivateKey, bob: PrivateKey) -> None:
    # A stanza whose ephemeral key is a low-order point gives an all-zero shared
    # secret: opening must skip it (never use it, never raise InvalidKey) and then
    # fail as a forgery, for its recipient and for the others (the MAC covers it).
    s = seal(b"y" * 100, [alice.public_key, bob.public_key])
    for point in (bytes(32), bytes([1]) + bytes(31)):     # 0 and 1: both low order
        forged = s[:28] + point + s[60:]
        for key in (alice, bob):
            with pytest.raises(DecryptionFailed):
                open_sealed(forged, key)


def test_not_a_sealed_item(alice: PrivateKey) -> None:
    for junk in (b"", b"hello", os.urandom(500)):
        with pytest.raises(DecryptionFailed):
            open_sealed(junk, alice)


# ---- misuse -------------------------------------------------------------------

def test_recipient_errors(alice: PrivateKey) -> None:
    with pytest.raises(InvalidArgument):
        seal(b"x", [])
    with pytest.raises(InvalidArgument):
        seal(b"x", bytes(alice.public_key))           # a key where a list was expected
    with pytest.raises(InvalidKey):
        seal(b"x", [alice])                           # a private key
    with pytest.raises(InvalidKey):
        seal(b"x", [SigningKey.generate().verify_key])
    with pytest.raises(InvalidKey):
        seal(b"x", [b"\x01" * 31])
    with pytest.raises(InvalidKey):
        seal(b"x", [bytes(32)])                       # low-order point: all-zero shared secret
    with pytest.raises(InvalidKey):
        open_sealed(seal(b"x", [alice.public_key]), SigningKey.generate())
    assert open_sealed(seal(b"x", alice.public_key), alice) == b"x"   # a single PublicKey is accepted


# ---- rewrap -----------------------------------------------------------------

def test_rewrap_for_a_buyer(alice: PrivateKey, bob: PrivateKey) -> None:
    data = payload(CHUNK + 3)
    s = seal(data, [alice.public_key])
    both = rewrap(s, alice, [bob.public_key])
    assert open_sealed(both, alice) == data and open_sealed(both, bob) == data
    assert both[-(CHUNK + 3 + 32):] == s[-(CHUNK + 3 + 32):]   # payload chunks untouched
    only_bob = rewrap(s, alice, [bob.public_key], keep_existing=False)
    assert open_sealed(only_bob, bob) == data
    with pytest.raises(DecryptionFailed):
        open_sealed(only_bob, alice)
    with pytest.raises(DecryptionFailed):
        rewrap(s, bob, [bob.public_key])               # bob cannot grant himself access


# ---- streaming ----------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 5, CHUNK, 3 * CHUNK + 7])
def test_seal_writer_matches_open_sealed(alice: PrivateKey, n: int) -> None:
    data = payload(n)
    w = SealWriter([alice.public_key])
    parts = [w.header]
    for i in range(0, n, 10007):
        parts.append(w.update(data[i:i + 10007]))
    parts.append(w.finish())
    assert open_sealed(b"".join(parts), alice) == data
    assert "SealWriter" in repr(w)


def test_stream_and_file_round_trip(alice: PrivateKey, tmp_path) -> None:
    data = payload(3 * CHUNK + 11)
    sealed = io.BytesIO()
    seal_stream(io.BytesIO(data), sealed, [alice.public_key])
    out = io.BytesIO()
    assert open_sealed_stream(io.BytesIO(sealed.getvalue()), out, alice) == len(data)
    assert out.getvalue() == data

    src, enc, dec = tmp_path / "a.bin", tmp_path / "a.sealed", tmp_path / "a.out"
    src.write_bytes(data)
    seal_file(src, enc, [alice.public_key])
    assert open_sealed(enc.read_bytes(), alice) == data
    open_sealed_file(enc, dec, alice)
    assert dec.read_bytes() == data


def test_streaming_open_of_a_tampered_item_writes_nothing(alice: PrivateKey, tmp_path) -> None:
    data = payload(3 * CHUNK)
    s = bytearray(seal(data, [alice.public_key]))
    s[-5] ^= 1                                      # the last chunk: earlier chunks are fine
    out = io.BytesIO()
    with pytest.raises(DecryptionFailed):
        open_sealed_stream(io.BytesIO(bytes(s)), out, alice)
    assert out.getvalue() == b""
    enc, dec = tmp_path / "t.sealed", tmp_path / "t.out"
    enc.write_bytes(bytes(s))
    with pytest.raises(DecryptionFailed):
        open_sealed_file(enc, dec, alice)
    assert not dec.exists() and list(tmp_path.iterdir()) == [enc]
    enc.write_bytes(bytes(s[:-SEALED_CHUNK]))      # truncated at a chunk boundary
    with pytest.raises(DecryptionFailed):
        open_sealed_file(enc, dec, alice)
    with pytest.raises(DecryptionFailed):
        open_sealed_stream(io.BytesIO(bytes(s[:-SEALED_CHUNK])), io.BytesIO(), alice)


def test_seal_into_and_open_sealed_into_caller_buffers(alice: PrivateKey, bob: PrivateKey) -> None:
    from tagger._core import seal as core
    data = payload(2 * CHUNK + 5)
    out = np.zeros(sealed_size(len(data)), np.uint8)
    assert core.seal_into(data, [bytes(alice.public_key)], out, 1) == out.size
    assert open_sealed(out.tobytes(), alice) == data
    plain = bytearray(len(data))
    assert core.open_sealed_into(out, alice._k, plain, 1) == len(data) and bytes(plain) == data
    out[header_size(1) + 7] ^= 1                          # a flipped payload bit: nothing readable left
    plain = bytearray(b"\xff" * len(data))
    with pytest.raises(DecryptionFailed):
        core.open_sealed_into(out, alice._k, plain, 1)
    assert plain == bytearray(len(data))
    with pytest.raises(InvalidArgument, match="needs"):
        core.seal_into(data, [bytes(alice.public_key)], bytearray(len(data)), 1)
    with pytest.raises(InvalidArgument, match="writable"):
        core.seal_into(data, [bytes(alice.public_key)], bytes(out.size), 1)
    shared = bytearray(len(data) + out.size)
    with pytest.raises(InvalidArgument, match="overlaps"):
        core.seal_into(memoryview(shared)[:len(data)], [bytes(alice.public_key)], memoryview(shared)[10:], 1)


def test_public_names() -> None:
    for name in ("seal", "open_sealed", "rewrap", "ChaoticCipher", "SealWriter", "seal_file",
                 "open_sealed_file", "seal_stream", "open_sealed_stream", "sealed_size"):
        assert name in tg.crypto.__all__ and hasattr(tg.crypto, name)
