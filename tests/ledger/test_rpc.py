"""The embedded chain over JSON-RPC: plain web3 reads and audits it with no fairshare key; writes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from fairshare.errors import ChainConnectionError
from fairshare.ledger import audit, connect
from fairshare.ledger.chain import DEPLOYER_KEY_ENV
from fairshare.ledger.contracts import compiled
from fairshare.ledger.rpc import rpc_app
from fairshare.serving.server import running
from tests.ledger.conftest import make_consortium


@pytest.fixture
def served(tmp_path: Path):
    chain = connect(None, tmp_path)
    c = make_consortium(chain)
    c.record(1, [2, 1, 0])
    c.client.distribute(chain.operator, b"\x01" * 32, 3000)
    yield c
    chain.close()


def test_plain_web3_reads_the_embedded_chain_and_our_audit_runs_over_it(served, tmp_path, monkeypatch) -> None:
    c = served
    monkeypatch.delenv(DEPLOYER_KEY_ENV, raising=False)
    with running(rpc_app(c.chain)) as url:
        w3 = Web3(HTTPProvider(url))
        assert w3.eth.chain_id == c.chain.chain_id and w3.eth.block_number == c.chain.w3.eth.block_number
        revenue = w3.eth.contract(address=c.deployment.revenue_shares, abi=compiled("RevenueShares").abi)
        minted = revenue.events.Minted().get_logs(from_block=c.deployment.block)
        assert sorted(e.args.amount for e in minted) == [1, 2]
        assert revenue.functions.total_deposited().call() == 3000
        remote = connect(url, tmp_path / "auditor")  # no key: read-only
        report = audit(remote, c.deployment)
        assert report.ok, report.checks
        assert report.entitled == audit(c.chain, c.deployment).entitled
        with pytest.raises(ChainConnectionError, match=f"export {DEPLOYER_KEY_ENV}"):
            remote.operator  # noqa: B018 - only signing needs a key


def test_a_read_only_node_refuses_transactions_and_signing(served) -> None:
    c = served
    payer = Account.create()
    c.chain.fund(payer.address, 10**18)
    with running(rpc_app(c.chain)) as url:
        w3 = Web3(HTTPProvider(url))
        tx = payer.sign_transaction(
            {
                "to": payer.address,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 1,
                "nonce": 0,
                "chainId": w3.eth.chain_id,
            }
        )
        with pytest.raises(Exception, match="eth_sendRawTransaction is not served.*read-only"):
            w3.eth.send_raw_transaction(tx.raw_transaction)
        with pytest.raises(Exception, match="eth_sendTransaction is not served"):
            w3.eth.send_transaction({"from": payer.address, "to": payer.address, "value": 1})
        assert w3.eth.accounts == []  # the node holds nobody's keys


def test_a_writable_node_takes_transactions_signed_elsewhere(served) -> None:
    c = served
    payer = Account.create()
    c.chain.fund(payer.address, 10**18)
    with running(rpc_app(c.chain, writable=True)) as url:
        w3 = Web3(HTTPProvider(url))
        tx = payer.sign_transaction(
            {
                "to": c.outsider.address,
                "value": 7,
                "gas": 21_000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 1,
                "nonce": 0,
                "chainId": w3.eth.chain_id,
            }
        )
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
        assert receipt.status == 1
        assert w3.eth.get_balance(c.outsider.address) == 10**18 + 7


def test_every_home_has_its_own_operator_key(tmp_path: Path) -> None:
    first, second = connect(None, tmp_path / "a"), connect(None, tmp_path / "b")
    try:
        dev = Account.from_key(first.embedded.backend.account_keys[0].to_bytes()).address
        assert first.operator.address != second.operator.address
        assert dev not in (first.operator.address, second.operator.address)
        assert (tmp_path / "a" / "keystore" / "operator.json").exists()
    finally:
        first.close()
        second.close()
    again = connect(None, tmp_path / "a")
    assert again.operator.address == first.operator.address  # kept in the home's keystore
    again.close()
