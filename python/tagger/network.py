"""``tg.Network``: one process runs a whole market on an embedded ledger.

The network holds the ledger (on disk with :meth:`Network.open`, or in memory
with :meth:`Network.memory` — the same code path, the log kept in a buffer) and
a wallet of local accounts whose keys sign their transactions. High-level calls
sign, submit and commit a block each; inside ``with net.batch():`` they are
committed together as one block, all or nothing.

>>> import tagger as tg
>>> net = tg.Network.memory()
>>> a = net.create_account("a", fund=10 * tg.TAG)
>>> b = net.create_account("b")
>>> _ = net.transfer(a, b, 3 * tg.TAG)
>>> net.balance(b) == 3 * tg.TAG
True
>>> net.verify()["transactions"] > 0
True
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import codec, crypto
from .market import DatasetNFT, Market, open_dataset
from .store import BlobStore
from .task import build_task, load_task
from .verify import DedupRegistry, Verifier
from ._core import ledger as _c
from ._repr import format_tag, html_table
from .errors import CorruptLedger, InvalidArgument, LedgerError, LedgerLocked, UnknownAccount
from .ledger import (KIND_CODES, VERDICTS, Account, AccountLike, Block, Contracts, address_str, decode_tx, to_address)

__all__ = ["Network"]

_WALLET = "wallet.keystore"
_DEDUP = "dedup.jsonl"  # the uploads the duplicate check must still know after a reopen
_SKILL_SCALE = _c.SKILL_SCALE
# What a market directory holds besides its log: finding any of these without
# blocks.log means the log was lost, not that the directory is new.
_MARKET_FILES = (_WALLET, "blobs", "tasks", "manifests")

# Fault injection for the crash tests: when set to a step name, the process
# exits at once (os._exit, nothing flushed) on reaching that step. Steps:
# "after_wallet_write", "after_task_record", "after_manifest_write" (files a
# block refers to, written before it), "before_commit", "after_commit".
_crash_at: str | None = os.environ.get("TAGGER_CRASH_AT") or None


def _crash_point(step: str) -> None:
    if _crash_at == step:
        os._exit(1)


def _write_atomic(path: Path, data: bytes, mode: int = 0o644, exclusive: bool = False) -> None:
    """Temp file, fsync, rename, fsync of the directory: the file is whole or absent.
    ``exclusive``: fail (FileExistsError) rather than replace an existing file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if exclusive:
        try:
            os.link(tmp, path)   # atomic, and refuses an existing name
        finally:
            os.unlink(tmp)
    else:
        os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Network:
    """An embedded tagger network: ledger + local wallet.

    Use :meth:`open` (a directory; a new market in a new or empty one) or :meth:`memory`.
    One network may be shared by threads (see docs/reliability.md).
    Amounts are ints in base units (``tg.TAG`` per token) everywhere.
    """

    def __init__(self, core: Any, wallet: dict[str, Account], path: Path | None, passphrase: str | None) -> None:
        self._core = core
        # Held by every call that writes (submit + commit, batches for their whole
        # length, wallet and record files), so one thread's transactions never land
        # in another thread's batch; reads go straight to the C++ ledger, which has
        # its own reader/writer lock.
        self._lock = threading.RLock()
        # Undo steps for what a batch did outside the ledger (files written, cache
        # entries), run if the batch is dropped or its commit fails.
        self._batch_undo: list[Callable[[], object]] = []
        self._wallet = wallet
        self._by_addr = {a.address_bytes: a for a in wallet.values()}
        self._path = path
        self._passphrase = passphrase
        self._batch_depth = 0
        self._wallet_dirty = False
        self._batch_accounts: list[Account] = []
        self.ledger = Contracts(self)
        """The native contracts (escrow, staking, NFTs, market): a :class:`~tagger.ledger.Contracts`."""
        self.market = Market(self)
        """The dataset market: ``net.market.list(nft, price, kind)``, ``buy``, ``cancel``."""
        self._store: BlobStore | None = None
        self._dedup: DedupRegistry | None = None
        self._read_only = False  # Network.open(read_only=True)
        self._verifier_engine: Verifier | None = None
        self._tasks: dict[bytes, Any] = {}
        self._task_refs: dict[bytes, bytes] = {}  # task id -> blob of its sealed record
        # NFT id -> (manifest, leaves); None: on disk, read on first use.
        self._manifests: dict[bytes, tuple[dict, list[bytes]] | None] = {}

    @property
    def _led(self) -> Any:
        core = self._core
        if core is None:
            raise LedgerError("this network is closed")
        return core

    # ---------------------------------------------------------------- construction
    @classmethod
    def memory(cls, *, fee_bps: int = 0, name: str = "tagger", chain_id: int = 0) -> "Network":
        """A network whose block log lives in memory (tests, notebooks)."""
        issuer, producer = Account.generate("issuer"), Account.generate("producer")
        core = _c.Ledger.memory(issuer.signing_key._k, producer.signing_key._k, name=name, chain_id=chain_id,
                                fee_bps=fee_bps)
        net = cls(core, {"issuer": issuer, "producer": producer}, None, None)
        net._register(issuer, "issuer", None)
        core.commit()
        return net

    @classmethod
    def open(cls, path: str | os.PathLike, *, passphrase: str | None = None, fee_bps: int = 0, name: str = "tagger",
             chain_id: int = 0, sync: bool = True, snapshot_every: int = 256, read_only: bool = False,
             create: bool | None = None) -> "Network":
        """Open the network in directory ``path``, creating it if it is new.

        The log is replayed (or loaded from a verified snapshot) and checked; a
        damaged log raises ``CorruptLedger`` naming the block, and a directory
        another writer has open raises ``LedgerLocked``. Local keys live in
        ``path/wallet.keystore``, sealed with ``passphrase`` (scrypt + AES-GCM;
        with no passphrase the wallet is protected only by file permissions).

        A new market is created only in a directory that does not exist or is
        empty, or anywhere with ``create=True``; ``create=False`` never creates.
        A directory holding a wallet, blobs, task records or manifests but no
        ``blocks.log`` raises ``CorruptLedger`` (the log is missing): a new chain
        is never created over an existing market, whatever ``create`` says.

        ``read_only=True`` takes no lock and may run while a writer appends: it
        reads the blocks whose records were whole when it opened (a torn tail is
        ignored, not cut); ``open_report()`` and ``verify()`` say how far that is.
        """
        p = Path(path)
        log = p / "blocks.log"
        if log.exists():
            _check_side_files(p)
            core = _c.Ledger.open(str(p), snapshot_every=snapshot_every, sync=sync, read_only=read_only)
            net: Network | None = None
            try:
                wallet = cls._load_wallet(p, passphrase)
                net = cls(core, wallet, p, passphrase)
                net._read_only = bool(read_only)
                if "producer" in wallet:
                    core.set_producer(wallet["producer"].signing_key._k)
            except BaseException:
                # The traceback keeps this frame alive: drop the ledger now, or its
                # writer lock would outlive the failed open.
                del core
                net = None
                raise
            return net
        found = [n for n in _MARKET_FILES if (p / n).exists()]
        found += sorted(f.name for f in p.glob("snapshot-*.snap")) if p.is_dir() else []
        if found:
            raise CorruptLedger(f"block log missing: {str(log)!r} does not exist, but the directory holds a market "
                                f"({', '.join(found)}); refusing to create a new chain over it (restore the log; if "
                                "a crash interrupted the creation of this market, it holds nothing yet: remove it)")
        if read_only or create is False:
            raise LedgerError(f"no ledger in {str(p)!r}")
        if create is None and p.exists() and any(f.name != "LOCK" and f.suffix != ".tmp" for f in p.iterdir()):
            raise LedgerError(f"{str(p)!r} is not empty and holds no ledger: pass create=True to create a market there")
        p.mkdir(parents=True, exist_ok=True)
        issuer, producer = Account.generate("issuer"), Account.generate("producer")
        net = cls(None, {"issuer": issuer, "producer": producer}, p, passphrase)
        # Keys first: a log whose producer key was never written could not be extended.
        # Exclusive: two processes creating a market here at once must not overwrite
        # each other's keys (the loser stops here; the ledger's lock orders the rest).
        try:
            net._save_wallet(exclusive=True)
        except FileExistsError:
            raise LedgerLocked(f"another process is creating a market in {str(p)!r}") from None
        core = _c.Ledger.create(str(p), issuer.signing_key._k, producer.signing_key._k, name=name, chain_id=chain_id,
                                fee_bps=fee_bps, snapshot_every=snapshot_every, sync=sync)
        net._core = core
        net._register(issuer, "issuer", None)
        core.commit()
        return net

    @staticmethod
    def _load_wallet(path: Path, passphrase: str | None) -> dict[str, Account]:
        f = path / _WALLET
        if not f.exists():
            return {}
        secrets = codec.decode(_c.keystore_open(f.read_bytes(), passphrase or ""))
        return {a.name: a for a in (Account._from_secret(s) for s in secrets)}

    def _save_wallet(self, exclusive: bool = False) -> None:
        if self._path is None:
            return
        with self._lock:
            blob = codec.encode([a._secret() for a in list(self._wallet.values())])
            # No passphrase: a cheap KDF, the file's mode is the protection.
            n = 2**14 if self._passphrase else 2**10
            sealed = _c.keystore_seal(blob, self._passphrase or "", n, 8, 1)
            _write_atomic(self._path / _WALLET, sealed, 0o600, exclusive)
            _crash_point("after_wallet_write")

    def _wallet_changed(self, acct: Account) -> None:
        # Inside a batch the wallet is written once, just before the batch commits
        # (keys reach the disk before the block that registers them): re-sealing and
        # fsyncing it per account made bulk account creation quadratic.
        if self._batch_depth == 0:
            self._save_wallet()
        else:
            self._wallet_dirty = True
            self._batch_accounts.append(acct)

    def create_accounts(self, names: list[str], fund: int = 0, skills: Any = None) -> list[Account]:
        """Create many accounts in one block (and one wallet write). ``skills``: one dict
        for all, or a list with one dict per name."""
        per = skills if isinstance(skills, list) else [skills] * len(names)
        if len(per) != len(names):
            raise InvalidArgument("skills must be one dict or one per name")
        with self.batch():
            return [self.create_account(n, fund=fund, skills=s) for n, s in zip(names, per)]

    def close(self) -> None:
        """Release the ledger (and its directory lock). Pending transactions are discarded.
        Later calls raise ``LedgerError``; a call still running in another thread finishes
        first (it holds the ledger until it returns)."""
        with self._lock:
            core, self._core = self._core, None
            if core is not None and core.pending:
                core.discard_pending()

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- accounts
    def _address(self, x: AccountLike) -> bytes:
        if isinstance(x, str) and x in self._wallet:
            return self._wallet[x].address_bytes
        if isinstance(x, str) and not (len(x) == 42 and x.startswith("tg")):
            raise UnknownAccount(f"no account named {x!r} in this network's wallet")
        return to_address(x)

    def account(self, x: AccountLike) -> Account:
        """The local :class:`Account` (with keys) for a name, address or Account."""
        if isinstance(x, Account):
            return x
        if isinstance(x, str) and x in self._wallet:
            return self._wallet[x]
        acct = self._by_addr.get(self._address(x))
        if acct is None:
            raise UnknownAccount(f"no local keys for {x!r}")
        return acct

    def _register(self, acct: Account, name: str, skills: Mapping[str, float] | None) -> None:
        if skills is not None and not isinstance(skills, Mapping):
            # skills="text/sentiment" raised AttributeError: 'str' object has no attribute 'items'
            raise InvalidArgument(f"skills must be a dict of category -> score in [0, 1] (e.g. "
                                  f"{{'text/sentiment': 0.9}}), not {type(skills).__name__}")
        sk: list[list[Any]] = []
        for cat, v in sorted((skills or {}).items()):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise InvalidArgument(f"skill {cat!r} must be a number in [0, 1], got {v!r}")
            v = float(v)
            if not 0.0 <= v <= 1.0:
                raise InvalidArgument(f"skill {cat!r} must be in [0, 1], got {v}")
            sk.append([str(cat), int(round(v * _SKILL_SCALE))])
        self._submit(acct, "register", [bytes(acct.public_key), name, sk])

    def create_account(self, name: str, fund: int = 0, skills: Mapping[str, float] | None = None) -> Account:
        """Make an account (new Ed25519 + X25519 keys), register it on the ledger with
        its ``skills`` (category -> score in [0, 1], stored in parts per million) and,
        if ``fund`` > 0, mint ``fund`` base units to it from the issuer."""
        name = _text(name, "name")
        with self.batch():
            if name in self._wallet:
                raise InvalidArgument(f"an account named {name!r} already exists")
            acct = Account.generate(name)
            self._register(acct, name, skills)
            if fund:
                self._submit(self._wallet["issuer"], "mint", [acct.address_bytes, _amount_arg(fund, "fund")])
            self._add_to_wallet(acct)
        return acct

    def _add_to_wallet(self, acct: Account) -> None:
        self._wallet[acct.name] = acct
        self._by_addr[acct.address_bytes] = acct
        self._wallet_changed(acct)

    def import_account(self, acct: Account, skills: Mapping[str, float] | None = None) -> Account:
        """Add an existing key pair (e.g. from :meth:`Account.import_`) and register it if new."""
        with self.batch():
            if self._led.account(acct.address_bytes) is None:
                self._register(acct, acct.name, skills)
            self._add_to_wallet(acct)
        return acct

    @property
    def issuer(self) -> Account:
        return self._wallet["issuer"]

    @property
    def accounts(self):
        """Every registered account: name, address, balance, nonce, reputation, skills."""
        import pandas as pd
        rows = [{"name": a["name"], "address": address_str(a["address"]), "balance": a["balance"],
                 "nonce": a["nonce"], "rep_alpha": a["rep_alpha"], "rep_beta": a["rep_beta"],
                 "skills": {c: p / _SKILL_SCALE for c, p in a["skills"]}} for a in self._led.accounts()]
        return pd.DataFrame(rows, columns=["name", "address", "balance", "nonce", "rep_alpha", "rep_beta", "skills"])

    def skills(self, account: AccountLike) -> dict[str, float]:
        """The skills stored with an account (category -> score in [0, 1])."""
        a = self._led.account(self._address(account))
        if a is None:
            raise UnknownAccount(f"{account!r} is not registered")
        return {c: p / _SKILL_SCALE for c, p in a["skills"]}

    def reputation(self, account: AccountLike) -> tuple[int, int]:
        return self.ledger.reputation(account)

    # ---------------------------------------------------------------- transactions
    def _submit(self, signer: AccountLike, kind: str, payload: list) -> bytes:
        acct = self.account(signer)
        nonce = self._led.next_nonce(acct.address_bytes)
        tx = _c.make_tx(acct.signing_key._k, self._led.chain_id, KIND_CODES[kind], nonce, codec.encode(payload))
        return self._led.submit(tx)

    def _send(self, signer: AccountLike, kind: str, payload: list) -> bytes:
        """Sign, submit and (outside a batch) commit; returns the transaction id."""
        with self._lock:
            txid = self._submit(signer, kind, payload)
            if self._batch_depth == 0:
                self._commit_block()
            return txid

    def _commit_block(self) -> Any:
        _crash_point("before_commit")
        h = self._led.commit()
        _crash_point("after_commit")
        return h

    def _on_batch_failure(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` if the current batch is dropped or its commit fails (files it wrote)."""
        if self._batch_depth > 0:
            self._batch_undo.append(fn)

    def _drop_batch(self) -> None:
        self._led.discard_pending()
        # Accounts whose registration was discarded leave the wallet too.
        wallet_written = self._batch_accounts and not self._wallet_dirty
        for acct in self._batch_accounts:
            self._wallet.pop(acct.name, None)
            self._by_addr.pop(acct.address_bytes, None)
        self._batch_accounts.clear()
        self._wallet_dirty = False
        for fn in reversed(self._batch_undo):
            with contextlib.suppress(OSError):
                fn()
        self._batch_undo.clear()
        if wallet_written:
            # Keys of unregistered accounts would be harmless, but the names would be taken.
            with contextlib.suppress(OSError):
                self._save_wallet()

    @contextlib.contextmanager
    def batch(self) -> Iterator["Network"]:
        """Group calls into one block, all or nothing: on an exception every
        transaction of the batch is dropped and the state is as before. The
        batch holds the network's lock: other threads' calls wait for its end,
        so their transactions never land in this block."""
        with self._lock:
            if self._batch_depth == 0 and self._led.pending:
                self._commit_block()
            self._batch_depth += 1
            try:
                yield self
            except BaseException:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._drop_batch()
                raise
            self._batch_depth -= 1
            if self._batch_depth == 0:
                try:
                    # Every file the block refers to is on disk before the block is.
                    if self._wallet_dirty:
                        self._save_wallet()
                        self._wallet_dirty = False
                    self._commit_block()
                except BaseException:
                    self._drop_batch()
                    raise
                self._batch_accounts.clear()
                self._batch_undo.clear()

    def submit(self, tx: bytes) -> bytes:
        """Submit an already-signed transaction record (checked and applied, not yet committed)."""
        with self._lock:
            return self._led.submit(tx)

    def submit_many(self, txs: list[bytes], threads: int | None = None) -> list[bytes]:
        """Submit signed records all-or-nothing: signatures batch-verified on ``threads``
        threads with the GIL released. Commit with :meth:`commit`."""
        with self._lock:
            return self._led.submit_batch(list(txs), 0 if threads is None else int(threads))

    def commit(self) -> Block | None:
        """Seal pending transactions into a block (fsync on disk); None when nothing is pending."""
        with self._lock:
            if not self._led.pending:
                return None
            h = self._commit_block()
        return self.block(h["height"])

    def transfer(self, src: AccountLike, dst: AccountLike, amount: int, memo: str = "") -> bytes:
        """Move ``amount`` base units from ``src`` (a local account) to ``dst``; returns the tx id."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidArgument(f"amount must be an int number of base units, got {amount!r}")
        return self._send(src, "transfer", [self._address(dst), amount, _text(memo, "memo")])

    def mint(self, dst: AccountLike, amount: int) -> bytes:
        """Issue new TAG to ``dst`` (signed by the issuer)."""
        return self._send(self.issuer, "mint", [self._address(dst), int(amount)])

    # ---------------------------------------------------------------- reads
    def balance(self, account: AccountLike) -> int:
        """Balance in base units (0 for an unknown address)."""
        return self._led.balance(self._address(account))

    def nonce(self, account: AccountLike) -> int:
        return self._led.next_nonce(self._address(account))

    @property
    def height(self) -> int:
        """Height of the last committed block (genesis is 0)."""
        return self._led.height

    @property
    def chain_id(self) -> int:
        return self._led.chain_id

    @property
    def fee_bps(self) -> int:
        return self._led.fee_bps

    @property
    def path(self) -> Path | None:
        return self._path

    def supply(self) -> dict[str, int]:
        """``minted`` and where it is: ``balances``, ``escrowed``, ``staked`` (they sum to minted)."""
        return self._led.supply()

    def state_root(self) -> bytes:
        return self._led.state_root()

    def block(self, height: int) -> Block:
        if not 0 <= height <= self._led.height:
            raise InvalidArgument(f"no block at height {height} (height is {self._led.height})")
        return Block(self._led.header(height), self._led.block_txs(height))

    def blocks(self, start: int = 0, stop: int | None = None):
        """Block headers as a DataFrame."""
        import pandas as pd
        stop = self._led.height + 1 if stop is None else stop
        rows = []
        for h in range(start, stop):
            hd = self._led.header(h)
            rows.append({"height": h, "n_tx": hd["n_tx"], "time": pd.Timestamp(hd["timestamp_ms"], unit="ms"),
                         "hash": hd["hash"].hex(), "state_root": hd["state_root"].hex()})
        return pd.DataFrame(rows, columns=["height", "n_tx", "time", "hash", "state_root"])

    def history(self, account: AccountLike):
        """Every transaction naming ``account`` (sent, received, paid, slashed, sold, and
        purchases that paid it royalties), oldest first. ``amount``: the tx's amount, or
        for a finalize what this account was paid (negative: slashed)."""
        import pandas as pd
        addr = self._address(account)
        rows = []
        for height, index, _kind, txid, sender, ts, rec in self._led.history(addr):
            t = decode_tx(rec)
            to = t.fields.get("to")
            amount = t.amount
            if t.kind == "finalize":  # what this account was paid, or lost to a slash
                amount = (sum(int(v) for a, v in t.fields["payouts"] if bytes(a) == addr)
                          - sum(int(v) for a, v in t.fields["slashes"] if bytes(a) == addr)) or None
            rows.append({"height": height, "index": index, "time": pd.Timestamp(ts, unit="ms"), "kind": t.kind,
                         "sender": self._label(sender), "to": None if to is None else self._label(to),
                         "amount": amount, "outgoing": sender == addr, "txid": txid.hex()})
        cols = ["height", "index", "time", "kind", "sender", "to", "amount", "outgoing", "txid"]
        df = pd.DataFrame(rows, columns=cols)
        df["amount"] = df["amount"].astype("Int64")
        return df

    def first_fundings(self, accounts: Sequence[AccountLike]):
        """Each account's first incoming transfer, in one pass over the ledger: a DataFrame
        indexed like ``accounts`` (as given) with ``funder`` (a name where known) and
        ``height``; accounts never funded by a transfer are left out."""
        import pandas as pd
        addrs = [self._address(a) for a in accounts]
        got = self._led.first_fundings(addrs)
        rows = {(a.name if isinstance(a, Account) else a): (self._label(f[0]), int(f[1]))
                for a, f in zip(accounts, got) if f is not None}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["funder", "height"])

    def _label(self, addr: bytes) -> str:
        a = self._by_addr.get(bytes(addr))
        return a.name if a is not None else address_str(addr)

    def verify(self, threads: int | None = None) -> dict:
        """Re-check everything from genesis: framing, hash chain, producer and
        transaction signatures (batched, GIL released), Merkle roots, every state
        root, the supply invariant. Raises ``CorruptLedger`` naming the block."""
        return self._led.verify(0 if threads is None else int(threads))

    def open_report(self) -> dict:
        return self._led.open_report()

    # ---------------------------------------------------------------- workflow
    @property
    def store(self) -> BlobStore:
        """The sealed blob store (``path/blobs`` on disk, or in memory)."""
        if self._store is None:
            # Once per network: a second BlobStore.open would clear the temp files of
            # the first one's writes in progress.
            with self._lock:
                if self._store is None:
                    self._store = BlobStore.memory() if self._path is None else BlobStore.open(self._path / "blobs")
        return self._store

    @property
    def verifier(self) -> Account:
        """The platform's verifier account: it signs upload verdicts and receipts."""
        with self._lock:
            if "verifier" not in self._wallet:
                self.create_account("verifier")
            return self._wallet["verifier"]

    @property
    def _verify_engine(self) -> Verifier:
        if self._verifier_engine is None:
            with self._lock:
                if self._verifier_engine is None:
                    self._verifier_engine = Verifier(signing_key=self.verifier.signing_key)
        return self._verifier_engine

    @property
    def dedup(self) -> DedupRegistry:
        """The network-wide duplicate registry used by upload verification. On disk, the
        exact hashes and image pHashes of the uploads the ledger accepted come back from
        ``dedup.jsonl`` when the market is reopened; the text sketches (near-duplicate texts)
        are rebuilt in memory from the sealed uploads of text collection tasks whose owner's key
        is in this wallet (docs/verification.md)."""
        if self._dedup is None:
            with self._lock:
                if self._dedup is None:
                    reg = DedupRegistry()
                    if self._path is not None:
                        self._restore_dedup(reg)
                    self._dedup = reg
        return self._dedup

    def _text_reader(self, task_hex: str) -> Account | None:
        """The owner of a text collection task when its keys are in this wallet, else None. Read from
        the owner's sealed task record, not through ``task()``: that builds the task's upload check,
        which asks for this very registry."""
        try:
            tid = bytes.fromhex(task_hex)
            info = self.ledger.task(tid)
            owner = self._by_addr.get(bytes(info["owner"])) if info is not None else None
            ref = self._task_ref(tid)
            if owner is None or ref is None:
                return None
            record = codec.decode(crypto.open_sealed(self.store.get(ref), owner.sealing_key))
            kind, data_kind = record[3], record[13]
        except Exception:  # no record here, or not this owner's: the exact hashes still come back
            return None
        return owner if kind == "collection" and data_kind == "text" else None

    def _sealed_text(self, task: str, ct: str, sha: bytes | None, readers: dict[str, Account | None],
                     plain: bytes | None = None) -> str | None:
        """The text of a text upload, opened from its sealed blob (None when the task takes other
        data, its owner's key is not here, or the blob is not the journaled upload)."""
        if task not in readers:
            readers[task] = self._text_reader(task)
        owner = readers[task]
        if owner is None:
            return None
        try:
            if plain is None:
                plain = crypto.open_sealed(self.store.get(bytes.fromhex(ct)), owner.sealing_key)
                if sha is not None and crypto.sha256(plain) != sha:
                    return None
            text = plain.decode("utf-8")
        except Exception:  # a blob that is gone, not this owner's, or not UTF-8: its hash still counts
            return None
        return text if text else None

    def _require_writable(self, what: str) -> None:
        if self._read_only:
            raise LedgerError(f"{what}: this market is open read-only (Network.open(..., read_only=True))")

    def _journal_upload(self, sha256: bytes, task_id: str, item_id: str, phash: int | None,
                        ciphertext_hash: bytes, content: bytes | None = None) -> None:
        """Appends an upload about to be receipted to ``dedup.jsonl`` (fsynced, before the
        receipt's block): a reopened market still knows it. A line whose receipt never
        reached the ledger (a crash in between) is ignored when read back."""
        if self._path is None:
            return
        line = json.dumps({"sha256": bytes(sha256).hex(), "task": task_id, "item": item_id,
                           "phash": None if phash is None else int(phash),
                           "ciphertext": bytes(ciphertext_hash).hex(),
                           "content": None if content is None else bytes(content).hex()}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self._path / _DEDUP, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def _restore_dedup(self, reg: DedupRegistry) -> None:
        """The journal's uploads whose accepted receipt is on the ledger, into ``reg``. An accepted
        receipt with no journal line (the file deleted, emptied or cut) is re-read from its sealed
        blob when its task's owner is in this wallet (the exact hash only); any left are named in
        a warning, since copies of them would not be caught.

        The uploads of text collection tasks whose owner is in this wallet are opened from their
        sealed blobs as well, so their text sketches (the near-duplicate rules) come back too:
        before 2026-12-07 they were memory only, and a copy of an earlier session's text with a
        trailing space or one letter changed was accepted and paid. The sketches stay in memory."""
        if self._path is None:
            return
        receipted: dict[tuple[str, str], int] = {}
        for h in range(1, self.height + 1):
            for tx in self.block(h).transactions:
                if tx.kind == "upload_receipt" and tx.fields["verdict"] != VERDICTS["rejected"]:
                    receipted[(bytes(tx.fields["task"]).hex(), bytes(tx.fields["ciphertext_hash"]).hex())] = \
                        int(tx.fields["item"])
        f = self._path / _DEDUP
        covered: set[tuple[str, str]] = set()
        readers: dict[str, Account | None] = {}  # task -> its owner when the task takes texts and the key is here
        for raw in (f.read_bytes().splitlines() if f.exists() else []):
            try:
                r = json.loads(raw)
                task, ct, item, phash = r["task"], r["ciphertext"], r["item"], r.get("phash")
                if not (isinstance(task, str) and isinstance(ct, str) and isinstance(item, str)):
                    raise TypeError("task, ciphertext and item are strings")
                if phash is not None and not (isinstance(phash, int) and 0 <= phash < 2**64):
                    raise TypeError("phash is a 64-bit hash")
                sha = bytes.fromhex(r["sha256"])
                content = bytes.fromhex(r["content"]) if r.get("content") else None
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line torn by a crash while it was written, or edited by hand
            if (task, ct) in receipted and len(sha) == 32 and (task, ct) not in covered:
                ok = content is not None and len(content) == 32 and content != sha
                text = self._sealed_text(task, ct, sha, readers)
                # seen=additions: nothing is looked up, only recorded (they were checked when uploaded)
                reg.add(sha, task, item, phash=phash, content=content if ok else None, text=text, seen=reg.additions)
                covered.add((task, ct))
        lost = 0
        for (task, ct), item in receipted.items():
            if (task, ct) in covered:
                continue
            info = self.ledger.task(bytes.fromhex(task))
            owner = self._by_addr.get(bytes(info["owner"])) if info is not None else None
            try:
                plain = crypto.open_sealed(self.store.get(bytes.fromhex(ct)), owner.sealing_key) if owner else None
            except Exception:  # a blob that is gone or not this owner's: counted below
                plain = None
            if plain is None:
                lost += 1
                continue
            reg.add(crypto.sha256(plain), task, str(item), text=self._sealed_text(task, ct, None, readers, plain),
                    seen=reg.additions)
        if lost:
            import warnings

            warnings.warn(f"{lost} accepted upload(s) have no line in {f} and cannot be re-read here (their task "
                          "owners' keys are not in this wallet): copies of them will not be caught as duplicates",
                          stacklevel=3)

    @property
    def tasks(self) -> list:
        """Tasks published in this session, and (on disk) those whose owner is in the wallet."""
        if self._path is not None and (self._path / "tasks").exists():
            for f in sorted((self._path / "tasks").iterdir()):
                if len(f.name) != 64:
                    continue  # temp files
                tid = bytes.fromhex(f.name)
                if tid not in self._tasks and self.ledger.task(tid) is not None:
                    try:
                        self.task(tid)
                    except (UnknownAccount, InvalidArgument):
                        continue  # owner's keys not here, or a policy that must be passed in
        return list(self._tasks.values())

    def task(self, task_id: bytes | str, *, reward_policy: Any = None):
        """A task by id (bytes or hex). Tasks published in an earlier session are rebuilt
        from the owner's sealed record (checked against the ledger's params_hash) and
        the ledger's answers and receipts; ``reward_policy`` is needed only for a custom
        policy class."""
        tid = bytes.fromhex(task_id) if isinstance(task_id, str) else bytes(task_id)
        if tid in self._tasks:
            return self._tasks[tid]
        info = self.ledger.task(tid)
        if info is None:
            raise InvalidArgument(f"no task {tid.hex()[:16]}… on this ledger")
        owner = self.account(address_str(info["owner"]))  # UnknownAccount: only the owner's wallet can reopen it
        ref = self._task_ref(tid)
        if ref is None:
            raise InvalidArgument(f"no stored record of task {tid.hex()[:16]}… in this network")
        try:
            sealed = self.store.get(ref)
        except KeyError:
            raise CorruptLedger(f"the record of task {tid.hex()[:16]}… (blob {ref.hex()}) is missing from the "
                                "blob store") from None
        record = crypto.open_sealed(sealed, owner.sealing_key)
        t = load_task(self, tid, record, reward_policy)
        self._tasks[tid] = t
        return t

    def _task_ref(self, tid: bytes) -> bytes | None:
        """The blob hash of a task's sealed record: this session's, else the one on disk."""
        ref = self._task_refs.get(tid)
        if ref is None and self._path is not None and (self._path / "tasks" / tid.hex()).exists():
            ref = _read_task_ref(self._path / "tasks" / tid.hex())
        return ref

    def _save_task_record(self, task_id: bytes, owner: Account, record: bytes) -> None:
        # Called inside the batch that locks the task's escrow: the record reaches the
        # disk before the block naming the task (undone if that block never commits).
        tid = bytes(task_id)
        with self._lock:
            ref = self.store.put(crypto.seal(record, [owner.public_key]))
            self._task_refs[tid] = ref
            self._on_batch_failure(lambda: self._task_refs.pop(tid, None))
            if self._path is not None:
                d = self._path / "tasks"
                d.mkdir(exist_ok=True)
                f = d / tid.hex()
                _write_atomic(f, ref.hex().encode("ascii"))
                self._on_batch_failure(lambda: f.unlink(missing_ok=True))
                _crash_point("after_task_record")

    def publish_task(self, owner: AccountLike, title: str, description: str, *, kind: str = "classification",
                     labels: Any = None, items: Any = None, overlap: int = 3, budget: int, reward_policy: Any = None,
                     stake: int = 0, gold: Any = None, control_share: float = 0.1, batch_size: int = 20,
                     data_kind: str = "text", verify: Any = None, categories: int = 3, seed: int = 0,
                     method: str | None = None, method_options: Mapping[str, Any] | None = None,
                     slashing: Any = "default", deadline: int | None = None, expiry_slash_bps: int = 0,
                     fraud: Any = None, copilot: Any = None, adaptive: Any = None, min_reputation: Any = None):
        """Publish a task: match it to data categories, lock ``budget`` in escrow and
        split its items into subtasks with hidden control items. See :class:`tagger.task.Task`.

        ``kind``: ``"classification"`` (label ``items`` with one of ``labels``) or
        ``"collection"`` (workers upload data; ``items`` are the requested slots, e.g.
        prompts, or an int count). ``gold``: known answers (item_id -> label) of some
        items, used as control items for quality, payouts and slashing.
        ``stake``: what each worker must stake (slashable by this task's rule).
        ``verify``: options of ``tg.verify.VerifySpec`` for uploads (dict).

        The rules are published on the ledger with the task, so workers see them before
        they stake, and the ledger re-executes them at finalize: ``method`` (consensus,
        default ``"dawid_skene"``; ``method_options`` n_iter, tol, seed), the reward
        policy and its per-answer rate (``per_answer`` or ``budget // (items x overlap)``),
        ``slashing`` (a ``tg.rewards.SlashingRule``; ``"default"``: the default rule when
        there are control items and a stake), a salted commitment to the control labels
        (revealed only at finalize) and ``deadline`` (blocks after publication after which
        missing slots may be reassigned or the task finalized partially; ``expiry_slash_bps``
        of a worker's stake is slashed when its slots expire and are reassigned). A
        ``reward_policy`` the ledger cannot re-execute (your own subclass) makes the task
        owner-discretionary: ``task.discretionary`` says so to workers. ``fraud``: a level
        ``alpha`` in (0, 1) (or ``True`` for 0.01) publishes the anti-fraud screen
        (``tg.consensus.fraud_report``'s spam, collusion and control-failure rules): the
        ledger runs it at finalize, and a flagged worker earns nothing and gets no answer
        counted right for reputation; with signed answer durations (``duration`` in
        ``submit_many``) the fast-answer rule joins them.

        ``copilot``: ``True`` (the owner's ``"<owner>.copilot"`` account) or an account that
        pre-annotates items (``task.pre_annotate(model)``): its labels enter the consensus as
        one more annotator, it is never paid. ``adaptive``: a copilot confidence (``True``:
        0.9) above which an item is complete as soon as every human answer agrees with the
        copilot (``task.assign`` hands out one slot per item, ``task.assign_next`` more where
        needed). ``min_reputation``: the ledger refuses slots and answers to workers whose
        reputation (right+1)/(right+wrong+2) is below it (a new worker has 0.5).
        """
        title = _text(title, "title")
        description = _text(description, "description")
        if labels is not None and not isinstance(labels, (str, bytes)):
            labels = list(labels)
            for i, v in enumerate(labels):
                if isinstance(v, str):
                    _text(v, f"labels[{i}]")
        if items is not None and not isinstance(items, (str, bytes, int)):
            import pandas as pd
            if not isinstance(items, (list, tuple, pd.DataFrame, pd.Series)) and not hasattr(items, "tolist"):
                items = list(items)   # an iterator is read once, here
            vals = items.get("data", []) if isinstance(items, pd.DataFrame) else items
            for i, v in enumerate(vals.tolist() if hasattr(vals, "tolist") else vals):
                if isinstance(v, str) and not v.isascii():
                    _text(v, f"items[{i}]")
        # One batch: the escrow lock and the task's record commit together, the
        # record first (see _save_task_record).
        with self.batch():
            task = build_task(self, owner, title, description, kind=kind, labels=labels, items=items,
                              overlap=overlap, budget=budget, reward_policy=reward_policy, stake=stake, gold=gold,
                              control_share=control_share, batch_size=batch_size, data_kind=data_kind,
                              verify=verify, n_categories=categories, seed=seed, method=method,
                              method_options=method_options, slashing=slashing, deadline=deadline,
                              expiry_slash_bps=expiry_slash_bps, fraud=fraud, copilot=copilot,
                              adaptive=adaptive, min_reputation=min_reputation)
            self._tasks[task.id] = task
            self._on_batch_failure(lambda: self._tasks.pop(task.id, None))
        return task

    def dataset(self, nft: Any, as_account: AccountLike):
        """The decrypted dataset of ``nft`` for its holder or a licensee; anyone else
        gets ``NotAuthorized``. Returns a :class:`tagger.dataset.Dataset`."""
        if not isinstance(nft, DatasetNFT):
            nft = DatasetNFT(self, nft)
        return open_dataset(self, nft, as_account)

    def nfts(self) -> list:
        """Dataset NFTs whose manifests this network stores."""
        if self._path is not None and (self._path / "manifests").exists():
            for f in sorted((self._path / "manifests").glob("*.json")):
                try:
                    nid = bytes.fromhex(f.stem)
                except ValueError:
                    continue
                # A manifest whose mint never committed (a crash, a failed batch) is not an NFT.
                if self._led.nft(nid) is not None:
                    self._manifests.setdefault(nid, None)
        return [DatasetNFT(self, k) for k in list(self._manifests)]

    def _save_manifest(self, nft_id: bytes, manifest: dict, leaves: list[bytes]) -> None:
        # Called inside the batch of the nft_mint: written before the block (see _save_task_record).
        nid = bytes(nft_id)
        with self._lock:
            self._manifests[nid] = (manifest, leaves)
            self._on_batch_failure(lambda: self._manifests.pop(nid, None))
            if self._path is not None:
                d = self._path / "manifests"
                d.mkdir(exist_ok=True)
                f = d / (nid.hex() + ".json")
                data = json.dumps({"manifest": manifest, "leaves": [x.hex() for x in leaves]})
                _write_atomic(f, data.encode("utf-8"))
                self._on_batch_failure(lambda: f.unlink(missing_ok=True))
                _crash_point("after_manifest_write")

    def _load_manifest(self, nft_id: bytes) -> tuple[dict, list[bytes]]:
        got = self._manifests.get(bytes(nft_id))
        if got is None and self._path is not None:
            f = self._path / "manifests" / (bytes(nft_id).hex() + ".json")
            if f.exists():
                got = _read_manifest(f)
                self._manifests[bytes(nft_id)] = got
        if got is None:
            raise InvalidArgument(f"no manifest stored for NFT {bytes(nft_id).hex()[:16]}…")
        return got

    def plot_flows(self, ax=None):
        """Token flows by transaction kind (minted, escrowed, paid, staked, slashed, sales)."""
        from .plot import plot_flows
        return plot_flows(self, ax=ax)

    # ---------------------------------------------------------------- reprs
    def __repr__(self) -> str:
        where = "memory" if self._path is None else str(self._path)
        if self._core is None:
            return f"Network({where}, closed)"
        n = len(self._led.accounts())
        return f"Network({where}, height={self.height}, accounts={n}, chain_id={self.chain_id})"

    def _repr_html_(self) -> str:
        accts = self._led.accounts()
        rows = [(a["name"], address_str(a["address"])[:14] + "…", format_tag(a["balance"]), f"{a['balance']:,}")
                for a in accts[:50]]
        s = self.supply()
        foot = (f"height {self.height} · chain {self.chain_id} · minted {format_tag(s['minted'])} "
                f"(escrowed {format_tag(s['escrowed'])}, staked {format_tag(s['staked'])})")
        where = "in memory" if self._path is None else str(self._path)
        return html_table(f"tagger network ({where})", ["account", "address", "balance", "base units"], rows, foot)


def _check_side_files(path: Path) -> None:
    """Task records and manifests must be readable: a damaged one is CorruptLedger naming
    the file (leftover ``.tmp`` files of an interrupted write are ignored)."""
    for f in sorted((path / "tasks").glob("*")) if (path / "tasks").is_dir() else []:
        if f.suffix != ".tmp":
            _read_task_ref(f)
    for f in sorted((path / "manifests").glob("*")) if (path / "manifests").is_dir() else []:
        if f.suffix != ".tmp":
            _read_manifest(f)


def _read_task_ref(f: Path) -> bytes:
    """The blob hash a task record file holds; CorruptLedger naming the file if damaged."""
    try:
        bytes.fromhex(f.name)
        text = f.read_text(encoding="ascii").strip()
        ref = bytes.fromhex(text)
        if len(bytes.fromhex(f.name)) != 32 or len(ref) != 32:
            raise ValueError("expected 32-byte hex names and contents")
        return ref
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptLedger(f"task record file {str(f)!r} is damaged: {e}") from None


def _read_manifest(f: Path) -> tuple[dict, list[bytes]]:
    """A stored NFT manifest and its leaves; CorruptLedger naming the file if damaged."""
    try:
        if len(bytes.fromhex(f.name[:-len(".json")] if f.name.endswith(".json") else "x")) != 32:
            raise ValueError("the file name is not a 32-byte hex NFT id + .json")
        data = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("manifest"), dict) \
                or not isinstance(data.get("leaves"), list):
            raise ValueError("expected an object with 'manifest' (object) and 'leaves' (list)")
        return data["manifest"], [bytes.fromhex(x) for x in data["leaves"]]
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise CorruptLedger(f"manifest file {str(f)!r} is damaged: {e}") from None


def _text(v: Any, what: str) -> str:
    """A str that can be encoded as UTF-8 (no lone surrogates), else InvalidArgument naming it."""
    if not isinstance(v, str):
        raise InvalidArgument(f"{what} must be a str, got {type(v).__name__}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgument(f"{what} is not valid text: {e.reason} at position {e.start}") from None
    return v


def _amount_arg(v: Any, what: str) -> int:
    import numbers
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InvalidArgument(f"{what} must be an int number of base units, got {v!r}")
    v = int(v)
    if not 0 <= v < 2**64:
        raise InvalidArgument(f"{what} must be in [0, 2**64), got {v}")
    return v
