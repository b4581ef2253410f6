"""Stateful property test of the money invariants over random sequences of calls (hypothesis).

A Python model tracks the exact (rational) entitlement of every account; after every step the contract must
agree to within the floor of each account's share, hold exactly what it still owes plus a small carried
remainder, never have paid anyone more than its entitlement, and have delivered every withdrawal exactly (coin
or token). The treasury gets exactly floor(amount x cut / 10000) of every distribution; the rounding dust goes
to the holders. Pauses (the pauser's, lapsing by itself, and governance's) stop every movement of money and
nothing else; unauthorised calls and replayed settlements revert.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from tempfile import mkdtemp

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fairshare.errors import TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import connect, deploy_test_stablecoin
from tests.ledger.conftest import make_consortium

MEMBERS = 4
CUT_BPS = 700
PAUSE_BLOCKS = 6


class MoneyMachine(RuleBasedStateMachine):
    chain_url: str | None = None
    token: bool = False

    @initialize()
    def deploy(self) -> None:
        self.chain = connect(self.chain_url, Path(mkdtemp()))
        token = deploy_test_stablecoin(self.chain, self.chain.operator.address, 10**30) if self.token else ""
        self.c = make_consortium(self.chain, members=MEMBERS, cut_bps=CUT_BPS, token=token, pause_blocks=PAUSE_BLOCKS)
        self.client = self.c.client
        self.members, self.treasury, self.outsider = self.c.members, self.c.treasury, self.c.outsider
        self.accounts = [*self.members, self.treasury]
        self.shares = [0] * MEMBERS
        self.exact = {a.address: Fraction(0) for a in self.accounts}
        self.treasury_exact = 0
        self.withdrawn = {a.address: 0 for a in self.accounts}
        self.received = {a.address: 0 for a in self.accounts}
        self.waiting = Fraction(0)  # revenue that arrived while no shares existed
        self.round = 0
        self.totals: dict[bytes, int] = {}
        self.pauser_armed = True

    def teardown(self) -> None:
        self.chain.close()

    def paused(self, transactions: int = 1) -> bool:
        """Whether the last of the next ``transactions`` transactions (one per block) lands in a paused block."""
        return self.client.paused_until() > self.chain.w3.eth.block_number + transactions

    def balance(self, address: str) -> int:
        return self.client.balance_of(address)

    @rule(amounts=st.lists(st.integers(-(10**6), 10**6), min_size=MEMBERS, max_size=MEMBERS))
    def record_round(self, amounts: list[int]) -> None:
        call = lambda: self.c.record(self.round + 1, amounts)  # noqa: E731
        if self.paused() and any(a > 0 for a in amounts):
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                call()
            return
        call()
        self.round += 1
        self.shares = [s + max(a, 0) for s, a in zip(self.shares, amounts, strict=True)]

    @rule(source=st.integers(0, 3), growth=st.integers(1, 10**20))
    def distribute(self, source: int, growth: int) -> None:
        sid = source.to_bytes(32, "big")
        total = self.totals.get(sid, 0) + growth
        if self.paused(2 if self.token else 1):  # a token settlement approves first, one block earlier
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                self.client.settle(self.chain.operator, sid, {sid: total})
            return
        self.client.settle(self.chain.operator, sid, {sid: total})
        self.totals[sid] = total
        cut = growth * CUT_BPS // 10_000
        self.treasury_exact += cut
        self.exact[self.treasury.address] += cut
        pool = Fraction(growth - cut) + self.waiting
        total_shares = sum(self.shares)
        if total_shares == 0:
            self.waiting = pool
            return
        self.waiting = Fraction(0)
        for member, share in zip(self.members, self.shares, strict=True):
            self.exact[member.address] += pool * share / total_shares

    @rule(source=st.integers(0, 3))
    def replay_a_settlement(self, source: int) -> None:
        sid = source.to_bytes(32, "big")
        if sid not in self.totals:
            return
        with pytest.raises(TransactionError, match="already settled|running total not above|paused"):
            self.client.settle(self.chain.operator, sid, {sid: self.totals[sid]})

    @rule(who=st.integers(0, MEMBERS))
    def withdraw(self, who: int) -> None:
        account = self.accounts[who]
        due = self.client.withdrawable(account.address)
        if self.paused() and due > 0:
            with pytest.raises(TransactionError, match="RevenueShares: paused"):
                self.client.withdraw(account)
            return
        before = self.balance(account.address)
        amount, _ = self.client.withdraw(account)
        assert amount == due
        self.withdrawn[account.address] += amount
        if self.token:  # gas is paid in the native coin, so the token balance shows the exact delivery
            assert self.balance(account.address) - before == amount
        self.received[account.address] += amount

    @rule(kind=st.sampled_from(["mint", "distribute", "record", "pause", "cut", "resume", "pauser"]))
    def unauthorised(self, kind: str) -> None:
        c, o = self.client, self.outsider
        call = {
            "mint": lambda: self.chain.send(o, c.revenue, "mint", o.address, 1, 1),
            "distribute": lambda: self.chain.send(o, c.revenue, "distribute", b"\xff" * 32, [b"\xff" * 32], [1]),
            "record": lambda: self.chain.send(
                o, c.log, "record_round", self.round + 1, b"\x01" * 32, "x", "", 0, [], []
            ),
            "pause": lambda: self.chain.send(o, c.revenue, "pause"),
            "cut": lambda: self.chain.send(o, c.revenue, "set_treasury_cut", 0),
            "resume": lambda: self.chain.send(o, c.revenue, "set_pause", 0),
            "pauser": lambda: self.chain.send(o, c.revenue, "set_pauser", o.address, 1),
        }[kind]
        with pytest.raises(TransactionError, match="caller is not the"):
            call()

    @rule()
    def pauser_pauses(self) -> None:
        """The operator (first pauser) stops the money at once, but only once until governance re-arms it."""
        if self.pauser_armed:
            self.chain.send(self.chain.operator, self.client.revenue, "pause")
            self.pauser_armed = False
            assert self.paused(0)
        else:
            with pytest.raises(TransactionError, match="the pauser has used its pause"):
                self.chain.send(self.chain.operator, self.client.revenue, "pause")

    @rule(blocks=st.integers(1, PAUSE_BLOCKS + 1))
    def time_passes(self, blocks: int) -> None:
        self.chain.mine(blocks)

    @rule(blocks=st.sampled_from([0, 3]))
    def governance_pauses_or_resumes(self, blocks: int) -> None:
        """A vote resumes now (0) or pauses a while; either way it re-arms the pauser."""
        self.c.govern(ProposalAction("pause", number=blocks))
        self.pauser_armed = True

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
        assert self.client.entitled(self.treasury.address) == self.treasury_exact  # the cut rounds down, exactly
        remainder = totals["balance"] - owed
        assert totals["balance"] == totals["deposited"] - totals["withdrawn"]
        assert totals["deposited"] == sum(self.totals.values())
        assert 0 <= remainder - totals["undistributed"] <= len(self.accounts)
        assert totals["undistributed"] == self.waiting
        for source, total in self.totals.items():
            assert self.client.settled_total(source) == total


MoneyMachine.TestCase.settings = settings(max_examples=10, stateful_step_count=15, deadline=None)
TestMoneyEmbedded = MoneyMachine.TestCase


class TokenMoneyMachine(MoneyMachine):
    token = True


TokenMoneyMachine.TestCase.settings = settings(max_examples=5, stateful_step_count=15, deadline=None)
TestTokenMoneyEmbedded = TokenMoneyMachine.TestCase


class AnvilMoneyMachine(MoneyMachine):
    pass


@pytest.fixture
def on_anvil(anvil_url: str, anvil_key: str) -> Iterator[None]:
    AnvilMoneyMachine.chain_url = anvil_url
    yield
    AnvilMoneyMachine.chain_url = None


@pytest.mark.usefixtures("on_anvil")
class TestMoneyAnvil(AnvilMoneyMachine.TestCase):
    settings = settings(max_examples=5, stateful_step_count=15, deadline=None)
