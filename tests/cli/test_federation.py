"""Flower's deployment runtime on loopback: a SuperLink and three SuperNodes with TLS and node authentication.

Drives scripts/federation-loopback.sh (the one-machine version of docs/federation.md), with one node signing
its updates with a key that is not its member's account. Then pays a revenue and checks who got the money.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from eth_account import Account

from fairshare.consortium.report import member_balances
from fairshare.consortium.session import open_run
from fairshare.ledger.keystore import keystore_password
from fairshare.serving.server import free_port
from tests.cli.test_end_to_end import fairshare

REPO = Path(__file__).resolve().parents[2]
FORGER = "riverside-general"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("federation")
    env = {**os.environ, "FAIRSHARE_SUPERLINK_PORT": str(free_port()), "FAIRSHARE_FORGER": FORGER, "COLUMNS": "200"}
    result = subprocess.run(
        ["bash", "scripts/federation-loopback.sh", str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return work, result.stdout


def _account(work: Path, member: str) -> str:
    """The address of the account key that member's node holds (its own machine's copy)."""
    encrypted = json.loads((work / member / "account.json").read_text())
    return Account.from_key(Account.decrypt(encrypted, keystore_password())).address


def test_nodes_authenticated_and_registered_to_admitted_members(federation) -> None:
    work, stdout = federation
    run = open_run(work / "coordinator" / "home")
    nodes = json.loads((run.paths.root / "federation" / "nodes.json").read_text())
    assert sorted(nodes.values()) == ["northgate-clinic", "riverside-general", "st-marys"]
    assert "rounds [1, 2, 3] trained over the federation" in stdout and "audit OK" in stdout
    run.chain.close()


def test_contributions_recorded_for_the_nodes_accounts_and_the_forged_updates_refused(federation) -> None:
    work, _ = federation
    run = open_run(work / "coordinator" / "home")
    try:
        rounds = run.ledger.rounds()
        assert [r.round_id for r in rounds] == [1, 2, 3]
        honest = {m: _account(work, m) for m in ("st-marys", "northgate-clinic")}
        total = dict.fromkeys(honest.values(), 0)
        for record in rounds:
            shares = dict(zip(record.members, record.shares, strict=True))
            params = json.loads(record.params)
            assert all(params["values"][m] > 0 for m in honest)  # measured every round; paid once vested
            total = {a: total[a] + shares.get(a, 0) for a in total}
            assert shares.get(_account(work, FORGER), 0) == 0
            assert params["rejected"][FORGER].startswith("rejected: signature does not match")
        assert all(s > 0 for s in total.values())
    finally:
        run.chain.close()


def test_revenue_is_paid_to_the_accounts_the_nodes_signed_with(federation) -> None:
    """The coordinator never held the members' keys: each member withdraws with its own key file."""
    work, _ = federation
    home = work / "coordinator" / "home"
    run = open_run(home)
    amount = 10**18
    try:
        assert all(m.own_key for m in run.record.members)
        run.ledger.distribute(run.chain.operator, b"\x07" * 32, amount)
        cut = run.config.revenue.treasury_cut_bps
    finally:
        run.chain.close()
    for member in ("st-marys", "northgate-clinic", FORGER):
        assert member in fairshare("withdraw", "--key", str(work / member / "account.json"), home=home).stdout
    run = open_run(home)
    try:
        balances = {b.name: b for b in member_balances(run)}
        paid = {m: balances[m].withdrawn for m in ("st-marys", "northgate-clinic", FORGER)}
        for member in ("st-marys", "northgate-clinic"):
            assert balances[member].address == _account(work, member)
            assert paid[member] > 0 and balances[member].withdrawable == 0
        assert paid[FORGER] == 0
        assert amount * (10_000 - cut) // 10_000 - sum(paid.values()) in range(0, 3)  # rounding dust only
    finally:
        run.chain.close()


@pytest.fixture(scope="module")
def federation_with_validator(tmp_path_factory: pytest.TempPathFactory, anvil_url: str) -> tuple[Path, str]:
    """The same federation on anvil, with an independent validator on its own "machine" beside the coordinator."""
    from fairshare.ledger.anvil import ANVIL_DEV_KEY
    from fairshare.ledger.chain import DEPLOYER_KEY_ENV

    work = tmp_path_factory.mktemp("federation-validator")
    env = {
        **os.environ,
        "FAIRSHARE_SUPERLINK_PORT": str(free_port()),
        "FAIRSHARE_CHAIN_URL": anvil_url,
        DEPLOYER_KEY_ENV: ANVIL_DEV_KEY,
        "FAIRSHARE_VALIDATOR": "regional-auditor",
        "FAIRSHARE_ROUNDS": "2",  # the validator's part in each round, not vesting, is what this run checks
        "COLUMNS": "200",
    }
    result = subprocess.run(
        ["bash", "scripts/federation-loopback.sh", str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return work, result.stdout


def test_a_validator_on_its_own_node_scores_every_federated_round(federation_with_validator) -> None:
    work, stdout = federation_with_validator
    assert "rounds [1, 2] trained over the federation" in stdout and "audit OK" in stdout
    log = (work / "regional-auditor" / "validator.log").read_text()
    assert log.count("committed") == 2 and log.count("revealed") == 2
    run = open_run(work / "coordinator" / "home")
    try:
        auditor = run.record.validator("regional-auditor")
        assert auditor.remote and all(m.own_key for m in run.record.members)
        assert [json.loads(r.params)["scorer"] for r in run.ledger.rounds()] == ["committee", "committee"]
    finally:
        run.chain.close()
    report = json.loads(fairshare("audit", "--json", home=work / "coordinator" / "home").stdout)
    assert report["ok"]
    assert all(auditor.address in s["revealed"] and not s["missing"] for s in report["scoring"])
