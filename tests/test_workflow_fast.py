"""The workflow's batch paths against their slow, per-row references, byte for byte:
answers transactions built in C++ from int32 arrays (``Task.submit_many``,
``Contracts.submit_answers``), the dataset manifest's commitments, leaves, Merkle
root and sealed payload (``mint_dataset_nft``), and inclusion proofs
(``DatasetNFT.prove``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import codec, crypto
from tagger._core import ledger as _cl
from tagger.errors import DecodeError, InvalidArgument, RuleViolation
from tagger.ledger import KIND_CODES, Account, decode_tx, merkle_leaf_hash, merkle_proof, merkle_root
from tagger.market import DatasetNFT, _as_bytes, _cell, _leaf, verify_proof

LABELS = ["pos", "neg", "neu"]
TEXTS = [f"Review {i}: {'great' if i % 3 == 0 else 'broken' if i % 3 == 1 else 'fine'} — ünïcødé 🐈" for i in range(60)]
EDGES = np.array([0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**31 - 1], dtype=np.int64)
TASK_ID = bytes(range(32))


def random_pairs(rng, n: int) -> np.ndarray:
    """(n, 2) values in [0, 2**31) with every msgpack integer width represented."""
    v = rng.integers(0, 2**31, size=(n, 2)) >> rng.integers(0, 31, size=(n, 2))
    mask = rng.random((n, 2)) < 0.3
    v[mask] = rng.choice(EDGES, mask.sum())
    return v


def reference_payload(task_id: bytes, pairs) -> bytes:
    rows = [[int(i), int(l)] for i, l in pairs]
    return codec.encode([task_id, rows, b"", len(rows)])


# ---------------------------------------------------------------- answers transactions

@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 1_000, 70_000])
def test_answers_payload_is_the_canonical_encoding(n):
    pairs = random_pairs(np.random.default_rng(n), n)
    ref = reference_payload(TASK_ID, pairs)
    assert _cl.answers_payload(TASK_ID, pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)) == ref
    # Strided int64 columns are converted, not misread.
    assert _cl.answers_payload(TASK_ID, pairs[:, 0], pairs[:, 1]) == ref


def test_answers_payload_refuses_bad_input():
    one = np.array([1], np.int32)
    with pytest.raises(InvalidArgument, match="labels"):
        _cl.answers_payload(TASK_ID, np.array([1, 2], np.int32), one)
    with pytest.raises(InvalidArgument, match="row 1 has a negative label"):
        _cl.answers_payload(TASK_ID, np.array([1, 2], np.int32), np.array([0, -1], np.int32))
    with pytest.raises(InvalidArgument, match="at least one"):
        _cl.answers_payload(TASK_ID, one[:0], one[:0])
    big = np.zeros(_cl.MAX_ANSWERS_PER_TX + 1, np.int32)
    with pytest.raises(InvalidArgument, match="at most"):
        _cl.answers_payload(TASK_ID, big, big)
    with pytest.raises(InvalidArgument, match="32 bytes"):
        _cl.answers_payload(b"short", one, one)


@pytest.mark.parametrize("threads", [1, 2])
def test_make_answers_txs_equals_make_tx_per_group(threads):
    rng = np.random.default_rng(threads)
    keys = [Account.generate(f"w{g}").signing_key._k for g in range(25)]
    sizes = rng.integers(1, 40, len(keys))
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    pairs = random_pairs(rng, int(offsets[-1]))
    nonces = rng.integers(0, 10**6, len(keys)).tolist()
    chain = 2**40 + 3
    txs = _cl.make_answers_txs(keys, nonces, offsets, pairs[:, 0], pairs[:, 1], TASK_ID, chain, threads)
    assert len(txs) == len(keys)
    for g, k in enumerate(keys):
        ref = _cl.make_tx(k, chain, KIND_CODES["answers"], nonces[g],
                          reference_payload(TASK_ID, pairs[offsets[g]:offsets[g + 1]]))
        assert txs[g] == ref, g  # Ed25519 signatures are deterministic


def test_make_answers_txs_refuses_inconsistent_groups():
    k = [Account.generate("w").signing_key._k]
    v = np.array([1, 2, 3], np.int32)
    for offsets in ([0, 2], [1, 3], [0, 3, 3]):
        with pytest.raises(InvalidArgument):
            _cl.make_answers_txs(k, [0], np.array(offsets, np.int64), v, v, TASK_ID, 1)


def two_networks_with_the_same_actors():
    """Two in-memory networks on one chain id whose owner and worker hold the same
    keys, so the same call signs the same bytes on both."""
    owner, worker = Account.generate("owner"), Account.generate("worker")
    nets = []
    for _ in range(2):
        net = tg.Network.memory(chain_id=4242)
        net.import_account(owner)
        net.import_account(worker)
        net.mint(owner, 100 * tg.TAG)
        nets.append(net)
    return nets, owner, worker


def test_submit_answers_array_path_signs_the_same_record_as_the_pair_path():
    (slow, fast), owner, worker = two_networks_with_the_same_actors()
    pairs = random_pairs(np.random.default_rng(3), 500)
    ids = [net.ledger.lock_escrow(owner, 10 * tg.TAG) for net in (slow, fast)]
    assert ids[0] == ids[1]
    slow.ledger.submit_answers(ids[0], worker, [tuple(p) for p in pairs.tolist()])
    fast.ledger.submit_answers(ids[1], worker, pairs)
    rec_slow, rec_fast = (net.block(net.height).records for net in (slow, fast))
    assert rec_slow == rec_fast and len(rec_fast) == 1
    assert decode_tx(rec_fast[0]).fields["answers"] == pairs.tolist()
    assert slow.ledger.task(ids[0])["n_answers"] == fast.ledger.task(ids[1])["n_answers"] == len(pairs)
    # Inside a batch nothing is committed until the batch ends, as on the pair path.
    with fast.batch():
        fast.ledger.submit_answers(ids[1], worker, pairs[:3])
        assert fast._led.pending == 1
    assert fast._led.pending == 0
    # Input the array path does not take keeps the pair path's behaviour and errors.
    with pytest.raises(DecodeError):
        fast.ledger.submit_answers(ids[1], worker, np.array([[1, -1]]))
    assert fast.verify()["transactions"] > 0


# ---------------------------------------------------------------- Task.submit_many

def labeling_task(net, owner, workers, *, n=len(TEXTS), overlap=3, gold=15, seed=7, method=None):
    rng = np.random.default_rng(seed)
    truth = pd.Series(rng.choice(LABELS, n))
    task = net.publish_task(owner=owner, title="Review sentiment",
                            description="Label product reviews as positive, negative or neutral.",
                            kind="classification", labels=LABELS, items=TEXTS[:n], overlap=overlap,
                            budget=300 * tg.TAG, reward_policy=tg.rewards.ConsensusAccuracy(), stake=5 * tg.TAG,
                            gold=truth[:gold].to_dict() if gold else None, method=method)
    task.assign(workers, capacity=-(-n * overlap // len(workers)))
    asg = task.assignment
    right = rng.random(len(asg)) < 0.8
    labels = np.where(right, truth.reindex(asg["item_id"]).to_numpy(), rng.choice(LABELS, len(asg)))
    return task, pd.DataFrame({"item_id": asg["item_id"].to_numpy(), "worker": asg["worker"].to_numpy(),
                               "label": labels})


@pytest.fixture
def market():
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=5_000 * tg.TAG)
    workers = [net.create_account(f"w{i}", fund=50 * tg.TAG) for i in range(8)]
    return net, owner, workers


def test_submit_many_signs_each_workers_answers_in_input_order(market):
    net, owner, workers = market
    task, answers = labeling_task(net, owner, workers)
    answers = answers.sample(frac=1.0, random_state=1).reset_index(drop=True)
    txids = task.submit_many(answers)
    block = net.block(net.height)
    assert len(txids) == len(block) == answers["worker"].nunique()
    item_pos = {v: i for i, v in enumerate(task.items["item_id"])}
    for tx in block.transactions:
        name = net._label(bytes.fromhex(tx.sender[2:]))
        mine = answers[answers["worker"] == name]
        want = [[item_pos[i], LABELS.index(l)] for i, l in zip(mine["item_id"], mine["label"])]
        assert tx.kind == "answers" and tx.fields["answers"] == want and tx.fields["count"] == len(want)
        assert net.ledger.contributions(task.id, name) == len(want)
    got = task.answers()
    # Text columns stay Python objects (no Arrow round trip); int item ids stay ints.
    assert (got["worker"].dtype, got["label"].dtype, got["item_id"].dtype) == (object, object, np.int64)
    key = ["item_id", "worker"]
    pd.testing.assert_frame_equal(got.astype(object).sort_values(key).reset_index(drop=True),
                                  answers.astype(object).sort_values(key).reset_index(drop=True))
    assert net.verify()["signatures"] >= len(txids)


def test_submit_many_refuses_repeats_and_leaves_the_ledger_as_it_was(market):
    net, owner, workers = market
    task, answers = labeling_task(net, owner, workers)
    task.submit_many(answers.iloc[:100])
    root, height = net.state_root(), net.height
    with pytest.raises(RuleViolation, match="already answered"):
        task.submit_many(answers.iloc[90:120])
    with pytest.raises(InvalidArgument, match="twice"):
        task.submit_many(pd.concat([answers.iloc[100:110], answers.iloc[105:106]]))
    assert (net.state_root(), net.height) == (root, height)
    assert len(task.answers()) == 100
    task.submit_many(answers.iloc[100:])
    assert len(task.answers()) == len(answers)


def test_submit_many_splits_past_the_list_bound_with_consecutive_nonces(market, monkeypatch):
    net, owner, workers = market
    task, answers = labeling_task(net, owner, workers[:2], n=40, overlap=1, gold=0)
    counts = answers["worker"].value_counts()
    monkeypatch.setattr(_cl, "MAX_ANSWERS_PER_TX", 7)
    nonces = {w: net.nonce(w) for w in counts.index}
    task.submit_many(answers)
    txs = net.block(net.height).transactions
    assert len(txs) == sum(-(-c // 7) for c in counts)
    for w, c in counts.items():
        mine = [t for t in txs if net._label(bytes.fromhex(t.sender[2:])) == w]
        assert [t.nonce for t in mine] == list(range(nonces[w], nonces[w] + len(mine)))
        assert [t.fields["count"] for t in mine] == [7] * (c // 7) + ([c % 7] if c % 7 else [])
        assert net.ledger.contributions(task.id, w) == c


# ---------------------------------------------------------------- manifest and proofs

def finalized(net, owner, workers):
    task, answers = labeling_task(net, owner, workers, method="majority_vote")
    # Leave a few items unanswered: a partial finalize leaves them out of the dataset.
    task.submit_many(answers[~answers["item_id"].isin([50, 51, 52])])
    task.finalize(partial=True)
    assert not {"50", "51", "52"} & set(task.dataset_frame()["item_id"])
    return task


def tricky_frame(task) -> pd.DataFrame:
    """A dataset frame with every kind of cell _cell handles."""
    n = task.n_items
    rng = np.random.default_rng(5)
    labels = np.array(rng.choice(["pos", "neg", "", "ünï"], n), dtype=object)
    labels[[1, 7]] = None
    labels[[2, 8]] = np.nan
    labels[3] = 17
    mixed = np.array([["a", 3, None, b"\x00b", 2.5, True, np.int64(4), np.float32(0.1)][i % 8] for i in range(n)],
                     dtype=object)
    return pd.DataFrame({
        "item_id": [f"ïd-{i}" if i % 2 else str(i) for i in range(n)],
        "data": [TEXTS[i].encode() if i % 3 == 0 else TEXTS[i] for i in range(n)],
        "label": pd.Series(labels, dtype=object),
        "confidence": rng.random(n).astype(np.float32),
        "flag": rng.random(n) < 0.5,
        "count": rng.integers(-5, 2**40, n),
        "ratio": np.r_[np.nan, np.inf, 1e16, 1e-7, rng.random(n - 4)],
        "mixed": pd.Series(mixed, dtype=object),
    })


def reference_mint(task, salt: bytes, frame: pd.DataFrame):
    """The per-row definitions of the manifest's commitments, leaves, root and payload."""
    if task.kind == "collection":
        commitments = [bytes.fromhex(h) for h in task.uploads()["ciphertext_hash"]]
    else:
        commitments = [crypto.sha256(salt + _as_bytes(d)) for d in frame["data"]]
    leaves = [_leaf(i, c, l) for i, c, l in zip(frame["item_id"], commitments, frame["label"])]
    root = merkle_root([merkle_leaf_hash(x) for x in leaves])
    payload = codec.encode(["tagger/dataset/v1", salt, list(frame.columns),
                            [[_cell(v) for v in row] for row in frame.itertuples(index=False)],
                            [c.hex() for c in commitments]])
    return leaves, root, payload


@pytest.mark.parametrize("variant", ["as_finalized", "tricky_cells", "mixed_item_data"])
def test_mint_writes_the_reference_leaves_root_and_payload(market, variant):
    net, owner, workers = market
    task = finalized(net, owner, workers)
    frame = task.dataset_frame()
    if variant != "as_finalized":
        frame = tricky_frame(task)
        task.dataset_frame = lambda: frame
    if variant == "mixed_item_data":
        frame["data"] = pd.Series([b"raw\xff" if i % 4 == 0 else i if i % 4 == 1 else 0.5 if i % 4 == 2 else t
                                   for i, t in enumerate(frame["data"])], dtype=object)
    nft = task.mint_nft()
    manifest, leaves = net._load_manifest(nft.id)
    plain = crypto.open_sealed(net.store.get(bytes.fromhex(manifest["dataset_blob"])), owner.sealing_key)
    salt = codec.decode(plain)[1]
    ref_leaves, ref_root, ref_payload = reference_mint(task, salt, frame)
    assert leaves == ref_leaves
    assert manifest["merkle_root"] == ref_root.hex()
    assert plain == ref_payload


def reference_proof(leaves, item_id):
    ids = [codec.decode(x)[0] for x in leaves]
    i = ids.index(str(item_id))
    hashes = [merkle_leaf_hash(x) for x in leaves]
    return i, hashes[i], merkle_proof(hashes, i)


def test_prove_equals_the_reference_and_checks_offline(market):
    net, owner, workers = market
    task = finalized(net, owner, workers)
    nft = task.mint_nft()
    _, leaves = net._load_manifest(nft.id)
    for obj in (nft, DatasetNFT(net, nft.id)):
        for item_id in [0, 17, 49, 59, "59", 0]:  # repeats go through the cache
            p = obj.prove(item_id)
            i, leaf_hash, path = reference_proof(leaves, item_id)
            assert (p.proof.index, p.proof.leaf_hash, list(p.proof.path)) == (i, leaf_hash, path)
            assert (p.item_id, p.commitment, p.label) == tuple(codec.decode(leaves[i]))
            assert p.proof.tree_size == len(leaves)
            assert verify_proof(p.to_dict(), nft.manifest)
    with pytest.raises(InvalidArgument, match="not in this dataset"):
        nft.prove("no-such-item")


# ---------------------------------------------------------------- packed hashing helpers

def test_packed_hashes_match_per_item_functions():
    rng = np.random.default_rng(9)
    salt = rng.bytes(16)
    for n in (0, 1, 5, 4_097, 9_000):
        data = [rng.bytes(int(rng.integers(0, 70))) if i % 2 else "ü" * int(rng.integers(0, 9)) + str(i)
                for i in range(n)]
        raw = [d if isinstance(d, bytes) else d.encode() for d in data]
        for threads in (1, 2):
            assert _cl.salted_sha256(salt, data, threads) == b"".join(crypto.sha256(salt + d) for d in raw)
            packed = _cl.merkle_leaf_hashes(data, threads)
            assert packed == b"".join(merkle_leaf_hash(d) for d in raw)
        hashes = [packed[32 * i:32 * i + 32] for i in range(n)]
        assert _cl.merkle_root_packed(packed) == merkle_root(hashes)
        for i in {0, n // 2, n - 1} if n else ():
            assert _cl.merkle_proof_packed(packed, i) == merkle_proof(hashes, i)
    with pytest.raises(InvalidArgument, match="str or bytes"):
        _cl.salted_sha256(salt, ["a", 3])
    with pytest.raises(InvalidArgument, match="multiple of 32"):
        _cl.merkle_root_packed(b"x" * 33)
    with pytest.raises(InvalidArgument, match="str"):
        _cl.manifest_leaves(["a", b"b"], bytes(64), np.zeros(2, np.int32), ["x"])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 64, 65, 1_000])
def test_merkle_tree_root_and_every_proof_equal_the_per_call_functions(n):
    hashes = [merkle_leaf_hash(i.to_bytes(4, "little")) for i in range(n)]
    tree = _cl.MerkleTree(b"".join(hashes))
    assert len(tree) == n and tree.root() == merkle_root(hashes)
    for i in range(n) if n <= 65 else range(0, n, 37):
        assert tree.leaf(i) == hashes[i] and tree.proof(i) == merkle_proof(hashes, i)
    with pytest.raises(InvalidArgument, match="out of range"):
        tree.proof(n)
