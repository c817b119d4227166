"""Input checks shared by the non-classification families (pairwise, image,
embeddings, texts, boxes): one clear error naming the column and the row."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidArgument, MissingColumn


def frame(data: Any, columns: Sequence[str], owner: str) -> pd.DataFrame:
    """``data[columns]``, or MissingColumn (a KeyError, as in crowd-kit) / InvalidArgument."""
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(f"{owner}: expected a pandas DataFrame with columns {list(columns)}; got {type(data).__name__}")
    no_repeated_columns(data, columns, owner)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise MissingColumn(f"{owner}: data is missing column(s) {missing}; expected columns {list(columns)}")
    if len(data) == 0:
        raise InvalidArgument(f"{owner}: data is empty (no answers to aggregate)")
    return data[list(columns)]


def no_repeated_columns(data: pd.DataFrame, columns: Sequence[str], owner: str | None = None) -> None:
    """InvalidArgument when one of ``columns`` appears more than once, or the columns have
    several levels (either way ``data[c]`` would be a frame, not a column)."""
    prefix = f"{owner}: " if owner else ""
    if isinstance(data.columns, pd.MultiIndex):
        raise InvalidArgument(f"{prefix}data has {data.columns.nlevels}-level (MultiIndex) columns; give one level "
                              f"named {list(columns)} (e.g. data.columns = data.columns.get_level_values(0))")
    if data.columns.is_unique:  # cached by pandas: comparing each name costs ~0.4 ms on Arrow-backed names
        return
    repeated = [c for c in columns if int((data.columns == c).sum()) > 1]
    if repeated:
        raise InvalidArgument(f"{prefix}column(s) {repeated} appear more than once in the data; keep one of each")


def no_missing(data: pd.DataFrame, columns: Sequence[str], owner: str | None = None) -> None:
    """InvalidArgument naming the first NaN/None/pd.NA in ``columns``."""
    prefix = f"{owner}: " if owner else ""
    for c in columns:
        col = data[c]
        # Only plain numpy integer/bool columns cannot hold a missing value;
        # pandas' nullable Int64/boolean columns report the same kind but can.
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub":
            continue
        na = col.isna().to_numpy(dtype=bool)
        if na.any():
            row = int(np.flatnonzero(na)[0])
            raise InvalidArgument(f"{prefix}column {c!r} has {int(na.sum())} missing value(s) (NaN/None/pd.NA), "
                                  f"first at {row_ref(data.index, row)}")


def row_ref(index: pd.Index, position: int) -> str:
    """``row 4``, or ``row 4 (index label 104)`` where the frame's label of that row differs
    from its position: "row 4" of a filtered frame sent users to ``df.loc[4]``, a KeyError."""
    label = index[position]
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and int(label) == position:
        return f"row {position}"
    return f"row {position} (index label {label.item() if isinstance(label, np.generic) else label!r})"


def codes(values: pd.Series | np.ndarray, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """int32 codes and the ids they stand for (``pd.factorize``; first appearance unless ``sort``)."""
    try:
        c, names = pd.factorize(values, sort=sort)
    except TypeError:  # ids of mixed, unorderable types
        c, names = pd.factorize(values, sort=False)
    return c.astype(np.int32, copy=False), pd.Index(names)


def check_n_iter(owner: str, **params: Any) -> None:
    """InvalidArgument for an iteration count < 1 or a negative/non-number tolerance."""
    import numbers
    for k, v in params.items():
        if k == "n_iter":
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= int(v) <= 2**31 - 1:
                raise InvalidArgument(f"{owner}: n_iter must be an int in [1, 2**31 - 1], got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(float(v)) or float(v) < 0:
            raise InvalidArgument(f"{owner}: {k} must be a finite number >= 0, got {v!r}")


def one_row_each(index: pd.Index, what: str) -> None:
    """InvalidArgument ``"{what} {id!r}"`` for the first id ``index`` repeats (a repeated
    index fails later as pandas' "cannot reindex on an axis with duplicate labels")."""
    if not index.is_unique:
        raise InvalidArgument(f"{what} {index[index.duplicated()].tolist()[0]!r}")


def renamed(error: Exception, prefix: str, owner: str) -> Exception | None:
    """``error`` from the core, which names its C++ function (``prefix``, e.g. "bbox: "), as the
    same error naming the class the user called; None when it does not start with ``prefix``."""
    msg = str(error)
    return type(error)(f"{owner}: {msg[len(prefix):]}") if msg.startswith(prefix) else None


def _id_kind(index: pd.Index) -> str | None:
    """"number" or "string" when every id of ``index`` is one of them, else None."""
    kind = pd.api.types.infer_dtype(index, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return "number"
    if kind == "string":
        return "string"
    return None


def ids_of_the_data(given: pd.Index, known: pd.Index, what: str, positions: np.ndarray) -> None:
    """InvalidArgument when none of ``given`` (ids the caller names, ``positions`` their
    places in ``known``) is an id of the data and the mistake is plain: the ids are
    numbers where the data's are strings or the other way round (``truth.csv`` and
    ``answers.csv`` read with different dtypes). Ids that are merely absent (a control
    item not answered yet) stay allowed."""
    if len(given) == 0 or (positions >= 0).any():
        return
    g, k = _id_kind(given), _id_kind(known)
    if g is not None and k is not None and g != k:
        raise InvalidArgument(f"{what}: none of its {len(given)} task id(s) is a task of the answers: they are "
                              f"{g}s ({given[:3].tolist()}) and the answers' task ids are {k}s "
                              f"({known[:3].tolist()}); convert one to the other's type")


def labels_that_print_alike(names: pd.Index, what: str = "label") -> None:
    """InvalidArgument when two distinct labels print alike (1 and "1"): a column read
    partly as numbers and partly as text, which would silently double the classes."""
    if names.dtype != object or len(names) < 2:
        return
    seen: dict[str, Any] = {}
    for v in names:
        s = str(v)
        if s in seen:
            raise InvalidArgument(f"{what}s {seen[s]!r} and {v!r} are different values that print alike (a number and "
                                  f"a string?); they would be two classes: give the {what} column one type, "
                                  f"e.g. data['{what}'].astype(str)")
        seen[s] = v
