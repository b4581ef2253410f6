"""Stateful property test of the CreditVault (hypothesis) over random deposits, paid calls (signed receipts),
windows, settlements by the operator and by members from published receipts, forged receipts, refund requests
and refunds, and governed switches of the payout mode (the accumulator or Merkle roots), on the embedded chain
and anvil, in native coin and in an ERC-20.

A model tracks each key's deposits, the running total the API has billed (what its receipts say), what was
settled (and into which payout contract) and refunded. After every step: no unit created or lost (vault +
RevenueShares + EntitlementRoots hold exactly the deposits less the refunds), deposited == settled + refunded
+ held for every key, each payout contract's running total for a key is what the vault paid it, nothing
settled beyond what a key deposited, a receipt never settles twice (across mode switches too), and forged or
out-of-order totals revert.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from tempfile import mkdtemp

import pytest
from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fairshare.errors import TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import connect, deploy_test_stablecoin
from fairshare.ledger.deploy import contract_at
from fairshare.ledger.receipts import Receipt, ReceiptSigner, SignedReceipt, merkle_levels, merkle_proof
from fairshare.ledger.roots import RootsClient
from fairshare.ledger.vault import VaultClient, key_hash
from tests.ledger.conftest import make_consortium

KEYS = 3
NOTICE = 3
MODEL = bytes(range(32))
FUNDS = 10**15


class VaultMachine(RuleBasedStateMachine):
    chain_url: str | None = None
    token: bool = False

    @initialize(opening=st.lists(st.integers(0, 10**6), min_size=KEYS, max_size=KEYS))
    def deploy(self, opening: list[int]) -> None:
        """Deploy, and let each customer open its key with a deposit (0: none yet), so calls can be billed."""
        self.chain = connect(self.chain_url, Path(mkdtemp()))
        token = deploy_test_stablecoin(self.chain, self.chain.operator.address, 10**30) if self.token else ""
        self.c = make_consortium(self.chain, members=3, cut_bps=500, token=token)
        self.c.record(1, [1, 2, 3])
        self.c.govern(ProposalAction("refund-notice", number=NOTICE))
        self.vault = VaultClient(self.chain, self.c.deployment, self.c.client.index)
        self.roots = RootsClient(self.chain, self.c.deployment, self.c.client.index)
        self.mode = 0  # the Governor's payout mode: 0 the accumulator, 1 Merkle roots
        self.signer = ReceiptSigner(self.chain.operator, self.chain.chain_id, self.vault.address)
        self.customers = [Account.create() for _ in range(KEYS)]
        for customer in self.customers:
            self.chain.fund(customer.address, 10**18)
            if token:
                stablecoin = contract_at(self.chain, "TestStablecoin", token)
                self.chain.send(self.chain.operator, stablecoin, "mint", customer.address, FUNDS)
        self.keys = [key_hash(f"key-{k}") for k in range(KEYS)]
        self.deposited = [0] * KEYS
        self.billed = [0] * KEYS
        self.settled = [0] * KEYS
        self.paid_into = [[0] * KEYS, [0] * KEYS]  # per payout mode, what the vault paid that contract per key
        self.refunded = [0] * KEYS
        self.refund_at = [0] * KEYS
        self.pending: list[Receipt] = []  # billed, not yet in a window
        self.published: list[tuple[int, SignedReceipt, list[bytes]]] = []
        self.calls = 0
        for k, amount in enumerate(opening):
            if amount:
                self.deposit(k, amount, stranger=False)

    def teardown(self) -> None:
        self.chain.close()

    def credit(self, k: int) -> int:
        """What the API lets a key spend: deposits less refunds less billed; nothing once a refund is asked."""
        if self.refund_at[k] or self.refunded[k]:
            return 0
        return self.deposited[k] - self.billed[k]

    @precondition(lambda self: not all(self.credit(k) for k in range(KEYS)))  # customers buy when they run out
    @rule(k=st.integers(0, KEYS - 1), amount=st.integers(1, 10**6), stranger=st.booleans())
    def deposit(self, k: int, amount: int, stranger: bool) -> None:
        payer = self.customers[(k + 1) % KEYS] if stranger and self.deposited[k] else self.customers[k]
        if self.refunded[k]:
            with pytest.raises(TransactionError, match="CreditVault: this key was refunded and is closed"):
                self.vault.deposit(payer, self.keys[k], amount)
            return
        if payer != self.customers[k]:  # only a key's holder tops it up
            with pytest.raises(TransactionError, match="CreditVault: this key belongs to another holder"):
                self.vault.deposit(payer, self.keys[k], amount)
            return
        self.vault.deposit(payer, self.keys[k], amount)
        self.deposited[k] += amount

    @precondition(lambda self: any(self.credit(k) for k in range(KEYS)))
    @rule(k=st.integers(0, KEYS - 1), amounts=st.lists(st.integers(1, 10**5), min_size=1, max_size=4))
    def bill(self, k: int, amounts: list[int]) -> None:
        for amount in amounts:
            if amount > self.credit(k):
                return  # the API answers 402
            self.calls += 1
            self.billed[k] += amount
            self.pending.append(Receipt(self.keys[k], self.calls.to_bytes(32, "big"), 1, amount, self.billed[k], MODEL))

    @precondition(lambda self: self.pending)
    @rule(cuts=st.lists(st.integers(1, 5), min_size=1, max_size=3))
    def post_window(self, cuts: list[int]) -> None:
        if not self.pending:
            return
        batches, rest = [], self.pending
        for cut in cuts:
            if rest:
                batches.append(rest[:cut])
                rest = rest[cut:]
        if rest:
            batches.append(rest)
        signed = [self.signer.sign(b) for b in batches]
        levels = merkle_levels([s.root for s in signed])
        wid = self.vault.post_window(self.chain.operator, levels[-1][0], len(batches))
        for b, (batch, sig) in enumerate(zip(batches, signed, strict=True)):
            for i, r in enumerate(batch):
                signed_receipt = self.signer.signed(r, sig.proofs[i], sig.signature)
                self.published.append((wid, signed_receipt, merkle_proof(levels, b)))
        self.pending = []

    def _latest(self, k: int) -> tuple[int, SignedReceipt, list[bytes]] | None:
        mine = [p for p in self.published if p[1].receipt.key == self.keys[k]]
        return max(mine, key=lambda p: p[1].receipt.total) if mine else None

    def _cap(self, k: int) -> int:
        return self.deposited[k] - self.refunded[k]

    @precondition(lambda self: self.published)
    @rule(k=st.integers(0, KEYS - 1), switch=st.booleans())
    def operator_settles(self, k: int, switch: bool) -> None:
        self._switch_mode(switch)
        latest = self._latest(k)
        if latest is None:
            return
        wid, signed, _ = latest
        total = signed.receipt.total
        if total <= self.settled[k] or total > self._cap(k):
            with pytest.raises(TransactionError, match="CreditVault: running total"):
                request = signed.receipt.request
                key = self.keys[k]
                self.chain.send(self.chain.operator, self.vault.vault, "settle", wid, [key], [total], [request])
            return
        amount, _ = self.vault.settle(self.chain.operator, wid, {self.keys[k]: (total, signed.receipt.request)})
        assert amount == total - self.settled[k]
        self._settled(k, total)

    def _settled(self, k: int, total: int) -> None:
        self.paid_into[self.mode][k] += total - self.settled[k]
        self.settled[k] = total

    def _switch_mode(self, switch: bool) -> None:
        """With ``switch``, members first vote the other payout mode in: the settlement that follows pays there.
        (A parameter of the settlement rules rather than a rule of its own, so that switches fall between the
        settlements of a key rather than where they change nothing.)"""
        if switch:
            self.mode = 1 - self.mode
            self.c.govern(ProposalAction("payout-mode", number=self.mode))

    @precondition(lambda self: self.published)
    @rule(pick=st.integers(0, 10**6), member=st.integers(0, 2), switch=st.booleans())
    def member_settles_from_receipt(self, pick: int, member: int, switch: bool) -> None:
        self._switch_mode(switch)
        wid, signed, proof = self.published[pick % len(self.published)]
        k = self.keys.index(signed.receipt.key)
        total = signed.receipt.total
        args = (wid, signed.receipt.as_tuple(), list(signed.batch_proof), signed.signature, proof)
        if total <= self.settled[k] or total > self._cap(k):  # settled already, out of order, or refunded since
            with pytest.raises(TransactionError, match="CreditVault: running total"):
                self.chain.send(self.c.members[member], self.vault.vault, "settle_receipt", *args)
            return
        self.chain.send(self.c.members[member], self.vault.vault, "settle_receipt", *args)
        self._settled(k, total)

    @precondition(lambda self: self.published)
    @rule(k=st.integers(0, KEYS - 1), extra=st.integers(1, 10**6))
    def forged_receipt_reverts(self, k: int, extra: int) -> None:
        if not self.published:
            return
        wid, signed, proof = self.published[-1]
        r = signed.receipt
        # above anything billed to the key: no receipt the operator signed carries this total (with settled + extra,
        # a window of one receipt of total 1 made the "forged" receipt the real one, which settles)
        forged = Receipt(self.keys[k], r.request, r.rows, r.amount, self.billed[k] + extra, r.model)
        forger = ReceiptSigner(Account.create(), self.chain.chain_id, self.vault.address)
        for attempt in (
            SignedReceipt(forged, signed.batch_proof, signed.signature, 0, self.vault.address),  # doctored total
            forger.signed(forged, [], forger.sign([forged]).signature),  # someone else's key
        ):
            with pytest.raises(TransactionError, match="CreditVault: receipt not signed by the window's operator"):
                self.chain.send(
                    self.c.outsider,
                    self.vault.vault,
                    "settle_receipt",
                    wid,
                    attempt.receipt.as_tuple(),
                    list(attempt.batch_proof),
                    attempt.signature,
                    proof,
                )

    @precondition(lambda self: self.calls)  # refunds after calls were billed: a refund races a settlement
    @rule(k=st.integers(0, KEYS - 1))
    def request_refund(self, k: int) -> None:
        if self.deposited[k] == 0 or self.refunded[k]:
            return
        self.refund_at[k] = self.vault.request_refund(self.customers[k], self.keys[k])

    @precondition(lambda self: any(self.refund_at))
    @rule(k=st.integers(0, KEYS - 1))
    def refund(self, k: int) -> None:
        if not self.refund_at[k]:
            return
        self.chain.mine(NOTICE)
        held = self.deposited[k] - self.settled[k] - self.refunded[k]
        if held == 0:
            with pytest.raises(TransactionError, match="CreditVault: nothing to refund"):
                self.chain.send(self.customers[k], self.vault.vault, "refund", self.keys[k])
            return
        amount, _ = self.vault.refund(self.customers[k], self.keys[k])
        assert amount == held
        self.refunded[k] += held
        self.refund_at[k] = 0

    @invariant()
    def per_key_books_balance(self) -> None:
        if not hasattr(self, "vault"):
            return
        for k, key in enumerate(self.keys):
            state = self.vault.key(key)
            assert (state.deposited, state.settled, state.refunded) == (
                self.deposited[k],
                self.settled[k],
                self.refunded[k],
            )
            assert state.deposited == state.settled + state.refunded + state.held
            assert state.settled <= state.deposited - state.refunded
            assert self.settled[k] <= self.billed[k]  # only what receipts say was billed is ever settled
            # each payout contract's running total for the key grew by exactly what the vault paid it
            paid = (self.c.client.settled_total(key), self.roots.settled_total(key))
            assert paid == (self.paid_into[0][k], self.paid_into[1][k])

    @invariant()
    def no_unit_created_or_lost(self) -> None:
        if not hasattr(self, "vault"):
            return
        totals = self.vault.totals()
        assert totals["deposited"] == sum(self.deposited)
        assert totals["balance"] == sum(self.deposited) - sum(self.settled) - sum(self.refunded)
        revenue, roots = self.c.client.totals(), self.roots.totals()
        # the accumulator and the roots got exactly what was settled in their mode, and hold it
        assert revenue["deposited"] == sum(self.paid_into[0]) == revenue["balance"]
        assert roots["total_funded"] == sum(self.paid_into[1]) == self.c.client.balance_of(self.roots.contract.address)
        assert revenue["deposited"] + roots["total_funded"] == sum(self.settled)


VaultMachine.TestCase.settings = settings(max_examples=8, stateful_step_count=20, deadline=None)
TestVaultEmbedded = VaultMachine.TestCase


class TokenVaultMachine(VaultMachine):
    token = True


TokenVaultMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=20, deadline=None)
TestTokenVaultEmbedded = TokenVaultMachine.TestCase


class AnvilVaultMachine(VaultMachine):
    pass


@pytest.fixture
def on_anvil(anvil_url: str, anvil_key: str) -> Iterator[None]:
    AnvilVaultMachine.chain_url = anvil_url
    yield
    AnvilVaultMachine.chain_url = None


@pytest.mark.usefixtures("on_anvil")
class TestVaultAnvil(AnvilVaultMachine.TestCase):
    settings = settings(max_examples=4, stateful_step_count=20, deadline=None)
