"""The bridge between a tagger :class:`~tagger.Network` and an EVM chain (docs/evm.md).

One operator — a tagger account whose EVM key is derived from its seed — deploys
(or attaches to) the six contracts, holds the bridge's custody account on the
tagger ledger, and relays: deposits (TAG locked on the ledger by a signed transfer
to custody, minted on chain against that transfer's id), withdrawals (TAG burned on
chain, released on the ledger by a signed transfer from custody that names the
burn), NFT exports (the ledger NFT moved into custody by a signed ``nft_transfer``,
minted on chain with the same id, manifest hash, Merkle root and royalty table)
and checkpoints (ledger block hashes anchored on chain). Each relay checks the
other side's receipt before it acts, and a receipt is used once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Mapping

from .. import crypto
from ..errors import InvalidArgument, NotAuthorized, ReplayedReceipt, UnknownAccount, VerificationFailed
from ..ledger import Account, AccountLike, address_str, decode_tx, to_address
from ._chain import CONTRACTS, Chain
from .keys import evm_account

__all__ = ["Bridge", "DepositReceipt", "WithdrawReceipt", "ExportReceipt", "BIND_DOMAIN", "bind_message"]

BIND_DOMAIN = "tagger/evm-bind/v1"
ZERO32 = bytes(32)
DEPOSIT_MEMO = "evm-deposit"
WITHDRAW_MEMO = "evm-withdraw"
SALE, LICENSE = 0, 1


def bind_message(evm_chain_id: int, bridge: str, evm_addr: str, ledger_addr: bytes) -> bytes:
    """What a tagger key signs to bind an EVM address: H_"tagger/evm-bind/v1"(chain id
    (8, BE) ‖ bridge address ‖ EVM address ‖ tagger address), H_d(x) = SHA-256(d ‖ 0x00 ‖ x)."""
    body = (int(evm_chain_id).to_bytes(8, "big") + bytes.fromhex(bridge[2:]) + bytes.fromhex(evm_addr[2:])
            + bytes(ledger_addr))
    return crypto.sha256(BIND_DOMAIN.encode() + b"\x00" + body)


@dataclasses.dataclass(frozen=True)
class DepositReceipt:
    """TAG locked on the ledger (``ledger_tx``) and minted on chain (``evm_tx``)."""
    ledger_tx: bytes
    evm_tx: str
    receiver: str
    amount: int


@dataclasses.dataclass(frozen=True)
class WithdrawReceipt:
    """TAG burned on chain (withdrawal ``withdrawal_id`` in ``evm_tx``) and released on the ledger."""
    withdrawal_id: int
    evm_tx: str
    ledger_tx: bytes
    receiver: str
    amount: int


@dataclasses.dataclass(frozen=True)
class ExportReceipt:
    """A ledger NFT moved into custody (``ledger_tx``) and minted on chain as ``token_id``."""
    token_id: int
    ledger_tx: bytes
    evm_tx: str
    receiver: str
    contributors: tuple[tuple[str, int], ...]


def _hex(h: Any) -> str:
    s = h.hex() if hasattr(h, "hex") else str(h)
    return s if s.startswith("0x") else "0x" + s


class Bridge:
    """``Bridge(web3, account, network)``: deploy the contracts (``addresses=None``) or
    attach to them (``addresses`` = a previous ``bridge.addresses``) on the chain behind
    ``web3`` (any provider: eth-tester in process, anvil, geth, a testnet RPC).

    ``account`` is the tagger account acting here: the operator when it deployed the
    contracts (its ledger account is the custody account), or any user attaching to
    relay-free calls (lock, burn, market, escrow). Its EVM key is derived from its seed
    (:func:`tagger.evm.evm_private_key`) and pays the gas.
    """

    def __init__(self, web3: Any, account: AccountLike, network: Any, *, addresses: Mapping[str, Any] | None = None,
                 gas_margin: float = 1.2) -> None:
        self.chain = Chain(web3, gas_margin)
        self.net = network
        self.account = network.account(account)
        if network._led.account(self.account.address_bytes) is None:
            raise UnknownAccount(f"{self.account!r} is not registered on the tagger ledger")
        self.evm = evm_account(self.account)
        if addresses is None:
            self._deploy()
        else:
            self._attach(dict(addresses))
        from .escrow import Escrow
        self.escrow = Escrow(self)

    # ------------------------------------------------------------ setup
    @property
    def w3(self) -> Any:
        return self.chain.w3

    def _deploy(self) -> None:
        ch, op = self.chain, self.evm
        token, r0 = ch.deploy(op, "TagToken")
        bridge, _ = ch.deploy(op, "TagBridge", token.address, op.address, self.net.chain_id)
        ch.send(op, token.functions.setMinter(bridge.address), what="TagToken.setMinter")
        checkpoint, _ = ch.deploy(op, "Checkpoint", op.address, self.net.chain_id)
        nft, _ = ch.deploy(op, "DatasetNFT", op.address)
        try:
            fee_to = evm_account(self.net.issuer).address  # the ledger's fee recipient, when it is local
        except (KeyError, UnknownAccount):
            fee_to = op.address
        market, _ = ch.deploy(op, "Market", token.address, nft.address, self.net.fee_bps, fee_to)
        ch.send(op, nft.functions.setRoyaltyReceiver(market.address), what="DatasetNFT.setRoyaltyReceiver")
        escrow, _ = ch.deploy(op, "TaskEscrow", token.address)
        self.addresses = {"TagToken": token.address, "TagBridge": bridge.address, "Checkpoint": checkpoint.address,
                          "DatasetNFT": nft.address, "Market": market.address, "TaskEscrow": escrow.address,
                          "operator": op.address, "custody": self.account.address, "deploy_block": int(r0["blockNumber"]),
                          "evm_chain_id": ch.chain_id, "ledger_chain_id": self.net.chain_id}
        self._bind_contracts()

    def _attach(self, addresses: dict) -> None:
        missing = [k for k in (*CONTRACTS, "operator", "custody") if k not in addresses]
        if missing:
            raise InvalidArgument(f"addresses lack {missing}")
        for name in CONTRACTS:
            if not self.w3.eth.get_code(self.w3.to_checksum_address(addresses[name])):
                raise InvalidArgument(f"no contract at {addresses[name]} ({name}) on chain {self.chain.chain_id}")
        addresses.setdefault("deploy_block", 0)
        addresses.setdefault("evm_chain_id", self.chain.chain_id)
        addresses.setdefault("ledger_chain_id", self.net.chain_id)
        self.addresses = addresses
        self._bind_contracts()
        if int(self.bridge.functions.ledger_chain_id().call()) != self.net.chain_id:
            raise InvalidArgument("this bridge serves another tagger ledger (its ledger chain id differs)")
        if self.bridge.functions.operator().call() != addresses["operator"]:
            raise InvalidArgument("addresses['operator'] is not the bridge contract's operator")

    def _bind_contracts(self) -> None:
        a = self.addresses
        self.token = self.chain.contract("TagToken", a["TagToken"])
        self.bridge = self.chain.contract("TagBridge", a["TagBridge"])
        self.checkpoint = self.chain.contract("Checkpoint", a["Checkpoint"])
        self.nft = self.chain.contract("DatasetNFT", a["DatasetNFT"])
        self.market = self.chain.contract("Market", a["Market"])
        self.task_escrow = self.chain.contract("TaskEscrow", a["TaskEscrow"])
        self.custody = to_address(a["custody"])
        self._log_cache: list = []
        self._logs_done = int(a.get("deploy_block", 0)) - 1

    @property
    def is_operator(self) -> bool:
        return bool(self.evm.address == self.addresses["operator"])

    def _need_operator(self, what: str) -> None:
        if not self.is_operator:
            raise NotAuthorized(f"{what}: only the bridge operator relays ({self.addresses['operator']})")

    def __repr__(self) -> str:
        role = "operator" if self.is_operator else "user"
        return (f"Bridge(chain {self.chain.chain_id}, ledger {self.net.chain_id}, {role} {self.account.name}, "
                f"bridge {self.addresses['TagBridge']})")

    # ------------------------------------------------------------ accounts and gas
    def evm_signer(self, account: AccountLike) -> Any:
        """The eth_account LocalAccount of a local tagger account."""
        return evm_account(self.net.account(account))

    def evm_address(self, account: AccountLike) -> str:
        """The EVM address of a tagger account: derived when its keys are local, else the
        latest binding it signed (:meth:`bind`); UnknownAccount if it has none."""
        addr = self.net._address(account) if not isinstance(account, Account) else account.address_bytes
        local = self.net._by_addr.get(addr)
        if local is not None:
            return str(evm_account(local).address)
        bound = self.bindings().get(addr)
        if bound is None:
            raise UnknownAccount(f"{address_str(addr)} has no local keys and no EVM binding (Bridge.bind)")
        return bound

    def send_gas(self, account: AccountLike | str, wei: int) -> None:
        """Send ``wei`` of the chain's native coin from this account's EVM key to a tagger
        account's EVM address (or an EVM address): gas money."""
        to = account if isinstance(account, str) and account.startswith("0x") else self.evm_address(account)
        self.chain.send_value(self.evm, to, wei)

    def bind(self, account: AccountLike) -> str:
        """Publish, from the account's EVM key, its tagger key's signature over the link
        (:func:`bind_message`), so others can pay it on chain without its keys. Returns the tx hash."""
        acct = self.net.account(account)
        signer = evm_account(acct)
        msg = bind_message(self.chain.chain_id, self.bridge.address, signer.address, acct.address_bytes)
        sig = acct.signing_key.sign(msg)
        r = self.chain.send(signer, self.bridge.functions.bind(acct.address_bytes, sig), what="bind")
        return _hex(r["transactionHash"])

    def bindings(self) -> dict[bytes, str]:
        """tagger address -> EVM address, from the Bound events whose Ed25519 signature
        checks against the key registered on the ledger (the latest valid one wins)."""
        out: dict[bytes, str] = {}
        for ev in self._logs(self.bridge, "Bound"):
            a = ev["args"]
            ledger_addr = bytes(a["ledger_address"])
            rec = self.net._led.account(ledger_addr)
            if rec is None:
                continue
            msg = bind_message(self.chain.chain_id, self.bridge.address, a["account"], ledger_addr)
            if crypto.VerifyKey(rec["signing_key"]).is_valid(msg, bytes(a["signature"])):
                out[ledger_addr] = a["account"]
        return out

    # ------------------------------------------------------------ reads
    def _logs(self, contract: Any, event: str) -> list:
        """Every ``event`` of ``contract`` since the deployment, oldest first (decoded)."""
        from eth_utils import event_abi_to_log_topic
        abi = next(x for x in contract.abi if x.get("type") == "event" and x["name"] == event)
        topic = bytes(event_abi_to_log_topic(abi))
        ev = getattr(contract.events, event)()
        return [ev.process_log(log) for log in self._raw_logs()
                if log["address"] == contract.address and log["topics"] and bytes(log["topics"][0]) == topic]

    def _raw_logs(self) -> list:
        """The logs of all six contracts since the deployment, read with one eth_getLogs per
        new block range: blocks already read are not read again (a node's eth_getLogs, and
        eth-tester's scan even more, cost per call and per block)."""
        head = int(self.w3.eth.block_number)
        if head > self._logs_done:
            addrs = [self.addresses[n] for n in CONTRACTS]
            new = self.w3.eth.get_logs({"fromBlock": self._logs_done + 1, "toBlock": head, "address": addrs})
            self._log_cache += sorted(new, key=lambda e: (e["blockNumber"], e["logIndex"]))
            self._logs_done = head
        return self._log_cache

    def balance_of(self, account: AccountLike | str) -> int:
        """TAG (base units) held on chain by a tagger account's EVM address (or an EVM address)."""
        addr = account if isinstance(account, str) and account.startswith("0x") else self.evm_address(account)
        return int(self.token.functions.balanceOf(addr).call())

    def total_supply(self) -> int:
        return int(self.token.functions.totalSupply().call())

    def _custody_txs(self) -> Iterator[tuple[int, int, Any]]:
        """(height, index, Transaction) of every committed tx naming the custody account."""
        for height, index, _kind, _txid, _sender, _ts, rec in self.net._led.history(self.custody):
            yield int(height), int(index), decode_tx(rec)

    def _ledger_receipt(self, txid: bytes) -> tuple[int, int, Any]:
        """The committed transaction ``txid`` naming custody, its inclusion in its block checked."""
        txid = bytes(txid)
        for height, index, t in self._custody_txs():
            if t.txid == txid:
                proof = self.net.block(height).proof(index)
                if not proof.verify(t.record):
                    raise VerificationFailed(f"ledger tx {txid.hex()[:16]}… fails its block's Merkle proof")
                return height, index, t
        raise InvalidArgument(f"ledger tx {txid.hex()[:16]}… is not a committed transaction naming the bridge custody")

    # ------------------------------------------------------------ deposits
    def _deposit_memo(self, receiver: str) -> str:
        return f"{DEPOSIT_MEMO}:{self.chain.chain_id}:{self.bridge.address}:{receiver}"

    def lock(self, account: AccountLike, amount: int, to: str | None = None) -> bytes:
        """The holder's half of a deposit: a signed ledger transfer of ``amount`` to the
        bridge custody whose memo names the EVM receiver (default: the account's own
        derived address). Returns the ledger transaction id."""
        acct = self.net.account(account)
        receiver = self.w3.to_checksum_address(to) if to else str(evm_account(acct).address)
        return bytes(self.net.transfer(acct, address_str(self.custody), int(amount), self._deposit_memo(receiver)))

    def relay_deposit(self, ledger_tx: bytes) -> DepositReceipt:
        """The operator's half: check the ledger receipt (committed, in its block's Merkle
        root, a transfer to custody, memo naming this bridge and a receiver) and that it
        was never minted, then mint; the EVM receipt is checked in turn."""
        self._need_operator("relay_deposit")
        ledger_tx = bytes(ledger_tx)
        _, _, t = self._ledger_receipt(ledger_tx)
        f = t.fields
        if t.kind != "transfer" or bytes(f["to"]) != self.custody:
            raise InvalidArgument(f"ledger tx {ledger_tx.hex()[:16]}… is not a transfer to the bridge custody")
        parts = str(f["memo"]).split(":")
        if len(parts) != 4 or parts[0] != DEPOSIT_MEMO:
            raise InvalidArgument(f"ledger tx {ledger_tx.hex()[:16]}… carries no deposit memo")
        if parts[1] != str(self.chain.chain_id) or parts[2] != self.bridge.address:
            raise InvalidArgument(f"ledger tx {ledger_tx.hex()[:16]}… deposits to another chain or bridge")
        if not self.w3.is_checksum_address(parts[3]):
            raise InvalidArgument(f"ledger tx {ledger_tx.hex()[:16]}… names no valid EVM receiver")
        receiver, amount = parts[3], int(f["amount"])
        if int(self.bridge.functions.minted(ledger_tx).call()):
            raise ReplayedReceipt(f"ledger deposit {ledger_tx.hex()[:16]}… was already minted")
        r = self.chain.send(self.evm, self.bridge.functions.mint(receiver, amount, ledger_tx), what="TagBridge.mint")
        evs = self.chain.events(self.bridge, "Deposited", r)
        if len(evs) != 1 or bytes(evs[0]["args"]["ledger_tx"]) != ledger_tx or evs[0]["args"]["receiver"] != receiver \
                or int(evs[0]["args"]["amount"]) != amount:
            raise VerificationFailed("the mint's EVM receipt does not match the ledger deposit")
        return DepositReceipt(ledger_tx, _hex(r["transactionHash"]), receiver, amount)

    def deposit(self, account: AccountLike, amount: int, to: str | None = None) -> DepositReceipt:
        """Move ``amount`` TAG from the ledger to the chain: :meth:`lock` then :meth:`relay_deposit`."""
        return self.relay_deposit(self.lock(account, amount, to))

    # ------------------------------------------------------------ withdrawals
    def burn(self, account: AccountLike, amount: int, to: AccountLike | None = None) -> str:
        """The holder's half of a withdraw: burn ``amount`` of its on-chain TAG for the
        ledger account ``to`` (default: itself), which must be registered there. Returns
        the EVM transaction hash."""
        acct = self.net.account(account)
        ledger_to = acct.address_bytes if to is None else self.net._address(to)
        if self.net._led.account(ledger_to) is None:
            raise UnknownAccount(f"{address_str(ledger_to)} is not registered on the ledger; the release would fail")
        r = self.chain.send(evm_account(acct), self.bridge.functions.withdraw(int(amount), ledger_to),
                            what="TagBridge.withdraw")
        return _hex(r["transactionHash"])

    def _released(self) -> dict[int, bytes]:
        """withdrawal id -> ledger tx of its release, from the custody's outgoing transfers."""
        out: dict[int, bytes] = {}
        prefix = f"{WITHDRAW_MEMO}:{self.chain.chain_id}:{self.bridge.address}:"
        for _, _, t in self._custody_txs():
            if t.kind == "transfer" and bytes.fromhex(t.sender[2:]) == self.custody and str(t.fields["memo"]).startswith(prefix):
                wid = int(str(t.fields["memo"])[len(prefix):].split(":")[0])
                if wid in out:
                    raise VerificationFailed(f"withdrawal {wid} was released twice on the ledger")
                out[wid] = t.txid
        return out

    def relay_withdrawal(self, evm_tx: str, confirmations: int = 0) -> list[WithdrawReceipt]:
        """The operator's half: check the EVM receipt (succeeded, ``confirmations`` deep,
        Withdrawn events of this bridge matching its stored withdrawals) and that no
        release exists on the ledger or on chain, then release each withdrawal from
        custody (a signed ledger transfer naming it) and record that on chain."""
        self._need_operator("relay_withdrawal")
        r = self.w3.eth.get_transaction_receipt(evm_tx)
        if r["status"] != 1:
            raise InvalidArgument(f"EVM tx {evm_tx} failed; nothing was burned")
        if self.w3.eth.block_number - int(r["blockNumber"]) + 1 < confirmations:
            raise InvalidArgument(f"EVM tx {evm_tx} has fewer than {confirmations} confirmations")
        evs = self.chain.events(self.bridge, "Withdrawn", r)
        if not evs:
            raise InvalidArgument(f"EVM tx {evm_tx} holds no withdrawal of this bridge")
        released = self._released()
        out = []
        for ev in evs:
            a = ev["args"]
            wid = int(a["id"])
            sender, amount, ledger_to, release_tx = self.bridge.functions.withdrawals(wid).call()
            if (sender, int(amount), bytes(ledger_to)) != (a["sender"], int(a["amount"]), bytes(a["ledger_to"])):
                raise VerificationFailed(f"withdrawal {wid}: the event and the contract's record differ")
            if bytes(release_tx) != ZERO32 or wid in released:
                raise ReplayedReceipt(f"withdrawal {wid} was already released on the ledger")
            memo = f"{WITHDRAW_MEMO}:{self.chain.chain_id}:{self.bridge.address}:{wid}:{_hex(r['transactionHash'])}"
            ledger_tx = bytes(self.net.transfer(self.account, address_str(bytes(ledger_to)), int(amount), memo))
            _, _, t = self._ledger_receipt(ledger_tx)
            if (t.kind, bytes(t.fields["to"]), int(t.fields["amount"]), t.fields["memo"]) != \
                    ("transfer", bytes(ledger_to), int(amount), memo):
                raise VerificationFailed(f"withdrawal {wid}: the ledger release does not match")
            self.chain.send(self.evm, self.bridge.functions.release(wid, ledger_tx), what="TagBridge.release")
            out.append(WithdrawReceipt(wid, _hex(r["transactionHash"]), ledger_tx, address_str(bytes(ledger_to)),
                                       int(amount)))
        return out

    def withdraw(self, account: AccountLike, amount: int, to: AccountLike | None = None) -> WithdrawReceipt:
        """Move ``amount`` TAG from the chain back to the ledger: :meth:`burn` then :meth:`relay_withdrawal`."""
        return self.relay_withdrawal(self.burn(account, amount, to))[0]

    # ------------------------------------------------------------ dataset NFTs
    def _merkle_root(self, nft_id: bytes) -> bytes:
        try:
            manifest, _ = self.net._load_manifest(nft_id)
        except InvalidArgument:
            return ZERO32  # an NFT minted without a stored manifest (Contracts.mint_nft)
        return bytes.fromhex(manifest["merkle_root"])

    def export_nft(self, nft: Any) -> ExportReceipt:
        """Export a ledger dataset NFT (a ``DatasetNFT`` or its id) held by a local account:
        a signed ``nft_transfer`` into custody, then the on-chain mint to the holder's EVM
        address with the same id, manifest hash, Merkle root and royalty table (each
        contributor's EVM address derived or bound). Operator only."""
        self._need_operator("export_nft")
        nft_id = bytes(getattr(nft, "id", nft))
        rec = self.net.ledger.nft(nft_id)
        if rec is None:
            raise InvalidArgument(f"no NFT {nft_id.hex()[:16]}… on the ledger")
        token_id = int.from_bytes(nft_id, "big")
        if bytes(self.nft.functions.manifest_hash(token_id).call()) != ZERO32 or bytes(rec["holder"]) == self.custody:
            raise ReplayedReceipt(f"NFT {nft_id.hex()[:16]}… was already exported")
        holder = self.net.account(address_str(bytes(rec["holder"])))
        receiver = str(evm_account(holder).address)
        contributors = tuple((self.evm_address(address_str(bytes(a))), int(b)) for a, b in rec["royalties"])
        root = self._merkle_root(nft_id)
        ledger_tx = bytes(self.net.ledger.transfer_nft(nft_id, holder, address_str(self.custody)))
        _, _, t = self._ledger_receipt(ledger_tx)
        if t.kind != "nft_transfer" or bytes(t.fields["nft"]) != nft_id or bytes(t.fields["to"]) != self.custody \
                or t.sender != holder.address:
            raise VerificationFailed("the ledger nft_transfer into custody does not match")
        r = self.chain.send(self.evm, self.nft.functions.mint(receiver, token_id, bytes(rec["manifest_hash"]), root,
                                                              [list(c) for c in contributors], ledger_tx),
                            what="DatasetNFT.mint")
        evs = self.chain.events(self.nft, "Exported", r)
        if len(evs) != 1 or int(evs[0]["args"]["token_id"]) != token_id \
                or bytes(evs[0]["args"]["manifest_hash"]) != bytes(rec["manifest_hash"]):
            raise VerificationFailed("the NFT mint's EVM receipt does not match the ledger NFT")
        return ExportReceipt(token_id, ledger_tx, _hex(r["transactionHash"]), receiver, contributors)

    def nft_info(self, token_id: int) -> dict:
        """An exported NFT as the chain holds it: owner, manifest hash, Merkle root, royalty table, tokenURI."""
        f = self.nft.functions
        return {"owner": f.ownerOf(token_id).call(), "manifest_hash": bytes(f.manifest_hash(token_id).call()),
                "merkle_root": bytes(f.merkle_root(token_id).call()), "royalty_bps": int(f.royalty_bps(token_id).call()),
                "contributors": [(a, int(b)) for a, b in f.contributors(token_id).call()],
                "token_uri": f.tokenURI(token_id).call(), "ledger_tx": bytes(f.ledger_tx(token_id).call())}

    # ------------------------------------------------------------ market
    def approve(self, account: AccountLike, spender: str, amount: int) -> None:
        """ERC-20 approve from the account's EVM key."""
        self.chain.send(self.evm_signer(account), self.token.functions.approve(spender, int(amount)), what="approve")

    def transfer(self, account: AccountLike, to: AccountLike | str, amount: int) -> str:
        """ERC-20 transfer on chain from the account's EVM key."""
        dst = to if isinstance(to, str) and to.startswith("0x") else self.evm_address(to)
        r = self.chain.send(self.evm_signer(account), self.token.functions.transfer(dst, int(amount)), what="transfer")
        return _hex(r["transactionHash"])

    def list_nft(self, account: AccountLike, token_id: int, price: int, kind: str = "sale") -> int:
        """List an NFT the account holds on chain; a sale approves the Market for it first.
        Returns the listing id."""
        if kind not in ("sale", "license"):
            raise InvalidArgument(f"kind must be 'sale' or 'license', got {kind!r}")
        signer = self.evm_signer(account)
        if kind == "sale" and self.nft.functions.getApproved(token_id).call() != self.market.address:
            self.chain.send(signer, self.nft.functions.approve(self.market.address, token_id), what="approve NFT")
        r = self.chain.send(signer, self.market.functions.list(token_id, int(price), SALE if kind == "sale" else LICENSE),
                            what="Market.list")
        return int(self.chain.events(self.market, "Listed", r)[0]["args"]["listing_id"])

    def buy(self, account: AccountLike, listing_id: int) -> dict:
        """Buy a listing at its price (approving the Market for it). Returns the Sold event's fields."""
        signer = self.evm_signer(account)
        seller, token_id, price, kind, active = self.market.functions.listings(listing_id).call()
        if int(self.token.functions.allowance(signer.address, self.market.address).call()) < price:
            self.chain.send(signer, self.token.functions.approve(self.market.address, int(price)), what="approve")
        r = self.chain.send(signer, self.market.functions.buy(listing_id, int(price)), what="Market.buy")
        ev = self.chain.events(self.market, "Sold", r)[0]["args"]
        return {k: ev[k] for k in ("listing_id", "token_id", "buyer", "seller", "price", "fee", "royalties", "kind")} | \
            {"evm_tx": _hex(r["transactionHash"]), "gas_used": int(r["gasUsed"])}

    def proceeds(self, account: AccountLike | str) -> int:
        addr = account if isinstance(account, str) and account.startswith("0x") else self.evm_address(account)
        return int(self.market.functions.proceeds(addr).call())

    def withdraw_proceeds(self, account: AccountLike) -> int:
        """Pull the account's Market proceeds to its EVM address; returns the amount."""
        amount = self.proceeds(account)
        self.chain.send(self.evm_signer(account), self.market.functions.withdrawProceeds(), what="withdrawProceeds")
        return amount

    # ------------------------------------------------------------ checkpoints
    def anchor(self) -> dict:
        """Write the ledger's latest block (height, hash, state root) to the Checkpoint
        contract; a height already anchored is not written again. Operator only."""
        self._need_operator("anchor")
        h = self.net.height
        hd = self.net._led.header(h)
        cp = self.checkpoint.functions
        if int(cp.count().call()) and int(cp.latest_height().call()) >= h:
            got = cp.anchors(h).call()
            return {"height": h, "block_hash": bytes(got[0]), "state_root": bytes(got[1]), "evm_tx": None}
        r = self.chain.send(self.evm, cp.anchor(h, bytes(hd["hash"]), bytes(hd["state_root"])), what="Checkpoint.anchor")
        return {"height": h, "block_hash": bytes(hd["hash"]), "state_root": bytes(hd["state_root"]),
                "evm_tx": _hex(r["transactionHash"])}

    # ------------------------------------------------------------ verify
    def verify(self) -> dict:
        """Read everything back from the chain and check parity with the ledger: roles,
        every mint against its ledger deposit, every release against its withdrawal (and
        no double release), the token supply against mints and burns and the custody
        balance, every exported NFT against the ledger's record and manifest, every anchor
        against the ledger's block. Raises VerificationFailed listing every mismatch;
        returns a report (pending deposits and withdrawals are listed, not errors)."""
        bad: list[str] = []
        f = self.bridge.functions
        if self.token.functions.minter().call() != self.bridge.address:
            bad.append("TagToken's minter is not the bridge contract")
        if self.nft.functions.royalty_receiver().call() != self.market.address:
            bad.append("DatasetNFT's royalty receiver is not the Market")
        custody_in: dict[bytes, Any] = {}
        for _, _, t in self._custody_txs():
            if t.kind == "transfer" and bytes(t.fields["to"]) == self.custody and \
                    str(t.fields["memo"]).startswith(self._deposit_memo("")):
                custody_in[t.txid] = t
        minted = 0
        seen: set[bytes] = set()
        for ev in self._logs(self.bridge, "Deposited"):
            a = ev["args"]
            txid, amount = bytes(a["ledger_tx"]), int(a["amount"])
            minted += amount
            seen.add(txid)
            t = custody_in.get(txid)
            if t is None:
                bad.append(f"mint of {amount} for ledger tx {txid.hex()[:16]}…: no such deposit on the ledger")
            elif int(t.fields["amount"]) != amount or str(t.fields["memo"]) != self._deposit_memo(a["receiver"]):
                bad.append(f"mint for ledger tx {txid.hex()[:16]}…: amount or receiver differs from the deposit")
        pending_deposits = [t.txid for txid, t in custody_in.items() if txid not in seen]
        released = {}
        try:
            released = self._released()
        except VerificationFailed as e:
            bad.append(str(e))
        ledger_txs = {t.txid: t for _, _, t in self._custody_txs()}
        burned = released_amount = 0
        pending_withdrawals = []
        n_w = int(f.withdrawal_count().call())
        for wid in range(n_w):
            sender, amount, ledger_to, release_tx = f.withdrawals(wid).call()
            burned += int(amount)
            rel = released.get(wid)
            if bytes(release_tx) == ZERO32:
                if rel is not None:
                    bad.append(f"withdrawal {wid} is released on the ledger but not recorded on chain")
                pending_withdrawals.append(wid)
                continue
            t = ledger_txs.get(bytes(release_tx))
            if t is None or rel != bytes(release_tx):
                bad.append(f"withdrawal {wid}: its recorded release {bytes(release_tx).hex()[:16]}… is not on the ledger")
            elif bytes(t.fields["to"]) != bytes(ledger_to) or int(t.fields["amount"]) != int(amount):
                bad.append(f"withdrawal {wid}: the ledger release pays another account or amount")
            else:
                released_amount += int(amount)
        for wid in released:
            if wid >= n_w:
                bad.append(f"a ledger release names withdrawal {wid}, which the chain does not hold")
        supply = self.total_supply()
        if supply != minted - burned or int(f.deposited_total().call()) != minted or int(f.withdrawn_total().call()) != burned:
            bad.append(f"token supply {supply} != minted {minted} - burned {burned}")
        # What custody must hold for the chain: every minted deposit less every release
        # (= supply + burned but not yet released).
        backing = sum(int(t.fields["amount"]) for txid, t in custody_in.items() if txid in seen) - released_amount
        if self.net.balance(address_str(self.custody)) < backing:
            bad.append(f"the custody balance is below the TAG it backs ({backing})")
        n_nft = 0
        for ev in self._logs(self.nft, "Exported"):
            a = ev["args"]
            n_nft += 1
            nft_id = int(a["token_id"]).to_bytes(32, "big")
            rec = self.net.ledger.nft(nft_id)
            if rec is None:
                bad.append(f"exported NFT {nft_id.hex()[:16]}… is not on the ledger")
                continue
            if bytes(rec["holder"]) != self.custody:
                bad.append(f"exported NFT {nft_id.hex()[:16]}… is live on the ledger too (not in custody)")
            if bytes(a["manifest_hash"]) != bytes(rec["manifest_hash"]) or bytes(a["merkle_root"]) != self._merkle_root(nft_id):
                bad.append(f"exported NFT {nft_id.hex()[:16]}…: manifest hash or Merkle root differs from the ledger")
            try:
                want = [(self.evm_address(address_str(bytes(x))), int(b)) for x, b in rec["royalties"]]
            except UnknownAccount as e:
                bad.append(f"exported NFT {nft_id.hex()[:16]}…: {e}")
                continue
            got = [(x, int(b)) for x, b in self.nft.functions.contributors(int(a["token_id"])).call()]
            if got != want:
                bad.append(f"exported NFT {nft_id.hex()[:16]}…: the contributors table differs from the ledger royalties")
        n_anchor = latest = 0
        for ev in self._logs(self.checkpoint, "Anchored"):
            a = ev["args"]
            h = int(a["height"])
            n_anchor, latest = n_anchor + 1, h
            if h > self.net.height:
                bad.append(f"anchor at height {h} is above the ledger's height {self.net.height}")
                continue
            hd = self.net._led.header(h)
            if bytes(a["block_hash"]) != bytes(hd["hash"]) or bytes(a["state_root"]) != bytes(hd["state_root"]):
                bad.append(f"anchor at height {h} does not match the ledger's block {h}")
        if bad:
            raise VerificationFailed("bridge verify: " + "; ".join(bad))
        return {"supply": supply, "minted": minted, "burned": burned, "deposits": len(seen),
                "pending_deposits": pending_deposits, "withdrawals": n_w, "pending_withdrawals": pending_withdrawals,
                "custody_backing": backing, "nfts": n_nft, "anchors": n_anchor, "latest_anchor": latest}
