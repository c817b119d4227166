"""Receipt: the signed record of one verified upload that the ledger keeps."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from .._core import verify as _v
from ..crypto import SigningKey, VerifyKey
from ..errors import InvalidArgument, InvalidKey
from ._spec import _unicode_text

_INT64 = (1 << 63) - 1
_BAD = re.compile(r"[^a-z0-9_.:-]")


def score_name(name: str) -> str:
    """A score name in reason-code syntax ([a-z][a-z0-9_.:-]{0,63})."""
    s = _BAD.sub("_", str(name).lower())[:64]
    return s if s and s[0].isalpha() else ("s" + s)[:64]


def scores_to_micro(scores: Mapping[str, float]) -> list[tuple[str, int]]:
    """Canonical fixed-point scores: round(score * 1e6), non-finite dropped, sorted by name."""
    out: dict[str, int] = {}
    for k, x in scores.items():
        x = float(x)
        if math.isnan(x):
            continue
        v = _INT64 if x == math.inf else -_INT64 if x == -math.inf else int(round(x * 1e6))
        out[score_name(k)] = max(-_INT64, min(_INT64, v))
    return sorted(out.items())


def receipt_id(name: str, value: Any, ledger_bytes: bool = False) -> str:
    """``value`` as the id a receipt signs: a str that can be written as UTF-8 (with
    ``ledger_bytes``, 32 bytes too: a ledger task id, signed as hex as Task.upload signs it).
    Anything else is an InvalidArgument naming ``name``: str() signed None as "None", 5 as "5"
    and b"t1" as "b't1'"; a lone surrogate raised a bare TypeError from the encoder."""
    if ledger_bytes and isinstance(value, (bytes, bytearray)):
        if len(value) != 32:
            raise InvalidArgument(f"{name} must be a str, or the ledger's 32-byte task id (signed as hex), got "
                                  f"{len(value)} bytes ({bytes(value)!r:.40}): pass text ids as str")
        return bytes(value).hex()
    if not isinstance(value, str):
        kinds = "a str (or the ledger's 32-byte task id)" if ledger_bytes else "a str"
        raise InvalidArgument(f"{name} must be {kinds}, got {type(value).__name__} ({value!r:.40})")
    _unicode_text(name, value)
    return str(value)  # (a str subclass such as numpy's str_ as a plain str)


@dataclass(frozen=True)
class Receipt:
    """What the ledger records for one upload: ``[1, task_id, item_id, ciphertext_hash,
    status, reasons, scores_micro, verifier, signature]`` in canonical msgpack, the
    signature Ed25519 over ``b"tagger/verify-receipt/v1" || the array without the
    signature`` (see docs/verification.md).

    Given a verdict, the sealed item's ciphertext hash ``h`` and the verifier's key ``sk``::

        r = Receipt.create(verdict, item_id="i1", ciphertext_hash=h, signing_key=sk)
        Receipt.decode(r.encode()).verify(sk.verify_key)  # raises InvalidSignature if altered
    """

    task_id: str
    item_id: str
    ciphertext_hash: bytes
    status: str
    reasons: tuple[str, ...]
    scores_micro: tuple[tuple[str, int], ...]
    verifier: bytes
    signature: bytes = field(repr=False)

    @classmethod
    def create(cls, verdict: Any, item_id: str, ciphertext_hash: bytes, signing_key: SigningKey,
               task_id: str = "") -> "Receipt":
        """Sign ``verdict`` (a :class:`Verdict`) for the sealed item with hash ``ciphertext_hash``.
        ``item_id`` and ``task_id`` are str (a bytes ``task_id``, the ledger's, is signed as hex);
        anything else is an InvalidArgument."""
        if not isinstance(signing_key, SigningKey):
            raise InvalidKey(f"signing_key must be a tg.crypto.SigningKey (Ed25519), got {type(signing_key).__name__}")
        # bytes-like only: bytes(32) would be 32 zero bytes, a receipt for no item at all.
        if not isinstance(ciphertext_hash, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"ciphertext_hash must be the 32-byte SHA-256 of the sealed item (bytes), got "
                                  f"{type(ciphertext_hash).__name__}")
        ch = bytes(ciphertext_hash)
        if len(ch) != 32:
            raise InvalidArgument(f"ciphertext_hash must be 32 bytes (SHA-256), got {len(ch)}")
        task_id, item_id = receipt_id("task_id", task_id, ledger_bytes=True), receipt_id("item_id", item_id)
        vk = bytes(signing_key.verify_key)
        fields = (task_id, item_id, ch, verdict.status, list(verdict.reasons),
                  scores_to_micro(verdict.scores), vk)
        msg = _v.receipt_signed_message(*fields)
        return cls(fields[0], fields[1], ch, verdict.status, tuple(verdict.reasons), tuple(fields[5]), vk,
                   signing_key.sign(msg))

    def _fields(self) -> tuple[str, str, bytes, str, list[str], list[tuple[str, int]], bytes]:
        return (self.task_id, self.item_id, self.ciphertext_hash, self.status, list(self.reasons),
                [(name, score) for name, score in self.scores_micro], self.verifier)

    def signed_message(self) -> bytes:
        return _v.receipt_signed_message(*self._fields())

    def encode(self) -> bytes:
        """The canonical bytes (what the ledger stores and hashes)."""
        return _v.receipt_encode(*self._fields(), self.signature)

    @classmethod
    def decode(cls, data: bytes) -> "Receipt":
        """Parse canonical bytes; DecodeError for anything malformed (the signature is not checked here)."""
        t, i, h, s, r, sc, vk, sig = _v.receipt_decode(data)
        return cls(t, i, h, s, tuple(r), tuple((a, b) for a, b in sc), vk, sig)

    def verify(self, expected: Optional[Union[VerifyKey, bytes]] = None) -> None:
        """Raise InvalidSignature unless the signature is valid (and, when ``expected`` is
        given, made by that verifier). Returns None."""
        if expected is not None and not isinstance(expected, (VerifyKey, bytes, bytearray)):
            raise InvalidKey(f"expected must be a tg.crypto.VerifyKey, got {type(expected).__name__}")
        _v.receipt_verify(self.encode(), None if expected is None else bytes(expected))

    @property
    def scores(self) -> dict[str, float]:
        return {k: v / 1e6 for k, v in self.scores_micro}

    def __repr__(self) -> str:
        r = f", reasons={list(self.reasons)}" if self.reasons else ""
        return (f"Receipt(item_id={self.item_id!r}, status={self.status!r}{r}, "
                f"ciphertext={self.ciphertext_hash.hex()[:12]}…, verifier={self.verifier.hex()[:12]}…)")
