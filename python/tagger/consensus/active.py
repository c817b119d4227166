r"""Answers only where needed: rank the items whose label is least certain.

:func:`next_items` fits a consensus method on the answers so far and scores
each task by how much one more answer is expected to help:

* ``"margin"`` (the default) — :math:`1 - (p_{(1)} - p_{(2)})`, one minus the
  gap between the two largest posterior probabilities (1 = a tie, 0 = certain);
* ``"entropy"`` — the posterior entropy :math:`H(z_t) = -\sum_k p_k \log p_k`
  (nats);
* ``"eig"`` (expected information gain) — the mutual
  information between the true label and one more answer from a typical
  worker, :math:`I(z_t; y) = H(y) - H(y \mid z_t)` with
  :math:`P(y = j) = \sum_k p_k \pi_{kj}` and
  :math:`H(y \mid z_t) = \sum_k p_k H(\pi_{k\cdot})`, where :math:`\pi` is
  the answer-weighted mean of the workers' confusion matrices (Dawid–Skene's
  ``errors_``), or, for methods without one, the one-coin matrix of the mean
  worker skill :math:`s` (:math:`\pi_{kk} = s`, :math:`\pi_{kj} = (1-s)/(K-1)`).
  EIG is 0 for a task whose label is certain or for a worker no better
  than chance, and largest where the posterior is split between labels the
  workers tell apart well.

Ties go to the task with fewer answers, then to the earlier task. Replayed
on the shared sets (``replay_curve``, benchmarks/bench_active.py), the margin
of a Dawid-Skene fit with Laplace smoothing 1 needed the fewest answers to
reach the full-overlap accuracy; docs/consensus.md has the curves.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import _id_kind, ids_of_the_data
from .base import BaseClassifier, factorize

__all__ = ["next_items", "SCORES", "eig_scores", "replay_curve"]

SCORES = ("eig", "margin", "entropy")


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -(p * logs).sum(axis=-1)


def eig_scores(probas: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Expected information gain of one answer drawn through ``confusion``
    (K x K, rows = true label, each summing to 1) for each posterior row of
    ``probas`` (T x K): :math:`H(p\\pi) - \\sum_k p_k H(\\pi_k)`."""
    p = np.asarray(probas, dtype=np.float64)
    pi = np.asarray(confusion, dtype=np.float64)
    if p.ndim != 2 or pi.shape != (p.shape[1], p.shape[1]):
        raise InvalidArgument(f"eig_scores: probas must be T x K and confusion K x K; got {p.shape} and {pi.shape}")
    py = p @ pi
    out = _entropy_rows(py) - p @ _entropy_rows(pi)
    return np.maximum(out, 0.0)  # rounding can give -1e-17 for a certain task


def _confusion(errors: np.ndarray | None, skills: np.ndarray | None, counts: np.ndarray, n_labels: int) -> np.ndarray:
    """The answer-weighted mean confusion matrix [true, observed] of the workers."""
    w = counts.astype(np.float64)
    if errors is not None and len(errors):
        return np.tensordot(w / max(w.sum(), 1.0), np.asarray(errors, dtype=np.float64), axes=1)
    s = 1.0 / n_labels
    if skills is not None and len(skills):
        ok = np.isfinite(skills)
        if ok.any() and w[ok].sum() > 0:
            s = float(np.average(skills[ok], weights=w[ok]))
    s = min(max(s, 0.0), 1.0)
    pi = np.full((n_labels, n_labels), (1 - s) / max(n_labels - 1, 1))
    np.fill_diagonal(pi, s)
    return pi


EIG_ALWAYS_CELLS = 50_000_000
"""``next_items`` fills its ``eig`` column for another score only up to this many tasks x labels^2."""


def next_items(answers: pd.DataFrame, budget: int, method: str | BaseClassifier = "dawid_skene", *,
               score: str = "margin", labels: Any = None, smoothing: float | None = None,
               exclude: Iterable[Any] | None = None) -> pd.DataFrame:
    """The ``budget`` tasks that most need one more answer, most uncertain first.

    ``answers``: a ``task, worker, label`` frame; ``method``: a consensus method
    name (``tg.consensus.METHODS``) or an estimator; ``score``: ``"eig"``,
    ``"margin"`` or ``"entropy"`` (formulas in the module docstring);
    ``labels``: the full label set when some label has no answer yet;
    ``smoothing``: the Laplace pseudo-count of the ranking fit when ``method``
    is a name (Dawid-Skene family; ignored by the others; refused with an
    estimator, which ranks with its own settings). The default (None) is 1, which keeps
    the posterior of a task with one or two answers from sounding certain
    because one worker's confusion matrix was fitted on a handful of answers;
    on the shared sets it reaches the full-overlap accuracy with fewer answers
    than 0 does (docs/consensus.md). An estimator passed as ``method`` ranks
    with its own settings: as fitted when it was fitted on these very answers
    (a weighted vote's skills, CROWDLAB's model kept), else a copy fitted here;
    the estimator is left as it was. ``exclude``: tasks never returned (e.g. control
    items, whose label is already known); their answers still inform the fit. It is read as
    a collection of task ids: for gold labels pass ``gold.index``, not the Series (a Series
    whose index and values could both be the tasks is refused, but one indexed 0..n-1 whose
    labels are task ids too reads as those ids).

    Returns a frame indexed by task with ``score`` (higher = more useful),
    ``margin``, ``entropy``, ``eig`` (NaN when another score ranks and tasks x
    labels^2 exceeds :data:`EIG_ALWAYS_CELLS`), the current ``label`` and ``n_answers``;
    at most ``budget`` rows (fewer when there are fewer tasks).
    """
    from .registry import get_method

    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise InvalidArgument(f"budget must be an integer >= 0 (answers to ask for), got {budget!r}")
    if score not in SCORES:
        raise InvalidArgument(f"score must be one of {list(SCORES)}, not {score!r}")
    a, used = factorize(answers, labels=labels)
    if a.n == 0:
        raise InvalidArgument("next_items needs answers to rank the tasks by")
    if isinstance(method, str):
        est = get_method(method)
    elif isinstance(method, BaseClassifier):
        # A copy ranks (below): the caller's fit stays as it was (it used to be refitted on these
        # answers), and another thread refitting the same estimator cannot swap its skills_ in between.
        est = method
    else:
        raise InvalidArgument(f"method must be a method name or a tg.consensus estimator, not {type(method).__name__}")
    if smoothing is not None and not isinstance(method, str):
        # It was ignored: the ranking is the estimator's own fit.
        raise InvalidArgument(f"smoothing applies to a method name; the {type(method).__name__} passed as method "
                              "ranks with its own settings (set them on the estimator, e.g. DawidSkene(smoothing=...))")
    if smoothing is None:
        smoothing = 1.0
    if est._method == "gold_majority_vote":
        raise InvalidArgument("next_items cannot rank with GoldMajorityVote: that method needs gold labels "
                              "(true_labels), which next_items does not take; use 'dawid_skene' or another method")
    skip = np.zeros(len(a.task_names), dtype=bool)
    if exclude is not None:
        if isinstance(exclude, (str, bytes)) or not isinstance(exclude, Iterable):
            raise InvalidArgument(f"exclude must be a collection of task ids, not {type(exclude).__name__}")
        given = pd.Index(list(exclude))
        pos = a.task_names.get_indexer(given)
        if isinstance(exclude, pd.Series) and exclude.name != "task" and len(exclude) \
                and (a.task_names.get_indexer(exclude.index) >= 0).all() \
                and not exclude.index.equals(pd.Index(exclude.to_numpy())):
            # Iterating a Series gives its values: a task -> label Series (true_labels' shape)
            # excluded the tasks its labels happened to name, silently, and labels of another type
            # than the tasks got advice to convert them. Where both readings agree (index ==
            # values), for a column cut out of the answers (named "task") and for a Series built
            # from a list of ids (rows 0..n-1) the values are the tasks. A task -> label Series
            # indexed 0..n-1 whose labels are task ids too cannot be told from such a list.
            rows = exclude.index
            plain_rows = isinstance(rows, pd.RangeIndex) and rows.start == 0 and rows.step == 1
            other_type = _id_kind(given) is not None and _id_kind(given) != _id_kind(a.task_names)
            if (pos < 0).all() and other_type:
                what = f"are not tasks ({exclude.to_numpy()[:3].tolist()}: labels?)"
            elif (pos >= 0).all() and not plain_rows:
                what = "are tasks too, so which to exclude is unclear"
            elif (pos < 0).any() and not plain_rows:
                what = f"are not all tasks ({exclude.to_numpy()[:3].tolist()})"
            else:
                what = ""
            if what:
                raise InvalidArgument(f"exclude is a Series whose index holds tasks of the answers and whose values "
                                      f"{what}; pass series.index to exclude the index's tasks (a task -> label "
                                      "Series such as true_labels), or list(series) for its values")
        ids_of_the_data(given, a.task_names, "exclude", pos)
        skip[pos[pos >= 0]] = True  # ids without answers are simply not candidates
    est._require_posteriors("next_items")
    errors: np.ndarray | None = None
    skills: np.ndarray | None = None
    if isinstance(method, str) and est._method in _core.consensus.method_names():
        # The core fit with the method's defaults: posterior, confusion matrices and skills as arrays.
        if isinstance(smoothing, bool) or not (isinstance(smoothing, numbers.Real) and np.isfinite(smoothing)
                                               and smoothing >= 0):
            raise InvalidArgument(f"smoothing must be a finite number >= 0, got {smoothing!r}")
        fit = _core.consensus.fit(est._method, *a.core_args(), smoothing=float(smoothing))
        p = np.asarray(fit["probas"], dtype=np.float64)
        errors, skills = fit["errors"], np.asarray(fit["skills"], dtype=np.float64)
    else:
        from .metrics import _aggregate

        # An estimator already fitted on these answers ranks with that fit (a weighted vote's skills,
        # CROWDLAB's model); any other, a copy fitted here (a refit dropped the fit's arguments).
        est = _aggregate(used, est)
        probas_df = est.probas_.reindex(index=a.task_names, columns=a.label_names).fillna(0.0)
        p = probas_df.to_numpy(dtype=np.float64)
        sk = getattr(est, "skills_", None)
        if sk is not None:
            skills = pd.Series(sk).reindex(a.worker_names).to_numpy(dtype=np.float64)
    K = p.shape[1]
    srt = np.sort(p, axis=1)
    margin = srt[:, -1] - (srt[:, -2] if K > 1 else 0.0)
    entropy = _entropy_rows(p)
    counts = np.bincount(a.worker, minlength=len(a.worker_names))
    if K > 1 and (score == "eig" or len(p) * K * K <= EIG_ALWAYS_CELLS):
        eig = eig_scores(p, _confusion(errors, skills, counts, K))
    else:
        # Not asked for and costly: tasks x labels^2 (10,000 labels: 45 s and 4.7 GB for a
        # margin ranking that needs none of it). Its column is NaN then.
        eig = np.zeros(len(p)) if K <= 1 else np.full(len(p), np.nan)
    chosen = {"eig": eig, "margin": 1.0 - margin, "entropy": entropy}[score]
    n_ans = np.bincount(a.task, minlength=len(a.task_names))
    # Highest score first; ties to fewer answers, then to the task's first appearance.
    order = np.lexsort((np.arange(len(p)), n_ans, -np.round(chosen, 12)))
    order = order[~skip[order]][:int(budget)]
    lab = p.argmax(axis=1)
    out = pd.DataFrame({"score": chosen[order], "margin": margin[order], "entropy": entropy[order], "eig": eig[order],
                        "label": np.asarray(a.label_names, dtype=object)[lab[order]], "n_answers": n_ans[order]},
                       index=a.task_names[order].rename("task"))
    return out


def replay_curve(answers: pd.DataFrame, truth: pd.Series, method: str = "dawid_skene", *, score: str = "margin",
                 start: int = 1, step: float = 0.05, policy: str = "active", seed: int = 0,
                 select: str | BaseClassifier | None = None, smoothing: float = 1.0) -> pd.DataFrame:
    """Simulates dynamic overlap on collected answers: each task's real answers are
    replayed in a random order (``seed``); ``start`` answers per task are revealed
    first, then, every round, one more answer for the ``step`` share of the tasks
    that :func:`next_items` ranks first (``policy="active"``) or for tasks drawn at
    random (``"random"``, the baseline), among tasks with answers left, until none
    is left. Returns one row per round: ``answers`` revealed, ``fraction`` of all
    answers, and ``accuracy`` of ``method`` against ``truth`` (Series task -> label).
    """
    if policy not in ("active", "random"):
        raise InvalidArgument(f"policy must be 'active' or 'random', not {policy!r}")
    if not 0 < step <= 1:
        raise InvalidArgument(f"step must be in (0, 1], got {step}")
    from .registry import get_method

    rng = np.random.default_rng(seed)
    # A worker's repeated answers to a task: the last one counts, decided once here in the caller's
    # row order (with one warning naming the caller's row); each round's refit on the shuffled
    # replay warned again, with the replay's row numbers, and kept whichever came last there.
    _, used = factorize(answers[["task", "worker", "label"]])
    df = used.reset_index(drop=True)
    order = rng.permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df["_rank"] = df.groupby("task", sort=False).cumcount()
    by_task = df.groupby("task", sort=False)
    n_total = by_task.size()
    revealed = pd.Series(np.minimum(start, n_total.to_numpy()), index=n_total.index)
    labels = sorted(df["label"].unique())
    truth = truth[truth.index.isin(n_total.index)]
    batch = max(1, int(round(step * len(n_total))))
    rows = []
    while True:
        cur = df[df["_rank"].to_numpy() < revealed.reindex(df["task"]).to_numpy()]
        pred = get_method(method).fit_predict(cur[["task", "worker", "label"]])
        acc = float((pred.reindex(truth.index) == truth).mean())
        rows.append((len(cur), len(cur) / len(df), acc))
        left = n_total - revealed
        open_tasks = left[left > 0].index
        if len(open_tasks) == 0:
            break
        if policy == "random":
            pick = rng.choice(np.asarray(open_tasks, dtype=object), size=min(batch, len(open_tasks)), replace=False)
        else:
            ranker = select if select is not None else method
            ranked = next_items(cur[["task", "worker", "label"]], len(n_total), method=ranker, score=score,
                                labels=labels, smoothing=smoothing if isinstance(ranker, str) else None)
            pick = np.asarray(ranked.index[ranked.index.isin(open_tasks)][:batch], dtype=object)
        revealed.loc[pick] += 1
    return pd.DataFrame(rows, columns=["answers", "fraction", "accuracy"])
