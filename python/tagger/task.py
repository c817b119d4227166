"""Tasks: the life of a dataset from publication to finalization.

A :class:`Task` is created by :meth:`tagger.Network.publish_task`. Its budget is
locked in escrow on the ledger at once; workers are assigned by the matching
solver, answer (signed, batched into transactions) or upload (verified, sealed
to the owner, stored, receipted on the ledger); :meth:`Task.finalize` runs
consensus and the reward policy and settles everything in one atomic ledger
transaction. The rules and formulas are in ``docs/workflow.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Concatenate, Mapping, ParamSpec, Sequence, TypeVar

import numpy as np
import pandas as pd

from . import codec, crypto
from . import match, rewards
from .consensus import fraud_report as consensus_fraud_report
from .consensus.active import next_items
from ._copilot import model_probabilities, suggestion_codes
from ._core import ledger as _cl
from .market import mint_dataset_nft
from .match import assign as solve, solve_assignment
from .verify import VerifySpec
from .verify._check import _upload_bytes
from .verify._tabular import _PY_TYPES as _SCHEMA_TYPE_NAMES
from ._repr import format_tag, html_table
from ._stack import outside_tagger
from .errors import (CorruptLedger, IncompleteTask, InfeasibleAssignment, InsufficientFunds, InvalidArgument,
                     NotAuthorized, RuleViolation, TaskStateError, UnknownAccount, VerificationFailed)
from .ledger import VERDICTS as VERDICT_CODES
from ._terms import (gold_commitment, method_name, method_terms, new_gold_salt, policy_terms, slashing_terms)
from .ledger import Account, AccountLike, address_str, decode_tx

if TYPE_CHECKING:  # pragma: no cover
    from .market import DatasetNFT
    from .network import Network

__all__ = ["Task", "TaskResult", "Upload", "KINDS"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[Concatenate[Task, _P], _R]) -> Callable[Concatenate[Task, _P], _R]:
    """Run a Task method under its network's lock: a task shared between threads sees
    one operation at a time (its answers, assignment and result change together with
    the ledger), and the lock is re-entrant, so batches inside still work."""
    import functools

    @functools.wraps(method)
    def run(self: Task, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._net._lock:
            return method(self, *args, **kwargs)
    return run


KINDS = ("classification", "collection")
"""Task kinds: labeling of given items, or collection of uploads."""

DATA_KINDS = ("text", "image", "audio", "json", "csv")

# Reputation weight of a worker with no history: Beta(1, 1) mean, in basis points.
_BPS = 10_000


@dataclass
class Upload:
    """What :meth:`Task.upload` returns: the verifier's verdict and, unless the upload
    was rejected, where its sealed bytes are stored."""

    item_id: str
    worker: str
    status: str
    reasons: tuple[str, ...]
    ciphertext_hash: bytes | None
    receipt: Any
    txid: bytes

    @property
    def accepted(self) -> bool:
        """Whether the verifier accepted it: it fills its slot, is paid and goes into the dataset.
        A ``needs_review`` upload does none of that (the ledger records it, as it does a rejected
        one, without counting it; it was read as accepted here, and jammed its slot)."""
        return self.status == "accepted"

    def __repr__(self) -> str:
        h = self.ciphertext_hash.hex()[:12] + "…" if self.ciphertext_hash else "-"
        return f"Upload({self.item_id!r}, worker={self.worker!r}, status={self.status!r}, reasons={list(self.reasons)}, blob={h})"


@dataclass
class TaskResult:
    """The outcome of :meth:`Task.finalize` (also kept as ``task.result``).

    ``labels``: Series item_id -> final label (classification) or upload status
    (collection); ``probas``: posterior per item and label; ``worker_quality``:
    one row per worker (answers, agreement with consensus, estimated skill,
    control accuracy, reputation before/after, payout, slashed);
    ``payouts``: Series worker -> base units; ``refund``: base units returned to
    the owner; ``txid``: the finalize transaction.
    """

    method: str
    labels: pd.Series
    probas: pd.DataFrame | None
    worker_quality: pd.DataFrame
    payouts: pd.Series
    slashed: pd.Series
    refund: int
    txid: bytes
    stats: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        """Share of the answers on control items that match their known label (the
        workers' raw accuracy; consensus itself is clamped to gold there)."""
        return self.stats.get("answer_accuracy_on_controls")

    def plot(self, ax=None):
        """Three panels (matplotlib): worker skill against agreement with the consensus, the payouts
        by skill, and the distribution of the consensus confidence (a collection task: its accepted
        uploads). ``ax``: three Axes to draw on (default: a new figure)."""
        from .plot import plot_result
        return plot_result(self, ax=ax)

    def __repr__(self) -> str:
        return (f"TaskResult(method={self.method!r}, items={len(self.labels)}, workers={len(self.worker_quality)}, "
                f"paid={format_tag(int(self.payouts.sum()))}, slashed={format_tag(int(self.slashed.sum()))}, "
                f"refund={format_tag(self.refund)})")

    def _repr_html_(self) -> str:
        wq = self.worker_quality.sort_values("payout", ascending=False).head(15)
        rows = [[w, int(r.n_answers), f"{r.agreement:.3f}", f"{r.skill:.3f}", format_tag(int(r.payout)),
                 format_tag(int(r.slashed))] for w, r in wq.iterrows()]
        foot = " · ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.stats.items())
        return html_table(f"Result ({self.method}) · {len(self.labels)} items · refund {format_tag(self.refund)}",
                          ["worker", "answers", "agreement", "skill", "payout", "slashed"], rows, foot)


class Task:
    """A published task. Do not construct directly: use ``net.publish_task(...)``."""

    def __init__(self, net: "Network", *, task_id: bytes, owner: Account, title: str, description: str, kind: str,
                 labels: list | None, items: pd.DataFrame, gold: pd.Series, overlap: int, budget: int, stake: int,
                 reward_policy: Any, categories: list[tuple[str, float]], data_kind: str, batch_size: int,
                 control_share: float, verify_spec: Any, params_hash: bytes, seed: int, method: str = "",
                 method_options: dict | None = None, slashing: Any = None, gold_salt: bytes = bytes(32),
                 deadline: int = 0) -> None:
        self._net = net
        self.id = task_id
        self.owner = owner
        self.title = title
        self.description = description
        self.kind = kind
        self.labels = labels
        self.items = items  # columns: item_id, data; index 0..n-1 is the ledger's item number
        self.gold = gold    # item_id -> label, the control items
        self.overlap = overlap
        self.budget = budget
        self.stake = stake
        self.reward_policy = reward_policy
        self.categories = categories
        self.data_kind = data_kind
        self.batch_size = batch_size
        self.control_share = control_share
        self.verify_spec = verify_spec
        self.params_hash = params_hash
        self.seed = seed
        self.method = method
        """The consensus method fixed at publication (re-executed by the ledger at finalize)."""
        self.method_options = dict(method_options or {})
        self.slashing = slashing
        """The :class:`~tagger.rewards.SlashingRule` fixed at publication, or None."""
        self.deadline = deadline
        """Block height after which missing slots may be reassigned or the task finalized partially (0: none)."""
        self._gold_salt = gold_salt
        self.assignment: pd.DataFrame | None = None
        self.idle_workers: list[str] = []
        """Workers passed to the last :meth:`assign` who got no item."""
        self.subtasks: list | None = None
        self.result: TaskResult | None = None
        self.nft: "DatasetNFT | None" = None
        self._item_index = pd.Index(items["item_id"])
        self._label_index = pd.Index(labels) if labels is not None else None
        self._workers: list[Account] = []
        self._worker_pos: dict[bytes, int] = {}
        self._allowed: np.ndarray | None = None  # [n_items, overlap] worker positions
        # Answers as int32 chunks (item, worker position, label index); the ledger holds the signed copy.
        self._ans_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._dur_chunks: list[np.ndarray] = []  # per answer chunk: signed duration in ms, NO_DURATION if none
        # The copilot's answer per item: label code (-1: none) and confidence in ppm.
        self._suggestion = np.full(len(items), -1, dtype=np.int32)
        self._confidence = np.zeros(len(items), dtype=np.uint32)
        self._uploads: dict[int, Upload] = {}  # accepted uploads: each fills its slot
        # needs_review uploads of slots no accepted upload fills: the owner's to look at (sealed to
        # it and stored); the ledger does not count them, so the slot stays open.
        self._review: dict[int, Upload] = {}
        self._upload_meta: dict[int, dict] = {}
        self._free_cursor = 0  # collection without assignment: the lowest slot that may be free
        # The ledger height this view has read answers and uploads up to, and the ids of the
        # transactions this object recorded itself (already in its chunks): answers a worker
        # sends from its own client are read from the blocks after it (_sync).
        self._synced = net.height
        self._own_txids: set[bytes] = set()

    # ---------------------------------------------------------------- state
    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def status(self) -> str:
        """``"open"``, ``"finalized"`` or ``"cancelled"``, as the ledger records it."""
        return _onchain(self._net, self.id)["status"]

    @property
    def terms(self) -> dict:
        """The rules published on the ledger: method, policy, per-answer ``rate``, slashing,
        gold commitment, deadline (what workers see before they stake)."""
        terms = self._net.ledger.terms(self.id)
        if terms is None:  # a Task is published with its terms (Ledger.publish)
            raise CorruptLedger(f"task {self.id_hex[:16]}… has no terms on the ledger")
        return terms

    @property
    def copilot(self) -> Account | None:
        """The task's copilot account (``publish_task(copilot=...)``), or None. It answers
        through :meth:`pre_annotate`; the ledger never pays it or counts it a contributor."""
        addr = self.terms.get("copilot")
        return None if not addr else self._net.account(address_str(bytes(addr)))

    @property
    def adaptive(self) -> float | None:
        """The copilot confidence above which an item whose human answers all agree with it
        is complete early (``publish_task(adaptive=...)``), or None."""
        ppm = int(self.terms.get("adaptive_ppm", 0))
        return ppm / 1e6 if ppm else None

    @property
    def min_reputation(self) -> float:
        """The reputation floor (Beta mean of a worker's on-ledger record) below which the
        ledger refuses a worker's slots and answers; 0 for none."""
        return int(self.terms.get("min_reputation_bps", 0)) / 1e4

    @property
    def suggestions(self) -> pd.DataFrame:
        """The copilot's pre-annotations: item_id, suggestion, confidence (items it answered)."""
        self._sync()
        done = np.flatnonzero(self._suggestion >= 0)
        labels = np.asarray(self.labels if self.labels is not None else [], dtype=object)
        return pd.DataFrame({"item_id": self.items["item_id"].to_numpy()[done],
                             "suggestion": labels[self._suggestion[done]] if len(done) else np.array([], dtype=object),
                             "confidence": self._confidence[done] / 1e6})

    def _settled_early(self) -> np.ndarray:
        """Per item: complete with fewer than ``overlap`` human answers under adaptive overlap,
        by the ledger's own function (``tagger::ledger::settled_early``, which settle() applies):
        a copilot answer of confidence >= the threshold and every human answer (at least one)
        equal to it."""
        ppm = int(self.terms.get("adaptive_ppm", 0))
        if not ppm or not self._ans_chunks:
            return np.zeros(self.n_items, dtype=bool)
        it, _, lb = (np.concatenate(x) for x in zip(*self._ans_chunks))
        return _cl.settled_early(ppm, self._suggestion, self._confidence, it, lb)

    @property
    def discretionary(self) -> bool:
        """True when the reward policy is the owner's own (the ledger cannot re-execute it
        and checks only the budget and payee rules)."""
        return self.terms["policy"] == "discretionary"

    @property
    def rate(self) -> int:
        """Base units paid per answer (or accepted upload) at most, fixed at publication."""
        return int(self.terms["rate"])

    def _classification_labels(self) -> tuple[list, pd.Index]:
        """The labels of a classification task and their index (a collection task has none)."""
        if self.labels is None or self._label_index is None:
            raise TaskStateError(f"a {self.kind} task has no labels")
        return self.labels, self._label_index

    def _gold_codes(self) -> list[tuple[int, int]]:
        return _gold_codes(self._item_index, self.labels, self.gold, self.kind)

    @property
    @_serialized
    def progress(self) -> pd.DataFrame:
        """One row per item: ``assigned`` slots, ``answered`` (answers, or accepted uploads),
        ``missing`` (assigned but not answered) and ``holders`` (workers holding missing slots)."""
        self._sync()
        n = self.n_items
        answered = np.zeros(n, dtype=np.int64)
        done_pairs: set[tuple[int, int]] = set()
        if self.kind == "classification" and self._ans_chunks:
            it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
            answered = np.bincount(it, minlength=n).astype(np.int64)
            done_pairs = set(zip(it.tolist(), wp.tolist()))
        elif self.kind == "collection":
            for i, u in self._uploads.items():
                answered[i] += 1
                done_pairs.add((i, self._worker_pos[self._net.account(u.worker).address_bytes]))
        if self._allowed is not None:
            assigned = (self._allowed >= 0).sum(axis=1).astype(np.int64)
            holders = [[self._workers[w].name for w in row if w >= 0 and (i, int(w)) not in done_pairs]
                       for i, row in enumerate(self._allowed.tolist())]
        else:
            assigned = np.full(n, self.overlap, dtype=np.int64)
            if self.kind == "classification":  # answers bought by extend (none for an unextended task)
                extra = np.asarray(self._net.ledger.item_extra(self.id), dtype=np.int64)
                if len(extra):
                    assigned += extra
            holders = [[] for _ in range(n)]
        missing = np.maximum(np.maximum(assigned, self.overlap) - answered, 0)
        early = self._settled_early() if self.kind == "classification" else np.zeros(n, dtype=bool)
        # An item the copilot settled early wants only the slots already handed out.
        missing[early] = np.maximum(assigned[early] - answered[early], 0)
        return pd.DataFrame({"item_id": self.items["item_id"].to_numpy(), "assigned": assigned, "answered": answered,
                             "missing": missing, "holders": holders})

    @property
    def escrow(self) -> int:
        """Base units still locked for this task."""
        return _onchain(self._net, self.id)["escrow"]

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def workers(self) -> list[Account]:
        return list(self._workers)

    def _require_open(self, what: str) -> None:
        if self.result is not None or self.status != "open":
            raise TaskStateError(f"cannot {what}: task {self.id_hex[:12]}… is already {self.status}")

    def _worker_position(self, worker: AccountLike, *, add: bool) -> int:
        acct = self._net.account(worker)
        pos = self._worker_pos.get(acct.address_bytes)
        if pos is None:
            if not add:
                raise NotAuthorized(f"{acct.name} is not assigned to this task")
            pos = len(self._workers)
            self._workers.append(acct)
            self._worker_pos[acct.address_bytes] = pos
        return pos

    def _known_positions(self, accts: Sequence[Account]) -> np.ndarray:
        """Positions of ``accts`` among the task's workers, -1 for those not yet among them;
        nothing is added (a refused extend or reassign left its listed workers behind)."""
        return np.array([self._worker_pos.get(a.address_bytes, -1) for a in accts], dtype=np.int64)

    def _worker_list(self, workers: Any, what: str) -> list[Account]:
        """``workers`` as accounts, refused clearly when it cannot be a list of this task's
        workers: one name given as a str (read letter by letter: "bob" was b, o, b), an
        empty list, a worker twice, the owner, or the task's copilot (it answers outside
        the slots)."""
        if isinstance(workers, (str, bytes, Account)):
            raise InvalidArgument(f"{what}: workers must be a list of accounts or names, got one {type(workers).__name__} "
                                  f"{getattr(workers, 'name', workers)!r} (write [{getattr(workers, 'name', workers)!r}])")
        accts = [self._net.account(w) for w in workers]
        if not accts:
            raise InvalidArgument(f"{what} needs at least one worker")
        if len({a.address_bytes for a in accts}) != len(accts):
            raise InvalidArgument(f"{what}: a worker is listed twice")
        if self.owner.address_bytes in {a.address_bytes for a in accts}:
            raise InvalidArgument(f"{what}: the task owner cannot work on its own task")
        cp = self.copilot
        if cp is not None and cp.address_bytes in {a.address_bytes for a in accts}:
            raise InvalidArgument(f"{what}: {cp.name} is the task's copilot; it answers outside the slots and holds none")
        return accts

    # ---------------------------------------------------------------- assignment
    def suitability(self, workers: Sequence[AccountLike]) -> np.ndarray:
        """Per-worker suitability for this task: skill in its best-matching category (the
        first of :attr:`categories`; else the worker's ``"*"`` skill; else 0.5) × reputation,
        the Beta posterior mean (alpha+1)/(alpha+beta+2) of the worker's on-ledger record.
        A declared skill is an accuracy, 0.5 the neutral prior: one declared below 0.5 in
        that category ranks below declaring nothing."""
        # Only the best category counts: the runners-up may be matched at 0.1 % (a declared
        # sarcasm skill outranked a sentiment expert on a sentiment task).
        best = self.categories[0][0] if self.categories else None
        out = np.empty(len(workers))
        for j, w in enumerate(workers):
            skills = self._net.skills(w)
            skill = skills[best] if best in skills else skills.get("*", 0.5)
            a, b = self._net.reputation(w)
            out[j] = skill * (a + 1) / (a + b + 2)
        return out

    @_serialized
    def assign(self, workers: Sequence[AccountLike], capacity: int | Sequence[int] | None = None, *,
               exclude: Any = None, stake: bool = True, partial: bool = False) -> pd.DataFrame:
        """Assign every item to ``overlap`` distinct workers, maximizing total suitability
        (:meth:`suitability`) under each worker's ``capacity`` (default: an even share
        plus 25 %; one int for all, one per worker in list order, or a Series or dict by
        worker name). Workers must hold the task's stake: with ``stake=True`` those who do
        not yet stake it now from their balance (all in one block, all or nothing).
        Collection tasks assign upload slots the same way. ``exclude``: pairs that must not
        be assigned, as (item position, worker index) pairs, a boolean mask
        [n_items, len(workers)] or a sparse matrix of that shape; rows follow
        ``task.items`` and columns the ``workers`` list as given. Returns (and keeps in
        ``task.assignment``) a DataFrame item_id, worker, control (also kept on the ledger).
        When the demand cannot be met, raises :class:`~tagger.errors.InfeasibleAssignment`
        (``shortfall``: the exact number of unfillable slots; ``items``: positions in
        ``task.items`` of the items left short; ``item_shortfall``: per item), before anything
        is staked; with ``partial=True`` it assigns as many slots as can be filled instead.
        """
        self._require_open("assign")
        if self._allowed is not None:
            raise TaskStateError("assign: the task already has its assignment on the ledger; after the deadline "
                                 "task.reassign(workers) gives missing slots to others")
        accts = self._worker_list(workers, "assign")
        given = _capacities(capacity, accts, "assign")
        banned = _exclusion_mask(exclude, self.n_items, accts, "assign")
        keep = self._eligible(accts, "assign")
        accts = [accts[j] for j in keep]
        # Adaptive overlap starts with one human per item; assign_next() adds more where needed.
        overlap = 1 if self.adaptive else self.overlap
        n, m = self.n_items, len(accts)
        demand = n * overlap
        cap = given[keep] if given is not None else np.full(m, max(1, math.ceil(1.25 * demand / m)), dtype=np.int64)
        s = self.suitability(accts)
        # Solve in (name, address) order, so who gets work never depends on the order of the
        # list, and a rerun with the same names (new keys) gets the same assignment.
        canon = _canonical_order(accts)
        # Rows are solved in presentation order (controls spread evenly among shuffled
        # regular items), so each worker's share holds its share of control items.
        order = self._presentation_order()
        if banned is None:
            # Suitability depends on the worker only: the linear-time rule is exact.
            slots_c = _rank_one_assignment(s[canon], overlap, cap[canon], n, partial=True)
        else:
            # The mask is in the caller's item and worker order: permute it like the solve.
            ex = banned[:, keep][order][:, canon]
            slots_c = _balanced_assignment(s[canon], overlap, cap[canon], ex)
        slots = np.where(slots_c >= 0, canon[np.clip(slots_c, 0, None)], -1).astype(np.int32)
        unpermuted = np.empty_like(slots)
        unpermuted[order] = slots
        slots = unpermuted
        if not partial and (slots < 0).any():
            # Both solves fill a maximum number of slots, so the count left empty is exact.
            raise _shortfall_error("assign", (slots < 0).sum(axis=1), self.items["item_id"],
                                   "" if m >= overlap else f"; overlap {overlap} needs at least {overlap} workers, got {m}")
        # Only workers who actually got items must hold the stake; staking happens
        # after the solve so an infeasible assignment changes nothing on the ledger.
        used = np.zeros(m, dtype=bool)
        used[slots[slots >= 0]] = True
        # The stakes and the assignment go on the ledger in one block, all or nothing:
        # from then on only a slot's holder may fill it.
        with self._net.batch():
            self._ensure_stakes([a for a, u in zip(accts, used) if u], stake)
            self._net.ledger.assign_slots(self.id, self.owner, _grants(slots, accts))
        # Only the workers who got a slot join task.workers (as a reopened market lists them).
        pos = np.array([self._worker_position(a, add=True) if u else -1 for a, u in zip(accts, used)], dtype=np.int32)
        allowed = np.where(slots >= 0, pos[np.clip(slots, 0, None)], -1).astype(np.int32)
        assignment = self._set_allowed(allowed)
        self.idle_workers = [a.name for a, u in zip(accts, used) if not u]
        if self.idle_workers:
            import warnings
            warnings.warn(f"assign: {len(self.idle_workers)} of {m} workers got no item (capacity covers the "
                          f"demand without them): {', '.join(self.idle_workers[:10])}", stacklevel=3)
        return assignment

    def _eligible(self, accts: Sequence[Account], what: str) -> list[int]:
        """Positions of ``accts`` at or above the task's reputation floor (the ledger refuses
        the others their slots); warns naming those left out, raises if none is left."""
        floor = int(self.terms.get("min_reputation_bps", 0))
        if not floor:
            return list(range(len(accts)))
        ok = [j for j, a in enumerate(accts) if _reputation_ok(*self._net.reputation(a), floor)]
        out = [accts[j].name for j in range(len(accts)) if j not in set(ok)]
        if not ok:
            raise InfeasibleAssignment(f"{what}: every worker is below the task's reputation floor of "
                                       f"{floor / 1e4:.2f} ((right+1)/(right+wrong+2) on the ledger)")
        if out:
            import warnings
            warnings.warn(f"{what}: {len(out)} worker(s) below the task's reputation floor of {floor / 1e4:.2f} get "
                          f"no slot: {', '.join(out[:10])}", stacklevel=4)
        return ok

    @_serialized
    def assign_next(self, workers: Sequence[AccountLike], capacity: int | Sequence[int] | None = None, *,
                    stake: bool = True) -> pd.DataFrame:
        """The next round of an adaptive-overlap task (``publish_task(adaptive=...)``): one
        more slot on every item that is not yet complete — its human answers disagree
        with the copilot, or the copilot is not confident enough — whose slots are all
        answered and which has fewer than ``overlap`` answers, each to a worker of
        ``workers`` who has not held or answered it (same exact solver as :meth:`assign`).
        Returns the new rows of the assignment; empty when no item wants more."""
        self._require_open("assign_next")
        if self._allowed is None or self.assignment is None:
            raise TaskStateError("assign_next: the task has no assignment yet (use assign)")
        prog = self.progress
        early = self._settled_early()
        pending = (prog["assigned"] - prog["answered"]).to_numpy() > 0
        want = ~early & ~pending & (prog["answered"].to_numpy() < self.overlap)
        items = np.flatnonzero(want)
        if len(items) == 0:
            return self.assignment.iloc[0:0]
        accts = self._worker_list(workers, "assign_next")
        given = _capacities(capacity, accts, "assign_next")
        keep = self._eligible(accts, "assign_next")
        accts = [accts[j] for j in keep]
        pos = self._known_positions(accts)
        held = np.zeros((len(items), len(accts)), dtype=bool)
        for j, p in enumerate(pos):
            if p >= 0:
                held[:, j] = (self._allowed[items] == p).any(axis=1)
        m = len(accts)
        cap = given[keep] if given is not None else np.full(m, max(1, math.ceil(1.25 * len(items) / m)), dtype=np.int64)
        canon = _canonical_order(accts)
        slots_c = solve(np.broadcast_to(self.suitability(accts)[canon], (len(items), m)), 1, cap[canon],
                        held[:, canon], partial=True)
        got = np.where(slots_c[:, 0] >= 0, canon[np.clip(slots_c[:, 0], 0, None)], -1)
        grants: dict[AccountLike, list[int]] = {}
        grown = np.concatenate([self._allowed, np.full((self.n_items, 1), -1, dtype=np.int32)], axis=1)
        new_rows = []
        for i, j in zip(items.tolist(), got.tolist()):
            if j < 0:
                continue
            grants.setdefault(accts[j].name, []).append(i)
            new_rows.append((self.items["item_id"].iloc[i], accts[j].name))
        if not grants:
            raise InfeasibleAssignment(f"assign_next: none of the {m} workers can take one of the {len(items)} items "
                                       "that want another answer (each has held or answered them)")
        with self._net.batch():
            self._ensure_stakes([accts[j] for j in np.unique(got[got >= 0])], stake)
            self._net.ledger.assign_slots(self.id, self.owner, grants)
        for i, j in zip(items.tolist(), got.tolist()):  # only holders join task.workers, once granted
            if j >= 0:
                row = grown[i]
                row[np.flatnonzero(row < 0)[0]] = self._worker_position(accts[j], add=True)
        # Trim columns no item uses, so the holder table stays as narrow as the overlap.
        width = max(int((grown >= 0).sum(axis=1).max()), 1)
        packed = np.full((self.n_items, width), -1, dtype=np.int32)
        for i, row in enumerate(grown):
            h = row[row >= 0]
            packed[i, :len(h)] = h
        self._set_allowed(packed)
        gold_ids = set(self.gold.index)
        return self._with_suggestions(pd.DataFrame({"item_id": [r[0] for r in new_rows],
                                                    "worker": [r[1] for r in new_rows],
                                                    "control": [r[0] in gold_ids for r in new_rows]}))

    def _load_assignment(self) -> None:
        """The assignment as the ledger holds it (after a reopen)."""
        held = self._net.ledger.assignments(self.id)
        if not held:
            return
        cols: list[list[int]] = [[] for _ in range(self.n_items)]
        for addr, items in held:
            pos = self._worker_position(address_str(addr), add=True)
            for i in np.asarray(items).tolist():
                cols[i].append(pos)
        # Answered slots whose holder was revoked are not in the ledger's sets: keep them.
        if self._ans_chunks:
            it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
            for i, w in zip(it.tolist(), wp.tolist()):
                if w not in cols[i]:
                    cols[i].append(w)
        width = max(max(len(c) for c in cols), 1)
        allowed = np.full((self.n_items, width), -1, dtype=np.int32)
        for i, c in enumerate(cols):
            allowed[i, :len(c)] = c
        self._set_allowed(allowed)

    def _set_allowed(self, allowed: np.ndarray) -> pd.DataFrame:
        """Sets the slot holders and rebuilds :attr:`assignment` from them (returned)."""
        self._allowed = allowed
        width = allowed.shape[1]
        item_rows = np.repeat(np.arange(self.n_items), width)
        flat = allowed.ravel()
        keep = flat >= 0
        names = np.array([w.name for w in self._workers], dtype=object)
        control = self.items["item_id"].isin(self.gold.index).to_numpy()
        self.assignment = self._with_suggestions(pd.DataFrame({
            "item_id": self.items["item_id"].to_numpy()[item_rows[keep]], "worker": names[flat[keep]],
            "control": control[item_rows[keep]]}))
        return self.assignment

    def _with_suggestions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (rows naming item_id) with the copilot's suggestion and confidence
        per row (None / NaN where it made none), when the task has a copilot."""
        if self.terms.get("copilot") is None or self.labels is None:
            return frame
        rows = self._item_index.get_indexer(frame["item_id"])
        code = self._suggestion[rows]
        labels = np.asarray(self.labels, dtype=object)
        frame = frame.copy()
        frame["suggestion"] = pd.Series(np.where(code >= 0, labels[np.clip(code, 0, None)], None), index=frame.index)
        frame["confidence"] = pd.Series(np.where(code >= 0, self._confidence[rows] / 1e6, np.nan), index=frame.index)
        return frame

    @_serialized
    def reassign(self, workers: Sequence[AccountLike], capacity: int | Sequence[int] | None = None, *,
                 stake: bool = True) -> pd.DataFrame:
        """After the deadline, give every missing answer slot to other ``workers`` (never one
        who already answered or holds that item), with the same exact solver as
        :meth:`assign`, as many as the workers' capacities allow (a warning says how many
        could not be granted). Workers who let their slots expire lose them. Returns the new
        rows of the assignment (item_id, worker, control)."""
        self._require_open("reassign")
        if self._allowed is None or self.assignment is None:  # set together by _set_allowed
            raise TaskStateError("reassign: the task has no assignment yet (use assign)")
        if self.deadline == 0 or self._net.height + 1 < self.deadline:
            raise TaskStateError("reassign: the task's deadline has not passed" if self.deadline else
                                 "reassign: the task was published without a deadline")
        prog = self.progress
        need = prog["missing"].to_numpy()
        if need.sum() == 0:
            return self.assignment.iloc[0:0]
        accts = self._worker_list(workers, "reassign")
        given = _capacities(capacity, accts, "reassign")
        # Workers below the task's reputation floor are left out with a warning, as by assign
        # (the ledger would refuse their grants, and with them the whole reassign).
        keep = self._eligible(accts, "reassign")
        accts = [accts[j] for j in keep]
        given = given[keep] if given is not None else None
        pos = self._known_positions(accts)
        done = np.zeros((self.n_items, len(accts)), dtype=bool)
        if self._ans_chunks:
            it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
            col = np.full(len(self._workers), -1, dtype=np.int64)  # worker position -> column
            col[pos[pos >= 0]] = np.flatnonzero(pos >= 0)
            mine = col[wp] >= 0
            done[it[mine], col[wp[mine]]] = True
        for j, p in enumerate(pos):
            if p >= 0:
                done[:, j] |= (self._allowed == p).any(axis=1)
        items = np.flatnonzero(need > 0)
        width = int(need.max())
        m = len(accts)
        cap = given if given is not None else np.full(m, max(1, math.ceil(1.25 * need.sum() / m)), dtype=np.int64)
        s = self.suitability(accts)
        canon = _canonical_order(accts)
        slots_c = _per_item_assignment(s[canon], need[items], cap[canon], done[items][:, canon])
        slots = np.where(slots_c >= 0, canon[np.clip(slots_c, 0, None)], -1)
        granted = int((slots >= 0).sum())
        if granted < int(need.sum()):
            left = items[(slots >= 0).sum(axis=1) < need[items]]
            shown = ", ".join(map(repr, self.items["item_id"].to_numpy()[left[:10]].tolist()))
            warnings.warn(f"reassign: granted {granted} of {int(need.sum())} missing slot(s); {len(left)} item(s) "
                          f"still miss answers (item_id {shown}{', ...' if len(left) > 10 else ''}): the workers' "
                          "capacity is spent, or they answered or hold those items", stacklevel=3)
        # Expired holders lose the slots they did not fill.
        answered: set[tuple[int, int]] = set()
        if self._ans_chunks:
            it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
            answered = set(zip(it.tolist(), wp.tolist()))
        elif self.kind == "collection":
            answered = {(i, self._worker_pos[self._net.account(u.worker).address_bytes]) for i, u in self._uploads.items()}
        revokes: dict[AccountLike, list[int]] = {}
        grown = np.full((self.n_items, self._allowed.shape[1] + width), -1, dtype=np.int32)
        for i in range(self.n_items):
            kept = []
            for w in self._allowed[i].tolist():
                if w < 0:
                    continue
                if (i, w) in answered:
                    kept.append(w)
                else:
                    revokes.setdefault(self._workers[w].name, []).append(i)
            grown[i, :len(kept)] = kept
        new_rows: list[tuple[Any, str]] = []
        grants: dict[AccountLike, list[int]] = {}
        given_to: list[tuple[int, int]] = []  # (item, column in accts)
        for r, i in enumerate(items.tolist()):
            for j in slots[r][:int(need[i])]:
                if j >= 0:
                    given_to.append((i, int(j)))
                    grants.setdefault(accts[j].name, []).append(i)
                    new_rows.append((self.items["item_id"].iloc[i], accts[j].name))
        # One block: the new holders' stakes, the revocations (with the expiry slash the
        # terms set) and the grants.
        with self._net.batch():
            self._ensure_stakes([accts[j] for j in np.unique(slots[slots >= 0])], stake)
            self._net.ledger.assign_slots(self.id, self.owner, grants, revokes)
        # Only now, and only the workers who got a slot, join the task's workers.
        for i, j in given_to:
            row = grown[i]
            row[np.flatnonzero(row < 0)[0]] = self._worker_position(accts[j], add=True)
        self._set_allowed(grown)
        gold_ids = set(self.gold.index)
        return pd.DataFrame({"item_id": [r[0] for r in new_rows], "worker": [r[1] for r in new_rows],
                             "control": [r[0] in gold_ids for r in new_rows]})

    @_serialized
    def extend(self, budget: int, workers: Sequence[AccountLike] | None = None,
               capacity: int | Sequence[int] | None = None, *, score: str = "margin", stake: bool = True) -> pd.DataFrame:
        """Spend ``budget`` (base units) on one more answer for each of the items whose
        label is least certain (:func:`tagger.consensus.next_items` with the task's
        method and ``score``), each from a worker who has not answered or held it.
        Control (gold) items are never chosen: their label is known.

        ``budget // (rate + policy_base)`` answers are bought; exactly their price is
        locked from the owner into the escrow by a signed ``extend`` transaction (the
        remainder stays with the owner), which raises those items' answer caps on the
        ledger, so the finalize it re-executes pays and expects the extra answers. With
        an assignment on the ledger the new slots go to ``workers`` by the same exact
        solver as :meth:`assign` (``assign`` transactions, in the same block as the
        extend and the new holders' stakes: all or nothing); without one, ``workers``
        must be None and any staked worker may answer them. Returns the new rows
        (item_id, worker, control), or for an unassigned task the chosen items.
        """
        self._require_open("extend")
        self._sync()
        if self.kind != "classification":
            raise TaskStateError("extend: only labeling tasks take more answers per item")
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
            raise InvalidArgument(f"extend: budget must be a positive integer of base units, got {budget!r}")
        terms = self.terms
        price = int(terms["rate"]) + int(terms["policy_base"])
        if price <= 0:
            raise InvalidArgument("extend: the task pays nothing per answer, so a budget buys no answer")
        n_extra = int(budget) // price
        if n_extra == 0:
            raise InvalidArgument(f"extend: a budget of {format_tag(int(budget))} buys no answer at "
                                  f"{format_tag(price)} each")
        if not self._ans_chunks:
            raise TaskStateError("extend: the task has no answers yet to rank its items by")
        if (self._allowed is None) != (workers is None):
            raise InvalidArgument("extend: a task with an assignment needs the workers to ask"
                                  if self._allowed is not None else
                                  "extend: the task has no assignment; call extend(budget) without workers")
        df = self._canonical_answers()
        # Control items are never bought: their label is known, and one more answer would only
        # show them to one more worker. Nor are items with slots still open (bought or held,
        # not yet answered): their answers are on the way, and ranking only the answers in
        # hand bought the same uncertain item again at every call until they came.
        ids = self.items["item_id"]
        pending = ids[self.progress["missing"].to_numpy() > 0]
        # Under adaptive overlap an item whose human answer agrees with a confident copilot is
        # complete (the ledger settles it so): with one human answer it ranked as the most
        # uncertain, and extend bought answers for it instead of the contested items.
        settled = ids[self._settled_early()]
        ranked = next_items(df[["task", "worker", "label"]], n_extra,
                            method=self.method or "majority_vote", score=score, labels=self.labels,
                            exclude=pd.Index(self.gold.index).append(pd.Index(pending)).append(pd.Index(settled)))
        chosen = self._item_index.get_indexer(ranked.index)
        if len(chosen) < n_extra:
            early = f", nor the {len(settled)} the copilot's agreement settled" if len(settled) else ""
            raise InvalidArgument(f"extend: a budget for {n_extra} answers, but only {len(chosen)} answered items "
                                  f"to extend (one more answer each; control items are not extended, nor the "
                                  f"{len(pending)} item(s) whose slots are still open{early})")
        locked = n_extra * price
        have = self._net.balance(self.owner)
        if have < locked:
            raise InsufficientFunds(f"extend: the owner {self.owner.name} has {format_tag(have)}, and {n_extra} more "
                                    f"answer(s) at {format_tag(price)} each lock {format_tag(locked)}")
        gold_ids = set(self.gold.index)
        if self._allowed is None:
            with self._net.batch():
                self._buy_answers(chosen, price)
            self.budget += locked
            return pd.DataFrame({"item_id": self.items["item_id"].to_numpy()[chosen],
                                 "control": [i in gold_ids for i in self.items["item_id"].to_numpy()[chosen]]})
        assert workers is not None
        accts = self._worker_list(workers, "extend")
        given = _capacities(capacity, accts, "extend")
        # Workers below the task's reputation floor are left out with a warning, as by assign
        # (the solver preferred a high declared skill there, and the ledger then refused the
        # whole extend).
        keep = self._eligible(accts, "extend")
        accts = [accts[j] for j in keep]
        given = given[keep] if given is not None else None
        pos = self._known_positions(accts)
        m = len(accts)
        # Earlier labelers and current holders of an item are excluded from it.
        done = np.zeros((len(chosen), m), dtype=bool)
        it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
        col = np.full(len(self._workers), -1, dtype=np.int64)
        col[pos[pos >= 0]] = np.flatnonzero(pos >= 0)
        row_of = np.full(self.n_items, -1, dtype=np.int64)
        row_of[chosen] = np.arange(len(chosen))
        hit = (col[wp] >= 0) & (row_of[it] >= 0)
        done[row_of[it[hit]], col[wp[hit]]] = True
        for j, p in enumerate(pos):
            if p >= 0:
                done[:, j] |= (self._allowed[chosen] == p).any(axis=1)
        cap = given if given is not None else np.full(m, max(1, math.ceil(1.25 * n_extra / m)), dtype=np.int64)
        s = self.suitability(accts)
        canon = _canonical_order(accts)
        # Exact and all or nothing (partial=False): an infeasible request changes nothing.
        try:
            slots_c = solve(np.broadcast_to(s[canon], (len(chosen), m)), 1, cap[canon], done[:, canon], partial=False)
        except InfeasibleAssignment as e:  # the solver numbers the chosen rows; name the items
            short = [self.items["item_id"].iloc[chosen[r]] for r in getattr(e, "items", [])]
            shown = ", ".join(repr(_plain(x)) for x in short[:10]) + (", ..." if len(short) > 10 else "")
            raise InfeasibleAssignment(
                f"extend: the workers cannot take {getattr(e, 'shortfall', '?')} of the {n_extra} new slot(s) (items "
                f"{shown}): a worker who answered or holds an item is not asked again, and each takes at most its "
                "capacity; list more workers or raise capacity") from e
        got = canon[slots_c[:, 0]]
        grants: dict[AccountLike, list[int]] = {}
        for i, j in zip(chosen.tolist(), got.tolist()):
            grants.setdefault(accts[j].name, []).append(int(i))
        with self._net.batch():
            self._buy_answers(chosen, price)
            self._ensure_stakes([accts[j] for j in np.unique(got)], stake)
            self._net.ledger.assign_slots(self.id, self.owner, grants)
        self.budget += locked
        grown = np.concatenate([self._allowed, np.full((self.n_items, 1), -1, dtype=np.int32)], axis=1)
        for i, j in zip(chosen.tolist(), got.tolist()):
            free = np.flatnonzero(grown[i] < 0)
            grown[i, free[0]] = self._worker_position(accts[j], add=True)  # only holders join task.workers
        self._set_allowed(grown)
        ids = self.items["item_id"].to_numpy()[chosen]
        return pd.DataFrame({"item_id": ids, "worker": [accts[j].name for j in got.tolist()],
                             "control": [i in gold_ids for i in ids]})

    def _buy_answers(self, chosen: np.ndarray, price: int) -> None:
        """One more answer for each of the ``chosen`` item positions: ``extend`` transactions of
        at most the ledger's list bound each (a budget for more than 100,000 items was refused
        with the ledger's own message), inside the caller's batch, so all land or none."""
        cap = _cl.MAX_ANSWERS_PER_TX
        for start in range(0, len(chosen), cap):
            part = chosen[start:start + cap]
            self._net.ledger.extend_task(self.id, self.owner, {int(i): 1 for i in part}, len(part) * price)

    @_serialized
    def cancel(self) -> int:
        """Cancel a task nobody has answered yet: the whole escrow returns to the owner and
        every stake bound to the task is released. Returns the refund in base units."""
        self._require_open("cancel")
        info = _onchain(self._net, self.id)
        if info["n_answers"] or info["n_uploads"]:
            raise TaskStateError(f"cancel: the task has {info['n_answers']} answer(s) and {info['n_uploads']} "
                                 "upload(s); finalize it (partial=True after the deadline) to pay them")
        self._net.ledger.refund_escrow(self.id, self.owner)
        return int(info["escrow"])

    def _presentation_order(self) -> np.ndarray:
        """Item positions in the order workers meet them: regular items shuffled (seeded),
        control items at evenly spaced positions among them, so they stay hidden and
        every contiguous run of items holds its share of controls."""
        rng = np.random.default_rng(self.seed)
        is_control = self.items["item_id"].isin(self.gold.index).to_numpy()
        regular = rng.permutation(np.flatnonzero(~is_control))
        controls = rng.permutation(np.flatnonzero(is_control))
        n = self.n_items
        if len(controls) == 0:
            return regular
        slots = np.round(np.linspace(0, n - 1, len(controls) + 2)[1:-1]).astype(np.int64) if len(controls) < n else np.arange(n)
        order = np.empty(n, dtype=np.int64)
        mask = np.zeros(n, dtype=bool)
        mask[slots[:len(controls)]] = True
        order[mask] = controls[:mask.sum()]
        order[~mask] = np.concatenate([regular, controls[mask.sum():]])
        return order

    def _ensure_stakes(self, accts: list[Account], stake: bool) -> None:
        """Tops each of ``accts`` up to the task's stake (``stake=True``) or refuses those
        below it. The ledger's ``amount`` is what is still bound, net of any slash: a
        worker cut to half by an expiry slash stakes the other half, not a whole stake more
        (before 2026-12-07 the slash was subtracted a second time)."""
        if self.stake == 0:
            return
        led = self._net.ledger
        short: list[tuple[Account, int]] = []
        for a in accts:
            st = led.stake_of(a, self.id)
            held = 0 if st is None else int(st["amount"])
            if held < self.stake:
                short.append((a, self.stake - held))
        if not short:
            return
        if not stake:
            raise RuleViolation(f"{len(short)} worker(s) do not hold the task's stake of {format_tag(self.stake)}: "
                                + ", ".join(f"{a.name} (holds {format_tag(self.stake - need)})" for a, need in short[:10]))
        poor = [f"{a.name} (needs {format_tag(need)})" for a, need in short if self._net.balance(a) < need]
        if poor:
            raise InsufficientFunds(f"{len(poor)} worker(s) cannot stake up to the task's {format_tag(self.stake)}: "
                                    + ", ".join(poor[:10]))
        with self._net.batch():
            for a, need in short:
                led.stake(a, need, task_id=self.id, lock_blocks=0)

    # ---------------------------------------------------------------- answers
    def submit(self, worker: AccountLike, item_id: Any, label: Any) -> bytes:
        """Record one signed answer; returns the transaction id. Prefer :meth:`submit_many` in bulk."""
        return self.submit_many(pd.DataFrame({"item_id": [item_id], "worker": [self._net.account(worker).name],
                                              "label": [label]}))[0]

    @_serialized
    def submit_many(self, answers: pd.DataFrame) -> list[bytes]:
        """Record answers in bulk: a DataFrame with columns ``item_id`` (or ``task``),
        ``worker`` (names, addresses or Accounts) and ``label``, and optionally
        ``duration`` (seconds the worker took; signed with the answer, so the fraud
        screen's fast rule holds on the ledger). Each worker's answers become one signed
        transaction; all of them go into one block, all or nothing. Every answer is
        checked first (known item, label in the label set, worker assigned to the item,
        not answered before, a duration in [0, 1 day]); nothing is recorded if one
        fails. Returns the transaction ids."""
        self._require_open("submit answers")
        self._sync()  # a duplicate of an answer sent from another client is refused here, not by the ledger
        if self.kind != "classification":
            raise TaskStateError("answers go to classification tasks; collection tasks take uploads")
        if not isinstance(answers, pd.DataFrame):
            raise InvalidArgument(f"answers must be a DataFrame, got {type(answers).__name__}")
        item_col = "item_id" if "item_id" in answers.columns else "task"
        missing = [c for c in (item_col, "worker", "label") if c not in answers.columns]
        if missing:
            raise InvalidArgument(f"answers lacks column(s) {missing} (needs item_id, worker, label)")
        if len(answers) == 0:
            return []
        items = self._item_index.get_indexer(answers[item_col])
        if (items < 0).any():
            bad = answers[item_col].to_numpy()[items < 0][:5]
            raise InvalidArgument(f"unknown item id(s) {list(bad)}")
        _, label_index = self._classification_labels()
        labels = label_index.get_indexer(pd.Index(answers["label"]))
        if (labels < 0).any():
            bad = answers["label"].to_numpy()[labels < 0][:5]
            raise InvalidArgument(f"label(s) {list(bad)} not in the task's label set {list(label_index)}")
        wcodes, wuniq = pd.factorize(answers["worker"])
        # Before any assignment anyone may answer (the ledger still demands the stake).
        wpos_of_uniq = np.array([self._worker_position(w, add=self._allowed is None) for w in wuniq], dtype=np.int32)
        wpos = wpos_of_uniq[wcodes]
        if self._allowed is not None:
            ok = (self._allowed[items] == wpos[:, None]).any(axis=1)
            if not ok.all():
                k = int(np.flatnonzero(~ok)[0])
                raise NotAuthorized(f"worker {self._workers[wpos[k]].name} is not assigned item "
                                    f"{answers[item_col].iloc[k]!r}")
        durations = _duration_ms(answers["duration"]) if "duration" in answers.columns else None
        # (item, worker) keys; sorted comparisons instead of a Python set of pairs.
        keys = np.sort(items.astype(np.int64) * (1 << 32) + wpos)
        if (keys[1:] == keys[:-1]).any():
            raise InvalidArgument("the same worker answers the same item twice in this batch")
        if self._ans_chunks:
            done = np.concatenate([c[0].astype(np.int64) * (1 << 32) + c[1] for c in self._ans_chunks])
            again = np.isin(keys, done, assume_unique=True)
            if again.any():
                key = int(keys[np.flatnonzero(again)[0]])
                item, w = key >> 32, key & 0xFFFFFFFF
                raise RuleViolation(f"{int(again.sum())} answer(s) of this batch were given before: worker "
                                    f"{self._workers[w].name} already answered item {_plain(self.items['item_id'].iloc[item])!r} "
                                    "(a worker answers an item once; an extended item takes its new answer from another worker)")
        # One transaction per worker (split past the ledger's list bound, with
        # consecutive nonces), built and signed in C++ from the int32 columns, then
        # submitted as one batch: signatures checked by verify_batch on all cores.
        order = np.argsort(wpos, kind="stable")
        w_sorted = wpos[order]
        starts = np.flatnonzero(np.r_[True, w_sorted[1:] != w_sorted[:-1]])
        ends = np.r_[starts[1:], len(order)]
        cap = _cl.MAX_ANSWERS_PER_TX
        signers, nonces, offsets = [], [], [0]
        for b, e in zip(starts.tolist(), ends.tolist()):
            acct = self._workers[int(w_sorted[b])]
            nonce = self._net.nonce(acct)
            for k, lo in enumerate(range(b, e, cap)):
                signers.append(acct.signing_key._k)
                nonces.append(nonce + k)
                offsets.append(min(lo + cap, e))
        it32, lb32 = items[order].astype(np.int32), labels[order].astype(np.int32)
        with self._net.batch():
            txs = _cl.make_answers_txs(signers, nonces, np.asarray(offsets, dtype=np.int64), it32, lb32, self.id,
                                       self._net.chain_id, duration_ms=None if durations is None else durations[order])
            txids = self._net.submit_many(txs)
        self._own_txids.update(txids)
        self._ans_chunks.append((items.astype(np.int32), wpos.astype(np.int32), labels.astype(np.int32)))
        self._dur_chunks.append(durations if durations is not None else np.full(len(items), NO_DURATION, np.uint32))
        return txids

    @_serialized
    def pre_annotate(self, model: Any, items: Any = None) -> pd.DataFrame:
        """The copilot labels the task's items with ``model`` — a
        :class:`tagger.match.CategoryIndex`, anything with ``predict_proba`` (columns
        named by ``classes_``) or a callable returning probabilities (an array in the
        task's label order, or a DataFrame with label columns) — and submits its labels
        and confidences as signed answers (one block). Items already pre-annotated, and
        items the model cannot score (NaN or empty probabilities), are left out.

        The ledger counts the copilot as one more annotator in the consensus, its
        reliability estimated by the task's method like any worker's; it never pays
        it, judges it or lists it as a contributor, and an item only the copilot
        answered gets no label. :attr:`assignment` then shows each slot's suggestion
        and confidence. Returns :attr:`suggestions` for the items labeled now."""
        self._require_open("pre-annotate")
        copilot = self.copilot
        if copilot is None:
            raise TaskStateError("the task has no copilot: publish it with publish_task(..., copilot=True)")
        labels, _ = self._classification_labels()
        rows = np.arange(self.n_items) if items is None else self._item_index.get_indexer(pd.Index(list(items)))
        if (rows < 0).any():
            bad = np.asarray(list(items), dtype=object)[rows < 0][:5]
            raise InvalidArgument(f"unknown item id(s) {list(bad)}")
        rows = np.unique(rows)
        rows = rows[self._suggestion[rows] < 0]
        if len(rows) == 0:
            return self.suggestions.iloc[0:0]
        probs, ok = model_probabilities(model, self.items["data"].to_numpy()[rows].tolist(), labels)
        if not ok.all():
            import warnings
            warnings.warn(f"pre_annotate: the model gave no usable probabilities for {int((~ok).sum())} of "
                          f"{len(rows)} items; they get no suggestion", stacklevel=3)
        rows, probs = rows[ok], probs[ok]
        if len(rows) == 0:
            return self.suggestions.iloc[0:0]
        code, conf = suggestion_codes(probs)
        cap = _cl.MAX_ANSWERS_PER_TX
        with self._net.batch():
            for lo in range(0, len(rows), cap):
                pairs = np.stack([rows[lo:lo + cap], code[lo:lo + cap]], axis=1).astype(np.int64)
                self._net.ledger.submit_answers(self.id, copilot, pairs, confidence_ppm=conf[lo:lo + cap])
        self._suggestion[rows] = code
        self._confidence[rows] = conf
        if self.assignment is not None:
            self.assignment = self._with_suggestions(self.assignment.drop(columns=["suggestion", "confidence"],
                                                                          errors="ignore"))
        sugg = self.suggestions
        return sugg[sugg["item_id"].isin(self.items["item_id"].to_numpy()[rows])].reset_index(drop=True)

    def _replay_ledger(self) -> None:
        """Answers and accepted uploads of this task, read back from its transactions."""
        self._synced = 0
        self._read_blocks()
        if _onchain(self._net, self.id)["status"] != "open":
            self.result = None  # settled on the ledger in an earlier session

    def _sync(self) -> None:
        """Read the answers and uploads other clients recorded since this view last looked (a
        worker answering from its own client, ``net.ledger.submit_answers``, a pre-signed
        transaction): before, the owner's Task never saw them, so ``progress`` showed them
        missing, ``finalize`` refused ("held by e") and ``extend`` ranked stale answers."""
        with self._net._lock:
            if self._net.height > self._synced:
                self._read_blocks()

    def _read_blocks(self) -> None:
        items: list[int] = []
        workers: list[int] = []
        labels: list[int] = []
        durations: list[int] = []
        cp = self.terms.get("copilot")
        copilot = address_str(bytes(cp)) if cp else None
        top = self._net.height
        for h in range(self._synced + 1, top + 1):
            for record in self._net.block(h).records:
                if self.id not in record:  # (a byte search: other tasks' transactions are not decoded)
                    continue
                txid = _cl.tx_id(record)
                if txid in self._own_txids:  # recorded by this object, already in its chunks
                    self._own_txids.discard(txid)
                    continue
                tx = decode_tx(record)
                f = tx.fields
                if tx.kind not in ("answers", "upload_receipt") or bytes(f["task"]) != self.id:
                    continue
                if tx.kind == "answers" and copilot is not None and tx.sender == copilot:
                    for (i, lab), c in zip(f["answers"], f["confidence_ppm"]):
                        self._suggestion[i], self._confidence[i] = lab, c
                elif tx.kind == "answers":
                    pos = self._worker_position(tx.sender, add=True)
                    for i, lab in f["answers"]:
                        items.append(i)
                        labels.append(lab)
                        workers.append(pos)
                    durations.extend(f.get("duration_ms") or [NO_DURATION] * len(f["answers"]))
                elif f["verdict"] != VERDICT_CODES["rejected"]:
                    item = int(f["item"])
                    acct = self._net.account(address_str(f["worker"]))
                    self._worker_position(acct, add=True)
                    status = next(k for k, v in VERDICT_CODES.items() if v == f["verdict"])
                    up = Upload(str(self.items["item_id"].iloc[item]), acct.name, status,
                                tuple(f["reasons"]), bytes(f["ciphertext_hash"]), None, tx.txid)
                    self._keep_upload(item, up)
        if items:
            self._ans_chunks.append((np.asarray(items, np.int32), np.asarray(workers, np.int32),
                                     np.asarray(labels, np.int32)))
            self._dur_chunks.append(np.asarray(durations, np.uint32))
        self._synced = top

    def answers(self) -> pd.DataFrame:
        """Every recorded human answer: item_id, worker (name), label, and ``duration``
        (seconds, NaN where not given) once some answer carries one. The copilot's answers
        are in :attr:`suggestions`."""
        self._sync()
        if not self._ans_chunks:
            return pd.DataFrame({"item_id": pd.Series([], dtype=object), "worker": pd.Series([], dtype=object),
                                 "label": pd.Series([], dtype=object)})
        it, wp, lb = (np.concatenate(x) for x in zip(*self._ans_chunks))
        names = np.array([w.name for w in self._workers], dtype=object)
        ids = self.items["item_id"].to_numpy()
        # Columns gathered from the int32 codes; object columns keep the existing str
        # objects (pandas would otherwise copy each row into Arrow, and Arrow-backed
        # isin/to_numpy downstream cost a Python object per row again).
        def col(a: np.ndarray) -> pd.Series:
            return pd.Series(a, dtype=object if a.dtype == object else a.dtype)
        out = pd.DataFrame({"item_id": col(ids[it]), "worker": col(names[wp]),
                            "label": col(np.asarray(self.labels, dtype=object)[lb])})
        ms = np.concatenate(self._dur_chunks) if self._dur_chunks else np.array([], np.uint32)
        if (ms != NO_DURATION).any():  # a column only once some answer carries a signed duration
            out["duration"] = np.where(ms == NO_DURATION, np.nan, ms / 1000.0)
        return out

    # ---------------------------------------------------------------- uploads
    @_serialized
    def upload(self, worker: AccountLike, data: bytes, meta: Mapping[str, Any] | None = None, *,
               item_id: Any = None) -> Upload:
        """Upload one item to a collection task: the platform verifier checks it
        (``tg.verify``), an accepted item is sealed to the owner (``tg.crypto.seal``) and
        stored by the hash of its ciphertext, and the verifier's signed receipt goes
        on the ledger. A rejected upload is receipted but not stored. Returns an
        :class:`Upload`; a bad upload never raises (its verdict says why)."""
        self._require_open("upload")
        self._sync()
        if self.kind != "collection":
            raise TaskStateError("uploads go to collection tasks; classification tasks take answers")
        # One immutable copy for the check, the seal and the journal: a bytearray that another
        # thread changed between them was checked as one text and sealed and paid as another.
        # The same rule as tg.verify.check (a memoryview of a numpy str array was checked as its
        # UTF-32 bytes and receipted as rejected; a uint8 array was refused).
        data = _upload_bytes(data, "upload data")
        acct = self._net.account(worker)
        wpos = self._worker_position(acct, add=self._allowed is None)
        if item_id is None:
            item = self._next_free_slot(wpos)
            if item < 0:
                raise TaskStateError(f"{acct.name} has no open upload slot in this task")
        else:
            item = int(self._item_index.get_indexer([item_id])[0])
            if item < 0:
                raise InvalidArgument(f"unknown item id {item_id!r}")
            if self._allowed is not None and wpos not in self._allowed[item]:
                raise NotAuthorized(f"{acct.name} is not assigned item {item_id!r}")
            if item in self._uploads:
                raise RuleViolation(f"item {item_id!r} already has an accepted upload")
        iid = str(self.items["item_id"].iloc[item])
        verifier = self._net.verifier
        self._net._require_writable("upload")  # (a reader wrote its journal line before the ledger refused)
        # The slot's prompt too: only the first MAX_PROMPT_EXAMPLES prompts are the spec's examples,
        # and none when verify= names its own, so a copy of a later prompt was accepted and paid.
        slot_text = self.items["data"].iloc[item]
        verdict = self._net._verify_engine.check(data, self.data_kind, self.verify_spec, item_id=iid,
                                                 prompt=slot_text if isinstance(slot_text, str) else "")
        registry = self.verify_spec.registry if self.verify_spec is not None else None
        recorded = verdict.status != "rejected"
        h = None
        try:
            if verdict.status != "rejected":
                sealed = crypto.seal(data, [self.owner.public_key])
                h = self._net.store.put(sealed)
                self._net._journal_upload(verdict.sha256, self.id_hex, iid, verdict.features.get("phash"), h,
                                          verdict.features.get("content"))
            receipt = self._net._verify_engine.receipt(verdict, iid, h or bytes(32), task_id=self.id_hex)
            txid = self._net.ledger.record_upload(self.id, verifier, acct, item, h or bytes(32), verdict.status,
                                                  list(verdict.reasons))
            self._own_txids.add(txid)
        except BaseException:
            # The ledger refused the upload (a reputation floor, a closed task...): it blocks no
            # later copy (it used to, for the rest of the session, pointing at an upload that
            # does not exist).
            if recorded and registry is not None:
                registry.forget(verdict.sha256)
            raise
        if recorded and registry is not None:  # a dropped batch drops the upload: it is no original either
            self._net._on_batch_failure(lambda: registry.forget(verdict.sha256))
        up = Upload(iid, acct.name, verdict.status, tuple(verdict.reasons), h, receipt, txid)
        before = (self._uploads.get(item), self._upload_meta.get(item), self._review.get(item))
        self._keep_upload(item, up)
        if meta and up.accepted:  # (the dataset's meta column is the accepted upload's)
            self._upload_meta[item] = dict(meta)
        # A dropped batch leaves the slot as it was: the upload it held used to stay counted,
        # and a partial finalize then minted it into the dataset with no receipt on the ledger.
        self._net._on_batch_failure(lambda: self._restore_slot(item, *before))
        return up

    def _keep_upload(self, item: int, up: Upload) -> None:
        """An accepted upload fills its slot; a needs_review one waits in the review list of a slot
        that no accepted upload fills (the ledger counts only accepted uploads); a rejected one is
        not kept."""
        if up.accepted:
            self._uploads[item] = up
            self._review.pop(item, None)
        elif up.status == "needs_review" and item not in self._uploads:
            self._review[item] = up

    def _restore_slot(self, item: int, upload: Upload | None, meta: dict | None, review: Upload | None = None) -> None:
        if review is None:
            self._review.pop(item, None)
        else:
            self._review[item] = review
        if upload is None:
            self._uploads.pop(item, None)
        else:
            self._uploads[item] = upload
        if meta is None:
            self._upload_meta.pop(item, None)
        else:
            self._upload_meta[item] = meta

    def upload_many(self, uploads: Any, *, progress: bool = True) -> pd.DataFrame:
        """Upload many items: an iterable of ``(worker, data)`` or ``(worker, data, meta)``,
        or a DataFrame with columns ``worker``, ``data`` (and optionally ``meta``). Shows a
        progress bar (tqdm) unless ``progress=False``. Returns one row per upload: item_id,
        worker, status, reasons, ciphertext_hash (None when rejected)."""
        from tqdm.auto import tqdm
        if isinstance(uploads, pd.DataFrame):
            if not {"worker", "data"} <= set(uploads.columns):
                raise InvalidArgument("an uploads DataFrame needs columns worker and data")
            meta = uploads["meta"] if "meta" in uploads.columns else [None] * len(uploads)
            rows = list(zip(uploads["worker"], uploads["data"], meta))
        else:
            rows = [tuple(r) + (None,) * (3 - len(r)) for r in uploads]
        # Every row's data is checked before any is uploaded: a str in row 7 used to raise after
        # rows 0-6 were on the ledger, with no frame of what had been done.
        for i, r in enumerate(rows):
            if not isinstance(r[1], (bytes, bytearray, memoryview)):
                raise InvalidArgument(f"upload_many: row {i}'s data must be bytes, got {type(r[1]).__name__} "
                                      "(nothing was uploaded)")
        out = []
        for worker, data, meta in tqdm(rows, desc="uploads", unit="item", disable=not progress):
            u = self.upload(worker, data, meta)
            out.append({"item_id": u.item_id, "worker": u.worker, "status": u.status, "reasons": list(u.reasons),
                        "ciphertext_hash": u.ciphertext_hash.hex() if u.ciphertext_hash else None})
        return pd.DataFrame(out, columns=["item_id", "worker", "status", "reasons", "ciphertext_hash"])

    def _next_free_slot(self, wpos: int) -> int:
        if self._allowed is None:
            while self._free_cursor < self.n_items and self._free_cursor in self._uploads:
                self._free_cursor += 1
            return self._free_cursor if self._free_cursor < self.n_items else -1
        for i in np.flatnonzero((self._allowed == wpos).any(axis=1)):
            if int(i) not in self._uploads:
                return int(i)
        return -1

    def uploads(self, *, review: bool = True) -> pd.DataFrame:
        """Uploads: item_id, worker, status, reasons, ciphertext hash. The accepted ones (which
        fill their slots, are paid and make the dataset) and, unless ``review=False``, the
        ``needs_review`` ones of slots still open: sealed to the owner and stored, for the owner
        to read (``tg.crypto.open_sealed(net.store.get(...))``); they are not paid and not in
        the dataset, and the slot takes another upload (reassign it, or let the worker upload
        again)."""
        self._sync()
        kept = dict(self._uploads)
        if review:
            kept.update(self._review)
        rows = [{"item_id": u.item_id, "worker": u.worker, "status": u.status, "reasons": list(u.reasons),
                 "ciphertext_hash": u.ciphertext_hash.hex() if u.ciphertext_hash is not None else None}
                for _, u in sorted(kept.items())]
        return pd.DataFrame(rows, columns=["item_id", "worker", "status", "reasons", "ciphertext_hash"])

    # ---------------------------------------------------------------- finalize
    @_serialized
    def finalize(self, method: str | None = None, *, partial: bool = False, **method_options: Any) -> TaskResult:
        """Settle the task on the ledger in one atomic transaction: consensus, payouts,
        reputation, slashes, stake release and the refund of the unspent budget.

        The ledger itself re-executes the settlement with the rules fixed at
        publication (method, policy and rate, slashing, the revealed gold) and refuses
        any other outcome; this call computes the same settlement through the ledger
        and submits it. ``method`` may repeat the published one, not change it.

        Missing answers raise :class:`~tagger.errors.IncompleteTask` naming the items,
        slots and workers; ``partial=True`` (after the deadline, if the task has one)
        settles the answered items only: unanswered items stay out of the labels and
        the dataset, each answer is paid the published rate at most, and the rest of
        the escrow returns to the owner. ``verbose=True`` prints progress.
        """
        self._require_open("finalize")
        verbose = bool(method_options.pop("verbose", False))
        if method is not None and method_name(method) != self.method:
            raise InvalidArgument(f"the task was published with method {self.method!r}; the ledger re-executes that "
                                  f"one, not {method!r}")
        if method_options and method_terms(method_options) != method_terms(self.method_options):
            raise InvalidArgument(f"the task was published with method options {self.method_options}; they cannot "
                                  f"change at finalize (got {method_options})")
        prog = self.progress
        if self.kind == "classification" and not self._ans_chunks:
            raise TaskStateError("cannot finalize: no answers were submitted")
        if self.kind == "collection" and not self._uploads:
            raise TaskStateError("cannot finalize: no accepted uploads")
        if not partial and prog["missing"].sum() > 0:
            miss = prog[prog["missing"] > 0]
            holders = pd.Series([h for row in miss["holders"] for h in row], dtype=object).value_counts()
            who = ", ".join(f"{w} ({n})" for w, n in holders.head(8).items()) or "no one (unassigned)"
            review = sorted(self._review)
            waiting = (f"; {len(review)} of them hold an upload that needs review (item(s) "
                       f"{[str(self.items['item_id'].iloc[i]) for i in review[:5]]}: task.uploads() lists it, unpaid "
                       "and outside the dataset; the slot takes another upload)") if review else ""
            raise IncompleteTask(f"cannot finalize: {len(miss)} of {self.n_items} items miss "
                                 f"{int(miss['missing'].sum())} answer slot(s), held by {who}{waiting}; wait for them, "
                                 f"task.reassign() after the deadline, or finalize(partial=True)")
        if partial and self.deadline and self._net.height + 1 < self.deadline:
            raise TaskStateError(f"a partial finalize waits for the deadline at block {self.deadline} "
                                 f"(the next block is {self._net.height + 1})")
        gold = self._gold_codes()
        if verbose:
            print(f"finalize: settling {int(prog['answered'].sum())} answers with {self.method or 'uploads'} "
                  f"under {self.terms['policy']}")
        settlement = self._net.ledger.settlement(self.id, self._gold_salt, gold, partial)
        df = self._answer_frame()
        payouts_override = None
        if self.discretionary:
            _, probas = self._labels_from(settlement)
            gold_s = self.gold if len(self.gold) and self.kind == "classification" else None
            policy = self.reward_policy or default_policy(self.kind)
            payouts_override = policy.apply(df, probas, gold_s, self.escrow)
            payouts_override = payouts_override[payouts_override > 0]
        settled = self._net.ledger.finalize_settled(self.id, self.owner, settlement, gold_salt=self._gold_salt,
                                                    gold=gold, partial=partial,
                                                    payouts=None if payouts_override is None else
                                                    {w: int(v) for w, v in payouts_override.items()})
        pay = (settlement["payouts"] if payouts_override is None else
               [(self._net.account(w).address_bytes, int(v)) for w, v in payouts_override.items()])
        self.result = self._result(df, settlement, pay, settlement["reputation"], settlement["slashes"],
                                   partial=partial, refund=int(settled["refund"]), txid=settled["txid"],
                                   result_hash=bytes(settlement["result_hash"]))
        return self.result

    def _result(self, df: pd.DataFrame, settlement: Mapping[str, Any], payouts: Any, reputation: Any, slashes: Any,
                *, partial: bool, refund: int, txid: bytes, result_hash: bytes) -> TaskResult:
        """The TaskResult of a settlement (labels and posterior) and the amounts its finalize
        transaction carried: (address, amount) payouts and slashes, (address, correct,
        incorrect) reputation counts."""
        labels, probas = self._labels_from(settlement)
        consensus_labels = labels if self.kind == "classification" else None
        gold_s = self.gold if len(self.gold) and self.kind == "classification" else None
        names = {w.address_bytes: w.name for w in self._workers}
        name = lambda a: names.get(bytes(a), address_str(bytes(a)))  # noqa: E731
        pay = pd.Series({name(a): int(v) for a, v in payouts}, dtype=np.int64)
        rep = pd.DataFrame([(name(a), int(c), int(i)) for a, c, i in reputation],
                           columns=["worker", "correct", "incorrect"]).set_index("worker")
        after = pd.DataFrame([self._net.reputation(w) for w in rep.index], index=rep.index, columns=["alpha", "beta"])
        before = after - rep[["correct", "incorrect"]].to_numpy()
        slashed = pd.Series({name(a): int(v) for a, v in slashes}, dtype=np.int64)
        slashed = slashed.reindex(rep.index, fill_value=0).astype(np.int64)
        wq = self._worker_quality(df, consensus_labels, None, before, after, pay, slashed, gold_s)
        if self.terms.get("fraud_alpha_ppm", 0):
            wq["flagged"] = wq.index.isin([name(a) for a in settlement.get("flagged", [])])
        stats: dict[str, Any] = {"answers": len(df), "items": len(labels), "workers": len(wq),
                                 "partial": bool(partial), "result_hash": result_hash.hex()}
        if probas is not None and len(probas):
            stats["mean_confidence"] = float(probas.max(axis=1).mean())
        if gold_s is not None:
            on = df["task"].isin(gold_s.index).to_numpy()
            if on.any():
                stats["answer_accuracy_on_controls"] = float(
                    (df["label"].to_numpy()[on] == gold_s.reindex(df["task"][on]).to_numpy()).mean())
        return TaskResult(method=self.method or "uploads", labels=labels, probas=probas, worker_quality=wq,
                          payouts=pay, slashed=slashed, refund=refund, txid=txid, stats=stats)

    @_serialized
    def fraud_report(self, *, funding: bool = True, **thresholds: Any) -> pd.DataFrame:
        """Screens this task's workers with the anti-fraud rules
        (:func:`tagger.consensus.fraud_report`): too-fast answers, control-item
        failure, random and constant-label spammers, colluding groups and Sybil
        funding, one row per worker with its flags and their evidence.

        The consensus is the one the ledger computes for this task's published
        method (the settled labels once finalized), the control items are the
        task's gold, and ``funding=True`` reads each worker's first incoming
        transfer from the ledger for the Sybil rule. The ``fast`` rule reads the
        durations signed with the answers (``duration`` in :meth:`submit_many`;
        ``n_timed == 0`` where none was given). Thresholds are keywords of
        :class:`tagger.consensus.FraudRules` (``alpha=0.05``); the default ``alpha``
        is the one the task published (``fraud=``), whose spammer, colluder,
        control_fail and fast flags the ledger applies at finalize."""
        if self.kind != "classification":
            raise InvalidArgument("fraud_report screens labeling (classification) tasks: a collection task's "
                                  "uploads are checked by the verifier instead")
        df = self._answer_frame()
        if df.empty:
            raise InvalidArgument(f"task {self.title!r} has no answers to screen yet")
        partial = self.result is None and self.status == "open"
        settlement = self._net.ledger.settlement(self.id, self._gold_salt, self._gold_codes(), partial)
        consensus, _ = self._labels_from(settlement)
        gold = self.gold if len(self.gold) else None
        funders = self._net.first_fundings(df["worker"].unique().tolist()) if funding else None
        published = self.terms.get("fraud_alpha_ppm", 0)
        if published and "rules" not in thresholds:
            thresholds.setdefault("alpha", published / 1e6)
        return consensus_fraud_report(df, consensus, gold=gold, funding=funders, **thresholds)

    def _canonical_answers(self) -> pd.DataFrame:
        """The answers as task, worker, label in a canonical order (item position, then worker
        address), whatever order this session met them in: a ranking on them is the same in the
        session that submitted the answers and in one that reopened the market (before, near
        ties broke by row order, and the two picked different items to extend)."""
        df = self._answer_frame()
        it, wp, _ = (np.concatenate(x) for x in zip(*self._ans_chunks))
        by_address = sorted(range(len(self._workers)), key=lambda p: self._workers[p].address_bytes)
        rank = np.empty(len(self._workers), dtype=np.int64)
        rank[by_address] = np.arange(len(by_address))
        return df.iloc[np.lexsort((rank[wp], it))].reset_index(drop=True)

    def _answer_frame(self) -> pd.DataFrame:
        """Answers (or accepted uploads) as the columns task, worker, label."""
        if self.kind == "classification":
            return self.answers().rename(columns={"item_id": "task"})
        ups = self.uploads(review=False)
        return pd.DataFrame({"task": ups["item_id"], "worker": ups["worker"], "label": ups["status"]})

    def _labels_from(self, settlement: Mapping[str, Any]) -> tuple[pd.Series, pd.DataFrame | None]:
        """The settled labels (answered items only) and, for labeling, the posterior."""
        codes = np.asarray(settlement["labels"])
        done = codes >= 0
        ids = self.items["item_id"].to_numpy()[done]
        if self.kind == "collection":
            status = {u.item_id: u.status for u in self._uploads.values()}
            return pd.Series([status[str(i)] for i in ids], index=ids, name="status", dtype=object), None
        label_list, _ = self._classification_labels()
        lab = np.asarray(label_list, dtype=object)[codes[done]]
        ppm = np.asarray(settlement["posterior_ppm"])[done]
        probas = pd.DataFrame(ppm / 1e6, index=pd.Index(ids, name="task"), columns=list(label_list))
        return pd.Series(lab, index=pd.Index(ids, name="task"), name="agg_label"), probas

    @_serialized
    def result_from_ledger(self) -> TaskResult | None:
        """Rebuild :attr:`result` of a task finalized in an earlier session, from its finalize
        transaction (payouts, slashes, gold reveal) and the answers on the ledger."""
        info = _onchain(self._net, self.id)
        if info["status"] != "finalized":
            return None
        for h in range(self._net.height, 0, -1):
            for tx in self._net.block(h).transactions:
                f = tx.fields
                if tx.kind != "finalize" or bytes(f["task"]) != self.id:
                    continue
                gold = [(int(i), int(l)) for i, l in f.get("gold", [])]
                # The settlement's labels depend only on the answers and the gold; its
                # amounts are the transaction's.
                s = self._net.ledger.settlement(self.id, bytes(f["gold_salt"]), gold, bool(f["partial"]))
                refund = info["budget"] + sum(int(v) for _, v in f["slashes"]) - sum(int(v) for _, v in f["payouts"])
                self.result = self._result(self._answer_frame(), s, f["payouts"], f["reputation"], f["slashes"],
                                           partial=bool(f["partial"]), refund=refund, txid=tx.txid,
                                           result_hash=bytes(f["result_hash"]))
                return self.result
        return None

    def _stake_left(self, worker: str) -> int:
        st = self._net.ledger.stake_of(worker, self.id)
        return 0 if st is None else int(st["amount"])

    def _worker_quality(self, df, consensus_labels, skills, before, after, payouts, slashed, gold) -> pd.DataFrame:
        g = df.groupby("worker")
        out = pd.DataFrame({"n_answers": g.size()})
        if consensus_labels is not None:
            agree = df["label"].to_numpy() == consensus_labels.reindex(df["task"]).to_numpy()
            out["agreement"] = pd.Series(agree, index=df.index).groupby(df["worker"]).mean()
        else:
            out["agreement"] = 1.0
        out["skill"] = skills.reindex(out.index).astype(float) if skills is not None else out["agreement"]
        if gold is not None:
            on_gold = df["task"].isin(gold.index).to_numpy()
            ok = df["label"].to_numpy()[on_gold] == gold.reindex(df["task"][on_gold]).to_numpy()
            acc = pd.Series(ok, index=df.index[on_gold]).groupby(df["worker"][on_gold]).mean()
            out["control_accuracy"] = acc.reindex(out.index)
        out["reputation_before"] = [(a + 1) / (a + b + 2) for a, b in before.reindex(out.index).to_numpy()]
        out["reputation_after"] = [(a + 1) / (a + b + 2) for a, b in after.reindex(out.index).to_numpy()]
        out["payout"] = payouts.reindex(out.index, fill_value=0).astype(np.int64)
        out["slashed"] = slashed.reindex(out.index, fill_value=0).astype(np.int64)
        out.index.name = "worker"
        return out

    # ---------------------------------------------------------------- NFT
    @_serialized
    def mint_nft(self, license: str = "CC-BY-4.0", *, royalty_bps: int = 1_000, name: str | None = None,
                 description: str | None = None) -> "DatasetNFT":
        """Mint the dataset NFT (owner only, once, after :meth:`finalize`).

        The manifest commits to a Merkle root over (item id, item commitment, final
        label), the contributors with their weights (share of the payouts, in basis
        points), the license and the consensus statistics; ``royalty_bps`` of every later
        sale is split among the contributors by those weights. The dataset itself is
        sealed to the owner and stored; the NFT carries the owner's key grant.
        """
        if self.result is None:
            raise TaskStateError("mint_nft: finalize the task first")
        if self.nft is not None:
            raise RuleViolation("mint_nft: this task's NFT was already minted")
        self.nft = mint_dataset_nft(self, license=license, royalty_bps=royalty_bps, name=name,
                                    description=description)
        return self.nft

    def dataset_frame(self) -> pd.DataFrame:
        """The rows the NFT's dataset holds (owner-side view, before sealing)."""
        if self.result is None:
            raise TaskStateError("the dataset exists once the task is finalized")
        if self.kind == "classification":
            # Only settled items: a partial finalize leaves the unanswered ones out.
            rows = self.items[self.items["item_id"].isin(self.result.labels.index)]
            lab = self.result.labels.reindex(rows["item_id"])
            conf = (self.result.probas.max(axis=1).reindex(rows["item_id"]).to_numpy()
                    if self.result.probas is not None else np.ones(len(lab)))
            return pd.DataFrame({"item_id": rows["item_id"].astype(str).to_numpy(),
                                 "data": rows["data"].to_numpy(),
                                 "label": lab.astype(object).to_numpy(),
                                 "confidence": conf})
        ups = self.uploads(review=False)  # (a needs_review upload went into the dataset, labelled so, unpaid)
        data = [crypto.open_sealed(self._net.store.get(bytes.fromhex(h)), self.owner.sealing_key)
                for h in ups["ciphertext_hash"]]
        import json
        meta = [json.dumps(self._upload_meta.get(i, {}), sort_keys=True, default=str) for i in sorted(self._uploads)]
        return pd.DataFrame({"item_id": ups["item_id"].astype(str).to_numpy(), "data": data,
                             "label": ups["status"].to_numpy(), "worker": ups["worker"].to_numpy(),
                             "ciphertext_hash": ups["ciphertext_hash"].to_numpy(), "meta": meta})

    # ---------------------------------------------------------------- reprs
    def __repr__(self) -> str:
        cats = ", ".join(f"{c} ({s:.2f})" for c, s in self.categories[:3])
        terms = self.terms
        rules = f"method={self.method!r}, " if self.method else ""
        rules += f"policy={terms['policy']!r}, rate={format_tag(int(terms['rate']))}/answer"
        if self.deadline:
            rules += f", deadline=block {self.deadline}"
        return (f"Task({self.title!r}, kind={self.kind!r}, items={self.n_items}, overlap={self.overlap}, "
                f"budget={format_tag(self.budget)}, {rules}, status={self.status!r}, categories=[{cats}])")

    def _repr_html_(self) -> str:
        rows: list[list[object]] = [["id", self.id_hex[:16] + "…"], ["kind", self.kind], ["items", self.n_items],
                ["control items", len(self.gold)], ["overlap", self.overlap], ["labels", self.labels],
                ["budget", format_tag(self.budget)], ["escrow left", format_tag(self.escrow)],
                ["stake", format_tag(self.stake)], ["status", self.status],
                ["rules (re-executed by the ledger)",
                 f"{self.method or 'uploads'} · {self.terms['policy']} · {format_tag(self.rate)} per answer"
                 + (" · owner-discretionary payouts" if self.discretionary else "")],
                ["deadline", f"block {self.deadline}" if self.deadline else "none"],
                ["categories", ", ".join(f"{c} ({s:.2f})" for c, s in self.categories[:3])],
                ["workers", len(self._workers)], ["answers", sum(len(c[0]) for c in self._ans_chunks)],
                ["uploads", len(self._uploads)]]
        return html_table(f"Task: {self.title}", ["", ""], rows)


def _onchain(net: "Network", task_id: bytes) -> dict[str, Any]:
    """A published task's record on the ledger (status, escrow, ...); CorruptLedger if it is not there."""
    info = net.ledger.task(task_id)
    if info is None:
        raise CorruptLedger(f"task {bytes(task_id).hex()[:16]}… is not on the ledger")
    return info


def _gold_codes(item_index: pd.Index, labels: Sequence[Any] | None, gold: pd.Series,
                kind: str) -> list[tuple[int, int]]:
    """The control items as sorted (item position, label index) pairs: what the gold
    commitment covers and the finalize reveals (label 0 for a collection task)."""
    if not len(gold):
        return []
    items = item_index.get_indexer(gold.index)
    if kind == "classification":
        codes = pd.Index(list(labels or [])).get_indexer(pd.Index(gold.to_numpy()))
    else:
        codes = np.zeros(len(items), dtype=np.int64)
    return sorted(zip(items.tolist(), codes.tolist()))


def _grants(slots: np.ndarray, accts: Sequence[Account]) -> dict[AccountLike, list[int]]:
    """worker name -> the items (rows of ``slots``) it holds."""
    rows, cols = np.nonzero(slots >= 0)
    who = slots[rows, cols]
    out: dict[AccountLike, list[int]] = {}
    order = np.argsort(who, kind="stable")
    for j, items in zip(*_split_runs(who[order], rows[order])):
        out[accts[int(j)].name] = items.tolist()
    return out


def _split_runs(keys: np.ndarray, values: np.ndarray) -> tuple[list, list]:
    if len(keys) == 0:
        return [], []
    cut = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return [k[0] for k in np.split(keys, cut)], np.split(values, cut)


def _capacities(capacity: Any, accts: Sequence[Account], verb: str) -> np.ndarray | None:
    """``capacity`` as one int64 per worker of ``accts`` (None stays None: the caller's
    default): one int for all, exactly one int >= 0 per worker in list order, or a pandas
    Series or a dict of them by worker name."""
    if capacity is None:
        return None
    m = len(accts)
    if isinstance(capacity, pd.Series) and isinstance(capacity.index, pd.RangeIndex):
        capacity = capacity.tolist()  # unlabelled: in list order, as tg.match.assign reads it
    elif isinstance(capacity, (pd.Series, Mapping)):
        # By worker, as tg.match.assign reads a Series by label: read by position, a Series
        # {"cat": 0, "amy": 3, "bob": 3} gave amy's 0 to the first worker listed. A key is
        # what workers= takes: a name, an address or the Account itself.
        keys = list(capacity.index) if isinstance(capacity, pd.Series) else list(capacity.keys())
        values = list(capacity.to_numpy()) if isinstance(capacity, pd.Series) else list(capacity.values())
        where = _worker_positions(keys, accts, verb, "capacity")
        if len(set(where)) < len(where):
            j = next(j for j in where if where.count(j) > 1)
            raise InvalidArgument(f"{verb}: capacity gives worker {accts[j].name!r} more than one value")
        if len(where) < m:
            missing = [a.name for j, a in enumerate(accts) if j not in set(where)]
            raise InvalidArgument(f"{verb}: capacity by worker misses {missing[:5]}")
        capacity = [values[where.index(j)] for j in range(m)]
    if np.ndim(capacity) > 1:
        raise InvalidArgument(f"{verb}: capacity must be an int or one int per worker, not a {np.ndim(capacity)}-d array")
    values = [capacity] if np.ndim(capacity) == 0 else list(capacity)
    if np.ndim(capacity) == 1 and len(values) != m:
        raise InvalidArgument(f"{verb}: capacity has {len(values)} values for {m} workers (give one int, or one per worker)")
    for j, v in enumerate(values):
        at = f" (workers[{j}])" if np.ndim(capacity) == 1 else ""
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise InvalidArgument(f"{verb}: capacity must be an int or one int per worker, got {v!r}{at}")
        if int(v) < 0:
            raise InvalidArgument(f"{verb}: capacity must be >= 0 for every worker, got {v!r}{at}")
        if int(v) > 2**63 - 1:
            raise InvalidArgument(f"{verb}: capacity must be at most 2**63 - 1, got {v!r}{at}")
    return np.broadcast_to(np.array([int(v) for v in values], dtype=np.int64), (m,)).copy()


def _worker_positions(keys: Sequence[Any], accts: Sequence[Account], verb: str, what: str) -> list[int]:
    """Positions in ``accts`` of ``keys`` (an Account, its name or its address); InvalidArgument
    naming a key that is none of the listed workers, or a name two of them share."""
    by_key: dict[Any, int] = {}
    shared: set[str] = set()
    for j, a in enumerate(accts):
        if a.name in by_key:
            shared.add(a.name)
        by_key[a.name] = j
        by_key[a.address] = j
        by_key[a.address_bytes] = j
    out = []
    for k in keys:
        key = k.address if isinstance(k, Account) else k
        if isinstance(key, str) and key in shared:
            raise InvalidArgument(f"{verb}: {what} names {key!r}, but two listed workers have that name; key it by "
                                  "address or Account")
        try:
            out.append(by_key[key])
        except (KeyError, TypeError):
            raise InvalidArgument(f"{verb}: {what} names {k!r}, which is not one of the listed workers "
                                  f"({[a.name for a in accts[:5]]}{', ...' if len(accts) > 5 else ''})") from None
    return out


def _per_item_assignment(s: np.ndarray, need: np.ndarray, cap: np.ndarray, ex: np.ndarray) -> np.ndarray:
    """Item i gets at most ``need[i]`` distinct workers (those ``ex`` allows), filling as many
    slots as capacities allow, best suitability ``s`` (one per worker) among those; int
    [n_items, max(need)] worker indices, -1 where empty.

    The solver fills every item to one overlap. Solving all at the widest need and cutting
    rows to ``need[i]`` spent capacity on slots that were then thrown away (4 of 5 slots
    granted where 5 could be). Instead item i is padded by width - need[i] filler columns,
    allowed on it alone and more suitable than any worker: a maximum assignment of best
    suitability uses them all (swapping a worker for a free filler never lowers either), so
    the workers fill exactly the most slots the needs allow."""
    n, m = ex.shape
    width = int(need.max())
    pad = width - 1
    fill_ok = np.arange(pad)[None, :] < (width - need)[:, None]
    suit = np.hstack([np.broadcast_to(s, (n, m)), np.full((n, pad), float(s.max(initial=0.0)) + 1.0)])
    r = solve_assignment(suit, width, np.concatenate([cap, np.full(pad, n, dtype=np.int64)]),
                         np.hstack([ex, ~fill_ok]), partial=True)
    return np.where(r.workers < m, r.workers, -1)


def _shortfall_error(verb: str, item_shortfall: np.ndarray, item_ids: pd.Series, why: str = "") -> InfeasibleAssignment:
    """InfeasibleAssignment with ``shortfall`` (slots no assignment can fill), ``items``
    (positions in ``task.items`` of the items left short) and ``item_shortfall`` (per item)."""
    short = np.flatnonzero(item_shortfall)
    ids = item_ids.to_numpy()[short[:10]].tolist()
    shown = ", ".join(map(repr, ids)) + (", ..." if len(short) > 10 else "")
    total = int(item_shortfall.sum())
    err = InfeasibleAssignment(f"{verb}: demand exceeds what the workers can cover by {total} slot(s) "
                               f"({len(short)} item(s) short, item_id {shown}){why}; partial=True assigns the "
                               "slots that can be filled")
    err.shortfall = total
    err.items = short
    err.item_shortfall = np.asarray(item_shortfall, dtype=np.int64)
    return err


def _exclusion_mask(exclude: Any, n_items: int, accts: Sequence[Account], verb: str) -> np.ndarray | None:
    """``exclude`` (pairs, a boolean mask or a sparse matrix; see :func:`tagger.match.assign`)
    as a boolean mask [n_items, m] whose rows are item positions and columns the workers
    in the order the caller listed them; None when nothing is excluded (an empty list or an
    all-False mask too: the exact rule without exclusions is linear, the solver is not)."""
    if exclude is None:
        return None
    m = len(accts)
    if isinstance(exclude, pd.DataFrame):
        exclude = _exclude_frame_by_worker(exclude, n_items, accts, verb)
    pairs = match._exclude_pairs(exclude, n_items, m)
    if not len(pairs):
        return None
    mask = np.zeros((n_items, m), dtype=bool)
    mask[pairs[:, 0], pairs[:, 1]] = True
    return mask


def _exclude_frame_by_worker(frame: pd.DataFrame, n_items: int, accts: Sequence[Account], verb: str) -> Any:
    """A task's exclude frame with its workers named as workers= names them (a name, an address
    or an Account) made positional: tg.match reads a frame by the suitability frame's labels,
    and a task has no suitability frame, so a frame of worker names was refused. Items are
    positions in ``task.items``; a frame of positions passes as it is."""
    cols = list(frame.columns)
    if sorted(map(str, cols)) == ["item", "worker"] and {"item", "worker"} <= set(cols):
        w = frame["worker"]
        if pd.api.types.is_numeric_dtype(w.dtype) and not pd.api.types.is_bool_dtype(w.dtype):
            return frame
        return pd.DataFrame({"item": frame["item"].to_numpy(),
                             "worker": _worker_positions(w.tolist(), accts, verb, "exclude")})
    if len(cols) and all(pd.api.types.is_bool_dtype(t) for t in frame.dtypes) \
            and not isinstance(frame.columns, pd.RangeIndex):
        where = _worker_positions(cols, accts, verb, "exclude")
        if sorted(where) != list(range(len(accts))):
            missing = [a.name for j, a in enumerate(accts) if j not in set(where)]
            raise InvalidArgument(f"{verb}: a boolean exclude frame needs one column per listed worker; "
                                  f"missing {missing[:5]}")
        order = np.argsort(where)
        return pd.DataFrame(frame.to_numpy(dtype=bool)[:, order])
    return frame


def _canonical_order(accts: Sequence[Account]) -> np.ndarray:
    keys = sorted(range(len(accts)), key=lambda j: (accts[j].name, accts[j].address_bytes))
    return np.asarray(keys, dtype=np.int64)


def _rank_one_assignment(s: np.ndarray, overlap: int, cap: np.ndarray, n_items: int, *,
                         partial: bool) -> np.ndarray:
    """Exact optimum when suitability depends on the worker only (s_ij = s_j) and no
    pair is excluded: fill the best workers to capacity (each at most n_items, one
    slot per item) until the n_items*overlap slots are covered, then deal the slots
    out item-major so that no worker gets an item twice. Equally suitable workers
    share the load evenly (water-filling; any remainder one slot each, in the given
    order): a tie never leaves one of them idle while another works more. Linear
    time; used when the dense matrix would be too large for the min-cost-flow solver."""
    cap = np.minimum(cap, n_items).astype(np.int64)
    demand = n_items * overlap
    if cap.sum() < demand and not partial:
        raise InfeasibleAssignment(f"demand exceeds what the workers can cover by {demand - int(cap.sum())} slot(s)")
    load = _water_fill(s, demand, cap)
    order = np.argsort(-s, kind="stable")
    # Workers in order of suitability, each a consecutive run.
    seq = np.repeat(order, load[order]).astype(np.int32)
    out = np.full(demand, -1, dtype=np.int32)
    # Slot k goes to item k % n_items, position k // n_items: a worker's run of length
    # <= n_items covers distinct items.
    out[:len(seq)] = seq
    return out.reshape(overlap, n_items).T.copy()


def _water_fill(s: np.ndarray, demand: int, cap: np.ndarray) -> np.ndarray:
    """Per-worker loads that cover ``demand`` slots (or all of ``cap`` when it is less) best
    workers first, equally suitable workers evenly: the level L of a tie group is the
    smallest with sum(min(cap, L)) >= what is left; any remainder one slot each, in order."""
    order = np.argsort(-s, kind="stable")
    load = np.zeros_like(cap)
    rem = demand
    start = 0
    while rem > 0 and start < len(order):
        end = start
        while end < len(order) and s[order[end]] == s[order[start]]:
            end += 1
        group = order[start:end]
        gcap = cap[group]
        if gcap.sum() <= rem:
            load[group] = gcap
            rem -= int(gcap.sum())
        else:
            # The smallest level L with sum(min(cap, L)) >= rem; everyone gets min(cap, L - 1),
            # the rest one more each in order.
            lo, hi = 0, int(gcap.max())
            while lo < hi:
                mid = (lo + hi) // 2
                if np.minimum(gcap, mid).sum() >= rem:
                    hi = mid
                else:
                    lo = mid + 1
            base = np.minimum(gcap, lo - 1)
            extra = rem - int(base.sum())
            bump = np.flatnonzero(gcap >= lo)[:extra]
            base[bump] += 1
            load[group] = base
            rem = 0
        start = end
    return load


def _balanced_assignment(s: np.ndarray, overlap: int, cap: np.ndarray, ex: np.ndarray) -> np.ndarray:
    """The exact min-cost-flow optimum with exclusions ``ex`` [n_items, n_workers] for a
    suitability ``s`` that depends on the worker only, with ties shared (:func:`_share_ties`).
    Slots no assignment can fill are -1."""
    n, m = ex.shape
    best = solve_assignment(np.broadcast_to(s, (n, m)), overlap, cap, ex, partial=True)
    w = np.array(best.workers, dtype=np.int32)
    _share_ties(w, s, cap, ex)
    return w


def _share_ties(w: np.ndarray, s: np.ndarray, cap: np.ndarray, ex: np.ndarray) -> None:
    """Even out, in place, the loads of equally suitable workers in the assignment ``w``
    [n_items, overlap] (worker indices, -1 empty) without changing what it fills or its
    suitability.

    The solver breaks ties arbitrarily: one of four equal workers took all 8 items, or took
    everything the one worker forced to work more did not. Handing an item from a worker to
    one exactly as suitable keeps the objective, so within each group of equal ``s`` items are
    passed along a chain A -> ... -> B (each link: an item its giver holds and its taker may
    take and does not hold; the workers between give one and take one) while load(A) -
    load(B) >= 2 and B has capacity left. Each step lowers the sum of squared loads, so it
    ends, and when it does no such chain is left: no equal worker could take work off a
    busier one. Everything runs in a fixed order, so the result depends on the input only."""
    order = np.argsort(-s, kind="stable")
    cut = np.flatnonzero(s[order][1:] != s[order][:-1]) + 1
    for group in np.split(order, cut):
        if len(group) > 1:
            _balance_group(w, np.sort(group), cap, ex)


def _balance_group(w: np.ndarray, group: np.ndarray, cap: np.ndarray, ex: np.ndarray) -> None:
    n, m = ex.shape
    k = len(group)
    col = np.full(m + 1, -1, dtype=np.int64)  # the last entry answers the -1 of an empty slot
    col[group] = np.arange(k)
    held = np.zeros((n, k), dtype=bool)
    r, c = np.nonzero(col[w] >= 0)
    held[r, col[w[r, c]]] = True
    may = ~ex[:, group]

    def links(rows: np.ndarray) -> np.ndarray:
        # links[x, y]: how many of these items x holds and y may take and does not hold.
        h = held[rows].astype(np.float64)
        return h.T @ ((~held[rows]) & may[rows]).astype(np.float64)

    count = links(np.arange(n))
    load = held.sum(axis=0).astype(np.int64)
    room = cap[group].astype(np.int64) - load
    while True:
        path = _tie_chain(count, load, room)
        if path is None:
            return
        a, b = path[0], path[-1]
        d = min((int(load[a]) - int(load[b])) // 2, int(room[b]),
                min(int(count[x, y]) for x, y in zip(path, path[1:])))
        for x, y in zip(path, path[1:]):
            rows = np.flatnonzero(held[:, x] & ~held[:, y] & may[:, y])[:d]
            count -= links(rows)
            held[rows, x] = False
            held[rows, y] = True
            count += links(rows)
            hit = w[rows] == group[x]
            w[rows] = np.where(hit, group[y], w[rows])
        load[a] -= d
        load[b] += d
        room[a] += d
        room[b] -= d


def _tie_chain(count: np.ndarray, load: np.ndarray, room: np.ndarray) -> list[int] | None:
    """The chain A -> ... -> B of :func:`_share_ties` from the busiest worker that has one, to
    the least loaded worker it reaches (fewest links, then the first in order); None if none."""
    k = len(load)
    for a in np.argsort(-load, kind="stable").tolist():
        parent = np.full(k, -1, dtype=np.int64)
        parent[a] = a
        frontier = [a]
        reached: list[int] = []
        while frontier:
            nxt = []
            for x in frontier:
                new = np.flatnonzero((count[x] > 0) & (parent < 0))
                parent[new] = x
                nxt.extend(new.tolist())
            reached.extend(nxt)
            frontier = nxt
        ok = [y for y in reached if room[y] > 0 and load[y] <= load[a] - 2]
        if ok:
            b = min(ok, key=lambda y: load[y])  # min keeps the first of equal loads: BFS order
            path = [b]
            while path[-1] != a:
                path.append(int(parent[path[-1]]))
            return path[::-1]
    return None


def _items_frame(items: Any, kind: str) -> pd.DataFrame:
    if kind == "collection" and isinstance(items, (int, np.integer)) and not isinstance(items, bool):
        if items <= 0:
            raise InvalidArgument("a collection task needs at least one item slot")
        return pd.DataFrame({"item_id": np.arange(int(items)), "data": [""] * int(items)})
    if items is None:
        raise InvalidArgument("items are required (the texts to label, or for collection the slots to fill)")
    if isinstance(items, pd.DataFrame):
        if not {"item_id", "data"} <= set(items.columns):
            raise InvalidArgument("an items DataFrame needs columns item_id and data")
        frame = items[["item_id", "data"]].reset_index(drop=True)
    elif isinstance(items, pd.Series):
        idx = items.index
        ids = np.arange(len(items)) if isinstance(idx, pd.RangeIndex) else idx.to_numpy()
        frame = pd.DataFrame({"item_id": ids, "data": items.to_numpy()})
    elif isinstance(items, (str, bytes)):
        raise InvalidArgument("items must be a sequence of items, not a single string")
    else:
        data = list(items)
        frame = pd.DataFrame({"item_id": np.arange(len(data)), "data": pd.Series(data, dtype=object)})
    if len(frame) == 0:
        raise InvalidArgument("items is empty")
    if frame["item_id"].duplicated().any():
        raise InvalidArgument(f"item ids must be unique; repeated: {list(frame['item_id'][frame['item_id'].duplicated()][:5])}")
    if frame["data"].isna().any():
        raise InvalidArgument(f"items has missing values (rows {list(np.flatnonzero(frame['data'].isna())[:5])})")
    return frame


# Item texts of a collection task used as relevance examples of its uploads (the first distinct ones).
MAX_PROMPT_EXAMPLES = 32


def _reopened_spec(net: "Network", description: str, cats: Sequence[tuple[str, float]], frame: pd.DataFrame,
                   verify: dict[str, Any], task_id: str) -> VerifySpec:
    """The upload check of a stored collection task. A spec refused since it was published
    (a description without letters and no other reference: refused from 2026-12-07) must not
    make the market unloadable: the task reopens with relevance off, as it effectively was."""
    try:
        return _collection_spec(net, description, cats, frame, verify, task_id=task_id)
    except InvalidArgument as e:
        if "text_scripts" in str(e) and "text_scripts" in verify:
            # Refused when built since 2026-12-07 (an empty list or an unknown name raised out
            # of every check instead): the task reopens with the default scripts.
            warnings.warn(f"collection task {task_id[:12]}: {e}; it reopens with the default text_scripts",
                          UserWarning, stacklevel=outside_tagger())
            rest = {k: v for k, v in verify.items() if k != "text_scripts"}
            return _reopened_spec(net, description, cats, frame, rest, task_id)
        if "has no letters" not in str(e):
            raise
        warnings.warn(f"collection task {task_id[:12]}: {e}; it reopens with relevance_threshold=None", UserWarning,
                      stacklevel=outside_tagger())
        return _collection_spec(net, description, cats, frame, {**verify, "relevance_threshold": None}, task_id=task_id)


def _collection_spec(net: "Network", description: str, cats: Sequence[tuple[str, float]], frame: pd.DataFrame,
                     verify: Mapping[str, Any], task_id: str = "") -> VerifySpec:
    """The upload check of a collection task: the description and best category, and, unless
    ``verify`` names its own ``examples``, the items' texts (the prompts the slots ask uploads
    about) as relevance examples. A description alone says little about what an upload reads
    like ("Write a message a customer might send ..."): with it alone, two of the four genuine
    messages of notebooks/02_marketplace.ipynb fell below the calibrated threshold, with the
    prompts as examples none did and the off-topic ones still do (docs/verification.md)."""
    # task_id: the registry tells a copy within the task from one of another task by it (with
    # "" for every task, a copy from another task read as duplicate_in_task of a slot id
    # that every task has).
    opts: dict[str, Any] = {"description": description, "category": cats[0][0] if cats else "",
                            "registry": net.dedup}
    if "examples" not in verify:
        prompts = list(dict.fromkeys(t.strip() for t in frame["data"] if isinstance(t, str) and t.strip()))
        if prompts:
            opts["examples"] = prompts[:MAX_PROMPT_EXAMPLES]
    opts.update(verify)
    opts["task_id"] = task_id
    return VerifySpec(**opts)


def _task_categories(title: str, description: str, k: Any) -> list[tuple[str, float]]:
    """The ``k`` best categories of the task, matched on ``"{title}. {description}"``; when
    that text fails the strict check (no letters, mostly another script) but the title alone
    passes, matched on the title, so a task whose title has words publishes with any
    description (docs/matching.md). Raises when neither can be matched."""
    if k is None:
        return []
    index = match.CategoryIndex.default()
    n = len(index)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        # Checked here: top_k named its own argument ("k must be ..."), and a k above the
        # catalog's size quietly stored every category.
        raise InvalidArgument(f"categories must be an int in [0, {n}] (the catalog has {n} categories), got {k!r}")
    k = int(k)
    if not k:
        return []
    both = f"{title}. {description}"
    try:
        match.validate_text(both, "the title with the description")
    except InvalidArgument as e:
        # An English title with a long Russian description was refused as a "description
        # in an unsupported script", against the documented promise.
        try:
            match.validate_text(title, "title")
        except InvalidArgument:
            raise e from None
        return list(index.top_k(title, k=k))
    return list(index.top_k(both, k=k))


def default_policy(kind: str):
    """ConsensusAccuracy for labeling; Flat (per accepted upload) for collection,
    which has no consensus posterior to pay by."""
    return rewards.ConsensusAccuracy() if kind == "classification" else rewards.Flat()


def build_task(net: "Network", owner: AccountLike, title: str, description: str, *, kind: str, labels: Any,
               items: Any, overlap: int, budget: int, reward_policy: Any, stake: int, gold: Any,
               control_share: float, batch_size: int, data_kind: str, verify: Any, n_categories: int,
               seed: int, method: str | None = None, method_options: Mapping[str, Any] | None = None,
               slashing: Any = "default", deadline: int | None = None, expiry_slash_bps: int = 0,
               fraud: Any = None, copilot: Any = None, adaptive: Any = None, min_reputation: Any = None) -> Task:
    """Validate, match, lock the escrow and return the Task (used by Network.publish_task)."""
    acct = net.account(owner)
    for name, text in (("title", title), ("description", description)):
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument(f"{name} must be a non-empty string")
    if kind not in KINDS:
        raise InvalidArgument(f"kind must be one of {KINDS}, got {kind!r}")
    if data_kind not in DATA_KINDS:
        raise InvalidArgument(f"data_kind must be one of {DATA_KINDS}, got {data_kind!r}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
        raise InvalidArgument(f"budget must be a positive int of base units, got {budget!r}")
    if isinstance(stake, bool) or not isinstance(stake, (int, np.integer)) or stake < 0:
        raise InvalidArgument(f"stake must be an int >= 0 of base units, got {stake!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 1:
        raise InvalidArgument(f"overlap must be an int >= 1, got {overlap!r}")
    if kind == "collection":
        overlap = 1
        labels = None
    else:
        if labels is None or isinstance(labels, (str, bytes)) or len(list(labels)) < 2:
            raise InvalidArgument("a classification task needs a list of at least two labels")
        labels = list(labels)
        if len(set(labels)) != len(labels):
            raise InvalidArgument("labels must be distinct")
    if reward_policy is not None and not isinstance(reward_policy, rewards.RewardPolicy):
        raise InvalidArgument("reward_policy must be a tg.rewards.RewardPolicy (e.g. tg.rewards.ConsensusAccuracy())")
    if kind == "collection" and reward_policy is not None and not isinstance(reward_policy, (rewards.Flat, rewards.GoldStandard)) \
            and type(reward_policy).__module__.startswith("tagger."):
        raise InvalidArgument(f"{type(reward_policy).__name__} pays by consensus over labels; a collection task "
                              "pays per accepted upload: use tg.rewards.Flat() or your own RewardPolicy")
    frame = _items_frame(items, kind)
    gold_s = pd.Series(dict(gold) if isinstance(gold, dict) else gold, dtype=object) if gold is not None else pd.Series([], dtype=object)
    if len(gold_s):
        unknown = gold_s.index[~gold_s.index.isin(frame["item_id"])]
        if len(unknown):
            raise InvalidArgument(f"gold names unknown item id(s) {list(unknown[:5])}")
        if kind == "classification":
            bad = gold_s[~gold_s.isin(labels)]
            if len(bad):
                raise InvalidArgument(f"gold label(s) {list(bad.unique()[:5])} not in the label set {labels}")
    if net.balance(acct) < budget:
        raise InsufficientFunds(f"{acct.name} has {format_tag(net.balance(acct))}, the budget is {format_tag(budget)}")
    cats = _task_categories(title, description, n_categories)
    spec = _collection_spec(net, description, cats, frame, dict(verify or {})) if kind == "collection" else None
    method = method_name(method) if kind == "classification" else ""
    mterms = method_terms(method_options) if kind == "classification" else method_terms(None)
    if slashing == "default":
        slashing = rewards.SlashingRule() if (len(gold_s) and stake > 0 and kind == "classification") else None
    if slashing is not None and not isinstance(slashing, rewards.SlashingRule):
        raise InvalidArgument("slashing must be a tg.rewards.SlashingRule, 'default' or None")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, np.integer)) or deadline < 1):
        raise InvalidArgument(f"deadline must be a number of blocks >= 1 after publication, got {deadline!r}")
    deadline_height = 0 if deadline is None else net.height + 1 + int(deadline)
    if isinstance(expiry_slash_bps, bool) or not isinstance(expiry_slash_bps, (int, np.integer)) \
            or not 0 <= expiry_slash_bps <= 10_000:
        raise InvalidArgument(f"expiry_slash_bps must be an int in [0, 10000], got {expiry_slash_bps!r}")
    if expiry_slash_bps and deadline is None:
        raise InvalidArgument("expiry_slash_bps needs a deadline: slots expire only after one")
    fraud_ppm = _fraud_alpha_ppm(fraud, kind)
    floor_bps = _min_reputation_bps(min_reputation)
    adaptive_ppm = _adaptive_ppm(adaptive, copilot, kind)
    copilot_acct = _copilot_account(net, acct, copilot, kind)
    slots = len(frame) * int(overlap)
    pterms = policy_terms(reward_policy or default_policy(kind), slots=slots, budget=int(budget))
    if kind == "collection" and pterms["policy"] not in ("flat", "discretionary"):
        pterms["policy"] = "discretionary"
    salt = new_gold_salt()
    gold_codes = _gold_codes(pd.Index(frame["item_id"]), labels, gold_s, kind)
    terms = {"n_items": len(frame), "n_labels": len(labels) if kind == "classification" else 0,
             "overlap": int(overlap), "method": method, **mterms, **pterms, **slashing_terms(slashing),
             "gold_commitment": gold_commitment(salt, gold_codes), "deadline_height": deadline_height,
             "expiry_slash_bps": int(expiry_slash_bps), "fraud_alpha_ppm": fraud_ppm,
             "min_reputation_bps": floor_bps, "adaptive_ppm": adaptive_ppm,
             "copilot": copilot_acct.address_bytes if copilot_acct is not None else None}
    params_hash = _params_hash(title, description, kind, labels, frame, overlap, stake, reward_policy, data_kind, gold_s)
    task_id = net.ledger.publish(acct, int(budget), terms, required_stake=int(stake), params_hash=params_hash,
                                 verifier=net.verifier if kind == "collection" else None)
    if spec is not None:  # (checked above, before anything was written; the id exists only now)
        spec = replace(spec, task_id=task_id.hex())
    task = Task(net, task_id=task_id, owner=acct, title=title, description=description, kind=kind, labels=labels,
                items=frame, gold=gold_s, overlap=int(overlap), budget=int(budget), stake=int(stake),
                reward_policy=reward_policy, categories=cats, data_kind=data_kind, batch_size=int(batch_size),
                control_share=float(control_share), verify_spec=spec, params_hash=params_hash, seed=int(seed),
                method=method, method_options=dict(method_options or {}), slashing=slashing, gold_salt=salt,
                deadline=deadline_height)
    _make_subtasks(task)
    net._save_task_record(task_id, acct, _task_record(task, verify))
    return task


NO_DURATION = 0xFFFF_FFFF  # an answer without a signed duration (tagger/settle.h kNoDuration)
_MAX_DURATION_MS = 86_400_000


def _duration_ms(seconds: Any) -> np.ndarray:
    """Answer durations in seconds as the ledger's uint32 milliseconds, or InvalidArgument
    naming the first row that is missing, negative or longer than a day."""
    s = pd.to_numeric(pd.Series(seconds), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(s) | (s < 0) | (s * 1000 > _MAX_DURATION_MS))
    if len(bad):
        raise InvalidArgument(f"duration of row {int(bad[0])} is {seconds.iloc[bad[0]]!r}; give every answer's "
                              f"seconds in [0, 86400], or drop the duration column")
    return np.round(s * 1000).astype(np.uint32)


def _reputation_ok(alpha: int, beta: int, floor_bps: int) -> bool:
    """The ledger's reputation floor in its integers: (alpha+1)/(alpha+beta+2) >= floor."""
    return (alpha + 1) * 10_000 >= floor_bps * (alpha + beta + 2)


def _fraud_alpha_ppm(fraud: Any, kind: str) -> int:
    """The published fraud screen's level in parts per million (0: none)."""
    if fraud is None or fraud is False:
        return 0
    alpha = 0.01 if fraud is True else fraud
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not 0 < alpha < 1:
        raise InvalidArgument(f"fraud must be None, True or a level alpha in (0, 1), got {fraud!r}")
    if kind != "classification":
        raise InvalidArgument("the fraud screen applies to labeling (classification) tasks")
    ppm = int(round(float(alpha) * 1_000_000))
    if ppm < 1:
        raise InvalidArgument(f"fraud level {fraud!r} is below one part per million")
    return ppm


def _min_reputation_bps(floor: Any) -> int:
    """The reputation floor in basis points (0: none)."""
    if floor is None or floor is False:
        return 0
    if isinstance(floor, bool) or not isinstance(floor, (int, float, np.integer, np.floating)) or not 0 <= floor <= 1:
        raise InvalidArgument(f"min_reputation must be None or a reputation in [0, 1] (the Beta mean "
                              f"(right+1)/(right+wrong+2); a new worker has 0.5), got {floor!r}")
    return int(round(float(floor) * 10_000))


def _adaptive_ppm(adaptive: Any, copilot: Any, kind: str) -> int:
    """Adaptive overlap's copilot confidence threshold in parts per million (0: fixed overlap)."""
    if adaptive is None or adaptive is False:
        return 0
    level = 0.9 if adaptive is True else adaptive
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer, np.floating)) or not 0 < level <= 1:
        raise InvalidArgument(f"adaptive must be None, True (0.9) or a copilot confidence in (0, 1], got {adaptive!r}")
    if kind != "classification":
        raise InvalidArgument("adaptive overlap applies to labeling (classification) tasks")
    if copilot is None or copilot is False:
        raise InvalidArgument("adaptive overlap stops where the copilot and the workers agree: publish with copilot=True")
    return max(1, int(round(float(level) * 1_000_000)))


def _copilot_account(net: "Network", owner: Account, copilot: Any, kind: str) -> Account | None:
    """The task's copilot: None, the owner's "<owner>.copilot" account for True (created on
    first use), or the given account."""
    if copilot is None or copilot is False:
        return None
    if kind != "classification":
        raise InvalidArgument("a copilot pre-annotates labels: it applies to classification tasks")
    if copilot is True:
        name = f"{owner.name}.copilot"
        try:
            acct = net.account(name)
        except UnknownAccount:
            acct = net.create_account(name)
    else:
        acct = net.account(copilot)
    if acct.address_bytes == owner.address_bytes:
        raise InvalidArgument("the copilot must be an account of its own, not the task owner")
    return acct


def _make_subtasks(task: Task) -> None:
    if task.kind == "classification":
        frame, gold_s = task.items, task.gold
        regular = frame["item_id"][~frame["item_id"].isin(gold_s.index)].tolist()
        task.subtasks = match.make_subtasks(regular, task.batch_size, control_items=list(gold_s.index),
                                            control_share=task.control_share if len(gold_s) else 0.0, seed=task.seed)


def _params_hash(title, description, kind, labels, frame, overlap, stake, reward_policy, data_kind, gold_s) -> bytes:
    content = codec.encode([str(x) for x in frame["item_id"]] + [_as_text(x) for x in frame["data"]])
    return crypto.sha256(codec.encode([
        "tagger/task/v1", title, description, kind, [str(x) for x in labels or []], len(frame),
        crypto.sha256(content), int(overlap), int(stake), repr(reward_policy), data_kind,
        [[str(k), str(v)] for k, v in gold_s.items()]]))


_RECORD_TAG = "tagger/task-record/v1"
# v2 stores the collection task's verify options typed (below); v1 kept only the str, int
# and str-list ones, so a reopened task lost its thresholds, schema and severities and
# checked uploads with the defaults.
_RECORD_TAG_V2 = "tagger/task-record/v2"


def _typed(v: Any) -> Any:
    """A verify option as a canonical-codec value that gives it back exactly (floats as
    their hex text, tuples and dicts tagged), or None when it cannot be stored (code:
    custom checks, a registry object)."""
    if v is None:
        return ["none"]
    if isinstance(v, (bool, np.bool_)):
        return ["bool", int(bool(v))]
    if isinstance(v, (int, np.integer)):
        return ["int", int(v)]
    if isinstance(v, (float, np.floating)):
        return ["float", float(v).hex()]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, bytes):
        return ["bytes", v]
    if isinstance(v, (np.ndarray, pd.Series, pd.Index)):
        return _typed(v.tolist())
    if isinstance(v, type):  # a schema's Python type: stored as the type name the schema also takes
        return ["str", _SCHEMA_TYPE_NAMES[v]] if v in _SCHEMA_TYPE_NAMES else None
    if isinstance(v, (set, frozenset)):  # e.g. text_scripts={"Cyrillic"}: its order means nothing
        return _typed(sorted(v, key=repr))
    if isinstance(v, Mapping):
        pairs = [(_typed(k), _typed(x)) for k, x in v.items()]
        return None if any(k is None or x is None for k, x in pairs) else ["dict", [list(kx) for kx in pairs]]
    if isinstance(v, (list, tuple)):
        items = [_typed(x) for x in v]
        return None if any(x is None for x in items) else ["tuple" if isinstance(v, tuple) else "list", items]
    return None


def _untyped(t: Any) -> Any:
    kind = t[0]
    if kind == "none":
        return None
    if kind == "bool":
        return bool(t[1])
    if kind == "float":
        return float.fromhex(t[1])
    if kind in ("int", "str"):
        return t[1]
    if kind == "bytes":
        return bytes(t[1])
    if kind == "dict":
        return {_untyped(k): _untyped(x) for k, x in t[1]}
    if kind in ("list", "tuple"):
        items = [_untyped(x) for x in t[1]]
        return tuple(items) if kind == "tuple" else items
    raise VerificationFailed(f"task record: unknown verify option type {kind!r}")


def _verify_options(verify: Any) -> list[list[Any]]:
    """[[name, typed value or None], ...]: None marks an option that could not be stored."""
    return [[str(k), _typed(v)] for k, v in sorted(dict(verify or {}).items())]


def _reopened_options(opts: list[list[Any]], task_id: str) -> dict[str, Any]:
    lost = [k for k, t in opts if t is None]
    if lost:
        warnings.warn(f"collection task {task_id[:12]}: the verify option(s) {', '.join(map(repr, lost))} hold code or "
                      "objects a task record cannot store; its uploads are checked without them in this session",
                      UserWarning, stacklevel=outside_tagger())
    return {k: _untyped(t) for k, t in opts if t is not None}


def _plain(v: Any) -> Any:
    """A value the canonical codec can hold (numpy scalars to Python), else its str."""
    if hasattr(v, "item") and not isinstance(v, (bytes, str)):
        v = v.item()
    return v if isinstance(v, (str, int, bytes, bool)) or v is None else str(v)


def _task_record(task: Task, verify: Any) -> bytes:
    """The owner's private copy of what the ledger's params_hash commits to, so the task
    can be reopened in a later session (sealed to the owner before it is stored)."""
    policy = None
    if task.reward_policy is not None:
        params = [[k, v] for k, v in sorted(vars(task.reward_policy).items())
                  if isinstance(v, int) or v is None]
        policy = [type(task.reward_policy).__name__, params]
    return codec.encode([
        _RECORD_TAG_V2, task.title, task.description, task.kind,
        None if task.labels is None else [_plain(x) for x in task.labels],
        [_plain(x) for x in task.items["item_id"]], [_plain(x) for x in task.items["data"]],
        [[_plain(k), _plain(v)] for k, v in task.gold.items()], task.overlap, task.budget, task.stake,
        policy, [[c, str(sc)] for c, sc in task.categories], task.data_kind, task.batch_size,
        str(task.control_share), task.seed, _verify_options(verify), task.method,
        [[k, str(v)] for k, v in sorted(task.method_options.items())],
        None if task.slashing is None else [task.slashing.threshold_bps, task.slashing.share_bps,
                                            task.slashing.min_control],
        task._gold_salt, task.deadline])


def load_task(net: "Network", task_id: bytes, record: bytes, reward_policy: Any = None) -> Task:
    """Rebuild a task published in an earlier session: its parameters from the owner's
    sealed record (checked against the params_hash on the ledger), its answers and
    uploads from the ledger's transactions."""
    info = _onchain(net, task_id)
    (tag, title, description, kind, labels, item_ids, item_data, gold, overlap, budget, stake, policy, cats,
     data_kind, batch_size, control_share, seed, opts, method, method_opts, slash, salt, deadline) = codec.decode(record)
    if tag not in (_RECORD_TAG, _RECORD_TAG_V2):
        raise VerificationFailed("not a task record")
    frame = pd.DataFrame({"item_id": pd.Series(item_ids, dtype=object), "data": pd.Series(item_data, dtype=object)})
    if all(isinstance(x, int) for x in item_ids):
        frame["item_id"] = frame["item_id"].astype(np.int64)
    gold_s = pd.Series({k: v for k, v in gold}, dtype=object)
    if reward_policy is None and policy is not None:
        cls = getattr(rewards, policy[0], None)
        if cls is None or not (isinstance(cls, type) and issubclass(cls, rewards.RewardPolicy)):
            raise InvalidArgument(f"the task used the policy {policy[0]!r}: pass reward_policy= to reopen it")
        reward_policy = cls(**{k: v for k, v in policy[1]})
    verify = dict(opts) if tag == _RECORD_TAG else _reopened_options(opts, task_id.hex())
    spec = _reopened_spec(net, description, cats, frame, verify, task_id.hex()) if kind == "collection" else None
    expect = _params_hash(title, description, kind, labels, frame, overlap, stake, reward_policy, data_kind, gold_s)
    if expect != bytes(info["params_hash"]):
        raise VerificationFailed("the stored task record does not match the params_hash on the ledger "
                                 "(a different reward_policy than at publication?)")
    owner = net.account(address_str(info["owner"]))
    task = Task(net, task_id=task_id, owner=owner, title=title, description=description, kind=kind, labels=labels,
                # The ledger's budget: the record's is the one at publication, before any extend.
                items=frame, gold=gold_s, overlap=overlap, budget=int(info["budget"]), stake=stake,
                reward_policy=reward_policy,
                categories=[(c, float(x)) for c, x in cats], data_kind=data_kind, batch_size=batch_size,
                control_share=float(control_share), verify_spec=spec, params_hash=expect, seed=seed, method=method,
                method_options={k: (float(v) if k == "tol" else int(v)) for k, v in method_opts},
                slashing=None if slash is None else rewards.SlashingRule(*slash), gold_salt=bytes(salt),
                deadline=deadline)
    _make_subtasks(task)
    task._replay_ledger()
    task._load_assignment()
    if task.status == "finalized":
        task.result_from_ledger()
    return task


def _as_text(x: Any) -> str:
    return bytes(x).hex() if isinstance(x, (bytes, bytearray)) else str(x)
