"""EVM keys derived from a tagger account: one backup restores both.

The secp256k1 private key of a tagger account is derived from its Ed25519 signing
seed (the 32 bytes ``Account.export`` keeps) with HKDF-SHA-256 (RFC 5869, tagger's
``crypto.hkdf_sha256``, OpenSSL underneath)::

    okm = HKDF-SHA-256(ikm = signing seed, salt = "tagger/evm/v1",
                       info = "tagger/evm/secp256k1/v1", length = 48)
    k   = int(okm, big endian) mod (n - 1) + 1        n: the secp256k1 group order

48 bytes reduced modulo n - 1 leave a bias below 2^-128 (FIPS 186-5 A.2.1's
"extra random bits" method), and ``+ 1`` keeps k in [1, n - 1]: never 0, never
out of range. The distinct info label keeps this key independent of every other
key derived from the seed. Deriving the key needs no extra; its address (keccak
of the public key) needs eth-account (``pip install 'tagger[evm]'``).
"""

from __future__ import annotations

from typing import Any

from .. import crypto
from .._optional import require
from ..ledger import Account

__all__ = ["SECP256K1_N", "EVM_KEY_SALT", "EVM_KEY_INFO", "evm_private_key", "evm_account", "evm_address"]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of the secp256k1 group: a private key is in [1, n - 1]."""
EVM_KEY_SALT = b"tagger/evm/v1"
EVM_KEY_INFO = b"tagger/evm/secp256k1/v1"


def key_from_okm(okm: bytes) -> bytes:
    """The 32-byte private key of 48 bytes of HKDF output: int mod (n - 1) + 1."""
    if len(okm) != 48:
        from ..errors import InvalidArgument
        raise InvalidArgument(f"need 48 bytes of key material, got {len(okm)}")
    k = int.from_bytes(okm, "big") % (SECP256K1_N - 1) + 1
    return k.to_bytes(32, "big")


def evm_private_key(account: Account) -> bytes:
    """The 32-byte secp256k1 private key of a tagger account (see the module doc)."""
    if not isinstance(account, Account):
        from ..errors import InvalidArgument
        raise InvalidArgument(f"need a tagger Account (with its private keys), got {type(account).__name__}")
    okm = crypto.hkdf_sha256(account.signing_key.seed(), EVM_KEY_SALT, EVM_KEY_INFO, 48)
    return key_from_okm(okm)


def evm_account(account: Account) -> Any:
    """The account's EVM key as an ``eth_account`` LocalAccount (signs EVM transactions)."""
    ea = require("eth_account", "tg.evm")
    return ea.Account.from_key(evm_private_key(account))


def evm_address(account: Account) -> str:
    """The account's EVM address (EIP-55 checksummed)."""
    return str(evm_account(account).address)
