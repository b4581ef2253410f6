"""Contract behaviour through the typed client: rounds, minting, distribution, withdrawal, roles, errors."""

from __future__ import annotations

import pytest
from eth_account import Account

from fairshare.errors import ContractNotFoundError, LedgerError, TransactionError
from fairshare.ledger import LedgerClient, audit
from fairshare.ledger.deploy import contract_at

HASH = bytes(range(32))


def record(c, round_id: int, shares: list[int], model_hash: bytes = HASH) -> str:
    """A round whose scores earn exactly ``shares`` (the fixture's share rule mints positive scores as shares)."""
    return c.record(round_id, shares, model_hash=model_hash)


def test_a_round_records_and_mints_in_one_transaction(consortium) -> None:
    c = consortium
    c.record(1, [3, 0, -1])
    assert [c.client.shares_of(m.address) for m in c.members] == [3, 0, 0]
    (r,) = c.client.rounds()
    by_member = dict(zip(r.members, r.scores, strict=True))
    assert [by_member[m.address] for m in c.members] == [3, 0, -1] and r.model_hash == HASH


def test_rounds_go_in_order_and_are_recorded_once(consortium) -> None:
    c = consortium
    record(c, 1, [1, 1, 1])
    assert record(c, 1, [1, 1, 1]) == c.client.rounds()[0].tx_hash  # idempotent retry
    with pytest.raises(LedgerError, match="round 1 is already recorded"):
        record(c, 1, [1, 1, 1], model_hash=bytes(31) + b"\x01")
    with pytest.raises(LedgerError, match="the chain's last round is 1; rounds go in order"):
        record(c, 3, [1, 1, 1])
    members = sorted((m.address for m in c.members), key=lambda a: int(a, 16))
    with pytest.raises(TransactionError, match="TrainingLog: rounds are recorded in order, without gaps"):
        c.chain.send(c.chain.operator, c.client.log, "record_round", 1, HASH, "x", "{}", 0, members, [1, 1, 1])
    assert c.client.total_shares() == 3


def test_only_the_oracle_records(consortium) -> None:
    c = consortium
    with pytest.raises(TransactionError, match="TrainingLog: caller is not the oracle"):
        c.chain.send(c.outsider, c.client.log, "record_round", 1, HASH, "exact", "{}", 0, [], [])


def test_direct_minting_is_refused(consortium) -> None:
    c = consortium
    with pytest.raises(TransactionError, match="RevenueShares: caller is not the minter"):
        c.chain.send(c.chain.operator, c.client.revenue, "mint", c.outsider.address, 10, 1)


def test_distribution_splits_exactly_with_the_treasury_cut(consortium) -> None:
    c = consortium
    record(c, 1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 1000)
    assert c.client.withdrawable(c.treasury.address) == 100
    owed = [c.client.withdrawable(m.address) for m in c.members]
    assert owed == [300, 300, 300]
    c.client.distribute(c.chain.operator, b"\x02" * 32, 10)  # 9 to holders: 3 each
    assert [c.client.withdrawable(m.address) for m in c.members] == [303, 303, 303]


def test_remainders_carry_and_nothing_is_created(consortium) -> None:
    c = consortium
    record(c, 1, [1, 1, 1])
    for k in range(5):
        c.client.distribute(c.chain.operator, bytes([k + 1]) * 32, 7)
    owed = sum(c.client.withdrawable(m.address) for m in c.members) + c.client.withdrawable(c.treasury.address)
    assert owed <= 35 and 35 - owed <= 4
    assert audit(c.chain, c.deployment).ok


def test_a_running_total_is_paid_once(consortium) -> None:
    c = consortium
    record(c, 1, [1, 1, 1])
    source = b"\x07" * 32
    amount, _ = c.client.settle(c.chain.operator, b"\x01" * 32, {source: 100})
    assert amount == 100
    with pytest.raises(TransactionError, match="already settled up to 100"):
        c.client.settle(c.chain.operator, b"\x02" * 32, {source: 100})
    with pytest.raises(TransactionError, match="RevenueShares: running total not above what was settled"):
        c.chain.send(c.chain.operator, c.client.revenue, "distribute", b"\x02" * 32, [source], [100], value=100)
    amount, _ = c.client.settle(c.chain.operator, b"\x03" * 32, {source: 130})  # only the growth is paid
    assert amount == 30 and c.client.totals()["deposited"] == 130


def test_only_the_operator_distributes(consortium) -> None:
    c = consortium
    with pytest.raises(TransactionError, match="RevenueShares: caller is not the operator"):
        c.chain.send(c.outsider, c.client.revenue, "distribute", b"\x01" * 32, [b"\x01" * 32], [5], value=5)


def test_shares_minted_later_earn_nothing_from_earlier_revenue(consortium) -> None:
    c = consortium
    record(c, 1, [1, 0, 0])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 1000)
    record(c, 2, [0, 1, 0])
    assert c.client.withdrawable(c.members[1].address) == 0
    assert c.client.withdrawable(c.members[0].address) == 900


def test_revenue_before_any_shares_waits_for_holders(consortium) -> None:
    c = consortium
    c.client.distribute(c.chain.operator, b"\x01" * 32, 1000)
    record(c, 1, [1, 1, 0])
    c.client.distribute(c.chain.operator, b"\x02" * 32, 1000)
    assert [c.client.withdrawable(m.address) for m in c.members] == [900, 900, 0]


def test_withdraw_pays_once_and_the_audit_agrees(consortium) -> None:
    c = consortium
    record(c, 1, [2, 1, 0])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 3000)
    before = c.chain.w3.eth.get_balance(c.members[0].address)
    amount, tx = c.client.withdraw(c.members[0])
    assert amount == 1800 and tx
    assert c.client.withdraw(c.members[0]) == (0, "")
    with pytest.raises(TransactionError, match="RevenueShares: nothing to withdraw"):
        c.chain.send(c.members[2], c.client.revenue, "withdraw")
    after = c.chain.w3.eth.get_balance(c.members[0].address)
    assert after < before + 1800  # it also paid gas
    report = audit(c.chain, c.deployment, {1: HASH})
    assert report.ok, report.checks
    assert report.withdrawn[c.members[0].address] == 1800


def test_audit_catches_a_model_artifact_that_does_not_match(consortium) -> None:
    record(consortium, 1, [1, 1, 1])
    report = audit(consortium.chain, consortium.deployment, {1: bytes(32)})
    assert not report.ok
    assert "different model for rounds [1]" in next(c.detail for c in report.checks if not c.ok)


def test_an_address_that_is_not_ours_is_refused(consortium) -> None:
    c = consortium
    with pytest.raises(ContractNotFoundError, match="no contract at"):
        contract_at(c.chain, "RevenueShares", Account.create().address)
    with pytest.raises(ContractNotFoundError, match="is not fairshare's RevenueShares"):
        contract_at(c.chain, "RevenueShares", c.deployment.training_log)


def test_a_deployment_on_another_chain_id_is_refused(consortium) -> None:
    from dataclasses import replace

    with pytest.raises(LedgerError, match="chain id 1,|chain id 1\\b"):
        LedgerClient(consortium.chain, replace(consortium.deployment, chain_id=1))


def test_an_unfunded_sender_gets_a_clear_error(consortium) -> None:
    broke = Account.create()
    with pytest.raises(TransactionError, match="insufficient funds"):
        consortium.chain.transact(broke, {"to": consortium.outsider.address, "value": 1, "gas": 21_000}, "payment")
