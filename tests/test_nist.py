"""A subset of NIST SP 800-22 rev. 1a (Rukhin et al., 2010), written here, checked
against the worked examples printed in SP 800-22 itself, then run on the chaotic
layer's keystream.

Tests: 2.1 frequency (monobit), 2.2 frequency within a block, 2.3 runs, 2.4 longest
run of ones in a block, 2.11 serial, 2.12 approximate entropy, 2.13 cumulative sums.
Each takes a 0/1 numpy array and returns the P-value(s); a sequence passes at
alpha = 0.01 when every P-value is >= 0.01.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy.special import erfc, gammaincc
from scipy.stats import norm

from tagger.crypto import ChaoticCipher

ALPHA = 0.01


def _bits(s: str) -> np.ndarray:
    return np.frombuffer(s.replace(" ", "").encode(), np.uint8) - ord("0")


def frequency(b: np.ndarray) -> float:
    """2.1: S_n = sum(2 e_i - 1), P = erfc(|S_n| / sqrt(2n))."""
    s = np.sum(2 * b.astype(np.int64) - 1)
    return float(erfc(abs(s) / math.sqrt(b.size) / math.sqrt(2)))


def block_frequency(b: np.ndarray, m: int) -> float:
    """2.2: chi^2 = 4M sum (pi_i - 1/2)^2 over N = n // M blocks, P = igamc(N/2, chi^2/2)."""
    n_blocks = b.size // m
    pi = b[:n_blocks * m].reshape(n_blocks, m).mean(axis=1)
    chi2 = 4 * m * np.sum((pi - 0.5) ** 2)
    return float(gammaincc(n_blocks / 2, chi2 / 2))


def runs(b: np.ndarray) -> float:
    """2.3: V_n = 1 + #{k: e_k != e_k+1}, P = erfc(|V_n - 2n pi(1-pi)| / (2 sqrt(2n) pi (1-pi)))."""
    n = b.size
    pi = b.mean()
    if abs(pi - 0.5) >= 2 / math.sqrt(n):   # the frequency prerequisite fails
        return 0.0
    v = 1 + int(np.count_nonzero(b[1:] != b[:-1]))
    return float(erfc(abs(v - 2 * n * pi * (1 - pi)) / (2 * math.sqrt(2 * n) * pi * (1 - pi))))


# (M, class bounds v_lo..v_hi, class probabilities) from SP 800-22 section 3.4
_LONGEST = [
    (8, 1, 4, [0.21484375, 0.3671875, 0.23046875, 0.1875]),
    (128, 4, 9, [0.1174035788, 0.242955959, 0.249363483, 0.17517706, 0.102701071, 0.112398847]),
    (10000, 10, 16, [0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727]),
]


def longest_run(b: np.ndarray) -> float:
    """2.4: longest run of ones per M-bit block, binned, chi^2 against pi_i, P = igamc(K/2, chi^2/2)."""
    n = b.size
    m, lo, hi, pi = _LONGEST[0] if n < 6272 else _LONGEST[1] if n < 750000 else _LONGEST[2]
    n_blocks = n // m
    blocks = b[:n_blocks * m].reshape(n_blocks, m).astype(np.int32)
    # longest run per block: run lengths via cumulative sums reset at zeros
    run = np.zeros(n_blocks, np.int32)
    best = np.zeros(n_blocks, np.int32)
    for j in range(m):
        run = (run + 1) * blocks[:, j]
        np.maximum(best, run, out=best)
    v = np.bincount(np.clip(best, lo, hi) - lo, minlength=hi - lo + 1)
    expected = n_blocks * np.array(pi)
    chi2 = float(np.sum((v - expected) ** 2 / expected))
    return float(gammaincc((len(pi) - 1) / 2, chi2 / 2))


def _pattern_counts(b: np.ndarray, m: int) -> np.ndarray:
    """Counts of the n overlapping m-bit patterns of the sequence extended cyclically."""
    if m == 0:
        return np.array([b.size])
    ext = np.concatenate([b, b[:m - 1]]).astype(np.int64)
    v = np.zeros(b.size, np.int64)
    for j in range(m):
        v = (v << 1) | ext[j:j + b.size]
    return np.bincount(v, minlength=1 << m)


def _psi2(b: np.ndarray, m: int) -> float:
    if m <= 0:
        return 0.0
    c = _pattern_counts(b, m).astype(np.float64)
    return float((1 << m) / b.size * np.sum(c * c) - b.size)


def serial(b: np.ndarray, m: int) -> tuple[float, float]:
    """2.11: del psi^2 = psi_m - psi_m-1, del2 = psi_m - 2 psi_m-1 + psi_m-2;
    P1 = igamc(2^(m-2), del/2), P2 = igamc(2^(m-3), del2/2)."""
    p0, p1, p2 = _psi2(b, m), _psi2(b, m - 1), _psi2(b, m - 2)
    return float(gammaincc(2 ** (m - 2), (p0 - p1) / 2)), float(gammaincc(2 ** (m - 3), (p0 - 2 * p1 + p2) / 2))


def approximate_entropy(b: np.ndarray, m: int) -> float:
    """2.12: phi(m) = sum pi_i ln pi_i, ApEn = phi(m) - phi(m+1), chi^2 = 2n(ln 2 - ApEn),
    P = igamc(2^(m-1), chi^2/2)."""
    def phi(k: int) -> float:
        c = _pattern_counts(b, k) / b.size
        c = c[c > 0]
        return float(np.sum(c * np.log(c)))
    apen = phi(m) - phi(m + 1)
    chi2 = 2 * b.size * (math.log(2) - apen)
    return float(gammaincc(2 ** (m - 1), chi2 / 2))


def cumulative_sums(b: np.ndarray, reverse: bool = False) -> float:
    """2.13: z = max_k |S_k| of the +-1 walk (forward or backward), P from the
    sums of normal CDF differences in SP 800-22 eq. (2.13)."""
    x = 2 * b.astype(np.int64) - 1
    if reverse:
        x = x[::-1]
    n = x.size
    z = int(np.max(np.abs(np.cumsum(x))))
    sq = math.sqrt(n)
    k1 = np.arange(int((-n / z + 1) / 4), int((n / z - 1) / 4) + 1)
    k2 = np.arange(int((-n / z - 3) / 4), int((n / z - 1) / 4) + 1)
    s1 = np.sum(norm.cdf((4 * k1 + 1) * z / sq) - norm.cdf((4 * k1 - 1) * z / sq))
    s2 = np.sum(norm.cdf((4 * k2 + 3) * z / sq) - norm.cdf((4 * k2 + 1) * z / sq))
    return float(1 - s1 + s2)


# ---- the worked examples of SP 800-22 rev. 1a --------------------------------

EPS_100 = _bits("11001001000011111101101010100010001000010110100011"
                "00001000110100110001001100011001100010100010111000")
EPS_128 = _bits("11001100000101010110110001001100111000000000001001001101010100010001001111010110100000001101011111001100111001101101100010110010")


def test_frequency_examples() -> None:
    assert frequency(_bits("1011010101")) == pytest.approx(0.527089, abs=1e-6)       # 2.1.4
    assert frequency(EPS_100) == pytest.approx(0.109599, abs=1e-6)                   # 2.1.8


def test_block_frequency_examples() -> None:
    assert block_frequency(_bits("0110011010"), 3) == pytest.approx(0.801252, abs=1e-6)   # 2.2.4
    assert block_frequency(EPS_100, 10) == pytest.approx(0.706438, abs=1e-6)              # 2.2.8


def test_runs_examples() -> None:
    assert runs(_bits("1001101011")) == pytest.approx(0.147232, abs=1e-6)            # 2.3.4
    assert runs(EPS_100) == pytest.approx(0.500798, abs=1e-6)                        # 2.3.8


def test_longest_run_example() -> None:
    assert longest_run(EPS_128) == pytest.approx(0.180609, abs=1e-6)                 # 2.4.8


def test_serial_example() -> None:
    p1, p2 = serial(_bits("0011011101"), 3)                                          # 2.11.4
    assert p1 == pytest.approx(0.808792, abs=1e-6) and p2 == pytest.approx(0.670320, abs=1e-6)


def test_approximate_entropy_examples() -> None:
    assert approximate_entropy(_bits("0100110101"), 3) == pytest.approx(0.261961, abs=1e-6)   # 2.12.4
    assert approximate_entropy(EPS_100, 2) == pytest.approx(0.235301, abs=1e-6)               # 2.12.8


def test_cumulative_sums_examples() -> None:
    assert cumulative_sums(_bits("1011010111")) == pytest.approx(0.4116588, abs=1e-6)         # 2.13.4
    assert cumulative_sums(EPS_100) == pytest.approx(0.219194, abs=1e-6)                      # 2.13.8
    assert cumulative_sums(EPS_100, reverse=True) == pytest.approx(0.114866, abs=1e-6)


# ---- on the keystream ---------------------------------------------------------

N_BITS = 2 ** 20          # >= 10^6, as SP 800-22 recommends for these parameters
SEQUENCES = 10


def all_pvalues(b: np.ndarray) -> dict[str, float]:
    s1, s2 = serial(b, 16)
    return {
        "frequency": frequency(b), "block_frequency": block_frequency(b, 128), "runs": runs(b),
        "longest_run": longest_run(b), "serial_1": s1, "serial_2": s2,
        "approximate_entropy": approximate_entropy(b, 10),
        "cusum_forward": cumulative_sums(b), "cusum_reverse": cumulative_sums(b, reverse=True),
    }


def keystream_bits(seq: int) -> np.ndarray:
    key = hashlib.sha256(b"nist key %d" % seq).digest()
    nonce = hashlib.sha256(b"nist nonce %d" % seq).digest()[:16]
    words = ChaoticCipher(key, nonce).keystream(N_BITS // 64, chunk=seq)
    return np.unpackbits(words.view(np.uint8))


def test_keystream_passes_the_subset() -> None:
    # SP 800-22 section 4.2.1: with s sequences the proportion passing each test
    # must be >= (1 - alpha) - 3 sqrt(alpha (1 - alpha) / s) = 0.8956 for s = 10,
    # i.e. at least 9 of 10.
    passed: dict[str, int] = {}
    for seq in range(SEQUENCES):
        for name, p in all_pvalues(keystream_bits(seq)).items():
            passed[name] = passed.get(name, 0) + (p >= ALPHA)
    floor = (1 - ALPHA) - 3 * math.sqrt(ALPHA * (1 - ALPHA) / SEQUENCES)
    assert all(k / SEQUENCES >= floor for k in passed.values()), passed


def test_subset_rejects_weak_generators() -> None:
    # Controls, so these tests can fail: a Weyl sequence's bits and the raw
    # (unwhitened) state of the fixed-point logistic map both fail.
    k = 0x9E3779B97F4A7C15
    weyl = (np.arange(1, N_BITS // 64 + 1, dtype=np.uint64) * np.uint64(k))
    p = all_pvalues(np.unpackbits(weyl.view(np.uint8)))
    assert min(p.values()) < ALPHA
    x, xs = 0x123456789ABCDEF, []
    for _ in range(N_BITS // 64):
        x = (((x * ((-x) & (2**64 - 1))) >> 64) << 2) & (2**64 - 1) or 1
        xs.append(x)
    p = all_pvalues(np.unpackbits(np.array(xs, dtype=np.uint64).view(np.uint8)))
    assert min(p.values()) < ALPHA
