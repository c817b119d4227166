"""The chaotic layer alone: frozen known answers, agreement with the pure-Python
reference, round trips, and statistical smoke tests of its output.

The statistics are measured on the chaotic layer by itself (on AES-GCM output
they would be trivially good). Critical values follow Wu, Noonan & Agaian,
"NPCR and UACI Randomness Tests for Image Encryption", Cyber Journals JSAT (2011).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm

import tagger as tg
from tagger.crypto import ChaoticCipher
from tagger.errors import InvalidArgument, InvalidKey

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from chaotic_reference import ChaoticReference  # noqa: E402

KAT = json.loads((REPO / "tests" / "vectors" / "chaotic_kat.json").read_text())
KEY, NONCE = bytes(range(32)), bytes(range(16))


def rule_plaintext(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


# ---- known answers --------------------------------------------------------

@pytest.mark.parametrize("v", KAT["vectors"], ids=lambda v: f"n{v['n']}")
def test_known_answer_vectors(v: dict) -> None:
    c = ChaoticCipher(bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]))
    if "plaintext" in v:
        pt = bytes.fromhex(v["plaintext"])
        assert c.encrypt(pt).hex() == v["ciphertext"]
        assert c.decrypt(bytes.fromhex(v["ciphertext"])) == pt
    else:
        pt = rule_plaintext(v["n"])
        ct = c.encrypt(pt)
        assert hashlib.sha256(ct).hexdigest() == v["ciphertext_sha256"]
        assert c.decrypt(ct) == pt


@pytest.mark.parametrize("v", KAT["keystreams"], ids=lambda v: f"chunk{v['chunk']}")
def test_known_answer_keystreams(v: dict) -> None:
    c = ChaoticCipher(bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]))
    got = [f"{int(w):016x}" for w in c.keystream(len(v["words"]), v["chunk"])]
    assert got == v["words"]


@pytest.mark.parametrize("v", KAT["chunks"])
def test_known_answer_chunk_index(v: dict) -> None:
    c = ChaoticCipher(bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]))
    assert c.encrypt_chunk(v["chunk"], bytes.fromhex(v["plaintext"])).hex() == v["ciphertext"]
    assert c.decrypt_chunk(v["chunk"], bytes.fromhex(v["ciphertext"])).hex() == v["plaintext"]


def test_kat_file_covers_every_size_class() -> None:
    sizes = {v["n"] for v in KAT["vectors"]}
    assert {0, 1, 7, 8, 9, 65535, 65536, 65537} <= sizes


# ---- against the slow reference --------------------------------------------

@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=300), key=st.binary(min_size=32, max_size=32),
       nonce=st.binary(min_size=16, max_size=16), index=st.integers(0, 2**30 - 2))
def test_matches_reference(data: bytes, key: bytes, nonce: bytes, index: int) -> None:
    fast, ref = ChaoticCipher(key, nonce), ChaoticReference(key, nonce)
    ct = fast.encrypt_chunk(index, data)
    assert ct == ref.encrypt_chunk(index, data)
    assert fast.decrypt_chunk(index, ct) == data


def test_matches_reference_on_a_multi_chunk_message() -> None:
    data = np.random.default_rng(1).integers(0, 256, 65536 + 4099, dtype=np.uint8).tobytes()
    assert ChaoticCipher(KEY, NONCE).encrypt(data) == ChaoticReference(KEY, NONCE).encrypt(data)


def test_matches_reference_at_every_small_size_and_chunk_edge() -> None:
    # The fast paths split a chunk into groups of four words, the last words
    # before the tail, the tail and the partial word: every split point is hit
    # by some size in 0..100, and 65536 +- k crosses into a second chunk.
    c, ref = ChaoticCipher(KEY, NONCE), ChaoticReference(KEY, NONCE)
    rng = np.random.default_rng(7)
    for n in list(range(101)) + [65528, 65535, 65536, 65537, 65536 + 39]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        ct = c.encrypt(data)
        assert ct == ref.encrypt(data), n
        assert c.decrypt(ct) == data, n


# ---- round trips and API ---------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 63, 65535, 65536, 65537, 10 * 2**20])
def test_round_trip(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    c = ChaoticCipher(KEY, NONCE)
    ct = c.encrypt(data, threads=None)
    assert len(ct) == n
    assert c.decrypt(ct) == data


def test_into_caller_buffers_and_in_place() -> None:
    core = ChaoticCipher(KEY, NONCE)._c
    data = np.random.default_rng(3).integers(0, 256, 3 * 65536 + 77, dtype=np.uint8).tobytes()
    ct = ChaoticCipher(KEY, NONCE).encrypt(data)
    out = np.zeros(len(data), np.uint8)
    assert core.encrypt_into(data, out, 2) == len(data) and out.tobytes() == ct
    buf = bytearray(ct)
    core.decrypt_into(buf, buf)                           # in place
    assert bytes(buf) == data
    with pytest.raises(InvalidArgument, match="writable"):
        core.encrypt_into(data, bytes(len(data)))
    with pytest.raises(InvalidArgument, match="needs"):
        core.encrypt_into(data, bytearray(len(data) - 1))
    with pytest.raises(InvalidArgument, match="overlaps"):
        core.encrypt_into(memoryview(buf)[:-8], memoryview(buf)[8:])


def test_bad_arguments() -> None:
    with pytest.raises(InvalidKey):
        ChaoticCipher(bytes(31), NONCE)
    with pytest.raises(InvalidArgument):
        ChaoticCipher(KEY, bytes(12))
    with pytest.raises(InvalidArgument):
        ChaoticCipher(KEY, NONCE).encrypt_chunk(0, bytes(65537))
    assert "ChaoticCipher" in repr(ChaoticCipher(KEY, NONCE))


# ---- statistical smoke tests (Wu-Noonan-Agaian critical values) -------------

F, N_PIX = 255, 65536   # largest byte value; bytes per diffusion domain (one chunk)


def npcr_critical(alpha: float) -> float:
    """N*_alpha = mu - Phi^-1(1 - alpha) sigma, mu = F/(F+1), sigma^2 = F/((F+1)^2 N)."""
    mu = F / (F + 1)
    sigma = math.sqrt(F / ((F + 1) ** 2 * N_PIX))
    return 100 * (mu - norm.ppf(1 - alpha) * sigma)


def uaci_interval(alpha: float) -> tuple[float, float]:
    """mu_U -/+ Phi^-1(1 - alpha/2) sigma_U with mu_U = (F+2)/(3F+3) and
    sigma_U^2 = (F+2)(F^2+2F+3) / (18 (F+1)^2 N F)."""
    mu = (F + 2) / (3 * F + 3)
    sigma = math.sqrt((F + 2) * (F * F + 2 * F + 3) / (18 * (F + 1) ** 2 * N_PIX * F))
    z = norm.ppf(1 - alpha / 2)
    return 100 * (mu - z * sigma), 100 * (mu + z * sigma)


def test_critical_values_match_the_paper() -> None:
    # Wu, Noonan & Agaian (2011), Tables for 256x256 images.
    assert npcr_critical(0.05) == pytest.approx(99.5693, abs=1e-4)
    lo, hi = uaci_interval(0.05)
    assert lo == pytest.approx(33.2824, abs=1e-4) and hi == pytest.approx(33.6447, abs=1e-4)


def npcr_uaci(a: bytes, b: bytes) -> tuple[float, float]:
    x, y = np.frombuffer(a, np.uint8).astype(np.int16), np.frombuffer(b, np.uint8).astype(np.int16)
    return 100 * float(np.mean(x != y)), 100 * float(np.mean(np.abs(x - y)) / 255)


def test_npcr_and_uaci_one_byte_plaintext_change() -> None:
    # Each trial is one draw of the Wu-Noonan-Agaian statistic: even an ideal
    # cipher fails the alpha = 0.05 test in 5% of trials. So: every trial passes
    # at alpha = 0.001, at most 3 of 24 fail at 0.05 (binomial P(X >= 4) = 0.03),
    # and the means sit within 4 standard errors of the ideal 99.609375% / 33.4635%.
    rng = np.random.default_rng(2024)
    c = ChaoticCipher(KEY, NONCE)
    trials = 24
    npcrs, uacis = [], []
    for _ in range(trials):
        img = rng.integers(0, 256, N_PIX, dtype=np.uint8)
        img2 = img.copy()
        img2[int(rng.integers(0, N_PIX))] ^= 1 << int(rng.integers(0, 8))
        npcr, uaci = npcr_uaci(c.encrypt_chunk(0, img.tobytes()), c.encrypt_chunk(0, img2.tobytes()))
        npcrs.append(npcr)
        uacis.append(uaci)
    npcrs, uacis = np.array(npcrs), np.array(uacis)
    lo3, hi3 = uaci_interval(0.001)
    lo, hi = uaci_interval(0.05)
    assert (npcrs > npcr_critical(0.001)).all(), npcrs.min()
    assert ((lo3 < uacis) & (uacis < hi3)).all(), (uacis.min(), uacis.max())
    assert (npcrs <= npcr_critical(0.05)).sum() <= 3
    assert ((uacis <= lo) | (uacis >= hi)).sum() <= 3
    npcr_sigma = 100 * math.sqrt(F / ((F + 1) ** 2 * N_PIX))
    uaci_sigma = (hi - lo) / (2 * norm.ppf(0.975))
    assert abs(npcrs.mean() - 100 * 255 / 256) < 4 * npcr_sigma / math.sqrt(trials)
    assert abs(uacis.mean() - 100 * 257 / 768) < 4 * uaci_sigma / math.sqrt(trials)


def test_npcr_of_a_broken_diffusion_fails_the_test() -> None:
    # Control: the same test must reject a cipher without diffusion (a plain
    # keystream XOR), so it is not a test that cannot fail.
    ks = ChaoticCipher(KEY, NONCE).keystream(N_PIX // 8).view(np.uint8)
    img = np.random.default_rng(1).integers(0, 256, N_PIX, dtype=np.uint8)
    img2 = img.copy()
    img2[100] ^= 1
    npcr, _ = npcr_uaci((img ^ ks).tobytes(), (img2 ^ ks).tobytes())
    assert npcr < npcr_critical(0.05)


def entropy(b: np.ndarray) -> float:
    p = np.bincount(b, minlength=256) / b.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def test_entropy_of_ten_mib_of_zeros() -> None:
    ct = np.frombuffer(ChaoticCipher(KEY, NONCE).encrypt(bytes(10 * 2**20), threads=None), np.uint8)
    assert entropy(ct) >= 7.999
    assert entropy(np.zeros(1000, np.uint8)) == 0.0  # control


def test_adjacent_byte_correlation() -> None:
    ct = np.frombuffer(ChaoticCipher(KEY, NONCE).encrypt(bytes(2 * 2**20)), np.uint8)
    x = ct.astype(np.float64)
    for lag in (1, 8, 256):   # horizontal neighbours, word neighbours, "vertical" in a 256-wide image
        r = np.corrcoef(x[:-lag], x[lag:])[0, 1]
        assert abs(r) < 0.005, (lag, r)
    ramp = np.arange(10000, dtype=np.float64) % 256   # control: a smooth plaintext is correlated
    assert np.corrcoef(ramp[:-1], ramp[1:])[0, 1] > 0.9


def bit_difference(a: bytes, b: bytes) -> float:
    x = np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)
    return float(np.unpackbits(x).mean())


@pytest.mark.parametrize("which", ["key", "nonce"])
def test_key_and_nonce_sensitivity_is_half_the_bits(which: str) -> None:
    data = np.random.default_rng(5).integers(0, 256, 2 * 65536, dtype=np.uint8).tobytes()
    base = ChaoticCipher(KEY, NONCE).encrypt(data)
    for bit in (0, 77, 255 if which == "key" else 127):
        k, n = bytearray(KEY), bytearray(NONCE)
        target = k if which == "key" else n
        target[bit // 8] ^= 1 << (bit % 8)
        d = bit_difference(base, ChaoticCipher(bytes(k), bytes(n)).encrypt(data))
        assert abs(d - 0.5) < 0.005, (bit, d)


def test_keystream_words_never_repeat_across_chunks_or_lanes() -> None:
    c = ChaoticCipher(KEY, NONCE)
    words = np.sort(np.concatenate([c.keystream(2**15, chunk) for chunk in range(8)]))
    assert not (words[1:] == words[:-1]).any()   # 2^18 words: a repeat would be a 2^-29 event


def test_keystream_differs_between_nonces() -> None:
    a = ChaoticCipher(KEY, NONCE).keystream(1024)
    b = ChaoticCipher(KEY, bytes(16)).keystream(1024)
    assert np.intersect1d(a, b).size == 0


def test_public_name() -> None:
    assert tg.crypto.ChaoticCipher is ChaoticCipher
