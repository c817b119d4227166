"""tagger.crypto vs `openssl speed` on this machine, in one run.

Prints throughput of AES-256-GCM and ChaCha20-Poly1305 (1 MiB and 16 KiB
messages), SHA-256, and Ed25519 sign/verify (single, and batch on 1 and 2
threads), each with its ratio to the openssl figure for the same primitive.
Targets: >= 0.9 of openssl for bulk AEAD and hashing on one core; batch verify
on 2 threads >= 1.8x single-thread.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _util import openssl_speed, rate, table  # noqa: E402

from tagger import crypto  # noqa: E402

MIB = 1 << 20


def main() -> None:
    rows = []
    key, nonce = crypto.random_bytes(32), crypto.random_bytes(12)
    for alg, ossl_name in (("aes-256-gcm", "aes-256-gcm"), ("chacha20-poly1305", "chacha20-poly1305")):
        for size in (MIB, 16 * 1024):
            msg = crypto.random_bytes(size)
            ours = rate(lambda: crypto.aead_encrypt(key, nonce, msg, alg=alg)) * size
            ref = openssl_speed(["-evp", ossl_name, "-bytes", str(size)])[ossl_name][0]
            rows.append([f"{alg} encrypt", f"{size // 1024} KiB", ours / 1e6, ref / 1e6, ours / ref])
    for size in (MIB, 16 * 1024):
        msg = crypto.random_bytes(size)
        ours = rate(lambda: crypto.sha256(msg)) * size
        ref = openssl_speed(["-evp", "sha256", "-bytes", str(size)])["sha256"][0]
        rows.append(["sha256", f"{size // 1024} KiB", ours / 1e6, ref / 1e6, ours / ref])
    table("Bulk throughput, one core (MB/s)", ["primitive", "message", "tagger", "openssl", "ratio"], rows)

    ed = openssl_speed(["ed25519"])["ed25519"]
    sk = crypto.SigningKey.generate()
    vk = sk.verify_key
    msg = b"m" * 64
    sig = sk.sign(msg)
    sign_rate = rate(lambda: sk.sign(msg))
    verify_rate = rate(lambda: vk.verify(msg, sig))
    n = 4000
    msgs = [i.to_bytes(8, "little") * 8 for i in range(n)]
    sigs = [sk.sign(m) for m in msgs]
    vks = [vk] * n
    batch = {t: rate(lambda t=t: crypto.verify_batch(msgs, sigs, vks, threads=t), min_seconds=1.0) * n for t in (1, 2)}
    table("Ed25519 (operations/s)", ["operation", "tagger", "openssl", "ratio"], [
        ["sign", sign_rate, ed[0], sign_rate / ed[0]],
        ["verify (single)", verify_rate, ed[1], verify_rate / ed[1]],
        ["verify_batch, 1 thread", batch[1], ed[1], batch[1] / ed[1]],
        ["verify_batch, 2 threads", batch[2], ed[1], batch[2] / ed[1]],
    ])
    print(f"\nbatch verify scaling, 2 threads / 1 thread: {batch[2] / batch[1]:.2f}x (target >= 1.8x; "
          f"{os.cpu_count()} cores here)")


if __name__ == "__main__":
    main()
