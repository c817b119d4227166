"""tagger: a decentralized AI-data marketplace as a library.

Matching, consensus, sealing, a signed hash-chained ledger and dataset NFTs,
with the hot paths in C++ (``tagger._core``) and a pandas-friendly Python API.
Submodules are imported on first use, so ``import tagger`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._core import __version__

if TYPE_CHECKING:  # what __getattr__ imports on first use, visible to type checkers (tg.consensus was Any)
    from . import codec, consensus, crypto, dataset, evm, ledger, market, match, plot, rewards, sim, store, task, verify
    from .ledger import Account
    from .market import verify_proof
    from .network import Network

TAG: int = 10**6
"""Base units per TAG token. Every amount in tagger is an int in base units."""

_SUBMODULES = {"codec", "crypto", "errors", "consensus", "match", "verify", "ledger", "rewards", "sim", "store",
               "market", "dataset", "task", "plot", "evm"}

# Public classes imported on first use: name -> submodule defining it.
_LAZY = {"Network": "network", "Account": "ledger", "verify_proof": "market"}

__all__ = ["TAG", "__version__", "errors", *sorted(_SUBMODULES - {"errors"}), *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_LAZY))
