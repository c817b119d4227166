"""tagger.crypto: behaviour on good and bad input (the vectors are in test_wycheproof.py)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import tagger as tg
from tagger import crypto
from tagger._core import error_kinds
from tagger.errors import (DecryptionFailed, InvalidArgument, InvalidKey, InvalidSignature,
                           TaggerError)

ALGS = ["aes-256-gcm", "chacha20-poly1305"]


def test_every_cpp_error_kind_has_its_python_class():
    for kind in error_kinds():
        cls = getattr(tg.errors, kind)
        assert issubclass(cls, TaggerError), kind
        assert kind in tg.errors.__all__


def test_sha256_matches_hashlib_one_shot_and_streaming():
    data = np.random.default_rng(0).integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    assert crypto.sha256(data) == hashlib.sha256(data).digest()
    assert crypto.sha256(memoryview(data)[5:]) == hashlib.sha256(data[5:]).digest()
    h = crypto.Sha256()
    for i in range(0, len(data), 777_777):
        h.update(data[i:i + 777_777])
    assert h.digest() == hashlib.sha256(data).digest()
    with pytest.raises(InvalidArgument):
        h.update(b"more")
    assert crypto.sha256(b"") == hashlib.sha256(b"").digest()


def test_bytes_arguments_must_be_bytes_like():
    with pytest.raises(InvalidArgument, match="got str"):
        crypto.sha256("text")
    with pytest.raises(InvalidArgument, match="bytes-like"):
        crypto.sha256(12)
    with pytest.raises(InvalidArgument, match="itemsize"):
        crypto.sha256(np.zeros(4, dtype=np.int32))


def test_signatures_and_forgeries():
    sk = crypto.SigningKey.generate()
    sig = sk.sign(b"msg")
    assert len(sig) == 64
    sk.verify_key.verify(b"msg", sig)
    for bad_msg, bad_sig in [(b"msh", sig), (b"msg", sig[:-1] + bytes([sig[-1] ^ 1])), (b"msg", sig[:63]), (b"msg", b"")]:
        with pytest.raises(InvalidSignature):
            sk.verify_key.verify(bad_msg, bad_sig)
    other = crypto.SigningKey.generate()
    with pytest.raises(InvalidSignature):
        other.verify_key.verify(b"msg", sig)
    # seed export/import keeps the identity
    again = crypto.SigningKey.from_seed(sk.seed())
    assert again.verify_key == sk.verify_key and bytes(again.verify_key) == bytes(sk.verify_key)
    assert crypto.VerifyKey(bytes(sk.verify_key)) == sk.verify_key
    for n in (0, 31, 33):
        with pytest.raises(InvalidKey, match="32 bytes"):
            crypto.SigningKey.from_seed(bytes(n))
        with pytest.raises(InvalidKey, match="32 bytes"):
            crypto.VerifyKey(bytes(n))
    assert "VerifyKey(" in repr(sk.verify_key) and sk.seed().hex() not in repr(sk)


def test_verify_batch_flags_exactly_the_bad_items():
    keys = [crypto.SigningKey.generate() for _ in range(4)]
    msgs = [f"m{i}".encode() for i in range(300)]
    sigs = [keys[i % 4].sign(m) for i, m in enumerate(msgs)]
    vks = [keys[i % 4].verify_key for i in range(300)]
    bad = {3, 77, 150, 299}
    for i in bad:
        sigs[i] = sigs[i][:10] + bytes([sigs[i][10] ^ 4]) + sigs[i][11:]
    sigs[5] = b"short"  # malformed items are False, not an exception
    bad.add(5)
    for threads in (None, 1, 2):
        ok = crypto.verify_batch(msgs, sigs, vks, threads=threads)
        assert ok.dtype == np.bool_ and ok.shape == (300,)
        assert set(np.flatnonzero(~ok)) == bad
    assert crypto.verify_batch([], [], []).shape == (0,)
    with pytest.raises(InvalidArgument, match="same length"):
        crypto.verify_batch(msgs, sigs[:-1], vks)


def test_x25519_agreement_and_bad_keys():
    a, b = crypto.PrivateKey.generate(), crypto.PrivateKey.generate()
    assert a.exchange(b.public_key) == b.exchange(a.public_key)
    assert crypto.PrivateKey.from_bytes(bytes(a)).public_key == a.public_key
    with pytest.raises(InvalidKey, match="all zero"):
        a.exchange(bytes(32))
    with pytest.raises(InvalidKey, match="32 bytes"):
        crypto.PublicKey(bytes(31))
    with pytest.raises(InvalidKey, match="32 bytes"):
        crypto.PrivateKey.from_bytes(b"")


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 65_536, 1_000_003])
def test_aead_round_trip_and_tamper(alg, size):
    key, nonce = crypto.random_bytes(32), crypto.random_bytes(12)
    pt = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    ct = crypto.aead_encrypt(key, nonce, pt, b"hdr", alg=alg)
    assert len(ct) == size + crypto.AEAD_TAG_BYTES
    assert crypto.aead_decrypt(key, nonce, ct, b"hdr", alg=alg) == pt
    for pos in {0, len(ct) // 2, len(ct) - 1}:
        bad = bytearray(ct)
        bad[pos] ^= 0x10
        with pytest.raises(DecryptionFailed):
            crypto.aead_decrypt(key, nonce, bytes(bad), b"hdr", alg=alg)
    with pytest.raises(DecryptionFailed):
        crypto.aead_decrypt(key, nonce, ct, b"hdR", alg=alg)
    with pytest.raises(DecryptionFailed):
        crypto.aead_decrypt(key, nonce, ct[:-1], b"hdr", alg=alg)
    with pytest.raises(DecryptionFailed):
        crypto.aead_decrypt(crypto.random_bytes(32), nonce, ct, b"hdr", alg=alg)


@pytest.mark.parametrize("alg", ALGS)
def test_aead_bad_parameters(alg):
    with pytest.raises(InvalidKey, match="32 bytes, got 16"):
        crypto.aead_encrypt(bytes(16), bytes(12), b"x", alg=alg)
    with pytest.raises(InvalidArgument, match="12 bytes, got 8"):
        crypto.aead_encrypt(bytes(32), bytes(8), b"x", alg=alg)
    with pytest.raises(DecryptionFailed, match="shorter than the 16-byte tag"):
        crypto.aead_decrypt(bytes(32), bytes(12), bytes(15), alg=alg)
    with pytest.raises(InvalidArgument, match="unknown AEAD"):
        crypto.aead_encrypt(bytes(32), bytes(12), b"x", alg="aes-128-ecb")


def test_hkdf_and_hmac_edges():
    assert len(crypto.hkdf_sha256(b"", b"", b"", 8160)) == 8160
    assert crypto.hkdf_sha256(b"k", b"s", b"a", 0) == b""
    with pytest.raises(InvalidArgument, match="8160"):
        crypto.hkdf_sha256(b"k", b"s", b"i", 8161)
    assert crypto.hkdf_sha256(b"k", b"s", b"a", 32) != crypto.hkdf_sha256(b"k", b"s", b"b", 32)
    import hmac as std_hmac
    for key in (b"", b"k" * 100):
        assert crypto.hmac_sha256(key, b"data") == std_hmac.new(key, b"data", "sha256").digest()


def test_random_bytes():
    a, b = crypto.random_bytes(64), crypto.random_bytes(64)
    assert len(a) == 64 and a != b
    assert crypto.random_bytes(0) == b""
