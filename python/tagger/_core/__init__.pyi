"""
tagger's C++ core; use the tagger package, not this module
"""
from __future__ import annotations
from . import codec
from . import consensus
from . import consensus_shard
from . import crypto
from . import ledger
from . import match
from . import seal
from . import sim
from . import store
from . import verify
__all__: list[str] = ['codec', 'consensus', 'consensus_shard', 'crypto', 'error_kinds', 'ledger', 'match', 'seal', 'sim', 'store', 'verify']
def error_kinds() -> list[str]:
    ...
__version__: str
