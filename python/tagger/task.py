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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import codec, crypto
from ._repr import format_tag, html_table
from .errors import (InfeasibleAssignment, InsufficientFunds, InvalidArgument, NotAuthorized, RuleViolation,
                     TaskStateError)
from .ledger import VERDICTS as VERDICT_CODES
from .ledger import Account, AccountLike, address_str

if TYPE_CHECKING:  # pragma: no cover
    from .market import DatasetNFT
    from .network import Network

__all__ = ["Task", "TaskResult", "Upload", "KINDS"]

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
        return self.status != "rejected"

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
        """Worker quality, the payouts by quality and (for DS) a confusion matrix."""
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
                 control_share: float, verify_spec: Any, params_hash: bytes, seed: int) -> None:
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
        self.assignment: pd.DataFrame | None = None
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
        self._uploads: dict[int, Upload] = {}
        self._upload_meta: dict[int, dict] = {}
        self._free_cursor = 0  # collection without assignment: the lowest slot that may be free

    # ---------------------------------------------------------------- state
    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def status(self) -> str:
        return self._net.ledger.task(self.id)["status"]

    @property
    def escrow(self) -> int:
        """Base units still locked for this task."""
        return self._net.ledger.task(self.id)["escrow"]

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

    # ---------------------------------------------------------------- assignment
    def suitability(self, workers: Sequence[AccountLike]) -> np.ndarray:
        """Per-worker suitability for this task: skill in its best-matching category
        (0.5 when the worker declared none) × reputation, the Beta posterior mean
        (alpha+1)/(alpha+beta+2) of the worker's on-ledger record."""
        cats = [c for c, _ in self.categories] or []
        out = np.empty(len(workers))
        for j, w in enumerate(workers):
            skills = self._net.skills(w)
            skill = max((skills[c] for c in cats if c in skills), default=skills.get("*", 0.5))
            a, b = self._net.reputation(w)
            out[j] = skill * (a + 1) / (a + b + 2)
        return out

    def assign(self, workers: Sequence[AccountLike], capacity: int | Sequence[int] | None = None, *,
               exclude: Any = None, stake: bool = True, partial: bool = False) -> pd.DataFrame:
        """Assign every item to ``overlap`` distinct workers, maximizing total suitability
        (:meth:`suitability`) under each worker's ``capacity`` (default: an even share
        plus 25 %). Workers must hold the task's stake: with ``stake=True`` those who do
        not yet stake it now from their balance (all in one block, all or nothing).
        Collection tasks assign upload slots the same way. Returns (and keeps in
        ``task.assignment``) a DataFrame item_id, worker, subtask, control.
        """
        self._require_open("assign")
        if not workers:
            raise InvalidArgument("assign needs at least one worker")
        accts = [self._net.account(w) for w in workers]
        if len({a.address_bytes for a in accts}) != len(accts):
            raise InvalidArgument("assign: a worker is listed twice")
        if self.owner.address_bytes in {a.address_bytes for a in accts}:
            raise InvalidArgument("assign: the task owner cannot work on its own task")
        n, m = self.n_items, len(accts)
        demand = n * self.overlap
        if capacity is None:
            capacity = max(1, math.ceil(1.25 * demand / m))
        cap = np.broadcast_to(np.asarray(capacity, dtype=np.int64), (m,)).copy()
        if (cap < 0).any():
            raise InvalidArgument("capacity must be >= 0 for every worker")
        if self.overlap > m:
            raise InfeasibleAssignment(f"overlap {self.overlap} needs at least {self.overlap} workers, got {m}")
        s = self.suitability(accts)
        if exclude is None:
            # Suitability depends on the worker only: the linear-time rule is exact.
            slots = _rank_one_assignment(s, self.overlap, cap, n, partial=partial)
        else:
            from .match import assign as solve
            slots = solve(np.broadcast_to(s, (n, m)), self.overlap, cap, exclude, partial=partial)
        # Rows are solved in presentation order (controls spread evenly among shuffled
        # regular items), so each worker's share holds its share of control items.
        order = self._presentation_order()
        unpermuted = np.empty_like(slots)
        unpermuted[order] = slots
        slots = unpermuted
        # Only workers who actually got items must hold the stake; staking happens
        # after the solve so an infeasible assignment changes nothing on the ledger.
        used = np.zeros(m, dtype=bool)
        used[slots[slots >= 0]] = True
        self._ensure_stakes([a for a, u in zip(accts, used) if u], stake)
        pos = np.array([self._worker_position(a, add=True) for a in accts], dtype=np.int32)
        allowed = np.where(slots >= 0, pos[np.clip(slots, 0, None)], -1).astype(np.int32)
        self._allowed = allowed
        item_rows = np.repeat(np.arange(n), self.overlap)
        flat = allowed.ravel()
        keep = flat >= 0
        control = self.items["item_id"].isin(self.gold.index).to_numpy()
        names = np.array([w.name for w in self._workers], dtype=object)
        self.assignment = pd.DataFrame({
            "item_id": self.items["item_id"].to_numpy()[item_rows[keep]],
            "worker": names[flat[keep]],
            "control": control[item_rows[keep]],
        })
        return self.assignment

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
        if self.stake == 0:
            return
        led = self._net.ledger
        missing = []
        for a in accts:
            st = led.stake_of(a, self.id)
            if st is None or st["amount"] - st.get("slashed", 0) < self.stake:
                missing.append(a)
        if not missing:
            return
        if not stake:
            raise RuleViolation(f"{len(missing)} worker(s) do not hold the task's stake of {format_tag(self.stake)}: "
                                + ", ".join(a.name for a in missing[:10]))
        poor = [a.name for a in missing if self._net.balance(a) < self.stake]
        if poor:
            raise InsufficientFunds(f"{len(poor)} worker(s) cannot stake {format_tag(self.stake)}: " + ", ".join(poor[:10]))
        with self._net.batch():
            for a in missing:
                led.stake(a, self.stake, task_id=self.id, lock_blocks=0)

    # ---------------------------------------------------------------- answers
    def submit(self, worker: AccountLike, item_id: Any, label: Any) -> bytes:
        """Record one signed answer; returns the transaction id. Prefer :meth:`submit_many` in bulk."""
        return self.submit_many(pd.DataFrame({"item_id": [item_id], "worker": [self._net.account(worker).name],
                                              "label": [label]}))[0]

    def submit_many(self, answers: pd.DataFrame) -> list[bytes]:
        """Record answers in bulk: a DataFrame with columns ``item_id`` (or ``task``),
        ``worker`` (names, addresses or Accounts) and ``label``. Each worker's answers
        become one signed transaction; all of them go into one block, all or nothing.
        Every answer is checked first (known item, label in the label set, worker
        assigned to the item, not answered before); nothing is recorded if one fails.
        Returns the transaction ids."""
        self._require_open("submit answers")
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
        labels = self._label_index.get_indexer(answers["label"])
        if (labels < 0).any():
            bad = answers["label"].to_numpy()[labels < 0][:5]
            raise InvalidArgument(f"label(s) {list(bad)} not in the task's label set {list(self._label_index)}")
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
        # (item, worker) keys; sorted comparisons instead of a Python set of pairs.
        keys = np.sort(items.astype(np.int64) * (1 << 32) + wpos)
        if (keys[1:] == keys[:-1]).any():
            raise InvalidArgument("the same worker answers the same item twice in this batch")
        if self._ans_chunks:
            done = np.concatenate([c[0].astype(np.int64) * (1 << 32) + c[1] for c in self._ans_chunks])
            if np.isin(keys, done, assume_unique=True).any():
                raise RuleViolation("a worker already answered one of these items")
        # One transaction per worker (split past the ledger's list bound, with
        # consecutive nonces), built and signed in C++ from the int32 columns, then
        # submitted as one batch: signatures checked by verify_batch on all cores.
        from ._core import ledger as _cl
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
                                       self._net.chain_id)
            txids = self._net.submit_many(txs)
        self._ans_chunks.append((items.astype(np.int32), wpos.astype(np.int32), labels.astype(np.int32)))
        return txids

    def _replay_ledger(self) -> None:
        """Answers and accepted uploads of this task, read back from its transactions."""
        items, workers, labels = [], [], []
        for h in range(1, self._net.height + 1):
            for tx in self._net.block(h).transactions:
                f = tx.fields
                if tx.kind not in ("answers", "upload_receipt") or bytes(f["task"]) != self.id:
                    continue
                if tx.kind == "answers":
                    pos = self._worker_position(tx.sender, add=True)
                    for i, lab in f["answers"]:
                        items.append(i)
                        labels.append(lab)
                        workers.append(pos)
                elif f["verdict"] != VERDICT_CODES["rejected"]:
                    item = int(f["item"])
                    acct = self._net.account(address_str(f["worker"]))
                    self._worker_position(acct, add=True)
                    status = next(k for k, v in VERDICT_CODES.items() if v == f["verdict"])
                    self._uploads[item] = Upload(str(self.items["item_id"].iloc[item]), acct.name, status,
                                                 tuple(f["reasons"]), bytes(f["ciphertext_hash"]), None, tx.txid)
        if items:
            self._ans_chunks.append((np.asarray(items, np.int32), np.asarray(workers, np.int32),
                                     np.asarray(labels, np.int32)))
        if self._net.ledger.task(self.id)["status"] != "open":
            self.result = None  # settled on the ledger in an earlier session

    def answers(self) -> pd.DataFrame:
        """Every recorded answer: item_id, worker (name), label."""
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
        return pd.DataFrame({"item_id": col(ids[it]), "worker": col(names[wp]),
                             "label": col(np.asarray(self.labels, dtype=object)[lb])})

    # ---------------------------------------------------------------- uploads
    def upload(self, worker: AccountLike, data: bytes, meta: Mapping[str, Any] | None = None, *,
               item_id: Any = None) -> Upload:
        """Upload one item to a collection task: the platform verifier checks it
        (``tg.verify``), an accepted item is sealed to the owner (``tg.crypto.seal``) and
        stored by the hash of its ciphertext, and the verifier's signed receipt goes
        on the ledger. A rejected upload is receipted but not stored. Returns an
        :class:`Upload`; a bad upload never raises (its verdict says why)."""
        self._require_open("upload")
        if self.kind != "collection":
            raise TaskStateError("uploads go to collection tasks; classification tasks take answers")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgument(f"upload data must be bytes, got {type(data).__name__}")
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
            if item in self._uploads and self._uploads[item].accepted:
                raise RuleViolation(f"item {item_id!r} already has an accepted upload")
        iid = str(self.items["item_id"].iloc[item])
        verifier = self._net.verifier
        verdict = self._net._verify_engine.check(bytes(data), self.data_kind, self.verify_spec, item_id=iid)
        h = None
        if verdict.status != "rejected":
            sealed = crypto.seal(bytes(data), [self.owner.public_key])
            h = self._net.store.put(sealed)
        receipt = self._net._verify_engine.receipt(verdict, iid, h or bytes(32), task_id=self.id_hex)
        txid = self._net.ledger.record_upload(self.id, verifier, acct, item, h or bytes(32), verdict.status,
                                              list(verdict.reasons))
        up = Upload(iid, acct.name, verdict.status, tuple(verdict.reasons), h, receipt, txid)
        if verdict.status != "rejected":
            self._uploads[item] = up
        if meta:
            self._upload_meta[item] = dict(meta)
        return up

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

    def uploads(self) -> pd.DataFrame:
        """Accepted (and needs-review) uploads: item_id, worker, status, reasons, ciphertext hash."""
        rows = [{"item_id": u.item_id, "worker": u.worker, "status": u.status, "reasons": list(u.reasons),
                 "ciphertext_hash": u.ciphertext_hash.hex()} for _, u in sorted(self._uploads.items())]
        return pd.DataFrame(rows, columns=["item_id", "worker", "status", "reasons", "ciphertext_hash"])

    # ---------------------------------------------------------------- finalize
    def finalize(self, method: str = "dawid_skene", *, slashing: Any = "default",
                 **method_options: Any) -> TaskResult:
        """Consensus, then payouts, reputation and slashing, settled on the ledger in one
        atomic transaction that also refunds the unspent budget to the owner.

        ``method``: a ``tg.consensus`` method name (``"dawid_skene"``, ``"majority_vote"``,
        ``"glad"``, ``"mace"``, ``"wawa"`` ...). ``slashing``: a ``tg.rewards.SlashingRule``,
        ``"default"`` (``SlashingRule()`` when the task has control items and a stake) or
        ``None``. Other keyword arguments go to the estimator (e.g. ``n_iter=50``, or
        ``verbose=True`` for a progress bar over the EM iterations).
        Reputation: each worker's on-ledger Beta counts grow by its answers judged
        correct / incorrect (against gold on control items, else against consensus).
        """
        from . import rewards
        self._require_open("finalize")
        if self.kind == "classification":
            answers = self.answers()
            if answers.empty:
                raise TaskStateError("cannot finalize: no answers were submitted")
            from .consensus import get_method
            est = get_method(method, labels=list(self.labels), **method_options)
            gold = self.gold if len(self.gold) else None
            df = answers.rename(columns={"item_id": "task"})
            # Control items' known answers are clamped during inference.
            est.fit(df, gold)
            probas = est.probas_.reindex(columns=self.labels, fill_value=0.0)
            labels = est.labels_
            skills = getattr(est, "skills_", None)
            consensus_labels = labels
        else:
            ups = self.uploads()
            if ups.empty:
                raise TaskStateError("cannot finalize: no accepted uploads")
            df = pd.DataFrame({"task": ups["item_id"], "worker": ups["worker"], "label": ups["status"]})
            probas = None
            labels = pd.Series(ups["status"].to_numpy(), index=ups["item_id"].to_numpy(), name="status")
            skills = None
            consensus_labels = None
            gold = None
            method = "uploads"
        policy = self.reward_policy or default_policy(self.kind)
        budget = self.escrow
        payouts = policy.apply(df, probas if probas is not None else None, gold, budget)
        payouts = payouts[payouts > 0]
        # Reputation: answers judged against gold where known, else the consensus label.
        counts = (rewards.reputation_counts(df, consensus_labels, gold) if self.kind == "classification"
                  else pd.DataFrame({"correct": df.groupby("worker").size(), "incorrect": 0}))
        before = pd.DataFrame([self._net.reputation(w) for w in counts.index], index=counts.index,
                              columns=["alpha", "beta"])
        rep_delta = {w: (int(c), int(i)) for w, c, i in counts[["correct", "incorrect"]].itertuples()}
        after = before + counts[["correct", "incorrect"]].to_numpy()
        # Slashing: under the rule the stake was created for (this task's control items).
        slashed = pd.Series(0, index=counts.index, dtype=np.int64)
        if slashing == "default":
            slashing = rewards.SlashingRule() if (gold is not None and self.stake > 0) else None
        if slashing is not None and gold is not None:
            stakes = pd.Series({w: self._stake_left(w) for w in counts.index}, dtype=np.int64)
            slashed = slashing(df, gold, stakes).reindex(counts.index, fill_value=0).astype(np.int64)
        slashes = {w: int(v) for w, v in slashed.items() if v > 0}
        result_hash = crypto.sha256(codec.encode([
            method, [[str(k), str(v)] for k, v in labels.items()],
            [[str(w), int(v)] for w, v in payouts.sort_index().items()]]))
        settled = self._net.ledger.finalize_escrow(self.id, self.owner, {w: int(v) for w, v in payouts.items()},
                                                   reputation=rep_delta, slashes=slashes, result_hash=result_hash)
        wq = self._worker_quality(df, consensus_labels, skills, before, after, payouts, slashed, gold)
        stats = {"answers": len(df), "items": len(labels), "workers": len(wq)}
        if probas is not None:
            stats["mean_confidence"] = float(probas.max(axis=1).mean())
        if gold is not None and self.kind == "classification":
            # Gold is clamped in the consensus, so consensus-vs-gold would be 1.0 by
            # construction; the honest control figure is the workers' raw accuracy there.
            on = df["task"].isin(gold.index).to_numpy()
            if on.any():
                stats["answer_accuracy_on_controls"] = float(
                    (df["label"].to_numpy()[on] == gold.reindex(df["task"][on]).to_numpy()).mean())
        self.result = TaskResult(method=method, labels=labels, probas=probas, worker_quality=wq,
                                 payouts=payouts.astype(np.int64), slashed=slashed, refund=int(settled["refund"]),
                                 txid=settled["txid"], stats=stats)
        return self.result

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
    def mint_nft(self, license: str = "CC-BY-4.0", *, royalty_bps: int = 1_000, name: str | None = None,
                 description: str | None = None) -> "DatasetNFT":
        """Mint the dataset NFT (owner only, once, after :meth:`finalize`).

        The manifest commits to a Merkle root over (item id, item commitment, final
        label), the contributors with their weights (share of the payouts, in basis
        points), the license and the consensus statistics; ``royalty_bps`` of every later
        sale is split among the contributors by those weights. The dataset itself is
        sealed to the owner and stored; the NFT carries the owner's key grant.
        """
        from .market import mint_dataset_nft
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
            lab = self.result.labels.reindex(self.items["item_id"])
            conf = (self.result.probas.max(axis=1).reindex(self.items["item_id"]).to_numpy()
                    if self.result.probas is not None else np.ones(len(lab)))
            return pd.DataFrame({"item_id": self.items["item_id"].astype(str).to_numpy(),
                                 "data": self.items["data"].to_numpy(),
                                 "label": lab.astype(object).to_numpy(),
                                 "confidence": conf})
        ups = self.uploads()
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
        return (f"Task({self.title!r}, kind={self.kind!r}, items={self.n_items}, overlap={self.overlap}, "
                f"budget={format_tag(self.budget)}, status={self.status!r}, categories=[{cats}])")

    def _repr_html_(self) -> str:
        rows = [["id", self.id_hex[:16] + "…"], ["kind", self.kind], ["items", self.n_items],
                ["control items", len(self.gold)], ["overlap", self.overlap], ["labels", self.labels],
                ["budget", format_tag(self.budget)], ["escrow left", format_tag(self.escrow)],
                ["stake", format_tag(self.stake)], ["status", self.status],
                ["categories", ", ".join(f"{c} ({s:.2f})" for c, s in self.categories[:3])],
                ["workers", len(self._workers)], ["answers", sum(len(c[0]) for c in self._ans_chunks)],
                ["uploads", len(self._uploads)]]
        return html_table(f"Task: {self.title}", ["", ""], rows)


def _rank_one_assignment(s: np.ndarray, overlap: int, cap: np.ndarray, n_items: int, *,
                         partial: bool) -> np.ndarray:
    """Exact optimum when suitability depends on the worker only (s_ij = s_j) and no
    pair is excluded: fill the best workers to capacity (each at most n_items, one
    slot per item) until the n_items*overlap slots are covered, then deal the slots
    out item-major so that no worker gets an item twice. Linear time; used when the
    dense matrix would be too large for the general min-cost-flow solver."""
    cap = np.minimum(cap, n_items)
    demand = n_items * overlap
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(cap[order])
    if cum[-1] < demand and not partial:
        raise InfeasibleAssignment(f"demand exceeds what the workers can cover by {demand - int(cum[-1])} slot(s)")
    load = np.zeros_like(cap)
    take = np.minimum(cap[order], np.maximum(0, demand - (cum - cap[order])))
    load[order] = take
    seq = np.repeat(order, load[order]).astype(np.int32)  # workers, best first, each a consecutive run
    out = np.full(demand, -1, dtype=np.int32)
    # Slot k goes to item k % n_items, position k // n_items: a worker's run of length
    # <= n_items covers distinct items.
    out[:len(seq)] = seq
    return out.reshape(overlap, n_items).T.copy()


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


def default_policy(kind: str):
    """ConsensusAccuracy for labeling; Flat (per accepted upload) for collection,
    which has no consensus posterior to pay by."""
    from . import rewards
    return rewards.ConsensusAccuracy() if kind == "classification" else rewards.Flat()


def build_task(net: "Network", owner: AccountLike, title: str, description: str, *, kind: str, labels: Any,
               items: Any, overlap: int, budget: int, reward_policy: Any, stake: int, gold: Any,
               control_share: float, batch_size: int, data_kind: str, verify: Any, n_categories: int,
               seed: int) -> Task:
    """Validate, match, lock the escrow and return the Task (used by Network.publish_task)."""
    from . import match, rewards
    from .verify import VerifySpec
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
        from .errors import InsufficientFunds
        raise InsufficientFunds(f"{acct.name} has {format_tag(net.balance(acct))}, the budget is {format_tag(budget)}")
    cats = match.CategoryIndex.default().top_k(f"{title}. {description}", k=n_categories) if n_categories else []
    spec = None
    if kind == "collection":
        opts = {"description": description, "category": cats[0][0] if cats else "", "registry": net.dedup}
        opts.update(dict(verify or {}))
        spec = VerifySpec(**opts)
    params_hash = _params_hash(title, description, kind, labels, frame, overlap, stake, reward_policy, data_kind, gold_s)
    task_id = net.ledger.lock_escrow(acct, int(budget), required_stake=int(stake), params_hash=params_hash,
                                     verifier=net.verifier if kind == "collection" else None)
    task = Task(net, task_id=task_id, owner=acct, title=title, description=description, kind=kind, labels=labels,
                items=frame, gold=gold_s, overlap=int(overlap), budget=int(budget), stake=int(stake),
                reward_policy=reward_policy, categories=cats, data_kind=data_kind, batch_size=int(batch_size),
                control_share=float(control_share), verify_spec=spec, params_hash=params_hash, seed=int(seed))
    _make_subtasks(task)
    net._save_task_record(task_id, acct, _task_record(task, verify))
    return task


def _make_subtasks(task: Task) -> None:
    from . import match
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
    opts = [[k, [str(x) for x in v] if isinstance(v, (list, tuple)) else v]
            for k, v in sorted(dict(verify or {}).items())
            if isinstance(v, (str, int)) or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))]
    return codec.encode([
        _RECORD_TAG, task.title, task.description, task.kind,
        None if task.labels is None else [_plain(x) for x in task.labels],
        [_plain(x) for x in task.items["item_id"]], [_plain(x) for x in task.items["data"]],
        [[_plain(k), _plain(v)] for k, v in task.gold.items()], task.overlap, task.budget, task.stake,
        policy, [[c, str(sc)] for c, sc in task.categories], task.data_kind, task.batch_size,
        str(task.control_share), task.seed, opts])


def load_task(net: "Network", task_id: bytes, record: bytes, reward_policy: Any = None) -> Task:
    """Rebuild a task published in an earlier session: its parameters from the owner's
    sealed record (checked against the params_hash on the ledger), its answers and
    uploads from the ledger's transactions."""
    from . import rewards
    from .errors import VerificationFailed
    from .verify import VerifySpec
    info = net.ledger.task(task_id)
    (tag, title, description, kind, labels, item_ids, item_data, gold, overlap, budget, stake, policy, cats,
     data_kind, batch_size, control_share, seed, opts) = codec.decode(record)
    if tag != _RECORD_TAG:
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
    spec = None
    if kind == "collection":
        spec = VerifySpec(**{"description": description, "category": cats[0][0] if cats else "",
                             "registry": net.dedup, **{k: v for k, v in opts}})
    expect = _params_hash(title, description, kind, labels, frame, overlap, stake, reward_policy, data_kind, gold_s)
    if expect != bytes(info["params_hash"]):
        raise VerificationFailed("the stored task record does not match the params_hash on the ledger "
                                 "(a different reward_policy than at publication?)")
    owner = net.account(address_str(info["owner"]))
    task = Task(net, task_id=task_id, owner=owner, title=title, description=description, kind=kind, labels=labels,
                items=frame, gold=gold_s, overlap=overlap, budget=budget, stake=stake, reward_policy=reward_policy,
                categories=[(c, float(x)) for c, x in cats], data_kind=data_kind, batch_size=batch_size,
                control_share=float(control_share), verify_spec=spec, params_hash=expect, seed=seed)
    _make_subtasks(task)
    task._replay_ledger()
    return task


def _as_text(x: Any) -> str:
    return bytes(x).hex() if isinstance(x, (bytes, bytearray)) else str(x)
