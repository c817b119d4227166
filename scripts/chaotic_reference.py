"""Slow, obviously-correct pure-Python reference of the chaotic layer.

It follows docs/crypto.md ("Chaotic layer") line by line, with Python integers
reduced mod 2^64, and shares no code with the C++ implementation
(cpp/src/crypto/chaotic). ``scripts/gen_chaotic_kat.py`` freezes its output in
tests/vectors/chaotic_kat.json; the C++ and Python tests check the fast layer
against both.
"""

from __future__ import annotations

import hashlib
import hmac

M64 = (1 << 64) - 1
KEY_BYTES, NONCE_BYTES, CHUNK_BYTES, LANES = 32, 16, 65536, 4
PERM_LANE = 0xFFFFFFFF
K_SINE_C = 0x398F0E2B2F9CE000
K_PWLCM_P = 3 << 61
K_TWO_THIRDS = 0xAAAAAAAAAAAAAAAA
K_H, K_G, K_PHI = 0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB
K_PHI_INV = pow(K_PHI, -1, 1 << 64)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869, written out so the reference does not depend on tagger."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def mulhi(a: int, b: int) -> int:
    return (a * b) >> 64


# ---- the maps, in real-number form where it is exact ----
def tent(x: int) -> int:
    # 2x on [0, 1/2), 2(1 - x) on [1/2, 1): with x >= 1/2 folded to 2^64 - 1 - x
    return ((x if x < 1 << 63 else M64 - x) << 1) & M64


def logistic(x: int) -> int:
    return (mulhi(x, (-x) & M64) << 2) & M64


def sine_from_u(u: int) -> int:
    return (u - mulhi(mulhi(u, (-u) & M64), K_SINE_C)) & M64


def pwlcm(x: int) -> int:
    xf = x if x < 1 << 63 else M64 - x
    if xf < K_PWLCM_P:
        return (mulhi(xf, K_TWO_THIRDS) << 2) & M64
    return ((xf - K_PWLCM_P) << 3) & M64


def mixed_map(x: int) -> int:
    sel = (x >> 32) & 3
    if sel == 0:
        return tent(x)
    if sel == 1:
        return logistic(x)
    if sel == 2:
        return sine_from_u(logistic(x))
    return pwlcm(x)


def fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    return k ^ (k >> 33)


class Orbit:
    def __init__(self, x: int, w: int, k: int) -> None:
        self.x, self.w, self.k = x & M64, w & M64, k

    def step(self) -> int:
        self.w = (self.w + self.k) & M64
        self.x = mixed_map(self.x) ^ (self.w >> 40)
        z = ((self.x ^ (self.x >> 31)) * 0x9E3779B97F4A7C15) & M64
        return z ^ (z >> 29)


def h_fn(c: int) -> int:
    return ((c ^ (c >> 31)) * K_H) & M64


def g_fn(d: int) -> int:
    return ((d ^ (d >> 29)) * K_G) & M64


def phi(w: int, bits: int) -> int:
    mask = (1 << bits) - 1
    w = (w * K_PHI) & mask
    return w ^ (w >> (bits // 2))


def phi_inv(w: int, bits: int) -> int:
    mask = (1 << bits) - 1
    w ^= w >> (bits // 2)
    return (w * K_PHI_INV) & mask


class ChaoticReference:
    """``ChaoticReference(key, nonce).encrypt_chunk(index, data)`` and ``decrypt_chunk``."""

    def __init__(self, key: bytes, nonce: bytes) -> None:
        assert len(key) == KEY_BYTES and len(nonce) == NONCE_BYTES
        okm = hkdf_sha256(key, nonce, b"tagger/chaotic/v1", 64)
        self.p = [int.from_bytes(okm[8 * i:8 * i + 8], "little") for i in range(8)]
        self.k = self.p[2] | (1 << 63) | 1
        self.fwd_iv = [fmix64((self.p[4] + j) & M64) for j in range(LANES)]
        self.bwd_key = fmix64(self.p[5])
        self.tail_key = fmix64(self.p[5] ^ 0x7461696C)

    def orbit(self, lane: int) -> Orbit:
        o = Orbit(fmix64(self.p[0] ^ fmix64((self.p[7] + lane) & M64)),
                  self.p[1] + ((lane << 32) & M64) * self.k, self.k)
        for _ in range(8):
            o.step()
        return o

    def keystream(self, index: int, words: int) -> list[int]:
        lanes = [self.orbit(4 * index + j) for j in range(LANES)]
        return [lanes[i % 4].step() for i in range(words)]

    def permutation(self, m: int) -> list[int]:
        pi = list(range(m))
        o = Orbit(fmix64(self.p[3] ^ m), self.p[1] + ((PERM_LANE << 32) & M64) * self.k, self.k)
        for _ in range(8):
            o.step()
        for i in range(m - 1, 0, -1):
            j = mulhi(o.step(), i + 1)
            pi[i], pi[j] = pi[j], pi[i]
        return pi

    def _layout(self, n: int) -> tuple[int, int, int, list[int]]:
        m, r = divmod(n, 8)
        total = m + (r != 0)
        bits = [64] * m + ([8 * r] if r else [])
        return m, r, total, bits

    def _tail(self, v: list[int], bits: list[int], forward: bool) -> None:
        total = len(v)
        ln = min(LANES, total)
        base = total - ln

        def feed(j: int) -> int:
            return h_fn(v[base + (j - 1) % ln]) if ln > 1 else 0

        for _ in range(2):
            order = range(ln) if forward else range(ln - 1, -1, -1)
            for j in order:
                b = bits[base + j]
                mask = (1 << b) - 1
                if forward:
                    v[base + j] = phi((v[base + j] + feed(j) + self.tail_key) & mask, b)
                else:
                    v[base + j] = (phi_inv(v[base + j], b) - feed(j) - self.tail_key) & mask

    def encrypt_chunk(self, index: int, data: bytes) -> bytes:
        n = len(data)
        if n == 0:
            return b""
        m, r, total, bits = self._layout(n)
        pi = self.permutation(m) if m else []
        delta = mulhi(fmix64((self.p[6] + index) & M64), m) if m else 0
        # 1. permutation of the m full words; the partial word stays last
        a = [int.from_bytes(data[8 * pi[(i + delta) % m]:8 * pi[(i + delta) % m] + 8], "little")
             for i in range(m)]
        if r:
            a.append(int.from_bytes(data[8 * m:], "little"))
        # 2. forward diffusion on four interleaved chains
        ks = self.keystream(index, total)
        s = list(self.fwd_iv)
        v = []
        for i in range(total):
            mask = (1 << bits[i]) - 1
            c = ((a[i] ^ ks[i]) + s[i % 4]) & mask
            v.append(c)
            s[i % 4] = h_fn(c)
        # 3. tail mix, 4. backward diffusion
        self._tail(v, bits, True)
        for j in range(total - min(LANES, total) - 1, -1, -1):
            v[j] = (v[j] + (g_fn(v[j + 4]) ^ self.bwd_key)) & M64
        return b"".join(v[i].to_bytes(bits[i] // 8, "little") for i in range(total))

    def decrypt_chunk(self, index: int, data: bytes) -> bytes:
        n = len(data)
        if n == 0:
            return b""
        m, r, total, bits = self._layout(n)
        v = [int.from_bytes(data[8 * i:8 * i + bits[i] // 8], "little") for i in range(total)]
        for j in range(total - min(LANES, total)):
            v[j] = (v[j] - (g_fn(v[j + 4]) ^ self.bwd_key)) & M64
        self._tail(v, bits, False)
        ks = self.keystream(index, total)
        s = list(self.fwd_iv)
        a = []
        for i in range(total):
            mask = (1 << bits[i]) - 1
            a.append((((v[i] - s[i % 4]) & mask) ^ ks[i]) & mask)
            s[i % 4] = h_fn(v[i])
        out = bytearray(n)
        if m:
            pi = self.permutation(m)
            delta = mulhi(fmix64((self.p[6] + index) & M64), m)
            for i in range(m):
                j = pi[(i + delta) % m]
                out[8 * j:8 * j + 8] = a[i].to_bytes(8, "little")
        if r:
            out[8 * m:] = a[m].to_bytes(r, "little")
        return bytes(out)

    def encrypt(self, data: bytes) -> bytes:
        return b"".join(self.encrypt_chunk(i, data[o:o + CHUNK_BYTES])
                        for i, o in enumerate(range(0, len(data), CHUNK_BYTES)))

    def decrypt(self, data: bytes) -> bytes:
        return b"".join(self.decrypt_chunk(i, data[o:o + CHUNK_BYTES])
                        for i, o in enumerate(range(0, len(data), CHUNK_BYTES)))
