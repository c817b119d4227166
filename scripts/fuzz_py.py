"""atheris fuzzing of the Python-facing parsers (make fuzz-py; docs/reliability.md).

    python scripts/fuzz_py.py TARGET [libFuzzer flags] [corpus dirs]

TARGET is one of codec, sealed, dataset. Only tagger.errors.TaggerError (or a
subclass) is an expected answer to bad bytes; any other exception propagates and
atheris reports it with the input that caused it.
"""
from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["tagger"]):
    import pandas as pd

    import tagger as tg
    from tagger import market
    from tagger.errors import TaggerError

KEY = tg.crypto.PrivateKey.from_bytes(bytes([0x42]) * 32)


def codec_one(data: bytes) -> None:
    try:
        value = tg.codec.decode(data)
    except TaggerError:
        return
    # Canonical: what decodes encodes back to the same bytes.
    if tg.codec.encode(value) != data:
        raise AssertionError("encode(decode(x)) != x")


def sealed_one(data: bytes) -> None:
    try:
        out = tg.crypto.open_sealed(data, KEY, threads=1)
    except TaggerError:
        return
    if len(out) > len(data):
        raise AssertionError("plaintext longer than the sealed item")


def dataset_one(data: bytes) -> None:
    # The bytes open_dataset parses after open_sealed: the seller chose them.
    try:
        salt, columns, rows, hexes = market._dataset_payload(data)
    except TaggerError:
        return
    pd.DataFrame(rows, columns=columns)
    bytes.fromhex("".join(hexes))


TARGETS = {"codec": codec_one, "sealed": sealed_one, "dataset": dataset_one}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: fuzz_py.py {{{','.join(TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
