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

    __slots__ = ("_h", "_digest", "_lock")

    def __init__(self, data: BytesLike = b"") -> None:
        import threading
        self._h = _c.Sha256()
        self._digest: bytes | None = None
        # digest() from two threads at once must not finish the hash twice.
        self._lock = threading.Lock()
        if data:
            self.update(data)

    def update(self, data: BytesLike) -> "Sha256":
        if self._digest is not None:
            from .errors import InvalidArgument
            raise InvalidArgument("Sha256.update after digest()")
        self._h.update(data)
        return self

    def digest(self) -> bytes:
        with self._lock:
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


# ---------------------------------------------------------------------------
# Chaotic layer and sealed envelope (docs/crypto.md). Appended section: the
# C++ lives in cpp/src/crypto/chaotic and cpp/src/crypto/seal.cc.
# ---------------------------------------------------------------------------
import os as _os
from typing import BinaryIO, Iterable

from ._core import seal as _s

__all__ += [
    "CHAOTIC_KEY_BYTES", "CHAOTIC_NONCE_BYTES", "SEAL_CHUNK_BYTES", "ChaoticCipher",
    "seal", "open_sealed", "rewrap", "sealed_size", "SealWriter", "seal_file", "open_sealed_file",
    "seal_stream", "open_sealed_stream",
]

CHAOTIC_KEY_BYTES: int = _s.CHAOTIC_KEY_BYTES
CHAOTIC_NONCE_BYTES: int = _s.CHAOTIC_NONCE_BYTES
SEAL_CHUNK_BYTES: int = _s.CHUNK_BYTES
_SEALED_CHUNK_BYTES = SEAL_CHUNK_BYTES + AEAD_TAG_BYTES


def _threads(threads: int | None) -> int:
    return 0 if threads is None else int(threads)


class ChaoticCipher:
    """The dynamic mixed chaotic layer: a length-preserving permutation-diffusion cipher.

    Four chaotic maps in 64-bit fixed point (tent, logistic ``4x(1-x)``, a sine-like
    quadratic in ``u = 4x(1-x)``, and the piecewise-linear map with ``p = 3/8``) are
    evaluated every step and one is kept by masks from the state (no branch), the
    step perturbed by a keyed Weyl sequence ``w += K`` (odd ``K``) so the state
    ``(x, w)`` has period at least ``2**64``. Per 64 KiB chunk: a keyed word
    permutation (Fridrich 1998), forward diffusion with the chaotic keystream on four
    interleaved chains, a tail mix, and backward diffusion. Every parameter comes
    from ``HKDF-SHA-256(key, salt=nonce, info="tagger/chaotic/v1")``.

    Integer arithmetic only, so the output is bit-identical on every platform (frozen
    in ``tests/vectors/chaotic_kat.json``). Its statistical quality is measured; its
    security is **not** claimed — :func:`seal` puts AES-256-GCM on top of it.

    >>> c = ChaoticCipher(bytes(32), bytes(16))
    >>> c.decrypt(c.encrypt(b"hello")) == b"hello"
    True
    """

    __slots__ = ("_c",)

    def __init__(self, key: BytesLike, nonce: BytesLike) -> None:
        self._c = _s.ChaoticCipher(key, nonce)

    def encrypt(self, data: BytesLike, threads: int | None = 1) -> bytes:
        """Encrypt a whole message (chunk ``i`` is ``data[i*65536:(i+1)*65536]``)."""
        return self._c.encrypt(data, _threads(threads))

    def decrypt(self, data: BytesLike, threads: int | None = 1) -> bytes:
        """Invert :meth:`encrypt` (no authentication: garbage in, garbage out)."""
        return self._c.decrypt(data, _threads(threads))

    def encrypt_chunk(self, index: int, data: BytesLike) -> bytes:
        """Encrypt one chunk (at most 65536 bytes) as chunk number ``index``."""
        return self._c.encrypt_chunk(index, data)

    def decrypt_chunk(self, index: int, data: BytesLike) -> bytes:
        return self._c.decrypt_chunk(index, data)

    def keystream(self, words: int, chunk: int = 0) -> np.ndarray:
        """The raw generator output of ``chunk`` (``uint64``, lane-interleaved), for testing."""
        return self._c.keystream(words, chunk)

    def __repr__(self) -> str:
        return "ChaoticCipher(maps=tent|logistic|sine|pwlcm, chunk=65536)"


def _recipient_bytes(r: object) -> bytes:
    if isinstance(r, PublicKey):
        return bytes(r)
    if isinstance(r, PrivateKey):
        from .errors import InvalidKey
        raise InvalidKey("seal to the recipient's public key (PrivateKey.public_key), not to a private key")
    if isinstance(r, (VerifyKey, SigningKey)):
        from .errors import InvalidKey
        raise InvalidKey(f"a {type(r).__name__} is an Ed25519 signing key; sealing needs an X25519 PublicKey")
    if isinstance(r, (bytes, bytearray, memoryview)):
        raw = bytes(r)
        if len(raw) != PUBLIC_KEY_BYTES:
            from .errors import InvalidKey
            raise InvalidKey(f"recipient X25519 public key must be 32 bytes, got {len(raw)}")
        return raw
    from .errors import InvalidKey
    raise InvalidKey(f"recipient must be a tagger.crypto.PublicKey or 32 raw bytes, got {type(r).__name__}")


def _recipients(recipients: object) -> list[bytes]:
    if isinstance(recipients, PublicKey):
        recipients = [recipients]
    if isinstance(recipients, (bytes, bytearray, memoryview, str)) or not isinstance(recipients, Iterable):
        from .errors import InvalidArgument
        raise InvalidArgument("recipients must be a list of PublicKey (or of 32-byte raw keys)")
    keys = [_recipient_bytes(r) for r in recipients]
    if not keys:
        from .errors import InvalidArgument
        raise InvalidArgument("seal needs at least one recipient")
    return keys


def _private(key: object) -> "_c.PrivateKey":
    if isinstance(key, PrivateKey):
        return key._k
    from .errors import InvalidKey
    if isinstance(key, SigningKey):
        raise InvalidKey("open_sealed needs the X25519 PrivateKey, not an Ed25519 SigningKey")
    raise InvalidKey(f"private_key must be a tagger.crypto.PrivateKey, got {type(key).__name__}")


def sealed_size(plaintext_bytes: int, recipients: int = 1) -> int:
    """Bytes :func:`seal` produces: ``60 + 80 r`` header bytes plus 16 per 64 KiB chunk."""
    return _s.sealed_size(plaintext_bytes, recipients)


def seal(data: BytesLike, recipients: Sequence[Union[PublicKey, BytesLike]], *,
         threads: int | None = None) -> bytes:
    """Encrypt ``data`` so that only the holders of the ``recipients``' private keys can read it.

    A fresh 32-byte data key per call; HKDF gives independent keys for the chaotic layer
    and for AES-256-GCM; the payload goes through the chaotic layer, then AES-256-GCM in
    64 KiB chunks (STREAM: counter and last-chunk flag in the nonce, the payload header
    as associated data); the data key is wrapped to each recipient by ephemeral X25519 →
    HKDF → AES-256-GCM (an all-zero shared secret raises InvalidKey). Byte format in
    docs/crypto.md. ``threads=None`` uses every core for large items.
    """
    return _s.seal(data, _recipients(recipients), _threads(threads))


def open_sealed(sealed: BytesLike, private_key: PrivateKey, *, threads: int | None = None) -> bytes:
    """Decrypt a :func:`seal` output with one recipient's private key.

    Every chunk tag is checked before the chaotic layer is undone; a wrong key, a flipped
    bit, a truncated, reordered or extended item all raise
    :class:`~tagger.errors.DecryptionFailed` and no plaintext is returned.
    """
    return _s.open_sealed(sealed, _private(private_key), _threads(threads))


def rewrap(sealed: BytesLike, owner: PrivateKey, recipients: Sequence[Union[PublicKey, BytesLike]], *,
           keep_existing: bool = True) -> bytes:
    """Grant ``recipients`` access to a sealed item, given a current recipient's private key.

    The data key is unwrapped with ``owner`` and wrapped again to each new recipient;
    the header MAC is recomputed; the payload chunks are copied unchanged. With
    ``keep_existing=False`` only the new recipients can open the result (the market uses
    this to hand a dataset to a buyer). Raises DecryptionFailed if ``owner`` cannot open it.
    """
    return _s.rewrap(sealed, _private(owner), _recipients(recipients), keep_existing, False)


class SealWriter:
    """Incremental :func:`seal` for data that does not fit in memory.

    >>> w = SealWriter([PrivateKey.generate().public_key])
    >>> out = w.header + w.update(b"part 1") + w.update(b"part 2") + w.finish()
    """

    __slots__ = ("_w", "_buf", "header")

    def __init__(self, recipients: Sequence[Union[PublicKey, BytesLike]]) -> None:
        self._w = _s.SealWriter(_recipients(recipients))
        self._buf = bytearray()
        self.header: bytes = self._w.header()

    def update(self, data: BytesLike) -> bytes:
        """Sealed bytes for every chunk now complete (one full chunk is held back: it may be the last)."""
        self._buf += data
        out = []
        while len(self._buf) > SEAL_CHUNK_BYTES:
            out.append(self._w.seal_chunk(bytes(self._buf[:SEAL_CHUNK_BYTES]), False))
            del self._buf[:SEAL_CHUNK_BYTES]
        return b"".join(out)

    def finish(self) -> bytes:
        """The last chunk, flagged as last. The writer can not be used afterwards."""
        out = self._w.seal_chunk(bytes(self._buf), True)
        self._buf.clear()
        return out

    def __repr__(self) -> str:
        return f"SealWriter(header={len(self.header)} bytes, finished={self._w.finished})"


def seal_stream(src: BinaryIO, dst: BinaryIO, recipients: Sequence[Union[PublicKey, BytesLike]]) -> int:
    """Seal everything read from ``src`` into ``dst`` in 64 KiB chunks; returns bytes written."""
    w = SealWriter(recipients)
    dst.write(w.header)
    written = len(w.header)
    while True:
        block = src.read(SEAL_CHUNK_BYTES)
        if not block:
            break
        sealed = w.update(block)
        dst.write(sealed)
        written += len(sealed)
    last = w.finish()
    dst.write(last)
    return written + len(last)


def open_sealed_stream(src: BinaryIO, dst: BinaryIO, private_key: PrivateKey) -> int:
    """Open a sealed item read from a seekable ``src`` into ``dst``; returns plaintext bytes.

    Two passes: the first checks every chunk tag and writes nothing, so a tampered or
    truncated item raises DecryptionFailed before any plaintext reaches ``dst``; the
    second decrypts (re-checking each tag, in case ``src`` changed in between).
    """
    key = _private(private_key)
    start = src.tell()
    src.seek(0, _os.SEEK_END)
    total = src.tell() - start
    src.seek(start)
    head = src.read(min(total, 60 + 80 * _s.MAX_RECIPIENTS))
    reader = _s.SealReader(head, key)
    body = total - reader.header_size
    from .errors import DecryptionFailed
    if body < AEAD_TAG_BYTES:
        raise DecryptionFailed("sealed item is truncated (no final chunk)")
    count = -(-body // _SEALED_CHUNK_BYTES)
    last_len = body - (count - 1) * _SEALED_CHUNK_BYTES
    if last_len < AEAD_TAG_BYTES or (last_len == AEAD_TAG_BYTES and count > 1):
        raise DecryptionFailed("sealed item is truncated or extended")

    def chunks():
        src.seek(start + reader.header_size)
        for i in range(count):
            n = last_len if i == count - 1 else _SEALED_CHUNK_BYTES
            chunk = src.read(n)
            if len(chunk) != n:
                raise DecryptionFailed("sealed stream changed while being read")
            yield i, chunk, i == count - 1

    for i, chunk, last in chunks():
        reader.verify_chunk(i, chunk, last)
    written = 0
    for i, chunk, last in chunks():
        plain = reader.open_chunk(i, chunk, last)
        dst.write(plain)
        written += len(plain)
    return written


def seal_file(src: Union[str, "_os.PathLike[str]"], dst: Union[str, "_os.PathLike[str]"],
              recipients: Sequence[Union[PublicKey, BytesLike]]) -> None:
    """Seal the file ``src`` into ``dst`` (streamed in C++, written atomically, GIL released)."""
    _s.seal_file(_os.fspath(src), _os.fspath(dst), _recipients(recipients))


def open_sealed_file(src: Union[str, "_os.PathLike[str]"], dst: Union[str, "_os.PathLike[str]"],
                     private_key: PrivateKey) -> None:
    """Open the sealed file ``src`` into ``dst``: all tags first, then decryption into a
    temporary file renamed over ``dst`` only on success (no partial plaintext file)."""
    _s.open_sealed_file(_os.fspath(src), _os.fspath(dst), _private(private_key))
