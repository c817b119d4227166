"""Image segmentation: :class:`SegmentationMajorityVote`,
:class:`SegmentationRASA` and :class:`SegmentationEM`, crowd-kit 1.4.2's
classes with a C++ core.

Input: a DataFrame with columns ``task, worker, segmentation``, each
segmentation a boolean numpy array (or one of 0 and 1, ints or floats); all
masks of one task have the same shape (tasks may differ). Output:
``segmentations_``, a Series named ``agg_segmentation`` indexed by ``task``
(sorted, as ``groupby``) of boolean masks of the task's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import check_n_iter, frame, no_missing, one_row_each
from ._serial import Serialized
from .base import _plain

__all__ = ["SegmentationMajorityVote", "SegmentationRASA", "SegmentationEM"]

_COLUMNS = ("task", "worker", "segmentation")


class _Masks:
    """Answers grouped by task (sorted task ids), masks flattened into one uint8 buffer."""

    def __init__(self, data: pd.DataFrame, owner: str) -> None:
        df = frame(data, _COLUMNS, owner)
        no_missing(df, ("task", "worker"), owner)
        seg = df["segmentation"].to_numpy()
        for i, m in enumerate(seg):
            if not isinstance(m, np.ndarray):
                raise InvalidArgument(f"{owner}: segmentation at row {i} is {type(m).__name__}, not a numpy array")
            if m.dtype == np.bool_:
                continue
            if m.dtype.kind not in "iuf":
                raise InvalidArgument(f"{owner}: segmentation at row {i} must be a boolean mask (or of 0 and 1), "
                                      f"got dtype {m.dtype}")
            off = (m != 0) & (m != 1)
            if off.any():  # crowd-kit takes 0/1 ints and 0.0/1.0 floats as masks; any other value is not one
                raise InvalidArgument(f"{owner}: segmentation at row {i} has the value {_plain(m[off].flat[0])!r} "
                                      f"(dtype {m.dtype}); a mask holds booleans, or only 0 and 1 (ints or floats)")
        try:
            task_codes, tasks = pd.factorize(df["task"], sort=True)
        except TypeError as e:
            raise InvalidArgument(f"{owner}: task ids must be sortable: {e}") from None
        order = np.argsort(task_codes, kind="stable")
        self.rows = order
        self.tasks = pd.Index(tasks, name="task")
        counts = np.bincount(task_codes, minlength=len(tasks))
        self.task_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.shapes: list[tuple[int, ...]] = []
        for t in range(len(tasks)):
            rows = order[self.task_start[t]:self.task_start[t + 1]]
            shape = seg[rows[0]].shape
            for r in rows[1:]:
                if seg[r].shape != shape:
                    raise InvalidArgument(f"{owner}: task {_plain(tasks[t])!r} has masks of shapes {shape} and {seg[r].shape} "
                                          f"(row {int(r)}); every mask of a task must have the same shape")
            self.shapes.append(shape)
        self.task_pixels = np.array([int(np.prod(s)) for s in self.shapes], dtype=np.int64)
        self.pixels = np.concatenate([np.ascontiguousarray(seg[r], dtype=np.bool_).view(np.uint8).ravel() for r in order])
        self.workers = df["worker"].to_numpy()[order]
        self.frame = df

    def unpack(self, flat: np.ndarray) -> pd.Series[Any]:
        ends = np.cumsum(self.task_pixels)
        masks = [m.astype(bool).reshape(s) for m, s in zip(np.split(flat, ends[:-1]), self.shapes)]
        return pd.Series(masks, index=self.tasks, name="agg_segmentation", dtype=object)


def _run(m: _Masks, method: str, weights: np.ndarray | None = None, **kw: Any) -> dict[str, Any]:
    w = np.ones(len(m.rows)) if weights is None else weights
    return dict(_core.consensus_families.segmentation(method, m.pixels, m.task_start, m.task_pixels, w, **kw))


def _skill_weights(m: _Masks, skills: pd.Series, on_missing_skill: str, default_skill: float | None,
                   owner: str) -> tuple[_Masks, np.ndarray]:
    """crowd-kit's add_skills_to_data: per-answer weights, rows of unknown workers dropped for 'ignore'."""
    if not isinstance(skills, pd.Series):
        raise InvalidArgument(f"{owner}: skills must be a pandas Series indexed by worker")
    one_row_each(skills.index, f"{owner}: skills has more than one skill for worker")
    if on_missing_skill != "value" and default_skill is not None:
        raise InvalidArgument(f'{owner}: default_skill is used but on_missing_skill is not "value"')
    if on_missing_skill not in ("error", "ignore", "value"):
        raise InvalidArgument(f"{owner}: unknown option {on_missing_skill!r} of on_missing_skill "
                              "('error', 'ignore' or 'value')")
    try:
        skills.to_numpy(dtype=float)
    except (TypeError, ValueError):
        for worker, value in skills.items():
            try:
                float(value)
            except (TypeError, ValueError):
                raise InvalidArgument(f"{owner}: the skill of worker {_plain(worker)!r} is {_plain(value)!r}; "
                                      "skills must be numbers") from None
        raise InvalidArgument(f"{owner}: skills must be numbers") from None
    w = np.array(skills.reindex(pd.Index(m.workers)).to_numpy(dtype=float))
    missing = np.isnan(w)
    if missing.any():
        if on_missing_skill == "error":
            raise InvalidArgument(f"{owner}: skill value is missing in {int(missing.sum())} assignment(s), first for worker "
                                  f"{_plain(m.workers[np.flatnonzero(missing)[0]])!r}; give every worker a skill or set on_missing_skill")
        if on_missing_skill == "value":
            if default_skill is None:
                raise InvalidArgument(f'{owner}: default_skill must be given when on_missing_skill="value"')
            w[missing] = default_skill
        else:
            keep_rows = m.rows[~missing]
            kept = m.frame.iloc[np.sort(keep_rows)]
            lost = m.tasks.difference(pd.Index(kept["task"].unique()))
            if len(lost):
                raise InvalidArgument(f"{owner}: {len(lost)} task(s) have no worker with a known skill, e.g. {_plain(lost[0])!r}")
            m2 = _Masks(kept, owner)
            return m2, _finite_skills(skills.reindex(pd.Index(m2.workers)).to_numpy(dtype=float), m2.workers, owner)
    return m, _finite_skills(w, m.workers, owner)


def _finite_skills(w: np.ndarray, workers: Any, owner: str) -> np.ndarray:
    """The weights of a vote are finite numbers >= 0: an inf skill made every pixel of its tasks
    False (inf - inf is NaN), and a negative one voted against its own mask."""
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{owner}: the skill of worker {_plain(workers[i])!r} is {float(w[i])}; skills are "
                              "vote weights, finite numbers >= 0")
    # A worker votes once per task, so no task's weights add up to more than all of them:
    # finite ones such as 1e308 overflowed that sum (a mask against every worker's).
    with np.errstate(over="ignore"):
        total = w.sum()
    if len(w) and not np.isfinite(total):
        raise InvalidArgument(f"{owner}: the skills add up to more than a float holds; scale them down (a vote is "
                              "the same for weights all multiplied by one number)")
    return w


class SegmentationMajorityVote(Serialized):
    """A pixel is on when the (skill-weighted) votes for it are at least half:
    ``2 * sum(skill * mask) - sum(skill) >= 0``. Fitted: ``segmentations_``,
    ``skills_`` (the skills used, or None)."""

    def __init__(self, default_skill: float | None = None, on_missing_skill: str = "error") -> None:
        self.default_skill, self.on_missing_skill = default_skill, on_missing_skill

    def fit(self, data: pd.DataFrame, skills: pd.Series[Any] | None = None) -> SegmentationMajorityVote:
        """Votes each task's pixels; returns the estimator itself.

        ``data``: columns ``task, worker, segmentation``, each segmentation a
        numpy mask (booleans, or only 0 and 1), one shape per task.
        ``skills``: optional Series worker -> vote weight; workers missing from
        it follow ``on_missing_skill`` (``"error"``, ``"ignore"``: their
        answers are dropped, ``"value"``: ``default_skill``). Without it every
        vote counts 1. Sets ``segmentations_`` (Series task -> bool mask,
        ``agg_segmentation``) and ``skills_`` (the skills given, or None).
        """
        m = _Masks(data, "SegmentationMajorityVote")
        weights = None
        if skills is not None:
            m, weights = _skill_weights(m, skills, self.on_missing_skill, self.default_skill, "SegmentationMajorityVote")
        out = _run(m, "majority_vote", weights)
        self.segmentations_ = m.unpack(out["masks"])
        self.skills_ = None if skills is None else skills.rename("skill")
        return self

    def fit_predict(self, data: pd.DataFrame, skills: pd.Series[Any] | None = None) -> pd.Series[Any]:
        """``fit(data, skills)``, then ``segmentations_``: a Series task -> bool mask."""
        return self.fit(data, skills).segmentations_

    def __repr__(self) -> str:
        return f"SegmentationMajorityVote(default_skill={self.default_skill!r}, on_missing_skill={self.on_missing_skill!r})"


class SegmentationRASA(Serialized):
    r"""RASA for masks (Li & Fukumoto 2019, crowd-kit's variant): workers are
    reweighted by :math:`\log(1 / (1 - \mathrm{IoU} + 10^{-5}) + 1)` against the
    current weighted vote (pixel on when the weighted vote is >= 0.5) until the
    relative squared change of the vote is below ``tol``. Fitted:
    ``segmentations_``, ``weights_`` (per answer, Series by (task, worker)),
    ``loss_history_`` (of the last task, as crowd-kit)."""

    def __init__(self, n_iter: int = 10, tol: float = 1e-5) -> None:
        self.n_iter, self.tol = n_iter, tol

    def fit(self, data: pd.DataFrame) -> SegmentationRASA:
        """Aggregates each task's masks by reweighting its workers; returns the estimator itself.

        ``data``: columns ``task, worker, segmentation``, each segmentation a
        numpy mask (booleans, or only 0 and 1), one shape per task. Sets
        ``segmentations_`` (Series task -> bool mask, ``agg_segmentation``),
        ``weights_`` (Series by (task, worker)) and ``loss_history_`` (of the
        last task).
        """
        check_n_iter("SegmentationRASA", n_iter=self.n_iter, tol=self.tol)
        m = _Masks(data, "SegmentationRASA")
        out = _run(m, "rasa", n_iter=int(self.n_iter), tol=float(self.tol))
        self.segmentations_ = m.unpack(out["masks"])
        idx = pd.MultiIndex.from_arrays([m.frame["task"].to_numpy()[m.rows], m.workers], names=["task", "worker"])
        self.weights_ = pd.Series(out["weights"], index=idx, name="weight")
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """``fit(data)``, then ``segmentations_``: a Series task -> bool mask."""
        return self.fit(data).segmentations_

    def __repr__(self) -> str:
        return f"SegmentationRASA(n_iter={self.n_iter!r}, tol={self.tol!r})"


class SegmentationEM(Serialized):
    r"""One-coin EM per image (Jung-Lin Lee, Das Sarma, Parameswaran 2018):
    E-step :math:`P(\text{pixel on}) \propto \pi \prod_k (e_k s_k + (1-e_k)(1-s_k))`,
    M-step :math:`e_k = 1 - (|S_k| + \sum q - 2 \sum_k s_k q) / |\text{region}|`,
    started from the majority vote, stopped when the ELBO gains less than
    ``tol``. Fitted: ``segmentations_``, ``errors_`` (per answer: probability
    of a correct pixel, Series by (task, worker)), ``loss_history_`` (last
    task, as crowd-kit)."""

    def __init__(self, n_iter: int = 10, tol: float = 1e-5, eps: float = 1e-15) -> None:
        self.n_iter, self.tol, self.eps = n_iter, tol, eps

    def fit(self, data: pd.DataFrame) -> SegmentationEM:
        """Runs the one-coin EM on each task's masks; returns the estimator itself.

        ``data``: columns ``task, worker, segmentation``, each segmentation a
        numpy mask (booleans, or only 0 and 1), one shape per task. Sets
        ``segmentations_`` (Series task -> bool mask, ``agg_segmentation``),
        ``errors_`` (Series by (task, worker)) and ``loss_history_`` (of the
        last task).
        """
        check_n_iter("SegmentationEM", n_iter=self.n_iter, tol=self.tol, eps=self.eps)
        m = _Masks(data, "SegmentationEM")
        out = _run(m, "em", n_iter=int(self.n_iter), tol=float(self.tol), eps=float(self.eps))
        self.segmentations_ = m.unpack(out["masks"])
        idx = pd.MultiIndex.from_arrays([m.frame["task"].to_numpy()[m.rows], m.workers], names=["task", "worker"])
        self.errors_ = pd.Series(out["weights"], index=idx, name="error")
        self.loss_history_: list[float] = [float(v) for v in out["loss_history"]]
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series[Any]:
        """``fit(data)``, then ``segmentations_``: a Series task -> bool mask."""
        return self.fit(data).segmentations_

    def __repr__(self) -> str:
        return f"SegmentationEM(n_iter={self.n_iter!r}, tol={self.tol!r}, eps={self.eps!r})"
