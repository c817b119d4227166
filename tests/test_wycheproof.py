"""Project Wycheproof vectors (../shared/vectors/wycheproof) against tagger.crypto.

Each test asserts the exact number of vectors it ran (and, where the API does
not offer a parameter set, the exact number it could not run), so a vector
can never be dropped silently.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter

import pytest

import tagger as tg
from tagger import crypto
from tagger.errors import DecryptionFailed, InvalidArgument, InvalidKey, InvalidSignature

from conftest import shared_path


def load(name: str) -> dict:
    return json.loads(shared_path("vectors", "wycheproof", name).read_text())


def vectors_of(doc: dict):
    for group in doc["testGroups"]:
        for t in group["tests"]:
            yield group, t


def check_aead(alg: str, group: dict, t: dict) -> str:
    """Run one AEAD vector; returns how it ended ('ok' or 'refused')."""
    key, iv = bytes.fromhex(t["key"]), bytes.fromhex(t["iv"])
    aad, msg = bytes.fromhex(t["aad"]), bytes.fromhex(t["msg"])
    sealed = bytes.fromhex(t["ct"]) + bytes.fromhex(t["tag"])
    if len(iv) != crypto.AEAD_NONCE_BYTES:
        # The API takes 96-bit nonces only: any other size must be refused,
        # whatever the vector says about it.
        with pytest.raises(InvalidArgument):
            crypto.aead_decrypt(key, iv, sealed, aad, alg=alg)
        with pytest.raises(InvalidArgument):
            crypto.aead_encrypt(key, iv, msg, aad, alg=alg)
        return "refused-nonce-size"
    if t["result"] == "valid":
        assert crypto.aead_encrypt(key, iv, msg, aad, alg=alg) == sealed, t["tcId"]
        assert crypto.aead_decrypt(key, iv, sealed, aad, alg=alg) == msg, t["tcId"]
        return "ok"
    assert t["result"] == "invalid"
    with pytest.raises(DecryptionFailed):
        crypto.aead_decrypt(key, iv, sealed, aad, alg=alg)
    return "refused"


def test_aes_256_gcm():
    doc = load("aes_gcm_test.json")
    outcome = Counter()
    for group, t in vectors_of(doc):
        if group["keySize"] != 256:
            outcome["skipped: API is AES-256-GCM only"] += 1
            continue
        assert group["tagSize"] == 128
        outcome[check_aead("aes-256-gcm", group, t)] += 1
    assert sum(outcome.values()) == doc["numberOfTests"] == 316
    assert outcome == {
        "ok": 39, "refused": 27, "refused-nonce-size": 39,
        "skipped: API is AES-256-GCM only": 211,
    }, outcome


def test_chacha20_poly1305():
    doc = load("chacha20_poly1305_test.json")
    outcome = Counter(check_aead("chacha20-poly1305", g, t) for g, t in vectors_of(doc))
    assert sum(outcome.values()) == doc["numberOfTests"] == 325
    assert outcome == {"ok": 256, "refused": 60, "refused-nonce-size": 9}, outcome


def test_xchacha20_poly1305_is_not_offered():
    # OpenSSL 3.0 has no XChaCha20-Poly1305 and tagger does not offer it; the
    # file is counted here so that its 315 vectors are visibly not run.
    doc = load("xchacha20_poly1305_test.json")
    assert sum(1 for _ in vectors_of(doc)) == doc["numberOfTests"] == 315
    with pytest.raises(InvalidArgument):
        crypto.aead_encrypt(bytes(32), bytes(12), b"", alg="xchacha20-poly1305")


def test_ed25519():
    doc = load("ed25519_test.json")
    outcome = Counter()
    for group, t in vectors_of(doc):
        vk = crypto.VerifyKey(bytes.fromhex(group["publicKey"]["pk"]))
        msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
        if t["result"] == "valid":
            vk.verify(msg, sig)
            outcome["ok"] += 1
        else:
            assert t["result"] == "invalid"
            with pytest.raises(InvalidSignature):
                vk.verify(msg, sig)
            outcome["refused"] += 1
    assert sum(outcome.values()) == doc["numberOfTests"] == 151
    assert outcome == {"ok": 88, "refused": 63}, outcome


def test_ed25519_batch_agrees_with_single():
    doc = load("ed25519_test.json")
    msgs, sigs, keys, expect = [], [], [], []
    for group, t in vectors_of(doc):
        msgs.append(bytes.fromhex(t["msg"]))
        sigs.append(bytes.fromhex(t["sig"]))
        keys.append(bytes.fromhex(group["publicKey"]["pk"]))
        expect.append(t["result"] == "valid")
    for threads in (1, 2):
        assert crypto.verify_batch(msgs, sigs, keys, threads=threads).tolist() == expect


def test_x25519():
    doc = load("x25519_test.json")
    outcome = Counter()
    for _, t in vectors_of(doc):
        priv = crypto.PrivateKey.from_bytes(bytes.fromhex(t["private"]))
        pub, shared = bytes.fromhex(t["public"]), bytes.fromhex(t["shared"])
        if shared == bytes(32):
            # Our rule: an all-zero shared secret (low-order peer key) is refused.
            assert t["result"] == "acceptable" and "ZeroSharedSecret" in t["flags"]
            with pytest.raises(InvalidKey):
                priv.exchange(pub)
            outcome["refused-zero-secret"] += 1
        else:
            assert t["result"] in ("valid", "acceptable")
            assert priv.exchange(pub) == shared, t["tcId"]
            outcome[t["result"]] += 1
    assert sum(outcome.values()) == doc["numberOfTests"] == 518
    assert outcome == {"valid": 264, "acceptable": 223, "refused-zero-secret": 31}, outcome


def test_hkdf_sha256():
    doc = load("hkdf_sha256_test.json")
    outcome = Counter()
    for _, t in vectors_of(doc):
        args = [bytes.fromhex(t[k]) for k in ("ikm", "salt", "info")]
        if t["result"] == "valid":
            assert crypto.hkdf_sha256(*args, t["size"]) == bytes.fromhex(t["okm"]), t["tcId"]
            outcome["ok"] += 1
        else:
            with pytest.raises(InvalidArgument):
                crypto.hkdf_sha256(*args, t["size"])
            outcome["refused"] += 1
    assert sum(outcome.values()) == doc["numberOfTests"] == 86
    assert outcome == {"ok": 83, "refused": 3}, outcome


def test_hmac_sha256():
    doc = load("hmac_sha256_test.json")
    outcome = Counter()
    for group, t in vectors_of(doc):
        n = group["tagSize"] // 8
        tag = crypto.hmac_sha256(bytes.fromhex(t["key"]), bytes.fromhex(t["msg"]))[:n]
        ok = hmac.compare_digest(tag, bytes.fromhex(t["tag"]))
        assert ok == (t["result"] == "valid"), t["tcId"]
        outcome["ok" if ok else "refused"] += 1
    assert sum(outcome.values()) == doc["numberOfTests"] == 174
    assert outcome == {"ok": 66, "refused": 108}, outcome


def test_tag_module_exposes_same_names():
    assert tg.crypto is crypto
