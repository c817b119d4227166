"""Simulated worker populations for reward-scheme research.

Compose a population from worker models, describe the tasks, pick a payment
mechanism, and run rounds of assignment, answers, consensus, payments,
reputation, staking and slashing (and, optionally, strategy adaptation). The
round loop runs in C++ (``tagger._core.sim``); results come back as tidy
DataFrames.

>>> import tagger as tg
>>> pop = tg.sim.Population([(tg.sim.Honest(skill=tg.sim.Beta(8, 2)), 0.7),
...                          (tg.sim.RandomSpammer(), 0.3)], n_workers=60, n_labels=3, seed=1)
>>> sim = tg.sim.Simulation(pop, tg.sim.Tasks(n_labels=3), mechanism="correlated_agreement",
...                         n_tasks=200, overlap=3, seed=1)
>>> res = sim.run(rounds=20)
>>> e = res.summary()["earnings_per_answer"]
>>> bool(e["honest"] > 2 * e["random"])
True

Reproducibility: the same population, configuration and seed give bit-for-bit
the same results, whatever the thread count. Per-worker parameters are drawn
with numpy's PCG64 from ``Population(seed=...)``; every draw inside a round is a
counter-based hash of (seed, round, stream, index).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence, Union

import numpy as np
import pandas as pd

from ._core import sim as _s
from ._optional import require
from .errors import InvalidArgument
from .rewards import MECHANISMS, MechanismPolicy, ReputationRule, SlashingRule


class _ProbaEstimator(Protocol):
    """An external consensus estimator (crowd-kit's API): posteriors task x label."""

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame: ...

__all__ = [
    "STRATEGIES", "Beta", "Uniform", "Fixed", "Honest", "Effort", "RandomSpammer", "ConstantLabel",
    "Adversarial", "Colluding", "Population", "Tasks", "Simulation", "SimResult",
]

STRATEGIES: tuple[str, ...] = tuple(_s.STRATEGIES)
_STRATEGY_ID = {s: i for i, s in enumerate(STRATEGIES)}
_ALIASES = {"mv": "majority_vote", "ds": "dawid_skene", "wmv": "weighted_majority_vote"}


# ------------------------------------------------------------ distributions ---

@dataclass(frozen=True)
class Beta:
    """Beta(a, b) distribution of a per-worker parameter."""
    a: float
    b: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.a, self.b, n)


@dataclass(frozen=True)
class Uniform:
    """Uniform(lo, hi) distribution of a per-worker parameter."""
    lo: float
    hi: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.lo, self.hi, n)


@dataclass(frozen=True)
class Fixed:
    """The same value for every worker."""
    value: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, float(self.value))


Dist = Union[Beta, Uniform, Fixed, float, int]


def _draw(d: Dist, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(d, (int, float)):
        return np.full(n, float(d))
    return d.sample(rng, n)


# ----------------------------------------------------------- worker models ---

@dataclass(frozen=True)
class Honest:
    """Reports its signal: the true label with probability ``skill``, else a
    uniformly chosen wrong label (one-coin). ``confusion`` (L x L, rows = truth)
    replaces the one-coin model with a full confusion matrix."""
    skill: Dist = Beta(8, 2)
    confusion: Optional[Any] = field(default=None, compare=False, hash=False)
    strategy = "honest"


@dataclass(frozen=True)
class Effort:
    """Costly effort: with probability ``effort`` an answer is worked on (an
    honest signal with ``skill``), else guessed uniformly. Utility subtracts
    ``effort_cost * effort`` per answer."""
    skill: Dist = Beta(8, 2)
    effort: Dist = Uniform(0.0, 1.0)
    strategy = "effort"


@dataclass(frozen=True)
class RandomSpammer:
    """A uniformly random label for every task."""
    strategy = "random"


@dataclass(frozen=True)
class ConstantLabel:
    """Always the same label: ``label`` (an index), or one drawn uniformly per worker when None."""
    label: Optional[int] = None
    strategy = "constant"


@dataclass(frozen=True)
class Adversarial:
    """Observes like an honest worker, but reports ``target`` with probability ``flip``."""
    skill: Dist = Beta(8, 2)
    target: int = 0
    flip: Dist = 0.5
    strategy = "adversarial"


@dataclass(frozen=True)
class Colluding:
    """A colluding group coordinating on a shared signal: the constant
    ``label`` when given, else a per-task label derived from a hash of (group,
    task) that every member of the group reports. ``groups`` splits the
    colluders into that many independent groups."""
    label: Optional[int] = None
    groups: int = 1
    strategy = "colluder"


Model = Union[Honest, Effort, RandomSpammer, ConstantLabel, Adversarial, Colluding]


class Population:
    """Workers drawn from a mixture of models.

    ``models``: a list of ``(model, fraction)`` (fractions are normalised and
    turned into counts by largest remainder) or of models (equal shares).
    Per-worker parameters are drawn from each model's distributions with
    ``numpy.random.default_rng(seed)``.
    """

    def __init__(self, models: Sequence[Union[Model, tuple[Model, float]]], n_workers: int,
                 n_labels: int = 2, seed: int = 0) -> None:
        if n_workers < 1:
            raise InvalidArgument("n_workers must be >= 1")
        if n_labels < 2:
            raise InvalidArgument("n_labels must be >= 2")
        pairs = [m if isinstance(m, tuple) else (m, 1.0) for m in models]
        if not pairs:
            raise InvalidArgument("a population needs at least one model")
        fr = np.array([float(f) for _, f in pairs])
        if (fr < 0).any() or fr.sum() <= 0:
            raise InvalidArgument("fractions must be >= 0 with a positive sum")
        q = fr / fr.sum() * n_workers
        counts = np.floor(q).astype(int)
        for i in np.argsort(-(q - counts), kind="stable")[: n_workers - counts.sum()]:
            counts[i] += 1
        rng = np.random.default_rng(seed)
        L = n_labels
        self.n_workers, self.n_labels, self.seed = n_workers, n_labels, seed
        self.models = [m for m, _ in pairs]
        self.counts = counts
        strategy = np.zeros(n_workers, np.uint8)
        skill = np.full(n_workers, 0.0)
        effort = np.ones(n_workers)
        target = rng.integers(0, L, n_workers).astype(np.int32)  # used if a worker adopts constant/adversarial
        flip = np.zeros(n_workers)
        group = np.zeros(n_workers, np.int32)
        confusion = None
        start, n_groups = 0, 0
        for (m, _), k in zip(pairs, counts):
            sl = slice(start, start + k)
            strategy[sl] = _STRATEGY_ID[m.strategy]
            if hasattr(m, "skill"):
                skill[sl] = np.clip(_draw(m.skill, rng, k), 0.0, 1.0)
            if isinstance(m, Effort):
                effort[sl] = np.clip(_draw(m.effort, rng, k), 0.0, 1.0)
            if isinstance(m, ConstantLabel) and m.label is not None:
                target[sl] = self._label(m.label)
            if isinstance(m, Adversarial):
                target[sl] = self._label(m.target)
                flip[sl] = np.clip(_draw(m.flip, rng, k), 0.0, 1.0)
            if isinstance(m, Colluding):
                target[sl] = -1 if m.label is None else self._label(m.label)
                if m.groups < 1:
                    raise InvalidArgument("groups must be >= 1")
                group[sl] = n_groups + np.arange(k) % m.groups
                n_groups += m.groups
            if isinstance(m, Honest) and m.confusion is not None:
                cm = np.asarray(m.confusion, dtype=np.float64)
                if cm.shape != (L, L):
                    raise InvalidArgument(f"confusion must be {L} x {L}, got {cm.shape}")
                if confusion is None:
                    confusion = np.zeros((n_workers, L, L))
                confusion[sl] = cm
            start += k
        if confusion is not None:  # workers without a matrix get their one-coin one
            for w in range(n_workers):
                if not confusion[w].any():
                    s = skill[w]
                    confusion[w] = np.full((L, L), (1 - s) / (L - 1))
                    np.fill_diagonal(confusion[w], s)
        self.strategy, self.skill, self.effort, self.target, self.flip, self.group = strategy, skill, effort, target, flip, group
        self.confusion = confusion

    def _label(self, v: int) -> int:
        if not 0 <= int(v) < self.n_labels:
            raise InvalidArgument(f"label index {v} out of range [0, {self.n_labels})")
        return int(v)

    def to_frame(self) -> pd.DataFrame:
        """One row per worker: strategy and drawn parameters."""
        return pd.DataFrame({"strategy": [STRATEGIES[s] for s in self.strategy], "skill": self.skill,
                             "effort": self.effort, "target": self.target, "flip": self.flip, "group": self.group},
                            index=pd.RangeIndex(self.n_workers, name="worker"))

    def __repr__(self) -> str:
        mix = ", ".join(f"{m.strategy}={k}" for m, k in zip(self.models, self.counts))
        return f"Population(n_workers={self.n_workers}, n_labels={self.n_labels}, {mix})"


@dataclass(frozen=True)
class Tasks:
    """Tasks of each round: true labels from ``prior`` (uniform when None) and
    a difficulty ``d ~ Beta(a, b)`` per task (with probability d a worker can
    only guess); ``difficulty=None`` makes every task easy."""
    n_labels: int = 2
    prior: Optional[Sequence[float]] = None
    difficulty: Optional[Beta] = None


# --------------------------------------------------------------- simulation ---

class SimResult:
    """Tidy results of a run.

    ``rounds``: one row per round (accuracy of consensus, paid, cost per
    correct label, ...). ``strategies``: one row per (round, strategy) with
    workers, answers, earnings, effort cost, utility per worker, stake lost,
    mean reputation, answer accuracy. ``workers``: one row per worker at the end.
    """

    def __init__(self, rounds: pd.DataFrame, strategies: pd.DataFrame, workers: pd.DataFrame) -> None:
        self.rounds, self.strategies, self.workers = rounds, strategies, workers

    def summary(self) -> pd.DataFrame:
        """Totals per strategy over all rounds."""
        g = self.strategies.groupby("strategy")
        out = g[["answers", "earnings", "effort_cost", "stake_lost", "correct_answers"]].sum()
        out["worker_rounds"] = g["workers"].sum()
        out["earnings_per_answer"] = out["earnings"] / out["answers"].where(out["answers"] > 0)
        out["utility_per_worker_round"] = (out["earnings"] - out["effort_cost"]) / out["worker_rounds"].where(out["worker_rounds"] > 0)
        out["answer_accuracy"] = out["correct_answers"] / out["answers"].where(out["answers"] > 0)
        return out

    def plot(self, ax: Any = None, per: str = "worker") -> Any:
        """Earnings by strategy over rounds (per active worker, or ``per="answer"``)."""
        plt = require("matplotlib.pyplot", "SimResult.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        col = "earnings_per_worker" if per == "worker" else "earnings_per_answer"
        for s, d in self.strategies.groupby("strategy"):
            ax.plot(d["round"], d[col], label=s)
        ax.set_xlabel("round")
        ax.set_ylabel(f"earnings per {per} (base units)")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        n = len(self.rounds)
        acc = self.rounds["accuracy"].mean() if n else float("nan")
        return f"SimResult(rounds={n}, mean_accuracy={acc:.4f}, paid={int(self.rounds['paid'].sum()) if n else 0})"


class Simulation:
    """Rounds of tasks, assignment, answers, consensus, payments, reputation,
    staking and slashing over a :class:`Population`.

    ``mechanism``: a name of :data:`tagger.rewards.MECHANISMS` or a
    :class:`~tagger.rewards.MechanismPolicy` (its mechanism and parameters).
    ``consensus``: a ``tagger._core.consensus`` method name (``"mv"``/``"ds"``
    aliases) run in C++, or an estimator with ``fit_predict_proba(df)`` (a
    ``tg.consensus`` or crowd-kit object), run in Python each round.
    ``assignment``: ``"random"`` (each task gets ``overlap`` distinct workers
    uniformly among those with capacity left) or ``"blocks"`` (teams of
    ``overlap`` workers share tasks, which DMI needs). Payments per round:
    ``amount_w = to_amounts(score, rate=per_answer, base=base, budget=budget)``.
    ``stake``: initial stake per worker; with ``slashing`` a
    :class:`~tagger.rewards.SlashingRule` applies each round on control
    tasks (``gold_fraction``); a worker whose stake falls below ``min_stake``
    is no longer assigned. ``adaptation``: None, ``"replicator"``
    (exponential replicator over the strategies present) or ``"best_response"``
    (each round a ``learning_rate`` share of workers switches to the best one).
    """

    def __init__(self, population: Population, tasks: Optional[Tasks] = None, *,
                 mechanism: Union[str, MechanismPolicy] = "output_agreement",
                 consensus: Union[str, Any] = "majority_vote", consensus_iter: int = 50,
                 n_tasks: int = 100, overlap: int = 3, capacity: int = 0, assignment: str = "random",
                 budget: Optional[int] = None, per_answer: float = 1000.0, base: float = 0.0,
                 gold_fraction: float = 0.0, clamp_gold: bool = True,
                 stake: int = 0, min_stake: int = 0, slashing: Optional[SlashingRule] = None,
                 reputation: Optional[ReputationRule] = None,
                 adaptation: Optional[str] = None, learning_rate: float = 0.1, effort_cost: float = 0.0,
                 scoring_rule: str = "quadratic", bts_alpha: float = 1.0,
                 seed: int = 0, threads: int = 0) -> None:
        tasks = tasks or Tasks(n_labels=population.n_labels)
        if tasks.n_labels != population.n_labels:
            raise InvalidArgument(f"tasks have {tasks.n_labels} labels, the population {population.n_labels}")
        if isinstance(mechanism, MechanismPolicy):
            kw = mechanism._score_kwargs()
            scoring_rule = kw.get("scoring_rule", scoring_rule)
            bts_alpha = kw.get("bts_alpha", bts_alpha)
            mechanism = mechanism.mechanism
        if mechanism not in MECHANISMS:
            raise InvalidArgument(f"unknown mechanism {mechanism!r} (known: {', '.join(MECHANISMS)})")
        if assignment not in ("random", "blocks"):
            raise InvalidArgument("assignment must be 'random' or 'blocks'")
        if adaptation not in (None, "replicator", "best_response"):
            raise InvalidArgument("adaptation must be None, 'replicator' or 'best_response'")
        if scoring_rule not in ("quadratic", "log"):
            raise InvalidArgument("scoring_rule must be 'quadratic' or 'log'")
        self.population, self.tasks = population, tasks
        self._estimator: Optional[_ProbaEstimator] = None
        if isinstance(consensus, str):
            cname = _ALIASES.get(consensus, consensus)
        elif hasattr(consensus, "fit_predict_proba"):
            cname, self._estimator = "external", consensus
        else:
            raise InvalidArgument("consensus must be a method name or an estimator with fit_predict_proba(df)")
        c = _s.SimConfig()
        c.n_labels = tasks.n_labels
        c.prior = [] if tasks.prior is None else [float(x) for x in tasks.prior]
        if tasks.difficulty is not None:
            c.difficulty_a, c.difficulty_b = float(tasks.difficulty.a), float(tasks.difficulty.b)
        c.n_tasks, c.overlap, c.capacity = n_tasks, overlap, capacity
        c.assignment = 0 if assignment == "random" else 1
        c.gold_fraction, c.clamp_gold = gold_fraction, clamp_gold
        c.consensus, c.consensus_iter = cname, consensus_iter
        c.mechanism = mechanism
        c.scoring_rule = 0 if scoring_rule == "quadratic" else 1
        c.bts_alpha = bts_alpha
        c.budget = (2**63 - 1) if budget is None else int(budget)
        c.rate, c.base, c.effort_cost = float(per_answer), float(base), float(effort_cost)
        c.initial_stake, c.min_stake = int(stake), int(min_stake)
        if slashing is not None:
            c.slashing = True
            c.slash_threshold_bps, c.slash_share_bps = slashing.threshold_bps, slashing.share_bps
            c.slash_min_control = slashing.min_control
        c.reputation_decay_bps = (reputation or ReputationRule()).decay_bps
        c.adaptation = {None: 0, "replicator": 1, "best_response": 2}[adaptation]
        c.learning_rate, c.seed, c.threads = learning_rate, int(seed), int(threads)
        self.mechanism, self.consensus, self.assignment, self.adaptation = mechanism, consensus, assignment, adaptation
        p = population
        self._core = _s.Simulator(c, p.strategy, p.skill, p.effort, p.target, p.flip, p.group,
                                  None if p.confusion is None else p.confusion.ravel())
        self._initial = p.strategy.copy()
        self._rounds: list[dict] = []
        self._strat: list[dict] = []

    @property
    def round(self) -> int:
        """Rounds run so far."""
        return self._core.round

    def _external_posterior(self, estimator: _ProbaEstimator) -> None:
        d = self._last
        df = pd.DataFrame({"task": d["task"], "worker": d["worker"], "label": d["label"]})
        proba = estimator.fit_predict_proba(df)
        L = self.tasks.n_labels
        p = proba.reindex(index=range(self._core_n_tasks()), columns=range(L), fill_value=0.0).to_numpy(np.float64)
        self._core.set_posterior(np.ascontiguousarray(p.ravel()))

    def _core_n_tasks(self) -> int:
        return len(self._last["truth"])

    def step(self) -> "_s.RoundStats":
        """Runs one round and records it."""
        if self._estimator is None:
            st = self._core.step()
        else:
            self._last = self._core.generate()
            self._external_posterior(self._estimator)
            st = self._core.settle()
        self._record(st)
        return st

    def generate(self) -> dict:
        """Only the next round's answers (dict of numpy arrays: task, worker,
        label, truth, gold, difficulty, predictions), for inspection; finish
        the round with :meth:`settle`."""
        self._last = self._core.generate()
        return self._last

    def settle(self, posterior: Optional[np.ndarray] = None) -> "_s.RoundStats":
        """Finishes a round started by :meth:`generate`: consensus (C++ method
        or the given ``posterior`` [n_tasks, n_labels]), payments, reputation,
        slashing."""
        if posterior is not None:
            self._core.set_posterior(np.ascontiguousarray(np.asarray(posterior, np.float64).ravel()))
        elif self._estimator is not None:
            self._external_posterior(self._estimator)
        else:
            self._core.infer()
        st = self._core.settle()
        self._record(st)
        return st

    def _record(self, st: Any) -> None:
        correct = st.n_correct
        self._rounds.append({"round": st.round, "accuracy": st.accuracy, "n_correct": correct, "paid": st.paid,
                             "n_answers": st.n_answers, "n_active": st.n_active,
                             "cost_per_correct": st.paid / correct if correct else np.nan})
        for i, name in enumerate(STRATEGIES):
            w, a = st.workers[i], st.answers[i]
            if w == 0 and a == 0 and st.earnings[i] == 0 and st.stake_lost[i] == 0:
                continue
            self._strat.append({
                "round": st.round, "strategy": name, "workers": w, "answers": a, "earnings": st.earnings[i],
                "effort_cost": st.effort_cost[i], "score": st.score[i], "stake_lost": st.stake_lost[i],
                "reputation_bps": st.reputation_bps[i], "correct_answers": st.correct_answers[i],
                "earnings_per_worker": st.earnings[i] / w if w else np.nan,
                "earnings_per_answer": st.earnings[i] / a if a else np.nan,
                "utility_per_worker": (st.earnings[i] - st.effort_cost[i]) / w if w else np.nan,
                "answer_accuracy": st.correct_answers[i] / a if a else np.nan,
                "share": w / max(st.n_active, 1)})

    def run(self, rounds: int, progress: bool = False,
            callback: Optional[Callable[[Any], None]] = None) -> SimResult:
        """Runs ``rounds`` more rounds; returns the results of every round so far."""
        it: Iterable[int] = range(rounds)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="rounds")
        for _ in it:
            st = self.step()
            if callback is not None:
                callback(st)
        return self.result()

    def result(self) -> SimResult:
        """The results of every round so far as tidy DataFrames."""
        rounds = pd.DataFrame(self._rounds, columns=["round", "accuracy", "n_correct", "paid", "n_answers", "n_active",
                                                     "cost_per_correct"])
        strategies = pd.DataFrame(self._strat)
        a, b = self._core.alpha.astype(np.int64), self._core.beta.astype(np.int64)
        workers = pd.DataFrame({
            "strategy": [STRATEGIES[s] for s in self._core.strategy],
            "initial_strategy": [STRATEGIES[s] for s in self._initial],
            "earnings": self._core.earnings.astype(np.int64), "stake": self._core.stake.astype(np.int64),
            "alpha": a, "beta": b, "reputation_bps": [_s.reputation_bps(int(x), int(y)) for x, y in zip(a, b)]},
            index=pd.RangeIndex(len(a), name="worker"))
        return SimResult(rounds, strategies, workers)

    def __repr__(self) -> str:
        return (f"Simulation(mechanism={self.mechanism!r}, consensus={self.consensus!r}, "
                f"workers={self.population.n_workers}, round={self.round})")


from ._sweep import sweep  # noqa: E402  (tg.sim.sweep: grids of runs on a process pool or Ray)

__all__ += ["sweep"]
