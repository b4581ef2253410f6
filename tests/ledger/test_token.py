"""Revenue paid in an ERC-20 (a stablecoin): same exact split, token balances, same audit."""

from __future__ import annotations

import pytest
from eth_account import Account

from fairshare.errors import TransactionError
from fairshare.ledger import LedgerClient, audit, deploy_consortium, deploy_test_stablecoin


def test_a_token_split_pays_members_in_the_token(chain) -> None:
    members = [Account.create() for _ in range(3)]
    treasury = Account.create()
    for account in [*members, treasury]:
        chain.fund(account.address, 10**17)
    token = deploy_test_stablecoin(chain, chain.operator.address, 10**12)
    deployment = deploy_consortium(
        chain, name="t", treasury=treasury.address, treasury_cut_bps=1000, oracle=chain.operator, token=token
    )
    client = LedgerClient(chain, deployment)
    client.record_round(
        chain.operator,
        round_id=1,
        model_hash=b"\x01" * 32,
        method="exact",
        params="{}",
        seed=0,
        members=[m.address for m in members],
        scores=[1, 1, 1],
        shares=[1, 2, 0],
    )
    client.distribute(chain.operator, b"\x01" * 32, 3_000_000)
    assert client.balance_of(deployment.revenue_shares) == 3_000_000
    with pytest.raises(TransactionError, match="RevenueShares: native coin sent to a token split"):
        chain.send(chain.operator, client.revenue, "distribute", b"\x02" * 32, 5, value=5)
    amount, _ = client.withdraw(members[1])
    assert amount == 1_800_000 and client.balance_of(members[1].address) == 1_800_000
    client.withdraw(treasury)
    assert client.balance_of(treasury.address) == 300_000
    report = audit(chain, deployment)
    assert report.ok, report.checks
    assert client.balance_of(deployment.revenue_shares) == 900_000  # member 0's, still owed
