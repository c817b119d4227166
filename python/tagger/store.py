"""Content-addressed storage of sealed blobs.

A blob is named by the SHA-256 of its sealed bytes. :meth:`BlobStore.open` keeps blobs
in sharded folders (``<root>/blobs/ab/ab…``), each written to a temporary file,
fsynced and renamed into place (a crash leaves the whole blob or none); every read
re-hashes the bytes and raises :class:`~tagger.errors.DecodeError` when they no
longer match their name. :meth:`BlobStore.memory` keeps them in a dict-like store
for tests and ``Network.memory()``. Only sealed envelopes (:func:`tagger.crypto.seal`)
are accepted, so plaintext can never reach the disk through the store.

>>> from tagger import crypto
>>> store = BlobStore.memory()
>>> key = crypto.PrivateKey.generate()
>>> h = store.put(crypto.seal(b"upload", [key.public_key]))
>>> crypto.open_sealed(store.get(h), key)
b'upload'
"""

from __future__ import annotations

import os
from typing import Iterator, Union

from ._core import store as _st

__all__ = ["BlobStore"]

HashLike = Union[bytes, bytearray, memoryview, str]


def _hash(h: HashLike) -> bytes:
    if isinstance(h, str):
        try:
            h = bytes.fromhex(h)
        except ValueError:
            from .errors import InvalidArgument
            raise InvalidArgument(f"blob hash must be 64 hex characters, got {h!r}") from None
    return bytes(h)


class BlobStore:
    """Sealed blobs by SHA-256: ``put(sealed) -> hash``, ``get(hash) -> sealed``, ``hash in store``.

    Hashes are 32-byte ``bytes`` (hex strings are accepted wherever a hash is taken).
    """

    __slots__ = ("_s",)

    def __init__(self, core: "_st.BlobStore") -> None:
        self._s = core

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]"]) -> "BlobStore":
        """Open (creating if needed) the store in folder ``path``."""
        return cls(_st.BlobStore.open(os.fspath(path)))

    @classmethod
    def memory(cls) -> "BlobStore":
        """A store in memory only."""
        return cls(_st.BlobStore.memory())

    def put(self, sealed: Union[bytes, bytearray, memoryview]) -> bytes:
        """Store a sealed item; returns its SHA-256. Idempotent; InvalidArgument for non-sealed bytes."""
        return self._s.put(sealed)

    def put_file(self, path: Union[str, "os.PathLike[str]"]) -> bytes:
        """Store a sealed file (e.g. from :func:`tagger.crypto.seal_file`) without loading it in memory."""
        return self._s.put_file(os.fspath(path))

    def get(self, hash: HashLike) -> bytes:
        """The sealed bytes named ``hash``; KeyError when absent, DecodeError when corrupt on disk."""
        out = self._s.get(_hash(hash))
        if out is None:
            raise KeyError(_hash(hash).hex())
        return out

    __getitem__ = get

    def __contains__(self, hash: object) -> bool:
        try:
            return self._s.contains(_hash(hash))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def remove(self, hash: HashLike) -> bool:
        """Delete a blob; False when it was not there."""
        return self._s.remove(_hash(hash))

    def __delitem__(self, hash: HashLike) -> None:
        if not self.remove(hash):
            raise KeyError(_hash(hash).hex())

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._s.list())

    def __len__(self) -> int:
        return self._s.size()

    @property
    def path(self) -> str | None:
        """The store's folder (None in memory)."""
        return None if self._s.in_memory() else self._s.root()

    def path_of(self, hash: HashLike) -> str:
        """Where blob ``hash`` lives on disk (for streaming it with ``open_sealed_file``)."""
        return self._s.path_of(_hash(hash))

    def __repr__(self) -> str:
        where = "memory" if self._s.in_memory() else repr(self._s.root())
        return f"BlobStore({where}, blobs={len(self)})"
