"""Optional dependencies: imported on first use, with the extra to install named
when one is missing. ``import tagger`` imports none of them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from .errors import MissingExtra

__all__ = ["EXTRAS", "MissingExtra", "require"]

# module -> (what the user installs, the tagger extra that brings it)
EXTRAS = {
    "matplotlib": ("matplotlib", "plot"),
    "pyarrow": ("pyarrow", "io"),
    "datasets": ("datasets", "hf"),
    "torch": ("torch", "torch"),
    "PIL": ("Pillow", "image"),
    "scipy": ("scipy", "sparse"),
    "web3": ("web3", "evm"),
    "eth_account": ("eth-account", "evm"),
    "eth_tester": ("eth-tester[py-evm]", "evm"),
    "ray": ("ray", "ray"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib.pyplot"``) for ``feature``, or raise
    :class:`MissingExtra` naming the extra to install."""
    top = module.split(".")[0]
    package, extra = EXTRAS[top]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        # Only a missing package is a missing extra; a broken install of a present
        # one (a submodule or a library of its own missing) must show its own error.
        if _absent(top):
            raise MissingExtra(f"{feature} needs {package}: pip install 'tagger[{extra}]'",
                               name=top) from e
        raise


def _absent(top: str) -> bool:
    if top in sys.modules:
        return sys.modules[top] is None  # None: imports of it are blocked
    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True
