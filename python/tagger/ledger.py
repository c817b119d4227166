"""The tagger ledger from Python: accounts, transactions, blocks, Merkle proofs
and the native contracts (escrow, staking, reputation, dataset NFTs, market).

Every state change is an Ed25519-signed transaction (canonical msgpack, a
per-account nonce, the chain id) in a hash-chained block; the rules are enforced
in C++ (``tagger._core.ledger``). The byte formats and contract rules are in
``docs/ledger.md``. Most users reach this module through :class:`tagger.Network`
(``net.ledger`` is a :class:`Contracts`).

>>> import tagger as tg
>>> net = tg.Network.memory()
>>> alice = net.create_account("alice", fund=100 * tg.TAG)
>>> net.balance(alice)
100000000
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, TypeGuard, Union

from . import codec, crypto
from ._core import ledger as _c
from ._repr import format_tag, html_table
from .errors import InvalidArgument, RuleViolation, UnknownAccount

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .network import Network

__all__ = [
    "KINDS", "KIND_CODES", "KIND_FIELDS", "TASK_STATUS", "VERDICTS", "Account", "Transaction", "Block",
    "MerkleProof", "Contracts", "address_of", "to_address", "address_str", "decode_tx", "merkle_leaf_hash",
    "merkle_root", "merkle_proof", "verify_proof", "split_payment", "format_tag",
]

KINDS: dict[int, str] = dict(_c.kind_table())
"""Transaction kind code -> name."""
KIND_CODES: dict[str, int] = {v: k for k, v in KINDS.items()}
"""Transaction kind name -> code."""
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "register": ("sealing_key", "name", "skills"),
    "mint": ("to", "amount"),
    "transfer": ("to", "amount", "memo"),
    "escrow_lock": ("budget", "required_stake", "params_hash", "verifier"),
    # Signed durations and the copilot's confidences follow only when given.
    "answers": ("task", "answers", "batch_hash", "count", "duration_ms", "confidence_ppm"),
    "upload_receipt": ("task", "worker", "item", "ciphertext_hash", "verdict", "reasons"),
    # A published task's finalize carries three more: the gold reveal and the partial flag.
    "finalize": ("task", "payouts", "reputation", "slashes", "result_hash", "gold_salt", "gold", "partial"),
    "escrow_refund": ("task",),
    "publish": ("budget", "required_stake", "params_hash", "verifier", "terms"),
    "assign": ("task", "grants", "revokes"),
    "extend": ("task", "amount", "items"),
    "stake": ("task", "amount", "unlock_height"),
    "unstake": ("task",),
    "slash": ("task", "staker", "amount", "reason"),
    "nft_mint": ("task", "manifest_hash", "royalties", "license", "uri", "key_blob"),
    "nft_transfer": ("nft", "to", "key_blob"),
    "list": ("nft", "kind", "price"),
    "buy": ("listing", "price", "key_blob", "grant_sig"),
    "cancel": ("listing",),
}
"""Payload field names of each kind, in their fixed order (docs/ledger.md)."""
TERMS_FIELDS: tuple[str, ...] = (
    "n_items", "n_labels", "overlap", "rate", "method", "n_iter", "tol_e9", "seed", "policy", "policy_threshold_bps",
    "policy_no_control_bps", "policy_base", "slashing", "slash_threshold_bps", "slash_share_bps", "slash_min_control",
    "gold_commitment", "deadline_height", "expiry_slash_bps")
"""A published task's terms, in their fixed order (docs/ledger.md, kind ``publish``).
:data:`TERMS_OPTIONAL` follow, each encoded only up to the last one that is set."""
TERMS_OPTIONAL: tuple[str, ...] = ("fraud_alpha_ppm", "min_reputation_bps", "copilot", "adaptive_ppm")
"""Optional terms 20-23: the fraud screen's level, the assignment's reputation floor, the
copilot's address and the adaptive overlap's confidence threshold (``tagger/settle.h``)."""
TASK_STATUS = {0: "open", 1: "finalized", 2: "cancelled"}
VERDICTS = {"accepted": 0, "rejected": 1, "needs_review": 2}
LISTING_KINDS = {"sale": 0, "license": 1}
ZERO32 = bytes(32)

AccountLike = Union["Account", str, bytes]


def _u32_column(values: Any, name: str, n: int, hi: int) -> Any:
    """``values`` as a uint32 array of ``n`` integers in [0, hi], or InvalidArgument naming the first bad one."""
    import numpy as np
    a = np.asarray(values)
    if a.ndim != 1 or len(a) != n:
        raise InvalidArgument(f"{name} needs one value per answer ({n}), got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise InvalidArgument(f"{name} must be integers, got dtype {a.dtype}")
    bad = np.flatnonzero((a < 0) | (a > hi))
    if len(bad):
        raise InvalidArgument(f"{name}[{int(bad[0])}] = {int(a[bad[0]])} is outside [0, {hi}]")
    return a.astype(np.uint32)


# ---------------------------------------------------------------- addresses

def address_of(verify_key: Union[crypto.VerifyKey, bytes]) -> bytes:
    """The 20-byte address of an Ed25519 key: SHA-256("tagger/address/v1" ‖ 0x00 ‖ key)[:20]."""
    return _c.address_of(bytes(verify_key))


def address_str(addr: bytes) -> str:
    """``"tg"`` + 40 hex digits."""
    return "tg" + bytes(addr).hex()


def to_address(x: AccountLike) -> bytes:
    """Accepts an :class:`Account`, a ``"tg…"`` string or 20 raw bytes."""
    if isinstance(x, Account):
        return x.address_bytes
    if isinstance(x, str):
        if len(x) != 42 or not x.startswith("tg"):
            raise InvalidArgument(f"an address is 'tg' followed by 40 hex digits, got {x!r}")
        try:
            return bytes.fromhex(x[2:])
        except ValueError:
            raise InvalidArgument(f"an address is 'tg' followed by 40 hex digits, got {x!r}") from None
    if isinstance(x, (bytes, bytearray)) and len(x) == _c.ADDRESS_BYTES:
        return bytes(x)
    raise InvalidArgument(f"not an account or address: {x!r}")


# ---------------------------------------------------------------- accounts

class Account:
    """A key pair holder: an Ed25519 signing key (its address is derived from the
    public key) and an X25519 sealing key (data is sealed to it).

    Export with :meth:`export` (a passphrase keystore: scrypt then AES-256-GCM)
    and load with :meth:`import_`.
    """

    __slots__ = ("name", "signing_key", "sealing_key", "_addr")

    def __init__(self, name: str, signing_key: crypto.SigningKey, sealing_key: crypto.PrivateKey) -> None:
        self.name = name
        self.signing_key = signing_key
        self.sealing_key = sealing_key
        self._addr = address_of(signing_key.verify_key)

    @classmethod
    def generate(cls, name: str) -> "Account":
        return cls(name, crypto.SigningKey.generate(), crypto.PrivateKey.generate())

    @classmethod
    def from_seeds(cls, name: str, signing_seed: bytes, sealing_key: bytes) -> "Account":
        return cls(name, crypto.SigningKey.from_seed(signing_seed), crypto.PrivateKey.from_bytes(sealing_key))

    @property
    def address(self) -> str:
        return address_str(self._addr)

    @property
    def address_bytes(self) -> bytes:
        return self._addr

    @property
    def verify_key(self) -> crypto.VerifyKey:
        return self.signing_key.verify_key

    @property
    def public_key(self) -> crypto.PublicKey:
        """The X25519 key others seal data to."""
        return self.sealing_key.public_key

    def _secret(self) -> bytes:
        return codec.encode([self.name, self.signing_key.seed(), bytes(self.sealing_key)])

    @classmethod
    def _from_secret(cls, data: bytes) -> "Account":
        name, seed, seal = codec.decode(data)
        return cls.from_seeds(name, seed, seal)

    def export(self, passphrase: str, *, n: int = 2**15, r: int = 8, p: int = 1) -> bytes:
        """The private keys sealed under ``passphrase`` (scrypt N, r, p then AES-256-GCM)."""
        return _c.keystore_seal(self._secret(), passphrase, n, r, p)

    @classmethod
    def import_(cls, keystore: bytes, passphrase: str) -> "Account":
        """Inverse of :meth:`export`; raises DecryptionFailed for a wrong passphrase."""
        return cls._from_secret(_c.keystore_open(keystore, passphrase))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and other._addr == self._addr

    def __hash__(self) -> int:
        return hash(self._addr)

    def __repr__(self) -> str:
        return f"Account({self.name!r}, {self.address[:14]}…)"

    def _repr_html_(self) -> str:
        return html_table(f"Account {self.name}", ["", ""], [
            ["address", self.address], ["signing key (Ed25519)", bytes(self.verify_key).hex()],
            ["sealing key (X25519)", bytes(self.public_key).hex()]])


# ---------------------------------------------------------------- transactions

def _named(kind: str, payload: list) -> dict[str, Any]:
    return dict(zip(KIND_FIELDS[kind], payload))


@dataclasses.dataclass(frozen=True)
class Transaction:
    """A decoded transaction record."""

    txid: bytes
    kind: str
    chain_id: int
    sender: str
    sender_key: bytes
    nonce: int
    fields: dict
    signature: bytes
    record: bytes = dataclasses.field(repr=False)

    @property
    def amount(self) -> int | None:
        """The main amount the transaction names (amount, budget or price), if any."""
        for k in ("amount", "budget", "price"):
            if k in self.fields:
                return int(self.fields[k])
        return None

    def __repr__(self) -> str:
        amt = "" if self.amount is None else f", {format_tag(self.amount)}"
        return f"Transaction({self.kind}, from={self.sender[:14]}…, nonce={self.nonce}{amt}, id={self.txid.hex()[:12]}…)"


def decode_tx(record: bytes) -> Transaction:
    """Decode a stored transaction record (``[body, signature]``) into fields."""
    body, sig = codec.decode(record)
    version, chain_id, kind, key, nonce, payload = codec.decode(body)
    name = KINDS.get(kind, f"kind{kind}")
    return Transaction(txid=_c.tx_id(record), kind=name, chain_id=chain_id, sender=address_str(address_of(key)),
                       sender_key=key, nonce=nonce, fields=_named(name, payload) if name in KIND_FIELDS else {},
                       signature=sig, record=bytes(record))


# ---------------------------------------------------------------- Merkle proofs

def merkle_leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash SHA-256(0x00 ‖ data)."""
    return _c.merkle_leaf_hash(data)


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf hashes (SHA-256 of b"" when empty)."""
    return _c.merkle_root(list(leaf_hashes))


def _index(i: Any, n: int, what: str) -> int:
    """An int in [0, n), else InvalidArgument naming it (not a pybind11 TypeError)."""
    if isinstance(i, bool) or not isinstance(i, numbers.Integral):
        raise InvalidArgument(f"{what} must be an int, got {i!r}")
    if not 0 <= int(i) < n:
        raise InvalidArgument(f"{what} {int(i)} is out of range for {n} entries")
    return int(i)


def merkle_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 audit path of leaf ``index``."""
    leaves = list(leaf_hashes)
    return _c.merkle_proof(leaves, _index(index, len(leaves), "index"))


def verify_proof(leaf_hash: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 inclusion check; needs nothing but its arguments."""
    for v, what in ((index, "index"), (tree_size, "tree_size")):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**64:
            raise InvalidArgument(f"{what} must be an int in [0, 2**64), got {v!r}")
    return bool(_c.merkle_verify(leaf_hash, index, tree_size, list(path), root))


@dataclasses.dataclass(frozen=True)
class MerkleProof:
    """Inclusion of one record in a Merkle root; checkable without the ledger."""

    leaf_hash: bytes
    index: int
    tree_size: int
    path: tuple[bytes, ...]
    root: bytes

    def verify(self, record: bytes | None = None) -> bool:
        """True iff the path leads to ``root`` (and, if given, ``record`` is the leaf)."""
        if record is not None and merkle_leaf_hash(record) != self.leaf_hash:
            return False
        return verify_proof(self.leaf_hash, self.index, self.tree_size, self.path, self.root)

    def __repr__(self) -> str:
        return f"MerkleProof(index={self.index}, tree_size={self.tree_size}, depth={len(self.path)}, root={self.root.hex()[:12]}…)"


def split_payment(price: int, fee_bps: int, royalties: Sequence[tuple[AccountLike, int]]) -> tuple[int, int, list[tuple[str, int]]]:
    """How a purchase at ``price`` is split: ``(seller, fee, [(recipient, amount)])``.

    royalty_i = ⌊price·bps_i/10⁴⌋, plus one unit each, largest fractional part
    first (ties in address order), until the royalties add up to
    ⌊price·Σbps/10⁴⌋; fee = ⌊price·fee_bps/10⁴⌋; the seller gets the rest.
    """
    roy = sorted((to_address(a), int(b)) for a, b in royalties)
    seller, fee, out = _c.split_payment(int(price), int(fee_bps), roy)
    return seller, fee, [(address_str(a), v) for a, v in out]


# ---------------------------------------------------------------- blocks

class Block:
    """One committed block: its header, its transactions, and inclusion proofs."""

    def __init__(self, header: dict, records: list[bytes]) -> None:
        self.header = header
        self._records = records
        self._txs: list[Transaction] | None = None

    height = property(lambda self: self.header["height"])
    hash = property(lambda self: self.header["hash"])
    prev_hash = property(lambda self: self.header["prev_hash"])
    tx_root = property(lambda self: self.header["tx_root"])
    state_root = property(lambda self: self.header["state_root"])
    timestamp_ms = property(lambda self: self.header["timestamp_ms"])

    @property
    def transactions(self) -> list[Transaction]:
        if self._txs is None:
            self._txs = [] if self.height == 0 else [decode_tx(r) for r in self._records]
        return self._txs

    @property
    def records(self) -> list[bytes]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def proof(self, index: int) -> MerkleProof:
        """Proof that transaction ``index`` is in this block's ``tx_root``."""
        leaves = [merkle_leaf_hash(r) for r in self._records]
        index = _index(index, len(leaves), "transaction index")
        return MerkleProof(leaves[index], index, len(leaves), tuple(merkle_proof(leaves, index)), self.tx_root)

    def to_pandas(self):
        import pandas as pd
        rows = [{"index": i, "kind": t.kind, "sender": t.sender, "nonce": t.nonce, "amount": t.amount,
                 "txid": t.txid.hex()} for i, t in enumerate(self.transactions)]
        return pd.DataFrame(rows, columns=["index", "kind", "sender", "nonce", "amount", "txid"])

    def __repr__(self) -> str:
        return f"Block(height={self.height}, n_tx={len(self)}, hash={self.hash.hex()[:12]}…)"

    def _repr_html_(self) -> str:
        rows = [(i, t.kind, t.sender[:14] + "…", t.nonce, "" if t.amount is None else format_tag(t.amount))
                for i, t in enumerate(self.transactions[:50])]
        foot = (f"hash {self.hash.hex()[:16]}…, prev {self.prev_hash.hex()[:16]}…, tx root {self.tx_root.hex()[:16]}…, "
                f"state root {self.state_root.hex()[:16]}…")
        return html_table(f"Block {self.height} ({len(self)} transactions)", ["#", "kind", "sender", "nonce", "amount"], rows, foot)


# ---------------------------------------------------------------- contracts

def _h32(x: bytes | None, what: str) -> bytes:
    if x is None:
        return ZERO32
    x = bytes(x)
    if len(x) != 32:
        raise InvalidArgument(f"{what} must be 32 bytes, got {len(x)}")
    return x


def _amount(x: int, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0 or x >= 2**64:
        raise InvalidArgument(f"{what} must be an int in [0, 2**64) base units, got {x!r} (use tg.TAG multiples)")
    return x


class Contracts:
    """The native contracts of a :class:`~tagger.Network`, as ``net.ledger``.

    Each call builds, signs (with the local account's key) and submits one
    transaction, and commits a block unless it runs inside ``net.batch()``.
    Accounts may be given as :class:`Account`, a local name, or a ``"tg…"``
    address (then only as a recipient). Ids (task, NFT, listing) are 32 bytes.
    """

    def __init__(self, net: "Network") -> None:
        self._net = net

    @property
    def _led(self):
        return self._net._led

    def _send(self, signer: AccountLike, kind: str, payload: list) -> bytes:
        return self._net._send(signer, kind, payload)

    def _addr(self, x: AccountLike) -> bytes:
        return self._net._address(x)

    # ---- tasks and escrow ----
    def lock_escrow(self, owner: AccountLike, budget: int, *, required_stake: int = 0,
                    params_hash: bytes | None = None, verifier: AccountLike | None = None) -> bytes:
        """Create a task by locking ``budget`` from ``owner``; returns the task id.

        ``verifier`` (default: the owner) may sign upload receipts, slashes and the
        finalize; workers answering need a stake of ``required_stake`` bound to the task.
        """
        ver = b"" if verifier is None else self._addr(verifier)
        return self._send(owner, "escrow_lock", [_amount(budget, "budget"), _amount(required_stake, "required_stake"),
                                                  _h32(params_hash, "params_hash"), ver])

    def publish(self, owner: AccountLike, budget: int, terms: Mapping[str, Any], *, required_stake: int = 0,
                params_hash: bytes | None = None, verifier: AccountLike | None = None) -> bytes:
        """Create a task whose rules the ledger enforces: lock ``budget`` and record its
        ``terms`` (every key of :data:`TERMS_FIELDS`; see ``tagger/settle.h``). Answers are
        then checked against the terms, and the finalize is re-executed by the ledger."""
        missing = [k for k in TERMS_FIELDS if k not in terms]
        if missing:
            raise InvalidArgument(f"terms lack {missing}")
        row: list[Any] = []  # the terms in TERMS_FIELDS order, as msgpack values
        for k in TERMS_FIELDS:
            v = terms[k]
            if k == "gold_commitment":
                row.append(_h32(v, "gold_commitment"))
            elif k in ("method", "policy"):
                row.append(str(v))
            elif k == "slashing":
                row.append(1 if v else 0)
            else:
                row.append(_amount(v, k))
        # Optional fields up to the last one set: terms without them keep their bytes.
        copilot = terms.get("copilot")
        extra: list[Any] = [_amount(terms.get("fraud_alpha_ppm", 0), "fraud_alpha_ppm"),
                            _amount(terms.get("min_reputation_bps", 0), "min_reputation_bps"),
                            b"" if not copilot else self._addr(copilot),
                            _amount(terms.get("adaptive_ppm", 0), "adaptive_ppm")]
        while extra and not extra[-1]:
            extra.pop()
        row.extend(extra)
        ver = b"" if verifier is None else self._addr(verifier)
        return self._send(owner, "publish", [_amount(budget, "budget"), _amount(required_stake, "required_stake"),
                                             _h32(params_hash, "params_hash"), ver, row])

    def assign_slots(self, task_id: bytes, owner: AccountLike, grants: Mapping[AccountLike, Iterable[int]],
                     revokes: Mapping[AccountLike, Iterable[int]] | None = None) -> list[bytes]:
        """Record a published task's assignment on the ledger: ``grants`` give each worker
        items (only a slot's holder may then fill it); ``revokes`` (after the deadline) take
        back slots their holders left unanswered, slashing ``expiry_slash_bps`` of their
        stake once, for a slot they held for at least half of the task's window (one granted
        later is taken back for free; docs/ledger.md). Split into transactions of at most
        100,000 items, all in one block."""
        def item(i: Any, w: Any) -> int:
            # int() truncated 1.9 to item 1 and read "3" as item 3: a slot the owner never meant.
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise InvalidArgument(f"assign_slots: items must be ints (item numbers), got {i!r} for worker {w!r}")
            return int(i)

        def rows(m):
            out = sorted((self._addr(w), sorted(item(i, w) for i in items)) for w, items in (m or {}).items())
            return [(a, its) for a, its in out if its]
        g, r = rows(grants), rows(revokes)
        cap = _c.MAX_ANSWERS_PER_TX
        txids: list[bytes] = []
        batch: tuple[list[list[Any]], list[list[Any]]] = ([], [])  # grants, revokes: [address, items]
        size = 0
        with self._net.batch():
            for which, entries in ((1, r), (0, g)):  # revokes first: a slot may move in one block
                for a, items in entries:
                    for lo in range(0, len(items), cap):
                        part = items[lo:lo + cap]
                        if size + len(part) > cap:
                            txids.append(self._send(owner, "assign", [_h32(task_id, "task_id"), batch[0], batch[1]]))
                            batch, size = ([], []), 0
                        batch[0 if which == 0 else 1].append([a, part])
                        size += len(part)
            if size:
                txids.append(self._send(owner, "assign", [_h32(task_id, "task_id"), batch[0], batch[1]]))
        return txids

    def extend_task(self, task_id: bytes, owner: AccountLike, items: Mapping[int, int], amount: int) -> bytes:
        """Buy more answers for some items of a published task (kind ``extend``):
        ``items`` maps item number -> extra answers wanted; ``amount`` is locked from
        the owner into the escrow and must be exactly their price,
        ``(rate + policy_base) * sum(items.values())``, or the ledger refuses it."""
        def count(v: Any, what: str) -> int:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InvalidArgument(f"extend_task: {what} must be an int, got {v!r}")
            if v < 0:  # the codec's "expected uint, found int" said nothing of which
                raise InvalidArgument(f"extend_task: {what} must be >= 0, got {int(v)}")
            return int(v)
        rows = sorted((count(i, "an item number"), count(n, f"the extra answers of item {i!r}")) for i, n in items.items())
        if len(rows) > _c.MAX_ANSWERS_PER_TX:
            raise InvalidArgument(f"extend_task: {len(rows):,} items in one extend, at most {_c.MAX_ANSWERS_PER_TX:,} "
                                  "(the ledger's list limit); buy them in several extends")
        return self._send(owner, "extend", [_h32(task_id, "task_id"), _amount(amount, "amount"), [list(r) for r in rows]])

    def item_extra(self, task_id: bytes) -> Any:
        """Answers bought by ``extend`` beyond the overlap, per item of a published task
        (a numpy array; empty when the task was never extended)."""
        return self._led.item_extra(_h32(task_id, "task_id"))

    def assignments(self, task_id: bytes) -> list[tuple[bytes, Any]]:
        """(worker address, items) of a published task's assignment on the ledger."""
        return [(bytes(a), items) for a, items in self._led.assignments(_h32(task_id, "task_id"))]

    def terms(self, task_id: bytes) -> dict | None:
        """The published rules of a task (None for a task created by :meth:`lock_escrow`)."""
        return self._led.terms(_h32(task_id, "task_id"))

    def settlement(self, task_id: bytes, gold_salt: bytes = ZERO32, gold: Sequence[tuple[int, int]] = (),
                   partial: bool = False) -> dict:
        """What the ledger computes for a finalize of the published task now: labels,
        posterior (ppm), payouts, reputation counts, slashes and the result hash."""
        return self._led.settlement(_h32(task_id, "task_id"), bytes(gold_salt), [(int(i), int(l)) for i, l in gold],
                                    bool(partial))

    def finalize_settled(self, task_id: bytes, by: AccountLike, settlement: Mapping[str, Any], *,
                         gold_salt: bytes = ZERO32, gold: Sequence[tuple[int, int]] = (), partial: bool = False,
                         payouts: Mapping[AccountLike, int] | None = None) -> dict:
        """Finalize a published task with the lists of ``settlement`` (the ledger re-executes
        them and refuses any difference). ``payouts`` replaces the settlement's only for a
        task whose policy is ``discretionary``. Returns ``{"txid", "paid", "slashed", "refund"}``."""
        task = self.task(task_id)
        if task is None:
            raise InvalidArgument("unknown task")
        if payouts is None:
            pay = [(bytes(a), int(v)) for a, v in settlement["payouts"]]
        else:
            pay = sorted((self._addr(a), _amount(v, "payout")) for a, v in payouts.items() if v)
        rep = [[bytes(a), int(c), int(i)] for a, c, i in settlement["reputation"]]
        sl = [(bytes(a), int(v)) for a, v in settlement["slashes"]]
        txid = self._send(by, "finalize", [_h32(task_id, "task_id"), [list(p) for p in pay], rep, [list(x) for x in sl],
                                           bytes(settlement["result_hash"]), _h32(gold_salt, "gold_salt"),
                                           [[int(i), int(l)] for i, l in sorted(gold)], 1 if partial else 0])
        paid, slashed = sum(v for _, v in pay), sum(v for _, v in sl)
        return {"txid": txid, "paid": paid, "slashed": slashed, "refund": task["escrow"] + slashed - paid}

    def submit_answers(self, task_id: bytes, worker: AccountLike, answers: Iterable[tuple[int, int]] | None = None, *,
                       batch_hash: bytes | None = None, count: int | None = None,
                       duration_ms: Sequence[int] | np.ndarray | None = None,
                       confidence_ppm: Sequence[int] | np.ndarray | None = None) -> bytes:
        """Record a batch of ``(item, label)`` int pairs — or only their hash and count — as one tx.

        ``answers`` may be any iterable of pairs; an integer numpy array of shape (n, 2)
        is encoded in C++ without a Python object per answer (same bytes).
        ``duration_ms``: the worker's response time per answer, signed with it (the fraud
        screen's fast rule reads it). ``confidence_ppm``: the copilot's confidence per
        answer (only the task's copilot gives one, and it must)."""
        if duration_ms is not None or confidence_ppm is not None:
            import numpy as np
            if batch_hash is not None:
                raise InvalidArgument("durations and confidences go with the answers, not with a batch hash")
            pairs = np.asarray(list(answers) if answers is not None and not hasattr(answers, "shape") else answers,
                               dtype=np.int64).reshape(-1, 2)
            cols = [None if c is None else _u32_column(c, name, len(pairs), hi)
                    for c, name, hi in ((duration_ms, "duration_ms", 86_400_000), (confidence_ppm, "confidence_ppm", 1_000_000))]
            if len(pairs) == 0 or pairs.min() < 0 or pairs.max() >= 2**31:
                raise InvalidArgument("answers must be non-empty (item, label) pairs of non-negative int32")
            return self._signed_answers(worker, _c.answers_payload(
                _h32(task_id, "task_id"), pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), cols[0], cols[1]))

        def _is_int32_pairs(a: Any) -> TypeGuard[np.ndarray]:
            # Anything else (empty, too many, negative, wider than int32) keeps the
            # per-pair path and its errors.
            import numpy as np
            return (isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[1] == 2 and a.dtype.kind in "iu"
                    and 0 < len(a) <= _c.MAX_ANSWERS_PER_TX and bool(a.min() >= 0) and bool(a.max() < 2**31))

        if batch_hash is not None:
            if answers is not None:
                raise InvalidArgument("give answers or batch_hash, not both")
            payload = [_h32(task_id, "task_id"), [], _h32(batch_hash, "batch_hash"), int(count or 0)]
        elif _is_int32_pairs(answers):
            return self._signed_answers(worker, _c.answers_payload(_h32(task_id, "task_id"), answers[:, 0], answers[:, 1]))
        else:
            rows = [[int(i), int(l)] for i, l in (answers if answers is not None else [])]
            payload = [_h32(task_id, "task_id"), rows, b"", len(rows)]
        return self._send(worker, "answers", payload)

    def _signed_answers(self, worker: AccountLike, body: bytes) -> bytes:
        """Signs an ``answers`` payload built in C++ and submits it, committing unless
        inside an outer batch, as ``_send`` does."""
        acct = self._net.account(worker)
        tx = _c.make_tx(acct.signing_key._k, self._led.chain_id, KIND_CODES["answers"],
                        self._led.next_nonce(acct.address_bytes), body)
        with self._net.batch():
            return self._net.submit(tx)

    def record_upload(self, task_id: bytes, verifier: AccountLike, worker: AccountLike, item: int,
                      ciphertext_hash: bytes, verdict: str | int = "accepted", reasons: Sequence[str] = ()) -> bytes:
        """An upload receipt signed by the task's verifier; accepted uploads count as contributions."""
        v = VERDICTS[verdict] if isinstance(verdict, str) else int(verdict)
        return self._send(verifier, "upload_receipt", [_h32(task_id, "task_id"), self._addr(worker), int(item),
                                                        _h32(ciphertext_hash, "ciphertext_hash"), v, list(reasons)])

    def finalize_escrow(self, task_id: bytes, by: AccountLike, payouts: Mapping[AccountLike, int], *,
                        reputation: Mapping[AccountLike, tuple[int, int]] | None = None,
                        slashes: Mapping[AccountLike, int] | None = None, result_hash: bytes | None = None) -> dict:
        """Close a task in ONE atomic transaction: slashes (into the escrow), payouts to
        contributors, reputation (alpha, beta) increments, the rest refunded to the owner.

        Returns ``{"txid", "paid", "slashed", "refund"}``.
        """
        task = self.task(task_id)
        if task is None:
            raise InvalidArgument("unknown task")
        pay = sorted((self._addr(a), _amount(v, "payout")) for a, v in payouts.items())
        rep = sorted((self._addr(a), int(al), int(be)) for a, (al, be) in (reputation or {}).items())
        sl = sorted((self._addr(a), _amount(v, "slash")) for a, v in (slashes or {}).items())
        txid = self._send(by, "finalize", [_h32(task_id, "task_id"), [list(p) for p in pay], [list(r) for r in rep],
                                           [list(s) for s in sl], _h32(result_hash, "result_hash")])
        paid, slashed = sum(v for _, v in pay), sum(v for _, v in sl)
        return {"txid": txid, "paid": paid, "slashed": slashed, "refund": task["escrow"] + slashed - paid}

    def refund_escrow(self, task_id: bytes, owner: AccountLike) -> bytes:
        """Cancel a task nobody contributed to; the whole escrow returns to the owner."""
        return self._send(owner, "escrow_refund", [_h32(task_id, "task_id")])

    # ---- staking ----
    def stake(self, staker: AccountLike, amount: int, *, task_id: bytes | None = None,
              lock_blocks: int = 0, unlock_height: int | None = None) -> bytes:
        """Lock ``amount``; bound to ``task_id`` it is slashable by that task's rule only.
        Unlocks at ``unlock_height`` (default: the next block + ``lock_blocks``)."""
        if unlock_height is None:
            unlock_height = self._led.height + 1 + int(lock_blocks)
        return self._send(staker, "stake", [b"" if task_id is None else _h32(task_id, "task_id"),
                                            _amount(amount, "amount"), int(unlock_height)])

    def unstake(self, staker: AccountLike, task_id: bytes | None = None) -> int:
        """Return an unlocked stake to its owner; returns the amount."""
        st = self.stake_of(staker, task_id)
        self._send(staker, "unstake", [b"" if task_id is None else _h32(task_id, "task_id")])
        return 0 if st is None else st["amount"]

    def slash(self, task_id: bytes, by: AccountLike, staker: AccountLike, amount: int, reason: str = "") -> bytes:
        """Move part of a task-bound stake into the task's escrow (owner or verifier, task open).
        Only for ``escrow_lock`` tasks: a published task's stakes are slashed by its rules alone
        (its finalize, expired slots), so this raises ``RuleViolation`` for one."""
        return self._send(by, "slash", [_h32(task_id, "task_id"), self._addr(staker), _amount(amount, "amount"), reason])

    # ---- NFTs ----
    def mint_nft(self, task_id: bytes, owner: AccountLike, manifest_hash: bytes, *,
                 royalties: Mapping[AccountLike, int] | None = None, license: str = "", uri: str = "",
                 key_blob: bytes = b"") -> bytes:
        """Mint the task's dataset NFT (once, by the owner, after finalize); returns its id.
        ``royalties``: recipient -> basis points of every sale price (sum <= 10000 - fee)."""
        roy = sorted((self._addr(a), int(b)) for a, b in (royalties or {}).items())
        return self._send(owner, "nft_mint", [_h32(task_id, "task_id"), _h32(manifest_hash, "manifest_hash"),
                                              [list(r) for r in roy], license, uri, bytes(key_blob)])

    def transfer_nft(self, nft_id: bytes, holder: AccountLike, to: AccountLike, key_blob: bytes = b"") -> bytes:
        return self._send(holder, "nft_transfer", [_h32(nft_id, "nft_id"), self._addr(to), bytes(key_blob)])

    def list_nft(self, nft_id: bytes, seller: AccountLike, price: int, kind: str = "sale") -> bytes:
        """List for ``"sale"`` (the NFT changes hands) or ``"license"``; returns the listing id."""
        if kind not in LISTING_KINDS:
            raise InvalidArgument(f"kind must be 'sale' or 'license', got {kind!r}")
        return self._send(seller, "list", [_h32(nft_id, "nft_id"), LISTING_KINDS[kind], _amount(price, "price")])

    def grant_signature(self, listing_id: bytes, seller: AccountLike, buyer: AccountLike, key_blob: bytes) -> bytes:
        """The seller's signature that lets a purchase carry ``key_blob`` for ``buyer``."""
        acct = self._net.account(seller)
        msg = _c.key_grant_message(self._led.chain_id, _h32(listing_id, "listing_id"), self._addr(buyer), key_blob)
        return acct.signing_key.sign(msg)

    def buy(self, listing_id: bytes, buyer: AccountLike, *, key_blob: bytes = b"", grant_sig: bytes | None = None,
            price: int | None = None) -> dict:
        """Buy a listing: payment split (seller, royalties, fee) + NFT transfer or license
        + the key blob for the buyer, atomically. Without ``grant_sig`` the seller's
        local key signs the key grant. Returns ``{"txid", "seller", "fee", "royalties"}``."""
        lst = self.listing(listing_id)
        if lst is None:
            raise RuleViolation("buy: no active listing " + bytes(listing_id).hex()[:16])
        price = lst["price"] if price is None else price
        if key_blob and grant_sig is None:
            grant_sig = self.grant_signature(listing_id, address_str(lst["seller"]), buyer, key_blob)
        nft = self.nft(lst["nft"])
        if nft is None:  # a listing names a minted NFT; the ledger would refuse the buy too
            raise RuleViolation("buy: the listing names an unknown NFT " + bytes(lst["nft"]).hex()[:16])
        txid = self._send(buyer, "buy", [_h32(listing_id, "listing_id"), _amount(price, "price"), bytes(key_blob),
                                         bytes(grant_sig or b"")])
        seller, fee, roy = split_payment(price, self._led.fee_bps, [(address_str(a), b) for a, b in nft["royalties"]])
        return {"txid": txid, "seller": seller, "fee": fee, "royalties": roy}

    def cancel(self, listing_id: bytes, seller: AccountLike) -> bytes:
        return self._send(seller, "cancel", [_h32(listing_id, "listing_id")])

    # ---- reads (latest state) ----
    def task(self, task_id: bytes) -> dict | None:
        t = self._led.task(_h32(task_id, "task_id"))
        if t is not None:
            t["status"] = TASK_STATUS[t["status"]]
        return t

    def contributions(self, task_id: bytes, worker: AccountLike) -> int:
        return self._led.contributions(_h32(task_id, "task_id"), self._addr(worker))

    def stake_of(self, staker: AccountLike, task_id: bytes | None = None) -> dict | None:
        return self._led.stake(self._addr(staker), None if task_id is None else _h32(task_id, "task_id"))

    def nft(self, nft_id: bytes) -> dict | None:
        return self._led.nft(_h32(nft_id, "nft_id"))

    def nft_owner(self, nft_id: bytes) -> str | None:
        n = self.nft(nft_id)
        return None if n is None else address_str(n["holder"])

    def listing(self, listing_id: bytes) -> dict | None:
        lst = self._led.listing(_h32(listing_id, "listing_id"))
        if lst is not None:
            lst["kind"] = "sale" if lst["kind"] == 0 else "license"
        return lst

    def listings(self):
        """Active listings as a DataFrame (id, nft, seller, kind, price)."""
        import pandas as pd
        rows = [{"id": r["id"].hex(), "nft": r["nft"].hex(), "seller": address_str(r["seller"]),
                 "kind": "sale" if r["kind"] == 0 else "license", "price": r["price"], "created_height": r["created_height"]}
                for r in self._led.listings()]
        return pd.DataFrame(rows, columns=["id", "nft", "seller", "kind", "price", "created_height"])

    def has_license(self, nft_id: bytes, account: AccountLike) -> bool:
        return self._led.license(_h32(nft_id, "nft_id"), self._addr(account)) is not None

    def licenses_of(self, account: AccountLike) -> list[dict]:
        return self._led.licenses_of(self._addr(account))

    def key_grant(self, nft_id: bytes, account: AccountLike) -> bytes | None:
        """The key blob recorded for ``account`` (at mint, transfer or purchase), if any."""
        return self._led.key_grant(_h32(nft_id, "nft_id"), self._addr(account))

    def reputation(self, account: AccountLike) -> tuple[int, int]:
        """(alpha, beta) counts: a Beta(alpha+1, beta+1) posterior of the account's accuracy."""
        a = self._led.account(self._addr(account))
        if a is None:
            raise UnknownAccount(f"{account!r} is not registered")
        return a["rep_alpha"], a["rep_beta"]

    def __repr__(self) -> str:
        return f"Contracts(height={self._led.height})"
