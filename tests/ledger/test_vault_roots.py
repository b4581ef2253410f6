"""The CreditVault pays where the governed payout mode pays members: RevenueShares' accumulator (mode 0) or
EntitlementRoots (mode 1), on the embedded chain and on anvil.

Customers' deposits reach EntitlementRoots in roots mode and members claim them; a receipt settles once across a
mode switch (the vault's ``settled`` is the truth, each sink's running total grows by exactly what the vault paid
it); a refund after a roots settlement returns only the rest; only the operator and the vault RevenueShares names
may fund EntitlementRoots.
"""

from __future__ import annotations

import pytest

from fairshare.errors import LedgerError, TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import Chain, deploy_test_stablecoin
from fairshare.ledger.deploy import _deploy, contract_at
from fairshare.ledger.entitlements import EntitlementTree
from fairshare.ledger.receipts import ReceiptSigner
from fairshare.ledger.roots import RootsClient
from fairshare.ledger.vault import VaultClient, key_hash
from fairshare.ledger.vault_audit import vault_checks
from tests.ledger.conftest import HASH, make_consortium
from tests.ledger.test_entitlement_roots import WINDOW, Roots, open_roots
from tests.ledger.test_vault import receipts_for, window_of

KEY = key_hash("roots-customer")


def vault_of(r: Roots) -> VaultClient:
    return VaultClient(r.c.chain, r.c.deployment, r.c.client.index)


def post(vault: VaultClient, chain: Chain, amounts: list[int], start: int = 0):
    """A posted window of one batch of receipts for KEY; (window id, receipts, signed receipts with proofs)."""
    receipts = receipts_for(KEY, amounts, start=start)
    root, signed = window_of(ReceiptSigner(chain.operator, chain.chain_id, vault.address), [receipts])
    return vault.post_window(chain.operator, root, 1), receipts, signed


def test_a_customers_deposit_settled_in_roots_mode_reaches_members_and_only_the_rest_is_refunded(chain: Chain) -> None:
    r = open_roots(chain, members=3, cut_bps=1000)
    vault, customer = vault_of(r), r.c.outsider
    vault.deposit(customer, KEY, 1000)
    wid, receipts, _ = post(vault, chain, [100, 200, 50])
    amount, _ = vault.settle(chain.operator, wid, {KEY: (350, receipts[2].request)})
    assert amount == 350 and vault.key(KEY).settled == 350
    assert r.client.settled_total(KEY) == 350 and r.c.client.settled_total(KEY) == 0  # roots, not the accumulator
    assert r.client.totals() == {"total_funded": 350, "total_paid": 0, "pending_revenue": 315, "treasury_owed": 35}
    assert r.c.client.totals()["deposited"] == 0
    # the customers' money is what the next epoch's root entitles members to
    a, b, c = (m.address for m in r.c.members)
    epoch, tree = r.epoch({a: 3 * 10**9, b: 10**9, c: 0}, revenue=0)
    before = {m: r.c.client.balance_of(m) for m in (a, b)}
    paid = {m: r.client.claim(r.c.outsider, epoch, tree, m)[0] for m in (a, b)}
    assert paid == {a: 315 * 3 // 4, b: 315 // 4} and {m: r.c.client.balance_of(m) - before[m] for m in (a, b)} == paid
    # a refund after the settlement returns only what was not settled
    vault.request_refund(customer, KEY)
    chain.mine(vault.refund_notice())
    refunded, _ = vault.refund(customer, KEY)
    assert refunded == 650
    assert vault.totals() == {"deposited": 1000, "settled": 350, "refunded": 650, "balance": 0}
    # every unit the customer paid is refunded, paid to members, owed to the treasury or rounding dust
    held = r.c.client.balance_of(r.client.contract.address)
    assert held == 350 - sum(paid.values()) == r.client.totals()["treasury_owed"] + 1


def test_a_mode_switch_between_settlements_pays_each_growth_once(chain: Chain) -> None:
    c = make_consortium(chain, members=3, cut_bps=1000, challenge_blocks=WINDOW)
    c.record(1, [1, 1, 1])
    vault = VaultClient(chain, c.deployment, c.client.index)
    roots = RootsClient(chain, c.deployment, c.client.index)
    vault.deposit(c.outsider, KEY, 10**6)
    wid, receipts, signed = post(vault, chain, [100, 200, 50, 25])
    vault.settle(chain.operator, wid, {KEY: (100, receipts[0].request)})  # accumulator
    c.govern(ProposalAction("payout-mode", number=1))
    assert vault.settle_receipt(c.members[0], wid, *signed[1])[0] == 200  # anyone's settlement follows the mode too
    for earlier in (0, 1):  # neither the accumulator's receipt nor the roots' one settles again
        with pytest.raises(TransactionError, match="CreditVault: running total not above what was settled"):
            s, proof = signed[earlier]
            args = (wid, s.receipt.as_tuple(), list(s.batch_proof), s.signature, proof)
            chain.send(c.members[1], vault.vault, "settle_receipt", *args)
    c.govern(ProposalAction("payout-mode", number=0))
    vault.settle(chain.operator, wid, {KEY: (350, receipts[2].request)})  # back in the accumulator: only 50 more
    assert (c.client.settled_total(KEY), roots.settled_total(KEY), vault.key(KEY).settled) == (150, 200, 350)
    assert c.client.totals()["deposited"] == 150 and roots.totals()["total_funded"] == 200
    assert c.client.balance_of(vault.address) == 10**6 - 350
    checks = {ch.name: ch for ch in vault_checks(vault, c.client, {}, roots)}
    money = checks["vault: money leaves only by settlement or refund"]
    assert money.ok and "150 into RevenueShares, 200 into EntitlementRoots" in money.detail
    # the audit must look at both sinks: without EntitlementRoots the roots settlement arrived nowhere
    blind = {ch.name: ch for ch in vault_checks(vault, c.client, {})}[
        "vault: money leaves only by settlement or refund"
    ]
    assert not blind.ok and "the vault settled 200 for 1 keys but the payouts received 0" in blind.detail


def test_the_vault_pays_entitlement_roots_in_a_token(chain: Chain) -> None:
    token = deploy_test_stablecoin(chain, chain.operator.address, 10**12)
    c = make_consortium(chain, members=2, cut_bps=500, token=token, challenge_blocks=WINDOW)
    c.govern(ProposalAction("payout-mode", number=1))
    vault = VaultClient(chain, c.deployment, c.client.index)
    roots = RootsClient(chain, c.deployment, c.client.index)
    chain.send(chain.operator, contract_at(chain, "TestStablecoin", token), "transfer", c.outsider.address, 1000)
    vault.deposit(c.outsider, KEY, 1000)
    wid, receipts, _ = post(vault, chain, [400])
    vault.settle(chain.operator, wid, {KEY: (400, receipts[0].request)})
    assert c.client.balance_of(roots.contract.address) == 400 == roots.totals()["total_funded"]
    assert vault.balance() == 600 and roots.totals()["treasury_owed"] == 20


def test_only_the_operator_and_the_named_vault_fund_entitlement_roots(chain: Chain) -> None:
    """A stranger's CreditVault (its own deployment, naming our RevenueShares and EntitlementRoots) settles its own
    deposits, but EntitlementRoots refuses its money: RevenueShares does not name it as the vault."""
    r = open_roots(chain, members=2)
    c = r.c
    source = bytes(31) + b"\x09"
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the operator or the vault"):
        r.send("fund", source, [source], [10], sender=c.outsider)
    stranger, _ = _deploy(
        chain, "CreditVault", c.deployment.revenue_shares, c.deployment.governor, r.client.contract.address
    )
    rogue = VaultClient(chain, type(c.deployment)(**{**c.deployment.to_json(), "vault": stranger}))
    rogue.deposit(c.outsider, KEY, 100)
    root, _ = window_of(ReceiptSigner(chain.operator, chain.chain_id, stranger), [receipts_for(KEY, [100])])
    wid = rogue.post_window(chain.operator, root, 1)  # the operator signs for any vault; the roots still refuse
    with pytest.raises(TransactionError, match="EntitlementRoots: caller is not the operator or the vault"):
        chain.send(chain.operator, rogue.vault, "settle", wid, [KEY], [100], [receipts_for(KEY, [100])[0].request])
    assert r.client.settled_total(KEY) == 0 and r.client.totals()["total_funded"] == 0
    epoch = r.client.open_epoch()
    r.client.close(r.oracle, epoch, HASH, "exact", "{}", 0)
    assert EntitlementTree(r.client.standings()[-1].leaves()).total == 0


def test_a_vault_wired_to_another_consortiums_entitlement_roots_is_refused_at_deployment(chain: Chain) -> None:
    ours, theirs = make_consortium(chain, members=2), make_consortium(chain, members=2)
    with pytest.raises(TransactionError, match="CreditVault: EntitlementRoots of another consortium"):
        _deploy(
            chain,
            "CreditVault",
            ours.deployment.revenue_shares,
            ours.deployment.governor,
            theirs.deployment.entitlement_roots,
        )


def test_the_operators_direct_payment_refuses_a_customers_vault_key_in_either_mode(chain: Chain) -> None:
    """Revenue that came through the vault is settled only there: the operator's own payment path (kept for revenue
    from outside the vault) refuses a customer's key, into the accumulator and into the roots alike."""
    r = open_roots(chain, members=2)
    vault = vault_of(r)
    vault.deposit(r.c.outsider, KEY, 1000)
    wid, receipts, _ = post(vault, chain, [300])
    vault.settle(chain.operator, wid, {KEY: (300, receipts[0].request)})
    for pay in (r.client.settle, r.c.client.settle):
        with pytest.raises(LedgerError, match="is a customer's API key in the CreditVault"):
            pay(chain.operator, KEY, {KEY: 600})
    other = key_hash("a grant")  # revenue from outside the vault still goes straight in
    assert r.client.settle(chain.operator, other, {other: 50})[0] == 50
    assert (r.client.settled_total(KEY), vault.key(KEY).settled, r.client.totals()["total_funded"]) == (300, 300, 350)
