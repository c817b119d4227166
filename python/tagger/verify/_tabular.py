"""JSON and CSV checks against a task schema.

A schema maps a key (JSON) or column (CSV) to a type name: ``"str"``, ``"int"``,
``"float"`` (ints accepted), ``"bool"``, ``"list"``, ``"dict"``, ``"any"`` (or the
Python types ``str, int, float, bool, list, dict``). A trailing ``"?"`` makes the field
optional (it may be absent, null, or an empty CSV cell).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import threading
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .._fork import renew_after_fork
from .._json_depth import MAX_JSON_DEPTH, too_deep as _too_deep
from ..errors import InvalidArgument

_PY_TYPES = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}
_NAMES = {"str", "int", "float", "bool", "list", "dict", "any"}
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def parse_schema(schema: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """{field: (type name, optional)}; InvalidArgument for an unknown type."""
    if not isinstance(schema, Mapping) or not schema:
        raise InvalidArgument("schema must be a non-empty mapping of field name -> type")
    out = {}
    for name, t in schema.items():
        if not isinstance(name, str):
            raise InvalidArgument(f"schema field names must be str, got {name!r}")
        optional = False
        if isinstance(t, type):
            if t not in _PY_TYPES:
                raise InvalidArgument(f"schema type {t.__name__} for {name!r} is not one of {sorted(_NAMES)}")
            t = _PY_TYPES[t]
        elif isinstance(t, str):
            optional = t.endswith("?")
            t = t.rstrip("?")
            if t not in _NAMES:
                raise InvalidArgument(f"schema type {t!r} for {name!r} is not one of {sorted(_NAMES)}")
        else:
            raise InvalidArgument(f"schema type for {name!r} must be a type name or a Python type, got {t!r}")
        out[name] = (t, optional)
    return out


def _json_type_ok(v: Any, t: str) -> bool:
    if t == "any":
        return True
    if t == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        try:
            return math.isfinite(v)
        except OverflowError:  # an integer beyond float range is not a usable float
            return False
    return isinstance(v, {"str": str, "bool": bool, "list": list, "dict": dict}[t])


# What a CSV reader elsewhere parses as a number: ASCII digits, surrounding blanks allowed.
# (Python's int()/float() also take "1_000" and other scripts' digits, "١٢".)
_INT_CELL = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT_CELL = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def _cell_type_ok(cell: str, t: str) -> bool:
    if t in ("any", "str"):
        return True
    try:
        if t == "int":
            return _INT_CELL.fullmatch(cell) is not None
        elif t == "float":
            if _FLOAT_CELL.fullmatch(cell) is None or not math.isfinite(float(cell)):
                return False
        elif t == "bool":
            return cell.strip().lower() in _BOOL_WORDS
        else:  # list / dict cells hold JSON
            if _too_deep(cell):
                return False
            return isinstance(_loads(cell), list if t == "list" else dict)
    except (ValueError, OverflowError, RecursionError):  # a nesting too deep to parse is no value either
        return False
    return True


Finding = tuple[str, str]  # (reason code, detail)


def check_records(records: Sequence[Mapping[str, Any]], schema: dict[str, tuple[str, bool]], strict: bool,
                  cell: bool) -> Iterator[Finding]:
    """Schema findings over records, one per reason code (the first offending record named)."""
    seen: set[str] = set()
    for i, rec in enumerate(records):
        for name, (t, optional) in schema.items():
            v = rec.get(name)
            if name not in rec or v is None or (cell and v == ""):  # absent
                if not optional and "schema_missing_field" not in seen:
                    seen.add("schema_missing_field")
                    yield "schema_missing_field", f"record {i}: missing {name!r}"
                continue
            ok = _cell_type_ok(v, t) if cell else _json_type_ok(v, t)
            if not ok and "schema_type_mismatch" not in seen:
                seen.add("schema_type_mismatch")
                yield "schema_type_mismatch", f"record {i}: {name!r}={str(v)[:40]!r} is not {t}"
        if strict and "schema_unexpected_field" not in seen:
            extra = [k for k in rec if k not in schema]
            if extra:
                seen.add("schema_unexpected_field")
                yield "schema_unexpected_field", f"record {i}: unexpected {extra[:5]}"


# Python's int() stops at 4,300 digits (a guard against quadratic conversion).
MAX_INT_DIGITS = 4300


def _int_or_refuse(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(s.lstrip('-'))} digits (more than {MAX_INT_DIGITS} are not accepted)")
    return int(s)


def _finite_float(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):  # 1e999 parses to inf: a number no consumer can use
        raise ValueError(f"number {s[:40]} is out of the range of a double")
    return v


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):  # readers disagree on which value wins: last here, first elsewhere
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup[:40]!r} in an object")
    return d


def _loads(text: str) -> Any:
    """json.loads refusing what RFC 8259 leaves to the reader: NaN/Infinity, numbers beyond a
    double, duplicate keys (and integers past Python's digit limit, with a clear message)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int_or_refuse,
                      object_pairs_hook=_unique_keys)


def parse_json(text: str) -> tuple[Any, Finding | None]:
    if _too_deep(text):
        return None, ("json_invalid", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        # Reject NaN/Infinity: they are not JSON (RFC 8259) even though Python emits them.
        return _loads(text), None
    except (ValueError, RecursionError) as e:
        return None, ("json_invalid", str(e)[:200])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_records(value: Any) -> tuple[list, Finding | None]:
    """A JSON object is one record; an array must hold objects (JSON Lines are split by the caller)."""
    if isinstance(value, dict):
        return [value], None
    if isinstance(value, list):
        if not value:
            return [], ("table_empty", "empty JSON array")
        bad = next((i for i, v in enumerate(value) if not isinstance(v, dict)), None)
        if bad is not None:
            return [], ("schema_type_mismatch", f"array element {bad} is {type(value[bad]).__name__}, not an object")
        return value, None
    return [], ("schema_type_mismatch", f"top-level JSON {type(value).__name__}, expected an object or an array of objects")


_FIELD_LIMIT_LOCK = threading.Lock()
renew_after_fork(sys.modules[__name__], "_FIELD_LIMIT_LOCK")  # (tagger/_fork.py)


def parse_csv(text: str, delimiter: str) -> tuple[list[dict[str, str]], list[str], Finding | None]:
    # A cell may be as large as the upload (max_bytes bounds that), not the csv module's
    # 131,072-character default; the limit is process-wide, so it is only ever raised.
    with _FIELD_LIMIT_LOCK:
        if csv.field_size_limit() < len(text) + 1:
            csv.field_size_limit(len(text) + 1)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as e:
        return [], [], ("csv_invalid", str(e)[:200])
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        return [], [], ("table_empty", "no header row")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or any(not h for h in header):
        return [], header, ("csv_invalid", "header has empty or repeated column names")
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            return [], header, ("csv_invalid", f"line {i} has {len(r)} fields, the header {len(header)}")
    if len(rows) == 1:
        return [], header, ("table_empty", "header only, no data rows")
    return [dict(zip(header, r)) for r in rows[1:]], header, None
