"""Issue 18's attacks on the money, each sent as the attacking transaction: none does harm any more.

Every test runs on the embedded chain and on anvil (the ``chain`` fixture).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from vyper.compiler import compile_code
from vyper.warnings import VyperWarning

from fairshare.errors import ContractNotFoundError, GovernanceError, LedgerError, TransactionError
from fairshare.governance import ProposalAction, pack_share_rule
from fairshare.ledger import LedgerClient, audit, connect
from fairshare.ledger.audit import shares_for
from fairshare.ledger.deploy import ShareRule
from tests.ledger.conftest import make_consortium

HERE = Path(__file__).parent


def _deploy(chain, name: str, *args):
    with warnings.catch_warnings():  # the Forcer uses SELFDESTRUCT on purpose: it is the attack
        warnings.simplefilter("ignore", VyperWarning)
        artifact = compile_code((HERE / f"{name}.vy").read_text(), output_formats=["abi", "bytecode"])
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    data = factory.constructor(*args).data_in_transaction
    receipt = chain.transact(chain.operator, {"data": data, "gas": 3_000_000}, f"deploy {name}")
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _check(report, name: str):
    return next(c for c in report.checks if c.name == name)


# 1. permanent freeze ---------------------------------------------------------------------------------------


def test_the_pausers_pause_lapses_by_itself_and_cannot_be_renewed(consortium) -> None:
    c = consortium
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 900)
    c.chain.send(c.chain.operator, c.client.revenue, "pause")  # the hot key stops the money at once
    with pytest.raises(TransactionError, match="RevenueShares: paused"):
        c.client.withdraw(c.members[0])
    with pytest.raises(TransactionError, match="RevenueShares: the pauser has used its pause"):
        c.chain.send(c.chain.operator, c.client.revenue, "pause")  # and cannot keep it stopped
    c.chain.mine(c.client.paused_until() - c.chain.w3.eth.block_number)
    assert c.client.withdraw(c.members[0])[0] == 270  # the pause lapsed: members are paid without any vote
    report = audit(c.chain, c.deployment)
    assert report.ok and len(report.pauses) == 1 and report.pauses[0]["by"] == c.chain.operator.address


def test_governance_resumes_early_and_re_arms_the_pauser(consortium) -> None:
    c = consortium
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 900)
    c.chain.send(c.chain.operator, c.client.revenue, "pause")
    c.govern(ProposalAction("pause", number=0))  # unpause proposal
    assert not c.client.revenue.functions.paused().call()
    assert c.client.withdraw(c.members[1])[0] == 270
    c.chain.send(c.chain.operator, c.client.revenue, "pause")  # re-armed by the vote
    assert c.client.revenue.functions.paused().call()


def test_governance_can_pause_for_longer_but_never_forever(consortium) -> None:
    c = consortium
    with pytest.raises(GovernanceError, match="Governor: pause longer than 1000000 blocks"):
        c.govern(ProposalAction("pause", number=1_000_001))
    c.govern(ProposalAction("pause", number=40))
    assert c.client.paused_until() > c.chain.w3.eth.block_number + 30


# 2. the oracle mints freely ---------------------------------------------------------------------------------


def test_the_oracle_cannot_pay_itself_or_any_outsider(consortium) -> None:
    c = consortium
    oracle = c.chain.operator.address
    with pytest.raises(TransactionError, match="TrainingLog: the oracle cannot be paid"):
        c.chain.send(c.chain.operator, c.client.log, "record_round", 1, b"\x01" * 32, "x", "{}", 0, [oracle], [10**21])
    with pytest.raises(TransactionError, match="TrainingLog: not an admitted member"):
        c.record(1, [10**21], members=[c.outsider.address])
    assert c.client.total_shares() == 0


def test_shares_are_the_share_rule_applied_to_the_scores_and_a_round_is_capped(chain) -> None:
    c = make_consortium(chain, share_rule=ShareRule(share_scale=10**9, round_cap=1000))
    c.record(1, [10**12 * 10**9, 300, -5])  # a fake round giving one member 10^12 units of value
    shares = [c.client.shares_of(m.address) for m in c.members]
    assert shares == shares_for([10**12 * 10**9, 300, -5], 10**9, 1000) and sum(shares) <= 1000
    assert shares[0] == 999 and shares[2] == 0  # capped: one round can weigh at most round_cap
    assert c.client.shares_for([10**12 * 10**9, 300, -5]) == shares
    c.govern(ProposalAction("share-rule", number=pack_share_rule(2 * 10**9, 10**6)))
    c.record(2, [7, 0, 0])
    assert c.client.shares_of(c.members[0].address) == 999 + 14
    assert _check(audit(c.chain, c.deployment), "round records intact").ok


def test_the_oracle_is_never_a_member_and_a_member_never_the_oracle(consortium) -> None:
    c = consortium
    with pytest.raises(GovernanceError, match="Governor: the oracle cannot be a member"):
        c.govern(ProposalAction("admit", account=c.chain.operator.address, text="sneaky"))
    with pytest.raises(GovernanceError, match="Governor: the oracle cannot be a member"):
        c.govern(ProposalAction("oracle", account=c.members[0].address))
    with pytest.raises(GovernanceError, match="Governor: the treasury cannot be a member"):
        c.govern(ProposalAction("admit", account=c.treasury.address, text="treasury"))
    with pytest.raises(TransactionError, match="TrainingLog: caller is not the owner"):
        c.chain.send(c.chain.operator, c.client.log, "set_role", "oracle", c.members[0].address)
    assert _check(audit(c.chain, c.deployment), "roles").ok


# 8. tokens that do not deliver ------------------------------------------------------------------------------


def test_a_token_with_a_fee_on_withdrawal_is_refused_not_misrecorded(chain) -> None:
    token = _deploy(chain, "HostileToken")
    chain.send(chain.operator, token, "mint", chain.operator.address, 10**12)
    c = make_consortium(chain, token=token.address)
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 3000)
    chain.send(chain.operator, token, "set_fee", 100)
    with pytest.raises(TransactionError, match="RevenueShares: token did not deliver the exact amount"):
        c.client.withdraw(c.members[0])
    assert c.client.withdrawn(c.members[0].address) == 0 and c.client.withdrawals() == []
    chain.send(chain.operator, token, "set_fee", 0)
    assert c.client.withdraw(c.members[0])[0] == 900


def test_a_token_that_shrinks_the_balance_is_reported_short(chain) -> None:
    token = _deploy(chain, "HostileToken")
    chain.send(chain.operator, token, "mint", chain.operator.address, 10**12)
    c = make_consortium(chain, token=token.address)
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 3000)
    chain.send(chain.operator, token, "shrink", c.client.revenue.address, 500)
    report = audit(c.chain, c.deployment)
    check = _check(report, "money conserved")
    assert not check.ok and "SHORT by 500" in check.detail


# 9. forced coin and the treasury's dust ---------------------------------------------------------------------


def test_coin_forced_into_the_contract_is_reported_and_can_be_distributed(consortium) -> None:
    c = consortium
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 3000)
    forcer = _deploy(c.chain, "Forcer")
    c.chain.send(c.chain.operator, forcer, "force", c.client.revenue.address, value=1)  # 1 wei no one can refuse
    report = audit(c.chain, c.deployment)
    assert report.ok and report.unsolicited == 1, report.checks
    assert "unsolicited 1" in _check(report, "money conserved").detail
    c.chain.send(c.outsider, c.client.revenue, "distribute_surplus")  # anyone may
    report = audit(c.chain, c.deployment)
    assert report.ok and report.unsolicited == 0 and report.deposited == 3001
    with pytest.raises(TransactionError, match="RevenueShares: no unsolicited balance"):
        c.chain.send(c.outsider, c.client.revenue, "distribute_surplus")


def test_the_treasury_gets_the_floor_of_its_cut_and_holders_the_dust(consortium) -> None:
    c = consortium  # 1000 bps
    c.record(1, [1, 1, 1])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 19)  # cut 1.9 -> 1; 18 to holders
    assert c.client.entitled(c.treasury.address) == 1
    assert [c.client.entitled(m.address) for m in c.members] == [6, 6, 6]


def test_a_settlement_larger_than_the_contract_bound_is_refused_before_sending(consortium) -> None:
    c = consortium
    with pytest.raises(LedgerError, match="at most 64 sources"):
        c.client.settle(c.chain.operator, b"\x01" * 32, {k.to_bytes(32, "big"): 1 for k in range(1, 66)})


# 9. a chain reset or redeployed at the same addresses ---------------------------------------------------------


def test_a_chain_redeployed_at_the_same_addresses_is_named_not_read_as_empty(tmp_path: Path) -> None:
    first_chain = connect(None, tmp_path / "a")
    first = make_consortium(first_chain)
    first.record(1, [5, 5, 5])
    first_chain.close()
    shutil.copytree(tmp_path / "a" / "keystore", tmp_path / "b" / "keystore")  # the same operator key ...
    again = connect(None, tmp_path / "b")
    second = make_consortium(again)  # ... deploys the same contracts at the same addresses on a fresh chain
    assert second.deployment.revenue_shares == first.deployment.revenue_shares
    with pytest.raises(ContractNotFoundError, match="was reset or the contracts were redeployed"):
        LedgerClient(again, first.deployment)
    again.close()
