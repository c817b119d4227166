"""Regressions found by fuzzing (docs/reliability.md, "Fuzzing")."""
from __future__ import annotations

import pytest

import tagger as tg
from tagger import market
from tagger.errors import TaggerError

TAG = "tagger/dataset/v1"
HEX = "ab" * 32


@pytest.mark.parametrize("value", [
    5,                                                   # not an array: was TypeError (cannot unpack)
    [TAG, b"s", ["a"], [["x"]]],                         # 4 fields: was ValueError
    [TAG, b"s", ["a"], [["x"]], [HEX], 1],               # 6 fields: was ValueError
    ["other", b"s", ["a"], [["x"]], [HEX]],
    [TAG, "s", ["a"], [["x"]], [HEX]],                   # salt not bytes
    [TAG, b"s", "a", [["x"]], [HEX]],                    # columns not a list
    [TAG, b"s", [1], [[1]], [HEX]],                      # column name not a str
    [TAG, b"s", ["a", "a"], [["x", "y"]], [HEX]],        # duplicate columns
    [TAG, b"s", ["a"], [["x", "y"]], [HEX]],             # row wider than the columns: was ValueError in pandas
    [TAG, b"s", ["a"], ["x"], [HEX]],                    # row not an array
    [TAG, b"s", ["a"], [["x"]], []],                     # fewer commitments than rows
    [TAG, b"s", ["a"], [["x"]], ["zz" * 32]],            # not hex: was ValueError in bytes.fromhex
    [TAG, b"s", ["a"], [["x"]], [HEX[:-2]]],             # short commitment
])
def test_malformed_dataset_payload_is_a_typed_error(value):
    # The payload is what a dataset's seller sealed: authenticated, not trusted.
    with pytest.raises(TaggerError):
        market._dataset_payload(tg.codec.encode(value))


def test_dataset_payload_bytes_that_do_not_decode_are_a_typed_error():
    with pytest.raises(TaggerError):
        market._dataset_payload(b"\xc1")


def test_well_formed_dataset_payload_parses():
    salt, columns, rows, hexes = market._dataset_payload(tg.codec.encode([TAG, b"s", ["a", "b"], [["x", 1]], [HEX]]))
    assert (salt, columns, rows, hexes) == (b"s", ["a", "b"], [["x", 1]], [HEX])
