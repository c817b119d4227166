"""tg.evm: the Vyper contracts on an in-process chain (eth-tester + py-evm), driven
from a tagger Network: deploy, TAG deposit / transfer / withdraw with receipts
checked and replays refused, dataset NFT export and sale with royalties to 3 and 64
contributors, the task escrow's life with a successful challenge, anchors and
verify, reentrancy and unauthorised calls refused. One chain per module (py-evm is
slow); the tests that need no chain run without the extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tagger as tg
from tagger import crypto
from tagger._optional import MissingExtra
from tagger.errors import (ContractReverted, InvalidArgument, NotAuthorized, ReplayedReceipt, UnknownAccount,
                           VerificationFailed)
from tagger.evm import keys

REPO = Path(__file__).resolve().parents[1]
TAG = tg.TAG


# ---------------------------------------------------------------- no chain needed

def test_hkdf_is_rfc5869():
    # RFC 5869 appendix A, test cases 1 and 3 (SHA-256).
    okm = crypto.hkdf_sha256(bytes([0x0b] * 22), bytes(range(13)), bytes(range(0xf0, 0xfa)), 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")
    okm = crypto.hkdf_sha256(bytes([0x0b] * 22), b"", b"", 42)
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                         "9d201395faa4b61a96c8")


def test_evm_key_is_derived_from_the_seed_and_restored_by_the_backup():
    a = tg.Account.generate("alice")
    k = keys.evm_private_key(a)
    assert len(k) == 32 and 1 <= int.from_bytes(k, "big") < keys.SECP256K1_N
    assert keys.evm_private_key(a) == k  # deterministic
    okm = crypto.hkdf_sha256(a.signing_key.seed(), b"tagger/evm/v1", b"tagger/evm/secp256k1/v1", 48)
    assert int.from_bytes(k, "big") == int.from_bytes(okm, "big") % (keys.SECP256K1_N - 1) + 1
    restored = tg.Account.import_(a.export("pw", n=2**10), "pw")
    assert keys.evm_private_key(restored) == k  # one backup restores both keys
    assert keys.evm_private_key(tg.Account.generate("bob")) != k
    # the reduction keeps every output in [1, n - 1]
    assert int.from_bytes(keys.key_from_okm(bytes(48)), "big") == 1
    top = int.from_bytes(keys.key_from_okm(b"\xff" * 48), "big")
    assert 1 <= top < keys.SECP256K1_N
    with pytest.raises(InvalidArgument):
        keys.key_from_okm(bytes(32))


def test_import_tagger_never_imports_web3():
    code = "import sys, tagger, tagger.evm; tagger.evm.evm_private_key; assert 'web3' not in sys.modules, 'web3'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "web3", None)
    with pytest.raises(MissingExtra, match=r"tagger\[evm\]"):
        tg.evm.tester_web3()


def test_artifacts_ship_abi_and_bytecode():
    for name in ("TagToken", "TagBridge", "Checkpoint", "DatasetNFT", "Market", "TaskEscrow"):
        art = tg.evm.artifact(name)
        assert art["bytecode"].startswith("0x") and art["abi"] and art["compiler"].startswith("vyper 0.4.3")
        src = (REPO / art["source"]).read_bytes()
        assert crypto.sha256(src).hex() == art["source_sha256"], f"{name}: source changed, run make contracts"


def test_artifacts_equal_a_fresh_compile():
    pytest.importorskip("vyper", reason="vyper is not installed (make contracts installs it)")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import compile_contracts
    finally:
        sys.path.pop(0)
    for path, text in compile_contracts.artifacts().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} differs from a fresh compile: make contracts"


# ---------------------------------------------------------------- one chain for the module

pytest.importorskip("web3", reason="the evm extra is not installed")
pytest.importorskip("eth_tester", reason="the evm extra is not installed")

LABELS = ["pos", "neg"]


class Env:
    def __init__(self) -> None:
        self.w3 = tg.evm.tester_web3()
        self.net = tg.Network.memory(fee_bps=250)
        self.op = self.net.create_account("bridge-op")
        self.gas(self.op)
        self.bridge = tg.evm.Bridge(self.w3, self.op, self.net)

    def gas(self, *accounts) -> None:
        for a in accounts:
            tg.evm.fund_from_node(self.w3, keys.evm_address(a), 10**19)

    def account(self, name: str, fund: int = 0, gas: bool = True):
        a = self.net.create_account(name, fund=fund)
        if gas:
            self.gas(a)
        return a


@pytest.fixture(scope="module")
def env():
    return Env()


def test_deploy_wires_the_roles(env):
    b = env.bridge
    assert b.is_operator
    assert b.token.functions.minter().call() == b.bridge.address
    assert b.token.functions.admin().call() == "0x" + "00" * 20  # setMinter happened once
    assert b.nft.functions.royalty_receiver().call() == b.market.address
    assert b.market.functions.fee_bps().call() == 250
    assert b.bridge.functions.ledger_chain_id().call() == env.net.chain_id
    assert b.token.functions.decimals().call() == 6
    for iface in ("0x01ffc9a7", "0x80ac58cd", "0x5b5e139f", "0x2a55205a"):
        assert b.nft.functions.supportsInterface(bytes.fromhex(iface[2:])).call()
    assert not b.nft.functions.supportsInterface(b"\xff\xff\xff\xff").call()
    # Attaching with the saved addresses gives the same contracts; a user attaches too.
    again = tg.evm.Bridge(env.w3, env.op, env.net, addresses=json.loads(json.dumps(b.addresses)))
    assert again.addresses["TagBridge"] == b.addresses["TagBridge"] and again.is_operator
    user = env.account("attacher")
    ub = tg.evm.Bridge(env.w3, user, env.net, addresses=b.addresses)
    assert not ub.is_operator
    with pytest.raises(NotAuthorized):
        ub.anchor()


def test_deposit_transfer_withdraw_round_trip_and_replays(env):
    b, net = env.bridge, env.net
    alice = env.account("dep-alice", fund=100 * TAG)
    bob = env.account("dep-bob")
    custody0 = net.balance(env.op)
    r = b.deposit(alice, 40 * TAG)
    assert r.amount == 40 * TAG and r.receiver == keys.evm_address(alice)
    assert net.balance(alice) == 60 * TAG and net.balance(env.op) == custody0 + 40 * TAG
    assert b.balance_of(alice) == 40 * TAG and b.total_supply() >= 40 * TAG
    # the ledger side is a normal signed transfer naming the EVM receiver
    tx = [t for t in net.block(net.height).transactions if t.txid == r.ledger_tx][0]
    assert tx.kind == "transfer" and tx.fields["memo"].endswith(r.receiver)
    # a replayed ledger receipt is refused by the relay and by the contract itself
    with pytest.raises(ReplayedReceipt):
        b.relay_deposit(r.ledger_tx)
    with pytest.raises(ContractReverted, match="already used"):
        b.chain.send(b.evm, b.bridge.functions.mint(r.receiver, 1, r.ledger_tx))
    # a ledger tx that is not a deposit to custody is refused
    other = net.transfer(alice, bob, 1 * TAG, "not a deposit")
    with pytest.raises(InvalidArgument):
        b.relay_deposit(other)
    # ERC-20 transfer on chain
    b.transfer(alice, bob, 15 * TAG)
    assert b.balance_of(bob) == 15 * TAG and b.balance_of(alice) == 25 * TAG
    # withdraw: burn on chain, release on the ledger from custody, recorded on chain
    w = b.withdraw(bob, 10 * TAG)
    assert net.balance(bob) == 11 * TAG and b.balance_of(bob) == 5 * TAG
    assert b.bridge.functions.withdrawals(w.withdrawal_id).call()[3] == w.ledger_tx
    with pytest.raises(ReplayedReceipt):
        b.relay_withdrawal(w.evm_tx)
    with pytest.raises(ContractReverted, match="already released"):
        b.chain.send(b.evm, b.bridge.functions.release(w.withdrawal_id, w.ledger_tx))
    # withdraw to another ledger account; more than held is refused by the token
    w2 = b.withdraw(alice, 5 * TAG, to=bob)
    assert w2.receiver == bob.address and net.balance(bob) == 16 * TAG
    with pytest.raises(ContractReverted):
        b.burn(alice, 10**9 * TAG)
    rep = b.verify()
    assert rep["supply"] == b.total_supply() == rep["minted"] - rep["burned"]
    assert net.balance(env.op) >= rep["custody_backing"]


def test_unauthorised_calls_are_refused(env):
    b = env.bridge
    mallory = env.account("mallory", fund=10 * TAG)
    m = keys.evm_account(mallory)
    send = b.chain.send
    with pytest.raises(ContractReverted, match="not the minter"):
        send(m, b.token.functions.mint(m.address, 1))
    with pytest.raises(ContractReverted, match="not the minter"):
        send(m, b.token.functions.burnFrom(keys.evm_address(env.op), 1))
    with pytest.raises(ContractReverted, match="not the admin"):
        send(m, b.token.functions.setMinter(m.address))
    with pytest.raises(ContractReverted, match="not the admin"):
        send(b.evm, b.token.functions.setMinter(m.address))  # the role ended with the first call
    with pytest.raises(ContractReverted, match="not the operator"):
        send(m, b.bridge.functions.mint(m.address, 1, b"\x01" * 32))
    with pytest.raises(ContractReverted, match="not the operator"):
        send(m, b.bridge.functions.release(0, b"\x01" * 32))
    with pytest.raises(ContractReverted, match="not the operator"):
        send(m, b.checkpoint.functions.anchor(10**6, b"\x01" * 32, b"\x02" * 32))
    with pytest.raises(ContractReverted, match="not the minter"):
        send(m, b.nft.functions.mint(m.address, 1, b"\x01" * 32, b"\x02" * 32, [], b"\x03" * 32))
    with pytest.raises(ContractReverted, match="not the admin"):
        send(m, b.nft.functions.setRoyaltyReceiver(m.address))
    # the relays are the operator's: a user's Bridge refuses before sending anything
    ub = tg.evm.Bridge(env.w3, mallory, env.net, addresses=b.addresses)
    for call in (lambda: ub.relay_deposit(b"\x01" * 32), lambda: ub.relay_withdrawal("0x" + "00" * 32),
                 lambda: ub.export_nft(b"\x01" * 32)):
        with pytest.raises(NotAuthorized):
            call()


def labeled_nft(env, n_workers: int, overlap: int, n_items: int, royalty_bps: int, tag: str = ""):
    """A finalized labeling task with n_workers contributors and its dataset NFT."""
    net = env.net
    owner = env.account(f"req{tag}{n_workers}", fund=10_000 * TAG)
    workers = net.create_accounts([f"c{tag}{n_workers}-{i}" for i in range(n_workers)], fund=10 * TAG)
    texts = [f"review {i}: {'good' if i % 2 else 'bad'}" for i in range(n_items)]
    task = net.publish_task(owner=owner, title=f"t{n_workers}", description="Label reviews as positive or negative.",
                            kind="classification", labels=LABELS, items=texts, overlap=overlap,
                            budget=n_items * overlap * TAG, reward_policy=tg.rewards.Flat())
    asg = task.assign(workers, capacity=-(-n_items * overlap // n_workers))
    asg["label"] = ["pos" if int(i) % 2 else "neg" for i in asg["item_id"]]
    task.submit_many(asg[["item_id", "worker", "label"]])
    task.finalize()
    return owner, workers, task.mint_nft(license="CC-BY-4.0", royalty_bps=royalty_bps)


@pytest.mark.parametrize("n_workers, overlap, n_items", [(3, 3, 6), (64, 1, 64)])
def test_nft_export_and_sale_with_royalties(env, n_workers, overlap, n_items):
    b, net = env.bridge, env.net
    owner, workers, nft = labeled_nft(env, n_workers, overlap, n_items, royalty_bps=6_400)
    rec = net.ledger.nft(nft.id)
    assert len(rec["royalties"]) == n_workers
    ex = b.export_nft(nft)
    assert ex.token_id == int.from_bytes(nft.id, "big") and ex.receiver == keys.evm_address(owner)
    assert net.ledger.nft_owner(nft.id) == env.op.address  # the ledger copy is in custody
    info = b.nft_info(ex.token_id)
    assert info["owner"] == ex.receiver and info["manifest_hash"] == rec["manifest_hash"]
    assert info["merkle_root"].hex() == nft.manifest["merkle_root"]
    assert info["contributors"] == [(keys.evm_address(net.account(tg.ledger.address_str(bytes(a)))), int(p))
                                    for a, p in rec["royalties"]]
    uri = json.loads(info["token_uri"].split(",", 1)[1])
    assert uri == {"ledger_nft": "0x" + nft.id.hex(), "manifest_hash": "0x" + rec["manifest_hash"].hex(),
                   "merkle_root": "0x" + nft.manifest["merkle_root"]}
    with pytest.raises(ReplayedReceipt):
        b.export_nft(nft)
    # EIP-2981: the whole royalty, payable to the Market that splits it
    price = 1_000 * TAG + 7  # an odd price: the floors leave dust
    recv, amt = b.nft.functions.royaltyInfo(ex.token_id, price).call()
    assert recv == b.market.address and amt == price * 6_400 // 10_000
    # a sale: the buyer deposits TAG, buys; shares credited in the same transaction
    buyer = env.account(f"buyer{n_workers}", fund=2_000 * TAG)
    b.deposit(buyer, 1_500 * TAG)
    env.gas(owner)
    lid = b.list_nft(owner, ex.token_id, price)
    before = {w.name: b.proceeds(w) for w in workers}
    seller0, fee0 = b.proceeds(owner), b.proceeds(b.market.functions.fee_recipient().call())
    sold = b.buy(buyer, lid)
    fee = price * 250 // 10_000
    roy = {w.name: b.proceeds(w) - before[w.name] for w in workers}
    want = {net._label(bytes(a)): price * int(p) // 10_000 for a, p in rec["royalties"]}
    assert roy == want and sum(roy.values()) == sold["royalties"]
    assert sold["fee"] == fee and b.proceeds(b.market.functions.fee_recipient().call()) - fee0 == fee
    assert b.proceeds(owner) - seller0 == price - fee - sold["royalties"]
    assert b.nft.functions.ownerOf(ex.token_id).call() == keys.evm_address(buyer)
    # pull payments: a contributor withdraws its share
    env.gas(workers[0])
    got = b.withdraw_proceeds(workers[0])
    assert got > 0 and b.balance_of(workers[0]) == got and b.proceeds(workers[0]) == 0
    with pytest.raises(ContractReverted, match="no proceeds"):
        b.withdraw_proceeds(workers[0])
    # a license: the buyer lists, the owner's old listing is dead
    with pytest.raises(ContractReverted):
        b.buy(buyer, lid)
    if n_workers == 3:
        lic = b.list_nft(buyer, ex.token_id, 100 * TAG, kind="license")
        b.deposit(owner, 200 * TAG)
        b.buy(owner, lic)
        assert b.market.functions.licensed(ex.token_id, keys.evm_address(owner)).call()
        assert b.nft.functions.ownerOf(ex.token_id).call() == keys.evm_address(buyer)
        with pytest.raises(ContractReverted, match="already licensed"):
            b.buy(owner, lic)
        # a cancelled listing cannot be bought
        lic2 = b.list_nft(buyer, ex.token_id, 10 * TAG, kind="license")
        with pytest.raises(ContractReverted, match="not the seller"):
            b.chain.send(b.evm_signer(owner), b.market.functions.cancel(lic2))
        b.chain.send(b.evm_signer(buyer), b.market.functions.cancel(lic2))
        with pytest.raises(ContractReverted, match="no active listing"):
            b.buy(owner, lic2)
        # EIP-2981: a royalty paid to the Market by another marketplace is split by basis points
        amount = 50 * TAG + 1
        before = [b.proceeds(a) for a, _ in info["contributors"]]
        b.approve(owner, b.market.address, amount)
        b.chain.send(b.evm_signer(owner), b.market.functions.payRoyalty(ex.token_id, amount))
        got = [b.proceeds(a) - p0 for (a, _), p0 in zip(info["contributors"], before)]
        pool = sum(p for _, p in info["contributors"])
        want = [amount * p // pool for _, p in info["contributors"]]
        want[0] += amount - sum(want)  # the floors' remainder to the first contributor
        assert got == want and sum(got) == amount
    print(f"buy with {n_workers} royalty recipients: {sold['gas_used']} gas")


def test_reentrant_buyer_is_refused(env):
    b, net = env.bridge, env.net
    owner, _, nft = labeled_nft(env, 3, 3, 6, royalty_bps=1_000, tag="r")
    ex = b.export_nft(nft)
    env.gas(owner)
    art = json.loads((REPO / "tests" / "evm_artifacts" / "ReentrantBuyer.json").read_text())
    attacker_owner = env.account("attacker", fund=1_000 * TAG)
    signer = keys.evm_account(attacker_owner)
    c = env.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = b.chain.send(signer, c.constructor(b.market.address, b.token.address))
    attacker = env.w3.eth.contract(address=r["contractAddress"], abi=art["abi"])
    b.deposit(attacker_owner, 500 * TAG, to=attacker.address)
    lid = b.list_nft(owner, ex.token_id, 100 * TAG)
    lid2 = b.list_nft(owner, ex.token_id, 50 * TAG, kind="license")
    bal0 = b.balance_of(attacker.address)
    for mode in (1, 2):  # re-enter buy / withdrawProceeds from the ERC-721 callback
        with pytest.raises(ContractReverted):
            b.chain.send(signer, attacker.functions.attack(lid, 100 * TAG, mode, lid2, 50 * TAG))
        assert b.balance_of(attacker.address) == bal0
        assert b.nft.functions.ownerOf(ex.token_id).call() == keys.evm_address(owner)
        assert b.market.functions.listings(lid).call()[4]  # still active
    # the same contract without re-entering buys normally
    b.chain.send(signer, attacker.functions.attack(lid, 100 * TAG, 0, 0, 0))
    assert b.nft.functions.ownerOf(ex.token_id).call() == attacker.address
    assert attacker.functions.received().call() == 1


TERMS = dict(n_items=6, n_labels=2, overlap=3, rate=2 * TAG, method="majority_vote", n_iter=0, tol_e9=0, seed=0,
             policy="consensus_accuracy", policy_threshold_bps=0, policy_no_control_bps=0, policy_base=0, slashing=False,
             slash_threshold_bps=6000, slash_share_bps=5000, slash_min_control=3, gold_commitment=bytes(32),
             deadline_height=0, expiry_slash_bps=0)


TRUTH = [0, 1, 0, 1, 1, 0]
# overlap 3: every item answered by 3 of the 4 workers; worker 3 answers against the truth
ANSWERS = [[(i, TRUTH[i] if k != 3 else 1 - TRUTH[i]) for i in range(6) if (i + k) % 4 != 0] for k in range(4)]


def escrow_task(env, tag: str, bond: int = 5 * TAG):
    b = env.bridge
    req = env.account(f"req-{tag}", fund=200 * TAG)
    ws = [env.account(f"w-{tag}-{i}", fund=20 * TAG) for i in range(4)]
    for a in (req, *ws):
        b.deposit(a, {req: 100 * TAG}.get(a, 15 * TAG))
    tid = b.escrow.fund(req, 50 * TAG, TERMS, required_stake=2 * TAG, bond=bond, window=600)
    for k, w in enumerate(ws):
        b.escrow.stake(w, tid, 2 * TAG)
        b.escrow.answer(w, tid, ANSWERS[k])
    return req, ws, tid


def test_escrow_life_with_a_successful_challenge(env):
    b, esc = env.bridge, env.bridge.escrow
    req, ws, tid = escrow_task(env, "c")
    honest = esc.settlement(tid)
    assert honest["n_answers"] == 18
    assert honest["payouts_hash"] == bytes(esc.contract.functions.hash_lists(honest["payouts"], honest["slashes"]).call())
    # the rule is the ledger's: the same task published on the embedded ledger, with the
    # same answers and stakes, settles to the same labels and payouts per worker
    net = env.net
    lt = net.ledger.publish(req, 50 * TAG, TERMS, required_stake=2 * TAG)
    with net.batch():
        for w in ws:
            net.ledger.stake(w, 2 * TAG, task_id=lt)
    for k, w in enumerate(ws):
        net.ledger.submit_answers(lt, w, ANSWERS[k])
    on_ledger = net.ledger.settlement(lt, partial=True)
    evm_to_ledger = {keys.evm_address(w): w.address_bytes for w in ws}
    assert sorted((evm_to_ledger[a], v) for a, v in honest["payouts"]) == \
        sorted((bytes(a), int(v)) for a, v in on_ledger["payouts"])
    assert list(honest["labels"]) == list(on_ledger["labels"]) == TRUTH
    paid = dict(honest["payouts"])
    assert paid[keys.evm_address(ws[0])] > paid.get(keys.evm_address(ws[3]), 0)
    # a requester underpays worker 0 and commits that
    forged = dict(honest, payouts=[(a, v - (a == keys.evm_address(ws[0])) * TAG) for a, v in honest["payouts"]])
    with pytest.raises(ContractReverted, match="not the requester"):
        esc.commit(ws[0], tid, forged)
    esc.commit(req, tid, forged)
    assert esc.task(tid)["status"] == "committed"
    with pytest.raises(ContractReverted, match="same lists"):
        esc.challenge(ws[1], tid, forged)
    with pytest.raises(ContractReverted, match="not final yet"):
        esc.finalize(ws[1], tid, forged)
    # worker 0 re-executes the published rule and challenges with its lists and a bond
    esc.challenge(ws[0], tid)
    assert esc.task(tid)["challenge_hash"] == honest["payouts_hash"]
    with pytest.raises(ContractReverted, match="not the arbiter"):
        esc.arbitrate(ws[0], tid)
    assert esc.arbitrate(env.op, tid) is True  # the arbiter re-executes: the challenger was right
    with pytest.raises(ContractReverted, match="do not match"):
        esc.finalize(ws[1], tid, forged)
    w0 = b.balance_of(ws[0])
    r0 = b.balance_of(req)
    out = esc.finalize(ws[1], tid)
    assert out["paid"] == sum(v for _, v in honest["payouts"])
    assert b.balance_of(ws[0]) - w0 == paid[keys.evm_address(ws[0])]
    assert b.balance_of(req) - r0 == 50 * TAG - out["paid"]  # the bond is lost
    assert esc.claim(ws[0]) == 10 * TAG  # both bonds
    assert esc.unstake(ws[0], tid) == 2 * TAG
    with pytest.raises(ContractReverted, match="not open"):
        esc.answer(ws[1], tid, [(0, 0)])
    print(f"escrow finalize with {len(honest['payouts'])} payouts: {out['gas_used']} gas")


def test_escrow_honest_commit_a_wrong_challenge_and_a_refund(env):
    b, esc = env.bridge, env.bridge.escrow
    req, ws, tid = escrow_task(env, "h", bond=3 * TAG)
    s = esc.settlement(tid)
    esc.commit(req, tid, s)
    # a challenger with other lists loses its bond to the requester
    wrong = dict(s, payouts=s["payouts"][:-1])
    esc.challenge(ws[3], tid, wrong)
    assert esc.arbitrate(env.op, tid) is False
    r0 = b.balance_of(req)
    out = esc.finalize(req, tid, s)
    assert b.balance_of(req) - r0 == 50 * TAG - out["paid"] + 3 * TAG  # the refund and its own bond
    assert esc.claim(req) == 3 * TAG  # the challenger's bond
    # an unanswered task is refunded; its stakes come back
    tid2 = esc.fund(req, 10 * TAG, TERMS, window=60)
    esc.stake(ws[0], tid2, 1 * TAG)
    with pytest.raises(ContractReverted, match="not the requester"):
        esc.refund(ws[0], tid2)
    r1 = b.balance_of(req)
    esc.refund(req, tid2)
    assert b.balance_of(req) - r1 == 10 * TAG and esc.unstake(ws[0], tid2) == 1 * TAG


def test_anchor_and_verify(env):
    b, net = env.bridge, env.net
    a = b.anchor()
    assert a["height"] == net.height and a["block_hash"] == net.block(net.height).hash
    assert b.anchor()["evm_tx"] is None  # nothing new to anchor
    net.mint(env.op, 1)  # a new block
    b.anchor()
    with pytest.raises(ContractReverted, match="not above"):
        b.chain.send(b.evm, b.checkpoint.functions.anchor(1, b"\x01" * 32, b"\x02" * 32))
    rep = b.verify()
    assert rep["anchors"] == 2 and rep["latest_anchor"] == net.height
    assert rep["nfts"] >= 3 and rep["deposits"] >= 5 and rep["withdrawals"] >= 2
    # bindings: an account whose keys are not local is paid through its signed binding
    carol = env.account("carol")
    b.bind(carol)
    assert b.bindings()[carol.address_bytes] == keys.evm_address(carol)
    with pytest.raises(UnknownAccount):
        b.evm_address("tg" + "ab" * 20)


def test_verify_catches_an_unbacked_mint(env):
    # Last: it leaves the chain inconsistent on purpose (an operator minting without a deposit).
    b = env.bridge
    b.chain.send(b.evm, b.bridge.functions.mint(b.evm.address, 5, b"\x09" * 32))
    with pytest.raises(VerificationFailed, match="no such deposit"):
        b.verify()
