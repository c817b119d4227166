"""Anti-fraud rules: which workers look like spammers, bots, fast clickers,
colluders or Sybil accounts, each flag with its evidence.

Every rule tests an honest worker's null hypothesis one-sidedly and corrects
for the number of workers (or pairs) it tests with Holm's step-down method,
so a flag at ``alpha=0.01`` means an honest population would raise it with
probability below 1 %, family-wise:

``fast``
    Answers faster than ``fast_ratio`` x the median duration of their item
    are *fast*. The population's typical fast rate ``b`` is the median of the
    workers' fast shares (robust while fewer than half are bots), at least
    0.01. A worker with ``f`` fast answers of ``n`` timed is flagged when
    :math:`P(\\mathrm{Bin}(n, b) \\ge f)` is significant and ``f/n >= fast_min_share``.
``control_fail``
    On control (gold) items an honest worker is at least :math:`a_0`
    accurate: flagged when
    :math:`P(\\mathrm{Bin}(n_c, a_0) \\le \\mathrm{correct})` is significant.
    :math:`a_0` is ``control_min_accuracy``, or by default (0) relative to
    chance, :math:`1/K + m(1 - 1/K)` for :math:`K` labels and ``spam_margin``
    :math:`m`, so that a weak but honest worker is not taken for a bot.
``spammer`` / ``constant``
    A worker whose answers are independent of the truth (a random or a
    constant-label bot, Raykar & Yu 2012) agrees with consensus only at the
    chance level :math:`c = \\sum_k q_w(k)\\,\\pi_w(k)` of its own label
    frequencies :math:`q_w` and its items' consensus frequencies :math:`\\pi_w`.
    An honest worker agrees at least :math:`c + m(1 - c)` (``spam_margin``
    :math:`m`); flagged when its agreement count is significantly lower.
    ``constant``: a spammer whose top label has ``constant_share`` of its answers.
``colluder``
    For each pair sharing at least ``min_shared`` items, the number of items
    both answered with the same *wrong* label (not the consensus :math:`k`)
    against its law if they answered independently given the consensus: a
    Poisson-binomial with per-item probability
    :math:`\\sum_{l \\ne k} P_a(l \\mid k) P_b(l \\mid k)`, each worker's
    confusion with consensus add-one smoothed (which overstates a good
    worker's rare errors: conservative for honest pairs). Honest workers agree
    on right labels all the time but seldom share a wrong one; copiers share
    them. Flagged pairs join into groups (``collusion_group``: the group's
    first worker); ``attrs["pairs"]`` has ``n_same`` and ``n_same_wrong``.
``sybil``
    At least ``sybil_min_accounts`` answering accounts whose first funding came
    from one account within ``sybil_window`` blocks.

The rules run in C++ on one thread in input order, so the same input gives
the same flags bit for bit.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

import numpy as np
import pandas as pd

from .. import _core
from ..errors import InvalidArgument
from ._checks import one_row_each
from .base import _plain, factorize

__all__ = ["FraudRules", "fraud_report", "FLAGS"]

FLAGS = ("fast", "control_fail", "spammer", "constant", "colluder", "sybil")


@dataclass(frozen=True)
class FraudRules:
    """The thresholds of the anti-fraud rules (see the module docstring)."""

    alpha: float = 0.01
    fast_ratio: float = 0.25
    min_item_durations: int = 3
    fast_min_share: float = 0.3
    control_min_accuracy: float = 0.0
    spam_margin: float = 0.25
    constant_share: float = 0.9
    min_shared: int = 5
    min_answers: int = 8
    sybil_min_accounts: int = 4
    sybil_window: int = 100

    def __post_init__(self) -> None:
        # Types here (the core checks the ranges): 2.5 for a count used to surface as pybind's
        # "incompatible function arguments".
        for f in fields(self):
            k, default, v = f.name, f.default, getattr(self, f.name)
            if isinstance(v, (bool, np.bool_)):
                raise InvalidArgument(f"FraudRules: {k} must be a number, got {v!r}")
            if isinstance(default, int) and not isinstance(v, (int, np.integer)):
                raise InvalidArgument(f"FraudRules: {k} is a count and must be an int, got {v!r}")
            if not isinstance(v, numbers.Real):
                raise InvalidArgument(f"FraudRules: {k} must be a number, got {v!r}")
            if isinstance(default, int) and not 0 <= float(v) < 2**31:  # the core's int32 options
                raise InvalidArgument(f"FraudRules: {k} must be in [0, 2^31), got {v!r}")

    def _core(self) -> Any:
        o = _core.fraud.FraudOptions()
        for k, v in asdict(self).items():
            setattr(o, k, v)
        return o


def fraud_report(answers: pd.DataFrame, consensus: Any = None, *, gold: Optional[Mapping[Any, Any] | pd.Series] = None,
                 funding: Optional[pd.DataFrame] = None, rules: FraudRules | None = None,
                 **thresholds: Any) -> pd.DataFrame:
    """Screens a task's workers with the anti-fraud rules.

    ``answers``: columns ``task, worker, label`` and optionally ``duration``
    (seconds, NaN for unknown). ``consensus``: a Series task -> label, an
    estimator with ``fit_predict`` (e.g. ``DawidSkene()``), or None for
    Dawid-Skene. ``gold``: task -> control label. ``funding``: a DataFrame
    indexed by worker with columns ``funder`` and ``height`` (the first
    funding of each account, e.g. from ``Network.history``). Thresholds come
    from ``rules`` or keyword arguments (``alpha=0.05``).

    Returns one row per worker, sorted by worker: ``flagged``, ``reasons``, one
    boolean column per rule and its evidence (counts, rates, Holm-adjusted p
    values). ``df.attrs["pairs"]`` lists the flagged colluding pairs;
    ``df.attrs["fast_base_rate"]`` and ``df.attrs["n_pairs_tested"]`` the
    tests' context.
    """
    if rules is None:
        try:
            rules = FraudRules(**thresholds)
        except TypeError as e:
            raise InvalidArgument(f"fraud_report: {e}; the thresholds are {list(asdict(FraudRules()))}") from None
    elif thresholds:
        raise InvalidArgument("fraud_report: pass the thresholds either as rules= or as keywords, not both")
    elif not isinstance(rules, FraudRules):
        raise InvalidArgument(f"fraud_report: rules must be a FraudRules (e.g. FraudRules(alpha=0.05)) or None, "
                              f"not {type(rules).__name__}")
    enc, used = factorize(answers, on_duplicate="error")
    names = enc.label_names
    cons = _consensus_codes(consensus, answers, enc)
    duration = None
    if "duration" in used.columns:
        duration = _numbers(used["duration"], "duration (seconds)")
    gold_codes = None
    if gold is not None:
        g = pd.Series(gold, dtype=object) if not isinstance(gold, pd.Series) else gold
        gold_codes = np.full(len(enc.task_names), -1, dtype=np.int32)
        pos = enc.task_names.get_indexer(g.index)
        lab = names.get_indexer(pd.Index(g.to_numpy()))
        if (lab[pos >= 0] < 0).any():
            raise InvalidArgument(f"gold label(s) {list(g[(pos >= 0) & (lab < 0)].unique()[:5])} are not among the answers' labels")
        gold_codes[pos[pos >= 0]] = lab[pos >= 0]
    funder = funded_at = None
    if funding is not None:
        missing = {"funder", "height"} - set(funding.columns)
        if missing:
            raise InvalidArgument(f"funding needs columns funder and height; missing {sorted(missing)}")
        one_row_each(funding.index, "funding has more than one row for worker")
        f = funding.reindex(enc.worker_names)
        funders = pd.Index(f["funder"].dropna().unique())
        heights = _numbers(f["height"], "funding height")
        known = ~np.isnan(heights)
        bad = known & ~((heights >= 0) & (heights < 2.0 ** 62) & (heights == np.floor(heights)))
        if bad.any():
            w = int(np.flatnonzero(bad)[0])
            raise InvalidArgument(f"funding height of worker {_plain(enc.worker_names[w])!r} is {float(heights[w])!r}: a block "
                                  "height is a whole number >= 0 (NaN for unknown)")
        # An account whose funding height is unknown cannot be placed in a funding window: the rule
        # leaves it out, as one with no known funder (NaN heights read as block -1 put unknown
        # accounts of one funder in one window, and flagged them).
        funder = np.where(f["funder"].isna().to_numpy() | ~known, -1,
                          funders.get_indexer(f["funder"].fillna(""))).astype(np.int32)
        funded_at = np.where(known, heights, 0).astype(np.int64)
    out = _core.fraud.screen(*enc.core_args(), cons, rules._core(), duration=duration, gold=gold_codes, funder=funder,
                             funded_at=funded_at)
    return _frame(out, enc, None if funder is None else funders)


def _numbers(col: pd.Series, what: str) -> np.ndarray:
    """``col`` as float64, NaN/None for unknown; a value that is not a number is refused
    (coercing it to NaN would silently switch its rule off)."""
    vals = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
    bad = np.isnan(vals) & ~col.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"{what} must be numbers (NaN for unknown); {col.iloc[i]!r} at row {i} is not")
    return vals


def _consensus_codes(consensus: Any, answers: pd.DataFrame, enc: Any) -> np.ndarray:
    if consensus is None:
        from .confusion import DawidSkene

        consensus = DawidSkene()
    if hasattr(consensus, "fit_predict"):
        consensus = consensus.fit_predict(answers)
    if not isinstance(consensus, pd.Series):
        raise InvalidArgument(f"consensus must be a Series task -> label or an estimator with fit_predict, "
                              f"not {type(consensus).__name__}")
    one_row_each(consensus.index, "consensus has more than one label for task")
    aligned = consensus.reindex(enc.task_names)
    if aligned.isna().any():
        missing = enc.task_names[aligned.isna().to_numpy()][:5]
        raise InvalidArgument(f"consensus has no label for task(s) {list(missing)}")
    codes = enc.label_names.get_indexer(pd.Index(aligned.to_numpy()))
    if (codes < 0).any():
        raise InvalidArgument(f"consensus label {aligned.to_numpy()[codes < 0][0]!r} is not among the answers' labels")
    return codes.astype(np.int32)


def _frame(out: dict, enc: Any, funders: Optional[pd.Index]) -> pd.DataFrame:
    workers = enc.worker_names
    df = pd.DataFrame({
        "n_answers": out["n_answers"],
        "n_timed": out["n_timed"], "n_fast": out["n_fast"], "fast_p": out["fast_p"],
        "n_control": out["n_control"], "n_control_correct": out["n_control_correct"], "control_p": out["control_p"],
        "agreement": out["agreement"], "chance": out["chance"], "spam_p": out["spam_p"],
        "top_label_share": out["top_label_share"],
        "collusion_p": out["collusion_p"], "collusion_group": pd.array(
            [workers[g] if g >= 0 else None for g in out["collusion_group"]], dtype=object),
        "sybil_funder": [funders[f] if f >= 0 and funders is not None else None for f in out["sybil_funder"]],
    }, index=workers.rename("worker"))
    for flag in FLAGS:
        df[flag] = out[flag].astype(bool)
    flags = df[list(FLAGS)]
    df.insert(0, "flagged", flags.any(axis=1))
    df.insert(1, "reasons", [", ".join(np.asarray(FLAGS)[row]) for row in flags.to_numpy()])
    df = df.sort_index(kind="stable") if _sortable(workers) else df
    pairs = pd.DataFrame(out["pairs"], columns=["worker_a", "worker_b", "n_shared", "n_same", "n_same_wrong", "expected",
                                                "p_value", "p_adjusted"])
    pairs["worker_a"] = workers[pairs["worker_a"].to_numpy(int)] if len(pairs) else pairs["worker_a"]
    pairs["worker_b"] = workers[pairs["worker_b"].to_numpy(int)] if len(pairs) else pairs["worker_b"]
    df.attrs["pairs"] = pairs
    df.attrs["fast_base_rate"] = float(out["fast_base_rate"])
    df.attrs["n_pairs_tested"] = int(out["n_pairs_tested"])
    return df


def _sortable(index: pd.Index) -> bool:
    try:
        index.sort_values()
        return True
    except TypeError:
        return False
