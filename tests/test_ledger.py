"""Ledger: accounts, transfers, every contract, each refusal with its typed error
(and the state unchanged after it), Merkle proofs against the RFC 6962
definition, payment splits against an exact reference, storage and keystore."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from fractions import Fraction

import pytest

import tagger as tg
from tagger import codec, errors
from tagger._core import ledger as _c
from tagger.ledger import KIND_CODES, Account, address_str, decode_tx, merkle_proof, merkle_root, verify_proof

TAG = tg.TAG


def raw_tx(net, acct, kind, payload, *, nonce=None, chain=None):
    """A signed record with explicit nonce / chain (for refusal tests)."""
    nonce = net.nonce(acct) if nonce is None else nonce
    chain = net.chain_id if chain is None else chain
    return _c.make_tx(acct.signing_key._k, chain, KIND_CODES[kind], nonce, codec.encode(payload))


def snapshot(net):
    return (net.state_root(), net._led.state_root_reference(), net.supply(), net.height, net._led.pending)


@pytest.fixture
def net():
    return tg.Network.memory(fee_bps=250)


@pytest.fixture
def people(net):
    a = net.create_account("alice", fund=1_000 * TAG, skills={"text/sentiment": 0.9, "image/cls": 0.25})
    b = net.create_account("bob", fund=500 * TAG)
    c = net.create_account("carol", fund=10 * TAG)
    return a, b, c


def assert_refused(net, exc, fn):
    before = snapshot(net)
    with pytest.raises(exc):
        fn()
    assert snapshot(net) == before, "a refused transaction changed the state"


# ---------------------------------------------------------------- basics

def test_lazy_exports():
    assert "Network" in tg.__all__ and "Account" in tg.__all__
    assert tg.Network.__module__ == "tagger.network" and tg.Account is Account


def test_transfer_balance_history_and_reprs(net, people):
    a, b, _ = people
    txid = net.transfer(a, b, 12 * TAG + 345, memo="thanks")
    assert net.balance(a) == 1_000 * TAG - 12 * TAG - 345
    assert net.balance(b) == 512 * TAG + 345
    assert net.balance(a.address) == net.balance("alice")
    h = net.history(b)
    assert list(h["kind"]) == ["register", "mint", "transfer"]
    assert h.iloc[-1]["txid"] == txid.hex() and h.iloc[-1]["amount"] == 12 * TAG + 345
    assert not h.iloc[-1]["outgoing"]
    blk = net.block(net.height)
    assert blk.transactions[0].fields["memo"] == "thanks"
    assert "512.000345 TAG" in net._repr_html_()
    assert "Block" in blk._repr_html_() and repr(blk).startswith("Block(height=")
    assert repr(net).startswith("Network(memory, height=")
    assert net.skills(a) == {"image/cls": 0.25, "text/sentiment": 0.9}
    s = net.supply()
    assert s["minted"] == 1_510 * TAG == s["balances"]


def test_batch_is_one_block_and_all_or_nothing(net, people):
    a, b, c = people
    h0 = net.height
    with net.batch():
        net.transfer(a, b, 1)
        net.transfer(b, c, 2)
    assert net.height == h0 + 1 and len(net.block(net.height)) == 2
    before = snapshot(net)
    with pytest.raises(errors.InsufficientFunds):
        with net.batch():
            net.transfer(a, b, 5)
            net.transfer(c, a, 10**15)
    assert snapshot(net) == before


def test_submit_many_batch_verifies_and_is_atomic(net, people):
    a, b, c = people
    txs = [raw_tx(net, a, "transfer", [b.address_bytes, 1, ""], nonce=net.nonce(a) + i) for i in range(50)]
    bad = bytearray(txs[30])
    bad[-1] ^= 1  # last signature byte
    before = snapshot(net)
    with pytest.raises(errors.InvalidSignature, match="transaction 30"):
        net.submit_many(txs[:30] + [bytes(bad)] + txs[31:], threads=2)
    assert snapshot(net) == before
    net.submit_many(txs, threads=2)
    net.commit()
    assert net.balance(b) == 500 * TAG + 50


# ---------------------------------------------------------------- refusals (typed, state unchanged)

def test_replay_is_bad_nonce(net, people):
    a, b, _ = people
    tx = raw_tx(net, a, "transfer", [b.address_bytes, 7, ""])
    net.submit(tx)
    net.commit()
    assert_refused(net, errors.BadNonce, lambda: net.submit(tx))
    assert_refused(net, errors.BadNonce, lambda: net.submit(raw_tx(net, a, "transfer", [b.address_bytes, 7, ""], nonce=net.nonce(a) + 1)))


def test_forged_signature(net, people):
    a, b, c = people
    tx = bytearray(raw_tx(net, a, "transfer", [b.address_bytes, 7, ""]))
    tx[-5] ^= 0x40
    assert_refused(net, errors.InvalidSignature, lambda: net.submit(bytes(tx)))
    # c signs a body that names a's key: verification is against the key in the body
    body, _ = codec.decode(bytes(tx))
    forged = codec.encode([body, c.signing_key.sign(hashlib.sha256(b"tagger/tx/v1\x00" + body).digest())])
    assert_refused(net, errors.InvalidSignature, lambda: net.submit(forged))


def test_tx_id_is_the_domain_separated_hash(net, people):
    a, b, _ = people
    tx = raw_tx(net, a, "transfer", [b.address_bytes, 7, ""])
    body, sig = codec.decode(tx)
    assert _c.tx_id(tx) == hashlib.sha256(b"tagger/tx/v1\x00" + body).digest()
    a.verify_key.verify(_c.tx_id(tx), sig)
    assert decode_tx(tx).sender == a.address


def test_wrong_chain_id(net, people):
    a, b, _ = people
    assert_refused(net, errors.WrongChain, lambda: net.submit(raw_tx(net, a, "transfer", [b.address_bytes, 7, ""], chain=net.chain_id + 1)))


def test_overflow_amounts(net, people):
    a, b, _ = people
    assert_refused(net, errors.AmountOverflow, lambda: net.mint(a, 2**64 - 1))
    with pytest.raises(errors.InvalidArgument):
        net.transfer(a, b, 2**64)
    task = net.ledger.lock_escrow(a, 10 * TAG)
    with pytest.raises(errors.AmountOverflow):  # refused before signing: the sum overflows
        net.ledger.finalize_escrow(task, a, {a: 2**63, b: 2**63})
    assert_refused(net, errors.InsufficientFunds, lambda: net.transfer(b, a, 10**12))


def test_non_issuer_cannot_mint_and_unknown_recipient(net, people):
    a, _, _ = people
    assert_refused(net, errors.NotAuthorized, lambda: net._send(a, "mint", [a.address_bytes, 5]))
    stranger = Account.generate("stranger")
    assert_refused(net, errors.UnknownAccount, lambda: net.transfer(a, stranger.address, 5))
    assert_refused(net, errors.RuleViolation, lambda: net._send(a, "register", [bytes(a.public_key), "again", []]))


def finalized_task(net, owner, worker, budget=100 * TAG, pay=60 * TAG):
    task = net.ledger.lock_escrow(owner, budget)
    net.ledger.submit_answers(task, worker, [(0, 1), (1, 2)])
    net.ledger.finalize_escrow(task, owner, {worker: pay}, reputation={worker: (2, 0)})
    return task


def test_royalty_over_100_percent(net, people):
    a, b, c = people
    task = finalized_task(net, a, b)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.mint_nft(task, a, b"\1" * 32, royalties={b: 6000, c: 4001}))
    # within 100% but over 100% with the platform fee of 2.5%
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.mint_nft(task, a, b"\1" * 32, royalties={b: 6000, c: 3800}))


def test_nft_mint_twice_or_by_non_owner(net, people):
    a, b, c = people
    task = finalized_task(net, a, b)
    assert_refused(net, errors.NotOwner, lambda: net.ledger.mint_nft(task, b, b"\1" * 32))
    net.ledger.mint_nft(task, a, b"\1" * 32, royalties={b: 1000}, license="CC-BY-4.0")
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.mint_nft(task, a, b"\2" * 32))
    open_task = net.ledger.lock_escrow(a, 1 * TAG)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.mint_nft(open_task, a, b"\1" * 32))


def test_nft_transfer_by_non_holder(net, people):
    a, b, c = people
    nft = net.ledger.mint_nft(finalized_task(net, a, b), a, b"\1" * 32)
    assert_refused(net, errors.NotOwner, lambda: net.ledger.transfer_nft(nft, b, c))
    net.ledger.transfer_nft(nft, a, c)
    assert net.ledger.nft_owner(nft) == c.address


def test_buying_own_listing(net, people):
    a, b, _ = people
    nft = net.ledger.mint_nft(finalized_task(net, a, b), a, b"\1" * 32)
    listing = net.ledger.list_nft(nft, a, 50 * TAG)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.buy(listing, a))
    assert_refused(net, errors.NotOwner, lambda: net.ledger.cancel(listing, b))
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.buy(listing, b, price=49 * TAG))


def test_unstake_before_lock_end(net, people):
    a, _, _ = people
    net.ledger.stake(a, 5 * TAG, lock_blocks=3)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.unstake(a))
    for _ in range(3):
        net.transfer(a, "bob", 1)
    assert net.ledger.unstake(a) == 5 * TAG
    assert net.ledger.stake_of(a) is None


def test_slash_only_under_the_creating_rule(net, people):
    a, b, c = people
    t1 = net.ledger.lock_escrow(a, 10 * TAG, required_stake=2 * TAG)
    t2 = net.ledger.lock_escrow(c, 1 * TAG)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(t1, b, [(0, 0)]))  # no stake yet
    net.ledger.stake(b, 3 * TAG, task_id=t1)
    net.ledger.stake(b, 1 * TAG)  # unbound: never slashable
    net.ledger.submit_answers(t1, b, [(0, 0)])
    assert_refused(net, errors.NotAuthorized, lambda: net.ledger.slash(t1, c, b, 1))  # not t1's owner/verifier
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.slash(t2, c, b, 1))  # stake not bound to t2
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.slash(t1, a, b, 4 * TAG))  # more than staked
    net.ledger.slash(t1, a, b, 1 * TAG, reason="spam")
    assert net.ledger.stake_of(b, t1)["amount"] == 2 * TAG
    assert net.ledger.task(t1)["escrow"] == 11 * TAG
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.unstake(b, t1))  # task still open


# ---------------------------------------------------------------- the full workflow

def reference_split(price, fee_bps, royalties):
    """Exact rational reference: floors, then largest remainder (ties by list order)."""
    fee = price * fee_bps // 10_000
    pool = price * sum(b for _, b in royalties) // 10_000
    shares = [Fraction(price * b, 10_000) for _, b in royalties]
    out = [int(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for k in range(pool - sum(out)):
        out[order[k]] += 1
    return price - fee - pool, fee, out


@pytest.mark.parametrize("price", [0, 1, 7, 9_999, 10_001, 123_456_789, 2**64 - 1])
def test_split_payment_matches_reference(price):
    addrs = sorted(os.urandom(20) for _ in range(3))
    roy = list(zip(addrs, [3333, 3333, 1]))
    seller, fee, out = tg.ledger.split_payment(price, 250, roy)
    rs, rf, ro = reference_split(price, 250, roy)
    assert (seller, fee, [v for _, v in out]) == (rs, rf, ro)
    assert seller + fee + sum(ro) == price


def test_escrow_answers_uploads_finalize_nft_market(net, people):
    a, b, c = people
    issuer = net.issuer
    d = net.create_account("dave", fund=300 * TAG)
    task = net.ledger.lock_escrow(a, 100 * TAG, required_stake=1 * TAG, params_hash=b"\7" * 32, verifier=c)
    t = net.ledger.task(task)
    assert t["status"] == "open" and t["escrow"] == 100 * TAG and t["verifier"] == c.address_bytes
    net.ledger.stake(b, 2 * TAG, task_id=task)
    net.ledger.stake(d, 2 * TAG, task_id=task)
    net.ledger.submit_answers(task, b, [(i, i % 3) for i in range(10)])
    net.ledger.submit_answers(task, d, batch_hash=b"\x09" * 32, count=10)
    assert_refused(net, errors.NotAuthorized, lambda: net.ledger.record_upload(task, a, b, 3, b"\5" * 32))
    net.ledger.record_upload(task, c, b, 3, b"\5" * 32, "accepted")
    net.ledger.record_upload(task, c, d, 4, b"\6" * 32, "rejected", reasons=["duplicate"])
    assert net.ledger.contributions(task, b) == 11 and net.ledger.contributions(task, d) == 10
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.finalize_escrow(task, a, {issuer: 1}))  # not a contributor
    assert_refused(net, errors.InsufficientFunds, lambda: net.ledger.finalize_escrow(task, a, {b: 100 * TAG, d: 2 * TAG}))
    bal_a = net.balance(a)
    res = net.ledger.finalize_escrow(task, c, {b: 70 * TAG, d: 10 * TAG}, reputation={b: (11, 0), d: (3, 7)},
                                     slashes={d: 1 * TAG}, result_hash=b"\3" * 32)
    assert res["refund"] == 100 * TAG + 1 * TAG - 80 * TAG
    assert net.balance(a) == bal_a + res["refund"]
    assert net.ledger.task(task)["status"] == "finalized" and net.ledger.task(task)["escrow"] == 0
    assert net.reputation(b) == (11, 0) and net.reputation(d) == (3, 7)
    # The finalize released what is left of the stakes bound to the task (d lost 1 of 2 TAG).
    assert net.ledger.stake_of(b, task) is None and net.ledger.stake_of(d, task) is None
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.unstake(b, task))
    # NFT + market: sale with royalties, fee and a seller-signed key blob
    nft = net.ledger.mint_nft(task, a, b"\4" * 32, royalties={b: 700, d: 300}, license="CC-BY-4.0", key_blob=b"owner-key")
    assert net.ledger.key_grant(nft, a) == b"owner-key"
    net.transfer(b, c, 20 * TAG)
    lic = net.ledger.list_nft(nft, a, 10 * TAG + 3, kind="license")
    before = {x: net.balance(x) for x in (a, b, d, issuer, c)}
    out = net.ledger.buy(lic, c, key_blob=b"wrapped-for-carol")
    seller, fee, roy = reference_split(10 * TAG + 3, 250, sorted([(b.address_bytes, 700), (d.address_bytes, 300)]))
    assert (out["seller"], out["fee"]) == (seller, fee)
    assert net.balance(c) == before[c] - (10 * TAG + 3)
    assert net.balance(a) == before[a] + seller and net.balance(issuer) == before[issuer] + fee
    assert net.balance(b) + net.balance(d) == before[b] + before[d] + sum(roy)
    assert net.ledger.has_license(nft, c) and net.ledger.key_grant(nft, c) == b"wrapped-for-carol"
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.buy(lic, c))  # already licensed
    # a key blob without the seller's signature is refused
    bad_sig = net.ledger.grant_signature(lic, a, d, b"other-blob")
    assert_refused(net, errors.InvalidSignature, lambda: net.ledger.buy(lic, d, key_blob=b"blob", grant_sig=bad_sig))
    sale = net.ledger.list_nft(nft, a, 50 * TAG)
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.transfer_nft(nft, a, b))  # listed
    net.ledger.buy(sale, d, key_blob=b"for-dave")
    assert net.ledger.nft_owner(nft) == d.address
    assert net.ledger.listing(lic) is None and net.ledger.listings().empty  # the sale ends the seller's listings
    assert [x["nft"] for x in net.ledger.licenses_of(c)] == [nft]
    assert "buy" in set(net.history(a)["kind"])  # the seller sees the sale
    s = net.supply()
    assert s["minted"] == s["balances"] + s["escrowed"] + s["staked"]
    assert net.verify()["transactions"] > 20


def test_refund_only_without_contributions(net, people):
    a, b, _ = people
    t = net.ledger.lock_escrow(a, 5 * TAG)
    bal = net.balance(a)
    net.ledger.refund_escrow(t, a)
    assert net.balance(a) == bal + 5 * TAG and net.ledger.task(t)["status"] == "cancelled"
    t2 = net.ledger.lock_escrow(a, 5 * TAG)
    net.ledger.submit_answers(t2, b, [(0, 0)])
    assert_refused(net, errors.RuleViolation, lambda: net.ledger.refund_escrow(t2, a))
    assert_refused(net, errors.NotOwner, lambda: net.ledger.refund_escrow(t2, b))


# ---------------------------------------------------------------- Merkle trees

def rfc6962_root(leaves):
    """The recursive definition of RFC 6962 §2.1 over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(leaves[:k]) + rfc6962_root(leaves[k:])).digest()


def test_merkle_matches_rfc6962_and_proofs_verify():
    for n in list(range(0, 34)) + [100, 257]:
        leaves = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]
        assert _c.merkle_leaf_hash((0).to_bytes(4, "big")) == hashlib.sha256(b"\x00" + bytes(4)).digest()
        root = merkle_root(leaves)
        assert root == rfc6962_root(leaves)
        for i in range(n):
            path = merkle_proof(leaves, i)
            assert verify_proof(leaves[i], i, n, path, root)
            if path:
                bad = list(path)
                bad[0] = bytes(32)
                assert not verify_proof(leaves[i], i, n, bad, root)
            assert not verify_proof(leaves[i], (i + 1) % n, n, path, root) or n == 1
            assert not verify_proof(hashlib.sha256(b"x").digest(), i, n, path, root)


def test_block_proof_checks_without_the_ledger(net, people):
    a, b, c = people
    with net.batch():
        for i in range(7):
            net.transfer(a, b, i + 1)
    blk = net.block(net.height)
    for i, rec in enumerate(blk.records):
        p = blk.proof(i)
        assert p.verify(rec) and not p.verify(rec + b"x")
        assert tg.ledger.verify_proof(p.leaf_hash, p.index, p.tree_size, p.path, blk.tx_root)


# ---------------------------------------------------------------- storage

def test_open_persists_and_snapshots_are_bound(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d, snapshot_every=4)
    a = net.create_account("a", fund=100)
    b = net.create_account("b")
    for i in range(10):
        net.transfer(a, b, 1)
    root, height = net.state_root(), net.height
    net.close()
    snaps = sorted(p.name for p in d.glob("snapshot-*.snap"))
    assert snaps, "expected snapshots every 4 blocks"
    net2 = tg.Network.open(d, snapshot_every=4)
    rep = net2.open_report()
    assert rep["snapshot_height"] > 0 and rep["replayed_from"] == rep["snapshot_height"] + 1
    assert (net2.state_root(), net2.height, net2.balance("b")) == (root, height, 10)
    net2.transfer("a", "b", 5)  # keys came back from the wallet
    net2.close()
    # a snapshot whose contents were altered is not trusted: full replay instead
    newest = sorted(d.glob("snapshot-*.snap"))[-1]
    raw = bytearray(newest.read_bytes())
    raw[40] ^= 1
    newest.write_bytes(bytes(raw))
    net3 = tg.Network.open(d)
    assert net3.balance("b") == 15 and "checksum" in net3.open_report()["snapshot_note"]
    net3.verify()
    net3.close()


def test_truncation_below_a_snapshot_is_corruption(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d, snapshot_every=2)
    a = net.create_account("a", fund=100)
    for i in range(5):
        net.transfer(a, "issuer", 1)
    offsets_before = (d / "blocks.log").stat().st_size
    net.close()
    log = d / "blocks.log"
    data = log.read_bytes()
    # cut exactly at a record boundary: drop the last block
    recs, off = [], 8
    while off < len(data):
        n = int.from_bytes(data[off:off + 4], "little")
        recs.append(off)
        off += 12 + n
    assert off == offsets_before
    log.write_bytes(data[:recs[-3]])
    with pytest.raises(errors.CorruptLedger, match="snapshot"):
        tg.Network.open(d)


def test_torn_tail_is_cut_back(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d)
    a = net.create_account("a", fund=100)
    net.transfer(a, "issuer", 1)
    h = net.height
    net.close()
    log = d / "blocks.log"
    good = log.read_bytes()
    # a partial header, a prefix of a real record's header, a zero-filled tail
    for tail in (b"\x05", good[8:8 + 11], bytes(300)):
        log.write_bytes(good + tail)
        n2 = tg.Network.open(d)
        assert n2.height == h and n2.open_report()["torn_bytes"] == len(tail)
        n2.close()
        assert log.read_bytes() == good
    # a header that passes its checksum but whose payload is cut: also torn
    last_len = None
    off = 8
    while off < len(good):
        last_len = int.from_bytes(good[off:off + 4], "little")
        last_off = off
        off += 12 + last_len
    log.write_bytes(good[:last_off + 12 + last_len // 2])
    n3 = tg.Network.open(d)
    assert n3.height == h - 1
    n3.verify()
    n3.close()


def test_second_writer_gets_ledger_locked(tmp_path):
    d = tmp_path / "m"
    net = tg.Network.open(d)
    code = ("import sys, tagger as tg\n"
            "try:\n    tg.Network.open(sys.argv[1])\nexcept tg.errors.LedgerLocked as e:\n    print('LOCKED', e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code, str(d)], capture_output=True, text=True, env=env, timeout=60)
    assert "LOCKED" in out.stdout, out.stderr
    with pytest.raises(errors.LedgerLocked):
        tg.Network.open(d)
    ro = tg.Network.open(d, read_only=True)
    assert ro.height == net.height
    net.close()
    tg.Network.open(d).close()  # released on close


def test_keystore_roundtrip_and_wrong_passphrase(tmp_path):
    acct = Account.generate("kim")
    blob = acct.export("correct horse", n=2**10)
    back = Account.import_(blob, "correct horse")
    assert back == acct and back.address == acct.address and bytes(back.public_key) == bytes(acct.public_key)
    with pytest.raises(errors.DecryptionFailed):
        Account.import_(blob, "wrong")
    tampered = bytearray(blob)
    tampered[10] ^= 1  # the scrypt parameters are authenticated too
    with pytest.raises(errors.DecryptionFailed):
        Account.import_(bytes(tampered), "correct horse")
    d = tmp_path / "w"
    net = tg.Network.open(d, passphrase="pw")
    net.create_account("x", fund=3)
    net.close()
    with pytest.raises(errors.DecryptionFailed):
        tg.Network.open(d, passphrase="nope")
    assert tg.Network.open(d, passphrase="pw").balance("x") == 3


def test_address_is_derived_from_the_signing_key():
    acct = Account.generate("z")
    expect = hashlib.sha256(b"tagger/address/v1\x00" + bytes(acct.verify_key)).digest()[:20]
    assert acct.address_bytes == expect and acct.address == address_str(expect)
