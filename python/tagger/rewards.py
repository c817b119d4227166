"""Reward policies, payment mechanisms, reputation and slashing rules.

Everything that moves tokens is integer arithmetic on base units (``tg.TAG``
per token) and every policy's payouts sum to at most the budget it is given.
Formulas, assumptions and sources of each rule: ``docs/rewards.md``.

Two layers:

* **Mechanisms** (:func:`score`): real-valued per-worker scores computed in C++
  in one pass over the answers: output agreement, peer prediction (Miller,
  Resnick & Zeckhauser 2005), peer truth serum (Radanovic, Faltings & Jurca
  2016), correlated agreement (Shnayder et al. 2016), DMI (Kong 2020), Bayesian
  truth serum (Prelec 2004), gold standard and consensus accuracy.
* **Policies** (:class:`RewardPolicy`): ``payouts(answers, consensus, gold,
  budget) -> pd.Series`` of ints per worker. :class:`Flat`,
  :class:`ConsensusAccuracy` and :class:`GoldStandard` have closed integer
  formulas; every mechanism is a policy too (:class:`OutputAgreement`, ...),
  converted to tokens by :func:`to_amounts`. Researchers subclass
  :class:`RewardPolicy`; callers run :meth:`RewardPolicy.apply`, which checks
  the result with :func:`validate_payouts`.

>>> import pandas as pd, tagger as tg
>>> df = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
...                    "label": ["x", "x", "y", "y", "y", "y"]})
>>> tg.rewards.Flat().apply(df, None, None, budget=600).to_dict()
{'a': 200, 'b': 200, 'c': 200}
"""

from __future__ import annotations

import abc
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ._core import sim as _s
from .errors import InvalidArgument

__all__ = [
    "MECHANISMS", "score", "to_amounts", "validate_payouts",
    "RewardPolicy", "Flat", "ConsensusAccuracy", "GoldStandard", "MechanismPolicy",
    "OutputAgreement", "PeerPrediction", "PeerTruthSerum", "CorrelatedAgreement", "DMI", "BTS",
    "reputation_counts", "update_reputation", "reputation_bps", "ReputationRule",
    "control_counts", "slash_amounts", "SlashingRule", "BPS",
]

MECHANISMS: tuple[str, ...] = tuple(_s.MECHANISMS)
"""Mechanism names accepted by :func:`score` and the simulator."""

BPS: int = 10_000
"""Basis points in one: shares and thresholds are ints in [0, 10000]."""

PPM: int = 1_000_000
"""Posterior probabilities are floored to parts per million before any token math."""

Consensus = Union[pd.DataFrame, pd.Series, None]
Gold = Union[pd.Series, Mapping, None]


# ---------------------------------------------------------------- encoding ---

class _Encoded:
    """Answers as int32 codes: task, worker and label indices, plus the side
    inputs (gold, posterior) aligned to the same codes. Labels are indexed in
    sorted order of their values (as in ``tg.consensus``)."""

    def __init__(self, answers: pd.DataFrame, consensus: Consensus = None, gold: Gold = None,
                 labels: Optional[Sequence[Any]] = None) -> None:
        if not isinstance(answers, pd.DataFrame):
            raise InvalidArgument(f"answers must be a DataFrame with columns task, worker, label, got {type(answers).__name__}")
        missing = [c for c in ("task", "worker", "label") if c not in answers.columns]
        if missing:
            raise InvalidArgument(f"answers lacks the column(s) {missing} (needs task, worker, label)")
        if answers[["task", "worker", "label"]].isna().any().any():
            raise InvalidArgument("answers has missing values in task, worker or label")
        gold_s = pd.Series(gold, dtype=object) if isinstance(gold, Mapping) else gold
        if gold_s is not None:
            gold_s = gold_s.dropna()
        if labels is None:
            pool = [answers["label"]]
            if isinstance(consensus, pd.DataFrame):
                pool.append(pd.Series(consensus.columns))
            elif isinstance(consensus, pd.Series):
                pool.append(consensus.dropna())
            if gold_s is not None:
                pool.append(gold_s)
            labels = sorted(pd.unique(pd.concat(pool, ignore_index=True)))
        self.labels = list(labels)
        lab_idx = pd.Index(self.labels)
        self.task_codes, self.tasks = pd.factorize(answers["task"], sort=True)
        self.worker_codes, self.workers = pd.factorize(answers["worker"], sort=True)
        lc = lab_idx.get_indexer(answers["label"])
        if (lc < 0).any():
            bad = answers["label"][lc < 0].iloc[0]
            raise InvalidArgument(f"answer label {bad!r} is not in the label set {self.labels}")
        self.task = self.task_codes.astype(np.int32)
        self.worker = self.worker_codes.astype(np.int32)
        self.label = lc.astype(np.int32)
        self.n_tasks, self.n_workers, self.n_labels = len(self.tasks), len(self.workers), len(self.labels)
        self.gold = None
        if gold_s is not None:
            g = np.full(self.n_tasks, -1, np.int32)
            # get_indexer hashes the (few) gold ids; isin would walk every task in Python.
            gs = gold_s[self.tasks.get_indexer(gold_s.index) >= 0]
            gl = lab_idx.get_indexer(gs.values)
            if (gl < 0).any():
                raise InvalidArgument(f"gold label {gs.values[gl < 0][0]!r} is not in the label set {self.labels}")
            g[self.tasks.get_indexer(gs.index)] = gl
            self.gold = g
        self.posterior = None
        if isinstance(consensus, pd.DataFrame):
            extra = [c for c in consensus.columns if c not in lab_idx]
            if extra:
                raise InvalidArgument(f"consensus has columns {extra} outside the label set {self.labels}")
            p = consensus.reindex(index=self.tasks, columns=self.labels).to_numpy(dtype=np.float64)
            if np.isnan(p).any():
                raise InvalidArgument("consensus lacks a posterior row for some answered task")
            self.posterior = np.ascontiguousarray(p)
        elif isinstance(consensus, pd.Series):
            lab = consensus.reindex(self.tasks)
            if lab.isna().any():
                raise InvalidArgument("consensus lacks a label for some answered task")
            p = np.zeros((self.n_tasks, self.n_labels))
            p[np.arange(self.n_tasks), lab_idx.get_indexer(lab.values)] = 1.0
            self.posterior = p
        elif consensus is not None:
            raise InvalidArgument("consensus must be a DataFrame of posteriors (task x label), a Series of labels, or None")

    def args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
        return (self.task, self.worker, self.label, self.n_tasks, self.n_workers, self.n_labels)


def score(mechanism: str, answers: pd.DataFrame, *, consensus: Consensus = None, gold: Gold = None,
          predictions: Optional[np.ndarray] = None, labels: Optional[Sequence[Any]] = None,
          signal_model: Optional[np.ndarray] = None, score_matrix: Optional[np.ndarray] = None,
          scoring_rule: str = "quadratic", bts_alpha: float = 1.0, eps: float = 1e-3) -> pd.DataFrame:
    """Per-worker scores of a mechanism: a DataFrame indexed by worker with
    ``score`` (sum of per-answer, for DMI per-pair, scores), ``n_scored`` and
    ``n_answers``.

    ``mechanism`` is one of :data:`MECHANISMS`. Side inputs: ``gold`` (task ->
    label; gold_standard), ``consensus`` (posterior DataFrame task x label or a
    label Series; consensus_accuracy), ``predictions`` ([n_answers, n_labels]
    rows in sorted label order, or a ``prediction`` column of answers; bts),
    ``signal_model`` (L x L, P(peer = j | own = i); peer_prediction, estimated
    from the reports when None), ``score_matrix`` (L x L; correlated_agreement,
    sign of Delta estimated when None).
    """
    if mechanism not in MECHANISMS:
        raise InvalidArgument(f"unknown mechanism {mechanism!r} (known: {', '.join(MECHANISMS)})")
    enc = _Encoded(answers, consensus, gold, labels)
    if predictions is None and mechanism == "bts":
        if "prediction" not in answers.columns:
            raise InvalidArgument("bts needs predictions: pass predictions= or a 'prediction' column")
        predictions = np.stack([np.asarray(p, dtype=np.float64) for p in answers["prediction"]])

    def mat(x: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if x is None else np.ascontiguousarray(np.asarray(x, dtype=np.float64).ravel())

    s, n_scored, n_answers = _s.score(
        mechanism, *enc.args(), gold=enc.gold, posterior=None if enc.posterior is None else enc.posterior.ravel(),
        predictions=mat(predictions), signal_model=mat(signal_model), score_matrix=mat(score_matrix),
        scoring_rule=scoring_rule, bts_alpha=bts_alpha, eps=eps)
    return pd.DataFrame({"score": s, "n_scored": n_scored, "n_answers": n_answers},
                        index=pd.Index(enc.workers, name="worker"))


def to_amounts(scores: Union[pd.Series, np.ndarray], n_answers: Union[pd.Series, np.ndarray], *,
               rate: float, base: float = 0.0, budget: int) -> Union[pd.Series, np.ndarray]:
    """Real scores to integer token amounts (the documented rounding rule).

    ``amount_w = floor(max(0, base * n_answers_w + rate * score_w))``; if these
    sum to more than ``budget``, each becomes ``floor(amount_w * budget / sum)``
    (exact 128-bit integer arithmetic). The sum never exceeds ``budget``; the
    remainder stays unspent (refunded by the workflow).
    """
    _check_budget(budget)
    s = np.ascontiguousarray(np.asarray(scores, dtype=np.float64))
    n = np.ascontiguousarray(np.asarray(n_answers, dtype=np.int64))
    out = _s.to_amounts(s, n, float(base), float(rate), int(budget)).astype(np.int64)
    return pd.Series(out, index=scores.index, name="amount") if isinstance(scores, pd.Series) else out


def _check_budget(budget: Any) -> int:
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 0:
        raise InvalidArgument(f"budget must be a non-negative int (base units), got {budget!r}")
    value = int(budget)
    if value >= 2**63:
        raise InvalidArgument("budget must be below 2**63 base units")
    return value


def validate_payouts(payouts: Union[pd.Series, Mapping], budget: int,
                     workers: Optional[Iterable[Any]] = None) -> pd.Series:
    """Checks a policy's output and returns it as an int64 Series indexed by
    worker: every amount an int (numpy or Python, not bool or float) >= 0, the
    sum <= ``budget``, and (when given) every worker one of ``workers``.
    Raises :class:`~tagger.errors.InvalidArgument` naming the first fault."""
    budget = _check_budget(budget)
    if isinstance(payouts, Mapping):
        payouts = pd.Series(dict(payouts), dtype=object)
    if not isinstance(payouts, pd.Series):
        raise InvalidArgument(f"payouts must be a Series or a mapping worker -> int, got {type(payouts).__name__}")
    if not payouts.index.is_unique:
        raise InvalidArgument("payouts name a worker more than once")
    total = 0
    for w, v in payouts.items():
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise InvalidArgument(f"payout to {w!r} is {v!r} of type {type(v).__name__}, not an int")
        if v < 0:
            raise InvalidArgument(f"payout to {w!r} is negative ({v})")
        total += int(v)
    if total > budget:
        raise InvalidArgument(f"payouts sum to {total}, more than the budget {budget}")
    if workers is not None:
        unknown = payouts.index.difference(pd.Index(workers))
        if len(unknown):
            raise InvalidArgument(f"payouts name {unknown[0]!r}, who gave no answer")
    return pd.Series([int(v) for v in payouts.values], index=payouts.index, dtype=np.int64, name="amount")


# ---------------------------------------------------------------- policies ---

class RewardPolicy(abc.ABC):
    """How a task's budget is paid out. Implement :meth:`payouts`; callers use
    :meth:`apply`, which validates the result (ints >= 0, sum <= budget, only
    workers who answered)."""

    name: str = "policy"

    @abc.abstractmethod
    def payouts(self, answers: pd.DataFrame, consensus: Consensus, gold: Gold, budget: int) -> Union[pd.Series, Mapping]:
        """Amount per worker (base units).

        ``answers``: DataFrame with columns ``task, worker, label``.
        ``consensus``: posterior DataFrame (index task, one column per label,
        as ``fit_predict_proba`` returns), a Series task -> label, or None.
        ``gold``: Series or mapping task -> known label of control tasks, or None.
        ``budget``: int, the most that may be paid in total.
        """

    def apply(self, answers: pd.DataFrame, consensus: Consensus, gold: Gold, budget: int) -> pd.Series:
        """:meth:`payouts`, validated by :func:`validate_payouts`."""
        _check_budget(budget)
        return validate_payouts(self.payouts(answers, consensus, gold, budget), budget, answers["worker"].unique())

    def _price(self, per_answer: Optional[int], n: int, budget: int) -> int:
        cap = budget // n if n else 0
        if per_answer is None:
            return cap
        if isinstance(per_answer, bool) or not isinstance(per_answer, numbers.Integral) or per_answer < 0:
            raise InvalidArgument(f"per_answer must be a non-negative int, got {per_answer!r}")
        return min(int(per_answer), cap)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _per_worker_sum(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes, weights=None if values is None else values, minlength=n)


class Flat(RewardPolicy):
    """Every answer earns the same price.

    ``price = min(per_answer, budget // n_answers)`` (``per_answer`` defaults
    to ``budget // n_answers``); ``amount_w = n_w * price``. Sum <= budget.
    """

    name = "flat"

    def __init__(self, per_answer: Optional[int] = None) -> None:
        self.per_answer = per_answer

    def payouts(self, answers, consensus, gold, budget):
        _check_budget(budget)
        enc = _Encoded(answers)
        price = self._price(self.per_answer, len(answers), budget)
        n_w = np.bincount(enc.worker, minlength=enc.n_workers).astype(np.int64)
        return pd.Series(n_w * price, index=enc.workers, dtype=np.int64)


class ConsensusAccuracy(RewardPolicy):
    """Pay each answer by the consensus posterior of its label.

    ``ppm_a = floor(10**6 * P(task_a = label_a))`` and
    ``amount_w = floor(price * sum_a ppm_a / 10**6)`` with
    ``price = min(per_answer, budget // n_answers)``. An answer the consensus
    is sure of earns the full price; sum <= price * n_answers <= budget.
    """

    name = "consensus_accuracy"

    def __init__(self, per_answer: Optional[int] = None) -> None:
        self.per_answer = per_answer

    def payouts(self, answers, consensus, gold, budget):
        _check_budget(budget)
        if consensus is None:
            raise InvalidArgument("ConsensusAccuracy needs the consensus posterior (or labels)")
        enc = _Encoded(answers, consensus, gold)
        if enc.posterior is None:  # not after the check above: _Encoded makes one of any consensus
            raise InvalidArgument("ConsensusAccuracy needs the consensus posterior (or labels)")
        price = self._price(self.per_answer, len(answers), budget)
        p = enc.posterior[enc.task, enc.label]
        ppm = np.floor(np.clip(p, 0.0, 1.0) * PPM).astype(np.int64)
        per_w = np.bincount(enc.worker, weights=ppm, minlength=enc.n_workers)
        per_w = np.rint(per_w).astype(np.uint64)  # exact: sums of ints below 2**53
        amt = _s.scale_floor(per_w, price, PPM).astype(np.int64)
        return pd.Series(amt, index=enc.workers, dtype=np.int64)


class GoldStandard(RewardPolicy):
    """Pay by accuracy on control (gold) tasks.

    ``acc_bps_w = 10000 * correct_w // control_w`` (``no_control_bps`` for a
    worker with no control answer); ``amount_w = floor(price * n_w * acc_bps_w
    / 10000)`` if ``acc_bps_w >= threshold_bps`` else 0, with
    ``price = min(per_answer, budget // n_answers)``. Sum <= budget.
    """

    name = "gold_standard"

    def __init__(self, per_answer: Optional[int] = None, threshold_bps: int = 0, no_control_bps: int = 0) -> None:
        for k, v in (("threshold_bps", threshold_bps), ("no_control_bps", no_control_bps)):
            if not 0 <= v <= BPS:
                raise InvalidArgument(f"{k} must be in [0, {BPS}], got {v}")
        self.per_answer, self.threshold_bps, self.no_control_bps = per_answer, threshold_bps, no_control_bps

    def payouts(self, answers, consensus, gold, budget):
        _check_budget(budget)
        if gold is None:
            raise InvalidArgument("GoldStandard needs gold labels of the control tasks")
        enc = _Encoded(answers, None, gold)
        if enc.gold is None:  # not after the check above: _Encoded codes any gold given
            raise InvalidArgument("GoldStandard needs gold labels of the control tasks")
        price = self._price(self.per_answer, len(answers), budget)
        g = enc.gold[enc.task]
        on_gold = g >= 0
        correct = np.bincount(enc.worker[on_gold], weights=(enc.label[on_gold] == g[on_gold]).astype(np.float64),
                              minlength=enc.n_workers).astype(np.int64)
        control = np.bincount(enc.worker[on_gold], minlength=enc.n_workers).astype(np.int64)
        n_w = np.bincount(enc.worker, minlength=enc.n_workers).astype(np.int64)
        acc = np.where(control > 0, BPS * correct // np.maximum(control, 1), self.no_control_bps)
        acc = np.where(acc >= self.threshold_bps, acc, 0)
        amt = _s.scale_floor((n_w * acc).astype(np.uint64), price, BPS).astype(np.int64)
        return pd.Series(amt, index=enc.workers, dtype=np.int64)


class MechanismPolicy(RewardPolicy):
    """A mechanism of :func:`score` as a policy: ``amount_w`` from
    :func:`to_amounts` with ``rate = per_answer`` (default ``budget //
    n_answers``: a score of 1 per answer earns one answer's share) and ``base``
    base units per answer; capped at the budget by proportional scaling."""

    mechanism: str = ""

    def __init__(self, per_answer: Optional[int] = None, base: int = 0) -> None:
        if base < 0:
            raise InvalidArgument("base must be >= 0")
        self.per_answer, self.base = per_answer, base

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.mechanism

    def _score_kwargs(self) -> dict:
        return {}

    def scores(self, answers: pd.DataFrame, consensus: Consensus = None, gold: Gold = None) -> pd.DataFrame:
        """The mechanism's real-valued scores (see :func:`score`)."""
        return score(self.mechanism, answers, consensus=consensus, gold=gold, **self._score_kwargs())

    def payouts(self, answers, consensus, gold, budget):
        _check_budget(budget)
        sc = self.scores(answers, consensus, gold)
        rate = self._price(self.per_answer, len(answers), budget)
        return to_amounts(sc["score"], sc["n_answers"], rate=rate, base=self.base, budget=budget)


class OutputAgreement(MechanismPolicy):
    """Score per answer: share of peers on the task who gave the same label
    (von Ahn & Dabbish 2004, the ESP game). Not truthful: a constant label is
    an equilibrium that pays at least as well as effort."""
    mechanism = "output_agreement"


class PeerPrediction(MechanismPolicy):
    """Miller, Resnick & Zeckhauser (2005): score = proper scoring rule
    (quadratic ``2 q_j - |q|^2`` or log ``ln q_j``) of the peer's label ``j``
    under ``q = P(peer | own report)``. ``signal_model`` (L x L) is the common
    prior; None estimates it from the reports (detail-free approximation)."""
    mechanism = "peer_prediction"

    def __init__(self, per_answer=None, base=0, signal_model=None, scoring_rule: str = "quadratic") -> None:
        super().__init__(per_answer, base)
        self.signal_model, self.scoring_rule = signal_model, scoring_rule

    def _score_kwargs(self):
        return {"signal_model": self.signal_model, "scoring_rule": self.scoring_rule}


class PeerTruthSerum(MechanismPolicy):
    """Radanovic, Faltings & Jurca (2016), PTS for crowdsourcing: score =
    ``1[l_w = l_p] / R_{-w}(l_w) - 1`` with ``R_{-w}`` the other workers'
    label frequencies (Laplace-smoothed)."""
    mechanism = "peer_truth_serum"


class CorrelatedAgreement(MechanismPolicy):
    """Shnayder, Agarwal, Frongillo & Parkes (2016): score = ``S(l_w, l_p) -
    E[S(l_w', l_p'')]`` where the penalty is over the two workers' reports on
    other tasks and ``S = 1[Delta > 0]``, ``Delta = P(x, y) - P(x) P(y)``."""
    mechanism = "correlated_agreement"

    def __init__(self, per_answer=None, base=0, score_matrix=None) -> None:
        super().__init__(per_answer, base)
        self.score_matrix = score_matrix

    def _score_kwargs(self):
        return {"score_matrix": self.score_matrix}


class DMI(MechanismPolicy):
    """Kong (2020), determinant mutual information: for each pair of workers
    sharing ``m >= 2L`` tasks, split alternately in two halves, score ``m *
    L^(2L) * det(M1) * det(M2)`` (M: empirical joint label distributions)."""
    mechanism = "dmi"


class BTS(MechanismPolicy):
    """Prelec (2004), Bayesian truth serum: ``log(xbar_k / ybar_k) + alpha *
    sum_j xbar_j log(y_j / xbar_j)``; answers need a ``prediction`` column
    (distribution over labels in sorted label order)."""
    mechanism = "bts"

    def __init__(self, per_answer=None, base=0, alpha: float = 1.0) -> None:
        super().__init__(per_answer, base)
        self.alpha = alpha

    def _score_kwargs(self):
        return {"bts_alpha": self.alpha}


# -------------------------------------------------------------- reputation ---

def _ref_labels(enc: _Encoded, consensus_labels: Optional[pd.Series]) -> np.ndarray:
    ref = np.full(enc.n_tasks, -1, np.int64)
    if consensus_labels is not None:
        lab = consensus_labels.reindex(enc.tasks)
        ok = lab.notna().to_numpy()
        ref[ok] = pd.Index(enc.labels).get_indexer(lab[ok].values)
    if enc.gold is not None:
        ref = np.where(enc.gold >= 0, enc.gold, ref)
    return ref


def reputation_counts(answers: pd.DataFrame, consensus_labels: Optional[pd.Series] = None,
                      gold: Gold = None) -> pd.DataFrame:
    """Per worker ``correct`` and ``incorrect`` answers (int columns): an
    answer on a control task is judged against gold, any other against the
    consensus label; tasks with neither are not counted."""
    pool = [answers["label"]] + [pd.Series(x).dropna() for x in (consensus_labels, gold) if x is not None]
    enc = _Encoded(answers, None, gold, labels=sorted(pd.unique(pd.concat(pool, ignore_index=True))))
    ref = _ref_labels(enc, consensus_labels)[enc.task]
    judged = ref >= 0
    ok = judged & (enc.label == ref)
    c = np.bincount(enc.worker[ok], minlength=enc.n_workers).astype(np.int64)
    i = np.bincount(enc.worker[judged & ~ok], minlength=enc.n_workers).astype(np.int64)
    return pd.DataFrame({"correct": c, "incorrect": i}, index=pd.Index(enc.workers, name="worker"))


def update_reputation(alpha: int, beta: int, correct: int, incorrect: int, decay_bps: int = BPS) -> tuple[int, int]:
    """Integer Beta-posterior counts: ``alpha' = alpha * decay_bps // 10000 +
    correct`` and ``beta' = beta * decay_bps // 10000 + incorrect``. With
    ``decay_bps < 10000`` old evidence fades geometrically."""
    for k, v in (("alpha", alpha), ("beta", beta), ("correct", correct), ("incorrect", incorrect)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise InvalidArgument(f"{k} must be a non-negative int, got {v!r}")
    if not 0 <= decay_bps <= BPS:
        raise InvalidArgument(f"decay_bps must be in [0, {BPS}]")
    if max(alpha, beta, correct, incorrect) >= 2**64:
        raise InvalidArgument("reputation counts must be below 2**64")
    # The C++ rule the ledger and the simulator run: one source of truth.
    a, b = _s.update_reputation(np.array([alpha], np.uint64), np.array([beta], np.uint64),
                                np.array([correct], np.uint64), np.array([incorrect], np.uint64), decay_bps)
    return int(a[0]), int(b[0])


def reputation_bps(alpha: int, beta: int) -> int:
    """Posterior mean accuracy under a Beta(1, 1) prior, in basis points:
    ``10000 * (alpha + 1) // (alpha + beta + 2)`` (5000 for a newcomer)."""
    for k, v in (("alpha", alpha), ("beta", beta)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= v < 2**63:
            raise InvalidArgument(f"{k} must be an int in [0, 2**63), got {v!r}")
    return int(_s.reputation_bps(int(alpha), int(beta)))


class ReputationRule:
    """Reputation as integer Beta counts per worker (see
    :func:`update_reputation`), with an optional geometric decay."""

    def __init__(self, decay_bps: int = BPS) -> None:
        if not 0 <= decay_bps <= BPS:
            raise InvalidArgument(f"decay_bps must be in [0, {BPS}]")
        self.decay_bps = decay_bps

    def update(self, state: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
        """New ``alpha, beta, reputation_bps`` per worker from the previous
        ``state`` (columns alpha, beta; missing workers start at 0, 0) and the
        round's :func:`reputation_counts`."""
        idx = state.index.union(counts.index)
        st = state.reindex(idx, fill_value=0)
        ct = counts.reindex(idx, fill_value=0)
        rows = [update_reputation(int(a), int(b), int(c), int(i), self.decay_bps)
                for a, b, c, i in zip(st["alpha"], st["beta"], ct["correct"], ct["incorrect"])]
        a = [r[0] for r in rows]
        b = [r[1] for r in rows]
        return pd.DataFrame({"alpha": a, "beta": b, "reputation_bps": [reputation_bps(x, y) for x, y in zip(a, b)]},
                            index=idx, dtype=np.int64)

    def __repr__(self) -> str:
        return f"ReputationRule(decay_bps={self.decay_bps})"


# ---------------------------------------------------------------- slashing ---

def control_counts(answers: pd.DataFrame, gold: Gold) -> pd.DataFrame:
    """Per worker ``correct`` and ``total`` answers on control (gold) tasks."""
    enc = _Encoded(answers, None, gold)
    g = enc.gold[enc.task] if enc.gold is not None else np.full(len(enc.task), -1)
    on = g >= 0
    c = np.bincount(enc.worker[on & (enc.label == g)], minlength=enc.n_workers).astype(np.int64)
    t = np.bincount(enc.worker[on], minlength=enc.n_workers).astype(np.int64)
    return pd.DataFrame({"correct": c, "total": t}, index=pd.Index(enc.workers, name="worker"))


def slash_amounts(stakes: Union[pd.Series, Mapping], correct: Union[pd.Series, Mapping], total: Union[pd.Series, Mapping],
                  threshold_bps: int = 6000, share_bps: int = 5000, min_control: int = 3) -> pd.Series:
    """Stake each worker loses: ``stake * share_bps // 10000`` when the worker
    answered ``total >= min_control`` control tasks and ``correct * 10000 <
    threshold_bps * total``; else 0. Workers missing from ``correct``/``total``
    answered no control task and lose nothing."""
    if not (0 <= threshold_bps <= BPS and 0 <= share_bps <= BPS):
        raise InvalidArgument(f"threshold_bps and share_bps must be in [0, {BPS}]")
    stakes, correct, total = (pd.Series(x) if isinstance(x, Mapping) else x for x in (stakes, correct, total))
    out = {}
    for w, stake in stakes.items():
        c, t = int(correct.get(w, 0)), int(total.get(w, 0))
        if int(stake) < 0 or c < 0 or c > t:
            raise InvalidArgument(f"worker {w!r}: need stake >= 0 and 0 <= correct <= total")
        out[w] = int(_s.slash_amount(int(stake), c, t, threshold_bps, share_bps, int(min_control)))
    return pd.Series(out, dtype=np.int64, name="slash").reindex(stakes.index)


class SlashingRule:
    """Accuracy on control tasks below ``threshold_bps`` (with at least
    ``min_control`` control answers) loses ``share_bps`` of the stake."""

    def __init__(self, threshold_bps: int = 6000, share_bps: int = 5000, min_control: int = 3) -> None:
        if not (0 <= threshold_bps <= BPS and 0 <= share_bps <= BPS) or min_control < 0:
            raise InvalidArgument(f"threshold_bps and share_bps must be in [0, {BPS}], min_control >= 0")
        self.threshold_bps, self.share_bps, self.min_control = threshold_bps, share_bps, min_control

    def __call__(self, answers: pd.DataFrame, gold: Gold, stakes: Union[pd.Series, Mapping]) -> pd.Series:
        """Slash per worker of ``stakes`` (int Series) for this task's answers."""
        cc = control_counts(answers, gold)
        return slash_amounts(stakes, cc["correct"], cc["total"], self.threshold_bps, self.share_bps, self.min_control)

    def __repr__(self) -> str:
        return f"SlashingRule(threshold_bps={self.threshold_bps}, share_bps={self.share_bps}, min_control={self.min_control})"
