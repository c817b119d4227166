"""Upload verification: the platform's AI checks before an upload is sealed.

``check(data, kind, task)`` runs the pipeline for the declared kind and returns a
:class:`Verdict` (``status`` accepted / needs_review / rejected, ``reasons`` as stable
codes, ``scores``). Bad data never raises; misuse of the API does (typed errors).

* text: UTF-8, length, control characters, script, gibberish (log-likelihood per
  character under the shipped sentencepiece unigram model), relevance to the task
  (cosine similarity of the matching Embedder's vectors), near duplicates (MinHash LSH);
* image: decoded with Pillow; format, dimensions, truncation, blank images, pHash/dHash
  computed in C++ on the grayscale pixels (numpy, no copy), near duplicates by Hamming distance;
* audio: WAV header parsed in C++, duration, sample rate, silence and clipping ratios;
* json / csv: parsing and the task's schema (required keys/columns and types);
* exact duplicates (SHA-256 of the plaintext) in the task and across the network via a
  caller-kept :class:`DedupRegistry`; user checks (:class:`Check`, :class:`ModelCheck`);
* :class:`Receipt`: the verifier's Ed25519-signed record of a verdict for the ledger.

The reason codes and thresholds are documented in docs/verification.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core import verify as _v
from ..errors import InvalidArgument
from ._check import CheckResult, Check, Item, ModelCheck, TextModel, Verdict, Verifier, check, check_many, sniff
from ._reasons import ACCEPTED, DESCRIPTIONS, NEEDS_REVIEW, REASONS, REJECTED, STATUSES
from ._receipt import Receipt
from ._registry import DedupRegistry, NearText
from ._spec import KINDS, VerifySpec

__all__ = [
    "check", "check_many", "Verdict", "CheckResult", "VerifySpec", "Verifier", "Receipt", "DedupRegistry", "NearText",
    "Check", "ModelCheck", "Item", "TextModel", "REASONS", "DESCRIPTIONS", "KINDS", "STATUSES",
    "ACCEPTED", "NEEDS_REVIEW", "REJECTED", "phash", "dhash", "hamming", "MinHashLSH", "jaccard", "sniff",
]

MinHashLSH = _v.MinHashLSH
"""The C++ near-duplicate index: ``MinHashLSH(num_perm=128, threshold=0.8)``,
``insert(text) -> id``, ``query(text) -> [(id, estimated J)]``, ``insert_many`` /
``query_many`` (threads, GIL released)."""


def _gray(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim == 2 and image.dtype == np.uint8:
            return image
        raise InvalidArgument(f"expected a 2-D uint8 grayscale array, got shape {image.shape} dtype {image.dtype}")
    if hasattr(image, "convert"):  # PIL.Image
        return np.asarray(image.convert("L"))
    raise InvalidArgument(f"expected a PIL image or a 2-D uint8 array, got {type(image).__name__}")


def phash(image: Any) -> int:
    """64-bit perceptual hash (DCT of the 32x32 area-averaged grayscale image, 8x8 low
    frequencies against their median; Zauner 2010). Same bit layout as
    ``int(str(imagehash.phash(img)), 16)``."""
    return _v.image_hashes(_gray(image)).phash


def dhash(image: Any) -> int:
    """64-bit difference hash (8x9 area-averaged grayscale, right > left; Krawetz 2013)."""
    return _v.image_hashes(_gray(image)).dhash


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two 64-bit hashes."""
    return _v.hamming(a, b)


def jaccard(a: str, b: str, k: int = 5) -> float:
    """Exact Jaccard similarity of the character ``k``-gram sets the MinHash index uses."""
    return _v.jaccard(a, b, k)
