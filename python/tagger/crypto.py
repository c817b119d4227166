"""Cryptographic primitives over OpenSSL 3: hashing, HMAC, HKDF, Ed25519
signatures (single and batch), X25519 key agreement and AEAD.

Paired verbs, checked results: ``VerifyKey.verify`` raises
:class:`~tagger.errors.InvalidSignature` and ``aead_decrypt`` raises
:class:`~tagger.errors.DecryptionFailed`; neither returns a flag to forget.

>>> from tagger import crypto
>>> sk = crypto.SigningKey.generate()
>>> sig = sk.sign(b"hello")
>>> sk.verify_key.verify(b"hello", sig)   # raises if forged
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ._core import crypto as _c

__all__ = [
    "HASH_BYTES", "SIGNATURE_BYTES", "PUBLIC_KEY_BYTES", "AEAD_KEY_BYTES", "AEAD_NONCE_BYTES",
    "AEAD_TAG_BYTES", "random_bytes", "sha256", "Sha256", "hmac_sha256", "hkdf_sha256",
    "SigningKey", "VerifyKey", "verify_batch", "PrivateKey", "PublicKey",
    "aead_encrypt", "aead_decrypt",
]

BytesLike = Union[bytes, bytearray, memoryview]

HASH_BYTES: int = _c.HASH_BYTES
SIGNATURE_BYTES: int = _c.SIGNATURE_BYTES
PUBLIC_KEY_BYTES: int = _c.PUBLIC_KEY_BYTES
AEAD_KEY_BYTES: int = _c.AEAD_KEY_BYTES
AEAD_NONCE_BYTES: int = _c.AEAD_NONCE_BYTES
AEAD_TAG_BYTES: int = _c.AEAD_TAG_BYTES


def random_bytes(n: int) -> bytes:
    """``n`` bytes from OpenSSL's CSPRNG."""
    return _c.random_bytes(n)


def sha256(data: BytesLike) -> bytes:
    """SHA-256 digest (32 bytes). Releases the GIL for large inputs."""
    return _c.sha256(data)


class Sha256:
    """Streaming SHA-256: ``Sha256().update(a).update(b).digest()``."""

    __slots__ = ("_h", "_digest")

    def __init__(self, data: BytesLike = b"") -> None:
        self._h = _c.Sha256()
        self._digest: bytes | None = None
        if data:
            self.update(data)

    def update(self, data: BytesLike) -> "Sha256":
        if self._digest is not None:
            from .errors import InvalidArgument
            raise InvalidArgument("Sha256.update after digest()")
        self._h.update(data)
        return self

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = self._h.finish()
        return self._digest

    def hexdigest(self) -> str:
        return self.digest().hex()


def hmac_sha256(key: BytesLike, data: BytesLike) -> bytes:
    """HMAC-SHA-256 (32 bytes)."""
    return _c.hmac_sha256(key, data)


def hkdf_sha256(ikm: BytesLike, salt: BytesLike, info: BytesLike, length: int) -> bytes:
    """HKDF-SHA-256 (RFC 5869); ``length`` at most 8160 bytes."""
    return _c.hkdf_sha256(ikm, salt, info, length)


class VerifyKey:
    """An Ed25519 public key (32 raw bytes)."""

    __slots__ = ("_k",)

    def __init__(self, raw32: BytesLike) -> None:
        self._k = raw32._k if isinstance(raw32, VerifyKey) else _c.VerifyKey(raw32)

    @classmethod
    def _wrap(cls, core: "_c.VerifyKey") -> "VerifyKey":
        obj = cls.__new__(cls)
        obj._k = core
        return obj

    def verify(self, message: BytesLike, signature: BytesLike) -> None:
        """Return None if ``signature`` is valid for ``message``; else raise InvalidSignature."""
        self._k.verify(message, signature)

    def is_valid(self, message: BytesLike, signature: BytesLike) -> bool:
        return self._k.is_valid(message, signature)

    def __bytes__(self) -> bytes:
        return self._k.raw()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and bytes(self) == bytes(other)

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        return f"VerifyKey({bytes(self).hex()[:16]}…)"


class SigningKey:
    """An Ed25519 private key. The 32-byte seed is the whole secret; it is wiped from
    C++ memory when the key is freed."""

    __slots__ = ("_k",)

    def __init__(self, core: "_c.SigningKey") -> None:
        self._k = core

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(_c.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed32: BytesLike) -> "SigningKey":
        return cls(_c.SigningKey.from_seed(seed32))

    def sign(self, message: BytesLike) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._k.sign(message)

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey._wrap(self._k.verify_key())

    def seed(self) -> bytes:
        """Export the private seed (handle with care)."""
        return self._k.seed()

    def __repr__(self) -> str:
        return f"SigningKey(verify_key={bytes(self.verify_key).hex()[:16]}…)"


def verify_batch(messages: Sequence[BytesLike], signatures: Sequence[BytesLike],
                 verify_keys: Sequence[Union[VerifyKey, BytesLike]], threads: int | None = None) -> np.ndarray:
    """Check N (message, signature, key) triples on a thread pool, GIL released.

    Returns a numpy bool array with one verdict each; malformed items are False.
    ``threads=None`` uses every core.
    """
    return _c.verify_batch(messages, signatures, verify_keys, 0 if threads is None else int(threads))


class PublicKey:
    """An X25519 public key (32 raw bytes)."""

    __slots__ = ("_raw",)

    def __init__(self, raw32: BytesLike) -> None:
        raw = bytes(raw32)
        if len(raw) != PUBLIC_KEY_BYTES:
            from .errors import InvalidKey
            raise InvalidKey(f"X25519 public key must be 32 bytes, got {len(raw)}")
        self._raw = raw

    def __bytes__(self) -> bytes:
        return self._raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"PublicKey({self._raw.hex()[:16]}…)"


class PrivateKey:
    """An X25519 private key, for sealing data to its owner."""

    __slots__ = ("_k",)

    def __init__(self, core: "_c.PrivateKey") -> None:
        self._k = core

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(_c.PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw32: BytesLike) -> "PrivateKey":
        return cls(_c.PrivateKey.from_bytes(raw32))

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self._k.public_key())

    def exchange(self, peer: Union[PublicKey, BytesLike]) -> bytes:
        """X25519 shared secret; InvalidKey for a low-order peer key (all-zero secret)."""
        return self._k.exchange(bytes(peer))

    def __bytes__(self) -> bytes:
        return self._k.raw()

    def __repr__(self) -> str:
        return f"PrivateKey(public_key={bytes(self.public_key).hex()[:16]}…)"


def aead_encrypt(key: BytesLike, nonce: BytesLike, plaintext: BytesLike, aad: BytesLike = b"",
                 alg: str = "aes-256-gcm") -> bytes:
    """Encrypt and authenticate; returns ciphertext‖tag (16 bytes longer).

    ``alg`` is ``"aes-256-gcm"`` or ``"chacha20-poly1305"``; the key is 32 bytes and the
    nonce 12 bytes, never to be reused with the same key.
    """
    return _c.aead_encrypt(key, nonce, plaintext, aad, alg)


def aead_decrypt(key: BytesLike, nonce: BytesLike, ciphertext: BytesLike, aad: BytesLike = b"",
                 alg: str = "aes-256-gcm") -> bytes:
    """Check the tag and decrypt; raises DecryptionFailed (never partial plaintext) on any mismatch."""
    return _c.aead_decrypt(key, nonce, ciphertext, aad, alg)
