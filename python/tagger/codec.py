"""Canonical msgpack: the single byte form of every record tagger hashes or signs.

Values are ``None``, ``bool``, ``int`` (64-bit), ``str`` (UTF-8), ``bytes`` and
lists/tuples of values. Maps and floats are refused: a record is an array in a
fixed field order, so the same record always has the same bytes.

>>> from tagger import codec
>>> codec.decode(codec.encode([1, b"x", "y", [None, True]]))
[1, b'x', 'y', [None, True]]
"""

from __future__ import annotations

from typing import Any

from ._core import codec as _c
from .errors import InvalidArgument

__all__ = ["encode", "decode", "MAX_LENGTH", "MAX_ITEMS", "MAX_DEPTH"]

MAX_LENGTH: int = _c.MAX_LENGTH
"""Default limit on the byte length of one str or bin while decoding."""
MAX_ITEMS: int = _c.MAX_ITEMS
"""Default limit on the entries of one array while decoding."""
MAX_DEPTH: int = _c.MAX_DEPTH
"""Default limit on array nesting while encoding and decoding."""


def encode(obj: Any, *, max_depth: int = MAX_DEPTH) -> bytes:
    """Encode ``obj`` canonically. Raises :class:`tagger.errors.InvalidArgument`
    for floats, maps, integers beyond 64 bits, invalid UTF-8 or deeper nesting."""
    try:
        return _c.encode(obj, max_depth=max_depth)
    except (RuntimeError, TypeError, UnicodeEncodeError):
        # pybind11 cannot convert a str holding a lone surrogate: name where it is.
        where = _bad_text(obj, "")
        if where is None:
            raise
        raise InvalidArgument(f"value{where} is not valid UTF-8 text (a lone surrogate)") from None


def _bad_text(obj: Any, path: str) -> str | None:
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            got = _bad_text(v, f"{path}[{i}]")
            if got is not None:
                return got
    return None


def decode(data: bytes, *, max_length: int = MAX_LENGTH, max_items: int = MAX_ITEMS,
           max_depth: int = MAX_DEPTH) -> Any:
    """Decode one canonical value; arrays come back as lists.

    Raises :class:`tagger.errors.DecodeError` naming the offset and the fault for
    trailing bytes, truncation, maps, floats, ext types, non-canonical integers or
    lengths, invalid UTF-8, and lengths, item counts or nesting over the limits.
    """
    return _c.decode(data, max_length=max_length, max_items=max_items, max_depth=max_depth)
