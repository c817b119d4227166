"""Bad arguments are InvalidArgument naming the argument, never a raw pybind11 /
NumPy TypeError, OverflowError or UnicodeEncodeError, and they change nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import InvalidArgument

SURROGATE = "\ud800"
ANSWERS = pd.DataFrame({"task": [1, 1, 2, 2], "worker": [1, 2, 1, 2], "label": ["a", "b", "a", "a"]})


@pytest.fixture
def net():
    n = tg.Network.memory()
    n.create_account("alice", fund=100 * tg.TAG)
    return n


def refused(net, fn, match):
    before = (net.height, net.state_root(), net.supply(), sorted(net._wallet))
    with pytest.raises(InvalidArgument, match=match):
        fn()
    assert (net.height, net.state_root(), net.supply(), sorted(net._wallet)) == before


@pytest.mark.parametrize("cls", ["DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "ZeroBasedSkill"])
@pytest.mark.parametrize("value", [2**62, -1, 2**31, 1.5, "10"])
def test_consensus_n_iter_out_of_range(cls, value):
    with pytest.raises(InvalidArgument, match="n_iter"):
        getattr(tg.consensus, cls)(n_iter=value).fit(ANSWERS)


def test_consensus_other_int_options():
    with pytest.raises(InvalidArgument, match="threads"):
        tg.consensus.DawidSkene(threads=2**40).fit(ANSWERS)
    with pytest.raises(InvalidArgument, match="random_state"):
        tg.consensus.MACE(random_state=-1).fit(ANSWERS)
    with pytest.raises(InvalidArgument, match="threads"):
        tg.consensus.Median(threads=-3).fit(pd.DataFrame({"task": [1], "worker": [1], "output": [1.0]}))
    with pytest.raises(InvalidArgument, match="n_iter"):
        tg.consensus.arrays.dawid_skene(np.array([0]), np.array([0]), np.array([0]), n_iter=2**62)
    assert tg.consensus.DawidSkene(n_iter=2**31 - 1).fit(ANSWERS).labels_.size == 2   # the top of the range works


@pytest.mark.parametrize("capacity", [2**64, [2**64, 1], np.array([2**64 - 1, 1], dtype=np.uint64), 2**63, ["x", 1]])
def test_assign_capacity_out_of_range(capacity):
    with pytest.raises(InvalidArgument, match="capacity"):
        tg.match.assign([[1.0, 2.0]], overlap=1, capacity=capacity)
    assert tg.match.assign([[1.0, 2.0]], overlap=1, capacity=2**63 - 1).tolist() == [[1]]


def test_assign_overlap_and_top_k_out_of_range():
    with pytest.raises(InvalidArgument, match="overlap"):
        tg.match.assign([[1.0, 2.0]], overlap=2**40, capacity=1)
    with pytest.raises(InvalidArgument, match="k must"):
        tg.match.CategoryIndex.default().top_k("label pictures of cats", k=2**70)


def test_lone_surrogates_in_network_calls(net):
    refused(net, lambda: net.create_account(SURROGATE), "name")
    refused(net, lambda: net.create_account("bob", fund=2**64), "fund")
    refused(net, lambda: net.transfer("alice", "issuer", 1, memo="ok" + SURROGATE), "memo")
    common = dict(owner="alice", description="Label product reviews.", kind="classification",
                  items=["good", "bad"], budget=tg.TAG, categories=0)
    refused(net, lambda: net.publish_task(title="t" + SURROGATE, labels=["pos", "neg"], **common), "title")
    refused(net, lambda: net.publish_task(title="t", labels=["pos", SURROGATE], **common), r"labels\[1\]")
    refused(net, lambda: net.publish_task(title="t", labels=["pos", "neg"], **dict(common, items=["ok", "x" + SURROGATE])),
            r"items\[1\]")
    refused(net, lambda: net.publish_task(title="t", labels=["pos", "neg"], **dict(common, description=SURROGATE)),
            "description")


def test_lone_surrogates_elsewhere():
    with pytest.raises(InvalidArgument, match=r"value\[1\]\[1\]"):
        tg.codec.encode([1, ["x", SURROGATE]])
    with pytest.raises(InvalidArgument, match="text"):
        tg.match.Tokenizer().encode(SURROGATE)
    with pytest.raises(InvalidArgument, match="description"):
        tg.match.CategoryIndex.default().top_k("cats " + SURROGATE)
    with pytest.raises(InvalidArgument, match=r"texts\[0\]"):
        tg.match.CategoryIndex.fit(["a" + SURROGATE, "b"], ["x", "y"])


def test_out_of_range_indices(net):
    for h in (-1, 2**70, net.height + 1):
        with pytest.raises(InvalidArgument, match="no block"):
            net.block(h)


def test_proof_indices_out_of_range(net):
    blk = net.block(net.height)
    for i in (-1, len(blk), 2**70, 1.0):
        with pytest.raises(InvalidArgument, match="transaction index"):
            blk.proof(i)
    leaves = [tg.ledger.merkle_leaf_hash(b"x")]
    with pytest.raises(InvalidArgument, match="index"):
        tg.ledger.merkle_proof(leaves, 2**70)
    with pytest.raises(InvalidArgument, match="tree_size"):
        tg.ledger.verify_proof(leaves[0], 0, -1, [], leaves[0])
    assert tg.ledger.verify_proof(leaves[0], 0, 1, [], tg.ledger.merkle_root(leaves))
