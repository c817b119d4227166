"""The collection-to-NFT workflow end to end, its token accounting, and every
bad-input case leaving the ledger exactly as it was."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger.errors import (InfeasibleAssignment, InsufficientFunds, InvalidArgument, NotAuthorized, NotOwner,
                           RuleViolation, TaskStateError, TransactionRejected)

LABELS = ["pos", "neg", "neu"]
TEXTS = [f"Review {i}: the product {'works well' if i % 3 == 0 else 'broke after a week' if i % 3 == 1 else 'is fine'}"
         for i in range(60)]


def conserved(net) -> None:
    s = net.supply()
    assert s["balances"] + s["escrowed"] + s["staked"] == s["minted"], s


def simulate(task, truth: pd.Series, accuracy: dict, rng) -> pd.DataFrame:
    asg = task.assignment.copy()
    correct = rng.random(len(asg)) < asg["worker"].map(accuracy).to_numpy()
    wrong = rng.choice(LABELS, len(asg))
    asg["label"] = np.where(correct, truth.reindex(asg["item_id"]).to_numpy(), wrong)
    return asg[["item_id", "worker", "label"]]


@pytest.fixture
def market():
    net = tg.Network.memory()
    rng = np.random.default_rng(7)
    alice = net.create_account("alice", fund=5_000 * tg.TAG)
    workers = [net.create_account(f"w{i}", fund=50 * tg.TAG, skills={"text/sentiment": 0.9}) for i in range(8)]
    truth = pd.Series(rng.choice(LABELS, len(TEXTS)))
    return net, alice, workers, truth, rng


def publish(net, alice, truth, **kw):
    args = dict(owner=alice, title="Review sentiment", description="Label product reviews as positive, negative or neutral.",
                kind="classification", labels=LABELS, items=TEXTS, overlap=3, budget=300 * tg.TAG,
                reward_policy=tg.rewards.ConsensusAccuracy(), stake=5 * tg.TAG, gold=truth[:15].to_dict())
    args.update(kw)
    return net.publish_task(**args)


def run_labeling(net, alice, workers, truth, rng, spammers=2, **kw):
    task = publish(net, alice, truth, **kw)
    task.assign(workers, capacity=-(-len(TEXTS) * 3 // len(workers)))  # tight: every worker gets items
    acc = {w.name: (0.0 if i < spammers else 0.9) for i, w in enumerate(workers)}
    task.submit_many(simulate(task, truth, acc, rng))
    return task


def test_labeling_workflow_pays_by_quality_and_conserves_tokens(market):
    net, alice, workers, truth, rng = market
    conserved(net)
    task = run_labeling(net, alice, workers, truth, rng)
    assert task.categories[0][0] == "text/sentiment"
    assert net.ledger.task(task.id)["escrow"] == 300 * tg.TAG
    conserved(net)
    res = task.finalize("dawid_skene")
    conserved(net)
    wq = res.worker_quality
    # Accurate workers beat the spammers on estimated skill and on pay per answer.
    per_answer = wq["payout"] / wq["n_answers"]
    good = [f"w{i}" for i in range(2, 8)]
    assert per_answer[["w0", "w1"]].max() < 0.7 * per_answer[good].min()
    assert wq.loc[["w0", "w1"], "skill"].max() < wq.loc[good, "skill"].min()
    assert res.payouts.sum() + res.refund + res.slashed.sum() >= 0
    assert int(res.payouts.sum()) <= 300 * tg.TAG
    assert (res.labels.reindex(truth.index) == truth).mean() > 0.85
    # slashing follows its rule exactly: control accuracy below 60 % on >= 3 controls
    # loses half the stake; the spammers fail it, the accurate workers do not
    ctl = tg.rewards.control_counts(task.answers().rename(columns={"item_id": "task"}), task.gold)
    expect = (ctl["total"] >= 3) & (ctl["correct"] * 10_000 < 6_000 * ctl["total"])
    assert ((res.slashed > 0) == expect.reindex(res.slashed.index)).all()
    assert (res.slashed[expect.reindex(res.slashed.index)] == 5 * tg.TAG // 2).all()
    assert res.slashed.loc[["w0", "w1"]].sum() > 0 and (res.slashed.drop(["w0", "w1"]) == 0).all()
    assert net.ledger.task(task.id)["status"] == "finalized"
    # reputation went up for good workers, and down in mean for spammers
    a, b = net.reputation("w5")
    assert a > b
    a, b = net.reputation("w0")
    assert b > 0


def test_majority_vote_and_other_methods_finalize(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng, spammers=0, method="majority_vote")
    with pytest.raises(InvalidArgument, match="published with method 'majority_vote'"):
        task.finalize("dawid_skene")  # the rules were fixed at publication
    res = task.finalize("majority_vote")
    assert res.method == "majority_vote" and len(res.labels) == len(TEXTS)


def test_nft_proofs_market_and_dataset_rights(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng)
    task.finalize()
    nft = task.mint_nft(license="CC-BY-4.0", royalty_bps=1_000)
    meta = nft.metadata()
    assert {"name", "description", "attributes", "manifest_hash"} <= set(meta)
    nft.verify_manifest()
    proof = nft.prove(7)
    assert tg.market.verify_proof(proof, nft.manifest)
    assert tg.market.verify_proof(proof.to_dict(), nft.manifest["merkle_root"])
    forged = tg.market.ItemProof.from_dict({**proof.to_dict(), "label": "neg" if proof.label != "neg" else "pos"})
    assert not tg.market.verify_proof(forged, nft.manifest)
    # owner reads; nobody else
    rows = net.dataset(nft, as_account=alice).to_pandas()
    assert len(rows) == len(TEXTS) and set(rows["label"]) <= set(LABELS)
    bob = net.create_account("bob", fund=2_000 * tg.TAG)
    carol = net.create_account("carol", fund=2_000 * tg.TAG)
    with pytest.raises(NotAuthorized):
        net.dataset(nft, as_account=bob)
    # a license: carol reads, alice keeps the NFT
    lic = net.market.list(nft, price=100 * tg.TAG, kind="license")
    before = {w.name: net.balance(w) for w in workers}
    net.market.buy(lic, carol)
    assert net.dataset(nft, as_account=carol).to_pandas().equals(rows)
    assert nft.holder == "alice"
    royalties = sum(net.balance(w) - before[w.name] for w in workers)
    assert royalties == 10 * tg.TAG  # 10 % of the price, split by contribution weight
    # a sale: bob becomes the holder and reads; the old holder's sale is atomic
    sale = net.market.list(nft, price=1_000 * tg.TAG, kind="sale")
    a0 = net.balance(alice)
    net.market.buy(sale, bob)
    assert nft.holder == "bob"
    assert net.balance(alice) - a0 == 900 * tg.TAG
    assert net.dataset(nft, as_account=bob).to_pandas().equals(rows)
    conserved(net)
    assert net.verify()["blocks"] == net.height + 1


def test_collection_workflow_uploads_verify_seal_and_pay():
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=1_000 * tg.TAG)
    ws = [net.create_account(f"u{i}", fund=10 * tg.TAG) for i in range(3)]
    task = net.publish_task(owner=owner, title="Collect customer questions",
                            description="Write short questions a bank customer would ask about cards and transfers.",
                            kind="collection", items=6, budget=60 * tg.TAG, reward_policy=tg.rewards.Flat())
    texts = ["How do I activate my new card?", "Why was my transfer declined yesterday?",
             "Can I change the PIN of my debit card?", "What is the fee for an international transfer?"]
    ups = [task.upload(ws[i % 3], t.encode(), {"lang": "en", "n": i}) for i, t in enumerate(texts)]
    assert all(u.accepted for u in ups), [u.reasons for u in ups]
    dup = task.upload(ws[1], texts[0].encode())
    assert dup.status == "rejected" and any("duplicate" in r for r in dup.reasons)
    junk = task.upload(ws[2], b"\xff\xfe\x00garbage")
    assert junk.status == "rejected"
    # sealed at rest: the store holds no plaintext
    for u in ups:
        blob = net.store.get(u.ciphertext_hash)
        assert texts[0].encode() not in blob
    with pytest.raises(tg.errors.IncompleteTask, match="2 of 6 items miss 2 answer slot"):
        task.finalize()  # two slots are still empty
    res = task.finalize(partial=True)
    assert int(res.payouts.sum()) == task.rate * len(ups) and set(res.payouts.index) == {"u0", "u1", "u2"}
    nft = task.mint_nft()
    rows = net.dataset(nft, as_account=owner).to_pandas()
    assert sorted(r.decode() for r in rows["data"]) == sorted(texts)
    assert sorted(json.loads(m)["n"] for m in rows["meta"]) == [0, 1, 2, 3]
    conserved(net)


def test_a_copy_of_another_tasks_upload_names_that_task(tmp_path):
    """Every collection task checked uploads with task_id "": a copy of another task's upload
    read as duplicate_in_task of "item '0' of task ''" (slot ids repeat across tasks)."""
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        w = net.create_account("w", fund=10 * tg.TAG)
        desc = "Write short questions a bank customer would ask about cards and transfers."
        first, second = (net.publish_task(owner=owner, title=f"Collect customer questions {i}", description=desc,
                                          kind="collection", items=2, budget=20 * tg.TAG, reward_policy=tg.rewards.Flat())
                         for i in range(2))
        text = b"Why was my card transfer declined yesterday?"
        assert first.upload(w, text).accepted
        copy = second.upload(w, text)
        assert copy.reasons == ("duplicate_in_network",)
        again = first.upload(w, text)
        assert again.reasons == ("duplicate_in_task",)
    with tg.Network.open(tmp_path / "m") as net:  # a reopened task checks under its own id too
        assert net.task(first.id).verify_spec.task_id == first.id.hex()


def test_a_reopened_market_still_refuses_a_copy_of_an_accepted_upload(tmp_path):
    """The duplicate registry lived in memory only: after a reopen the same bytes were accepted
    again and would have been paid twice."""
    desc = "Write short questions a bank customer would ask about cards and transfers."
    text = b"Why was my card transfer declined yesterday?"
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        w = net.create_account("w", fund=10 * tg.TAG)
        task = net.publish_task(owner=owner, title="Collect customer questions", description=desc, kind="collection",
                                items=3, budget=30 * tg.TAG, reward_policy=tg.rewards.Flat())
        assert task.upload(w, text).accepted
        assert task.upload(w, b"My card never came, where is it?").accepted
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        task = net.task(tid)
        copy = task.upload("w", text)
        assert copy.reasons == ("duplicate_in_task",) and copy.status == "rejected"
        assert task.upload("w", b"How do I raise my card limit?").accepted
        res = task.finalize()
        assert int(res.payouts.sum()) == 3 * task.rate
    # A journal line whose receipt never reached the ledger (a crash in between) is not a duplicate,
    # and a torn last line is skipped.
    import json as _json
    with open(tmp_path / "m" / "dedup.jsonl", "ab") as f:
        f.write(_json.dumps({"sha256": "00" * 32, "task": tid.hex(), "item": "9", "phash": None,
                             "ciphertext": "11" * 32}).encode() + b"\n" + b'{"sha256": "ab')
    with tg.Network.open(tmp_path / "m") as net:
        assert len(net.dedup) == 3


BANK_PROMPTS = pd.Series({"arrival": "Your new card has not arrived.", "stolen": "Your card was stolen.",
                          "rate": "You were charged a bad exchange rate.", "topup": "Your top-up failed."})
BANK_DESCRIPTION = "Write a realistic message a bank customer might send to support about the situation in the prompt."


def test_collection_prompts_are_the_relevance_examples_of_uploads(tmp_path):
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        w = net.create_account("w", fund=10 * tg.TAG)
        task = net.publish_task(owner=owner, title="Customer messages for a banking assistant",
                                description=BANK_DESCRIPTION, kind="collection", items=BANK_PROMPTS,
                                budget=40 * tg.TAG, reward_policy=tg.rewards.Flat(per_answer=10 * tg.TAG))
        assert list(task.verify_spec.examples) == list(BANK_PROMPTS)
        genuine = {"arrival": "I ordered a new card two weeks ago and it still hasn't arrived. Can you check where it is?",
                   "rate": "I paid in euros yesterday and the exchange rate you applied is much worse than the official one."}
        for slot, text in genuine.items():  # both fell below the threshold with the description alone
            up = task.upload(w, text.encode(), item_id=slot)
            assert up.accepted, up.reasons
        off = task.upload(w, b"The best recipe for banana bread uses very ripe bananas and walnuts.", item_id="topup")
        assert off.status == "needs_review" and "off_topic" in off.reasons
        task_id = task.id
    with tg.Network.open(tmp_path / "m") as again:  # a reopened task checks uploads the same way
        assert list(again.task(task_id).verify_spec.examples) == list(BANK_PROMPTS)
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=1_000 * tg.TAG)
    own = net.publish_task(owner=owner, title="t", description=BANK_DESCRIPTION, kind="collection",
                           items=BANK_PROMPTS, budget=40 * tg.TAG, verify={"examples": ["Where is my card?"]})
    assert list(own.verify_spec.examples) == ["Where is my card?"]  # the owner's examples win
    slots = net.publish_task(owner=owner, title="t", description=BANK_DESCRIPTION, kind="collection", items=3,
                             budget=30 * tg.TAG)
    assert list(slots.verify_spec.examples) == []  # empty slots have no prompt


def test_on_disk_workflow_reopens_and_verifies(tmp_path):
    rng = np.random.default_rng(3)
    truth = pd.Series(rng.choice(LABELS, len(TEXTS)))
    with tg.Network.open(tmp_path / "m") as net:
        alice = net.create_account("alice", fund=5_000 * tg.TAG)
        workers = [net.create_account(f"w{i}", fund=50 * tg.TAG) for i in range(6)]
        task = run_labeling(net, alice, workers, truth, rng, spammers=0)
        task.finalize()
        nft = task.mint_nft()
        bob = net.create_account("bob", fund=2_000 * tg.TAG)
        net.market.buy(net.market.list(nft, price=500 * tg.TAG), bob)
        expect = net.dataset(nft, as_account="bob").to_pandas()
        height, root, nft_id = net.height, net.state_root(), nft.id
    with tg.Network.open(tmp_path / "m") as again:
        assert again.height == height and again.state_root() == root
        report = again.verify()
        assert report["blocks"] == height + 1
        got = again.dataset(nft_id, as_account="bob").to_pandas()
        assert got.equals(expect)
        with pytest.raises(NotAuthorized):
            again.dataset(nft_id, as_account="alice")
        conserved(again)


# ---------------------------------------------------------------- bad input: typed error, state unchanged

def unchanged(net, fn, error):
    before = (net.height, net.state_root(), net.supply())
    with pytest.raises(error):
        fn()
    assert (net.height, net.state_root(), net.supply()) == before


def test_publish_without_funds(market):
    net, alice, workers, truth, rng = market
    unchanged(net, lambda: publish(net, alice, truth, budget=10**6 * tg.TAG), InsufficientFunds)
    unchanged(net, lambda: publish(net, alice, truth, labels=["only"]), InvalidArgument)
    unchanged(net, lambda: publish(net, alice, truth, gold={0: "maybe"}), InvalidArgument)
    unchanged(net, lambda: publish(net, alice, truth, items=[]), InvalidArgument)
    unchanged(net, lambda: publish(net, alice, truth, budget=1.5), InvalidArgument)


def test_assign_errors(market):
    net, alice, workers, truth, rng = market
    task = publish(net, alice, truth)
    unchanged(net, lambda: task.assign(workers, capacity=10), InfeasibleAssignment)
    unchanged(net, lambda: task.assign(workers, stake=False), RuleViolation)
    poor = net.create_account("poor", fund=1)
    unchanged(net, lambda: task.assign(workers[:3] + [poor]), InsufficientFunds)
    unchanged(net, lambda: task.assign([alice] + workers), InvalidArgument)


def test_answer_errors_and_finalized_task(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng)
    asg = task.assignment
    w = asg["worker"].iloc[0]
    other_item = asg.loc[asg["worker"] != w, "item_id"].iloc[0]
    mine = set(asg.loc[asg["worker"] == w, "item_id"])
    foreign = next(i for i in asg["item_id"] if i not in mine)
    unchanged(net, lambda: task.submit(w, asg["item_id"].iloc[0], "maybe"), InvalidArgument)
    unchanged(net, lambda: task.submit(w, 10_000, "pos"), InvalidArgument)
    unchanged(net, lambda: task.submit(w, foreign, "pos"), NotAuthorized)
    unchanged(net, lambda: task.submit(w, asg["item_id"].iloc[0], "pos"), RuleViolation)  # answered already
    assert other_item is not None
    task.finalize()
    unchanged(net, lambda: task.finalize(), TaskStateError)
    unchanged(net, lambda: task.submit(w, asg["item_id"].iloc[0], "pos"), TaskStateError)


def test_nft_and_market_errors(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng)
    unchanged(net, lambda: task.mint_nft(), TaskStateError)
    task.finalize()
    nft = task.mint_nft()
    unchanged(net, lambda: task.mint_nft(), RuleViolation)
    bob = net.create_account("bob", fund=10 * tg.TAG)
    unchanged(net, lambda: net.market.list(nft, price=5 * tg.TAG, seller=bob), NotOwner)
    listing = net.market.list(nft, price=100 * tg.TAG)
    unchanged(net, lambda: net.market.buy(listing, bob), InsufficientFunds)
    unchanged(net, lambda: net.market.buy(listing, alice), TransactionRejected)
    unchanged(net, lambda: net.dataset(nft, as_account=bob), NotAuthorized)
    net.market.cancel(listing)
    unchanged(net, lambda: net.market.buy(listing, bob), RuleViolation)


def test_bulk_accounts_and_a_failed_batch_leaves_no_account(tmp_path):
    with tg.Network.open(tmp_path / "n") as net:
        made = net.create_accounts([f"a{i}" for i in range(20)], fund=5, skills={"text/intent": 0.7})
        assert [net.balance(a) for a in made] == [5] * 20
        with pytest.raises(InvalidArgument):
            with net.batch():
                net.create_account("ghost", fund=1)
                net.create_account("a3")  # exists: the whole batch is dropped
        with pytest.raises(tg.errors.UnknownAccount):
            net.account("ghost")
    with tg.Network.open(tmp_path / "n") as again:
        assert again.skills("a19") == {"text/intent": 0.7}
        assert again.account("a7").name == "a7"
        with pytest.raises(tg.errors.UnknownAccount):
            again.account("ghost")


def test_reader_checks_rows_against_the_manifest(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng)
    task.finalize()
    nft = task.mint_nft()
    net.dataset(nft, as_account=alice)  # checks pass
    manifest, leaves = net._load_manifest(nft.id)
    forged = dict(manifest, merkle_root="00" * 32)
    net._manifests[nft.id] = (forged, leaves)
    with pytest.raises(tg.errors.VerificationFailed, match="manifest"):
        net.dataset(nft, as_account=alice)
    net._manifests[nft.id] = (manifest, leaves)
    net.dataset(nft, as_account=alice)


def test_history_shows_payouts_and_royalties(market):
    net, alice, workers, truth, rng = market
    task = run_labeling(net, alice, workers, truth, rng, spammers=0)
    res = task.finalize()
    nft = task.mint_nft(royalty_bps=1_000)
    bob = net.create_account("bob", fund=2_000 * tg.TAG)
    net.market.buy(net.market.list(nft, price=500 * tg.TAG), bob)
    h = net.history("w3")
    kinds = list(h["kind"])
    assert "finalize" in kinds and "buy" in kinds
    assert int(h.loc[h["kind"] == "finalize", "amount"].iloc[0]) == int(res.payouts["w3"])


def test_task_published_in_one_session_is_finished_in_another(tmp_path):
    rng = np.random.default_rng(11)
    truth = pd.Series(rng.choice(LABELS, len(TEXTS)))
    with tg.Network.open(tmp_path / "m") as net:
        alice = net.create_account("alice", fund=5_000 * tg.TAG)
        workers = [net.create_account(f"w{i}", fund=50 * tg.TAG) for i in range(6)]
        task = run_labeling(net, alice, workers, truth, rng, spammers=0)
        answers = task.answers()
        tid = task.id
        coll = net.publish_task(owner=alice, title="Collect questions", kind="collection", items=3,
                                description="Write a question a bank customer would ask about cards.",
                                budget=30 * tg.TAG, verify={"examples": ["How do I activate my card?"]})
        up = coll.upload(workers[0], b"Why was my card declined at the shop?")
        cid = coll.id
    with tg.Network.open(tmp_path / "m") as net:
        again = net.task(tid.hex())
        assert again.title == "Review sentiment" and again.labels == LABELS
        got = again.answers().sort_values(["item_id", "worker"]).reset_index(drop=True)
        assert got.equals(answers.sort_values(["item_id", "worker"]).reset_index(drop=True))
        res = again.finalize()
        assert (res.labels.reindex(truth.index) == truth).mean() > 0.85
        assert again.mint_nft() is not None
        c = net.task(cid)
        assert c.uploads()["ciphertext_hash"].tolist() == [up.ciphertext_hash.hex()]
        assert c.finalize(partial=True).payouts.sum() > 0
        assert {t.id for t in net.tasks} == {tid, cid}
        with pytest.raises(InvalidArgument, match="no task"):
            net.task(bytes(32))


def test_upload_many_and_verbose_finalize(capsys):
    net = tg.Network.memory()
    owner = net.create_account("owner", fund=100 * tg.TAG)
    ws = [net.create_account(f"u{i}", fund=1) for i in range(2)]
    task = net.publish_task(owner=owner, title="Collect card questions", kind="collection", items=4,
                            description="Questions a bank customer asks about card payments.", budget=8 * tg.TAG,
                            verify={"examples": ["Why was my card payment declined?"]})
    # (not the example with one word added: that is a copy of it, copies_task_text, since 2026-12-07)
    out = task.upload_many([(ws[0], b"My card payment was declined at the shop today, why?", {"src": "chat"}),
                            (ws[1], b"Can I get a refund for a duplicate card payment?")], progress=False)
    assert list(out["status"]) == ["accepted", "accepted"] and out["ciphertext_hash"].notna().all()
    with pytest.raises(InvalidArgument, match="worker and data"):
        task.upload_many(pd.DataFrame({"data": [b"x"]}))
    net2 = tg.Network.memory()
    alice = net2.create_account("alice", fund=5_000 * tg.TAG)
    workers = [net2.create_account(f"w{i}", fund=50 * tg.TAG) for i in range(6)]
    rng = np.random.default_rng(5)
    t2 = run_labeling(net2, alice, workers, pd.Series(rng.choice(LABELS, len(TEXTS))), rng, spammers=0,
                      method_options={"n_iter": 30})
    t2.finalize("dawid_skene", n_iter=30, verbose=True)
    assert "settling 180 answers with dawid_skene" in capsys.readouterr().out


def _collection(net, title="Collect customer questions", **kw):
    try:
        owner = net.account("owner")
    except tg.errors.UnknownAccount:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
    return net.publish_task(owner=owner, title=title, description="Write short questions a bank customer would ask "
                            "about cards and transfers.", kind="collection", items=3, budget=30 * tg.TAG,
                            reward_policy=tg.rewards.Flat(), **kw)


def test_an_upload_the_ledger_refuses_or_a_dropped_batch_blocks_no_later_copy(tmp_path):
    """The registry recorded an upload before the ledger's receipt: one the ledger refused (a
    reputation floor) or whose batch was dropped blocked the same bytes everywhere for the rest
    of the session, pointing at an upload that does not exist."""
    text = b"Why was my card transfer declined yesterday?"
    with tg.Network.open(tmp_path / "m") as net:
        w = net.create_account("w", fund=10 * tg.TAG)
        floor = _collection(net, min_reputation=0.6)
        other = _collection(net, title="Collect more customer questions")
        with pytest.raises(tg.errors.RuleViolation, match="reputation"):
            floor.upload(w, text)
        with pytest.raises(RuntimeError):
            with net.batch():
                assert other.upload(w, text).accepted
                raise RuntimeError("dropped")
        assert len(net.dedup) == 0 and other.progress["answered"].sum() == 0  # the slot is free again
        assert other.upload(w, text).accepted  # neither attempt blocks the real upload
        assert len(other.uploads()) == 1


def test_a_lost_or_edited_journal_is_rebuilt_from_the_ledger(tmp_path):
    """Deleting dedup.jsonl silently turned duplicate protection off (the same bytes were paid
    twice); a hand-edited line made every collection task unloadable with a raw TypeError."""
    import os
    text = b"Why was my card transfer declined yesterday?"
    with tg.Network.open(tmp_path / "m") as net:
        w = net.create_account("w", fund=10 * tg.TAG)
        task = _collection(net)
        assert task.upload(w, text).accepted
        tid = task.id
    journal = tmp_path / "m" / "dedup.jsonl"
    os.remove(journal)
    with tg.Network.open(tmp_path / "m") as net:  # the owner's keys are here: re-read from the sealed blob
        assert net.task(tid).upload("w", text).reasons == ("duplicate_in_task",)
    journal.write_text('{"task": ["x"]}\n{"sha256": "zz", "task": "a", "item": "1", "ciphertext": "b", "phash": "zz"}\n')
    with tg.Network.open(tmp_path / "m") as net:
        assert net.task(tid).upload("w", text).reasons == ("duplicate_in_task",)
    with tg.Network.open(tmp_path / "m", read_only=True) as net:
        before = journal.read_bytes()
        with pytest.raises(tg.errors.LedgerError, match="read-only"):
            net.task(tid).upload("w", b"How do I raise my card limit?")
        assert journal.read_bytes() == before  # a reader writes nothing into the market


def test_upload_many_checks_every_row_before_uploading_any():
    net = tg.Network.memory()
    w = net.create_account("w", fund=10 * tg.TAG)
    task = _collection(net)
    rows = [(w, b"Why was my card transfer declined yesterday?"), (w, "not bytes"), (w, b"How do I raise my limit?")]
    height = net.height
    with pytest.raises(tg.errors.InvalidArgument, match="row 1's data must be bytes, got str \\(nothing was uploaded\\)"):
        task.upload_many(rows, progress=False)
    assert net.height == height and len(task.uploads()) == 0


def test_a_task_published_before_letterless_descriptions_were_refused_still_reopens(tmp_path, monkeypatch):
    """Since 2026-12-07 a spec whose description has no letters, with no category and no text
    prompts, is refused when built; a market holding such a task from before must still open
    (with relevance off, as it was), not fail on the task's rebuilt spec."""
    from tagger.verify._spec import VerifySpec

    with monkeypatch.context() as m:  # the old rule: accepted at publication
        m.setattr(VerifySpec, "_check_reference_letters", lambda self: None)
        with tg.Network.open(tmp_path / "m") as net:
            owner = net.create_account("owner", fund=1_000 * tg.TAG)
            task = net.publish_task(owner=owner, title="Collect", description="🙂🙂", kind="collection",
                                    items=2, budget=20 * tg.TAG, reward_policy=tg.rewards.Flat(), categories=0)
    with pytest.raises(InvalidArgument, match="has no letters"):
        VerifySpec(description="🙂🙂")
    with pytest.warns(UserWarning, match="has no letters.*reopens with relevance_threshold=None"):
        with tg.Network.open(tmp_path / "m") as net:
            again = net.task(task.id)
            assert again.verify_spec.relevance_threshold is None


def test_a_task_published_with_text_scripts_refused_since_still_reopens(tmp_path, monkeypatch):
    """text_scripts=[] (every upload script_mismatch) or an unknown name was accepted at
    publication before 2026-12-07; such a stored task reopens with the default scripts."""
    from tagger.verify import _spec

    with monkeypatch.context() as m:  # the old rule: any list of str
        m.setattr(_spec, "_scripts", lambda value: tuple(value))
        with tg.Network.open(tmp_path / "m") as net:
            owner = net.create_account("owner", fund=1_000 * tg.TAG)
            task = net.publish_task(owner=owner, title="Collect", description="Write a sentence about the sea.",
                                    kind="collection", items=2, budget=20 * tg.TAG, reward_policy=tg.rewards.Flat(),
                                    verify={"text_scripts": []})
    with pytest.warns(UserWarning, match="names no script.*reopens with the default text_scripts"):
        with tg.Network.open(tmp_path / "m") as net:
            assert net.task(task.id).verify_spec.text_scripts == ("Latin",)


def test_a_reopened_collection_task_checks_uploads_with_its_own_verify_options(tmp_path):
    # The task record kept only str, int and str-list options: after a reopen the schema,
    # severities, float thresholds and relevance=None were gone, and an upload refused before
    # the restart was accepted and paid after it.
    verify = {"schema": {"name": "str", "age": "int"}, "severity": {"off_topic": "rejected"},
              "relevance_threshold": 0.5, "gibberish_threshold": -3.0, "text_min_script_fraction": 0.75,
              "examples": np.array(["a person record"]), "image_min_size": (8, 8)}
    bad = b'{"nickname": "bob"}'
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        w = net.create_account("w", fund=10 * tg.TAG)
        task = net.publish_task(owner=owner, title="People", description="Collect person records as JSON.",
                                kind="collection", items=4, budget=40 * tg.TAG, data_kind="json", verify=verify,
                                reward_policy=tg.rewards.Flat(per_answer=10 * tg.TAG))
        before = task.verify_spec
        assert task.upload(w, bad, item_id=0).status == "rejected"
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        after = net.task(tid).verify_spec
        for name in ("schema", "severity", "relevance_threshold", "gibberish_threshold", "text_min_script_fraction",
                     "examples", "image_min_size"):
            assert getattr(after, name) == getattr(before, name), name
        up = net.task(tid).upload(net.account("w"), bad, item_id=1)
        assert up.status == "rejected" and "schema_missing_field" in up.reasons


def test_a_schema_of_python_types_and_a_set_of_scripts_survive_a_reopen(tmp_path):
    # Python types in a schema and sets were "objects a record cannot store": the reopened
    # task lost its schema (an upload it refused was accepted and paid) and its scripts.
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        w = net.create_account("w", fund=10 * tg.TAG)
        task = net.publish_task(owner=owner, title="People", description="Collect person records as JSON.",
                                kind="collection", items=4, budget=40 * tg.TAG, data_kind="json",
                                verify={"schema": {"age": int}, "schema_strict": True, "text_scripts": {"Latin", "Greek"}},
                                reward_policy=tg.rewards.Flat(per_answer=10 * tg.TAG))
        assert task.upload(w, b'{"age": "old"}', item_id=0).status == "rejected"
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        again = net.task(tid)
        assert again.verify_spec.text_scripts == ("Greek", "Latin")
        assert again.upload(net.account("w"), b'{"age": "old"}', item_id=1).status == "rejected"


def test_a_collection_task_with_relevance_off_reopens_with_relevance_off(tmp_path):
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        task = net.publish_task(owner=owner, title="Anything", description="Write any sentence.", kind="collection",
                                items=2, budget=2 * tg.TAG, verify={"relevance_threshold": None})
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        assert net.task(tid).verify_spec.relevance_threshold is None  # was "auto" after a reopen


def test_a_reopened_collection_task_says_which_verify_options_it_could_not_keep(tmp_path):
    def no_links(data):
        return None
    with tg.Network.open(tmp_path / "m") as net:
        owner = net.create_account("owner", fund=1_000 * tg.TAG)
        task = net.publish_task(owner=owner, title="Anything", description="Write any sentence.", kind="collection",
                                items=2, budget=2 * tg.TAG, verify={"checks": [no_links], "relevance_threshold": 0.2})
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        with pytest.warns(UserWarning, match="'checks'"):
            spec = net.task(tid).verify_spec
        assert spec.checks == () and spec.relevance_threshold == 0.2


def _card_questions(tmp_path):
    """An on-disk network with a 2-item card-question collection task assigned to worker w."""
    net = tg.Network.open(tmp_path / "m")
    owner = net.create_account("own", fund=100 * tg.TAG)
    w = net.create_account("w", fund=10 * tg.TAG)
    task = net.publish_task(owner=owner, title="Collect card delivery questions", kind="collection", items=2,
                            overlap=1, budget=4 * tg.TAG, reward_policy=tg.rewards.Flat(),
                            description="Write customer questions about when a new bank card will arrive.",
                            verify={"examples": ["When will my card arrive?", "My new card has not come yet",
                                                 "How long does card delivery take?"]})
    task.assign([w])
    return net, owner, w, task


def test_an_upload_that_needs_review_neither_fills_its_slot_nor_enters_the_dataset(tmp_path) -> None:
    """The ledger counts accepted uploads only, but the task read a needs_review upload as
    accepted: progress showed the item answered, another upload to it was refused ("already has
    an accepted upload"), finalize named no item, and a partial finalize left the item unpaid
    while mint_nft put it into the dataset labelled 'needs_review'."""
    net, owner, w, task = _card_questions(tmp_path)
    assert task.upload(w, b"My card still has not arrived, where is it?").accepted
    off = task.upload(w, b"I like turtles and the weather in Spain is nice today.")
    assert off.status == "needs_review" and not off.accepted
    assert task.progress["missing"].tolist() == [0, 1]
    with pytest.raises(tg.errors.IncompleteTask, match=r"1 of them hold an upload that needs review \(item\(s\) \['1'\]"):
        task.finalize()
    assert task.uploads()["status"].tolist() == ["accepted", "needs_review"]  # the owner can read it
    reopened = tg.Network.open(tmp_path / "m", read_only=True).task(task.id)  # the same view from the ledger
    assert reopened.progress["missing"].tolist() == [0, 1] and reopened.uploads()["status"].tolist() == \
        ["accepted", "needs_review"]
    assert task.upload(w, b"When does my card come?", item_id=1).accepted  # the slot takes another upload
    res = task.finalize()
    assert res.labels.tolist() == ["accepted", "accepted"]
    assert task.dataset_frame()["label"].tolist() == ["accepted", "accepted"]


def test_a_partial_finalize_mints_the_accepted_uploads_only(tmp_path) -> None:
    """A needs_review upload left in its slot was unpaid by the partial finalize but minted into
    the dataset, labelled 'needs_review' (and the demo checked that it was)."""
    net, owner, w, task = _card_questions(tmp_path)
    assert task.upload(w, b"My card still has not arrived, where is it?").accepted
    assert task.upload(w, b"I like turtles and the weather in Spain is nice today.").status == "needs_review"
    res = task.finalize(partial=True)
    assert [str(i) for i in res.labels.index] == ["0"] and int(res.payouts.sum()) == task.rate
    nft = task.mint_nft()
    rows = net.dataset(nft, as_account=owner).to_pandas()
    assert rows["item_id"].tolist() == ["0"] and rows["label"].tolist() == ["accepted"]
