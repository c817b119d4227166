"""Sealing throughput: seal / open_sealed vs raw AES-256-GCM (``openssl speed``, our own
AEAD binding, and OpenSSL's EVP interface called directly) and the chaotic layer alone,
on 1 MiB and 64 MiB, in one run, on the same data.

Targets (issue 6): seal >= 1 GB/s per core, and >= 1.3x the fastest chaotic cipher
throughput we found published: Jiang et al., "Real-Time Bit-Level Encryption of Full
High-Definition Video Without Diffusion", arXiv:2505.07158 (2025): a 1920x1080 RGB
frame (6,220,800 bytes) in 25.84 ms on average, i.e. 240.7 MB/s, using a multi-core
Xeon Gold 6226R *and* an RTX 3090 GPU. Our numbers are single-core unless marked.

Two output modes, each with its own AES-256-GCM baseline so every ratio compares like
with like:

* ``fresh``: what the Python API does — every call returns a new ``bytes``. At 64 MiB
  the allocator maps fresh pages each call, and faulting them in (the kernel zeroes
  16,384 pages) costs as much as the cipher; every row, the AEAD baseline included,
  pays it.
* ``into``: every call writes into one caller-owned output buffer allocated once and
  faulted in by the warm-up call (``seal_into`` / ``open_sealed_into`` /
  ``ChaoticCipher.encrypt_into``); the baseline is AES-256-GCM through OpenSSL's EVP
  interface (ctypes) into the same kind of buffer.

Every figure is the median of ``reps`` timed calls after one warm-up; ``GB/s`` is
wall-clock, ``CPU GB/s`` divides by the calling thread's CPU time (user + system), which
on a shared machine is the fairer "per core" figure for single-thread rows.

Run: ``python benchmarks/bench_seal.py`` (prints a table; no network, no files).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np

import tagger as tg
from tagger import crypto
from tagger._core import seal as _seal_core

LITERATURE_MBPS = 6_220_800 / 25.84e-3 / 1e6   # Jiang et al. 2025, arXiv:2505.07158
SIZES = [("1 MiB", 1 << 20, 41), ("64 MiB", 64 << 20, 7)]
THREADS = os.cpu_count() or 1


def median_rates(fn: Callable[[], object], nbytes: int, reps: int) -> tuple[float, float]:
    """(wall-clock GB/s, thread-CPU GB/s), medians over ``reps`` calls after one warm-up."""
    fn()   # warm-up: first-touch page faults of reused buffers, lazy tables
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return nbytes / statistics.median(wall) / 1e9, nbytes / max(statistics.median(cpu), 1e-9) / 1e9


def openssl_speed() -> float | None:
    """``openssl speed -evp aes-256-gcm`` at 64 KiB blocks, in GB/s (None if unavailable)."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run([exe, "speed", "-elapsed", "-seconds", "2", "-bytes", "65536", "-evp", "aes-256-gcm"],
                         capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"AES-256-GCM\s+([\d.]+)k", out, re.I)
    return float(m.group(1)) * 1000 / 1e9 if m else None


class EvpAesGcm:
    """AES-256-GCM through libcrypto's EVP interface via ctypes, into caller buffers.

    The "into" baseline: one EVP call over the whole buffer, the output written where
    the caller says — the same library our AEAD and seal use, without our code around it.
    """

    _GET_TAG, _SET_TAG = 0x10, 0x11   # EVP_CTRL_GCM_GET_TAG / EVP_CTRL_GCM_SET_TAG

    def __init__(self, key: bytes, nonce: bytes) -> None:
        name = ctypes.util.find_library("crypto")
        if name is None:
            raise OSError("libcrypto not found")
        lib = ctypes.CDLL(name)
        vp, ip = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)
        lib.EVP_CIPHER_CTX_new.restype = vp
        lib.EVP_CIPHER_CTX_free.argtypes = [vp]
        lib.EVP_aes_256_gcm.restype = vp
        for f in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
            getattr(lib, f).argtypes = [vp, vp, vp, ctypes.c_char_p, ctypes.c_char_p]
        for f in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
            getattr(lib, f).argtypes = [vp, vp, ip, vp, ctypes.c_int]
        for f in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
            getattr(lib, f).argtypes = [vp, vp, ip]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [vp, ctypes.c_int, ctypes.c_int, vp]
        self._lib, self._key, self._nonce = lib, key, nonce
        self._ctx = lib.EVP_CIPHER_CTX_new()
        self._tag = ctypes.create_string_buffer(16)
        self._len = ctypes.c_int(0)

    def __del__(self) -> None:
        if getattr(self, "_ctx", None):
            self._lib.EVP_CIPHER_CTX_free(self._ctx)

    def encrypt_into(self, src: np.ndarray, dst: np.ndarray) -> None:
        lib, n = self._lib, ctypes.byref(self._len)
        ok = lib.EVP_EncryptInit_ex(self._ctx, lib.EVP_aes_256_gcm(), None, self._key, self._nonce)
        ok &= lib.EVP_EncryptUpdate(self._ctx, dst.ctypes.data, n, src.ctypes.data, src.size)
        ok &= lib.EVP_EncryptFinal_ex(self._ctx, dst.ctypes.data + src.size, n)
        ok &= lib.EVP_CIPHER_CTX_ctrl(self._ctx, self._GET_TAG, 16, self._tag)
        if ok != 1:
            raise RuntimeError("EVP AES-256-GCM encryption failed")

    def decrypt_into(self, src: np.ndarray, dst: np.ndarray) -> None:
        lib, n, size = self._lib, ctypes.byref(self._len), src.size - 16
        ok = lib.EVP_DecryptInit_ex(self._ctx, lib.EVP_aes_256_gcm(), None, self._key, self._nonce)
        ctypes.memmove(self._tag, src.ctypes.data + size, 16)
        ok &= lib.EVP_CIPHER_CTX_ctrl(self._ctx, self._SET_TAG, 16, self._tag)
        ok &= lib.EVP_DecryptUpdate(self._ctx, dst.ctypes.data, n, src.ctypes.data, size)
        ok &= lib.EVP_DecryptFinal_ex(self._ctx, dst.ctypes.data + size, n)
        if ok != 1:
            raise RuntimeError("EVP AES-256-GCM tag did not verify")


def main() -> None:
    key = crypto.PrivateKey.generate()
    rcpt = [key.public_key]
    rcpt_raw = [bytes(key.public_key)]
    aead_key, nonce = os.urandom(32), os.urandom(12)
    chaos = crypto.ChaoticCipher(os.urandom(32), os.urandom(16))
    try:
        evp: EvpAesGcm | None = EvpAesGcm(aead_key, nonce)
    except (OSError, AttributeError) as e:   # no loadable libcrypto: the "into" baseline is skipped
        print(f"(EVP baseline unavailable: {e})")
        evp = None
    ossl = openssl_speed()
    print(f"tagger {tg.__version__}; {THREADS} logical CPUs; load average {os.getloadavg()[0]:.1f}; "
          f"literature best chaotic cipher {LITERATURE_MBPS:.0f} MB/s (Jiang et al. 2025, CPU+GPU)")
    print(f"openssl speed -evp aes-256-gcm (64 KiB blocks, 1 core): "
          f"{'n/a' if ossl is None else f'{ossl:.2f} GB/s'}")
    print("medians; 'vs AEAD' divides by the AES-256-GCM row of the same output mode\n")
    header = (f"{'size':>7} {'mode':<6} {'operation':<30} {'GB/s':>6} {'CPU GB/s':>9} {'vs AEAD':>8} "
              f"{'vs openssl':>10} {'vs literature':>13}")
    print(header)
    print("-" * len(header))
    for label, n, reps in SIZES:
        data_np = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8)
        data = data_np.tobytes()
        sealed = crypto.seal(data, rcpt, threads=1)
        assert crypto.open_sealed(sealed, key, threads=1) == data
        aead_ct = crypto.aead_encrypt(aead_key, nonce, data)
        chaos_ct = chaos.encrypt(data)
        # "into" buffers: allocated once, faulted in by each row's warm-up call.
        sealed_np = np.frombuffer(sealed, dtype=np.uint8)
        out_sealed = np.empty(len(sealed), np.uint8)
        out_plain = np.empty(n, np.uint8)
        out_aead = np.empty(n + 16, np.uint8)
        aead_ct_np = np.frombuffer(aead_ct, dtype=np.uint8)
        rows: list[tuple[str, str, Callable[[], object]]] = [
            ("fresh", "AES-256-GCM (our AEAD)", lambda: crypto.aead_encrypt(aead_key, nonce, data)),
            ("fresh", "AES-256-GCM open (our AEAD)", lambda: crypto.aead_decrypt(aead_key, nonce, aead_ct)),
            ("fresh", "chaotic keystream alone", lambda: chaos.keystream(n // 8)),
            ("fresh", "chaotic layer encrypt", lambda: chaos.encrypt(data)),
            ("fresh", "chaotic layer decrypt", lambda: chaos.decrypt(chaos_ct)),
            ("fresh", "seal (chaotic + AEAD)", lambda: crypto.seal(data, rcpt, threads=1)),
            ("fresh", "open_sealed", lambda: crypto.open_sealed(sealed, key, threads=1)),
            ("fresh", f"seal, {THREADS} threads", lambda: crypto.seal(data, rcpt, threads=THREADS)),
            ("fresh", f"open_sealed, {THREADS} threads", lambda: crypto.open_sealed(sealed, key, threads=THREADS)),
        ]
        if evp is not None:
            rows += [
                ("into", "AES-256-GCM (OpenSSL EVP)", lambda: evp.encrypt_into(data_np, out_aead)),
                ("into", "AES-256-GCM open (OpenSSL EVP)", lambda: evp.decrypt_into(aead_ct_np, out_plain)),
            ]
        if hasattr(_seal_core, "seal_into"):   # (absent from builds before the *_into functions)
            rows += [
                ("into", "chaotic layer encrypt", lambda: chaos._c.encrypt_into(data, out_plain, 1)),
                ("into", "chaotic layer decrypt", lambda: chaos._c.decrypt_into(chaos_ct, out_plain, 1)),
                ("into", "seal (chaotic + AEAD)", lambda: _seal_core.seal_into(data, rcpt_raw, out_sealed, 1)),
                ("into", "open_sealed", lambda: _seal_core.open_sealed_into(sealed_np, key._k, out_plain, 1)),
            ]
        rates: dict[tuple[str, str], tuple[float, float]] = {}
        for mode, name, fn in rows:
            wall, cpu = rates[(mode, name)] = median_rates(fn, n, reps)
            base_name = "AES-256-GCM (our AEAD)" if mode == "fresh" else "AES-256-GCM (OpenSSL EVP)"
            base = rates.get((mode, base_name))
            vs_base = f"{wall / base[0]:.2f}x" if base else "n/a"
            vs_ossl = f"{wall / ossl:.2f}x" if ossl else "n/a"
            cpu_txt = f"{cpu:9.2f}" if "threads" not in name else f"{'-':>9}"
            print(f"{label:>7} {mode:<6} {name:<30} {wall:6.2f} {cpu_txt} {vs_base:>8} {vs_ossl:>10} "
                  f"{wall * 1000 / LITERATURE_MBPS:>12.1f}x")
        for mode in ("fresh", "into"):
            if (mode, "seal (chaotic + AEAD)") not in rates:
                continue
            wall, cpu = rates[(mode, "seal (chaotic + AEAD)")]
            owall, ocpu = rates[(mode, "open_sealed")]
            verdict = "meets" if min(wall, owall) >= 1.0 else "MISSES"
            print(f"{label:>7} {mode:<6} target seal/open >= 1 GB/s per core: {verdict} "
                  f"(seal {wall:.2f}, open {owall:.2f} GB/s wall; {cpu:.2f} / {ocpu:.2f} per CPU second); "
                  f">= 1.3x literature: {'meets' if wall * 1000 >= 1.3 * LITERATURE_MBPS else 'MISSES'} "
                  f"({wall * 1000 / LITERATURE_MBPS:.1f}x)")
        print()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
