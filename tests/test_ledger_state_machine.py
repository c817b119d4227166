"""Hypothesis state machine: random sequences of valid and invalid transactions
against a plain-Python model of balances and nonces. After every step: total
supply equals minted supply, no balance is negative (all are uint64 and match
the model), every invalid transaction left the state unchanged, nonces only
increase."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule  # noqa: E402

import tagger as tg  # noqa: E402
from tagger import codec, errors  # noqa: E402
from tagger._core import ledger as _c  # noqa: E402
from tagger.ledger import KIND_CODES  # noqa: E402

U64 = 2**64 - 1
amounts = st.one_of(st.integers(0, 1_000), st.integers(0, 10**9), st.just(U64), st.integers(2**63, U64))


class LedgerMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")

    @initialize(target=accounts)
    def start(self):
        self.net = tg.Network.memory(fee_bps=100)
        self.balance: dict[bytes, int] = {}
        self.nonce: dict[bytes, int] = {}
        self.minted = 0
        self.escrowed = 0
        self.staked = 0
        self.tasks: list[tuple[str, bytes, int]] = []
        self.seen_nonces: dict[bytes, int] = {}
        self.n = 0
        a = self._new(1_000)
        return a

    # -- helpers
    def _new(self, fund):
        self.n += 1
        acct = self.net.create_account(f"u{self.n}", fund=fund)
        self.balance[acct.address_bytes] = fund
        self.nonce[acct.address_bytes] = 1  # the register tx
        self.minted += fund
        if fund:
            self.nonce[self.net.issuer.address_bytes] = self.net.nonce(self.net.issuer)
        return acct

    def _state(self):
        return self.net.state_root(), self.net.supply(), self.net.height

    def _refused(self, exc, fn):
        before = self._state()
        with pytest.raises(exc):
            fn()
        assert self._state() == before

    def _raw(self, acct, kind, payload, nonce=None, chain=None):
        n = self.net.nonce(acct) if nonce is None else nonce
        c = self.net.chain_id if chain is None else chain
        return _c.make_tx(acct.signing_key._k, c, KIND_CODES[kind], n, codec.encode(payload))

    # -- rules
    @rule(target=accounts, fund=st.integers(0, 10_000))
    def create(self, fund):
        return self._new(fund)

    @rule(src=accounts, dst=accounts, amount=amounts)
    def transfer(self, src, dst, amount):
        a, b = src.address_bytes, dst.address_bytes
        if amount == 0:
            with pytest.raises(errors.RuleViolation):
                self.net.transfer(src, dst, amount)
        elif amount > self.balance[a]:
            self._refused(errors.InsufficientFunds, lambda: self.net.transfer(src, dst, amount))
        else:
            self.net.transfer(src, dst, amount)
            self.balance[a] -= amount
            self.balance[b] += amount
            self.nonce[a] += 1

    @rule(dst=accounts, amount=amounts)
    def mint(self, dst, amount):
        if amount == 0:
            with pytest.raises(errors.RuleViolation):
                self.net.mint(dst, amount)
        elif self.minted + amount > U64:
            self._refused(errors.AmountOverflow, lambda: self.net.mint(dst, amount))
        else:
            self.net.mint(dst, amount)
            self.minted += amount
            self.balance[dst.address_bytes] += amount

    @rule(src=accounts, dst=accounts, amount=amounts)
    def non_issuer_mint(self, src, dst, amount):
        if amount == 0:
            return
        self._refused(errors.NotAuthorized, lambda: self.net.submit(self._raw(src, "mint", [dst.address_bytes, amount])))

    @rule(src=accounts, dst=accounts, delta=st.sampled_from([-1, 1, 5]))
    def bad_nonce(self, src, dst, delta):
        n = self.net.nonce(src) + delta
        if n < 0:
            return
        self._refused(errors.BadNonce, lambda: self.net.submit(self._raw(src, "transfer", [dst.address_bytes, 1, ""], nonce=n)))

    @rule(src=accounts, dst=accounts)
    def wrong_chain(self, src, dst):
        self._refused(errors.WrongChain, lambda: self.net.submit(
            self._raw(src, "transfer", [dst.address_bytes, 1, ""], chain=(self.net.chain_id + 1) % 2**64)))

    @rule(src=accounts, dst=accounts, pos=st.integers(0, 63))
    def forged(self, src, dst, pos):
        tx = bytearray(self._raw(src, "transfer", [dst.address_bytes, 1, ""]))
        tx[len(tx) - 64 + pos] ^= 0x01
        self._refused(errors.InvalidSignature, lambda: self.net.submit(bytes(tx)))

    @rule(owner=accounts, budget=st.integers(0, 2_000))
    def lock(self, owner, budget):
        a = owner.address_bytes
        if budget > self.balance[a]:
            self._refused(errors.InsufficientFunds, lambda: self.net.ledger.lock_escrow(owner, budget))
            return
        tid = self.net.ledger.lock_escrow(owner, budget)
        self.balance[a] -= budget
        self.escrowed += budget
        self.nonce[a] += 1
        self.tasks.append((owner.name, tid, budget))

    @rule(data=st.data())
    def refund(self, data):
        if not self.tasks:
            return
        name, tid, budget = self.tasks.pop(data.draw(st.integers(0, len(self.tasks) - 1)))
        owner = self.net.account(name)
        self.net.ledger.refund_escrow(tid, owner)
        self.balance[owner.address_bytes] += budget
        self.escrowed -= budget
        self.nonce[owner.address_bytes] += 1
        self._refused(errors.RuleViolation, lambda: self.net.ledger.refund_escrow(tid, owner))

    @rule(who=accounts, amount=st.integers(1, 500))
    def stake_and_unstake(self, who, amount):
        a = who.address_bytes
        if self.net.ledger.stake_of(who) is not None:
            self.staked -= self.net.ledger.unstake(who)  # lock period 0: unlocked
            self.balance[a] = self.net.balance(who)
            self.nonce[a] += 1
            return
        if amount > self.balance[a]:
            self._refused(errors.InsufficientFunds, lambda: self.net.ledger.stake(who, amount))
            return
        self.net.ledger.stake(who, amount)
        self.balance[a] -= amount
        self.staked += amount
        self.nonce[a] += 1

    @rule(data=st.data())
    def batch_all_or_nothing(self, data):
        accts = [self.net.account(f"u{i}") for i in range(1, self.n + 1)]
        src = data.draw(st.sampled_from(accts))
        before = self._state()
        with pytest.raises(errors.InsufficientFunds):
            with self.net.batch():
                if self.balance[src.address_bytes] > 0:
                    self.net.transfer(src, self.net.issuer, 1)
                self.net.transfer(src, self.net.issuer, U64)
        assert self._state() == before

    # -- invariants
    @invariant()
    def supply_is_conserved(self):
        s = self.net.supply()
        assert s["minted"] == self.minted == s["balances"] + s["escrowed"] + s["staked"]
        assert s["escrowed"] == self.escrowed and s["staked"] == self.staked

    @invariant()
    def balances_match_model_and_are_uint64(self):
        for a, bal in self.balance.items():
            got = self.net.balance(a)
            assert 0 <= got <= U64 and got == bal

    @invariant()
    def nonces_only_increase(self):
        for a, n in self.nonce.items():
            got = self.net.nonce(a)
            assert got >= self.seen_nonces.get(a, 0)
            self.seen_nonces[a] = got
            if a != self.net.issuer.address_bytes:
                assert got == n

    @invariant()
    def incremental_state_root_matches_reference(self):
        assert self.net.state_root() == self.net._led.state_root_reference()

    def teardown(self):
        if hasattr(self, "net"):
            assert self.net.verify()["blocks"] == self.net.height + 1


TestLedgerStateMachine = LedgerMachine.TestCase
TestLedgerStateMachine.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
