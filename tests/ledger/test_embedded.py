"""The embedded chain persists across processes and refuses a second writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from fairshare.errors import ChainConnectionError
from fairshare.ledger import connect
from fairshare.ledger.chain import EMBEDDED_FILE
from tests.ledger.conftest import make_consortium


def test_reopening_keeps_blocks_balances_and_contracts(tmp_path: Path) -> None:
    chain = connect(None, tmp_path)
    target = Account.create().address
    chain.fund(target, 12345)
    deployment = make_consortium(chain).deployment
    height = chain.w3.eth.block_number
    chain.close()

    script = (
        "import sys; from pathlib import Path; from fairshare.ledger import connect, LedgerClient, Deployment;"
        "import json; c = connect(None, Path(sys.argv[1])); d = Deployment.from_json(json.loads(sys.argv[2]));"
        "print(c.w3.eth.block_number, c.w3.eth.get_balance(sys.argv[3]), LedgerClient(c, d).total_shares())"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), json.dumps(deployment.to_json()), target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(height), "12345", "0"]


def test_a_second_writer_is_refused_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fairshare.ledger import embedded

    monkeypatch.setattr(embedded, "LOCK_WAIT", 0.2)
    chain = connect(None, tmp_path)
    with pytest.raises(ChainConnectionError, match="in use by pid"):
        connect(None, tmp_path)
    chain.close()
    connect(None, tmp_path).close()


def test_a_brief_user_is_waited_for_rather_than_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A served API holds the chain for a moment every few seconds; a command started then waits for it."""
    import threading

    from fairshare.ledger import embedded

    monkeypatch.setattr(embedded, "LOCK_WAIT", 3.0)
    chain = connect(None, tmp_path)
    threading.Timer(0.5, chain.close).start()
    connect(None, tmp_path).close()  # waited for the first to close


def test_a_corrupt_chain_file_is_named(tmp_path: Path) -> None:
    (tmp_path / EMBEDDED_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ChainConnectionError, match="is not an embedded chain file"):
        connect(None, tmp_path)


def test_bad_urls_and_keys_are_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ChainConnectionError, match="must start with http"):
        connect("ftp://x", tmp_path)
    with pytest.raises(ChainConnectionError, match="no Ethereum node answers at http://127.0.0.1:9"):
        connect("http://127.0.0.1:9", tmp_path)
