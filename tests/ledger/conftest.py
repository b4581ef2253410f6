"""A fresh embedded chain with a deployed consortium for each test that needs one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from fairshare.ledger import Chain, Deployment, LedgerClient, connect, deploy_consortium


@dataclass
class Consortium:
    chain: Chain
    deployment: Deployment
    client: LedgerClient
    members: list[LocalAccount]
    treasury: LocalAccount
    outsider: LocalAccount


@pytest.fixture(params=["embedded", "anvil"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """Every contract test runs on the embedded chain and on anvil: one code path, two chains."""
    if request.param == "anvil":
        url = request.getfixturevalue("anvil_url")
        request.getfixturevalue("anvil_key")
        chain = connect(url, tmp_path)
    else:
        chain = connect(None, tmp_path)
    yield chain
    chain.close()


@pytest.fixture
def consortium(chain: Chain) -> Consortium:
    members = [Account.create() for _ in range(3)]
    treasury, outsider = Account.create(), Account.create()
    for account in [*members, treasury, outsider]:
        chain.fund(account.address, 10**18)
    deployment = deploy_consortium(
        chain, name="t", treasury=treasury.address, treasury_cut_bps=1000, oracle=chain.operator
    )
    return Consortium(chain, deployment, LedgerClient(chain, deployment), members, treasury, outsider)
