"""Continuous answers: per-task median and trimmed mean."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument, MissingColumn
from ._serial import Serialized
from ._checks import row_ref
from .base import factorize

__all__ = ["Median", "TrimmedMean"]


class _Continuous(Serialized):
    _method = ""

    def __init__(self, *, on_duplicate: str = "keep_last", threads: int = 0) -> None:
        self.on_duplicate, self.threads = on_duplicate, threads

    def _trim(self) -> float:
        return 0.0

    def fit(self, data: pd.DataFrame) -> _Continuous:
        """Aggregates each task's numeric answers; returns the estimator itself.

        ``data``: columns ``task, worker, output`` (crowd-kit) or ``task, worker,
        label`` with numbers (``output`` is read when both are present). A
        missing column raises :class:`~tagger.errors.MissingColumn`, a value
        that is not a number :class:`~tagger.errors.InvalidArgument`; a worker
        answering a task twice follows ``on_duplicate``. Sets ``labels_``: a
        Series task -> aggregated value, named ``agg_output``.
        """
        from .base import check_params
        check_params(vars(self), type(self).__name__)
        col = "output" if isinstance(data, pd.DataFrame) and "output" in data.columns else "label"
        if isinstance(data, pd.DataFrame) and col not in data.columns:
            raise MissingColumn(f"{type(self).__name__}: data is missing the value column 'output' (crowd-kit's "
                                "name; 'label' is taken too); expected columns ['task', 'worker', 'output']")
        answers, used = factorize(data, on_duplicate=self.on_duplicate, value_column=col)
        try:
            values = used[col].to_numpy(dtype=float)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{type(self).__name__}: column {col!r} must hold numbers: {e}") from None
        bad = ~np.isfinite(values)
        if bad.any():  # the core said "consensus: value at answer 0 is not finite", by its own count
            k = int(np.flatnonzero(bad)[0])
            raise InvalidArgument(f"{type(self).__name__}: {col} at {row_ref(used.index, k)} is not finite "
                                  f"({values[k]}); {int(bad.sum())} such value(s) in all")
        out = _core.consensus.continuous(self._method, answers.task, answers.worker, values,
                                         len(answers.task_names), len(answers.worker_names),
                                         trim=self._trim(), threads=self.threads)
        self.labels_ = pd.Series(out, index=answers.task_names.rename("task"), name="agg_output")
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        """``fit(data)``, then ``labels_``: a Series task -> aggregated value, named ``agg_output``."""
        return self.fit(data).labels_

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Median(_Continuous):
    """Per-task median (mean of the two middle answers for an even count)."""

    _method = "median"


class TrimmedMean(_Continuous):
    r"""Per-task mean after dropping :math:`\lfloor \text{trim} \cdot n \rfloor`
    answers at each end (0 <= trim < 0.5)."""

    _method = "trimmed_mean"

    def __init__(self, trim: float = 0.1, **kw: Any) -> None:
        super().__init__(**kw)
        self.trim = trim

    def _trim(self) -> float:
        t = self.trim
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real) or not 0 <= float(t) < 0.5:
            # (trim=None raised a raw TypeError; trim="0.1", a string, was read as 0.1)
            raise InvalidArgument(f"TrimmedMean: trim must be a number in [0, 0.5), got {t!r}")
        return float(t)

    def __repr__(self) -> str:
        return f"TrimmedMean(trim={self.trim!r})"


