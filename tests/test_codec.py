"""Canonical msgpack: round trips, canonicality and strict rejection."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger import codec
from tagger.errors import DecodeError, InvalidArgument

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=300)
    | st.binary(max_size=300)
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=20), max_leaves=60)


@given(values)
def test_decode_inverts_encode(v):
    assert codec.decode(codec.encode(v)) == _as_lists(v)


@given(values)
def test_encode_of_decode_is_identity_on_valid_bytes(v):
    x = codec.encode(v)
    assert codec.encode(codec.decode(x)) == x


@given(st.binary(max_size=40))
@settings(max_examples=3000)
def test_any_bytes_that_decode_are_canonical(x):
    try:
        v = codec.decode(x)
    except DecodeError:
        return
    assert codec.encode(v) == x


@given(values)
def test_msgpack_reference_reads_our_bytes(v):
    # The reference implementation agrees on the meaning of every encoding.
    assert msgpack.unpackb(codec.encode(v), raw=False, strict_map_key=False) == _as_lists(v)


@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_integers_in_smallest_form_match_msgpack(i):
    assert codec.encode(i) == msgpack.packb(i)


def _as_lists(v):
    if isinstance(v, (list, tuple)):
        return [_as_lists(x) for x in v]
    return v


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"\x01\x02", "trailing"),
        (b"\x92\x01", "cannot fit"),
        (b"\x81\x01\x02", "map"),
        (b"\xca\x00\x00\x00\x00", "float"),
        (b"\xcb" + bytes(8), "float"),
        (b"\xd4\x01\x00", "ext"),
        (b"\xc1", "0xc1"),
        (b"\xcd\x00\x05", "non-canonical uint"),
        (b"\xd0\x05", "non-canonical int"),
        (b"\xd9\x01a", "non-canonical str"),
        (b"\xc5\x00\x01\x00", "non-canonical bin"),
        (b"\xdc\x00\x01\x01", "non-canonical array"),
        (b"\xa2\xc3\x28", "UTF-8"),
        (b"\xc4\x05\x01", "past the end"),
        (b"", "end of input"),
    ],
)
def test_rejections_name_the_fault(data, fragment):
    with pytest.raises(DecodeError, match=fragment):
        codec.decode(data)


def test_limits_are_enforced_with_their_numbers():
    with pytest.raises(DecodeError, match="exceeds the limit of 4"):
        codec.decode(codec.encode(b"12345"), max_length=4)
    with pytest.raises(DecodeError, match="exceeds the limit of 2"):
        codec.decode(codec.encode([1, 2, 3]), max_items=2)
    deep = 0
    for _ in range(5):
        deep = [deep]
    assert codec.decode(codec.encode(deep), max_depth=5) == deep
    with pytest.raises(DecodeError, match="nesting deeper than the limit of 4"):
        codec.decode(codec.encode(deep), max_depth=4)
    with pytest.raises(InvalidArgument, match="nesting"):
        codec.encode(deep, max_depth=4)


@pytest.mark.parametrize(
    "obj, fragment",
    [(1.5, "floats"), ({"a": 1}, "maps"), (2**64, "64 bits"), (-(2**63) - 1, "64 bits"), (object(), "type object")],
)
def test_encode_refuses_what_has_no_canonical_form(obj, fragment):
    with pytest.raises(InvalidArgument, match=fragment):
        codec.encode(obj)


def test_decode_refuses_str_input():
    with pytest.raises(InvalidArgument, match="bytes-like"):
        codec.decode("\x01")
