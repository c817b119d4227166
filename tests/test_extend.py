"""Task.extend and the ledger's `extend` kind: more answers for the least certain
items, paid from escrow locked by a signed transaction at exactly their price,
assigned to workers who have not seen the item, and settled by the ledger's
re-executed finalize (which expects and pays the extra answers) — nothing
overpaid, nothing left stranded, and every refused extend changes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors

ITEMS = [f"q{i}" for i in range(12)]


def refused(net, exc, fn, match=None):
    before = (net.height, net.state_root(), net.supply())
    with pytest.raises(exc, match=match):
        fn()
    assert (net.height, net.state_root(), net.supply()) == before, "a refused operation changed the ledger"


def _published(net):
    """alice's task of 12 yes/no items, overlap 2, 1 TAG per answer (flat), and workers a..d."""
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts(["a", "b", "c", "d"], fund=5 * tg.TAG)
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=ITEMS, overlap=2, budget=24 * tg.TAG, stake=tg.TAG,
                            reward_policy=tg.rewards.Flat(per_answer=tg.TAG))
    return alice, ws, task


def _answered_task(net, *, assign=True):
    """_published's task; items q0..q3 get split answers."""
    alice, ws, task = _published(net)
    if assign:
        asg = task.assign(ws).copy()
    else:
        asg = pd.DataFrame({"item_id": np.repeat(task.items["item_id"].to_numpy(), 2), "worker": ["a", "b"] * 12})
        for w in ("a", "b"):
            net.ledger.stake(w, tg.TAG, task_id=task.id, lock_blocks=0)
    asg["label"] = "y"
    split = asg["item_id"].isin(task.items["item_id"].iloc[:4])
    first = ~asg.duplicated("item_id")
    asg.loc[split & ~first, "label"] = "n"
    task.submit_many(asg[["item_id", "worker", "label"]])
    return alice, ws, task, asg


def test_next_items_ranks_the_split_items_first():
    df = pd.DataFrame({"task": np.repeat(ITEMS, 2), "worker": ["a", "b"] * 12,
                       "label": ["y", "n"] * 4 + ["y", "y"] * 8})
    for score in ("eig", "margin", "entropy"):
        top = tg.consensus.next_items(df, 4, method="majority_vote", score=score)
        assert set(top.index) == set(ITEMS[:4]) and len(top) == 4
        assert (top["margin"] == 0).all()
    assert len(tg.consensus.next_items(df, 0)) == 0
    assert len(tg.consensus.next_items(df, 100)) == len(ITEMS)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(errors.InvalidArgument):
            tg.consensus.next_items(df, bad)
    with pytest.raises(errors.InvalidArgument, match="score"):
        tg.consensus.next_items(df, 2, score="variance")
    with pytest.raises(errors.InvalidArgument):
        tg.consensus.next_items(df.iloc[0:0], 2)


def test_eig_is_zero_for_certain_items_and_useless_workers():
    pi = np.array([[0.9, 0.1], [0.2, 0.8]])
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.7, 0.3]])
    eig = tg.consensus.active.eig_scores(p, pi)
    assert eig[0] == 0 and eig[1] > eig[2] > 0
    assert np.allclose(tg.consensus.active.eig_scores(p, np.full((2, 2), 0.5)), 0)


def test_extend_buys_exactly_the_answers_it_pays_and_settles_them(tmp_path):
    with tg.Network.open(tmp_path / "m") as net:
        alice, ws, task, asg = _answered_task(net)
        more = net.create_accounts(["e", "f"], fund=5 * tg.TAG)
        owner_before, escrow_before = net.balance(alice), task.escrow
        new = task.extend(4 * tg.TAG + tg.TAG // 2, ws + more)  # buys 4 answers; the half TAG stays
        assert net.balance(alice) == owner_before - 4 * tg.TAG and task.escrow == escrow_before + 4 * tg.TAG
        assert set(new["item_id"]) == set(task.items["item_id"].iloc[:4])
        for item, worker in zip(new["item_id"], new["worker"]):  # never an earlier labeler of the item
            assert worker not in set(asg.loc[asg["item_id"] == item, "worker"])
        assert int(task.progress["missing"].sum()) == 4
        with pytest.raises(errors.IncompleteTask):
            task.finalize()
        with pytest.raises(errors.IncompleteTask):
            net.ledger.settlement(task.id, task._gold_salt, task._gold_codes(), False)
        new["label"] = "y"
        task.submit_many(new[["item_id", "worker", "label"]])
        res = task.finalize()
        assert len(res.labels) == len(ITEMS) and set(res.labels) <= {"y", "n"}
        n = pd.concat([asg, new])["worker"].value_counts()
        assert (res.payouts == n.reindex(res.payouts.index) * tg.TAG).all()
        assert res.payouts.sum() + res.refund == 28 * tg.TAG and task.escrow == 0
        assert net.verify()["transactions"] > 0
        tid, paid = task.id, res.payouts.to_dict()
    with tg.Network.open(tmp_path / "m") as net:  # replay from the log re-executes extend and finalize
        again = net.task(tid)
        assert again.status == "finalized" and again.result is not None and again.result.payouts.to_dict() == paid
        assert len(again.assignment) == len(asg) + 4


def test_an_infeasible_extend_changes_nothing():
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net)
    # Only an earlier labeler of a split item: nobody may take one more answer on it.
    labeler = asg.loc[asg["item_id"] == task.items["item_id"].iloc[0], "worker"].iloc[0]
    refused(net, errors.InfeasibleAssignment, lambda: task.extend(4 * tg.TAG, [labeler]))
    refused(net, errors.InvalidArgument, lambda: task.extend(tg.TAG // 2, ws), match="buys no answer")
    refused(net, errors.InvalidArgument, lambda: task.extend(0, ws))
    refused(net, errors.InvalidArgument, lambda: task.extend(4 * tg.TAG), match="needs the workers")
    refused(net, errors.InvalidArgument, lambda: task.extend(100 * tg.TAG, ws), match="only 12 answered items")


def test_the_ledger_refuses_an_extend_outside_the_rules():
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net)
    ext = net.ledger.extend_task
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {0: 1}, tg.TAG + 1), match="cost 1000000")
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {0: 2}, tg.TAG), match="locks 1000000")
    refused(net, errors.NotOwner, lambda: ext(task.id, "a", {0: 1}, tg.TAG))
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {12: 1}, tg.TAG), match="outside the task's 12 items")
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {0: 0}, tg.TAG))
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {}, tg.TAG))
    refused(net, errors.RuleViolation, lambda: ext(task.id, alice, {0: 999}, 999 * tg.TAG), match="more than 1000")
    refused(net, errors.InsufficientFunds, lambda: ext(task.id, "alice", {i: 50 for i in range(12)}, 600 * tg.TAG))
    # An extra slot must be assigned before a worker who does not hold it may fill it.
    ext(task.id, alice, {0: 1}, tg.TAG)
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, "d", [(0, 0)]))
    # An escrow_lock task has no rules to extend; a finalized task is closed.
    plain = net.ledger.lock_escrow(alice, tg.TAG)
    refused(net, errors.RuleViolation, lambda: ext(plain, alice, {0: 1}, tg.TAG), match="not published")


def test_extend_without_an_assignment_raises_the_cap_of_the_chosen_items_only():
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net, assign=False)
    net.ledger.stake("c", tg.TAG, task_id=task.id, lock_blocks=0)
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, "c", [(0, 0)]), match="not wanted")
    chosen = task.extend(2 * tg.TAG)
    ids = list(task.items["item_id"])
    assert set(chosen["item_id"]) <= set(ids[:4]) and len(chosen) == 2
    i = ids.index(chosen["item_id"].iloc[0])
    j = ids.index(chosen["item_id"].iloc[1])
    rest = next(k for k in range(12) if k not in (i, j))
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, "c", [(rest, 0)]), match="not wanted")
    with pytest.raises(errors.IncompleteTask):
        task.finalize()
    task.submit_many(pd.DataFrame({"item_id": [ids[i], ids[j]], "worker": ["c", "c"], "label": ["y", "y"]}))
    net.ledger.stake("d", tg.TAG, task_id=task.id, lock_blocks=0)
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, "d", [(i, 0)]), match="not wanted")
    res = task.finalize()
    assert res.payouts.sum() == 26 * tg.TAG and res.refund == 0
    assert net.verify()["transactions"] > 0
    refused(net, errors.RuleViolation, lambda: net.ledger.extend_task(task.id, alice, {0: 1}, tg.TAG), match="closed")


def test_replayed_on_rte_active_relabeling_needs_fewer_answers_than_random_order():
    """The weaker, fast form of the benchmark's claim (benchmarks/bench_active.py): on
    rte, with at most 60 % of the answers, the active order comes within half a point
    of the full-overlap Dawid-Skene accuracy and beats the random order there."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "crowd" / "rte"
    if not root.exists():
        pytest.skip("../shared/data/crowd is missing")
    answers = pd.read_csv(root / "answers.csv")
    truth = pd.read_csv(root / "truth.csv").set_index("task")["truth"]
    full = tg.consensus.DawidSkene().fit_predict(answers)
    target = float((full.reindex(truth.index) == truth).mean())
    active = tg.consensus.active.replay_curve(answers, truth, step=0.1, seed=0)
    random = tg.consensus.active.replay_curve(answers, truth, step=0.1, seed=0, policy="random")
    assert active["answers"].iloc[-1] == len(answers) and active["accuracy"].iloc[-1] == pytest.approx(target)
    a60 = active.loc[active["fraction"] <= 0.6, "accuracy"].max()
    r60 = random.loc[random["fraction"] <= 0.6, "accuracy"].max()
    assert a60 >= target - 0.005 and a60 > r60, (a60, r60, target)


def test_extend_never_buys_control_items(tmp_path):
    """Control items with split answers used to rank as uncertain and were bought: budget
    spent on labels the owner knows, and the control shown to one more worker."""
    with tg.Network.open(tmp_path / "m") as net:
        alice = net.create_account("alice", fund=100 * tg.TAG)
        ws = net.create_accounts(["a", "b", "c", "d", "e", "f"], fund=5 * tg.TAG)
        task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                                items=ITEMS, overlap=2, budget=24 * tg.TAG, stake=tg.TAG,
                                reward_policy=tg.rewards.Flat(per_answer=tg.TAG), gold={0: "y", 1: "n"})
        asg = task.assign(ws[:4]).copy()
        asg["label"] = "y"
        split = asg["item_id"].isin([0, 1, 2, 3])
        asg.loc[split & asg.duplicated("item_id"), "label"] = "n"
        task.submit_many(asg[["item_id", "worker", "label"]])
        new = task.extend(2 * tg.TAG, ws)
        assert set(new["item_id"]) == {2, 3} and not new["control"].any()
        refused(net, errors.InvalidArgument, lambda: task.extend(11 * tg.TAG, ws), match="control items are not extended")


def test_next_items_exclude_and_the_methods_it_cannot_rank_with():
    df = pd.DataFrame({"task": np.repeat(ITEMS, 2), "worker": ["a", "b"] * 12,
                       "label": ["y", "n"] * 4 + ["y", "y"] * 8})
    top = tg.consensus.next_items(df, 4, method="majority_vote", exclude=["q0", "q3", "unknown"])
    assert list(top.index[:2]) == ["q1", "q2"] and not {"q0", "q3"} & set(top.index)
    with pytest.raises(errors.InvalidArgument, match="exclude must be a collection"):
        tg.consensus.next_items(df, 2, exclude="q0")
    # KOS's probas_ are one-hot: every task would rank as certain, so the split ones could not come first.
    for method in ("kos", tg.consensus.KOS()):
        with pytest.raises(errors.InvalidArgument, match="one-hot"):
            tg.consensus.next_items(df, 2, method=method)
    for method in ("gold_majority_vote", tg.consensus.GoldMajorityVote()):
        with pytest.raises(errors.InvalidArgument, match="needs gold labels"):
            tg.consensus.next_items(df, 2, method=method)


def test_capacity_is_one_int_or_one_per_worker(tmp_path):
    """A list of the wrong length raised numpy's broadcast error (extend) or an IndexError
    (assign), and floats were cut down to ints without a word."""
    with tg.Network.open(tmp_path / "m") as net:
        alice, ws, task = _published(net)
        for cap, match in (([1, 2], "capacity has 2 values for 4 workers"), (2.7, "got 2.7"), ([6, 6, 6, 6.0], "got 6.0"),
                           (-1, ">= 0"), ([[6, 6], [6, 6]], "2-d"), (True, "got True"), (2**63, r"at most 2\*\*63 - 1")):
            refused(net, errors.InvalidArgument, lambda: task.assign(ws, capacity=cap), match=match)
        asg = task.assign(ws, capacity=np.array([6, 6, 6, 6])).copy()
        asg["label"] = np.where(asg["item_id"].isin([0, 1]) & asg.duplicated("item_id"), "n", "y")
        task.submit_many(asg[["item_id", "worker", "label"]])
        more = net.create_accounts(["e", "f"], fund=5 * tg.TAG)
        refused(net, errors.InvalidArgument, lambda: task.extend(2 * tg.TAG, ws + more, capacity=[1, 2]),
                match="extend: capacity has 2 values for 6 workers")
        refused(net, errors.InvalidArgument, lambda: task.extend(2 * tg.TAG, ws + more, capacity=1.5), match="got 1.5")
        assert len(task.extend(2 * tg.TAG, ws + more, capacity=[0, 0, 0, 0, 1, 1])) == 2


def test_extend_again_before_the_answers_arrive_buys_other_items():
    # The bought slots are open until answered: ranking only the answers in hand chose the
    # same most uncertain item at every call (five calls bought five answers for q0).
    net = tg.Network.memory()
    alice, ws, task, _ = _answered_task(net)
    more = net.create_accounts(["e", "f", "g"], fund=5 * tg.TAG)
    bought = [task.extend(tg.TAG, more)["item_id"].item() for _ in range(4)]
    assert sorted(bought) == [0, 1, 2, 3]
    assert task.progress.set_index("item_id").loc[[0, 1, 2, 3], "missing"].tolist() == [1, 1, 1, 1]
    assert task.budget == 28 * tg.TAG == net.ledger.task(task.id)["budget"]  # the repr showed 24 TAG
    with pytest.raises(errors.InvalidArgument, match="still open"):
        task.extend(9 * tg.TAG, more)


def test_extend_refuses_workers_it_cannot_ask(tmp_path):
    net = tg.Network.memory()
    alice, ws, task, _ = _answered_task(net)
    net.create_accounts(["b2", "cd"], fund=5 * tg.TAG)
    # One name as a str was read letter by letter ("cd": the workers c and d).
    refused(net, errors.InvalidArgument, lambda: task.extend(tg.TAG, "cd"), match=r"write \['cd'\]")
    # Only the labelers of the most uncertain item: the error names the item, not the row
    # number 0 of the chosen list.
    answers = task.answers().rename(columns={"item_id": "task"})
    top = tg.consensus.next_items(answers, 1, method=task.method, labels=task.labels).index[0]
    labelers = answers.loc[answers["task"] == top, "worker"].tolist()
    refused(net, errors.InfeasibleAssignment, lambda: task.extend(tg.TAG, labelers), match=rf"\(items {top}\)")


def test_the_copilot_holds_no_extend_slot():
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    ws = net.create_accounts(["a", "b", "c"], fund=5 * tg.TAG)
    task = net.publish_task(owner=alice, title="Yes or no", description="Answer yes or no.", labels=["y", "n"],
                            items=ITEMS, overlap=2, budget=24 * tg.TAG, stake=tg.TAG, copilot=True,
                            reward_policy=tg.rewards.Flat(per_answer=tg.TAG))
    asg = task.assign(ws[:2]).copy()
    asg["label"] = np.where(asg["item_id"].isin(ITEMS[:2]) & asg.duplicated("item_id"), "n", "y")
    task.submit_many(asg[["item_id", "worker", "label"]])
    refused(net, errors.InvalidArgument, lambda: task.extend(tg.TAG, [ws[2], task.copilot]), match="copilot")


def test_the_ledger_extend_takes_int_items_and_counts_only():
    net = tg.Network.memory()
    alice, ws, task, _ = _answered_task(net, assign=False)
    for bad in ({0.7: 1}, {0: 1.9}, {"3": 1}, {True: 1}, {0: True}):
        refused(net, errors.InvalidArgument, lambda: net.ledger.extend_task(task.id, alice, bad, tg.TAG), match="must be an int")
    many = {i: 1 for i in range(100_001)}
    refused(net, errors.InvalidArgument, lambda: net.ledger.extend_task(task.id, alice, many, 100_001 * tg.TAG),
            match="several extends")


def test_the_ledger_assigns_int_items_only():
    # int() truncated a float to another item (1.9 granted item 1) and read "3" as item 3.
    net = tg.Network.memory()
    alice, ws, task = _published(net)
    net.ledger.stake(ws[0], tg.TAG, task_id=task.id, lock_blocks=0)
    for bad in ([1.9], ["3"], [True], [np.float64(2.0)]):
        refused(net, errors.InvalidArgument, lambda: net.ledger.assign_slots(task.id, alice, {ws[0]: bad}),
                match="items must be ints")
    net.ledger.assign_slots(task.id, alice, {ws[0]: [np.int64(1)]})


def test_the_owners_task_sees_answers_sent_from_the_workers_own_clients():
    # Answers a worker signs and sends itself reach the ledger, not the owner's Task object:
    # progress showed them missing, finalize refused ("held by e") and extend ranked the
    # answers it had. The Task now reads the blocks it has not seen.
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net)
    more = net.create_accounts(["e", "f"], fund=5 * tg.TAG)
    new = task.extend(2 * tg.TAG, more)
    for w, g in new.groupby("worker"):
        net.ledger.submit_answers(task.id, w, [(int(i), 0) for i in g["item_id"]])
    assert task.progress["missing"].sum() == 0 and len(task.answers()) == len(asg) + 2
    refused(net, errors.RuleViolation, lambda: task.submit(new["worker"].iloc[0], new["item_id"].iloc[0], "y"),
            match="already answered")
    res = task.finalize()
    assert res.payouts.sum() == 26 * tg.TAG and set(new["worker"]) <= set(res.payouts.index)
    assert len(task.answers()) == len(asg) + 2  # its own answers are not read twice


def test_extend_ranks_answers_that_came_only_from_the_workers_clients(tmp_path):
    # extend refused "no answers yet" when every answer came from the workers' own clients
    # (it looked before reading the new blocks); after a reopen the budget counted no extend.
    with tg.Network.open(tmp_path / "m") as net:
        alice, ws, task = _published(net)
        asg = task.assign(ws[:2])
        for w, g in asg.groupby("worker"):
            net.ledger.submit_answers(task.id, w, [(int(i), int(i < 4 and w == "b")) for i in g["item_id"]])
        new = task.extend(2 * tg.TAG, ws[2:])
        assert len(new) == 2 and set(new["item_id"]) <= {0, 1, 2, 3}
        tid = task.id
    with tg.Network.open(tmp_path / "m") as net:
        assert net.task(tid).budget == 26 * tg.TAG == net.ledger.task(tid)["budget"]


def _ab_task(net, n_items, overlap, n_workers, **kw):
    """alice's task of n_items "review i" items labeled a or b at 1 TAG an answer, and workers
    w0..w{n_workers-1} with 100 TAG each."""
    alice = net.create_account("alice", fund=1000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(n_workers)], fund=100 * tg.TAG)
    kw.setdefault("stake", tg.TAG)
    task = net.publish_task(owner=alice, title="T", description="Label reviews as a or b.", labels=["a", "b"],
                            items=[f"review {i}" for i in range(n_items)], overlap=overlap,
                            budget=n_items * overlap * tg.TAG, reward_policy=tg.rewards.Flat(per_answer=tg.TAG), **kw)
    return alice, ws, task


def _split_everywhere(net, path=None):
    """alice's task of 20 a/b items, overlap 2, every item's two answers split, submitted in a
    shuffled order; workers w0..w3 (w3 answered nothing)."""
    alice, ws, task = _ab_task(net, 20, 2, 4)
    asg = task.assign(ws[:3])
    lab = ["b" if k else "a" for k in asg.groupby("item_id").cumcount()]
    task.submit_many(asg.assign(label=lab)[["item_id", "worker", "label"]].sample(frac=1, random_state=3))
    return alice, ws, task


def test_the_items_extend_buys_do_not_depend_on_the_session(tmp_path):
    # Near ties broke by the order of the answer rows, which is the caller's order in the
    # session that submitted them and the ledger's after a reopen: the two bought different items.
    picks = []
    for reopen in (False, True):
        net = tg.Network.open(tmp_path / f"m{reopen}")
        _, _, task = _split_everywhere(net)
        if reopen:
            tid = task.id
            net.close()
            net = tg.Network.open(tmp_path / f"m{reopen}")
            task = net.task(tid)
        picks.append(task.extend(5 * tg.TAG, ["w3"])["item_id"].tolist())
        net.close()
    assert picks[0] == picks[1]


def test_extend_leaves_out_workers_below_the_reputation_floor():
    # assign() left them out with a warning; extend() offered them to the solver, which took a
    # new account's high declared skill, and the ledger refused the whole extend.
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=1000 * tg.TAG)
    ws = net.create_accounts(["w0", "w1", "w2"], fund=100 * tg.TAG)
    star = net.create_account("star", fund=100 * tg.TAG, skills={"*": 0.99})
    kw = dict(owner=alice, title="T", description="Label reviews as a or b.", labels=["a", "b"],
              items=[f"review {i}" for i in range(10)], overlap=2, budget=30 * tg.TAG,
              reward_policy=tg.rewards.Flat(per_answer=tg.TAG), stake=tg.TAG)
    first = net.publish_task(**kw)
    first.submit_many(first.assign(ws).assign(label="a")[["item_id", "worker", "label"]])
    first.finalize()  # w0..w2 earn a record above 0.6; star has none (0.5)
    task = net.publish_task(**kw, min_reputation=0.6)
    with pytest.warns(UserWarning, match="below the task's reputation floor"):
        asg = task.assign(ws + [star])
    task.submit_many(asg.assign(label=["b" if k else "a" for k in asg.groupby("item_id").cumcount()])
                     [["item_id", "worker", "label"]])
    with pytest.warns(UserWarning, match="extend: 1 worker.*below the task's reputation floor.*star"):
        new = task.extend(3 * tg.TAG, ws + [star])
    assert len(new) == 3 and "star" not in set(new["worker"]) and "star" not in [w.name for w in task.workers]


def test_a_refused_extend_adds_no_worker_to_the_task():
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net)
    extra = net.create_accounts(["e1", "e2"], fund=0)  # cannot stake
    before = [w.name for w in task.workers]
    refused(net, errors.InsufficientFunds, lambda: task.extend(2 * tg.TAG, extra))
    assert [w.name for w in task.workers] == before


def test_a_slashed_worker_tops_its_stake_up_rather_than_staking_it_again():
    # The ledger's stake amount is already net of the slash; the client took the slash off a
    # second time and locked a whole stake more (15 TAG bound for a 10 TAG stake), and with
    # stake=False refused a worker holding exactly the task's stake.
    net = tg.Network.memory()
    alice, ws, task = _ab_task(net, 6, 2, 5, stake=10 * tg.TAG, deadline=20, expiry_slash_bps=5000)
    asg = task.assign(ws[:3])
    lazy = asg["worker"].iloc[-1]
    others = set(asg["item_id"]) - set(asg.loc[asg["worker"] == lazy, "item_id"])  # split: ranked first
    lab = ["b" if k and i in others else "a" for k, i in zip(asg.groupby("item_id").cumcount(), asg["item_id"])]
    task.submit_many(asg.assign(label=lab).drop(index=asg.index[-1])[["item_id", "worker", "label"]])
    while net.height + 1 < task.deadline:
        net.transfer(alice, "w4", 1)
    task.reassign(["w3"])
    assert net.ledger.stake_of(lazy, task.id)["amount"] == 5 * tg.TAG
    balance = net.balance(lazy)
    new = task.extend(tg.TAG, [lazy])
    assert list(new["worker"]) == [lazy]
    assert net.ledger.stake_of(lazy, task.id)["amount"] == 10 * tg.TAG and balance - net.balance(lazy) == 5 * tg.TAG


def test_an_extend_past_the_ledgers_list_bound_is_split_into_several_transactions():
    # A budget for more than 100,000 items failed with the raw ledger's "buy them in several
    # extends"; Task.extend now sends several extend transactions in one block.
    n = 100_010
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=10 ** 6 * tg.TAG)
    net.create_account("w0")
    task = net.publish_task(owner=alice, title="T", description="Label reviews as a or b.", labels=["a", "b"],
                            items=[f"r{i}" for i in range(n)], overlap=1, budget=n * 1000,
                            reward_policy=tg.rewards.Flat(per_answer=1000))
    task.submit_many(pd.DataFrame({"item_id": np.arange(n), "worker": "w0",
                                   "label": np.where(np.arange(n) % 3, "a", "b")}))
    height = net.height
    assert len(task.extend(n * 1000)) == n
    assert net.height == height + 1 and task.budget == 2 * n * 1000
    assert (net.ledger.item_extra(task.id) == 1).all()


def test_extend_errors_name_the_owner_the_worker_and_the_item():
    net = tg.Network.memory()
    alice, ws, task, asg = _answered_task(net)
    net.transfer(alice, "d", net.balance(alice))
    refused(net, errors.InsufficientFunds, lambda: task.extend(2 * tg.TAG, ws),
            match=r"the owner alice has 0 TAG, and 2 more answer\(s\) at 1 TAG each lock 2 TAG")
    net.transfer("d", alice, 10 * tg.TAG)
    new = task.extend(tg.TAG, ws)
    item = new["item_id"].iloc[0]
    earlier = asg.loc[asg["item_id"] == item, "worker"].iloc[0]
    refused(net, errors.RuleViolation, lambda: task.submit(earlier, item, "y"),
            match=f"worker {earlier} already answered item {item} ")
    for items, what in (({-1: 1}, "an item number"), ({1: -1}, "the extra answers of item 1")):
        refused(net, errors.InvalidArgument, lambda: net.ledger.extend_task(task.id, alice, items, tg.TAG),
                match=f"{what} must be >= 0")


def test_extend_on_an_adaptive_task_skips_the_items_the_copilot_settled():
    # One human answer agreeing with a confident copilot completes an item under adaptive
    # overlap; with one answer it ranked as the most uncertain, and extend bought it.
    net = tg.Network.memory()
    alice, ws, task = _ab_task(net, 8, 3, 6, copilot=True, adaptive=0.9)
    task.pre_annotate(lambda texts: np.tile([0.95, 0.05], (len(texts), 1)))
    asg = task.assign(ws[:3])
    task.submit_many(asg.assign(label=["a" if i % 2 == 0 else "b" for i in asg["item_id"]])
                     [["item_id", "worker", "label"]])  # even items agree with the copilot: settled
    while len(nxt := task.assign_next(ws[:5])):
        task.submit_many(nxt.assign(label=["a" if k % 2 else "b" for k in range(len(nxt))])
                         [["item_id", "worker", "label"]])
    bought = task.extend(4 * tg.TAG, ws)["item_id"].tolist()
    assert sorted(bought) == [1, 3, 5, 7]
    with pytest.raises(errors.InvalidArgument, match="nor the 4 the copilot's agreement settled"):
        task.extend(8 * tg.TAG, ws)
