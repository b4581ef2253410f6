"""Compiling the Vyper contracts shipped in ``contracts/`` with the ``vyper`` package (no external binary).

Compiled output is cached on disk keyed by the source's hash and the compiler version and EVM target, so
only the first command on a machine pays the ~1 s compile; anyone can recompile and compare bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import vyper
from vyper.compiler import compile_code
from vyper.compiler.settings import Settings

from fairshare.errors import LedgerError

__all__ = ["CONTRACTS", "EVM_VERSION", "CompiledContract", "compiled", "export_abis"]

CONTRACTS = ("RevenueShares", "TrainingLog", "Governor", "CreditVault", "ScoreCommittee", "EntitlementRoots")
EVM_VERSION = os.environ.get("FAIRSHARE_EVM_VERSION", "prague")


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict[str, object]]
    bytecode: str
    runtime: str
    source_hash: str


def _source(name: str) -> str:
    try:
        return (Path(__file__).parent / "contracts" / f"{name}.vy").read_text()
    except FileNotFoundError as exc:
        raise LedgerError(f"no contract named {name!r}; contracts are {', '.join(CONTRACTS)}") from exc


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "fairshare" / "contracts"


@cache
def compiled(name: str, evm_version: str = EVM_VERSION) -> CompiledContract:
    source = _source(name)
    key = hashlib.sha256(f"{vyper.__version__}/{evm_version}/{source}".encode()).hexdigest()
    cached = _cache_dir() / f"{name}-{key[:16]}.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        return CompiledContract(name, data["abi"], data["bytecode"], data["runtime"], key)
    try:
        out = compile_code(
            source, output_formats=["abi", "bytecode", "bytecode_runtime"], settings=Settings(evm_version=evm_version)
        )
    except Exception as exc:  # the compiler raises many types; all mean the same to a user
        raise LedgerError(f"compiling {name}.vy with vyper {vyper.__version__} failed: {exc}") from exc
    contract = CompiledContract(name, out["abi"], out["bytecode"], out["bytecode_runtime"], key)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps({"abi": contract.abi, "bytecode": contract.bytecode, "runtime": contract.runtime}))
        tmp.replace(cached)
    except OSError:
        pass  # a read-only cache only costs the next command a recompile
    return contract


def export_abis(folder: Path) -> list[Path]:
    """Write ``<Name>.abi.json`` for every contract: what a third party needs to read the chain with web3."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CONTRACTS:
        path = folder / f"{name}.abi.json"
        path.write_text(json.dumps(compiled(name).abi, indent=2))
        paths.append(path)
    return paths
