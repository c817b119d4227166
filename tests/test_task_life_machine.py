"""Hypothesis state machine over random task lives: publish (with or without a
copilot and adaptive overlap), pre-annotate, assign, partial answers, the next
adaptive round, the deadline passing, reassign, extend (more answers for
uncertain items), cancel, (partial) finalize, mint, sale and a reopen of the
on-disk market. After every step: supply is conserved and every escrow and
stake is accounted to the base unit; no manifest holds a label outside its
task's label set; under Flat every answer is paid exactly the published rate;
the copilot never holds a token; a refused operation leaves the ledger
unchanged."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule  # noqa: E402

import tagger as tg  # noqa: E402
from tagger import errors  # noqa: E402

LABELS = ["a", "b", "c"]
N_ITEMS, OVERLAP, DEADLINE = 6, 2, 4


class TaskLife(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.dir = tempfile.TemporaryDirectory()
        self.net = tg.Network.open(self.dir.name + "/m", sync=False)
        self.net.create_account("owner", fund=1_000 * tg.TAG)
        self.net.create_account("buyer", fund=1_000 * tg.TAG)
        self.net.create_accounts([f"w{i}" for i in range(6)], fund=20 * tg.TAG)
        self.tasks: list = []   # open or settled Task objects (by id)
        self.flat: set[bytes] = set()
        self.n = 0

    def teardown(self):
        self.net.verify()  # every finalize re-executed from genesis
        self.net.close()
        self.dir.cleanup()

    def _ledger_state(self):
        return self.net.height, self.net.state_root(), self.net.supply()

    def _task(self, k):
        # Mostly the newest task, so that lives run to their end; sometimes an older one.
        return self.net.task(self.tasks[-1 - (k % len(self.tasks))]) if self.tasks else None

    # ---- rules
    @rule(flat=st.booleans(), deadline=st.booleans(), gold=st.booleans(), copilot=st.sampled_from([None, "plain", "adaptive"]))
    def publish(self, flat, deadline, gold, copilot=None):
        self.n += 1
        policy = tg.rewards.Flat() if flat else tg.rewards.ConsensusAccuracy()
        t = self.net.publish_task(owner="owner", title=f"Task {self.n}", description="Pick a, b or c.", labels=LABELS,
                                  items=[f"t{self.n}-{i}" for i in range(N_ITEMS)], overlap=OVERLAP,
                                  budget=12 * tg.TAG, reward_policy=policy, stake=tg.TAG,
                                  gold={0: "a"} if gold else None,
                                  deadline=DEADLINE if deadline else None, categories=0,
                                  copilot=copilot is not None, adaptive=0.6 if copilot == "adaptive" else None)
        self.tasks.append(t.id)
        if flat:
            self.flat.add(t.id)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), n_workers=st.sampled_from([1, 3, 4, 6]))
    def assign(self, k, n_workers):
        t = self._task(k)
        ws = [f"w{i}" for i in range(n_workers)]
        if t.status != "open" or t.assignment is not None:
            return
        if n_workers < (1 if t.adaptive else OVERLAP):
            before = self._ledger_state()
            with pytest.raises(errors.InfeasibleAssignment):
                t.assign(ws)
            assert self._ledger_state() == before
            return
        with _quiet():
            t.assign(ws, capacity=N_ITEMS)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), share=st.sampled_from([0.3, 0.7, 1.0]), seed=st.integers(0, 2**16))
    def answer(self, k, share, seed):
        t = self._task(k)
        if t.status != "open" or t.assignment is None:
            return
        done = t.answers()
        asg = t.assignment.merge(done[["item_id", "worker"]], how="left", indicator=True)
        todo = asg[asg["_merge"] == "left_only"][["item_id", "worker"]]
        rng = np.random.default_rng(seed)
        pick = todo[rng.random(len(todo)) < share].copy()
        if pick.empty:
            return
        pick["label"] = rng.choice(LABELS, len(pick))
        t.submit_many(pick)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), seed=st.integers(0, 2**16), some=st.booleans())
    def pre_annotate(self, k, seed, some):
        t = self._task(k)
        if t.status != "open" or t.terms["copilot"] is None:
            return
        rng = np.random.default_rng(seed)
        items = t.items["item_id"][rng.random(N_ITEMS) < 0.5].tolist() if some else None
        t.pre_annotate(lambda texts: rng.dirichlet(np.ones(len(LABELS)), len(texts)), items=items)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), n_workers=st.sampled_from([1, 3, 6]))
    def assign_next(self, k, n_workers):
        t = self._task(k)
        if t.status != "open" or t.assignment is None:
            return
        before = self._ledger_state()
        try:
            with _quiet():
                new = t.assign_next([f"w{i}" for i in range(n_workers)], capacity=N_ITEMS)
        except errors.InfeasibleAssignment:
            assert self._ledger_state() == before
            return
        assert not t.assignment.duplicated(["item_id", "worker"]).any()
        # An item's own overlap: the task's, plus the answers extend bought for it.
        extra = np.asarray(self.net.ledger.item_extra(t.id), dtype=np.int64)
        limit = OVERLAP + (extra if len(extra) else 0)
        assert (t.progress["assigned"].to_numpy() <= limit).all() or len(new) == 0

    @rule(n=st.integers(1, DEADLINE + 1))
    def blocks_pass(self, n):
        for _ in range(n):
            self.net.transfer("buyer", "owner", 1)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]))
    def reassign(self, k):
        t = self._task(k)
        if t.status != "open" or t.assignment is None or not t.deadline or self.net.height + 1 < t.deadline:
            return
        if t.progress["missing"].sum() == 0:
            return
        import warnings
        need = int(t.progress["missing"].sum())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = t.reassign(["w3", "w4", "w5"], capacity=N_ITEMS)
        # w3-w5 may hold or have answered items: a short grant is said, never silent.
        assert (len(new) < need) == any("reassign: granted" in str(w.message) for w in caught)

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), n=st.integers(1, 3), n_workers=st.sampled_from([2, 6]))
    def extend(self, k, n, n_workers):
        t = self._task(k)
        if t.status != "open" or t.assignment is None or t.answers().empty:
            return
        before, owner, escrow = self._ledger_state(), self.net.balance("owner"), t.escrow
        price = t.rate + int(t.terms["policy_base"])
        try:
            with _quiet():
                new = t.extend(n * price + price // 2, [f"w{i}" for i in range(n_workers)], capacity=N_ITEMS)
        except (errors.InfeasibleAssignment, errors.InvalidArgument):
            assert self._ledger_state() == before  # too few answered items or free workers: nothing changes
            return
        assert len(new) == n and not t.assignment.duplicated(["item_id", "worker"]).any()
        # Exactly the price of n answers moves from the owner into the escrow.
        assert self.net.balance("owner") == owner - n * price and t.escrow == escrow + n * price

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), rare=st.integers(0, 4))
    def cancel(self, k, rare):
        t = self._task(k)
        if t.status != "open" or rare:
            return
        info = self.net.ledger.task(t.id)
        if info["n_answers"]:
            before = self._ledger_state()
            with pytest.raises(errors.TaskStateError):
                t.cancel()
            assert self._ledger_state() == before
        else:
            owner = self.net.balance("owner")
            assert t.cancel() == info["escrow"]
            assert self.net.balance("owner") == owner + info["escrow"]

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), partial=st.booleans())
    def finalize(self, k, partial):
        t = self._task(k)
        if t.status != "open":
            return
        answers = t.answers()
        missing = int(t.progress["missing"].sum())
        early = bool(t.deadline) and self.net.height + 1 < t.deadline
        before = self._ledger_state()
        if answers.empty or (missing and not partial) or (partial and early):
            with pytest.raises((errors.IncompleteTask, errors.TaskStateError)):
                t.finalize(partial=partial)
            assert self._ledger_state() == before
            return
        res = t.finalize(partial=partial)
        assert set(res.labels.index) == set(answers["item_id"])
        n_w = answers.groupby("worker").size()
        rate = t.rate
        assert (res.payouts <= n_w.reindex(res.payouts.index) * rate).all()
        if t.id in self.flat:
            assert (res.payouts == n_w.reindex(res.payouts.index) * rate).all() and set(res.payouts.index) == set(n_w.index)
        for w in n_w.index:
            assert self.net.ledger.stake_of(w, t.id) is None  # released by the finalize

    @precondition(lambda self: self.tasks)
    @rule(k=st.sampled_from([0, 0, 0, 1]), sell=st.booleans())
    def mint_and_sell(self, k, sell):
        t = self._task(k)
        if t.status != "finalized" or self.net.ledger.task(t.id)["nft"] is not None:
            return
        nft = t.mint_nft()
        if sell:
            listing = self.net.market.list(nft, price=5 * tg.TAG, kind="license")
            self.net.market.buy(listing, buyer="buyer")
            df = self.net.dataset(nft, as_account="buyer").to_pandas()
            assert df["label"].isin(LABELS).all()

    @rule(flat=st.booleans(), deadline=st.booleans(), gold=st.booleans(), n_workers=st.sampled_from([3, 4, 6]),
          share=st.sampled_from([0.5, 0.8, 1.0]), late=st.booleans(), partial=st.booleans(), sell=st.booleans(),
          seed=st.integers(0, 2**16))
    def whole_life(self, flat, deadline, gold, n_workers, share, late, partial, sell, seed):
        """A life from publication to sale in one step (the fine-grained rules interleave
        with others; this one makes sure long lives are common)."""
        self.publish(flat, deadline, gold)
        self.assign(0, n_workers)
        self.answer(0, share, seed)
        if late:
            self.blocks_pass(DEADLINE + 1)
            self.reassign(0)
            self.answer(0, 1.0, seed + 1)
        self.finalize(0, partial)
        self.mint_and_sell(0, sell)

    @rule()
    def reopen(self):
        self.net.close()
        self.net = tg.Network.open(self.dir.name + "/m", sync=False)

    # ---- invariants
    @invariant()
    def supply_is_conserved_and_escrow_and_stakes_accounted(self):
        if not hasattr(self, "net"):
            return
        s = self.net.supply()
        assert s["balances"] + s["escrowed"] + s["staked"] == s["minted"]
        escrow = sum(self.net.ledger.task(t)["escrow"] for t in self.tasks)
        assert escrow == s["escrowed"]
        for tid in self.tasks:
            info = self.net.ledger.task(tid)
            if info["status"] != "open":
                assert info["escrow"] == 0
                for i in range(6):
                    assert self.net.ledger.stake_of(f"w{i}", tid) is None

    @invariant()
    def the_copilot_never_holds_a_token(self):
        if hasattr(self, "net") and "owner.copilot" in set(self.net.accounts["name"]):
            assert self.net.balance("owner.copilot") == 0

    @invariant()
    def manifests_hold_only_labels_of_their_task(self):
        if not hasattr(self, "net"):
            return
        for nft in self.net.nfts():
            _, leaves = self.net._load_manifest(nft.id)
            from tagger import codec
            assert all(codec.decode(x)[2] in LABELS for x in leaves)


class _quiet:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


TaskLife.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
test_task_lives = TaskLife.TestCase
