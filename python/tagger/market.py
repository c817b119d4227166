"""Dataset NFTs and the market: minting, provenance proofs, listings, sales and
licenses with royalties, and decryption rights.

The NFT's manifest commits to the finished dataset: a Merkle root (RFC 6962)
over one leaf per item, ``canonical_msgpack([item_id, item_commitment, label])``,
where the item commitment is the SHA-256 of the item's sealed upload
(collection tasks) or SHA-256(salt ‖ item data) with a random salt kept inside
the sealed dataset (labeling tasks: it binds the content without letting anyone
confirm a guessed text). The dataset rows are sealed once with a fresh data key;
each holder or licensee receives that key wrapped to their X25519 key (a
"key grant") in the same ledger transaction that gives them the right.
Rules and byte formats: ``docs/workflow.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import codec, crypto
from ._repr import format_tag, html_table
from .dataset import Dataset
from .errors import (CorruptLedger, InvalidArgument, NotAuthorized, RuleViolation, TaskStateError,
                     VerificationFailed)
from ._core import ledger as _cl
from .ledger import AccountLike, MerkleProof, merkle_leaf_hash, to_address

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network
    from .task import Task

__all__ = ["DatasetNFT", "Listing", "Market", "ItemProof", "verify_proof", "manifest_hash"]

_BPS = 10_000
_SALT_BYTES = 16


def _leaf(item_id: str, commitment: bytes, label: Any) -> bytes:
    return codec.encode([str(item_id), bytes(commitment), "" if label is None else str(label)])


def _item_commitments(task: "Task", salt: bytes, frame: pd.DataFrame) -> bytes:
    """The dataset rows' commitments, 32 bytes each, packed in row order: the sealed
    upload's hash (collection) or SHA-256(salt ‖ item data) (labeling), hashed in
    C++ over the whole column (str items as UTF-8, bytes as they are)."""
    if task.kind == "collection":
        # The dataset's own rows (accepted uploads): task.uploads() also lists the needs_review
        # ones, which are not in the dataset.
        return bytes.fromhex("".join(frame["ciphertext_hash"]))
    data = frame["data"].to_numpy()
    if pd.api.types.infer_dtype(data, skipna=False) in ("string", "bytes"):
        return _cl.salted_sha256(salt, data.tolist())
    return _cl.salted_sha256(salt, [_as_bytes(d) for d in data])


def _as_bytes(d: Any) -> bytes:
    if isinstance(d, (bytes, bytearray, memoryview)):
        return bytes(d)
    return str(d).encode("utf-8")


def manifest_hash(manifest: dict) -> bytes:
    """SHA-256 of the canonical msgpack of the manifest's fields in a fixed order."""
    m = manifest
    fields = [
        "tagger/manifest/v1", m["name"], m["task_id"], m["merkle_root"], int(m["n_items"]), m["license"],
        [[c["address"], int(c["weight_bps"])] for c in m["contributors"]], m["dataset_blob"],
        [[k, str(v)] for k, v in sorted(m["consensus"].items())],
    ]
    # A labeling task's label set and the result hash of the settlement the ledger
    # executed: a proof's label must be one of the labels, and the manifest names the
    # settlement it was built from.
    if "labels" in m or "result_hash" in m:
        fields += [[str(x) for x in m.get("labels") or []], m.get("result_hash", "")]
    return crypto.sha256(codec.encode(fields))


@dataclass(frozen=True)
class ItemProof:
    """Proof that (item_id, commitment, label) is in a dataset NFT's manifest.
    Checkable offline with :func:`verify_proof` against the manifest's Merkle root
    (or the manifest itself, whose hash is on the ledger)."""

    item_id: str
    commitment: bytes
    label: str
    proof: MerkleProof

    def leaf(self) -> bytes:
        return _leaf(self.item_id, self.commitment, self.label)

    def to_dict(self) -> dict:
        return {"item_id": self.item_id, "commitment": self.commitment.hex(), "label": self.label,
                "index": self.proof.index, "tree_size": self.proof.tree_size,
                "path": [p.hex() for p in self.proof.path], "root": self.proof.root.hex()}

    @classmethod
    def from_dict(cls, d: dict) -> "ItemProof":
        p = MerkleProof(merkle_leaf_hash(_leaf(d["item_id"], bytes.fromhex(d["commitment"]), d["label"])),
                        int(d["index"]), int(d["tree_size"]), tuple(bytes.fromhex(x) for x in d["path"]),
                        bytes.fromhex(d["root"]))
        return cls(d["item_id"], bytes.fromhex(d["commitment"]), d["label"], p)

    def __repr__(self) -> str:
        return f"ItemProof({self.item_id!r}, label={self.label!r}, index={self.proof.index}, root={self.proof.root.hex()[:12]}…)"


def verify_proof(proof: ItemProof | dict, root_or_manifest: bytes | str | dict) -> bool:
    """Check an item's inclusion proof without the network: against a Merkle root
    (bytes or hex) or a manifest dict (whose ``merkle_root`` is used, after checking
    that the manifest's hash matches its recorded ``manifest_hash`` if present)."""
    if isinstance(proof, dict):
        proof = ItemProof.from_dict(proof)
    if isinstance(root_or_manifest, dict):
        m = root_or_manifest
        if "manifest_hash" in m and manifest_hash(m).hex() != m["manifest_hash"]:
            return False
        if m.get("labels") and proof.label not in m["labels"]:
            return False  # a label outside the task's label set is never a valid dataset row
        root = bytes.fromhex(m["merkle_root"])
    elif isinstance(root_or_manifest, str):
        root = bytes.fromhex(root_or_manifest)
    else:
        root = bytes(root_or_manifest)
    if proof.proof.root != root:
        return False
    return proof.proof.verify(proof.leaf())


def _split_sealed(sealed: bytes) -> tuple[bytes, bytes]:
    """(header, chunks) of a sealed item (docs/crypto.md §3.2): the header carries
    the recipients' wrapped keys, so a key grant is a header over the same chunks."""
    if len(sealed) < 28 or sealed[:6] != b"TGSEAL":
        raise InvalidArgument("not a sealed item")
    r = int.from_bytes(sealed[26:28], "little")
    cut = 60 + 80 * r
    return sealed[:cut], sealed[cut:]


def mint_dataset_nft(task: "Task", *, license: str, royalty_bps: int, name: str | None,
                     description: str | None) -> "DatasetNFT":
    net = task._net
    result = task.result
    if result is None:  # Task.mint_nft checks this first
        raise TaskStateError("mint_nft: finalize the task first")
    if not 0 <= int(royalty_bps) <= _BPS - net.fee_bps:
        raise InvalidArgument(f"royalty_bps must be in [0, {_BPS - net.fee_bps}] (100 % less the platform fee)")
    if not isinstance(license, str) or not license:
        raise InvalidArgument("license must be a non-empty string, e.g. 'CC-BY-4.0'")
    salt = crypto.random_bytes(_SALT_BYTES)
    frame = task.dataset_frame()
    commitments = _item_commitments(task, salt, frame)  # packed, 32 bytes per row
    # Leaves _leaf(item_id, commitment, label) and their Merkle root, built in C++ from
    # the columns: the labels go in as codes into their distinct texts.
    labels = frame["label"].to_numpy()
    codes, uniq = pd.factorize(labels)
    names = ["" if u is None else str(u) for u in uniq]
    missing = np.flatnonzero(codes < 0)  # None or NaN: _leaf writes "" or "nan"
    if len(missing):
        extra, inv = np.unique(np.array(["" if v is None else str(v) for v in labels[missing]], dtype=object),
                               return_inverse=True)
        codes[missing] = len(names) + inv
        names += extra.tolist()
    leaves = _cl.manifest_leaves(frame["item_id"].astype(str).tolist(), commitments, codes.astype(np.int32), names)
    root = _cl.merkle_root_packed(_cl.merkle_leaf_hashes(leaves))
    # Contributors' weights: their share of the payouts, in basis points (largest remainders).
    pay = result.payouts[result.payouts > 0].sort_index()
    weights = _largest_remainder_bps(pay.to_numpy(dtype=np.int64), _BPS) if len(pay) else np.zeros(0, np.int64)
    contributors = [{"address": net.account(w).address, "name": str(w), "weight_bps": int(b)}
                    for w, b in zip(pay.index, weights) if b > 0]
    royalties = {}
    if royalty_bps and contributors:
        # An nft_mint names at most 64 royalty recipients (docs/ledger.md): with more
        # contributors the royalty pool goes to the 64 largest weights (ties: manifest
        # order), split among them by weight.
        max_recipients = 64
        w = np.array([c["weight_bps"] for c in contributors], dtype=np.int64)
        top = np.sort(np.argsort(-w, kind="stable")[:max_recipients])
        rb = _largest_remainder_bps(w[top], int(royalty_bps))
        royalties = {contributors[i]["address"]: int(b) for i, b in zip(top, rb) if b > 0}
    def cells(col: pd.Series) -> list:
        # [_cell(v) for v in col], without a Python call per value for the usual dtypes.
        # (The reference sees numpy columns as Python scalars, as iteration yields them.)
        a = col.to_numpy()
        if a.dtype.kind in "iub":
            return a.tolist()
        if a.dtype.kind == "f":
            return list(map(str, a.astype(np.float64).tolist()))
        if a.dtype == object and pd.api.types.infer_dtype(a, skipna=False) in ("string", "bytes"):
            return a.tolist()
        return [_cell(v) for v in a]

    rows = list(zip(*[cells(frame.iloc[:, k]) for k in range(frame.shape[1])]))  # tuples encode as arrays
    hexes = np.frombuffer(commitments.hex().encode("ascii"), dtype="S64").astype("U64").tolist()
    payload = codec.encode(["tagger/dataset/v1", salt, list(frame.columns), rows, hexes])
    sealed = crypto.seal(payload, [task.owner.public_key])
    blob = net.store.put(sealed)
    header, _ = _split_sealed(sealed)
    stats = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.stats.items()}
    stats["method"] = result.method
    onchain = net.ledger.task(task.id)
    if onchain is None:
        raise CorruptLedger(f"task {task.id_hex[:16]}… is not on the ledger")
    manifest = {
        "name": name or task.title,
        "description": description or task.description,
        "task_id": task.id_hex,
        "merkle_root": root.hex(),
        "n_items": len(leaves),
        "license": license,
        "contributors": contributors,
        "dataset_blob": blob.hex(),
        "consensus": stats,
        "categories": [c for c, _ in task.categories],
        "labels": [str(x) for x in task.labels or []] if task.kind == "classification" else [],
        "result_hash": bytes(onchain["result_hash"]).hex(),
    }
    mh = manifest_hash(manifest)
    manifest["manifest_hash"] = mh.hex()
    # One batch: the manifest file is written before the block holding the mint
    # (and removed if that block never commits), so a minted NFT always has it.
    with net.batch():
        nft_id = net.ledger.mint_nft(task.id, task.owner, mh, royalties=royalties, license=license,
                                     uri=f"tagger:blob:{blob.hex()}", key_blob=header)
        net._save_manifest(nft_id, manifest, leaves)
    return DatasetNFT(net, nft_id)


def _cell(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, (np.floating, float)):
        return str(float(v))  # canonical records hold no floats
    if isinstance(v, np.integer):
        return int(v)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v if isinstance(v, (str, int, bool)) else str(v)


def _largest_remainder_bps(amounts: np.ndarray, total_bps: int) -> np.ndarray:
    """Integer shares of ``total_bps`` proportional to ``amounts``; the units lost to
    flooring go one each to the largest fractional parts (ties: first in order)."""
    s = int(amounts.sum())
    if s == 0:
        return np.zeros(len(amounts), dtype=np.int64)
    num = amounts.astype(object) * total_bps
    base = np.array([int(x // s) for x in num], dtype=np.int64)
    rem = np.array([int(x % s) for x in num], dtype=object)
    left = total_bps - int(base.sum())
    order = sorted(range(len(amounts)), key=lambda i: (-rem[i], i))
    for i in order[:left]:
        base[i] += 1
    return base


class DatasetNFT:
    """A minted dataset NFT: its ledger record, manifest and ERC-721 metadata."""

    def __init__(self, net: "Network", nft_id: bytes) -> None:
        self._net = net
        self.id = bytes(nft_id)

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def record(self) -> dict:
        r = self._net.ledger.nft(self.id)
        if r is None:
            raise InvalidArgument(f"no NFT {self.id_hex[:16]}… on this network")
        return r

    @property
    def holder(self) -> str:
        return self._net._label(self.record["holder"])

    @property
    def manifest(self) -> dict:
        return self._net._load_manifest(self.id)[0]

    def metadata(self) -> dict:
        """ERC-721 metadata JSON (name, description, attributes) plus the manifest hash."""
        m = self.manifest
        attrs = [{"trait_type": "items", "value": m["n_items"]},
                 {"trait_type": "license", "value": m["license"]},
                 {"trait_type": "contributors", "value": len(m["contributors"])},
                 {"trait_type": "merkle_root", "value": m["merkle_root"]}]
        attrs += [{"trait_type": f"consensus.{k}", "value": v} for k, v in m["consensus"].items()]
        attrs += [{"trait_type": "category", "value": c} for c in m.get("categories", [])]
        return {"name": m["name"], "description": m["description"], "attributes": attrs,
                "manifest_hash": m["manifest_hash"], "external_url": f"tagger:nft:{self.id_hex}"}

    def metadata_json(self) -> str:
        return json.dumps(self.metadata(), indent=2, sort_keys=True)

    def prove(self, item_id: Any) -> ItemProof:
        """Merkle inclusion proof of one item (id, commitment, final label)."""
        manifest, leaves = self._net._load_manifest(self.id)
        # The Merkle tree (every level) and the id -> position map are built once per
        # object, in C++; a minted manifest never changes, and each proof is then
        # O(log n), so proving every item costs O(n log n).
        cache = getattr(self, "_proof_cache", None)
        if cache is None or cache[0] is not leaves:
            ids = _cl.manifest_leaf_ids(leaves)
            first = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1)))  # first occurrence, as list.index
            cache = self._proof_cache = (leaves, _cl.MerkleTree(_cl.merkle_leaf_hashes(leaves)), first)
        _, tree, first = cache
        i = first.get(str(item_id))
        if i is None:
            raise InvalidArgument(f"item {item_id!r} is not in this dataset")
        root = bytes.fromhex(manifest["merkle_root"])
        item, commitment, label = codec.decode(leaves[i])
        return ItemProof(item, commitment, label, MerkleProof(tree.leaf(i), i, len(leaves), tuple(tree.proof(i)), root))

    def verify_manifest(self) -> None:
        """Check that the stored manifest hashes to the one on the ledger (VerificationFailed otherwise)."""
        m = self.manifest
        if manifest_hash(m) != self.record["manifest_hash"]:
            raise VerificationFailed("the stored manifest does not match the hash recorded on the ledger")
        task = self._net.ledger.task(bytes.fromhex(m["task_id"]))
        if "result_hash" in m and (task is None or bytes(task["result_hash"]).hex() != m["result_hash"]):
            raise VerificationFailed("the manifest names another settlement than the one the ledger executed")

    def __repr__(self) -> str:
        m = self.manifest
        return f"DatasetNFT({m['name']!r}, items={m['n_items']}, holder={self.holder!r}, license={m['license']!r}, id={self.id_hex[:12]}…)"

    def _repr_html_(self) -> str:
        m = self.manifest
        rows = [["id", self.id_hex[:16] + "…"], ["holder", self.holder], ["items", m["n_items"]],
                ["license", m["license"]], ["contributors", len(m["contributors"])],
                ["royalties", ", ".join(f"{self._net._label(a)} {b / 100:.2f}%" for a, b in self.record["royalties"][:5])
                 + (" …" if len(self.record["royalties"]) > 5 else "")],
                ["merkle root", m["merkle_root"][:16] + "…"], ["manifest hash", m["manifest_hash"][:16] + "…"]]
        return html_table(f"Dataset NFT: {m['name']}", ["", ""], rows)


@dataclass
class Listing:
    """An offer on the market: a sale (the NFT changes hands) or a license (the buyer
    gets the right to decrypt; the NFT stays)."""

    market: "Market"
    id: bytes
    nft: DatasetNFT
    seller: str
    kind: str
    price: int

    @property
    def active(self) -> bool:
        return self.market._net.ledger.listing(self.id) is not None

    def __repr__(self) -> str:
        return f"Listing({self.kind}, price={format_tag(self.price)}, seller={self.seller!r}, nft={self.nft.id_hex[:12]}…, active={self.active})"

    def _repr_html_(self) -> str:
        return html_table("Listing", ["kind", "price", "seller", "nft", "active"],
                          [[self.kind, format_tag(self.price), self.seller, self.nft.id_hex[:16] + "…", self.active]])


class Market:
    """``net.market``: list, buy and cancel dataset sales and licenses."""

    def __init__(self, net: "Network") -> None:
        self._net = net

    def list(self, nft: DatasetNFT, price: int, kind: str = "sale", *, seller: AccountLike | None = None) -> Listing:
        """Offer ``nft`` at ``price`` base units; only its holder may list it (``NotOwner``)."""
        seller_name = self._net._label(nft.record["holder"]) if seller is None else self._net.account(seller).name
        lid = self._net.ledger.list_nft(nft.id, seller_name, price, kind)
        return Listing(self, lid, nft, seller_name, kind, int(price))

    def buy(self, listing: Listing, buyer: AccountLike) -> dict:
        """Pay the listing: seller, royalties to the contributors and the platform fee are
        paid, the NFT (sale) or a license is granted, and the dataset key is re-wrapped
        to the buyer — all in one atomic transaction. Returns the payment split."""
        net = self._net
        if net.ledger.listing(listing.id) is None:
            raise RuleViolation("this listing is no longer active")
        b = net.account(buyer)
        seller = net.account(listing.seller)
        # The seller opens its own grant and wraps the same data key to the buyer.
        grant = net.ledger.key_grant(listing.nft.id, seller)
        if grant is None:
            raise NotAuthorized(f"{seller.name} holds no key for this dataset")
        blob = net.store.get(bytes.fromhex(listing.nft.manifest["dataset_blob"]))
        _, body = _split_sealed(blob)
        rewrapped = crypto.rewrap(grant + body, seller.sealing_key, [b.public_key], keep_existing=False)
        header, _ = _split_sealed(rewrapped)
        out = net.ledger.buy(listing.id, b, key_blob=header)
        return out

    def cancel(self, listing: Listing) -> None:
        """Withdraw a listing (its seller only)."""
        self._net.ledger.cancel(listing.id, listing.seller)

    def listings(self) -> pd.DataFrame:
        """Active listings."""
        return self._net.ledger.listings()

    def __repr__(self) -> str:
        return f"Market(listings={len(self._net.ledger.listings())}, fee_bps={self._net.fee_bps})"

    def _repr_html_(self) -> str:
        df = self.listings()
        return html_table("Market", ["kind", "price", "seller", "nft"],
                          [[kind, format_tag(price), self._net._label(_addr_bytes(seller)), nft[:16] + "…"]
                           for kind, price, seller, nft in zip(df["kind"], df["price"], df["seller"], df["nft"])])


def _addr_bytes(s: str) -> bytes:
    return to_address(s)


def _dataset_payload(plain: bytes) -> tuple[bytes, list, list, list]:
    """(salt, columns, rows, commitment hexes) of a decrypted dataset payload. The seal
    says who wrote these bytes, not that they have this shape, so any other shape is
    DecodeError or VerificationFailed, never a ValueError from the unpacking."""
    value = codec.decode(plain)
    if not (isinstance(value, list) and len(value) == 5 and value[0] == "tagger/dataset/v1"):
        raise VerificationFailed("not a tagger dataset")
    _, salt, columns, rows, hexes = value
    if not (isinstance(salt, bytes) and isinstance(columns, list) and all(isinstance(c, str) for c in columns)
            and len(set(columns)) == len(columns)
            and isinstance(rows, list) and all(isinstance(r, list) and len(r) == len(columns) for r in rows)
            and isinstance(hexes, list) and len(hexes) == len(rows)
            and all(isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdef" for c in h) for h in hexes)):
        raise VerificationFailed("malformed dataset payload (fields, row widths or commitments)")
    return salt, columns, rows, hexes


def open_dataset(net: "Network", nft: DatasetNFT, account: AccountLike) -> Dataset:
    acct = net.account(account)
    holder = nft.record["holder"]
    if bytes(holder) != acct.address_bytes and not net.ledger.has_license(nft.id, acct):
        raise NotAuthorized(f"{acct.name} neither holds nor licenses this dataset")
    grant = net.ledger.key_grant(nft.id, acct)
    if grant is None:
        raise NotAuthorized(f"no key was granted to {acct.name} for this dataset")
    blob = net.store.get(bytes.fromhex(nft.manifest["dataset_blob"]))
    _, body = _split_sealed(blob)
    plain = crypto.open_sealed(grant + body, acct.sealing_key)
    salt, columns, rows, commitment_hex = _dataset_payload(plain)
    frame = pd.DataFrame(rows, columns=columns)
    _check_against_manifest(nft, frame, salt, commitment_hex)
    if "confidence" in frame:
        frame["confidence"] = frame["confidence"].astype(float)
    return Dataset(frame, name=nft.manifest["name"], nft_id=nft.id_hex)


def _check_against_manifest(nft: DatasetNFT, frame: pd.DataFrame, salt: bytes, commitment_hex: list) -> None:
    """What the reader decrypted is what the NFT's owner minted: the manifest matches
    the hash on the ledger, every labeled item's data matches its salted commitment,
    and (item id, commitment, label) rebuild the manifest's Merkle root."""
    nft.verify_manifest()
    commitments = bytes.fromhex("".join(commitment_hex))
    if len(commitments) != 32 * len(frame):
        raise VerificationFailed("the dataset's commitments do not cover its rows")
    if "ciphertext_hash" not in frame.columns:  # labeled items: data is committed with the salt
        data = frame["data"].to_numpy()
        if pd.api.types.infer_dtype(data, skipna=False) not in ("string", "bytes"):
            data = np.array([_as_bytes(d) for d in data], dtype=object)
        if _cl.salted_sha256(salt, data.tolist()) != commitments:
            raise VerificationFailed("an item's data does not match its commitment in the manifest")
    labels = ["" if v is None else str(v) for v in frame["label"].tolist()]
    codes, uniq = pd.factorize(pd.Series(labels, dtype=object))
    leaves = _cl.manifest_leaves(frame["item_id"].astype(str).tolist(), commitments, codes.astype(np.int32),
                                 list(uniq))
    root = _cl.merkle_root_packed(_cl.merkle_leaf_hashes(leaves))
    if root.hex() != nft.manifest["merkle_root"]:
        raise VerificationFailed("the decrypted rows do not rebuild the manifest's Merkle root")


__all__ += ["open_dataset", "mint_dataset_nft"]
