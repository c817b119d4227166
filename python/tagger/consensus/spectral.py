"""Message passing over the worker-task graph: KOS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier

__all__ = ["KOS", "MMSR"]


class KOS(BaseClassifier):
    r"""KOS, binary labels: with :math:`A_j = \pm 1` (+1 for the label that
    appears first in the data), task messages
    :math:`x_{t \to w} = \sum_{w' \in t \setminus w} A_{tw'} y_{w' \to t}` and
    worker messages :math:`y_{w \to t} = \sum_{t' \in w \setminus t} A_{t'w} x_{t' \to w}`
    for ``n_iter`` rounds, started from :math:`y \sim N(1, 1)` drawn as numpy's
    ``np.random.seed(random_state); np.random.normal(1, 1, n)`` (legacy MT19937
    stream, reproduced in C++); label = :math:`\mathrm{sign}\sum_{w \in t} A_{tw} y_{w \to t}`.
    As crowd-kit 1.4, step for step (it stops early once a message exceeds
    1e300). A sum of exactly 0 gives the first label (crowd-kit raises a
    KeyError there). ``probas_`` is one-hot (KOS has no posterior).

    D. R. Karger, S. Oh, D. Shah, "Budget-Optimal Task Allocation for Reliable
    Crowdsourcing Systems", Operations Research 62(1):1-24, 2014.
    """

    _method = "kos"
    _iterative = True
    _has_skills = False
    # Every task would score "certain" in next_items/quality: nothing to rank by.
    _posteriors = False
    _probas_are = "one-hot (KOS gives a label, no posterior)"

    def __init__(self, n_iter: int = 100, random_state: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.random_state = n_iter, random_state

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "random_state": self.random_state}

    def fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None) -> KOS:
        """Runs the message passing on ``data``; returns the estimator itself.

        ``data``: columns ``task``, ``worker``, ``label`` with exactly two
        distinct labels (else :class:`~tagger.errors.InvalidArgument`, as for
        an empty frame). ``true_labels``: optional Series task -> gold label;
        those tasks keep their gold label.

        Sets ``labels_``, ``probas_`` (one-hot), ``priors_``, ``n_iter_``,
        ``converged_``, ``loss_history_`` and ``answers_``; no ``skills_``.
        """
        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise InvalidArgument("KOS: data is empty (no answers to aggregate)")
        return self._fit(data, true_labels)  # type: ignore[return-value]

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if answers.n == 0:
            raise InvalidArgument("KOS: data is empty (no answers to aggregate)")
        if len(answers.label_names) != 2:
            raise InvalidArgument(f"KOS aggregation method is for binary classification only; the answers have "
                                  f"{len(answers.label_names)} label(s) {list(answers.label_names)[:5]}")
        if common.get("class_priors") is not None:
            raise InvalidArgument("KOS takes no class_priors")
        positive = int(answers.label_names.get_indexer(pd.Index([self._first_label]))[0])
        out = _core.consensus_crowdkit.kos(*answers.core_args(), positive=positive, n_iter=self.n_iter,
                                           seed=self.random_state, callback=common.get("callback"))
        if common.get("gold") is not None:  # gold tasks keep their gold label
            g = common["gold"]
            lab = out["labels"]
            lab[g >= 0] = g[g >= 0]
            out["probas"][:] = 0.0
            out["probas"][range(len(lab)), lab] = 1.0
        return out


def _signed_vote(answers: Answers, skills: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """crowd-kit's MajorityVote with skills that may be negative (MMSR's log-odds):
    scores = per-label sums of the skills, probas = scores / row sum, label =
    the first maximal column (labels sorted)."""
    T, K = len(answers.task_names), len(answers.label_names)
    flat = np.zeros(T * K)
    np.add.at(flat, answers.task.astype(np.int64) * K + answers.label, skills[answers.worker])
    scores = flat.reshape(T, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        probas = scores / scores.sum(axis=1, keepdims=True)
    labels = np.argmax(np.nan_to_num(probas, nan=-np.inf), axis=1).astype(np.int32)
    return labels, probas


class MMSR(BaseClassifier):
    r"""M-MSR: robust rank-one completion of the worker covariance
    :math:`\mathbb{E}[\frac{K}{K-1}\tilde C - \frac{1}{K-1}\mathbf{1}\mathbf{1}^T] = s s^T`
    by mean-subsequence-reduced updates (``n_iter`` rounds until the change of
    :math:`u v^T` is below ``tol``, from numpy's ``RandomState(random_state)``
    draws), signs from the smallest eigenvector of the signed worker graph, and
    crowd-kit's vote with weights :math:`\log\frac{(K-1)s_w}{1-s_w}`: per task the
    per-label sums of the weights divided by their row sum (``scores_``), and
    the label of the largest share. Where a row sum is negative (workers
    with negative weights outvote the rest) that is the label of the
    *smallest* weighted sum, not the largest: kept, as crowd-kit's labels, and
    measured both ways: on rte 240 of 800 tasks have such rows, and the
    shares' labels score 0.8575 against 0.66 for the largest weighted sum (on
    dog no row sum is negative: the same labels, 0.8278); on synthetic binary
    data with 20 % / 40 % adversarial workers the largest weighted sum scored
    0.885 / 0.894 against 0.797 / 0.595. As crowd-kit 1.4, in
    C++ (cpp/src/consensus/mmsr.cc), except that the sign eigenvector comes from
    a dense symmetric solver instead of ARPACK (the same vector up to sign,
    which the method normalizes). ``fit`` sets ``skills_`` (log-odds, may be
    negative), ``loss_history_``, and labels/``scores_`` on the fitted data;
    ``predict``/``predict_score`` vote on any answers of known workers.

    Q. Ma, A. Olshevsky, "Adversarial Crowdsourcing Through Robust Rank-One
    Matrix Completion", NeurIPS 2020.
    """

    _method = "mmsr"
    _iterative = True
    _posteriors = False  # probas_ = scores_, crowd-kit's signed vote shares
    _probas_are = "its scores_ (signed skill sums, not probabilities)"

    def __init__(self, n_iter: int = 10000, tol: float = 1e-10, random_state: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_iter, self.tol, self.random_state = n_iter, tol, random_state

    def _init_args(self) -> dict[str, Any]:
        return {"n_iter": self.n_iter, "tol": self.tol, "random_state": self.random_state}

    def fit(self, data: pd.DataFrame, true_labels: pd.Series | None = None) -> MMSR:
        """Estimates the workers' skills from ``data`` and votes with them; returns the estimator itself.

        ``data``: columns ``task``, ``worker``, ``label``, at least two labels
        (an empty frame, or one label, raises
        :class:`~tagger.errors.InvalidArgument`; so does data too sparse for
        the rank-one fit, where every skill comes out 0 or NaN).
        ``true_labels``: optional Series task -> gold label; those tasks keep
        their gold label.

        Sets ``skills_`` (Series worker -> log-odds weight, may be negative),
        ``labels_``, ``scores_`` (= ``probas_``, signed vote shares),
        ``n_iter_``, ``converged_``, ``loss_history_`` and ``answers_``.
        """
        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise InvalidArgument("MMSR: data is empty (no answers to aggregate)")
        return self._fit(data, true_labels)  # type: ignore[return-value]

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        if common.get("class_priors") is not None:
            raise InvalidArgument("MMSR takes no class_priors")
        if not float(self.tol) >= 0:  # (type and finiteness: check_params)
            raise InvalidArgument(f"MMSR: tol must be >= 0, got {self.tol!r}")
        if len(answers.label_names) < 2:
            raise InvalidArgument("MMSR needs at least two labels (its weights divide by K - 1)")
        core = _core.consensus_crowdkit.mmsr(*answers.core_args(), n_iter=self.n_iter, tol=self.tol,
                                             seed=self.random_state, callback=common.get("callback"))
        skills = core["skills"]
        if not np.isfinite(skills).all() or not skills.any():
            # Too few workers sharing tasks for a rank-one fit: every skill comes out
            # 0 or NaN, and the weighted vote would label every task with the first label.
            raise InvalidArgument(
                f"MMSR could not estimate worker skills from these answers ({answers.n} answers, "
                f"{len(answers.worker_names)} workers): the fit needs workers who share several tasks; "
                "use DawidSkene or MajorityVote on data this sparse")
        labels, probas = _signed_vote(answers, skills)
        g = common.get("gold")
        if g is not None:  # gold tasks keep their gold label, and their scores_ say so
            known = g >= 0
            labels[known] = g[known]
            # (scores_ kept the vote's: labels_ != scores_.idxmax on 139 of dog's 807 tasks with full gold)
            probas[known] = 0.0
            probas[np.flatnonzero(known), g[known]] = 1.0
        return {"labels": labels, "probas": probas, "skills": skills, "priors": np.zeros(0),
                "n_iter": core["n_iter"], "converged": core["n_iter"] < self.n_iter,
                "objective_history": core["loss_history"]}

    @property
    def scores_(self) -> pd.DataFrame:
        """Per-task label scores (crowd-kit's ``scores_``: skill sums over the row sum)."""
        return self.probas_

    def _vote(self, data: pd.DataFrame) -> None:
        if "_out" not in self.__dict__:
            from ..errors import ConsensusError

            raise ConsensusError("MMSR is not fitted yet: call fit(data) first")
        from .base import factorize
        from .voting import skills_array

        answers, _ = factorize(data, self.labels, self.on_duplicate)
        s, _ = skills_array(answers, self.skills_, "error", None, "MMSR")
        labels, probas = _signed_vote(answers, s)
        # labels_ and scores_ of the data voted on; the fitted skills_ stay as fit set them
        # (crowd-kit's predict keeps them too), so a later predict can use every fitted worker.
        tasks = answers.task_names.rename("task")
        self.labels_ = self._ck_order(pd.Series(answers.label_names.to_numpy()[labels] if len(labels) else [],
                                                index=tasks, name="agg_label",
                                                dtype=answers.label_names.dtype if len(labels) else object))
        self.probas_ = self._ck_order(pd.DataFrame(probas, index=tasks, columns=answers.label_names.rename("label")))
        self._voted_on = answers  # the metrics and next_items read labels_ as these answers' only

    def predict(self, data: pd.DataFrame) -> pd.Series:
        """Labels of ``data``'s tasks (columns ``task``, ``worker``, ``label``) by
        the vote weighted with the fitted ``skills_``: a Series task -> label.

        Every worker of ``data`` needs a fitted skill (else
        :class:`~tagger.errors.InvalidArgument`). Sets ``labels_`` and
        ``scores_`` of ``data``; ``skills_`` stay as ``fit`` set them.
        """
        self._vote(data)
        return self.labels_

    def predict_score(self, data: pd.DataFrame) -> pd.DataFrame:
        """As :meth:`predict`, but returns ``scores_``: a DataFrame task x label
        of the skill sums over the row sum (signed, not probabilities)."""
        self._vote(data)
        return self.scores_

    def fit_predict_score(self, data: pd.DataFrame) -> pd.DataFrame:
        """``fit(data)``, then ``scores_``: a DataFrame task x label of the signed
        vote shares of the fitted data."""
        return self.fit(data).scores_
