"""The customer's commands: buy credit on chain, call the API keeping receipts, verify them, get a refund;
and the members' settlement from published receipts when the operator stops settling."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount

from fairshare.cli.main import ChainOption, ConsortiumOption, HomeOption, KeyOption, _default_home, app, console
from fairshare.errors import LedgerError, ServingError

__all__ = ["customer_app"]

customer_app = typer.Typer(help="For customers: buy API credit on chain, verify receipts, get a refund.")
app.add_typer(customer_app, name="customer")

KeyIdOption = Annotated[str, typer.Option("--key-id", help="The API key's id (the part after fsk_, before _).")]
CUSTOMER_KEY = "customer"
"""Keystore name of a home's own customer account (dev chains), used when no --key is given."""


def _payer(run, key: Path | None) -> LocalAccount:
    """The customer's account: its own key file, or on the embedded chain a key kept in the home's keystore and
    funded by the operator (a development convenience; a real customer brings its own funded key)."""
    from fairshare.ledger.keystore import load_key_file

    if key is not None:
        return load_key_file(key)
    if run.chain.embedded is None:
        raise LedgerError("on a node by URL the customer signs with its own funded key: pass --key FILE")
    store = run.keystore
    account = store.load(CUSTOMER_KEY) if store.path(CUSTOMER_KEY).exists() else store.create(CUSTOMER_KEY)
    return account


def _key_id(value: str) -> str:
    if value.startswith("fsk_"):
        raise ServingError("--key-id takes the key's id only (fsk_<id>_<secret>: the <id>); never share the secret")
    if not value or not all(c in "0123456789abcdef" for c in value):
        raise ServingError(f"--key-id {value!r} is not a key id (hexadecimal, as `fairshare keys list` shows)")
    return value


@customer_app.command("buy")
def buy(
    key_id: KeyIdOption,
    amount: Annotated[int, typer.Option("--amount", help="Credit to buy, in the smallest unit (wei).")],
    key: KeyOption = None,
    chain: ChainOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Deposit credit for an API key in the CreditVault; the API honours deposits - billed."""
    from fairshare.consortium.revenue import vault_for
    from fairshare.consortium.session import open_run
    from fairshare.ledger.vault import key_hash

    run = open_run(home, consortium, chain_url=chain)
    payer = _payer(run, key)
    if key is None:
        run.chain.fund(payer.address, amount + 10**17)
    vault = vault_for(run)
    tx = vault.deposit(payer, key_hash(_key_id(key_id)), amount)
    state = vault.key(key_hash(key_id))
    console.print(
        f"bought {amount:,} credit for key {key_id} in the CreditVault {vault.address} (tx {tx[:18]}…); "
        f"deposited {state.deposited:,}, settled {state.settled:,}, held {state.held:,}; refunds go to {state.holder}",
        highlight=False,
    )


@customer_app.command("verify")
def verify(
    receipts: Annotated[Path, typer.Argument(help="Receipts file (one JSON receipt per line, as `predict` keeps).")],
    chain: ChainOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Check receipts against the chain: operator's signature, running totals, settlements; exit 2 on a problem."""
    from rich.table import Table

    from fairshare.client import read_receipts
    from fairshare.consortium.revenue import vault_for
    from fairshare.consortium.session import open_run
    from fairshare.ledger.verify import verify_receipts

    run = open_run(home, consortium, chain_url=chain)
    findings = verify_receipts(read_receipts(receipts), vault_for(run), run.governance.policy().price_per_row)
    table = Table(title=f"Receipts in {receipts}")
    for column in ("subject", "result", "detail"):
        table.add_column(column)
    for f in findings:
        table.add_row(f.subject, "[green]ok[/green]" if f.ok else "[red]PROBLEM[/red]", f.detail)
    console.print(table)
    if not findings or not all(f.ok for f in findings):
        console.print("receipts do NOT check out" if findings else "no receipts in the file")
        raise typer.Exit(2)
    console.print("receipts OK")


@customer_app.command("refund")
def refund(
    key_id: KeyIdOption,
    key: KeyOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Mine through the notice (dev chains only).")] = False,
    chain: ChainOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Ask for the unused credit back (the API stops honouring the key), then, after the governed notice,
    take it: run again, or pass --wait on a dev chain. A refunded key is closed."""
    from fairshare.consortium.revenue import vault_for
    from fairshare.consortium.session import open_run
    from fairshare.ledger.vault import key_hash

    run = open_run(home, consortium, chain_url=chain)
    holder = _payer(run, key)
    vault = vault_for(run)
    source = key_hash(_key_id(key_id))
    state = vault.key(source)
    if state.refund_at == 0:
        at = vault.request_refund(holder, source)
        console.print(f"refund of key {key_id} asked; the API no longer honours it; it pays from block {at:,}")
        if not wait:
            return
        state = vault.key(source)
    if wait:
        run.chain.mine(state.refund_at - run.chain.w3.eth.block_number - 1)
    amount, tx = vault.refund(holder, source)
    console.print(f"refunded {amount:,} to {holder.address} (tx {tx[:18]}…); key {key_id} is closed", highlight=False)


@app.command()
def predict(
    url: Annotated[str, typer.Option("--url", help="The model API, e.g. http://127.0.0.1:8000.")],
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="FAIRSHARE_API_KEY", help="fsk_<id>_<secret>.")
    ] = None,
    rows: Annotated[str | None, typer.Option("--rows", help='Rows as JSON, e.g. "[[0.1, -0.2, ...]]".')] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Rows from a CSV file of numbers (no header).")] = None,
    receipts: Annotated[Path, typer.Option("--receipts", help="Append each signed receipt here.")] = Path(
        "receipts.jsonl"
    ),
) -> None:
    """Call the paid API with a key; print the answer and keep its signed receipt."""
    from fairshare.client import FairshareClient

    if not api_key:
        raise ServingError("pass --api-key or set FAIRSHARE_API_KEY")
    table = _rows(rows, csv)
    with FairshareClient(url, api_key, receipts=receipts) as client:
        answer = client.predict(table)
    console.print(json.dumps({"predictions": answer.predictions, "probabilities": answer.probabilities}))
    total = answer.receipt.receipt.total if answer.receipt else "none"
    console.print(
        f"charged {answer.charged:,}, credit left {answer.credit_left:,}, running total billed {total}; "
        f"receipt kept in {os.fspath(receipts)}",
        highlight=False,
    )


def _rows(rows: str | None, csv: Path | None) -> list[list[float]]:
    if (rows is None) == (csv is None):
        raise ServingError("give the rows with exactly one of --rows JSON or --csv FILE")
    try:
        if csv is not None:
            import numpy as np

            return np.atleast_2d(np.loadtxt(csv, delimiter=",", dtype=np.float64)).tolist()
        parsed = json.loads(rows or "")
        if not isinstance(parsed, list) or not all(isinstance(r, list) for r in parsed):
            raise ValueError("expected a list of rows, each a list of numbers")
        return parsed
    except (OSError, ValueError) as exc:
        raise ServingError(f"cannot read the rows: {exc}") from exc
