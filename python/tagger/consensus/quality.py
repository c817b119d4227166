"""Label-quality detection and CROWDLAB (a model as one more annotator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import one_row_each
from .base import Answers, BaseClassifier, _plain, fit_transaction

__all__ = ["LabelQuality", "CROWDLAB", "label_quality"]


class LabelQuality:
    """Quality report of a fitted consensus.

    * ``tasks``: ``label``, ``entropy`` (of the posterior, nats), ``margin``
      (top-1 minus top-2 probability) — low margin / high entropy = uncertain;
    * ``answers``: the answers with ``error`` = P(truth != given label) =
      1 - probas[task, label], a per-answer score of how likely it is wrong;
    * ``workers``: ``n_answers``, ``agreement`` (share equal to the consensus
      label), ``accuracy`` (expected: mean of probas[task, label]) with a
      Wilson score interval ``accuracy_low``/``accuracy_high`` at ``confidence``.
    """

    def __init__(self, tasks: pd.DataFrame, answers: pd.DataFrame, workers: pd.DataFrame, confidence: float) -> None:
        self.tasks, self.answers, self.workers, self.confidence = tasks, answers, workers, confidence

    @classmethod
    def from_fit(cls, a: Answers, out: dict[str, Any], confidence: float = 0.95, threads: int = 0) -> LabelQuality:
        """The report of a fit: ``a`` its answers, ``out`` the core's result
        (``probas`` [tasks, labels] and ``labels`` [tasks]); Wilson intervals at
        ``confidence``, computed in C++ on ``threads`` threads (0: all cores).
        Estimators build it through ``est.quality(confidence)``."""
        d = _core.consensus.detect(*a.core_args(), probas=out["probas"], labels=out["labels"],
                                   confidence=confidence, threads=threads)
        lab = out["labels"]
        names = a.label_names.to_numpy()
        # The labels' own dtype (int labels came out as objects) unless a task has none.
        label = (a.label_names.take(lab) if (lab >= 0).all() else
                 pd.Series(names[np.maximum(lab, 0)], dtype=object).where(lab >= 0))
        tasks = pd.DataFrame({"label": np.asarray(label), "entropy": d["task_entropy"], "margin": d["task_margin"]},
                             index=a.task_names.rename("task"))
        rows = a.rows if a.rows is not None and len(a.rows) == a.n else None
        answers = pd.DataFrame({"task": a.task_names.to_numpy()[a.task], "worker": a.worker_names.to_numpy()[a.worker],
                                "label": names[a.label], "error": d["answer_error"]}, index=rows)
        workers = pd.DataFrame({"n_answers": d["worker_n_answers"], "agreement": d["worker_agreement"],
                                "accuracy": d["worker_accuracy"], "accuracy_low": d["worker_accuracy_low"],
                                "accuracy_high": d["worker_accuracy_high"]}, index=a.worker_names.rename("worker"))
        return cls(tasks, answers, workers, confidence)

    def __repr__(self) -> str:
        return (f"LabelQuality(tasks={len(self.tasks)}, answers={len(self.answers)}, workers={len(self.workers)}, "
                f"confidence={self.confidence})")


def label_quality(estimator: BaseClassifier, confidence: float = 0.95) -> LabelQuality:
    """Same as ``estimator.quality(confidence)``."""
    return estimator.quality(confidence)


def _check_model_probas(mp: pd.DataFrame) -> None:
    """Every row, answered task or not (an unanswered one becomes its own label and
    probas_ row), is a distribution: numbers >= 0 summing to 1 (within 1e-3, as the
    core checks), one row per task."""
    one_row_each(mp.index, "model_probas has more than one row for task")
    one_row_each(mp.columns, "model_probas has more than one column for label")
    try:
        v = mp.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument("model_probas must hold numbers (probabilities)") from None
    bad = ~(np.isfinite(v) & (v >= 0)).all(axis=1) | (np.abs(v.sum(axis=1) - 1) > 1e-3)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"model_probas row of task {mp.index.tolist()[i]!r} is not a distribution (values >= 0, finite, "
                              f"summing to 1): {v[i].tolist()}")


class CROWDLAB(BaseClassifier):
    r"""CROWDLAB: a classifier's predicted probabilities join the annotators.

    :math:`P(z_t = k) \propto w_M\, p_M(k \mid t) + \sum_{j \in t} w_{a_j} L(k, y_j)`,
    :math:`L(k, y) = P` if :math:`y = k` else :math:`(1-P)/(K-1)`, where
    :math:`P` is the mean inter-annotator agreement, annotator weights
    :math:`w_a = \max(1 - \text{err}_a/\text{err}_0, 10^{-6})` (err_a: its
    disagreement with the other annotators; err_0: the error of always
    guessing the most common consensus class) and the model's weight
    :math:`w_M = \max(1 - \text{err}_M/\text{err}_0, 10^{-6})\sqrt{\bar n}`
    (err_M: its disagreement with majority vote; :math:`\bar n` answers per
    task). Tasks no one answered get the model's label, so pre-annotation by a
    model fills and improves the consensus.

    H. W. J. Goh, U. Tkachenko, J. Mueller, "CROWDLAB: Supervised learning to
    infer consensus labels and quality scores for data with multiple
    annotators", NeurIPS 2022 Human in the Loop Learning workshop (cleanlab).

    ``fit(data, model_probas)``: ``model_probas`` is a DataFrame indexed by
    task with a column per label (rows sum to 1); its tasks may include tasks
    with no answers. ``model_weight_`` is the fitted model weight; ``skills_``
    the annotator weights.

    ``consensus_method`` is cleanlab's (``get_label_quality_multiannotator``):
    ``"best_quality"`` (its default, and this one's) labels each task by the
    ensemble's argmax (a tie goes to the majority vote), then computes the
    weights and the ensemble once more against those labels, which give
    ``probas_``, ``skills_`` and ``model_weight_``; ``"majority_vote"`` keeps the
    majority vote as ``labels_`` and the first weights and ensemble. The majority
    vote breaks ties as cleanlab's: the labels the model scores highest, then the
    label least given over all answers, then the one whose annotators agree most
    with the untied tasks' votes, then (cleanlab: at random) the smallest. With
    ``"best_quality"``, ``labels_`` is not always the argmax of ``probas_`` (the
    second ensemble's), as in cleanlab; ``err_M`` and ``err_0`` above are taken
    against the consensus of the round.
    """

    _method = "crowdlab"
    _takes_class_priors = False  # (taken and ignored before 2026-12-07: the ensemble has no class prior)

    def __init__(self, consensus_method: str = "best_quality", **kw: Any) -> None:
        super().__init__(**kw)
        self.consensus_method = consensus_method

    def _init_args(self) -> dict[str, Any]:
        return {"consensus_method": self.consensus_method}

    def fit(self, data: pd.DataFrame, model_probas: pd.DataFrame | None = None,  # type: ignore[override]
            true_labels: pd.Series | None = None) -> CROWDLAB:
        """Fits the consensus of the annotators in ``data`` and the model's
        ``model_probas``; returns the estimator itself.

        ``data``: columns ``task``, ``worker``, ``label``, as for every classifier.
        ``model_probas`` (required, although it defaults to None: without a
        DataFrame :class:`~tagger.errors.InvalidArgument` is raised): a DataFrame
        indexed by task, one column per label, each row a distribution
        (numbers >= 0 summing to 1), one row per task; every answered task needs
        a row, and rows of tasks nobody answered add those tasks with the
        model's label. Without ``labels=`` the labels are the model's columns.
        ``true_labels``: optional gold labels, a Series task -> label.

        Sets ``labels_``, ``probas_`` (both including the model-only tasks),
        ``skills_`` (annotator weights), ``model_weight_``, ``priors_``,
        ``n_iter_``, ``converged_``, ``loss_history_`` and ``answers_``.
        """
        if not isinstance(data, pd.DataFrame):
            raise InvalidArgument(f"CROWDLAB: expected a pandas DataFrame with columns task, worker, label; "
                                  f"got {type(data).__name__}")
        if not isinstance(model_probas, pd.DataFrame):
            raise InvalidArgument("CROWDLAB.fit needs model_probas: a DataFrame indexed by task, one column per label")
        _check_model_probas(model_probas)
        extra = model_probas.index.difference(pd.Index(data["task"].unique())) if "task" in data else pd.Index([])
        # On the fit's copy: a refit that raises leaves the model and its extra tasks of the fit
        # in place (quality() read a failed refit's extra tasks against the kept probas_: KeyError).
        with fit_transaction(self) as work:
            work._model_probas = model_probas
            work._extra_tasks = extra
            given = work.labels
            if given is None:  # this fit's labels are the model's columns (the estimator's option stays None)
                try:
                    work.labels = sorted(model_probas.columns)
                except TypeError:  # labels of unorderable mixed types: the columns' order
                    work.labels = list(model_probas.columns)
            try:
                work._fit(data, true_labels)
            finally:
                work.labels = given
        return self

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        mp = self._model_probas.reindex(index=answers.task_names, columns=answers.label_names)
        if mp.isna().to_numpy().any():
            rows = answers.task_names.difference(self._model_probas.index)
            if len(rows):
                raise InvalidArgument(f"model_probas has no row for {len(rows)} answered task(s), first {_plain(rows[0])!r}")
            cols = answers.label_names.difference(self._model_probas.columns)
            if len(cols):
                raise InvalidArgument(f"model_probas has no column for label(s) {[_plain(v) for v in cols[:5]]} "
                                      f"(its columns: {[_plain(v) for v in self._model_probas.columns[:10]]})")
            raise InvalidArgument("model_probas has NaN probabilities for "
                                  f"{int(mp.isna().any(axis=1).sum())} answered task(s), first "
                                  f"{_plain(mp.index[mp.isna().any(axis=1)][0])!r}")
        common.pop("callback", None)
        if self.consensus_method not in ("best_quality", "majority_vote"):
            raise InvalidArgument(f"CROWDLAB: consensus_method must be 'best_quality' or 'majority_vote', "
                                  f"not {self.consensus_method!r}")
        return _core.consensus.crowdlab(*answers.core_args(), model_probas=np.ascontiguousarray(mp.to_numpy(dtype=float)),
                                        consensus_method=self.consensus_method, **common)

    def _quality_fit(self) -> tuple[Answers, dict[str, Any]]:
        # quality().tasks also lists the tasks only the model labeled (in labels_ and probas_
        # too): tasks without answers, whose posterior is the model's row.
        a, out = self.answers_, self._out
        if not len(self._extra_tasks):
            return a, out
        extra = self.probas_.loc[self._extra_tasks, list(a.label_names)].to_numpy(dtype=np.float64)
        tasks = a.task_names.append(pd.Index(self._extra_tasks))
        return (Answers(a.task, a.worker, a.label, tasks, a.worker_names, a.label_names, a.rows),
                {"probas": np.concatenate([out["probas"], extra]),
                 "labels": np.concatenate([out["labels"], a.label_names.get_indexer(
                     self.labels_.loc[self._extra_tasks])]).astype(np.int32)})

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self.model_weight_ = float(out["model_weight"])
        if len(self._extra_tasks):  # tasks only the model saw: its own label
            mp = self._model_probas.loc[self._extra_tasks, list(answers.label_names)]
            self.probas_ = pd.concat([self.probas_, mp.rename_axis("task").rename_axis("label", axis=1)])
            self.labels_ = pd.concat([self.labels_, mp.idxmax(axis=1).rename("agg_label").rename_axis("task")])
