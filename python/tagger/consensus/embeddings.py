"""Embedding aggregation: :class:`ClosestToAverage`, :class:`RASA` and
:class:`HRRASA`, crowd-kit 1.4.2's classes with a C++ core.

Input: a DataFrame with columns ``task, worker, output, embedding`` (each
embedding a 1-d numpy array, one dimension throughout). Output:
``embeddings_and_outputs_``, a DataFrame indexed by ``task`` (sorted) with
columns ``output`` and ``embedding`` (the chosen answer's), and ``scores_``
(every answer's distance to its task's aggregate, indexed by ``task``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Hashable, Sequence

import numpy as np
import pandas as pd

from .. import _core
from .._optional import require
from ..errors import InvalidArgument
from ._checks import check_n_iter, codes, frame, ids_of_the_data, no_missing, one_row_each
from ._serial import Serialized
from .base import _plain

__all__ = ["ClosestToAverage", "RASA", "HRRASA", "glue_similarity"]

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

    def fixed(self, true_embeddings: pd.Series[Any] | None, owner: str) -> tuple[np.ndarray, np.ndarray]:
        T, D = len(self.tasks), self.matrix.shape[1]
        if true_embeddings is None:
            return np.zeros(0), np.zeros(0, dtype=np.uint8)
        if not isinstance(true_embeddings, pd.Series):
            raise InvalidArgument(f"{owner}: true_embeddings must be a pandas Series indexed by task")
        if not true_embeddings.index.is_unique:
            raise InvalidArgument(f"{owner}: incorrect data in true_embeddings: multiple true embeddings for a single task are not supported")
        # (ids of the other type, "1" for 1, matched nothing and were ignored silently)
        ids_of_the_data(true_embeddings.index, self.tasks, f"{owner}: true_embeddings",
                        self.tasks.get_indexer(true_embeddings.index))
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


def _stack(col: pd.Series[Any], owner: str, what: str) -> np.ndarray:
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
            raise InvalidArgument(f"ClosestToAverage: distance must be a callable or one of {sorted(_METRICS)}, "
                                  f"not {distance!r}")
        return _METRICS[distance]
    if not callable(distance):
        raise InvalidArgument(f"ClosestToAverage: distance must be a callable or one of {sorted(_METRICS)}, "
                              f"got {type(distance).__name__}")
    if getattr(distance, "__module__", "") == "scipy.spatial.distance" and distance.__name__ in _METRICS:
        return _METRICS[distance.__name__]
    return None


def _distance_value(d: Any, row: int) -> float:
    """A user distance's result as a float, or InvalidArgument naming the row."""
    if np.ndim(d) != 0:
        raise InvalidArgument(f"ClosestToAverage: distance returned an array of shape {np.shape(d)} for row {row}; "
                              "it must return one number")
    try:
        return float(d)
    except (TypeError, ValueError):
        raise InvalidArgument(f"ClosestToAverage: distance returned {type(d).__name__} for row {row}, not a number") from None


def _closest(e: _Emb, reference: np.ndarray, distance: Any, nan_raises: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scores_ (input row order) and embeddings_and_outputs_ (first minimum per task, NaN scores
    skipped; a task of NaN scores only keeps its first row, or raises with ``nan_raises``)."""
    metric = _metric_of(distance)
    if metric is not None:
        score = _core.consensus_families.embedding_distances(e.matrix, e.task, reference.ravel(), len(e.tasks), metric)
        if nan_raises and metric == _METRICS["cosine"]:
            # ClosestToAverage: a zero vector's cosine is NaN, as scipy's cosine (crowd-kit's) gives
            # it; the engine's inf (RASA's convention) made a task of zero vectors keep its first
            # answer silently where the docs say it raises, and scores_ differ from crowd-kit's.
            score = np.where(np.isinf(score), np.nan, score)
    else:
        emb_col = e.frame["embedding"].to_numpy()
        score = np.array([_distance_value(distance(emb_col[i], reference[e.task[i]]), i) for i in range(len(e.task))])
    df = e.frame
    scores = pd.DataFrame({"task": df["task"].to_numpy(), "output": df["output"].to_numpy(), "score": score,
                           "embedding": df["embedding"].to_numpy()}).set_index("task")
    # crowd-kit's idxmin skips NaN scores (a NaN sorts after every number, inf included), and its
    # ClosestToAverage raises ValueError for a task whose scores are all NaN. RASA/HRRASA keep the
    # first row of a task whose aggregate is NaN (HRRASA's zero embeddings).
    nan = np.isnan(score)
    order = np.lexsort((np.arange(len(score)), np.where(nan, np.inf, score), nan, e.task))
    first = order[np.r_[True, e.task[order][1:] != e.task[order][:-1]]]
    if nan_raises and nan[first].any():
        t = e.tasks[e.task[first[np.flatnonzero(nan[first])[0]]]]
        n_all = int(nan[first].sum())
        raise InvalidArgument(f"ClosestToAverage: the distance is NaN for every answer of task {_plain(t)!r}"
                              f"{f' (and {n_all - 1} other task(s))' if n_all > 1 else ''}; it must return a number")
    best = pd.DataFrame({"output": df["output"].to_numpy()[first], "embedding": df["embedding"].to_numpy()[first]},
                        index=e.tasks)
    return scores, best


def _series_of_rows(m: np.ndarray, index: pd.Index) -> pd.Series[Any]:
    return pd.Series(list(m), index=index, dtype=object)


class ClosestToAverage(Serialized):
    """Chooses each task's answer whose embedding is closest to the tasks's
    mean embedding (or to ``aggregated_embeddings`` when given). ``distance``
    is any callable ``(a, b) -> float`` as in crowd-kit, or a name
    (``"cosine"``, ``"euclidean"``, ``"sqeuclidean"``; scipy's functions of
    those names are recognised too) computed in C++."""

    def __init__(self, distance: Callable[[np.ndarray, np.ndarray], float] | str) -> None:
        self.distance = distance

    def fit(self, data: pd.DataFrame, aggregated_embeddings: pd.Series[Any] | None = None,
            true_embeddings: pd.Series[Any] | None = None) -> ClosestToAverage:
        """Picks each task's answer closest to its reference embedding; returns the estimator itself.

        ``data``: columns ``task, worker, output, embedding``, each embedding a
        1-d numeric array, one dimension throughout. The reference is the
        task's mean embedding, or ``aggregated_embeddings`` (Series task ->
        vector, a row for every task) when given; ``true_embeddings`` (Series
        task -> vector) replaces the mean of those tasks (not used with
        ``aggregated_embeddings``). A task whose distances are all NaN raises
        :class:`~tagger.errors.InvalidArgument`. Sets ``scores_`` (DataFrame
        indexed by task: every answer's ``output``, ``score`` = distance,
        ``embedding``) and ``embeddings_and_outputs_`` (DataFrame indexed by
        task: the chosen ``output`` and ``embedding``).
        """
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
            one_row_each(aggregated_embeddings.index, "ClosestToAverage: aggregated_embeddings has more than one row for task")
            missing = e.tasks.difference(aggregated_embeddings.index)
            if len(missing):
                raise InvalidArgument(f"ClosestToAverage: aggregated_embeddings has no row for task {_plain(missing[0])!r}")
            ref = _stack(aggregated_embeddings.reindex(e.tasks), "ClosestToAverage", "aggregated_embeddings")
            if ref.shape[1] != D:
                raise InvalidArgument(f"ClosestToAverage: aggregated_embeddings have dimension {ref.shape[1]}, answers {D}")
        self.scores_, self.embeddings_and_outputs_ = _closest(e, ref, self.distance, nan_raises=True)
        return self

    def fit_predict_scores(self, data: pd.DataFrame, aggregated_embeddings: pd.Series[Any] | None = None) -> pd.DataFrame:
        """``fit(data, aggregated_embeddings)``, then ``scores_``: every answer's
        distance to its task's reference (DataFrame indexed by task)."""
        return self.fit(data, aggregated_embeddings).scores_

    def fit_predict(self, data: pd.DataFrame, aggregated_embeddings: pd.Series[Any] | None = None) -> pd.DataFrame:
        """``fit(data, aggregated_embeddings)``, then ``embeddings_and_outputs_``:
        each task's chosen ``output`` and ``embedding`` (DataFrame indexed by task)."""
        return self.fit(data, aggregated_embeddings).embeddings_and_outputs_

    def __repr__(self) -> str:
        return f"ClosestToAverage(distance={self.distance!r})"


def _chi2_priors(worker: pd.Series[Any], alpha: float) -> pd.Series[Any]:
    """crowd-kit's prior skills: chi2.isf(alpha / 2, answers of the worker), in value_counts order."""
    chi2 = require("scipy.stats", "RASA / HRRASA").chi2
    counts = worker.value_counts()
    return pd.Series(chi2.isf(alpha / 2, counts.to_numpy()), index=counts.index, name=counts.name)


class RASA(Serialized):
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

    # The name errors give: TextRASA/TextHRRASA fit an inner estimator under their own name.
    _owner_name: str | None = None

    def _owner(self) -> str:
        return self._owner_name or type(self).__name__

    def _drop_stale(self, keep_ranks: bool = False) -> None:
        """After a successful fit: what only an earlier fit (or its fit_predict) set goes."""
        for name in ("scores_", "embeddings_and_outputs_") + (() if keep_ranks else ("ranks_",)):
            self.__dict__.pop(name, None)

    def fit(self, data: pd.DataFrame, true_embeddings: pd.Series[Any] | None = None) -> RASA:
        """Fits the workers' reliabilities and the tasks' aggregate embeddings; returns the estimator itself.

        ``data``: columns ``task, worker, embedding`` (each a 1-d numeric
        array, one dimension throughout; ``fit_predict`` also needs
        ``output``). ``true_embeddings``: optional Series task -> vector, the
        fixed aggregate of those tasks. Needs scipy (extra ``sparse``) for the
        chi-squared priors. Sets ``skills_``, ``prior_skills_``,
        ``aggregated_embeddings_`` (Series task -> vector), ``loss_history_``
        and ``n_iter_``; drops the ``scores_`` and ``embeddings_and_outputs_``
        of an earlier ``fit_predict``.
        """
        owner = self._owner()
        self._check(owner)
        e = _Emb(data, owner, ("task", "worker", "embedding"))
        fixed, mask = e.fixed(true_embeddings, owner)
        prior = _chi2_priors(e.frame["worker"], float(self.alpha))
        out = _core.consensus_families.embeddings_rasa(
            e.matrix, e.task, e.worker, len(e.tasks), len(e.workers), prior.reindex(e.workers).to_numpy(dtype=float),
            np.zeros(0), np.zeros(0), fixed, mask, int(self.n_iter), float(self.tol))
        skills = pd.Series(out["skills"], index=e.workers)
        self.prior_skills_ = prior
        self.skills_ = skills.reindex((prior / skills).index)  # crowd-kit's order: that of prior / distances
        self.aggregated_embeddings_ = _series_of_rows(out["aggregated"], e.tasks)
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        self.n_iter_ = int(out["n_iter"])
        self._fitted = e
        self._drop_stale()
        return self

    def _apply(self, data: pd.DataFrame) -> None:
        e = _Emb(data, type(self).__name__)
        ref = np.stack(list(self.aggregated_embeddings_.reindex(e.tasks)))
        self.scores_, self.embeddings_and_outputs_ = _closest(e, ref, "cosine")

    def fit_predict_scores(self, data: pd.DataFrame, true_embeddings: pd.Series[Any] | None = None) -> pd.DataFrame:
        """``fit(data, true_embeddings)``, then each answer's cosine distance to
        its task's aggregate: ``scores_`` (DataFrame indexed by task: ``output``,
        ``score``, ``embedding``). ``data`` needs the ``output`` column too.
        Also sets ``embeddings_and_outputs_``."""
        self.fit(data, true_embeddings)._apply(data)
        return self.scores_

    def fit_predict(self, data: pd.DataFrame, true_embeddings: pd.Series[Any] | None = None) -> pd.DataFrame:
        """``fit(data, true_embeddings)``, then each task's answer closest (cosine)
        to its aggregate: ``embeddings_and_outputs_`` (DataFrame indexed by
        task: ``output``, ``embedding``). ``data`` needs the ``output`` column
        too. Also sets ``scores_``."""
        self.fit(data, true_embeddings)._apply(data)
        return self.embeddings_and_outputs_

    def __repr__(self) -> str:
        return f"RASA(n_iter={self.n_iter!r}, tol={self.tol!r}, alpha={self.alpha!r})"


def _everygrams(seq: Sequence[Hashable], n_max: int = 4) -> Counter[tuple[Hashable, ...]]:
    return Counter(tuple(seq[i:i + n]) for i in range(len(seq)) for n in range(1, n_max + 1) if i + n <= len(seq))


def glue_similarity(hyp: str, ref: Any) -> float:
    """crowd-kit's default HRRASA output similarity, computed as it does:
    ``nltk.translate.gleu_score.sentence_gleu([hyp.split()], ref)`` (GLEU of
    ``ref`` against the words of ``hyp``, n-grams of 1 to 4), without nltk.
    HRRASA calls it with two strings, so ``ref`` counts as a sequence of
    characters; pass ``output_similarity=`` for a word-level measure."""
    h = _everygrams(list(ref))
    r = _everygrams(hyp.split())
    n_all = max(sum(h.values()), sum(r.values()))
    return float(sum((r & h).values()) / n_all) if n_all > 0 else 0.0


_PAIR_CHUNK = 1 << 22  # float64 cells of (rows x answers x dim) differences held at once


def _pairwise_sq_dist(m: np.ndarray) -> np.ndarray:
    """||m_i - m_j||^2 for every pair of rows, the differences summed as the all-at-once
    ``((m[:, None] - m[None]) ** 2).sum(axis=2)`` sums them (the same bits), a block of rows at a
    time: at once it held answers^2 x dim doubles (11.4 GB for 1,000 answers of 1,536 dims)."""
    n, d = m.shape
    out = np.empty((n, n))
    step = max(1, _PAIR_CHUNK // max(1, n * d))
    for a in range(0, n, step):
        out[a:a + step] = ((m[a:a + step, None, :] - m[None, :, :]) ** 2).sum(axis=2)
    return out


class HRRASA(RASA):
    r"""Hybrid Reliability and Representation Aware Sequence Aggregation
    (Li, SIGIR 2020): RASA whose answers are also weighted by a *local*
    reliability :math:`\gamma_i^k = \lambda_{emb} \overline{\exp(-\|e_i^k - e_i^l\|^2 / (\|e_i^k\|^2 \|e_i^l\|^2))}
    + \lambda_{out} \overline{sim(o_i^k, o_i^l)}` (means over the task's other
    workers): the average uses :math:`\beta_k \gamma_i^k` and the distances
    are divided by :math:`\gamma_i^k`. Tasks with a single answer keep it
    (their workers get NaN skills, as in crowd-kit). Fitted as :class:`RASA`
    plus ``weights_`` (DataFrame by (task, worker), column ``weight``) and,
    with ``calculate_ranks``, ``ranks_`` (``task, output, rank`` with
    :math:`s_i^k = \beta_k \exp(-\|e_i^k - \hat e_i\|^2 / (\|e_i^k\|^2 \|\hat e_i\|^2)) + \gamma_i^k`)."""

    def __init__(self, n_iter: int = 100, tol: float = 1e-9, lambda_emb: float = 0.5, lambda_out: float = 0.5,
                 alpha: float = 0.05, calculate_ranks: bool = False,
                 output_similarity: Callable[[str, Any], float] = glue_similarity) -> None:
        super().__init__(n_iter, tol, alpha)
        self.lambda_emb, self.lambda_out = lambda_emb, lambda_out
        self.calculate_ranks, self.output_similarity = calculate_ranks, output_similarity

    def _local_skills(self, e: _Emb) -> np.ndarray:
        out = np.zeros(len(e.task))
        outputs = e.frame["output"].to_numpy()
        order = np.argsort(e.task, kind="stable")
        bounds = np.r_[0, np.flatnonzero(np.diff(e.task[order])) + 1, len(order)]
        sim = self.output_similarity
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows = order[a:b]
            m = e.matrix[rows]
            norms = (m ** 2).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                diff = _pairwise_sq_dist(m)
                k = np.exp(-diff / np.outer(norms, norms))
            wk = e.worker[rows]
            other = wk[:, None] != wk[None, :]
            emb = np.where(other, k, 0.0).sum(axis=1) / (len(rows) - 1)
            seq = np.array([sum(float(sim(outputs[i], outputs[j])) for jj, j in enumerate(rows) if other[ii, jj])
                            for ii, i in enumerate(rows)]) / (len(rows) - 1)
            local = self.lambda_emb * emb + self.lambda_out * seq
            # A worker answering the task more than once: every such row takes the local skill of
            # the worker's first row, as crowd-kit's _get_local_skills (one value per (task, worker)).
            first = np.argmax(~other, axis=1)  # each row's first row of the same worker (itself if none)
            out[rows] = local[first]
        return out

    def fit(self, data: pd.DataFrame, true_embeddings: pd.Series[Any] | None = None) -> HRRASA:
        """Fits as :meth:`RASA.fit`, with each answer also weighted by its local
        reliability; returns the estimator itself.

        ``data``: columns ``task, worker, embedding, output`` (embeddings 1-d
        numeric arrays of one dimension; outputs str for the default
        ``output_similarity``). ``true_embeddings``: optional Series task ->
        vector, the fixed aggregate of those tasks. A task with one answer
        keeps it (new workers there get NaN skills). Sets RASA's attributes,
        ``weights_`` (DataFrame by (task, worker), column ``weight``) and, with
        ``calculate_ranks``, ``ranks_`` (``task, output, rank``).
        """
        owner = self._owner()
        self._check(owner)
        if not callable(self.output_similarity):
            raise InvalidArgument(f"{owner}: output_similarity must be a callable (str, str) -> float")
        full = _Emb(data, owner, ("task", "worker", "embedding", "output"))
        no_missing(full.frame, ("output",), owner)  # output_similarity compares every pair of outputs
        if self.output_similarity is glue_similarity:  # it splits outputs into words
            bad = [i for i, o in enumerate(full.frame["output"].to_numpy()) if not isinstance(o, str)]
            if bad:
                raise InvalidArgument(f"{owner}: output at row {bad[0]} is {type(full.frame['output'].iloc[bad[0]]).__name__}, "
                                      "not str; the default output_similarity (GLEU) compares texts: pass str outputs "
                                      "or your own output_similarity")
        full.fixed(true_embeddings, owner)  # checks
        counts = np.bincount(full.task, minlength=len(full.tasks))
        multi = counts[full.task] > 1
        single = full.frame[~multi]
        df = full.frame[multi]
        if len(df):
            e = _Emb(df, owner, ("task", "worker", "embedding", "output"))
            fixed, mask = e.fixed(true_embeddings, owner)
            local = self._local_skills(e)
            prior = _chi2_priors(e.frame["worker"], float(self.alpha))
            # A worker's k answers to one task count k times in the average (crowd-kit joins its
            # weights on (task, worker)) and once in the distances.
            pair = e.task.astype(np.int64) * len(e.workers) + e.worker
            _, pair_of, pair_rows = np.unique(pair, return_inverse=True, return_counts=True)
            repeats = pair_rows[pair_of].astype(np.float64) if (pair_rows > 1).any() else np.zeros(0)
            out = _core.consensus_families.embeddings_rasa(
                e.matrix, e.task, e.worker, len(e.tasks), len(e.workers), prior.reindex(e.workers).to_numpy(dtype=float),
                local, repeats, fixed, mask, int(self.n_iter), float(self.tol))
            skills = pd.Series(out["skills"], index=e.workers)
            skills = skills.reindex((prior / skills).index)
            agg = _series_of_rows(out["aggregated"], e.tasks)
            beta = skills.reindex(pd.Index(e.frame["worker"])).to_numpy(dtype=float)
            w = beta * local
            weights = pd.DataFrame({"weight": w}, index=pd.MultiIndex.from_arrays(
                [e.frame["task"].to_numpy(), e.frame["worker"].to_numpy()], names=["task", "worker"]))
            self.loss_history_ = [float(v) for v in out["loss_history"]]
            self.n_iter_ = int(out["n_iter"])
            if self.calculate_ranks:
                ref = np.stack(list(agg.reindex(pd.Index(e.frame["task"]))))
                d = ((e.matrix - ref) ** 2).sum(axis=1)
                d[d == 0.0] = 1e-5
                with np.errstate(divide="ignore", invalid="ignore"):
                    rank = beta * np.exp(-d / ((e.matrix ** 2).sum(axis=1) * (ref ** 2).sum(axis=1))) + local
                self.ranks_ = pd.DataFrame({"task": e.frame["task"].to_numpy(), "output": e.frame["output"].to_numpy(),
                                            "rank": rank})
        else:
            prior = pd.Series([], dtype=np.float64, name="count")
            skills = pd.Series([], dtype=np.float64)
            agg = pd.Series([], dtype=object)
            weights = pd.DataFrame({"weight": pd.Series([], dtype=np.float64)},
                                   index=pd.MultiIndex.from_arrays([[], []], names=["task", "worker"]))
            self.loss_history_, self.n_iter_ = [], 0
            if self.calculate_ranks:
                self.ranks_ = pd.DataFrame(columns=["task", "output", "rank"])
        if len(single):
            # crowd-kit: a task with one answer keeps it; its new workers get NaN skills.
            s_tasks = single["task"].to_numpy()
            new_workers = pd.Index(pd.unique(single["worker"].to_numpy())).difference(prior.index, sort=False)
            prior = pd.concat([prior, pd.Series(np.nan, index=new_workers)])
            skills = pd.concat([skills, pd.Series(np.nan, index=new_workers)])
            agg = pd.concat([agg, pd.Series(list(single["embedding"].to_numpy()), index=s_tasks, dtype=object)])
            weights = pd.concat([weights, pd.DataFrame({"weight": np.nan}, index=pd.MultiIndex.from_arrays(
                [s_tasks, single["worker"].to_numpy()], names=["task", "worker"]))])
            if self.calculate_ranks:
                self.ranks_ = pd.concat([self.ranks_, pd.DataFrame({"task": s_tasks, "output": single["output"].to_numpy(),
                                                                    "rank": np.nan})], ignore_index=True)
        self.prior_skills_, self.skills_, self.weights_ = prior, skills, weights
        self.aggregated_embeddings_ = agg
        self._drop_stale(keep_ranks=bool(self.calculate_ranks))
        return self

    def __repr__(self) -> str:
        return (f"HRRASA(n_iter={self.n_iter!r}, tol={self.tol!r}, lambda_emb={self.lambda_emb!r}, "
                f"lambda_out={self.lambda_out!r}, alpha={self.alpha!r}, calculate_ranks={self.calculate_ranks!r})")
