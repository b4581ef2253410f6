"""A local development node: anvil from the npm package ``@foundry-rs/anvil`` (the binary ships inside it).

Node.js and npm are needed only for this: the embedded chain needs neither. ``ensure_anvil`` installs the
pinned package under ``<home>/node`` on first use; ``start_anvil`` runs it with its state dumped to a file
(``--state``), so the chain survives restarts, and waits until it answers JSON-RPC.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from fairshare.errors import ChainConnectionError

__all__ = ["ANVIL_DEV_KEY", "ANVIL_PACKAGE", "AnvilNode", "ensure_anvil", "start_anvil"]

ANVIL_PACKAGE = "@foundry-rs/anvil@1.7.1"
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""anvil's first development account (public knowledge: never use it on a real network)."""


@dataclass
class AnvilNode:
    process: subprocess.Popen[bytes]
    url: str
    state: Path

    def stop(self) -> None:
        """Stop anvil and everything it started: npm's ``anvil`` is a Node wrapper that spawns the binary, so
        terminating the wrapper alone would leave the node running; it runs in its own process group."""
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait(timeout=10)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, sig)


def ensure_anvil(home: Path) -> Path:
    """The anvil executable: on PATH, already installed under ``home``, or installed there now with npm."""
    local = home / "node" / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return local
    found = shutil.which("anvil")
    if found:
        return Path(found)
    npm = shutil.which("npm")
    if npm is None:
        raise ChainConnectionError(
            "anvil needs Node.js and npm (apt-get install nodejs npm); the embedded chain works without them"
        )
    (home / "node").mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(home / "node"), ANVIL_PACKAGE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 or not local.exists():
        raise ChainConnectionError(f"npm could not install {ANVIL_PACKAGE}: {result.stderr.strip()[-400:]}")
    return local


def start_anvil(home: Path, port: int = 8545, state: Path | None = None, timeout: float = 30.0) -> AnvilNode:
    """Start anvil on 127.0.0.1:``port`` with persisted state; returns once it answers."""
    executable = ensure_anvil(home)
    state = state or home / "anvil-state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(executable), "--host", "127.0.0.1", "--port", str(port), "--state", str(state), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise ChainConnectionError(f"anvil exited at start (port {port} in use?): {error.strip()[-400:]}")
            try:
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                if requests.post(url, json=body, timeout=1).ok:
                    return AnvilNode(process, url, state)
            except requests.RequestException:
                time.sleep(0.1)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM) while starting: never leave anvil behind
        _signal_group(process, signal.SIGKILL)
        raise
    _signal_group(process, signal.SIGKILL)
    raise ChainConnectionError(f"anvil did not answer on {url} within {timeout:.0f} s")
