"""Anti-fraud rules: each flags its case and spares a near miss; bad input is refused
with the reason; a task's report reads its answers, gold and funding from the ledger;
and on tg.sim populations the combined flag meets the detection targets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tagger as tg
from tagger import errors
from tagger.consensus import FraudRules, fraud_report

LABELS = ["a", "b", "c", "d"]


def crowd(n_items=400, seed=0):
    """Twenty honest workers (accuracy 0.85, overlap 3) and named extras on every item:
    a random spammer, a constant bot, a weak honest worker (0.7), two copiers sharing
    one random label, and a worker who rushes one answer in ten."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n_items) % 4
    rows = []
    shared = rng.integers(0, 4, n_items)
    for t in range(n_items):
        for j in range(3):
            w = (t * 3 + j) % 20
            lab = truth[t] if rng.random() < 0.85 else (truth[t] + rng.integers(1, 4)) % 4
            rows.append((f"item{t}", f"honest{w:02d}", LABELS[lab], rng.lognormal(np.log(30), 0.3)))
        rows.append((f"item{t}", "random", LABELS[rng.integers(0, 4)], rng.lognormal(np.log(30), 0.3)))
        rows.append((f"item{t}", "constant", "a", rng.lognormal(np.log(30), 0.3)))
        weak = truth[t] if rng.random() < 0.7 else (truth[t] + 1) % 4
        rows.append((f"item{t}", "weak", LABELS[weak], rng.lognormal(np.log(30), 0.3)))
        rows.append((f"item{t}", "copier1", LABELS[shared[t]], rng.lognormal(np.log(30), 0.3)))
        rows.append((f"item{t}", "copier2", LABELS[shared[t]], 1.5))  # copies, and fast
        rows.append((f"item{t}", "hasty", LABELS[truth[t]], 1.0 if t % 10 == 0 else rng.lognormal(np.log(30), 0.3)))
    df = pd.DataFrame(rows, columns=["task", "worker", "label", "duration"])
    consensus = pd.Series([LABELS[x] for x in truth], index=[f"item{t}" for t in range(n_items)])
    return df, consensus


def test_each_rule_flags_its_case_and_spares_the_near_miss():
    df, consensus = crowd()
    gold = consensus.iloc[::10]
    rep = fraud_report(df, consensus, gold=gold)
    assert rep.index.name == "worker" and list(rep.index) == sorted(rep.index)
    honest = rep.index.str.startswith("honest")
    assert not rep.loc[honest, "flagged"].any(), rep[rep["flagged"] & honest]
    assert rep.loc["random", "spammer"] and not rep.loc["random", "constant"]
    assert rep.loc["constant", "spammer"] and rep.loc["constant", "constant"]
    assert rep.loc["constant", "chance"] == pytest.approx(0.25)
    assert not rep.loc["weak", "flagged"], rep.loc["weak"]
    assert rep.loc["copier1", "colluder"] and rep.loc["copier2", "colluder"]
    assert rep.loc["copier1", "collusion_group"] == rep.loc["copier2", "collusion_group"] == "copier1"
    assert rep.loc["copier2", "fast"] and not rep.loc["copier1", "fast"]
    assert not rep.loc["hasty", "fast"] and rep.loc["hasty", "n_fast"] == 40
    assert rep.loc["copier2", "reasons"].split(", ")[0] == "fast" and "colluder" in rep.loc["copier2", "reasons"]
    # Control items are every tenth item: labels a and c in turn, so the constant bot is
    # right on half of them, which 40 answers cannot tell from 0.6; a random one on a quarter.
    assert rep.loc["copier1", "control_fail"] and rep.loc["copier1", "n_control"] == 40
    assert not rep.loc["constant", "control_fail"] and not rep.loc["weak", "control_fail"]
    pairs = rep.attrs["pairs"]
    assert len(pairs) == 1 and set(pairs.iloc[0][["worker_a", "worker_b"]]) == {"copier1", "copier2"}
    assert pairs.iloc[0]["n_same"] == 400 and pairs.iloc[0]["n_same_wrong"] > 250
    assert 0 < rep.attrs["fast_base_rate"] < 0.05


def test_without_durations_or_gold_those_rules_are_not_tested():
    df, consensus = crowd(200)
    rep = fraud_report(df.drop(columns="duration"), consensus)
    assert (rep["n_timed"] == 0).all() and rep["fast_p"].isna().all() and not rep["fast"].any()
    assert rep["control_p"].isna().all() and not rep["control_fail"].any()
    assert rep.loc["random", "spammer"]


def test_the_report_is_deterministic_and_the_default_consensus_is_dawid_skene():
    df, consensus = crowd(200, seed=4)
    a = fraud_report(df)
    b = fraud_report(df, tg.consensus.DawidSkene())
    pd.testing.assert_frame_equal(a, b)
    assert a.loc["random", "spammer"] and a.loc["constant", "constant"]


def test_thresholds_change_the_verdict():
    df, consensus = crowd(200)
    strict = fraud_report(df, consensus, fast_min_share=0.05)
    assert strict.loc["hasty", "fast"]
    assert fraud_report(df, consensus, rules=FraudRules(fast_min_share=0.05)).loc["hasty", "fast"]


def test_bad_input_is_refused_with_the_reason():
    df, consensus = crowd(50)
    with pytest.raises(errors.InvalidArgument, match="thresholds are"):
        fraud_report(df, consensus, alpah=0.1)
    with pytest.raises(errors.InvalidArgument, match="not both"):
        fraud_report(df, consensus, rules=FraudRules(), alpha=0.1)
    with pytest.raises(errors.InvalidArgument, match="alpha"):
        fraud_report(df, consensus, alpha=0)
    with pytest.raises(errors.InvalidArgument, match="no label for task"):
        fraud_report(df, consensus.iloc[1:])
    with pytest.raises(errors.InvalidArgument, match="not among the answers' labels"):
        fraud_report(df, consensus.replace("a", "zzz"))
    with pytest.raises(errors.InvalidArgument, match="gold label"):
        fraud_report(df, consensus, gold={"item0": "zzz"})
    with pytest.raises(errors.InvalidArgument, match="funder and height"):
        fraud_report(df, consensus, funding=pd.DataFrame({"funder": ["x"]}, index=["random"]))
    bad = df.copy()
    bad.loc[3, "duration"] = -2.0
    with pytest.raises(errors.InvalidArgument, match="negative or infinite"):
        fraud_report(bad, consensus)
    with pytest.raises(errors.InvalidArgument, match="repeated"):
        fraud_report(pd.concat([df, df.iloc[:1]]), consensus)
    with pytest.raises(errors.InvalidArgument, match="missing column"):
        fraud_report(df.drop(columns="label"), consensus)
    # Types used to reach pybind ("incompatible function arguments"); text durations and
    # heights were coerced to NaN, silently switching their rule off.
    with pytest.raises(errors.InvalidArgument, match="min_shared is a count and must be an int, got 2.5"):
        fraud_report(df, consensus, min_shared=2.5)
    with pytest.raises(errors.InvalidArgument, match="alpha must be a number, got True"):
        FraudRules(alpha=True)
    text = df.assign(duration=df["duration"].astype(object))
    text.loc[5, "duration"] = "fast"
    with pytest.raises(errors.InvalidArgument, match="duration .* 'fast' at row 5 is not"):
        fraud_report(text, consensus)
    w = df["worker"].iloc[0]
    with pytest.raises(errors.InvalidArgument, match=f"funding has more than one row for worker '{w}'"):
        fraud_report(df, consensus, funding=pd.DataFrame({"funder": ["x", "y"], "height": [1, 2]}, index=[w, w]))
    with pytest.raises(errors.InvalidArgument, match="funding height .* 'soon'"):
        fraud_report(df, consensus, funding=pd.DataFrame({"funder": ["x"], "height": ["soon"]}, index=[w]))


def test_sybil_accounts_funded_by_one_farmer_answering_one_task():
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=1_000 * tg.TAG)
    farmer = net.create_account("farmer", fund=100 * tg.TAG)
    honest = net.create_accounts([f"h{i}" for i in range(6)], fund=20 * tg.TAG)
    sybils = net.create_accounts([f"s{i}" for i in range(4)])
    for s in sybils:
        net.transfer(farmer, s, 10 * tg.TAG)
    rng = np.random.default_rng(1)
    items = [f"text {i}" for i in range(40)]
    truth = pd.Series(rng.choice(LABELS, len(items)))
    task = net.publish_task(owner=alice, title="Topics", description="Pick the topic.", labels=LABELS, items=items,
                            overlap=3, budget=100 * tg.TAG, stake=0, gold=truth[:8].to_dict())
    asg = task.assign(honest + sybils)
    good = asg["worker"].str.startswith("h").to_numpy()
    asg["label"] = np.where(good & (rng.random(len(asg)) < 0.9), truth.reindex(asg["item_id"]).to_numpy(),
                            rng.choice(LABELS, len(asg)))
    task.submit_many(asg[["item_id", "worker", "label"]])
    before = (net.height, net.state_root())
    rep = task.fraud_report()
    assert (net.height, net.state_root()) == before, "a report must not write to the ledger"
    assert rep.loc[[s.name for s in sybils], "sybil"].all()
    assert (rep.loc[[s.name for s in sybils], "sybil_funder"] == "farmer").all()
    assert not rep.loc[[h.name for h in honest], "sybil"].any()
    pd.testing.assert_frame_equal(rep, task.fraud_report())
    assert not task.fraud_report(funding=False)["sybil"].any()
    empty = net.publish_task(owner=alice, title="Empty", description="x", labels=LABELS, items=items[:5],
                             overlap=1, budget=5 * tg.TAG)
    with pytest.raises(errors.InvalidArgument, match="no answers"):
        empty.fraud_report()


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_detection_on_a_simulated_population_meets_the_targets(share):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_fraud import simulate_detection

    row = simulate_detection(share=share, seed=0)
    assert row["precision"] >= 0.9, row
    assert row["recall"] >= 0.8, row
    assert row["honest_flagged"] == 0, row


# ---------------------------------------------------------------- the published screen

def _published(fraud, n_items=150):
    """Seven workers at overlap 4 on a published task; w6 answers at random."""
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=10_000 * tg.TAG)
    ws = net.create_accounts([f"w{i}" for i in range(7)], fund=20 * tg.TAG)
    rng = np.random.default_rng(2)
    items = [f"text {i}" for i in range(n_items)]
    truth = pd.Series(rng.choice(LABELS, n_items))
    task = net.publish_task(owner=alice, title="Topics", description="Pick the topic.", labels=LABELS, items=items,
                            overlap=4, budget=n_items * 4 * tg.TAG, fraud=fraud)
    asg = task.assign(ws)
    right = (asg["worker"] != "w6").to_numpy() & (rng.random(len(asg)) < 0.9)
    asg["label"] = np.where(right, truth.reindex(asg["item_id"]).to_numpy(), rng.choice(LABELS, len(asg)))
    task.submit_many(asg[["item_id", "worker", "label"]])
    return net, alice, task


def test_the_ledger_applies_the_published_screen_and_refuses_paying_a_flagged_worker():
    net, alice, task = _published(0.01)
    assert task.terms["fraud_alpha_ppm"] == 10_000
    spammer = net.account("w6").address_bytes
    honest = net.ledger.settlement(task.id, task._gold_salt, task._gold_codes())
    assert [bytes(a) for a in honest["flagged"]] == [spammer]
    assert spammer not in {bytes(a) for a, _ in honest["payouts"]}
    # A requester client that pays the flagged worker anyway is refused, nothing written.
    forged = dict(honest, payouts=sorted([(bytes(a), int(v)) for a, v in honest["payouts"]] + [(spammer, 1)]))
    before = (net.height, net.state_root(), net.supply())
    with pytest.raises(errors.InvalidTransaction, match="payout of w6"):
        net.ledger.finalize_settled(task.id, alice, forged, gold_salt=task._gold_salt, gold=task._gold_codes())
    assert (net.height, net.state_root(), net.supply()) == before
    result = task.finalize()
    wq = result.worker_quality
    assert bool(wq.loc["w6", "flagged"]) and not wq.drop(index="w6")["flagged"].any()
    assert wq.loc["w6", "payout"] == 0 and (wq.drop(index="w6")["payout"] > 0).all()
    assert net.reputation("w6")[0] == 0  # no answer counted right
    rep = task.fraud_report(funding=False)
    assert rep.loc["w6", "spammer"] and not rep.drop(index="w6")["flagged"].any()
    net.verify()


def test_without_the_screen_the_spammer_is_paid_and_the_terms_keep_nineteen_fields():
    net, alice, task = _published(None)
    assert task.terms["fraud_alpha_ppm"] == 0
    result = task.finalize()
    assert result.worker_quality.loc["w6", "payout"] > 0 and "flagged" not in result.worker_quality
    publish = [t for h in range(net.height + 1) for t in net.block(h).transactions if t.kind == "publish"]
    assert len(publish[0].fields["terms"]) == 19


@pytest.mark.parametrize("fraud, match", [(2, "alpha in"), (0.0, "alpha in"), ("yes", "alpha in"),
                                          (1e-9, "part per million")])
def test_a_bad_fraud_level_is_refused_before_anything_is_written(fraud, match):
    net = tg.Network.memory()
    alice = net.create_account("alice", fund=100 * tg.TAG)
    before = (net.height, net.state_root())
    with pytest.raises(errors.InvalidArgument, match=match):
        net.publish_task(owner=alice, title="T", description="d", labels=LABELS, items=["a", "b"], overlap=1,
                         budget=2 * tg.TAG, fraud=fraud)
    with pytest.raises(errors.InvalidArgument, match="labeling"):
        net.publish_task(owner=alice, title="T", description="d", kind="collection", items=2, overlap=1,
                         budget=2 * tg.TAG, fraud=True)
    assert (net.height, net.state_root()) == before


def test_first_fundings_match_each_accounts_history_in_one_pass():
    net = tg.Network.memory()
    farmer, other = net.create_accounts(["farmer", "other"], fund=100 * tg.TAG)
    subs = net.create_accounts([f"s{i}" for i in range(5)])
    for i, s in enumerate(subs[:4]):
        net.transfer(farmer if i % 2 == 0 else other, s, tg.TAG)
    net.transfer(other, subs[0], tg.TAG)  # a later transfer is not the first funding
    got = net.first_fundings([s.name for s in subs] + [farmer])
    for s in subs[:4]:
        h = net.history(s)
        first = h[(h["kind"] == "transfer") & ~h["outgoing"]].iloc[0]
        assert (got.loc[s.name, "funder"], got.loc[s.name, "height"]) == (first["sender"], first["height"])
    assert "s4" not in got.index and "farmer" not in got.index  # minted, never sent a transfer


def test_sybil_rule_leaves_out_unknown_funding_heights_and_refuses_impossible_ones():
    """NaN heights (documented "unknown") were read as block -1, so four accounts of one funder
    with unknown heights fell in one window and were flagged; inf became INT64_MIN."""
    rng = np.random.default_rng(0)
    workers = [f"w{i}" for i in range(12)]
    df = pd.DataFrame([(t, w, int(rng.random() < 0.8)) for t in range(60) for w in rng.choice(workers, 5, replace=False)],
                      columns=["task", "worker", "label"])

    def funding(heights):
        h = list(heights) + [float(i * 10_000) for i in range(len(workers) - 4)]
        return pd.DataFrame({"funder": ["F"] * 4 + [f"G{i}" for i in range(len(workers) - 4)], "height": h},
                            index=workers)

    assert tg.consensus.fraud_report(df, funding=funding([np.nan] * 4))["sybil"].sum() == 0
    assert tg.consensus.fraud_report(df, funding=funding([0, 10, np.nan, 20]))["sybil"].sum() == 0
    assert tg.consensus.fraud_report(df, funding=funding([0, 10, 30, 20]))["sybil"].sum() == 4
    for bad in (np.inf, -5, 2.5):
        with pytest.raises(tg.errors.InvalidArgument, match=f"funding height of worker 'w3' is {float(bad)!r}"):
            tg.consensus.fraud_report(df, funding=funding([0, 10, 20, bad]))


def test_fraud_report_names_a_bad_consensus_or_rules_argument():
    """A consensus Series with a task twice gave pandas' reindex error; rules={...} an
    AttributeError; min_shared=2**31 pybind11's 'incompatible function arguments'."""
    df = pd.DataFrame({"task": np.repeat(np.arange(10), 3), "worker": np.tile(["a", "b", "c"], 10),
                       "label": np.arange(30) % 2})
    mv = tg.consensus.MajorityVote().fit_predict(df)
    with pytest.raises(errors.InvalidArgument, match="consensus has more than one label for task 0"):
        fraud_report(df, pd.concat([mv, mv.iloc[:1]]))
    with pytest.raises(errors.InvalidArgument, match="rules must be a FraudRules"):
        fraud_report(df, mv, rules={"alpha": 0.05})
    with pytest.raises(errors.InvalidArgument, match=r"min_shared must be in \[0, 2\^31\)"):
        fraud_report(df, mv, min_shared=2**31)
