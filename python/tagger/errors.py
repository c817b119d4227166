"""Exceptions raised by tagger. Every failure has its own class, all deriving
from :class:`TaggerError`; the C++ core raises the class of the same name.

Caller mistakes (bad sizes, bad values) also derive from :class:`ValueError`,
so generic ``except ValueError`` code keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "TaggerError", "InvalidArgument", "InvalidKey", "DecodeError", "InvalidSignature",
    "DecryptionFailed", "CryptoError", "LedgerError", "CorruptLedger", "LedgerLocked",
    "TransactionRejected", "BadNonce", "WrongChain", "InsufficientFunds", "AmountOverflow",
    "NotOwner", "NotAuthorized", "UnknownAccount", "RuleViolation", "InvalidTransaction", "VerificationFailed",
    "InfeasibleAssignment", "ConsensusError", "TaskStateError", "IncompleteTask", "ContractReverted",
    "ReplayedReceipt", "MissingColumn", "NotFitted", "MissingExtra",
]


class TaggerError(Exception):
    """Base class of every error tagger raises on purpose."""


class InvalidArgument(TaggerError, ValueError):
    """An argument has the wrong size, type or value."""


class InvalidKey(InvalidArgument):
    """A key has the wrong length or is unusable (e.g. a low-order X25519 point)."""


class DecodeError(TaggerError, ValueError):
    """Bytes are not a canonical tagger record (the message says where and why)."""


class InvalidSignature(TaggerError):
    """A signature does not verify under the given key and message."""


class DecryptionFailed(TaggerError):
    """Authentication failed: wrong key, wrong recipient, or tampered data. No plaintext is returned."""


class CryptoError(TaggerError):
    """The crypto library itself failed (not a verdict about the data)."""


class LedgerError(TaggerError):
    """Base class of ledger failures."""


class CorruptLedger(LedgerError):
    """The on-disk ledger is damaged or was tampered with."""


class LedgerLocked(LedgerError):
    """Another process holds the ledger directory open for writing."""


class TransactionRejected(LedgerError):
    """A transaction broke a rule; the ledger state is unchanged."""


class BadNonce(TransactionRejected):
    """The transaction's nonce is not the account's next nonce (a replay or a gap)."""


class WrongChain(TransactionRejected):
    """The transaction was signed for another chain id."""


class InsufficientFunds(TransactionRejected):
    """The paying account's balance is below the amount."""


class AmountOverflow(TransactionRejected):
    """An amount would overflow or underflow 64-bit base units."""


class NotOwner(TransactionRejected):
    """The signer does not own the task, escrow, stake, NFT or listing."""


class NotAuthorized(TransactionRejected):
    """The account has no right to this action or data (e.g. decrypting a dataset it did not buy)."""


class UnknownAccount(TransactionRejected):
    """No account with that address or name exists."""


class RuleViolation(TransactionRejected):
    """A contract rule forbids the action (e.g. minting an NFT twice, unstaking before the lock ends)."""


class InvalidTransaction(TransactionRejected):
    """A transaction's claimed outcome differs from what the ledger re-executes (e.g. a
    finalize whose payouts, reputation or slashes are not those of the published rules)."""


class VerificationFailed(TaggerError):
    """An upload or a proof failed verification."""


class InfeasibleAssignment(TaggerError):
    """Demand for workers exceeds their capacity; the message says by how much and where.

    Raised by :func:`tagger.match.assign`, it also carries ``shortfall`` (slots short),
    ``items`` (the items short) and ``item_shortfall`` (per item)."""

    shortfall: int
    items: np.ndarray
    item_shortfall: np.ndarray


class ConsensusError(TaggerError, ValueError):
    """Answers cannot be aggregated as given (empty, malformed, inconsistent)."""


class NotFitted(TaggerError, ValueError, AttributeError):
    """A model was queried before it was fitted (also a ``ValueError`` and an
    ``AttributeError``, as scikit-learn's ``NotFittedError``)."""


class TaskStateError(TaggerError):
    """The task is not in a state that allows this call (e.g. submitting to a finalized task)."""


class IncompleteTask(TaskStateError):
    """Items or assigned answer slots are still missing (finalize with ``partial=True``
    to settle the answered items only)."""


class MissingColumn(InvalidArgument, KeyError):
    """A DataFrame lacks a column the method needs (also a ``KeyError``, as pandas
    raises in crowd-kit for the same input)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ContractReverted(TransactionRejected):
    """An EVM contract refused a transaction (``tg.evm``); the message carries its revert reason."""


class ReplayedReceipt(RuleViolation):
    """A bridge receipt (a ledger deposit, an EVM withdrawal, an NFT export) was already used."""


class MissingExtra(TaggerError, ImportError):
    """An optional package a feature needs is not installed; the message says
    which ``pip install 'tagger[extra]'`` brings it."""
