"""The `make demo` / `tagger demo` walkthrough.

It shows only what exists and really runs; each step checks its own result and
the demo exits non-zero if any check fails.
"""

from __future__ import annotations

import time

import numpy as np

from . import codec, crypto
from .errors import DecryptionFailed, InvalidSignature


def _timed(label: str, fn, *, per: int | None = None, unit: str = "") -> object:
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    extra = f"  ({per / dt:,.0f} {unit}/s)" if per else ""
    print(f"  {label:<52} {dt * 1e3:9.2f} ms{extra}")
    return out


def run(directory: str | None = None) -> int:
    from . import __version__
    print(f"tagger {__version__} demo: the cryptographic and encoding core\n")

    print("1. Accounts' keys (Ed25519 for signing, X25519 for sealing)")
    requester = crypto.SigningKey.generate()
    workers = _timed("generate 1,000 worker signing keys", lambda: [crypto.SigningKey.generate() for _ in range(1000)],
                     per=1000, unit="keys")
    sealing = crypto.PrivateKey.generate()
    print(f"  requester verify key {bytes(requester.verify_key).hex()[:32]}…")

    print("\n2. Signed answers in canonical msgpack")
    answers = [codec.encode([7, i, f"item-{i}", i % 3]) for i in range(1000)]
    sigs = _timed("sign 1,000 answers (one per worker)", lambda: [w.sign(a) for w, a in zip(workers, answers)],
                  per=1000, unit="signatures")
    vks = [w.verify_key for w in workers]
    ok = _timed("verify_batch, 2 threads", lambda: crypto.verify_batch(answers, sigs, vks, threads=2),
                per=1000, unit="verifications")
    assert ok.all(), "a genuine signature failed to verify"
    forged = list(sigs)
    forged[123] = sigs[124]
    bad = crypto.verify_batch(answers, forged, vks)
    assert np.flatnonzero(~bad).tolist() == [123], "the forged answer was not the only one flagged"
    print("  a swapped signature is caught: only answer 123 is flagged")
    try:
        workers[0].verify_key.verify(answers[1], sigs[0])
        raise AssertionError("forgery accepted")
    except InvalidSignature:
        pass

    print("\n3. Sealing a 16 MiB upload to the requester (X25519 -> HKDF -> AES-256-GCM)")
    payload = np.random.default_rng(1).integers(0, 256, 16 << 20, dtype=np.uint8).tobytes()
    ephemeral = crypto.PrivateKey.generate()

    def seal():
        shared = ephemeral.exchange(sealing.public_key)
        key = crypto.hkdf_sha256(shared, bytes(ephemeral.public_key), b"tagger demo seal", 32)
        return crypto.aead_encrypt(key, bytes(12), payload, aad=bytes(ephemeral.public_key))

    def unseal(box):
        shared = sealing.exchange(ephemeral.public_key)
        key = crypto.hkdf_sha256(shared, bytes(ephemeral.public_key), b"tagger demo seal", 32)
        return crypto.aead_decrypt(key, bytes(12), box, aad=bytes(ephemeral.public_key))

    box = _timed("seal 16 MiB", seal, per=16, unit="MiB")
    back = _timed("open 16 MiB", lambda: unseal(box), per=16, unit="MiB")
    assert back == payload, "round trip changed the data"
    digest = _timed("sha256 of the sealed blob (content address)", lambda: crypto.sha256(box), per=len(box) / (1 << 20), unit="MiB")
    print(f"  content address {digest.hex()[:32]}…")
    tampered = bytearray(box)
    tampered[len(box) // 2] ^= 1
    try:
        unseal(bytes(tampered))
        raise AssertionError("tampered ciphertext accepted")
    except DecryptionFailed:
        print("  one flipped bit in the sealed blob: DecryptionFailed, no plaintext returned")

    print("\nAll demo checks passed. The ledger, consensus, matching and workflow steps are added as they land.")
    return 0
