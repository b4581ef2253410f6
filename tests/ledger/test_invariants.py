"""Stateful property test of the money invariants over random sequences of calls (hypothesis).

A Python model tracks the exact (rational) entitlement of every account; after every step the contract must
agree to within the floor of each account's share, hold exactly what it still owes plus a small carried
remainder, and never have paid anyone more than its entitlement. Unauthorised calls must revert.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from tempfile import mkdtemp

import pytest
from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fairshare.errors import TransactionError
from fairshare.ledger import LedgerClient, connect, deploy_consortium

MEMBERS = 4
CUT_BPS = 700


class MoneyMachine(RuleBasedStateMachine):
    chain_url: str | None = None

    @initialize()
    def deploy(self) -> None:
        self.chain = connect(self.chain_url, Path(mkdtemp()))
        self.members = [Account.create() for _ in range(MEMBERS)]
        self.treasury, self.outsider = Account.create(), Account.create()
        for account in [*self.members, self.treasury, self.outsider]:
            self.chain.fund(account.address, 10**18)
        deployment = deploy_consortium(
            self.chain, name="p", treasury=self.treasury.address, treasury_cut_bps=CUT_BPS, oracle=self.chain.operator
        )
        self.client = LedgerClient(self.chain, deployment)
        self.accounts = [*self.members, self.treasury]
        self.shares = [0] * MEMBERS
        self.exact = {a.address: Fraction(0) for a in self.accounts}
        self.withdrawn = {a.address: 0 for a in self.accounts}
        self.waiting = Fraction(0)  # revenue that arrived while no shares existed
        self.round = 0
        self.settlement = 0
        self.paused = False

    def teardown(self) -> None:
        self.chain.close()

    @rule(amounts=st.lists(st.integers(0, 10**6), min_size=MEMBERS, max_size=MEMBERS))
    def record_round(self, amounts: list[int]) -> None:
        self.round += 1
        call = lambda: self.client.record_round(  # noqa: E731
            self.chain.operator,
            round_id=self.round,
            model_hash=self.round.to_bytes(32, "big"),
            method="exact",
            params="{}",
            seed=0,
            members=[m.address for m in self.members],
            scores=amounts,
            shares=amounts,
        )
        if self.paused and any(amounts):
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                call()
            self.round -= 1
            return
        call()
        self.shares = [s + a for s, a in zip(self.shares, amounts, strict=True)]

    @rule(amount=st.integers(1, 10**20))
    def distribute(self, amount: int) -> None:
        self.settlement += 1
        sid = self.settlement.to_bytes(32, "big")
        if self.paused:
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                self.client.distribute(self.chain.operator, sid, amount)
            return
        self.client.distribute(self.chain.operator, sid, amount)
        cut = amount * CUT_BPS // 10_000
        self.exact[self.treasury.address] += cut
        pool = Fraction(amount - cut) + self.waiting
        total = sum(self.shares)
        if total == 0:
            self.waiting = pool
            return
        self.waiting = Fraction(0)
        for member, share in zip(self.members, self.shares, strict=True):
            self.exact[member.address] += pool * share / total

    @rule(who=st.integers(0, MEMBERS))
    def withdraw(self, who: int) -> None:
        account = self.accounts[who]
        due = self.client.withdrawable(account.address)
        if self.paused and due > 0:
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                self.client.withdraw(account)
            return
        amount, _ = self.client.withdraw(account)
        assert amount == due
        self.withdrawn[account.address] += amount

    @rule(kind=st.sampled_from(["mint", "distribute", "record", "pause", "cut"]))
    def unauthorised(self, kind: int) -> None:
        c, o = self.client, self.outsider
        call = {
            "mint": lambda: self.chain.send(o, c.revenue, "mint", o.address, 1, 1),
            "distribute": lambda: self.chain.send(o, c.revenue, "distribute", b"\xff" * 32, 1, value=1),
            "record": lambda: self.chain.send(o, c.log, "record_round", 10**6, b"\x01" * 32, "x", "", 0, [], [], []),
            "pause": lambda: self.chain.send(o, c.revenue, "set_paused", True),
            "cut": lambda: self.chain.send(o, c.revenue, "set_treasury_cut", 0),
        }[kind]
        with pytest.raises(TransactionError, match="caller (is not the|cannot pause)"):
            call()

    @rule()
    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.chain.send(self.chain.operator, self.client.revenue, "set_paused", self.paused)

    @invariant()
    def money_is_conserved_and_nobody_is_overpaid(self) -> None:
        if not hasattr(self, "client"):
            return
        totals = self.client.totals()
        owed = 0
        for account in self.accounts:
            entitled = self.client.entitled(account.address)
            exact = self.exact[account.address]
            assert exact - 1 <= entitled <= exact, (account.address, entitled, float(exact))  # floor: < 1 unit lost
            assert self.withdrawn[account.address] == self.client.withdrawn(account.address) <= entitled
            owed += entitled - self.withdrawn[account.address]
        remainder = totals["balance"] - owed
        assert totals["balance"] == totals["deposited"] - totals["withdrawn"]
        assert 0 <= remainder - totals["undistributed"] <= len(self.accounts)
        assert totals["undistributed"] == self.waiting


MoneyMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=15, deadline=None)
TestMoneyEmbedded = MoneyMachine.TestCase


class AnvilMoneyMachine(MoneyMachine):
    pass


@pytest.fixture
def on_anvil(anvil_url: str, anvil_key: str) -> Iterator[None]:
    AnvilMoneyMachine.chain_url = anvil_url
    yield
    AnvilMoneyMachine.chain_url = None


@pytest.mark.usefixtures("on_anvil")
class TestMoneyAnvil(AnvilMoneyMachine.TestCase):
    settings = settings(max_examples=6, stateful_step_count=15, deadline=None)
