"""A task's published rules (the ``terms`` of a ``publish`` transaction).

Workers see these on the ledger before they stake, and the ledger re-executes
them at finalize (``tagger/settle.h``): the consensus method, the reward policy
and its per-answer rate, the slashing rule, the commitment to the control
items' labels and the deadline. Only a policy the ledger cannot re-execute (a
researcher's own :class:`~tagger.rewards.RewardPolicy`) makes a task
*owner-discretionary*: then the owner's client decides the payouts, and the
ledger checks only the budget and payee rules.
"""

from __future__ import annotations

import secrets
from typing import Any, Mapping

from ._core import ledger as _cl
from .errors import InvalidArgument

SETTLE_METHODS: tuple[str, ...] = tuple(_cl.SETTLE_METHODS)
"""Consensus methods the ledger can re-execute at finalize."""
SETTLE_POLICIES: tuple[str, ...] = tuple(_cl.SETTLE_POLICIES)
"""Reward policies the ledger can re-execute (``"discretionary"``: the owner's own)."""

DEFAULT_METHOD = "dawid_skene"


def method_name(method: str | None) -> str:
    """The ledger's name of a consensus method given by method or class name."""
    from .consensus import METHODS
    if method is None:
        return DEFAULT_METHOD
    for name, cls in METHODS.items():
        if method in (name, cls.__name__):
            if name not in SETTLE_METHODS:
                raise InvalidArgument(f"the ledger cannot re-execute {method!r}; a task's method is one of "
                                      f"{list(SETTLE_METHODS)}")
            return name
    raise InvalidArgument(f"unknown consensus method {method!r}; the ledger re-executes {list(SETTLE_METHODS)}")


def method_terms(options: Mapping[str, Any] | None) -> dict[str, int]:
    """``n_iter``, ``tol`` and ``seed`` of the consensus method as the integer terms fields."""
    opts = dict(options or {})
    unknown = set(opts) - {"n_iter", "tol", "seed"}
    if unknown:
        raise InvalidArgument(f"method options the ledger records are n_iter, tol and seed; got {sorted(unknown)}")
    out = {"n_iter": 0, "tol_e9": 0, "seed": 0}
    if "n_iter" in opts:
        n = opts["n_iter"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
            raise InvalidArgument(f"n_iter must be an int in [1, 100000], got {n!r}")
        out["n_iter"] = n
    if "tol" in opts:
        tol = float(opts["tol"])
        if not 0 < tol < 1:
            raise InvalidArgument(f"tol must be in (0, 1), got {opts['tol']!r}")
        out["tol_e9"] = max(1, round(tol * 1e9))
    if "seed" in opts:
        seed = opts["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InvalidArgument(f"seed must be an int in [0, 2**63), got {seed!r}")
        out["seed"] = seed
    return out


def policy_terms(policy: Any, *, slots: int, budget: int) -> dict[str, Any]:
    """The policy fields of the terms and the per-answer ``rate``.

    ``rate`` is the policy's ``per_answer`` or, by default, ``budget // slots``:
    every slot (item x overlap) is covered by the budget at that price."""
    from . import rewards as R
    fields: dict[str, Any] = {"policy": "discretionary", "policy_threshold_bps": 0, "policy_no_control_bps": 0,
                              "policy_base": 0}
    per_answer = getattr(policy, "per_answer", None)
    if per_answer is not None and (isinstance(per_answer, bool) or not isinstance(per_answer, int) or per_answer < 0):
        raise InvalidArgument(f"per_answer must be an int >= 0 of base units, got {per_answer!r}")
    cap = budget // slots
    if per_answer is not None and per_answer > cap:
        raise InvalidArgument(f"per_answer {per_answer} exceeds what the budget covers for each of the {slots} "
                              f"answer slots ({cap} base units)")
    rate = cap if per_answer is None else per_answer
    kind = type(policy)
    if kind is R.Flat:
        fields["policy"] = "flat"
    elif kind is R.ConsensusAccuracy:
        fields["policy"] = "consensus_accuracy"
    elif kind is R.GoldStandard:
        fields.update(policy="gold_standard", policy_threshold_bps=policy.threshold_bps,
                      policy_no_control_bps=policy.no_control_bps)
    elif kind in (R.OutputAgreement, R.PeerTruthSerum, R.DMI) or (
            kind is R.PeerPrediction and policy.signal_model is None and policy.scoring_rule == "quadratic") or (
            kind is R.CorrelatedAgreement and policy.score_matrix is None):
        base = int(policy.base)
        # The price of one answer is rate + base; both are covered for every slot.
        if base > cap:
            raise InvalidArgument(f"base {base} exceeds what the budget covers for each of the {slots} answer "
                                  f"slots ({cap} base units)")
        rate = min(rate, cap - base)
        fields.update(policy=policy.mechanism, policy_base=base)
    fields["rate"] = rate
    return fields


def slashing_terms(rule: Any) -> dict[str, Any]:
    if rule is None:
        return {"slashing": False, "slash_threshold_bps": 0, "slash_share_bps": 0, "slash_min_control": 0}
    return {"slashing": True, "slash_threshold_bps": int(rule.threshold_bps), "slash_share_bps": int(rule.share_bps),
            "slash_min_control": int(rule.min_control)}


def new_gold_salt() -> bytes:
    return secrets.token_bytes(32)


def gold_commitment(salt: bytes, gold: list[tuple[int, int]]) -> bytes:
    """SHA-256 commitment to the control items' (item, label) codes; zero when there are none."""
    return _cl.gold_commitment(salt, sorted(gold)) if gold else bytes(32)
