"""Where one consortium run keeps its off-chain files, and how a later command finds them again.

Layout under the home folder (``.fairshare`` by default)::

    chain.sqlite                   the embedded chain (shared by every run that uses it)
    keystore/                      encrypted member keys
    runs/<consortium>/<k>/         one run: its own contracts, data partitions, model artifacts, usage store
        consortium.toml            the consortium file as this run uses it (overrides applied, paths absolute)
        run.json                   chain URL, contract addresses, member accounts
        data/<member>.npz          each member's partition (what a member node reads; never sent anywhere)
        coordinator/               validation and test splits kept by the coordinator
        validators/<name>.npz      each validator's own validation split (cut from the coordinator's holdout)
        models/round-<r>.npz       the global model after round r (its hash is on chain)
        events.sqlite              checkpointed index of the contracts' events (a cache: safe to delete)
        usage.sqlite               API keys, paid calls, settlements

A new run never writes into an older run's folder, so a second ``demo`` on the same chain cannot corrupt the first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fairshare.errors import ConfigError

__all__ = [
    "MemberAccount",
    "RunPaths",
    "RunRecord",
    "ValidatorAccount",
    "latest_run",
    "new_run",
    "read_record",
    "write_record",
]


@dataclass(frozen=True)
class RunPaths:
    """The folders and files of one run."""

    home: Path
    consortium: str
    index: int

    @property
    def root(self) -> Path:
        return self.home / "runs" / self.consortium / str(self.index)

    @property
    def config_file(self) -> Path:
        return self.root / "consortium.toml"

    @property
    def record_file(self) -> Path:
        return self.root / "run.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def coordinator_dir(self) -> Path:
        return self.root / "coordinator"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def usage_url(self) -> str:
        return f"sqlite:///{self.root / 'usage.sqlite'}"

    @property
    def validators_dir(self) -> Path:
        return self.root / "validators"

    def model_file(self, round_id: int) -> Path:
        return self.models_dir / f"round-{round_id}.npz"


@dataclass(frozen=True)
class MemberAccount:
    name: str
    address: str
    behaviour: str
    role: str = "member"
    own_key: bool = False
    """The member keeps its key on its own machine; this machine cannot sign for it."""


@dataclass(frozen=True)
class ValidatorAccount:
    """A validator of this run: "coordinator", a member's name, or an independent party's name."""

    name: str
    address: str
    weight: int
    data_hash: str
    kind: str  # "coordinator" | "member" | "independent"
    remote: bool = False
    """Its key is on its own machine (``fairshare validator start``); the coordinator waits for it."""


@dataclass(frozen=True)
class RunRecord:
    """What later commands need to find this run's chain state again."""

    consortium: str
    chain_url: str
    chain_id: int
    deployment: dict[str, object]
    members: list[MemberAccount]
    treasury: str
    oracle: str
    settlements: list[str] = field(default_factory=list)
    validators: list[ValidatorAccount] = field(default_factory=list)
    """Empty: the coordinator (oracle) is the single scorer."""

    def validator(self, name: str) -> ValidatorAccount:
        for validator in self.validators:
            if validator.name == name:
                return validator
        raise ConfigError(f"no validator named {name!r} in consortium {self.consortium!r}")

    def member(self, name: str) -> MemberAccount:
        for member in self.members:
            if member.name == name:
                return member
        known = ", ".join(m.name for m in self.members)
        raise ConfigError(f"no member named {name!r} in consortium {self.consortium!r}; members: {known}")


def new_run(home: Path, consortium: str) -> RunPaths:
    """A fresh, empty run folder numbered after the last one of this consortium."""
    parent = home / "runs" / consortium
    parent.mkdir(parents=True, exist_ok=True)
    existing = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    paths = RunPaths(home, consortium, max(existing, default=0) + 1)
    for folder in (paths.data_dir, paths.coordinator_dir, paths.models_dir):
        folder.mkdir(parents=True)
    return paths


def latest_run(home: Path, consortium: str | None = None) -> RunPaths:
    """The newest run that finished setup (of one consortium, or of any if ``consortium`` is None)."""
    runs_dir = home / "runs"
    candidates: list[tuple[float, RunPaths]] = []
    names = [consortium] if consortium else sorted(p.name for p in runs_dir.glob("*") if p.is_dir())
    for name in names:
        for folder in (runs_dir / name).glob("*"):
            if folder.name.isdigit() and (folder / "run.json").exists():
                candidates.append(((folder / "run.json").stat().st_mtime, RunPaths(home, name, int(folder.name))))
    if not candidates:
        which = f"consortium {consortium!r}" if consortium else "any consortium"
        raise ConfigError(f"no run of {which} under {home}; start one with `fairshare init --config FILE`")
    return max(candidates, key=lambda c: (c[0], c[1].index))[1]


def write_record(paths: RunPaths, record: RunRecord) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written record."""
    tmp = paths.record_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    tmp.replace(paths.record_file)


def read_record(paths: RunPaths) -> RunRecord:
    try:
        raw = json.loads(paths.record_file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{paths.root} has no run.json; was `fairshare init` interrupted? start a new run") from exc
    raw["members"] = [MemberAccount(**m) for m in raw["members"]]
    raw["validators"] = [ValidatorAccount(**v) for v in raw.get("validators", [])]
    return RunRecord(**raw)
