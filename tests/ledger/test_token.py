"""Revenue paid in an ERC-20 (a stablecoin): same exact split, token balances, same audit."""

from __future__ import annotations

import pytest

from fairshare.errors import TransactionError
from fairshare.ledger import audit, deploy_test_stablecoin
from tests.ledger.conftest import make_consortium


def test_a_token_split_pays_members_in_the_token(chain) -> None:
    token = deploy_test_stablecoin(chain, chain.operator.address, 10**12)
    c = make_consortium(chain, token=token)
    client, deployment, members, treasury = c.client, c.deployment, c.members, c.treasury
    c.record(1, [1, 2, 0])
    client.distribute(chain.operator, b"\x01" * 32, 3_000_000)
    assert client.balance_of(deployment.revenue_shares) == 3_000_000
    with pytest.raises(TransactionError, match="RevenueShares: native coin sent to a token split"):
        chain.send(chain.operator, client.revenue, "distribute", b"\x02" * 32, [b"\x02" * 32], [5], value=5)
    amount, _ = client.withdraw(members[1])
    assert amount == 1_800_000 and client.balance_of(members[1].address) == 1_800_000
    client.withdraw(treasury)
    assert client.balance_of(treasury.address) == 300_000
    report = audit(chain, deployment)
    assert report.ok, report.checks
    assert client.balance_of(deployment.revenue_shares) == 900_000  # member 0's, still owed
