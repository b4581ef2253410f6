"""A customer's view, through the real CLI on the embedded chain: buy credit on chain, call the API with
`fairshare predict` keeping receipts, verify them (and catch a dropped or doctored one), settle, refund."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairshare.consortium.session import open_run
from tests.cli.test_end_to_end import fairshare
from tests.serving.conftest import serve

ROW = json.dumps([[0.0] * 30])


@pytest.fixture(scope="module")
def customer_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    home = tmp_path_factory.mktemp("customer")
    fairshare("demo", "--rounds", "2", "--members", "3", home=home)
    run = open_run(home)
    try:
        price = run.governance.policy().price_per_row
    finally:
        run.chain.close()
    key = fairshare("keys", "create", "--customer", "acme", home=home).stdout.strip().splitlines()[-1]
    return home, key, price


def test_buy_call_verify_settle_and_refund(customer_home, tmp_path: Path) -> None:
    home, key, price = customer_home
    key_id = key.split("_")[1]
    bought = fairshare("customer", "buy", "--key-id", key_id, "--amount", str(10 * price), home=home).stdout
    assert f"deposited {10 * price:,}" in bought
    receipts = tmp_path / "receipts.jsonl"
    server, url = serve(home)
    try:
        for _ in range(3):
            out = fairshare(
                "predict", "--url", url, "--api-key", key, "--rows", ROW, "--receipts", str(receipts), home=home
            )
            assert f"charged {price:,}" in out.stdout
    finally:
        server.kill()
        server.wait()
    lines = receipts.read_text().splitlines()
    assert [int(json.loads(line)["total"]) for line in lines] == [price, 2 * price, 3 * price]
    assert "receipts OK" in fairshare("customer", "verify", str(receipts), home=home).stdout
    listed = fairshare("keys", "list", home=home).stdout
    assert (
        key_id in listed and f"{10 * price:,}" in listed and f"{3 * price:,}" in listed and f"{7 * price:,}" in listed
    )

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join([lines[0], lines[2]]) + "\n")
    result = fairshare("customer", "verify", str(dropped), home=home, check=False)
    assert result.returncode == 2 and "no receipt here" in result.stdout

    doctored = json.loads(lines[2])
    doctored["total"] = str(2 * price)  # the operator tries to show less than it billed
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([lines[0], lines[1], json.dumps(doctored)]) + "\n")
    result = fairshare("customer", "verify", str(forged), home=home, check=False)
    assert result.returncode == 2 and "not the consortium's operator" in result.stdout

    assert "settled" in fairshare("settle", home=home).stdout
    checked = fairshare("customer", "verify", str(receipts), home=home).stdout
    assert "receipts OK" in checked and f"the vault settled {3 * price}" in checked
    refunded = fairshare("customer", "refund", "--key-id", key_id, "--wait", home=home).stdout
    assert f"refunded {7 * price:,}" in refunded and "is closed" in refunded
    again = fairshare("customer", "buy", "--key-id", key_id, "--amount", "1", home=home, check=False)
    assert again.returncode == 1 and "refunded and is closed" in again.stderr
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    vault = {c["name"]: c for c in report["checks"] if c["name"].startswith("vault")}
    assert (
        report["ok"]
        and len(vault) == 3
        and f"{7 * price} refunded" in vault["vault: deposits == settled + refunded + held"]["detail"]
    )


def test_a_secret_is_never_taken_as_a_key_id(customer_home) -> None:
    home, key, _ = customer_home
    result = fairshare("customer", "buy", "--key-id", key, "--amount", "1", home=home, check=False)
    assert result.returncode == 1 and "never share the secret" in result.stderr


def test_a_refund_before_settlement_is_the_operators_loss_and_the_audit_says_so(customer_home, tmp_path) -> None:
    home, _, price = customer_home
    key = fairshare("keys", "create", "--customer", "quick", home=home).stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    fairshare("customer", "buy", "--key-id", key_id, "--amount", str(5 * price), home=home)
    server, url = serve(home)
    try:
        for _ in range(2):
            fairshare(
                "predict", "--url", url, "--api-key", key, "--rows", ROW, "--receipts", str(tmp_path / "r"), home=home
            )
    finally:
        server.kill()
        server.wait()
    refunded = fairshare("customer", "refund", "--key-id", key_id, "--wait", home=home).stdout
    assert f"refunded {5 * price:,}" in refunded  # the operator never settled the two calls in time
    fairshare("settle", home=home)  # settles every other key; this one has nothing left to pay
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    usage = next(c for c in report["checks"] if c["name"] == "usage store matches settlements")
    assert report["ok"] and f"{2 * price} billed to keys refunded before settlement was written off" in usage["detail"]
