"""
tagger's C++ core; use the tagger package, not this module
"""
from __future__ import annotations
from . import codec
from . import consensus
from . import consensus_crowdkit
from . import consensus_families
from . import consensus_metrics
from . import consensus_shard
from . import crypto
from . import fraud
from . import ledger
from . import match
from . import seal
from . import sim
from . import store
from . import verify
__all__: list[str] = ['codec', 'consensus', 'consensus_crowdkit', 'consensus_families', 'consensus_metrics', 'consensus_shard', 'crypto', 'error_kinds', 'fraud', 'ledger', 'match', 'seal', 'sim', 'store', 'verify']
def error_kinds() -> list[str]:
    ...
__version__: str
