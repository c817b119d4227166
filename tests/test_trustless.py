"""Trustless tasks: the ledger enforces a published task's rules and re-executes its
finalize, so a modified requester client can neither underpay nor slash anyone; and
a task's life off the happy path (missing answers, deadline, reassign, cancel,
reopen) never turns into a wrong dataset or an overpayment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors
from tagger.ledger import ZERO32

LABELS = ["pos", "neg", "neu"]
TEXTS = [f"Review {i}: the product {'works' if i % 3 == 0 else 'broke' if i % 3 == 1 else 'is fine'}" for i in range(30)]


def state(net):
    return net.height, net.state_root(), net.supply(), net.ledger.task  # noqa: B018


def refused(net, exc, fn, match=None):
    before = (net.height, net.state_root(), net.supply())
    with pytest.raises(exc, match=match):
        fn()
    assert (net.height, net.state_root(), net.supply()) == before, "a refused operation changed the ledger"


@pytest.fixture
def labeled():
    """A labeling task with every slot answered (two spammers among eight workers)."""
    net = tg.Network.memory()
    rng = np.random.default_rng(3)
    alice = net.create_account("alice", fund=1_000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(8)], fund=20 * tg.TAG)
    truth = pd.Series(rng.choice(LABELS, len(TEXTS)))
    task = net.publish_task(owner=alice, title="Review sentiment", description="Label product reviews.",
                            labels=LABELS, items=TEXTS, overlap=3, budget=90 * tg.TAG, stake=4 * tg.TAG,
                            gold=truth[:9].to_dict(), deadline=10, expiry_slash_bps=1_000)
    asg = task.assign(ws)
    acc = asg["worker"].map(lambda w: 0.0 if w in ("w0", "w1") else 0.9).to_numpy()
    asg["label"] = np.where(rng.random(len(asg)) < acc, truth.reindex(asg["item_id"]).to_numpy(),
                            rng.choice(LABELS, len(asg)))
    return net, alice, ws, task, asg[["item_id", "worker", "label"]]


def _addr(net, name):
    return net.account(name).address_bytes


# ---------------------------------------------------------------- a malicious requester

def _forged(settlement, **change):
    s = {k: (list(v) if isinstance(v, list) else v) for k, v in settlement.items()}
    s.update(change)
    return s


def test_finalize_with_altered_payout_reputation_slash_or_gold_is_refused(labeled):
    net, alice, ws, task, answers = labeled
    task.submit_many(answers)
    gold = task._gold_codes()
    salt = task._gold_salt
    honest = net.ledger.settlement(task.id, salt, gold)
    fin = lambda s, **kw: net.ledger.finalize_settled(task.id, alice, s, gold_salt=kw.get("salt", salt),  # noqa: E731
                                                      gold=kw.get("gold", gold), partial=False)
    pay = [(bytes(a), int(v)) for a, v in honest["payouts"]]
    # Underpay one worker by one base unit.
    under = [(a, v - 1) if i == 2 else (a, v) for i, (a, v) in enumerate(pay)]
    refused(net, errors.InvalidTransaction, lambda: fin(_forged(honest, payouts=under)), match="payout of w")
    # Drop a worker from the payouts altogether.
    refused(net, errors.InvalidTransaction, lambda: fin(_forged(honest, payouts=pay[1:])))
    # Slash an honest worker.
    slashes = sorted([(bytes(a), int(v)) for a, v in honest["slashes"]] + [(_addr(net, "w5"), 1)])
    refused(net, errors.InvalidTransaction, lambda: fin(_forged(honest, slashes=slashes)), match="slash of w5")
    # Hand a spammer a better reputation.
    rep = [(bytes(a), c + 5, i) if bytes(a) == _addr(net, "w0") else (bytes(a), c, i)
           for a, c, i in honest["reputation"]]
    refused(net, errors.InvalidTransaction, lambda: fin(_forged(honest, reputation=rep)), match="reputation change of w0")
    # Reveal other gold labels than those committed at publish (to favour a worker).
    fake_gold = [(i, (l + 1) % 3) for i, l in gold]
    refused(net, errors.InvalidTransaction, lambda: fin(honest, gold=fake_gold), match="does not match the commitment")
    refused(net, errors.InvalidTransaction, lambda: fin(honest, salt=bytes(32)), match="does not match the commitment")
    # A bare (unsettled) finalize of a published task is refused too.
    refused(net, errors.InvalidTransaction, lambda: net.ledger.finalize_escrow(
        task.id, alice, {w: 1 for w in ws}, result_hash=honest["result_hash"]), match="re-executed")
    # The honest settlement goes through, and verify() re-executes it from genesis.
    res = task.finalize()
    assert res.payouts.sum() == sum(v for _, v in pay)
    assert net.verify()["transactions"] > 0


def test_the_ledger_refuses_answers_outside_the_rules(labeled):
    net, alice, ws, task, answers = labeled
    w = task.assignment["worker"].iloc[0]
    item = int(task._item_index.get_loc(task.assignment["item_id"].iloc[0]))
    # A label outside the label set, straight to the ledger (a modified client).
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, w, [(item, 3)]),
            match="outside the task's label set")
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, w, [(len(TEXTS), 0)]),
            match="the task has 30 items")
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, w, batch_hash=b"\1" * 32, count=3),
            match="not a batch hash")
    net.ledger.submit_answers(task.id, w, [(item, 0)])
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, w, [(item, 1)]), match="already answered")
    # The assignment is on the ledger: a staked worker who does not hold the slot is refused.
    holders = set(task.assignment.loc[task.assignment["item_id"] == task.items["item_id"].iloc[item], "worker"])
    outsider = next(x.name for x in ws if x.name not in holders)
    if net.ledger.stake_of(outsider, task.id) is None:
        net.ledger.stake(outsider, 4 * tg.TAG, task_id=task.id, lock_blocks=0)
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, outsider, [(item, 0)]),
            match=f"{outsider} .* is not assigned item {item}")
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, alice, [(item + 1, 0)]))
    # Without an assignment anyone staked may answer, but an item takes `overlap` answers at most.
    open_task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                                 items=[1, 2], overlap=3, budget=6 * tg.TAG)
    for o in [x.name for x in ws[:3]]:
        net.ledger.submit_answers(open_task.id, o, [(0, 0)])
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(open_task.id, ws[3].name, [(0, 0)]),
            match="already has its 3 answer")


def test_only_the_owner_assigns_and_slots_expire_only_after_the_deadline(labeled):
    net, alice, ws, task, answers = labeled
    w = task.assignment["worker"].iloc[0]
    item = int(task._item_index.get_loc(task.assignment["item_id"].iloc[0]))
    refused(net, errors.NotOwner, lambda: net.ledger.assign_slots(task.id, "w7", {"w7": [item]}))
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(task.id, alice, {}, {w: [item]}),
            match="expire at the deadline")
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(task.id, alice, {w: [item]}),
            match="already holds item")
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(task.id, alice, {"alice": [item]}),
            match="owner cannot hold")
    # Each item has `overlap` (3) holders already: a fourth is refused, so no item can be overpaid.
    holders = set(task.assignment.loc[task.assignment["item_id"] == task.items["item_id"].iloc[item], "worker"])
    fourth = next(x.name for x in ws if x.name not in holders)
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(task.id, alice, {fourth: [item]}),
            match="already has its 3 holder")
    held = dict((bytes(a), list(i)) for a, i in net.ledger.assignments(task.id))
    assert sum(len(v) for v in held.values()) == len(task.assignment) == len(TEXTS) * 3


def test_an_expired_slot_costs_its_holder_the_published_share_of_its_stake():
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts(["a", "b", "c", "d"], fund=10 * tg.TAG)
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=list(range(4)), overlap=2, budget=8 * tg.TAG, stake=2 * tg.TAG, deadline=3)
    # The terms say what an expired slot costs; publish_task leaves it at 0, so set it
    # through the low-level API on a copy of the task's terms.
    terms = dict(task.terms, expiry_slash_bps=2_500)
    tid = net.ledger.publish(alice, 8 * tg.TAG, terms, required_stake=2 * tg.TAG)
    net.ledger.assign_slots(tid, alice, {"a": [0, 1], "b": [0, 1], "c": [2, 3], "d": [2, 3]})
    for w in "abcd":
        net.ledger.stake(w, 2 * tg.TAG, task_id=tid, lock_blocks=0)
    for w, items in (("a", [0, 1]), ("b", [0, 1]), ("c", [2, 3])):
        net.ledger.submit_answers(tid, w, [(i, 0) for i in items])
    while net.height + 1 < terms["deadline_height"]:
        net.transfer(alice, "a", 1)
    escrow = net.ledger.task(tid)["escrow"]
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(tid, alice, {}, {"c": [2]}), match="answered item 2")
    net.ledger.assign_slots(tid, alice, {"a": [2, 3]}, {"d": [2, 3]})
    assert net.ledger.stake_of("d", tid)["amount"] == 2 * tg.TAG - 2 * tg.TAG * 2_500 // 10_000
    assert net.ledger.task(tid)["escrow"] == escrow + 2 * tg.TAG * 2_500 // 10_000
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(tid, "d", [(2, 0)]))  # its stake fell short too
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(tid, "b", [(2, 0)]), match="not assigned item 2")
    net.ledger.submit_answers(tid, "a", [(2, 0), (3, 1)])


# ---------------------------------------------------------------- life off the happy path

def test_partial_finalize_pays_the_rate_leaves_unanswered_items_out_and_releases_stakes(labeled):
    net, alice, ws, task, answers = labeled
    some = answers.iloc[:30]
    task.submit_many(some)
    with pytest.raises(errors.IncompleteTask, match=r"items miss \d+ answer slot\(s\), held by w"):
        task.finalize()
    prog = task.progress
    assert prog["answered"].sum() == 30 and prog["missing"].sum() == 90 - 30
    # Before the deadline a partial finalize is refused, by the client and by the ledger.
    refused(net, errors.TaskStateError, lambda: task.finalize(partial=True), match="waits for the deadline")
    refused(net, errors.RuleViolation, lambda: net.ledger.finalize_settled(
        task.id, alice, net.ledger.settlement(task.id, task._gold_salt, task._gold_codes(), True),
        gold_salt=task._gold_salt, gold=task._gold_codes(), partial=True), match="waits for the deadline")
    while net.height + 1 < task.deadline:
        net.transfer(alice, "w7", 1)
    bal = {w.name: net.balance(w) for w in ws}
    res = task.finalize(partial=True)
    answered_items = set(some["item_id"])
    assert set(res.labels.index) == answered_items and res.labels.isin(LABELS).all()
    per_worker = some.groupby("worker").size()
    # Never more than the published rate per answer (0.9 TAG here, not budget / answers).
    assert task.rate == 90 * tg.TAG // 90
    assert (res.payouts <= per_worker.reindex(res.payouts.index) * task.rate).all()
    assert res.refund == 90 * tg.TAG + int(res.slashed.sum()) - int(res.payouts.sum())
    # Stakes came back (minus slashes), no low-level unstake needed.
    for w in ws:
        assert net.ledger.stake_of(w, task.id) is None
        if w.name in res.payouts.index:
            back = 4 * tg.TAG - int(res.slashed.get(w.name, 0))
            assert net.balance(w) == bal[w.name] + int(res.payouts[w.name]) + back
    nft = task.mint_nft()
    assert len(task.dataset_frame()) == len(answered_items)
    for iid in list(answered_items)[:3]:
        p = nft.prove(iid)
        assert p.label in LABELS and tg.market.verify_proof(p, nft.manifest)
    with pytest.raises(errors.InvalidArgument, match="not in this dataset"):
        nft.prove(next(i for i in range(30) if i not in answered_items))
    # The manifest names the label set and the settlement the ledger executed.
    assert nft.manifest["labels"] == LABELS
    assert nft.manifest["result_hash"] == bytes(net.ledger.task(task.id)["result_hash"]).hex()
    nft.verify_manifest()
    import dataclasses
    p = nft.prove(next(iter(answered_items)))
    assert not tg.market.verify_proof(dataclasses.replace(p, label="nan"), nft.manifest)
    widened = dict(nft.manifest, labels=LABELS + ["nan"])
    assert not tg.market.verify_proof(p, widened)  # its hash no longer matches
    s = net.supply()
    assert s["balances"] + s["escrowed"] + s["staked"] == s["minted"]


def test_flat_pays_exactly_the_published_rate_per_answer():
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts(["a", "b", "c", "d"], fund=tg.TAG)
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=list(range(10)), overlap=2, budget=25 * tg.TAG,
                            reward_policy=tg.rewards.Flat(per_answer=tg.TAG))
    asg = task.assign(ws)
    asg["label"] = "y"
    task.submit_many(asg[["item_id", "worker", "label"]])
    res = task.finalize()
    n = asg.groupby("worker").size()
    assert (res.payouts == n.reindex(res.payouts.index) * tg.TAG).all()
    assert res.refund == 5 * tg.TAG
    with pytest.raises(errors.InvalidArgument, match="exceeds what the budget covers"):
        net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                         items=list(range(10)), overlap=2, budget=10 * tg.TAG,
                         reward_policy=tg.rewards.Flat(per_answer=tg.TAG))


def test_cancel_refunds_and_releases_stakes_only_before_answers(labeled):
    net, alice, ws, task, answers = labeled
    before = net.balance(alice)
    staked = {w.name: net.balance(w) for w in ws}
    assert net.ledger.stake_of(ws[2], task.id) is not None  # assign staked them
    assert task.cancel() == 90 * tg.TAG
    assert task.status == "cancelled" and net.balance(alice) == before + 90 * tg.TAG
    for w in ws:
        assert net.ledger.stake_of(w, task.id) is None
        assert net.balance(w) == staked[w.name] + 4 * tg.TAG
    net2 = tg.Network.memory()
    a = net2.create_account("a", fund=10 * tg.TAG)
    w = net2.create_accounts(["x", "y"], fund=tg.TAG)
    t = net2.publish_task(owner=a, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                          items=[1, 2], overlap=1, budget=2 * tg.TAG)
    t.assign(w)
    t.submit("x", t.assignment[t.assignment.worker == "x"].item_id.iloc[0], "y")
    refused(net2, errors.TaskStateError, t.cancel, match="finalize it")


def test_reassign_after_the_deadline_gives_missing_slots_to_others(labeled):
    net, alice, ws, task, answers = labeled
    late = {"w3", "w4"}
    stake_before = {w: net.ledger.stake_of(w, task.id)["amount"] for w in late}
    task.submit_many(answers[~answers["worker"].isin(late)])
    with pytest.raises(errors.TaskStateError, match="deadline has not passed"):
        task.reassign(ws[:3])
    while net.height + 1 < task.deadline:
        net.transfer(alice, "w7", 1)
    extra = net.create_accounts(["v0", "v1", "v2", "v3"], fund=20 * tg.TAG)
    new = task.reassign(extra)
    for w in late:  # the fixture's task sets expiry_slash_bps=1000: 10 % of the stake
        assert net.ledger.stake_of(w, task.id)["amount"] == stake_before[w] - stake_before[w] // 10
    missing = answers[answers["worker"].isin(late)]
    assert len(new) == len(missing) and set(new["worker"]) <= {"v0", "v1", "v2", "v3"}
    assert not (task.assignment["worker"].isin(late)).any()  # expired slots are lost
    # No reassigned worker holds an item twice.
    assert not task.assignment.duplicated(["item_id", "worker"]).any()
    new["label"] = "pos"
    task.submit_many(new[["item_id", "worker", "label"]])
    with pytest.raises(errors.NotAuthorized):
        task.submit("w3", missing["item_id"].iloc[0], "pos")
    res = task.finalize()
    assert len(res.labels) == len(TEXTS) and task.progress["missing"].sum() == 0


def _past_deadline(net, alice, task):
    while net.height + 1 < task.deadline:
        net.transfer(alice, "w7", 1)


def test_the_owner_cannot_slash_a_published_tasks_stakes_at_will(labeled):
    # Only the published rules slash: a discretionary `slash` let the owner move a
    # worker's whole stake into the escrow and take it back as the refund.
    net, alice, ws, task, answers = labeled
    task.submit_many(answers)
    stake = net.ledger.stake_of("w5", task.id)["amount"]
    refused(net, errors.RuleViolation, lambda: net.ledger.slash(task.id, alice, "w5", stake),
            match="published with its rules")
    res = task.finalize()
    assert net.ledger.stake_of("w5", task.id) is None and res.slashed.get("w5", 0) == 0


def test_a_slot_granted_after_the_deadline_never_expires(labeled):
    # The owner extends a fully answered task after the deadline, gives the new slot to a
    # worker who did all its work, and takes it back in the next block, again and again:
    # before, each take-back slashed 10 % of that worker's stake into the owner's refund.
    net, alice, ws, task, answers = labeled
    task.submit_many(answers)
    _past_deadline(net, alice, task)
    item = int(task.items["item_id"].iloc[12])
    victim = next(w for w in ("w2", "w3", "w4", "w5", "w6", "w7")
                  if w not in set(answers.loc[answers["item_id"] == item, "worker"]))
    stake = net.ledger.stake_of(victim, task.id)["amount"]
    net.ledger.extend_task(task.id, alice, {item: 1}, task.terms["rate"] + task.terms["policy_base"])
    for _ in range(3):
        net.ledger.assign_slots(task.id, alice, {victim: [item]})
        net.ledger.assign_slots(task.id, alice, {}, revokes={victim: [item]})
    st = net.ledger.stake_of(victim, task.id)
    assert st["amount"] == stake and st["slashed"] == 0
    assert net.verify()["blocks"] == net.height + 1


def _window_task(net, alice, deadline):
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=[0, 1, 2, 3], overlap=1, budget=8 * tg.TAG, stake=2 * tg.TAG, deadline=deadline,
                            expiry_slash_bps=5_000)
    task.assign(["x"])
    task.submit_many(pd.DataFrame({"item_id": [0, 1, 2, 3], "worker": "x", "label": "y"}))
    return task


@pytest.mark.parametrize("blocks_left", [1, 2, 4, 5])
def test_a_slot_granted_in_the_last_half_of_the_window_never_expires(blocks_left):
    # A worker who did all its work is given a new slot shortly before the deadline and it is
    # taken back at the deadline: before, one block before the deadline was enough to slash
    # it into the owner's refund. Now a slot is slashable only when its holder had at least
    # half the task's window (publication to deadline) to fill it.
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    net.create_accounts(["x", "y"], fund=10 * tg.TAG)
    task = _window_task(net, alice, deadline=10)
    published = task.deadline - 10
    while net.height + 1 < task.deadline - blocks_left:
        net.transfer(alice, "y", 1)
    with net.batch():  # one block, at deadline - blocks_left
        net.ledger.extend_task(task.id, alice, {0: 1}, task.terms["rate"] + task.terms["policy_base"])
        net.ledger.stake("y", 2 * tg.TAG, task_id=task.id)
        net.ledger.assign_slots(task.id, alice, {"y": [0]})
    assert net.height == task.deadline - blocks_left
    while net.height + 1 < task.deadline:
        net.transfer(alice, "x", 1)
    net.ledger.assign_slots(task.id, alice, {}, revokes={"y": [0]})
    slashed = net.ledger.stake_of("y", task.id)["slashed"]
    # 2 · (deadline − granted) ≥ deadline − published: five blocks of ten left, and no fewer
    assert (slashed > 0) == (2 * blocks_left >= task.deadline - published) == (blocks_left == 5)
    assert net.verify()["blocks"] == net.height + 1


def test_expired_slots_slash_their_holder_once(labeled, tmp_path):
    # Revoking a late worker's expired slots in two transactions slashed it twice; slots it
    # was given after the deadline (held beside the expired ones) are taken back for free.
    net, alice, ws, task, answers = labeled
    late = answers[answers["worker"] == "w3"]
    task.submit_many(answers[answers["worker"] != "w3"])
    _past_deadline(net, alice, task)
    items = sorted(int(i) for i in late["item_id"])
    stake = net.ledger.stake_of("w3", task.id)["amount"]
    net.ledger.assign_slots(task.id, alice, {}, revokes={"w3": items[:1]})
    assert net.ledger.stake_of("w3", task.id)["amount"] == stake - stake // 10
    free = next(int(i) for i in task.items["item_id"] if int(i) not in items
                and "w3" not in set(answers.loc[answers["item_id"] == i, "worker"]))
    net.ledger.extend_task(task.id, alice, {free: 1}, task.terms["rate"] + task.terms["policy_base"])
    net.ledger.assign_slots(task.id, alice, {"w3": [free]})
    net.ledger.assign_slots(task.id, alice, {}, revokes={"w3": items[1:] + [free]})
    assert net.ledger.stake_of("w3", task.id)["amount"] == stake - stake // 10


def test_late_slots_survive_a_reopen(tmp_path):
    # The late-slot marks are state: a market reopened from disk (snapshot or replay)
    # reaches the same root and still takes them back without a slash.
    with tg.Network.open(tmp_path / "m") as net:
        alice = net.create_account("alice", fund=100 * tg.TAG)
        ws = net.create_accounts(["x", "y", "z"], fund=10 * tg.TAG)
        task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                                items=[0, 1, 2, 3], overlap=1, budget=4 * tg.TAG, stake=tg.TAG, deadline=4,
                                expiry_slash_bps=5_000)
        task.assign(ws[:2])
        held = task.assignment[task.assignment.worker == "x"]["item_id"].tolist()
        task.submit_many(pd.DataFrame({"item_id": held, "worker": "x", "label": "y"}))
        while net.height + 1 < task.deadline:
            net.transfer(alice, "x", 1)
        y_items = task.assignment[task.assignment.worker == "y"]["item_id"].tolist()
        net.ledger.stake("z", tg.TAG, task_id=task.id)
        net.ledger.assign_slots(task.id, alice, {"z": y_items}, revokes={"y": y_items})
        root, task_id = net.state_root(), task.id
    with tg.Network.open(tmp_path / "m") as net:
        assert net.state_root() == root and net.verify()["blocks"] == net.height + 1
        stake = net.ledger.stake_of("z", task_id)["amount"]
        net.ledger.assign_slots(task_id, "alice", {}, revokes={"z": y_items})
        assert net.ledger.stake_of("z", task_id)["amount"] == stake


def test_equally_suited_workers_share_the_load_whatever_their_order():
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts([f"w{i:02d}" for i in range(30)], fund=tg.TAG)
    results = []
    for order in (ws, ws[::-1], list(np.random.default_rng(1).permutation(ws))):
        task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                                items=list(range(40)), overlap=3, budget=12 * tg.TAG)
        asg = task.assign(order)
        assert task.idle_workers == []
        load = asg["worker"].value_counts()
        assert len(load) == 30 and load.max() - load.min() <= 1
        results.append(asg.sort_values(["item_id", "worker"]).reset_index(drop=True))
    assert results[0].equals(results[1]) and results[0].equals(results[2])


def test_finalized_task_mints_after_a_reopen(tmp_path):
    with tg.Network.open(tmp_path / "m") as net:
        alice = net.create_account("alice", fund=100 * tg.TAG)
        ws = net.create_accounts(["a", "b", "c"], fund=tg.TAG)
        task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                                items=[f"q{i}" for i in range(6)], overlap=2, budget=12 * tg.TAG)
        asg = task.assign(ws)
        asg["label"] = "n"
        task.submit_many(asg[["item_id", "worker", "label"]])
        res = task.finalize()
        tid, paid = task.id, res.payouts.to_dict()
    with tg.Network.open(tmp_path / "m") as net:
        again = net.task(tid)
        assert again.status == "finalized" and again.assignment is not None and len(again.assignment) == 12
        assert again.result is not None and again.result.payouts.to_dict() == paid
        assert (again.result.labels == "n").all()
        nft = again.mint_nft()
        assert len(net.dataset(nft, as_account="alice").to_pandas()) == 6


def test_a_custom_policy_makes_the_task_owner_discretionary():
    class Everything(tg.rewards.RewardPolicy):
        def payouts(self, answers, consensus, gold, budget):
            w = sorted(answers["worker"].unique())
            return {w[0]: budget}

    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts(["a", "b"], fund=tg.TAG)
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=[1, 2, 3], overlap=2, budget=6 * tg.TAG, reward_policy=Everything())
    assert task.discretionary and task.terms["policy"] == "discretionary"
    asg = task.assign(ws)
    asg["label"] = "y"
    task.submit_many(asg[["item_id", "worker", "label"]])
    res = task.finalize()
    assert res.payouts.to_dict() == {"a": 6 * tg.TAG}
