"""Voting methods: majority vote and weighted majority vote."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from .base import Answers, BaseClassifier, _plain, _sorted_by_index, fit_transaction, repeats_already_warned

__all__ = ["MajorityVote", "WeightedMajorityVote", "GoldMajorityVote", "skills_array"]


def skills_array(answers: Answers, skills: Any, on_missing_skill: str, default_skill: float | None,
                 owner: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-worker weights in the answers' worker order, by crowd-kit's
    ``on_missing_skill`` rule, and the answers to keep (None: all). Errors are
    :class:`InvalidArgument` (a ValueError, as crowd-kit raises)."""
    if on_missing_skill not in ("error", "ignore", "value"):
        raise InvalidArgument(f"{owner}: unknown on_missing_skill {on_missing_skill!r} (use 'error', 'ignore' or 'value')")
    if default_skill is not None and on_missing_skill != "value":
        raise InvalidArgument(f'{owner}: default_skill is used but on_missing_skill is not "value"')
    if not isinstance(skills, pd.Series):
        raise InvalidArgument(f"{owner}: skills must be a pandas Series indexed by worker, got {type(skills).__name__}")
    if skills.index.has_duplicates:
        w = skills.index[skills.index.duplicated()][0]
        raise InvalidArgument(f"{owner}: skills name worker {_plain(w)!r} more than once")
    try:
        s = skills.reindex(answers.worker_names).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{owner}: skills must be numbers") from None
    missing = np.isnan(s)
    if not missing.any():
        return s, None
    n_missing = int(missing[answers.worker].sum())
    if on_missing_skill == "error":
        first = _plain(answers.worker_names[missing][0])
        fix = ("predict votes with the skills fit estimated, so every worker of its data needs one (a worker "
               "with answers in fit's data" + (" on gold tasks" if owner.startswith("GoldMajorityVote") else "")
               + "); fit on data that includes them, or leave their answers out"
               if owner.endswith(".predict") else
               "give every worker a skill or use on_missing_skill='ignore' or 'value'")
        raise InvalidArgument(f"{owner}: skill value is missing in {n_missing} assignment(s) (first worker {first!r}); "
                              f"{fix}")
    if on_missing_skill == "value":
        if default_skill is None:
            raise InvalidArgument(f'{owner}: default_skill must be given when on_missing_skill="value"')
        return np.where(missing, float(default_skill), s), None
    keep = ~missing[answers.worker]
    left = np.bincount(answers.task[keep], minlength=len(answers.task_names))
    if (left == 0).any():
        raise InvalidArgument(f"{owner}: {int((left == 0).sum())} task(s) have no worker with a known skill "
                              f"(first {answers.task_names[left == 0][0]!r}); on_missing_skill='ignore' needs one per task")
    return np.where(missing, 0.0, s), keep


def weights_check(answers: Answers, s: np.ndarray, owner: str) -> None:
    """InvalidArgument naming the first worker whose vote weight is negative or not finite
    (the C++ vote refuses them too, but by an index the caller never saw)."""
    bad = ~(np.isfinite(s) & (s >= 0))
    if bad.any():
        w = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{owner}: skill of worker {_plain(answers.worker_names[w])!r} is {float(s[w])}; vote weights "
                              "must be finite and >= 0")
    # Finite weights such as 1e308 overflowed a task's sum to inf: NaN posteriors and a label
    # against the votes. Each sum is at most max(s) times the answers; only then are they added up.
    if len(s) and answers.n and not np.isfinite(float(s.max()) * answers.n):
        sums = np.bincount(answers.task, weights=s[answers.worker], minlength=len(answers.task_names))
        if not np.isfinite(sums).all():
            t = int(np.flatnonzero(~np.isfinite(sums))[0])
            raise InvalidArgument(f"{owner}: the vote weights of task {_plain(answers.task_names[t])!r} add up to more "
                                  "than a float holds; scale the skills down (a vote is the same for weights all "
                                  "multiplied by one number)")


def agreement(answers: Answers, labels: np.ndarray) -> pd.Series:
    """Share of each worker's answers equal to ``labels[task]`` (crowd-kit's get_accuracy)."""
    hit = (answers.label == labels[answers.task]).astype(float)
    n = np.bincount(answers.worker, minlength=len(answers.worker_names))
    right = np.bincount(answers.worker, weights=hit, minlength=len(answers.worker_names))
    has = n > 0
    return pd.Series(right[has] / n[has], index=answers.worker_names[has].rename("worker"), name="skill")


class MajorityVote(BaseClassifier):
    r"""Majority vote: :math:`P(z_t = k) = |\{j \in t : y_j = k\}| / |t|`;
    with ``fit(data, skills)`` a weighted vote,
    :math:`P(z_t = k) \propto \sum_{j \in t: y_j = k} s_{w_j}`.

    The label is the most voted one; **ties go to the smallest label** (by
    sorted label value; crowd-kit gives them to the label that appears first),
    so the result is deterministic and independent of row order. ``probas_``
    rows and columns come in crowd-kit's order: first appearance in the data,
    sorted for a weighted vote. ``skills_`` is
    each worker's agreement with the result. Workers without a skill follow
    ``on_missing_skill`` as in crowd-kit: ``"error"`` (InvalidArgument, a
    ValueError), ``"ignore"`` (their answers are dropped; an error if a task
    is left with none) or ``"value"`` (``default_skill``).

    >>> import pandas as pd, tagger as tg
    >>> df = pd.DataFrame({"task": [1, 1, 1], "worker": ["a", "b", "c"], "label": ["x", "y", "y"]})
    >>> tg.consensus.MajorityVote().fit_predict(df).tolist()
    ['y']
    >>> tg.consensus.MajorityVote().fit_predict(df, pd.Series({"a": 3.0, "b": 1.0, "c": 1.0})).tolist()
    ['x']
    """

    _takes_class_priors = False

    _method = "majority_vote"

    def __init__(self, default_skill: float | None = None, on_missing_skill: str = "error", *, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.default_skill, self.on_missing_skill = default_skill, on_missing_skill
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        # Only what differs from the defaults: MajorityVote(on_missing_skill="value",
        # default_skill=0.5) printed as MajorityVote().
        args: dict[str, Any] = {}
        if self.default_skill is not None:
            args["default_skill"] = self.default_skill
        if self.on_missing_skill != "error":
            args["on_missing_skill"] = self.on_missing_skill
        return args

    # crowd-kit 1.4 counts the votes with value_counts (rows and columns in order of first
    # appearance) and a weighted vote with a sorting groupby; its skills_ come from a
    # sorting groupby either way.
    _task_order = _label_order = "appearance"
    _worker_order = "sorted"

    def fit(self, data: pd.DataFrame, skills: pd.Series | None = None,  # type: ignore[override]
            true_labels: pd.Series | None = None) -> MajorityVote:
        """Fits the vote; ``skills`` (Series worker -> weight) makes it weighted."""
        with fit_transaction(self) as work:
            work._skills_in = skills
            order = "appearance" if skills is None else "sorted"
            work._task_order = work._label_order = order
            try:
                work._fit(data, true_labels)
            finally:
                work._skills_in = None
        return self

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        skills = getattr(self, "_skills_in", None)
        if skills is not None:
            owner = getattr(self, "_owner", "MajorityVote")  # a two-stage estimator's predict votes here
            s, keep = skills_array(answers, skills, self.on_missing_skill, self.default_skill, owner)
            weights_check(answers, s, owner)
            if keep is not None:  # 'ignore': the vote without those answers (and agreement over the rest)
                # answers_ stays every answer given: quality() counts the ignored worker's answers, and
                # the metrics know this fit by its answers (with the kept ones only they did not, and
                # scored a refit without the skills).
                answers = Answers(answers.task[keep], answers.worker[keep], answers.label[keep], answers.task_names,
                                  answers.worker_names, answers.label_names)
            if self.backend != "local" and answers.n:
                from .distributed import fit_answers
                out = fit_answers("weighted_majority_vote", answers, backend=self.backend, n_shards=self.n_shards,
                                  skills=s, **common)
            else:
                out = _core.consensus.weighted_majority_vote(*answers.core_args(), skills=s, **common)
            out["skills"] = agreement(answers, out["labels"]).reindex(answers.worker_names).to_numpy()
            return out
        if self.backend != "local" and answers.n:  # sharded: same results (tagger.consensus.distributed)
            from .distributed import fit_answers
            return fit_answers(self._method, answers, backend=self.backend, n_shards=self.n_shards, **common)
        return super()._core_call(answers, **common)

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        if getattr(self, "_skills_in", None) is not None and self.on_missing_skill == "ignore":
            # The workers whose answers were ignored agree with nothing: crowd-kit's skills_ leaves
            # them out (tagger listed them with NaN).
            self.skills_ = self.skills_.dropna()


class _Predicting(BaseClassifier):
    """crowd-kit's two-stage estimators: ``fit`` learns ``skills_``;
    ``predict``/``predict_proba`` run a weighted majority vote with them on
    any answers whose workers all have a skill (others: InvalidArgument)."""

    _takes_class_priors = False

    _worker_order = "sorted"  # crowd-kit's skills_ come out of a sorting groupby (get_accuracy)

    def _apply(self, data: pd.DataFrame) -> None:
        skills = getattr(self, "skills_", None)
        if skills is None or "_out" not in self.__dict__:
            from ..errors import ConsensusError

            raise ConsensusError(f"{type(self).__name__} is not fitted yet: call fit(data) first")
        mv = MajorityVote(labels=self.labels, on_duplicate=self.on_duplicate, threads=self.threads)
        mv._owner = f"{type(self).__name__}.predict"  # type: ignore[attr-defined]  # (messages only)
        mv.fit(data, skills)
        self.labels_ = mv.labels_
        self.probas_ = mv.probas_
        self._voted_on = mv.answers_  # the metrics and next_items read labels_ as these answers' only

    def predict(self, data: pd.DataFrame) -> pd.Series:
        """Labels of ``data``'s tasks by a vote weighted with the fitted ``skills_``."""
        self._apply(data)
        return self.labels_

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Posteriors of ``data``'s tasks by a vote weighted with the fitted ``skills_``."""
        self._apply(data)
        return self.probas_


class GoldMajorityVote(_Predicting):
    r"""Gold majority vote: ``fit(data, true_labels)`` sets each worker's skill
    to their accuracy on the gold tasks; ``predict`` is the vote weighted by
    those skills, :math:`P(z_t = k) \propto \sum_{j \in t: y_j = k} s_{w_j}`
    (ties to the smallest label). Every worker in ``predict``'s data needs a
    gold answer in ``fit``'s (as crowd-kit: else InvalidArgument, a ValueError).
    ``fit_predict(data, true_labels)`` = ``fit`` then ``predict`` on the same data.
    (crowd-kit's method: D. Ustalov, N. Pavlichenko, B. Tseitlin, "Learning from
    Crowds with Crowd-Kit", JOSS 2024.)
    """

    _method = "gold_majority_vote"

    def fit(self, data: pd.DataFrame, true_labels: pd.Series) -> GoldMajorityVote:  # type: ignore[override]
        """Learns each worker's skill, their accuracy on the gold tasks; returns the estimator itself.

        ``data``: columns ``task``, ``worker``, ``label``. ``true_labels``
        (required): a Series task -> gold label; at least one task of ``data``
        needs one, and an empty ``data`` raises
        :class:`~tagger.errors.InvalidArgument`.

        Sets ``skills_`` (Series worker -> accuracy, sorted, only workers with
        a gold answer, as crowd-kit), and ``labels_``/``probas_`` of the vote of
        those workers on ``data`` (crowd-kit's fit sets none).
        """
        if isinstance(data, pd.DataFrame) and len(data) == 0:
            raise InvalidArgument("GoldMajorityVote: data is empty (no answers to aggregate)")
        if true_labels is None:
            raise InvalidArgument("GoldMajorityVote.fit needs true_labels (a Series task -> gold label)")
        return self._fit(data, true_labels)  # type: ignore[return-value]

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        gold = common["gold"]
        if answers.n == 0:
            raise InvalidArgument("GoldMajorityVote: data is empty (no answers to aggregate)")
        if gold is None or not (gold >= 0).any():
            raise InvalidArgument("GoldMajorityVote: no task of the data has a gold label in true_labels")
        g = gold[answers.task]
        on_gold = g >= 0
        skills = agreement(Answers(answers.task[on_gold], answers.worker[on_gold], answers.label[on_gold],
                                   answers.task_names, answers.worker_names, answers.label_names),
                           gold.astype(np.int32))
        self._gold_skills = skills
        # fit's own labels_: the vote of the workers with gold answers (crowd-kit's fit sets none).
        s = skills.reindex(answers.worker_names).fillna(0.0).to_numpy(dtype=float)
        return _core.consensus.weighted_majority_vote(*answers.core_args(), skills=s, threads=common["threads"])

    def _extra(self, answers: Answers, out: dict[str, Any]) -> None:
        self.skills_ = _sorted_by_index(self._gold_skills)  # workers with a gold answer only, as crowd-kit

    def fit_predict(self, data: pd.DataFrame, true_labels: pd.Series) -> pd.Series:
        """``fit(data, true_labels)``, then ``predict(data)``: a Series task -> label,
        every worker of ``data`` voting with their gold accuracy."""
        self.fit(data, true_labels)
        with repeats_already_warned():  # (fit has said it of this very data)
            return self.predict(data)

    def fit_predict_proba(self, data: pd.DataFrame, true_labels: pd.Series) -> pd.DataFrame:
        """``fit(data, true_labels)``, then ``predict_proba(data)``: a DataFrame task x
        label of the vote weighted by the workers' gold accuracy."""
        self.fit(data, true_labels)
        with repeats_already_warned():
            return self.predict_proba(data)


class WeightedMajorityVote(BaseClassifier):
    r"""Weighted majority vote: :math:`P(z_t = k) \propto \sum_{j \in t: y_j = k} s_{w_j}`.

    ``skills``: a Series worker -> weight (>= 0). Workers missing from it get
    ``default_skill`` (an error if that is None). Without ``skills`` the
    weights are estimated as in :class:`Wawa` (agreement with majority vote).
    Ties as in :class:`MajorityVote`. Littlestone & Warmuth, "The Weighted
    Majority Algorithm", Information and Computation 108(2), 1994.
    """

    _takes_class_priors = False

    _method = "weighted_majority_vote"

    def __init__(self, skills: pd.Series | None = None, default_skill: float | None = None, *, backend: str = "local",
                 n_shards: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.skills = skills
        self.default_skill = default_skill
        self.backend, self.n_shards = backend, n_shards

    def _init_args(self) -> dict[str, Any]:
        return {"default_skill": self.default_skill}

    def _core_call(self, answers: Answers, **common: Any) -> dict[str, Any]:
        sharded = self.backend != "local" and answers.n > 0  # same results (tagger.consensus.distributed)
        if sharded:
            from .distributed import fit_answers
        if self.skills is None:
            if sharded:
                return fit_answers("wawa", answers, backend=self.backend, n_shards=self.n_shards, **common)
            return _core.consensus.wawa(*answers.core_args(), **common)
        given = self.skills if isinstance(self.skills, pd.Series) else pd.Series(self.skills)
        if given.index.has_duplicates:  # pandas said "cannot reindex on an axis with duplicate labels"
            raise InvalidArgument(f"WeightedMajorityVote: skills name worker "
                                  f"{_plain(given.index[given.index.duplicated()][0])!r} more than once")
        try:
            s = given.reindex(answers.worker_names).to_numpy(dtype=float)
        except (TypeError, ValueError):  # "could not convert string to float: 'x'"
            raise InvalidArgument("WeightedMajorityVote: skills must be numbers (a Series worker -> weight)") from None
        if np.isnan(s).any():
            if self.default_skill is None:
                missing = answers.worker_names[np.isnan(s)][0]
                raise InvalidArgument(f"no skill for worker {missing!r} (pass default_skill= to use a default)")
            s = np.where(np.isnan(s), float(self.default_skill), s)
        weights_check(answers, s, "WeightedMajorityVote")
        if sharded:
            return fit_answers("weighted_majority_vote", answers, backend=self.backend, n_shards=self.n_shards,
                               skills=s, **common)
        return _core.consensus.weighted_majority_vote(*answers.core_args(), skills=s, **common)
