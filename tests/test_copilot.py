"""The AI copilot in the workflow and the rules around it that the ledger enforces:
pre-annotation as signed answers of an unpaid annotator, adaptive overlap that stops
where the copilot and the workers agree, signed answer durations for the fast-answer
rule, and a reputation floor on who may work."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tagger as tg
from tagger import errors

LABELS = ["neg", "pos"]


def refused(net, exc, fn, match=None):
    before = (net.height, net.state_root(), net.supply())
    with pytest.raises(exc, match=match):
        fn()
    assert (net.height, net.state_root(), net.supply()) == before, "a refused operation changed the ledger"


def make_task(n=40, overlap=3, seed=0, adaptive=0.8, copilot=True, n_workers=6, **kw):
    net = tg.Network.memory()
    owner = net.create_account("req", fund=10_000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(n_workers)], fund=100 * tg.TAG)
    truth = np.random.default_rng(seed).integers(0, 2, n)
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "data": [f"review {k}" for k in range(n)]})
    task = net.publish_task(owner, "Sentiment", "Label product reviews as positive or negative.", labels=LABELS,
                            items=items, overlap=overlap, budget=n * overlap * 1000, copilot=copilot,
                            adaptive=adaptive, **kw)
    return net, owner, ws, task, truth


def model_of(truth, wrong_every=4, confidence=0.9):
    """A copilot model right except on every ``wrong_every``-th item, always ``confidence`` sure."""
    def predict(texts):
        p = np.full((len(texts), 2), 1 - confidence)
        for r, t in enumerate(texts):
            k = int(t.split()[1])
            p[r, truth[k] if k % wrong_every else 1 - truth[k]] = confidence
        return p
    return predict


def answers_for(rows, truth, rng, duration=(5.0, 20.0)):
    k = rows["item_id"].str[1:].astype(int).to_numpy()
    return pd.DataFrame({"item_id": rows["item_id"].to_numpy(), "worker": rows["worker"].to_numpy(),
                         "label": np.array(LABELS)[truth[k]], "duration": rng.uniform(*duration, len(rows))})


def run_adaptive(task, ws, truth, rng):
    task.submit_many(answers_for(task.assign(ws), truth, rng))
    rounds = 0
    while not (more := task.assign_next(ws)).empty:
        task.submit_many(answers_for(more, truth, rng))
        rounds += 1
    return rounds


def test_adaptive_overlap_buys_fewer_answers_and_the_copilot_is_never_paid():
    net, owner, ws, task, truth = make_task()
    sugg = task.pre_annotate(model_of(truth))
    assert list(sugg.columns) == ["item_id", "suggestion", "confidence"] and len(sugg) == 40
    asg = task.assign(ws)
    assert {"suggestion", "confidence"} <= set(asg.columns) and len(asg) == 40  # one human per item first
    rng = np.random.default_rng(1)
    task.submit_many(answers_for(asg, truth, rng))
    while not (more := task.assign_next(ws)).empty:
        task.submit_many(answers_for(more, truth, rng))
    # 30 items where the copilot is right stop at one answer, the 10 others get all three.
    assert len(task.answers()) == 30 + 10 * 3
    assert task.progress["missing"].sum() == 0
    res = task.finalize()
    assert (res.labels.reindex([f"i{k}" for k in range(40)]).to_numpy() == np.array(LABELS)[truth]).all()
    cp = task.copilot
    assert net.balance(cp) == 0
    assert cp.name not in res.payouts.index and net.reputation(cp) == (0, 0)
    assert net.ledger.contributions(task.id, cp) == 0
    assert net.verify()["transactions"] > 0
    nft = task.mint_nft()
    named = {c["name"] for c in nft.manifest["contributors"]}
    assert cp.name not in named and len(named) == len(ws)


def test_the_ledger_keeps_the_copilot_in_its_lane():
    net, owner, ws, task, truth = make_task(n=10, adaptive=None)
    task.pre_annotate(model_of(truth))
    cp = task.copilot
    pairs = np.array([[0, 1]])
    # A worker cannot pass as a copilot, and the copilot must say how sure it is.
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, ws[0], pairs, confidence_ppm=[900_000]),
            match="only the task's copilot")
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, cp, pairs), match="confidence")
    # It answers each item once, and holds no slot.
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(task.id, cp, pairs, confidence_ppm=[1]),
            match="already answered")
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(task.id, owner, {cp: [0]}), match="copilot")
    # A finalize that pays it is refused.
    task.submit_many(answers_for(task.assign(ws), truth, np.random.default_rng(0)))
    honest = net.ledger.settlement(task.id, task._gold_salt, task._gold_codes(), False)
    forged = dict(honest, payouts=sorted(list(honest["payouts"]) + [(cp.address_bytes, 1)]))
    refused(net, errors.TransactionRejected, lambda: net.ledger.finalize_settled(
        task.id, owner, forged, gold_salt=task._gold_salt, gold=task._gold_codes(), partial=False))
    task.finalize()
    assert net.balance(cp) == 0


def test_an_item_only_the_copilot_answered_stays_out_of_the_dataset():
    net, owner, ws, task, truth = make_task(n=10, adaptive=None, deadline=1)
    task.pre_annotate(model_of(truth))
    asg = task.assign(ws)
    rng = np.random.default_rng(0)
    task.submit_many(answers_for(asg[asg["item_id"] != "i3"], truth, rng))
    with pytest.raises(errors.IncompleteTask):
        task.finalize()
    net.commit()
    net.commit()
    res = task.finalize(partial=True)
    assert "i3" not in res.labels.index and len(res.labels) == 9


def test_bad_copilot_settings_and_models_are_refused_clearly():
    net = tg.Network.memory()
    owner = net.create_account("req", fund=10_000 * tg.TAG)
    kw = dict(labels=LABELS, items=["a", "b"], overlap=1, budget=10_000)
    with pytest.raises(errors.InvalidArgument, match="publish with copilot=True"):
        net.publish_task(owner, "T", "d", adaptive=0.9, **kw)
    with pytest.raises(errors.InvalidArgument, match=r"confidence in \(0, 1\]"):
        net.publish_task(owner, "T", "d", copilot=True, adaptive=1.5, **kw)
    with pytest.raises(errors.InvalidArgument, match="not the task owner"):
        net.publish_task(owner, "T", "d", copilot=owner, **kw)
    with pytest.raises(errors.InvalidArgument, match="min_reputation"):
        net.publish_task(owner, "T", "d", min_reputation=2, **kw)
    with pytest.raises(errors.InvalidArgument, match="classification"):
        net.publish_task(owner, "T", "collect", kind="collection", items=2, budget=10_000, copilot=True)
    plain = net.publish_task(owner, "T", "d", **kw)
    with pytest.raises(errors.TaskStateError, match="no copilot"):
        plain.pre_annotate(lambda texts: np.ones((len(texts), 2)))
    task = net.publish_task(owner, "T", "d", copilot=True, **kw)
    with pytest.raises(errors.InvalidArgument, match="unnamed columns"):
        task.pre_annotate(lambda texts: np.ones((len(texts), 3)))
    with pytest.raises(errors.InvalidArgument, match="none of the model's classes"):
        task.pre_annotate(lambda texts: pd.DataFrame({"x": [1.0] * len(texts)}))
    with pytest.raises(errors.InvalidArgument, match="must be a tg.match.CategoryIndex"):
        task.pre_annotate(42)
    # One row the model cannot score costs only that row its suggestion.
    with pytest.warns(UserWarning, match="1 of 2 items"):
        got = task.pre_annotate(lambda texts: np.array([[np.nan, np.nan], [0.2, 0.8]]))
    assert got["item_id"].tolist() == [1] and got["suggestion"].tolist() == ["pos"]


def test_a_category_index_and_a_dataframe_model_pre_annotate_in_label_order():
    net, owner, ws, task, truth = make_task(n=4, adaptive=None)
    frame_model = lambda texts: pd.DataFrame({"pos": [0.7] * len(texts), "neg": [0.3] * len(texts)})  # noqa: E731
    got = task.pre_annotate(frame_model, items=["i0", "i1"])
    assert got["suggestion"].tolist() == ["pos", "pos"] and got["confidence"].tolist() == [0.7, 0.7]
    idx = tg.match.CategoryIndex().fit(["awful broken", "terrible bad", "great lovely", "excellent good"],
                                       ["neg", "neg", "pos", "pos"])
    got = task.pre_annotate(idx)  # i0, i1 keep their suggestion; i2, i3 get one
    assert got["item_id"].tolist() == ["i2", "i3"]
    assert len(task.suggestions) == 4


def test_signed_durations_ride_with_the_answers_and_survive_a_reopen(tmp_path):
    net = tg.Network.open(tmp_path / "m", create=True)
    owner = net.create_account("req", fund=1_000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(3)], fund=10 * tg.TAG)
    task = net.publish_task(owner, "T", "Label reviews.", labels=LABELS, items=["a", "b", "c"], overlap=1,
                            budget=3_000, copilot=True)
    task.pre_annotate(lambda texts: np.tile([0.25, 0.75], (len(texts), 1)))
    asg = task.assign(ws)
    bad = asg.assign(label="pos", duration=[1.0, -2.0, 3.0])
    refused(net, errors.InvalidArgument, lambda: task.submit_many(bad), match="duration of row 1")
    task.submit_many(asg.assign(label="pos", duration=[1.5, 2.25, 30.0]))
    assert task.answers()["duration"].tolist() == [1.5, 2.25, 30.0]
    tid = task.id
    net.close()
    net = tg.Network.open(tmp_path / "m")
    again = net.task(tid)
    assert sorted(again.answers()["duration"].tolist()) == [1.5, 2.25, 30.0]
    assert again.suggestions["confidence"].tolist() == [0.75] * 3
    net.close()


def test_the_ledger_enforces_the_fast_rule_with_signed_durations():
    net, owner, ws, task, truth = make_task(n=60, overlap=4, adaptive=None, copilot=False, n_workers=6, fraud=0.01)
    asg = task.assign(ws)
    rng = np.random.default_rng(2)
    ans = answers_for(asg, truth, rng, duration=(10.0, 30.0))
    ans.loc[ans["worker"] == "w5", "duration"] = 0.4  # right answers, but no one reads that fast
    task.submit_many(ans)
    report = task.fraud_report(funding=False)
    assert report.loc["w5", "fast"] and not report.drop("w5")["fast"].any()
    res = task.finalize()
    assert res.payouts.get("w5", 0) == 0 and all(res.payouts.get(f"w{i}", 0) > 0 for i in range(5))
    assert net.verify()["transactions"] > 0


def test_a_worker_below_the_reputation_floor_gets_no_slot_and_no_answer():
    net = tg.Network.memory()
    owner = net.create_account("req", fund=10_000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(4)], fund=100 * tg.TAG)
    # A first task leaves w3 with a record of wrong answers.
    items = [f"text {k}" for k in range(20)]
    first = net.publish_task(owner, "T1", "Label.", labels=LABELS, items=items, overlap=4, budget=80_000)
    asg = first.assign(ws)
    first.submit_many(asg.assign(label=np.where(asg["worker"] == "w3", "neg", "pos")))
    first.finalize()
    assert net.reputation("w3") == (0, 20)
    second = net.publish_task(owner, "T2", "Label.", labels=LABELS, items=items, overlap=2, budget=40_000,
                              min_reputation=0.4)
    assert second.min_reputation == 0.4
    with pytest.warns(UserWarning, match="below the task's reputation floor"):
        asg2 = second.assign(ws)
    assert "w3" not in set(asg2["worker"])
    refused(net, errors.RuleViolation, lambda: net.ledger.assign_slots(second.id, owner, {"w3": [0]}),
            match="below the task's floor of 4000 bps")
    third = net.publish_task(owner, "T3", "Label.", labels=LABELS, items=items, overlap=2, budget=40_000,
                             min_reputation=0.4)
    refused(net, errors.RuleViolation, lambda: net.ledger.submit_answers(third.id, "w3", [(0, 1)]),
            match="reputation of 454 bps")
    net.ledger.submit_answers(third.id, "w0", [(0, 1)])  # a worker above the floor answers


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), wrong_every=st.integers(2, 6), confidence=st.floats(0.55, 0.99),
       threshold=st.floats(0.5, 1.0), method=st.sampled_from(["dawid_skene", "majority_vote", "glad"]))
def test_property_the_copilot_is_never_paid_and_the_finalize_re_executes(seed, wrong_every, confidence, threshold,
                                                                         method):
    net, owner, ws, task, truth = make_task(n=24, seed=seed, adaptive=threshold, method=method)
    task.pre_annotate(model_of(truth, wrong_every, confidence))
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_adaptive(task, ws, truth, rng)
    settlement = net.ledger.settlement(task.id, task._gold_salt, task._gold_codes(), False)
    again = net.ledger.settlement(task.id, task._gold_salt, task._gold_codes(), False)
    assert bytes(settlement["result_hash"]) == bytes(again["result_hash"])
    cp = task.copilot.address_bytes
    assert all(bytes(a) != cp for a, _ in settlement["payouts"])
    assert all(bytes(a) != cp for a, *_ in settlement["reputation"])
    n_human = len(task.answers())
    assert 24 <= n_human <= 24 * 3
    if confidence < threshold:  # nothing stops early
        assert n_human == 24 * 3
    task.finalize()
    assert net.balance(task.copilot) == 0
    assert net.verify()["transactions"] > 0  # replays and re-executes the finalize from genesis


def test_the_copilot_alone_does_not_stop_the_owner_cancelling():
    net, owner, ws, task, truth = make_task(n=6, adaptive=None)
    before = net.balance(owner)
    task.pre_annotate(model_of(truth))
    assert net.ledger.task(task.id)["n_answers"] == 0
    assert task.cancel() == 6 * 3 * 1000
    assert net.balance(owner) == before + 6 * 3 * 1000


def test_the_ledger_refuses_the_owner_or_an_unknown_account_as_copilot():
    net, owner, ws, task, truth = make_task(n=2, adaptive=None)
    terms = dict(task.terms)
    refused(net, errors.RuleViolation, lambda: net.ledger.publish(owner, 10_000, dict(terms, copilot=owner.address_bytes)),
            match="not the task owner")
    stranger = tg.ledger.Account.generate("stranger")
    refused(net, errors.UnknownAccount, lambda: net.ledger.publish(owner, 10_000, dict(terms, copilot=stranger.address_bytes)))


def test_the_adaptive_rule_is_the_ledgers_function():
    from tagger._core import ledger as cl
    sugg, conf = np.array([1, 0, -1, 1], np.int32), np.array([900_000, 900_000, 0, 100], np.uint32)
    item, label = np.array([0, 0, 1, 1, 2, 3], np.int32), np.array([1, 1, 0, 1, 0, 1], np.int32)
    # Item 0: all agree; item 1: one disagrees; item 2: no suggestion; item 3: not confident enough.
    assert cl.settled_early(800_000, sugg, conf, item, label).tolist() == [True, False, False, False]
    with pytest.raises(errors.InvalidArgument, match="outside the 4 items"):
        cl.settled_early(800_000, sugg, conf, np.array([7], np.int32), np.array([0], np.int32))


def test_the_replay_and_its_helpers_refuse_bad_settings_with_the_reason():
    """numpy's and pandas' own errors (a negative seed, 'x' as anchoring, a Beta of (0, 1), an
    object frame of probabilities), and confidences in percent that settled every item at
    threshold 0.99, now name the setting; adaptive_budget refuses a negative or fractional budget
    as even_counts does."""
    from tagger.consensus import adaptive as A

    truth = pd.Series([0, 1, 0, 1, 1, 0] * 5, index=[f"t{i}" for i in range(30)])
    answers = A.simulate_crowd(truth, [0, 1], n_workers=6, per_item=3, seed=1)
    cop = A.synthetic_copilot(truth, 0.9)
    bad = {
        "seed must be an int >= 0": lambda: A.CopilotReplay(answers, truth, cop, overlap=3, seed=-1),
        r"seed must be an int >= 0 \(or None, or a numpy Generator\), got 1.5": lambda: A.CopilotReplay(
            answers, truth, cop, overlap=3, seed=1.5),
        "anchoring must be a probability": lambda: A.CopilotReplay(answers, truth, cop, overlap=3, anchoring="x"),
        "copilot confidence of task 't0' is 'high'": lambda: A.CopilotReplay(
            answers, truth, cop.assign(confidence="high"), overlap=3),
        r"copilot confidence of task 't0' is \d+\.\d+: confidences are probabilities": lambda: A.CopilotReplay(
            answers, truth, cop.assign(confidence=cop["confidence"] * 100), overlap=3),
        "correct must be the \\(a, b\\) of a Beta": lambda: A.synthetic_copilot(truth, 0.9, correct=5),
        "skill must be the \\(a, b\\) of a Beta": lambda: A.simulate_crowd(truth, [0, 1], n_workers=5, per_item=3,
                                                                            skill=(0, 1)),
        "proba must hold numbers": lambda: A.copilot_from_proba(pd.DataFrame([["a", "b"]], index=["t"], columns=[0, 1])),
    }
    for message, call in bad.items():
        with pytest.raises(errors.InvalidArgument, match=message):
            call()
    replay = A.CopilotReplay(answers, truth, cop, overlap=3)
    for budget in (-5, 2.7):
        with pytest.raises(errors.InvalidArgument, match="budget must be an integer >= 0"):
            replay.adaptive_budget(0.9, budget)
    assert tg.consensus.get_method("CommunityBCC").__class__ is tg.consensus.CBCC


def test_replays_decide_repeated_answers_once_and_take_numpys_seeds():
    """CopilotReplay and replay_curve refitted the shuffled replay many times, each refit warning
    about the same repeated answers (25-31 warnings per replay_curve call) with the replay's row
    numbers; the checks added on 2026-12-07 refused numpy arrays as Beta parameters, seed=None or
    a Generator, and a Fraction as anchoring, which had worked."""
    import warnings
    from fractions import Fraction

    from tagger.consensus import adaptive as A
    from tagger.consensus.active import replay_curve

    truth = pd.Series(np.arange(60) % 2, index=[f"t{i}" for i in range(60)])
    answers = A.simulate_crowd(truth, [0, 1], n_workers=6, per_item=4, skill=np.array([7.0, 3.0]))
    answers = pd.concat([answers, answers.iloc[:5]], ignore_index=True)
    cop = A.synthetic_copilot(truth, 0.8, correct=np.array([8.0, 2.0]))
    for run in (lambda: _replay_all(A.CopilotReplay(answers, truth, cop, overlap=4)),
                lambda: replay_curve(answers, truth, step=0.2)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            run()
        repeated = [w for w in seen if "repeated (task, worker)" in str(w.message)]
        assert len(repeated) == 1 and repeated[0].filename == __file__
    for seed in (None, np.random.default_rng(1)):
        A.CopilotReplay(answers.iloc[:-5], truth, cop, overlap=4, seed=seed)
    A.CopilotReplay(answers.iloc[:-5], truth, cop, overlap=4, anchoring=Fraction(1, 5))


def _replay_all(replay):
    replay.full()
    replay.adaptive(0.9)
    replay.adaptive_budget(0.9)
