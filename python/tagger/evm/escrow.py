"""TaskEscrow from Python: a tagger task funded, answered and paid on an EVM chain.

Every input of the settlement is on chain: the terms (tagger's settle terms, the
canonical msgpack row of :data:`tagger.ledger.TERMS_FIELDS`, in the Funded event),
the answers (Answered events: packed ``(item u32, label u32)`` pairs, each batch
sent by the worker's own EVM key), the stakes (contract storage), the escrow (the
budget) and the gold reveal (the Committed event). The published rule, which
:meth:`Escrow.settlement` runs and anyone can run again, is:

1. answers in chain order (block, log index); an answer that names an item or a
   label outside the terms, repeats an item for the same worker, or exceeds its
   item's ``overlap`` is ignored;
2. the gold reveal counts only if it matches the terms' gold commitment;
3. ``tagger._core.ledger.settle`` (the C++ function the tagger ledger re-executes)
   over those answers, workers = the EVM addresses (20 bytes) sorted, with their
   stakes, escrow = the budget, ``partial=True`` (the answered items);
4. the commitment is ``keccak256(abi_encode(payouts, slashes))`` over its lists
   (``(address, uint256)[]``, sorted by address).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .. import codec
from .._core import ledger as _cl
from .._optional import require
from ..errors import InvalidArgument
from ..ledger import TERMS_FIELDS, AccountLike

if TYPE_CHECKING:  # pragma: no cover
    from .bridge import Bridge

__all__ = ["Escrow", "encode_terms", "decode_terms", "hash_lists", "STATUS"]

STATUS = {0: "none", 1: "open", 2: "committed", 3: "challenged", 4: "resolved", 5: "finalized", 6: "refunded"}
MAX_ANSWERS_PER_CALL = 1000
ZERO32 = bytes(32)
_STR_TERMS = ("method", "policy")


def encode_terms(terms: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a task's terms: msgpack of every :data:`TERMS_FIELDS` value in order."""
    missing = [k for k in TERMS_FIELDS if k not in terms]
    if missing:
        raise InvalidArgument(f"terms lack {missing}")
    row: list[Any] = []
    for k in TERMS_FIELDS:
        v = terms[k]
        if k == "gold_commitment":
            v = bytes(v)
            if len(v) != 32:
                raise InvalidArgument("gold_commitment must be 32 bytes")
            row.append(v)
        elif k in _STR_TERMS:
            row.append(str(v))
        elif k == "slashing":
            row.append(1 if v else 0)
        else:
            row.append(int(v))
    return codec.encode(row)


def decode_terms(data: bytes) -> dict:
    """Inverse of :func:`encode_terms` (the dict ``settle`` takes)."""
    row = codec.decode(bytes(data))
    if not isinstance(row, list) or len(row) != len(TERMS_FIELDS):
        raise InvalidArgument("not a terms record")
    d = dict(zip(TERMS_FIELDS, row))
    d["slashing"] = bool(d["slashing"])
    return d


def hash_lists(payouts: Sequence[tuple[str, int]], slashes: Sequence[tuple[str, int]]) -> bytes:
    """keccak256(abi_encode(payouts, slashes)), as TaskEscrow.hash_lists computes it."""
    enc = _eth_abi().encode(["(address,uint256)[]", "(address,uint256)[]"],
                         [[(a, int(v)) for a, v in payouts], [(a, int(v)) for a, v in slashes]])
    return bytes(_keccak()(enc))


def _eth_abi() -> Any:
    require("web3", "tg.evm")  # eth-abi comes with web3
    import eth_abi
    return eth_abi


def _keccak() -> Any:
    require("web3", "tg.evm")
    from eth_utils import keccak
    return keccak


def _pack(answers: Iterable[tuple[int, int]]) -> bytes:
    a = np.asarray(list(answers), dtype=np.int64).reshape(-1, 2)
    if len(a) == 0:
        raise InvalidArgument("no answers")
    if (a < 0).any() or (a >= 2**32).any():
        raise InvalidArgument("items and labels must be in [0, 2**32)")
    return a.astype(">u4").tobytes()


def _unpack(data: bytes) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=">u4").reshape(-1, 2).astype(np.int64)


class Escrow:
    """``bridge.escrow``: the TaskEscrow contract driven by tagger accounts (their derived
    EVM keys sign). Task ids are the contract's (0, 1, …)."""

    def __init__(self, bridge: "Bridge") -> None:
        self._b = bridge
        self.contract = bridge.task_escrow

    def _send(self, account: AccountLike, call: Any, what: str) -> Any:
        return self._b.chain.send(self._b.evm_signer(account), call, what=what)

    def _approve(self, account: AccountLike, amount: int) -> None:
        if amount > 0:
            self._b.approve(account, self.contract.address, amount)

    def _event(self, name: str, task_id: int) -> list:
        return [e for e in self._b._logs(self.contract, name) if int(e["args"]["task_id"]) == int(task_id)]

    # ---- requester and workers
    def fund(self, requester: AccountLike, budget: int, terms: Mapping[str, Any], *, required_stake: int = 0,
             bond: int = 0, window: int = 3600, arbiter: AccountLike | str | None = None) -> int:
        """Lock ``budget`` TAG for a task with these settle ``terms`` (every key of
        TERMS_FIELDS); challenges need ``bond`` and are open ``window`` seconds after the
        commit; ``arbiter`` (a tagger account or an EVM address; default the bridge
        operator) rules on them. Returns the task id."""
        data = encode_terms(terms)
        if arbiter is None:
            arb = self._b.addresses["operator"]
        elif isinstance(arbiter, str) and arbiter.startswith("0x"):
            arb = arbiter
        else:
            arb = self._b.evm_address(arbiter)
        self._approve(requester, int(budget))
        r = self._send(requester, self.contract.functions.fund(int(budget), int(required_stake), int(bond), int(window),
                                                               arb, data), "TaskEscrow.fund")
        return int(self._b.chain.events(self.contract, "Funded", r)[0]["args"]["task_id"])

    def stake(self, worker: AccountLike, task_id: int, amount: int) -> None:
        self._approve(worker, int(amount))
        self._send(worker, self.contract.functions.stake(int(task_id), int(amount)), "TaskEscrow.stake")

    def answer(self, worker: AccountLike, task_id: int, answers: Iterable[tuple[int, int]]) -> list[str]:
        """Record ``(item, label)`` answers from the worker's EVM key, 1000 a transaction."""
        data = _pack(answers)
        step = 8 * MAX_ANSWERS_PER_CALL
        out = []
        for lo in range(0, len(data), step):
            r = self._send(worker, self.contract.functions.answer(int(task_id), data[lo:lo + step]), "TaskEscrow.answer")
            out.append(r["transactionHash"].hex())
        return out

    # ---- the rule
    def task(self, task_id: int) -> dict:
        names = ("requester", "arbiter", "budget", "required_stake", "bond", "window", "rules", "status", "payouts_hash",
                 "result_hash", "deadline", "challenger", "challenge_hash", "answer_batches", "requester_bond")
        t = dict(zip(names, self.contract.functions.tasks(int(task_id)).call()))
        t["status"] = STATUS.get(int(t["status"]), str(t["status"]))
        return t

    def terms(self, task_id: int) -> dict:
        evs = self._event("Funded", task_id)
        if not evs:
            raise InvalidArgument(f"no task {task_id} on this TaskEscrow")
        return decode_terms(bytes(evs[0]["args"]["terms"]))

    def revealed_gold(self, task_id: int) -> tuple[bytes, list[tuple[int, int]]]:
        """(salt, gold) revealed by the commit; (zeros, []) before it or when none."""
        evs = self._event("Committed", task_id)
        if not evs or not bytes(evs[0]["args"]["gold"]):
            return ZERO32, []
        try:
            salt, gold = codec.decode(bytes(evs[0]["args"]["gold"]))
            return bytes(salt), [(int(i), int(lab)) for i, lab in gold]
        except Exception:  # a malformed reveal counts as none (rule 2)
            return ZERO32, []

    def settlement(self, task_id: int, gold_salt: bytes | None = None, gold: Sequence[tuple[int, int]] | None = None) -> dict:
        """The published rule (module doc) over the chain's inputs: ``payouts`` and
        ``slashes`` ([(EVM address, amount)]), ``result_hash``, ``payouts_hash`` (the
        commitment), ``labels``, ``n_answers``. The gold defaults to the revealed one."""
        terms = self.terms(task_id)
        if gold is None:
            gold_salt, gold = self.revealed_gold(task_id)
        gold = sorted((int(i), int(lab)) for i, lab in gold)
        commitment = bytes(terms["gold_commitment"])
        if commitment == ZERO32 or not gold or _cl.gold_commitment(bytes(gold_salt or ZERO32), gold) != commitment:
            gold = []
        n_items, n_labels, overlap = int(terms["n_items"]), int(terms["n_labels"]), int(terms["overlap"])
        seen: set[tuple[bytes, int]] = set()
        per_item: dict[int, int] = {}
        rows: list[tuple[bytes, int, int]] = []
        evs = sorted(self._event("Answered", task_id), key=lambda e: (e["blockNumber"], e["logIndex"]))
        for ev in evs:
            w = bytes.fromhex(ev["args"]["worker"][2:])
            for item, label in _unpack(ev["args"]["answers"]).tolist():
                ok_label = label == 0 if n_labels == 0 else label < n_labels
                if item >= n_items or not ok_label or (w, item) in seen or per_item.get(item, 0) >= overlap:
                    continue
                seen.add((w, item))
                per_item[item] = per_item.get(item, 0) + 1
                rows.append((w, item, label))
        workers = sorted({w for w, _, _ in rows})
        index = {w: k for k, w in enumerate(workers)}
        cs = self._b.w3.to_checksum_address
        stakes = [int(self.contract.functions.stakes(int(task_id), cs(w)).call()) for w in workers]
        budget = int(self.task(task_id)["budget"])
        a = np.array([(i, index[w], lab) for w, i, lab in rows], dtype=np.int32).reshape(-1, 3)
        out = _cl.settle(terms, workers, a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), gold, stakes, budget, True)
        payouts = [(cs(bytes(x)), int(v)) for x, v in out["payouts"]]
        slashes = [(cs(bytes(x)), int(v)) for x, v in out["slashes"]]
        return {"payouts": payouts, "slashes": slashes, "result_hash": bytes(out["result_hash"]),
                "payouts_hash": hash_lists(payouts, slashes), "labels": list(out["labels"]), "n_answers": len(rows),
                "gold": gold}

    # ---- commit, challenge, ruling, finalize
    def commit(self, requester: AccountLike, task_id: int, settlement: Mapping[str, Any], *,
               gold_salt: bytes = ZERO32, gold: Sequence[tuple[int, int]] = ()) -> str:
        """Reveal the gold and commit ``settlement``'s lists (with the bond)."""
        t = self.task(task_id)
        self._approve(requester, int(t["bond"]))
        reveal = codec.encode([bytes(gold_salt), [[int(i), int(lab)] for i, lab in sorted(gold)]]) if gold else b""
        h = hash_lists(settlement["payouts"], settlement["slashes"])
        r = self._send(requester, self.contract.functions.commit(int(task_id), h, bytes(settlement["result_hash"]), reveal),
                       "TaskEscrow.commit")
        return r["transactionHash"].hex()

    def challenge(self, challenger: AccountLike, task_id: int, settlement: Mapping[str, Any] | None = None) -> str:
        """Challenge the commitment with ``settlement`` (default: :meth:`settlement`, the
        rule re-executed from the chain), posting the bond."""
        s = self.settlement(task_id) if settlement is None else settlement
        t = self.task(task_id)
        self._approve(challenger, int(t["bond"]))
        r = self._send(challenger, self.contract.functions.challenge(int(task_id), _rows(s["payouts"]), _rows(s["slashes"])),
                       "TaskEscrow.challenge")
        return r["transactionHash"].hex()

    def arbitrate(self, arbiter: AccountLike, task_id: int) -> bool:
        """As the task's arbiter: re-execute the rule from the chain and rule with its hash.
        Returns True when the challenger was right."""
        s = self.settlement(task_id)
        r = self._send(arbiter, self.contract.functions.resolve(int(task_id), s["payouts_hash"]), "TaskEscrow.resolve")
        return bool(self._b.chain.events(self.contract, "Resolved", r)[0]["args"]["challenger_won"])

    def finalize(self, by: AccountLike, task_id: int, settlement: Mapping[str, Any] | None = None) -> dict:
        """Apply the committed lists (default: the rule re-executed, which matches the
        commitment after a ruling or an honest commit). Returns the Finalized event's fields."""
        s = self.settlement(task_id) if settlement is None else settlement
        r = self._send(by, self.contract.functions.finalize(int(task_id), _rows(s["payouts"]), _rows(s["slashes"])),
                       "TaskEscrow.finalize")
        ev = self._b.chain.events(self.contract, "Finalized", r)[0]["args"]
        return {"paid": int(ev["paid"]), "slashed": int(ev["slashed"]), "refund": int(ev["refund"]),
                "gas_used": int(r["gasUsed"])}

    def refund(self, requester: AccountLike, task_id: int) -> None:
        self._send(requester, self.contract.functions.refund(int(task_id)), "TaskEscrow.refund")

    def unstake(self, worker: AccountLike, task_id: int) -> int:
        amount = int(self.contract.functions.stakes(int(task_id), self._b.evm_address(worker)).call())
        self._send(worker, self.contract.functions.unstake(int(task_id)), "TaskEscrow.unstake")
        return amount

    def claim(self, account: AccountLike) -> int:
        amount = int(self.contract.functions.claimable(self._b.evm_address(account)).call())
        self._send(account, self.contract.functions.claim(), "TaskEscrow.claim")
        return amount


def _rows(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(a, int(v)) for a, v in pairs]
