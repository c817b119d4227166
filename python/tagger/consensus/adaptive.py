r"""Adaptive overlap with a copilot, simulated on collected answers.

A task with a copilot (a model that answers every item, with a confidence)
and ``overlap="adaptive"`` settles an item with fewer than ``overlap`` human
answers when the copilot answered it with confidence :math:`\ge` the task's
threshold and **every** human answer so far (at least one) equals the
copilot's label; any other item gets one more human answer per round until it
has ``overlap``. The consensus (Dawid-Skene by default) then runs on all
answers, the copilot's included as one more annotator whose confusion matrix
is estimated like any worker's; the copilot is never paid. This module replays
that rule on answers already collected, to measure how many human answers it
saves and what it costs in accuracy (benchmarks/bench_copilot.py,
docs/copilot.md).

:class:`CopilotReplay` replays each item's real answers in a random order
(``seed``), as :func:`tagger.consensus.active.replay_curve` does, and runs the
policies of the benchmark on the same order:

* :meth:`~CopilotReplay.full` — every item gets ``overlap`` human answers
  (fewer when fewer were collected), with or without the copilot as an annotator;
* :meth:`~CopilotReplay.adaptive` — the stop rule above;
* :meth:`~CopilotReplay.adaptive_budget` — the stop rule, then the human
  answers it saved spent on the items it did not settle, one more answer per
  round for the ``step`` share of them that :func:`~tagger.consensus.next_items`
  ranks least certain (beyond ``overlap`` while the replay has answers left);
* :meth:`~CopilotReplay.even` — a given number of human answers spread evenly
  (every item its first answer, then its second in random item order, ...),
  the non-adaptive baseline at equal budget.

:func:`synthetic_copilot` draws a copilot of a given accuracy with an
informative (or, permuted across items, uninformative) confidence;
:func:`copilot_from_proba` turns a model's class probabilities into one.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgument
from .active import next_items
from ._checks import one_row_each
from .base import BaseClassifier, _plain, factorize

__all__ = ["COPILOT", "ReplayResult", "CopilotReplay", "synthetic_copilot", "copilot_from_proba",
           "uninformative", "simulate_crowd", "CONFIDENCE_CORRECT", "CONFIDENCE_WRONG"]

COPILOT = "__copilot__"
"""The copilot's worker id in the replayed answers (no real worker id of the shared sets)."""

CONFIDENCE_CORRECT = (8.0, 2.0)
"""Beta(a, b) of the synthetic copilot's confidence on an item it labels correctly (mean 0.8)."""
CONFIDENCE_WRONG = (3.0, 3.0)
"""Beta(a, b) of its confidence on an item it labels wrongly (mean 0.5)."""


@dataclass(frozen=True)
class ReplayResult:
    """One policy's outcome: human answers bought, accuracy of the consensus on
    the items with a true label, and items settled early (adaptive only)."""
    answers: int
    accuracy: float
    stopped: int = 0


def synthetic_copilot(truth: pd.Series, accuracy: float, *, labels: Any = None, informative: bool = True,
                      correct: tuple[float, float] = CONFIDENCE_CORRECT, wrong: tuple[float, float] = CONFIDENCE_WRONG,
                      seed: int = 0) -> pd.DataFrame:
    """A copilot that labels each item of ``truth`` (Series task -> label) correctly
    with probability ``accuracy``, otherwise with a label drawn uniformly from the
    other ``labels`` (default: the labels in ``truth``). Its confidence is drawn
    from Beta(``correct``) on a correct item and Beta(``wrong``) on a wrong one:
    informative (higher when right) but imperfect. ``informative=False`` permutes
    the confidences across items: the same values, independent of correctness.

    Returns a frame indexed by task with ``label``, ``confidence`` and ``correct``."""
    if not 0.0 <= float(accuracy) <= 1.0:
        raise InvalidArgument(f"accuracy must be in [0, 1], got {accuracy!r}")
    for name, ab in (("correct", correct), ("wrong", wrong)):
        _beta_params(name, ab)
    label_set = np.asarray(sorted(set(truth.tolist()) if labels is None else set(labels)), dtype=object)
    if len(label_set) < 2:
        raise InvalidArgument("synthetic_copilot needs at least 2 labels (a wrong label must exist)")
    pos = {v: i for i, v in enumerate(label_set.tolist())}
    missing = set(truth.tolist()) - set(pos)
    if missing:
        raise InvalidArgument(f"truth has labels not in labels: {sorted(map(str, missing))[:5]}")
    rng = np.random.default_rng(seed)
    n, k = len(truth), len(label_set)
    y = np.array([pos[v] for v in truth.tolist()], dtype=np.int64)
    ok = rng.random(n) < float(accuracy)
    # A uniformly random wrong label: shift the true one by 1..k-1.
    lab = np.where(ok, y, (y + rng.integers(1, k, n)) % k)
    conf = np.where(ok, rng.beta(*correct, n), rng.beta(*wrong, n))
    if not informative:
        conf = rng.permutation(conf)
    return pd.DataFrame({"label": label_set[lab], "confidence": conf, "correct": ok}, index=truth.index.rename("task"))


def _beta_params(name: str, ab: Any) -> None:
    """(a, b) of a Beta distribution, both finite and > 0 (5 raised len()'s TypeError, (0, 1)
    numpy's "a <= 0")."""
    ok = not isinstance(ab, (str, bytes)) and np.ndim(ab) == 1 and len(ab) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and 0 < float(v) < float("inf")
        for v in ab)  # a tuple, a list or a numpy array of two numbers
    if not ok:
        raise InvalidArgument(f"{name} must be the (a, b) of a Beta distribution, both finite and > 0; got {ab!r}")


def uninformative(copilot: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The same copilot with its confidences permuted across items: the same
    values (so as many items pass a threshold), no longer telling right from wrong."""
    out = copilot.copy()
    out["confidence"] = np.random.default_rng(seed).permutation(out["confidence"].to_numpy())
    return out


def copilot_from_proba(proba: pd.DataFrame, truth: pd.Series | None = None) -> pd.DataFrame:
    """A model's class probabilities (DataFrame task x label) as a copilot: its
    top label and top probability as the confidence (``correct`` when ``truth`` is given)."""
    try:
        p = proba.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument("proba must hold numbers (class probabilities), task x label") from None
    if p.ndim != 2 or p.shape[1] == 0 or not np.isfinite(p).all():
        raise InvalidArgument("proba must be a non-empty task x label frame of finite probabilities")
    top = p.argmax(axis=1)
    out = pd.DataFrame({"label": np.asarray(proba.columns, dtype=object)[top], "confidence": p.max(axis=1)},
                       index=proba.index.rename("task"))
    if truth is not None:
        out["correct"] = (out["label"] == truth.reindex(out.index)).to_numpy()
    return out


def simulate_crowd(truth: pd.Series, labels: Any, *, n_workers: int, per_item: int,
                   skill: tuple[float, float] = (7.0, 3.0), confusable: np.ndarray | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """Simulated human answers for a set without crowd answers: ``per_item``
    distinct workers (drawn at random from ``n_workers``) answer each item of
    ``truth``. Worker ``w`` has an accuracy :math:`s_w \\sim` Beta(``skill``): it
    answers the true label with probability :math:`s_w`, otherwise a wrong label
    drawn uniformly or, when ``confusable`` (items x ``labels``, nonnegative) is
    given, in proportion to its row with the true label left out (workers confuse
    similar classes). Returns ``task, worker, label`` with ``per_item`` rows per item."""
    label_set = np.asarray(list(labels), dtype=object)
    k, n = len(label_set), len(truth)
    if k < 2:
        raise InvalidArgument("simulate_crowd needs at least 2 labels")
    _beta_params("skill", skill)
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise InvalidArgument(f"n_workers must be an integer >= 1, got {n_workers!r}")
    if isinstance(per_item, bool) or not isinstance(per_item, (int, np.integer)) or not 1 <= per_item <= n_workers:
        raise InvalidArgument(f"per_item must be an integer in [1, n_workers={n_workers}], got {per_item!r}")
    pos = {v: i for i, v in enumerate(label_set.tolist())}
    missing = set(truth.tolist()) - set(pos)
    if missing:
        raise InvalidArgument(f"truth has labels not in labels: {sorted(map(str, missing))[:5]}")
    y = np.array([pos[v] for v in truth.tolist()], dtype=np.int64)
    if confusable is None:
        w = np.ones((n, k))
    else:
        w = np.array(confusable, dtype=np.float64)
        if w.shape != (n, k) or not np.isfinite(w).all() or (w < 0).any():
            raise InvalidArgument(f"confusable must be a nonnegative finite {n} x {k} array, got shape {w.shape}")
    w[np.arange(n), y] = 0.0
    rows = w.sum(axis=1, keepdims=True)
    w = np.where(rows > 0, w / np.where(rows > 0, rows, 1.0), 1.0 / (k - 1))
    w[np.arange(n), y] = 0.0  # a row with no weight off the truth falls back to uniform over the wrong labels
    rng = np.random.default_rng(seed)
    s = rng.beta(*skill, n_workers)
    who = np.argsort(rng.random((n, n_workers)), axis=1)[:, :per_item]
    ok = rng.random((n, per_item)) < s[who]
    wrong = (rng.random((n, per_item, 1)) > np.cumsum(w, axis=1)[:, None, :]).sum(axis=2)
    lab = np.where(ok, y[:, None], np.minimum(wrong, k - 1))
    return pd.DataFrame({"task": np.repeat(truth.index.to_numpy(), per_item), "worker": who.ravel(),
                         "label": label_set[lab.ravel()]})


def _kind(v: Any) -> str:
    """Labels that could compare equal share a kind (1 == 1.0 == np.int64(1); "1" does not)."""
    if isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (bool, np.bool_)):
        return "number"
    return type(v).__name__


def _checked_truth(truth: Any, tasks: pd.Index) -> pd.Series:
    """``truth`` on the replayed tasks; refused when it is not a Series, has missing labels
    there, or shares no task with the answers (every accuracy would be NaN or 0)."""
    if not isinstance(truth, pd.Series):
        raise InvalidArgument(f"truth must be a pandas Series task -> label, not {type(truth).__name__}")
    one_row_each(truth.index, "truth has more than one label for task")
    kept = truth[truth.index.isin(tasks)]
    if kept.empty:
        raise InvalidArgument(f"truth shares no task with the answers (truth e.g. {truth.index.tolist()[:1]}, answers "
                              f"e.g. {tasks.tolist()[:1]}): are the ids of different types?")
    if kept.isna().any():
        raise InvalidArgument(f"truth has no label (NaN/None) for {int(kept.isna().sum())} replayed task(s), e.g. "
                              f"{kept.index[kept.isna()].tolist()[0]!r}: drop them (truth.dropna()) to score the rest")
    return kept


class CopilotReplay:
    """The policies of the benchmark replayed on one random order of ``answers``
    (``task, worker, label``), scored against ``truth`` (Series task -> label).

    ``copilot``: a frame indexed by task with ``label`` and ``confidence`` (one row
    per task of ``answers``: :func:`synthetic_copilot`, :func:`copilot_from_proba`);
    ``overlap``: the human answers per item of the full-overlap task; ``method``:
    the consensus run on the final answers (a method name or an estimator).

    ``anchoring``: the probability that a worker who is shown the copilot's
    suggestion copies it instead of giving the replayed answer (drawn once per
    answer from ``seed``). It applies to the policies with the copilot (the
    stop rule then sees the copied labels), not to those without, where no
    suggestion is shown. 0 (the default) replays the answers as collected.
    """

    def __init__(self, answers: pd.DataFrame, truth: pd.Series, copilot: pd.DataFrame, *, overlap: int,
                 method: str | BaseClassifier = "dawid_skene", seed: int = 0, anchoring: float = 0.0) -> None:
        if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 1:
            raise InvalidArgument(f"overlap must be an integer >= 1, got {overlap!r}")
        missing_cols = {"task", "worker", "label"} - set(answers.columns)
        if missing_cols:
            raise InvalidArgument(f"answers lacks the columns {sorted(missing_cols)}")
        if len(answers) == 0:
            raise InvalidArgument("answers is empty: there is nothing to replay")
        if (answers["worker"] == COPILOT).any():
            raise InvalidArgument(f"answers already has a worker named {COPILOT!r} (the copilot's id)")
        if not {"label", "confidence"} <= set(copilot.columns):
            raise InvalidArgument("copilot must have the columns label and confidence, indexed by task")
        if not copilot.index.is_unique:
            raise InvalidArgument("the copilot has more than one answer for some task (its index must be unique)")
        tasks = pd.unique(answers["task"])
        absent = pd.Index(tasks)[~pd.Index(tasks).isin(copilot.index)]
        if len(absent):
            raise InvalidArgument(f"the copilot has no answer for {len(absent)} task(s), e.g. {absent[0]!r}")
        share: Any = anchoring  # (typed float: mypy reads float as no numbers.Real)
        if isinstance(share, (bool, np.bool_)) or not isinstance(share, numbers.Real) or not 0.0 <= float(share) <= 1.0:
            raise InvalidArgument(f"anchoring must be a probability in [0, 1], got {anchoring!r}")
        try:  # what numpy takes as a seed (an int >= 0, None, a Generator ...), refused in its words
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"seed must be an int >= 0 (or None, or a numpy Generator), got {seed!r}: {e}") from None
        conf = pd.to_numeric(copilot["confidence"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~((conf >= 0) & (conf <= 1))
        if bad.any():
            # (confidences in percent settled every item at threshold 0.99; a text raised numpy's error)
            i = int(np.flatnonzero(bad)[0])
            raise InvalidArgument(f"copilot confidence of task {_plain(copilot.index[i])!r} is "
                                  f"{_plain(copilot['confidence'].iloc[i])!r}: "
                                  "confidences are probabilities in [0, 1]")
        self.overlap, self.method, self.anchoring = int(overlap), method, float(anchoring)
        # Repeated answers of a worker to a task: the last counts, decided once here in the
        # caller's order (one warning, the caller's row); every policy's refit warned again.
        _, answers = factorize(answers[["task", "worker", "label"]])
        self._rng_seed = int(rng.integers(2**63))
        df = answers[["task", "worker", "label"]].iloc[rng.permutation(len(answers))].reset_index(drop=True)
        code = pd.Index(tasks).get_indexer(pd.Index(df["task"]))
        self._tasks = pd.Index(tasks)
        self._df = df
        self._code = code
        self._rank = df.groupby("task", sort=False).cumcount().to_numpy()
        self._avail = np.bincount(code, minlength=len(tasks))
        cop = copilot.reindex(self._tasks)
        self._cop_label = cop["label"].to_numpy(dtype=object)
        self._cop_conf = cop["confidence"].to_numpy(dtype=np.float64)
        self._cop_frame = pd.DataFrame({"task": self._tasks, "worker": COPILOT, "label": cop["label"].to_numpy()})
        # The answers as given when the suggestion is shown: some copied from the copilot.
        copied = rng.random(len(df)) < self.anchoring
        self._df_shown = (df.assign(label=np.where(copied, self._cop_label[code], df["label"].to_numpy(dtype=object)))
                          if copied.any() else df)
        # Whether each answer (as given with the suggestion shown) equals the copilot's label.
        self._agrees = self._df_shown["label"].to_numpy(dtype=object) == self._cop_label[code]
        self._truth = _checked_truth(truth, self._tasks)
        seen = list(dict.fromkeys(df["label"].tolist() + cop["label"].tolist()))
        try:
            self.labels = sorted(seen)
        except TypeError:  # labels of mixed types (1 and "b"): first appearance
            self.labels = seen
        if not {_kind(v) for v in self._truth.tolist()} & {_kind(v) for v in seen}:
            raise InvalidArgument(f"truth labels and answer labels are of different types (truth e.g. "
                                  f"{self._truth.iloc[0]!r}, answers e.g. {seen[0]!r}): no answer could ever be right")

    # ------------------------------------------------------------- helpers ---
    @property
    def n_tasks(self) -> int:
        return len(self._tasks)

    def full_counts(self) -> np.ndarray:
        """Human answers per item at full overlap (fewer where fewer were collected)."""
        return np.minimum(self._avail, self.overlap)

    def _frame(self, counts: np.ndarray, with_copilot: bool) -> pd.DataFrame:
        keep = self._rank < counts[self._code]
        if not with_copilot:
            return self._df[keep]
        return pd.concat([self._df_shown[keep], self._cop_frame], ignore_index=True)

    def _score(self, frame: pd.DataFrame) -> float:
        from .registry import get_method

        est = get_method(self.method) if isinstance(self.method, str) else self.method
        pred = est.fit_predict(frame)
        return float((pred.reindex(self._truth.index) == self._truth).mean())

    def _result(self, counts: np.ndarray, with_copilot: bool, stopped: int = 0) -> ReplayResult:
        return ReplayResult(int(counts.sum()), self._score(self._frame(counts, with_copilot)), stopped)

    # ------------------------------------------------------------ policies ---
    def stop_counts(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """The stop rule round by round: human answers per item and whether the
        item settled early (with fewer than ``overlap`` answers)."""
        if not 0.0 <= float(threshold) <= 1.0:
            raise InvalidArgument(f"threshold must be in [0, 1] (a confidence), got {threshold!r}")
        cap = self.full_counts()
        confident = self._cop_conf >= float(threshold)
        counts = np.zeros(self.n_tasks, dtype=np.int64)
        done = np.zeros(self.n_tasks, dtype=bool)
        stopped = np.zeros(self.n_tasks, dtype=bool)
        # disagree[t]: some human answer revealed so far differs from the copilot's label.
        disagree = np.zeros(self.n_tasks, dtype=bool)
        for _ in range(self.overlap):
            open_ = ~done & (counts < cap)
            if not open_.any():
                break
            counts[open_] += 1
            newly = open_[self._code] & (self._rank == counts[self._code] - 1)
            np.logical_or.at(disagree, self._code[newly], ~self._agrees[newly])
            settle = open_ & confident & ~disagree & (counts < cap)
            stopped |= settle
            done |= settle | (counts >= cap)
        return counts, stopped

    def full(self, with_copilot: bool = False) -> ReplayResult:
        """Every item ``overlap`` human answers; ``with_copilot`` adds the copilot as an annotator."""
        return self._result(self.full_counts(), with_copilot)

    def adaptive(self, threshold: float) -> ReplayResult:
        """The stop rule at ``threshold``; the consensus includes the copilot."""
        counts, stopped = self.stop_counts(threshold)
        return self._result(counts, True, int(stopped.sum()))

    def adaptive_budget(self, threshold: float, budget: int | None = None, *, step: float = 0.05,
                        score: str = "margin") -> ReplayResult:
        """The stop rule, then the rest of ``budget`` human answers (default: the
        full-overlap count) spent on the items it did not settle: each round one
        more answer for the ``step`` share of the items (at least one) that
        :func:`~tagger.consensus.next_items` ranks first among those with
        replayed answers left, until the budget or the answers run out. The
        answers used can stay below ``budget`` when the replay has no more."""
        if not 0 < step <= 1:
            raise InvalidArgument(f"step must be in (0, 1], got {step}")
        if budget is not None and (isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer))
                                   or budget < 0):
            # (as even_counts: -5 and 2.7 were taken as int(budget))
            raise InvalidArgument(f"budget must be an integer >= 0 (human answers), got {budget!r}")
        counts, stopped = self.stop_counts(threshold)
        budget = int(self.full_counts().sum()) if budget is None else int(budget)
        batch = max(1, int(round(step * self.n_tasks)))
        while True:
            left = budget - int(counts.sum())
            open_ = ~stopped & (counts < self._avail)
            if left <= 0 or not open_.any():
                break
            frame = self._frame(counts, True)
            ranked = next_items(frame, self.n_tasks, method="dawid_skene", score=score, labels=self.labels)
            pos = self._tasks.get_indexer(ranked.index)
            pick = pos[open_[pos]][:min(batch, left)]
            counts[pick] += 1
        return self._result(counts, True, int(stopped.sum()))

    def even_counts(self, budget: int) -> np.ndarray:
        """Human answers per item when ``budget`` of them are spread evenly, at most
        ``overlap`` per item: every item its first answer, then its second in a random
        item order (fixed by the replay's seed), and so on."""
        cap = self.full_counts()
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 0 <= budget <= cap.sum():
            raise InvalidArgument(f"budget must be an integer in [0, {int(cap.sum())}], got {budget!r}")
        prio = np.random.default_rng(self._rng_seed).permutation(self.n_tasks)
        # Slots (item, r) ordered by r, items in the random order within each r.
        slot_task = np.concatenate([np.flatnonzero(cap > r)[np.argsort(prio[cap > r], kind="stable")]
                                    for r in range(int(cap.max()))])
        return np.bincount(slot_task[:int(budget)], minlength=self.n_tasks)

    def even(self, budget: int, with_copilot: bool = False) -> ReplayResult:
        """``budget`` human answers spread evenly (:meth:`even_counts`): the
        non-adaptive baseline at equal budget, with or without the copilot."""
        return self._result(self.even_counts(budget), with_copilot)
