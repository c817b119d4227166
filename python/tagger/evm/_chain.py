"""Contract artifacts and signed transactions over any web3 provider."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from .._optional import require
from ..errors import ContractReverted, InvalidArgument

CONTRACTS = ("TagToken", "TagBridge", "Checkpoint", "DatasetNFT", "Market", "TaskEscrow")


@lru_cache(maxsize=None)
def artifact(name: str) -> dict:
    """The compiled artifact (``abi``, ``bytecode``, ``compiler``, ``source_sha256``) of a contract."""
    if name not in CONTRACTS:
        raise InvalidArgument(f"unknown contract {name!r}; one of {', '.join(CONTRACTS)}")
    with resources.files("tagger.evm").joinpath(f"artifacts/{name}.json").open("r", encoding="utf-8") as f:
        return json.load(f)


def revert_reason(e: BaseException) -> str | None:
    """The revert reason of a failed call or gas estimate, or None if ``e`` is not a revert."""
    names = {c.__name__ for c in type(e).__mro__}
    if not names & {"ContractLogicError", "TransactionFailed", "ContractCustomError", "ContractPanicError"}:
        return None
    msg = getattr(e, "message", None) or (e.args[0] if e.args else "") or str(e)
    msg = str(msg)
    for prefix in ("execution reverted: ", "execution reverted"):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if msg in ("", "b''", "0x"):
        return "reverted without a reason (checked arithmetic: e.g. a balance or allowance too low)"
    return msg


class Chain:
    """A web3 connection: contract objects and locally signed transactions (so any
    JSON-RPC node works, none needs to hold a key)."""

    def __init__(self, web3: Any, gas_margin: float = 1.2) -> None:
        require("web3", "tg.evm")
        self.w3 = web3
        self.gas_margin = float(gas_margin)
        self.chain_id = int(web3.eth.chain_id)

    def contract(self, name: str, address: str | None = None) -> Any:
        art = artifact(name)
        if address is None:
            return self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        return self.w3.eth.contract(address=self.w3.to_checksum_address(address), abi=art["abi"])

    def send(self, signer: Any, call: Any, *, what: str = "") -> Any:
        """Estimate, sign with ``signer`` (an eth_account LocalAccount), send and wait;
        returns the receipt. A revert raises ContractReverted with its reason."""
        w3 = self.w3
        params = {"from": signer.address, "chainId": self.chain_id,
                  "nonce": w3.eth.get_transaction_count(signer.address, "pending")}
        try:
            tx = call.build_transaction(params)
        except Exception as e:  # the gas estimate runs the call: a revert shows here
            reason = revert_reason(e)
            if reason is None:
                raise
            raise ContractReverted(f"{what or 'transaction'} refused: {reason}") from None
        tx["gas"] = int(tx["gas"] * self.gas_margin)
        signed = signer.sign_transaction(tx)
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        rcpt = w3.eth.wait_for_transaction_receipt(h)
        if rcpt["status"] != 1:
            raise ContractReverted(f"{what or 'transaction'} reverted on chain (tx {h.hex()})")
        return rcpt

    def deploy(self, signer: Any, name: str, *args: Any) -> tuple[Any, Any]:
        """Deploy ``name`` with constructor ``args``; returns (contract, receipt)."""
        rcpt = self.send(signer, self.contract(name).constructor(*args), what=f"deploy {name}")
        return self.contract(name, rcpt["contractAddress"]), rcpt

    def events(self, contract: Any, name: str, receipt: Any) -> list:
        """The ``name`` events that ``contract`` (at its address) logged in ``receipt``."""
        logs = require("web3.logs", "tg.evm")
        evs = getattr(contract.events, name)().process_receipt(receipt, errors=logs.DISCARD)
        return [e for e in evs if e["address"] == contract.address]

    def send_value(self, signer: Any, to: str, wei: int) -> Any:
        """A plain ETH transfer (gas money for a derived account)."""
        w3 = self.w3
        tx = {"from": signer.address, "to": w3.to_checksum_address(to), "value": int(wei), "chainId": self.chain_id,
              "nonce": w3.eth.get_transaction_count(signer.address, "pending"), "gas": 21_000}
        fees = _fees(w3)
        tx.update(fees)
        h = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
        return w3.eth.wait_for_transaction_receipt(h)


def _fees(w3: Any) -> dict:
    block = w3.eth.get_block("latest")
    base = block.get("baseFeePerGas")
    if base is None:
        return {"gasPrice": int(w3.eth.gas_price)}
    tip = 10**9
    return {"maxFeePerGas": int(base) * 2 + tip, "maxPriorityFeePerGas": tip}
