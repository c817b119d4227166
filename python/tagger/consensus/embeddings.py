"""Embedding aggregation: :class:`ClosestToAverage`, :class:`RASA` and
:class:`HRRASA`, crowd-kit 1.4.2's classes with a C++ core.

Input: a DataFrame with columns ``task, worker, output, embedding`` (each
embedding a 1-d numpy array, one dimension throughout). Output:
``embeddings_and_outputs_``, a DataFrame indexed by ``task`` (sorted) with
columns ``output`` and ``embedding`` (the chosen answer's), and ``scores_``
(every answer's distance to its task's aggregate, indexed by ``task``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import _core
from .._optional import require
from ..errors import InvalidArgument
from ._checks import check_n_iter, codes, frame, no_missing

__all__ = ["ClosestToAverage", "RASA"]

_METRICS = {"cosine": 0, "euclidean": 1, "sqeuclidean": 2}


class _Emb:
    """Answers as task/worker codes and an [n, dim] float64 matrix (rows in input order)."""

    def __init__(self, data: pd.DataFrame, owner: str, columns: tuple[str, ...] = ("task", "worker", "output", "embedding")) -> None:
        df = frame(data, columns, owner)
        no_missing(df, ("task", "worker"), owner)
        self.matrix = _stack(df["embedding"], owner, "embedding")
        self.task, self.tasks = codes(df["task"], sort=True)
        self.worker, self.workers = codes(df["worker"], sort=True)
        self.tasks = self.tasks.rename("task")
        self.frame = df

    def fixed(self, true_embeddings: "pd.Series[Any] | None", owner: str) -> tuple[np.ndarray, np.ndarray]:
        T, D = len(self.tasks), self.matrix.shape[1]
        if true_embeddings is None:
            return np.zeros(0), np.zeros(0, dtype=np.uint8)
        if not isinstance(true_embeddings, pd.Series):
            raise InvalidArgument(f"{owner}: true_embeddings must be a pandas Series indexed by task")
        if not true_embeddings.index.is_unique:
            raise InvalidArgument(f"{owner}: incorrect data in true_embeddings: multiple true embeddings for a single task are not supported")
        known = true_embeddings[true_embeddings.index.isin(self.tasks)]
        fixed = np.zeros((T, D))
        mask = np.zeros(T, dtype=np.uint8)
        if len(known):
            rows = _stack(known, owner, "true_embeddings")
            if rows.shape[1] != D:
                raise InvalidArgument(f"{owner}: true_embeddings have dimension {rows.shape[1]}, answers {D}")
            pos = self.tasks.get_indexer(known.index)
            fixed[pos] = rows
            mask[pos] = 1
        return fixed.ravel(), mask


def _stack(col: "pd.Series[Any]", owner: str, what: str) -> np.ndarray:
    vals = col.to_numpy()
    dims = set()
    for i, v in enumerate(vals):
        a = np.asarray(v)
        if a.ndim != 1 or a.dtype.kind not in "iufb":
            raise InvalidArgument(f"{owner}: {what} at row {i} must be a 1-d numeric array, got {type(v).__name__}"
                                  f"{' of shape ' + str(a.shape) if a.ndim != 1 else ''}")
        dims.add(a.shape[0])
    if len(dims) > 1:
        raise InvalidArgument(f"{owner}: {what} vectors have different dimensions {sorted(dims)}")
    m = np.stack([np.asarray(v, dtype=np.float64) for v in vals]) if len(vals) else np.zeros((0, 1))
    if not np.isfinite(m).all():
        row = int(np.flatnonzero(~np.isfinite(m).all(axis=1))[0])
        raise InvalidArgument(f"{owner}: {what} at row {row} has a NaN or infinite value")
    if m.shape[1] == 0:
        raise InvalidArgument(f"{owner}: {what} vectors are empty (dimension 0)")
    return m


def _metric_of(distance: Any) -> int | None:
    """C++ metric code for a name or for scipy's own function; None for any other callable."""
    if isinstance(distance, str):
        if distance not in _METRICS:
            raise InvalidArgument(f"distance must be a callable or one of {sorted(_METRICS)}, not {distance!r}")
        return _METRICS[distance]
    if not callable(distance):
        raise InvalidArgument(f"distance must be a callable or one of {sorted(_METRICS)}, got {type(distance).__name__}")
    if getattr(distance, "__module__", "") == "scipy.spatial.distance" and distance.__name__ in _METRICS:
        return _METRICS[distance.__name__]
    return None


def _closest(e: _Emb, reference: np.ndarray, distance: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scores_ (input row order) and embeddings_and_outputs_ (first minimum per task)."""
    metric = _metric_of(distance)
    if metric is not None:
        score = _core.consensus_families.embedding_distances(e.matrix, e.task, reference.ravel(), len(e.tasks), metric)
    else:
        emb_col = e.frame["embedding"].to_numpy()
        score = np.array([float(distance(emb_col[i], reference[e.task[i]])) for i in range(len(e.task))])
    df = e.frame
    scores = pd.DataFrame({"task": df["task"].to_numpy(), "output": df["output"].to_numpy(), "score": score,
                           "embedding": df["embedding"].to_numpy()}).set_index("task")
    order = np.lexsort((np.arange(len(score)), np.where(np.isnan(score), np.inf, score), e.task))
    first = order[np.r_[True, e.task[order][1:] != e.task[order][:-1]]]
    best = pd.DataFrame({"output": df["output"].to_numpy()[first], "embedding": df["embedding"].to_numpy()[first]},
                        index=e.tasks)
    return scores, best


def _series_of_rows(m: np.ndarray, index: pd.Index) -> "pd.Series[Any]":
    return pd.Series(list(m), index=index, dtype=object)


class ClosestToAverage:
    """Chooses each task's answer whose embedding is closest to the tasks's
    mean embedding (or to ``aggregated_embeddings`` when given). ``distance``
    is any callable ``(a, b) -> float`` as in crowd-kit, or a name
    (``"cosine"``, ``"euclidean"``, ``"sqeuclidean"``; scipy's functions of
    those names are recognised too) computed in C++."""

    def __init__(self, distance: Callable[[np.ndarray, np.ndarray], float] | str) -> None:
        self.distance = distance

    def fit(self, data: pd.DataFrame, aggregated_embeddings: "pd.Series[Any] | None" = None,
            true_embeddings: "pd.Series[Any] | None" = None) -> "ClosestToAverage":
        e = _Emb(data, "ClosestToAverage")
        fixed, mask = e.fixed(true_embeddings, "ClosestToAverage")
        T, D = len(e.tasks), e.matrix.shape[1]
        if aggregated_embeddings is None:
            ref = np.zeros((T, D))
            np.add.at(ref, e.task, e.matrix)  # row order, as crowd-kit's sum
            ref /= np.bincount(e.task, minlength=T)[:, None]
            if len(mask):
                ref[mask.astype(bool)] = fixed.reshape(T, D)[mask.astype(bool)]
        else:
            if not isinstance(aggregated_embeddings, pd.Series):
                raise InvalidArgument("ClosestToAverage: aggregated_embeddings must be a pandas Series indexed by task")
            missing = e.tasks.difference(aggregated_embeddings.index)
            if len(missing):
                raise InvalidArgument(f"ClosestToAverage: aggregated_embeddings has no row for task {missing[0]!r}")
            ref = _stack(aggregated_embeddings.reindex(e.tasks), "ClosestToAverage", "aggregated_embeddings")
            if ref.shape[1] != D:
                raise InvalidArgument(f"ClosestToAverage: aggregated_embeddings have dimension {ref.shape[1]}, answers {D}")
        self.scores_, self.embeddings_and_outputs_ = _closest(e, ref, self.distance)
        return self

    def fit_predict_scores(self, data: pd.DataFrame, aggregated_embeddings: "pd.Series[Any] | None" = None) -> pd.DataFrame:
        return self.fit(data, aggregated_embeddings).scores_

    def fit_predict(self, data: pd.DataFrame, aggregated_embeddings: "pd.Series[Any] | None" = None) -> pd.DataFrame:
        return self.fit(data, aggregated_embeddings).embeddings_and_outputs_

    def __repr__(self) -> str:
        return f"ClosestToAverage(distance={self.distance!r})"


def _chi2_priors(worker: "pd.Series[Any]", alpha: float) -> "pd.Series[Any]":
    """crowd-kit's prior skills: chi2.isf(alpha / 2, answers of the worker), in value_counts order."""
    chi2 = require("scipy.stats", "RASA / HRRASA").chi2
    counts = worker.value_counts()
    return pd.Series(chi2.isf(alpha / 2, counts.to_numpy()), index=counts.index, name=counts.name)


class RASA:
    r"""Reliability Aware Sequence Aggregation (Li & Fukumoto 2019): aggregates
    :math:`\hat e_i = \sum_k \beta_k e_i^k / \sum_k \beta_k` and global
    reliabilities :math:`\beta_k = \chi^2_{\alpha/2, |V_k|} / \sum_i \|e_i^k - \hat e_i\|^2`
    iterated in C++ until the relative squared change of the aggregates is
    below ``tol``; each task's answer closest (cosine) to its aggregate wins.
    Fitted: ``embeddings_and_outputs_``, ``scores_`` (after ``fit_predict``),
    ``skills_``, ``prior_skills_``, ``aggregated_embeddings_``, ``loss_history_``."""

    def __init__(self, n_iter: int = 100, tol: float = 1e-9, alpha: float = 0.05) -> None:
        self.n_iter, self.tol, self.alpha = n_iter, tol, alpha

    def _check(self, owner: str) -> None:
        check_n_iter(owner, n_iter=self.n_iter, tol=self.tol)
        if not 0 < float(self.alpha) < 1:
            raise InvalidArgument(f"{owner}: alpha must be in (0, 1), got {self.alpha!r}")

    def fit(self, data: pd.DataFrame, true_embeddings: "pd.Series[Any] | None" = None) -> "RASA":
        self._check("RASA")
        e = _Emb(data, "RASA", ("task", "worker", "embedding"))
        fixed, mask = e.fixed(true_embeddings, "RASA")
        prior = _chi2_priors(e.frame["worker"], float(self.alpha))
        out = _core.consensus_families.embeddings_rasa(
            e.matrix, e.task, e.worker, len(e.tasks), len(e.workers), prior.reindex(e.workers).to_numpy(dtype=float),
            np.zeros(0), fixed, mask, int(self.n_iter), float(self.tol))
        skills = pd.Series(out["skills"], index=e.workers)
        self.prior_skills_ = prior
        self.skills_ = skills.reindex((prior / skills).index)  # crowd-kit's order: that of prior / distances
        self.aggregated_embeddings_ = _series_of_rows(out["aggregated"], e.tasks)
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        self.n_iter_ = int(out["n_iter"])
        self._fitted = e
        return self

    def _apply(self, data: pd.DataFrame) -> None:
        e = _Emb(data, type(self).__name__)
        ref = np.stack(list(self.aggregated_embeddings_.reindex(e.tasks)))
        self.scores_, self.embeddings_and_outputs_ = _closest(e, ref, "cosine")

    def fit_predict_scores(self, data: pd.DataFrame, true_embeddings: "pd.Series[Any] | None" = None) -> pd.DataFrame:
        self.fit(data, true_embeddings)._apply(data)
        return self.scores_

    def fit_predict(self, data: pd.DataFrame, true_embeddings: "pd.Series[Any] | None" = None) -> pd.DataFrame:
        self.fit(data, true_embeddings)._apply(data)
        return self.embeddings_and_outputs_

    def __repr__(self) -> str:
        return f"RASA(n_iter={self.n_iter!r}, tol={self.tol!r}, alpha={self.alpha!r})"
