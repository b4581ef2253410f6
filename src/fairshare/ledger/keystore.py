"""Member keys, kept as encrypted Ethereum keystore files (the format every wallet reads).

The passphrase comes from ``FAIRSHARE_KEYSTORE_PASSWORD``. Without it a development passphrase is used and
the files say so: fine for the demo, not for real money — set the variable before ``fairshare init``.
Encryption uses scrypt with light parameters (n=2**14), so a consortium of 50 is created in seconds.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from fairshare.errors import LedgerError

__all__ = ["DEV_PASSWORD", "PASSWORD_ENV", "Keystore", "create_key_file", "keystore_password", "load_key_file"]

PASSWORD_ENV = "FAIRSHARE_KEYSTORE_PASSWORD"
DEV_PASSWORD = "fairshare-development-only"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def keystore_password() -> str:
    return os.environ.get(PASSWORD_ENV) or DEV_PASSWORD


def create_key_file(path: Path) -> LocalAccount:
    """A new account in an encrypted keystore file at ``path``; never overwrites one (it may hold money)."""
    if path.exists():
        raise LedgerError(f"{path} already exists; keys are never overwritten")
    account = Account.create()
    path.parent.mkdir(parents=True, exist_ok=True)
    encrypted = Account.encrypt(account.key, keystore_password(), kdf="scrypt", iterations=2**14)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(encrypted))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return account


def load_key_file(path: Path) -> LocalAccount:
    try:
        encrypted = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise LedgerError(f"key file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise LedgerError(f"{path} is not a keystore file: {exc}") from exc
    try:
        return Account.from_key(Account.decrypt(encrypted, keystore_password()))
    except ValueError as exc:
        raise LedgerError(f"cannot decrypt {path}: wrong {PASSWORD_ENV}?") from exc


class Keystore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise LedgerError(f"key name {name!r} may only use letters, digits, '.', '_' and '-'")
        return self.folder / f"{name}.json"

    def create(self, name: str) -> LocalAccount:
        """A new key under ``name``; refuses to overwrite an existing one (it may hold money)."""
        return create_key_file(self.path(name))

    def load(self, name: str) -> LocalAccount:
        path = self.path(name)
        if not path.exists():
            raise LedgerError(f"no key named {name!r} in {self.folder}")
        return load_key_file(path)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json"))
