"""tagger on an EVM chain: TAG, dataset NFTs, the market and task escrow as Vyper
contracts (``contracts/*.vy``; compiled artifacts ship in ``tagger/evm/artifacts``),
driven from a tagger :class:`~tagger.Network` (docs/evm.md).

Needs the ``evm`` extra (``pip install 'tagger[evm]'``: web3, eth-account, and
eth-tester with py-evm for an in-process chain); ``import tagger`` never imports it.

>>> import tagger as tg
>>> from web3 import Web3, EthereumTesterProvider          # doctest: +SKIP
>>> net = tg.Network.memory()                              # doctest: +SKIP
>>> op = net.create_account("bridge-op")                   # doctest: +SKIP
>>> w3 = Web3(EthereumTesterProvider())                    # doctest: +SKIP
>>> tg.evm.fund_from_node(w3, tg.evm.evm_address(op))      # doctest: +SKIP
>>> bridge = tg.evm.Bridge(w3, op, net)                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .keys import EVM_KEY_INFO, EVM_KEY_SALT, SECP256K1_N, evm_account, evm_address, evm_private_key

__all__ = ["Bridge", "DepositReceipt", "WithdrawReceipt", "ExportReceipt", "Escrow", "evm_private_key", "evm_account",
           "evm_address", "artifact", "fund_from_node", "tester_web3", "SECP256K1_N", "EVM_KEY_SALT", "EVM_KEY_INFO"]


def artifact(name: str) -> dict:
    """The compiled artifact of a contract: ``abi``, ``bytecode``, ``compiler``, ``source_sha256``."""
    from ._chain import artifact as _a
    return _a(name)


def tester_web3() -> Any:
    """A web3 connected to a fresh in-process chain (eth-tester with py-evm)."""
    from .._optional import require
    web3 = require("web3", "tg.evm")
    require("eth_tester", "tg.evm.tester_web3")
    return web3.Web3(web3.EthereumTesterProvider())


def fund_from_node(web3: Any, to: str, wei: int = 10**20) -> None:
    """Send ``wei`` to ``to`` from the node's first unlocked account (eth-tester, anvil
    and geth --dev hold funded ones): gas money for a derived EVM key."""
    src = web3.eth.accounts[0]
    web3.eth.wait_for_transaction_receipt(web3.eth.send_transaction({"from": src, "to": to, "value": int(wei)}))


def __getattr__(name: str) -> Any:
    if name in ("Bridge", "DepositReceipt", "WithdrawReceipt", "ExportReceipt"):
        from . import bridge
        return getattr(bridge, name)
    if name == "Escrow":
        from .escrow import Escrow
        return Escrow
    if name in ("bridge", "escrow", "keys"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tagger.evm' has no attribute {name!r}")
