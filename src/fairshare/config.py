"""The consortium file (TOML) parsed into typed, validated objects.

Every error names the file and the dotted key that is wrong, so a user can fix the file without reading code.
Unknown keys are errors too: a misspelt key silently ignored would change who gets paid.
This module reads the file and nothing else; resolving data paths relative to the file is the only I/O-adjacent
work it does, so that ``fairshare demo --config examples/x.toml`` works from any directory.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal, TypeVar, get_args

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from fairshare.errors import ConfigError

__all__ = [
    "ChainSettings",
    "CommitteeSettingsModel",
    "ConsortiumConfig",
    "DataSettings",
    "FederationSettings",
    "GovernanceSettingsModel",
    "MemberSettings",
    "ModelSettings",
    "NodeConfig",
    "PrivacySettingsModel",
    "RevenueSettings",
    "TrainingSettings",
    "ValidatorNodeConfig",
    "ValidatorSettings",
    "ValuationSettings",
    "load_config",
    "load_node_config",
    "load_validator_config",
    "save_config",
    "with_members",
]

Behaviour = Literal["honest", "free_rider", "random_update", "label_flip", "forger"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class MemberSettings(_Strict):
    """One organisation. ``weight`` sizes its partition of a bundled dataset; ``csv`` points at its own data instead."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    weight: Annotated[float, Field(gt=0)] = 1.0
    csv: Path | None = None
    images: Path | None = None
    """A folder with one subfolder of images per class (the subfolder names are the labels)."""
    npz: Path | None = None
    """An .npz with ``images`` and ``labels`` arrays, or MedMNIST's layout (``train_images``, ``train_labels``)."""
    behaviour: Behaviour = "honest"
    copy_of: str | None = None
    """Demo/benchmark only: this identity holds a copy of that member's rows (a replication attack)."""
    address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None
    """The member's own account, whose key stays on its machine (``fairshare node account``); it is paid
    there and signs its updates, votes and withdrawals itself. Unset: ``init`` creates the key in this
    machine's keystore (one machine, the demo)."""


class DataSettings(_Strict):
    """Where the rows come from. A bundled dataset is split among members; CSV members bring their own rows."""

    dataset: str | None = "breast_cancer"
    label: str = "label"
    classes: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=2)] | None = None
    """The consortium's class labels, in order: every CSV file's label column maps through this one list, so a
    member whose file lacks a class still sends updates of the consortium's shape, and a label outside it is an
    error naming the file and line. Omitted: the labels found in the coordinator's validation and test files."""
    validation_csv: Path | None = None
    test_csv: Path | None = None
    validation_npz: Path | None = None
    """The coordinator's validation images: ``images``/``labels``, or MedMNIST's ``val_images``/``val_labels``."""
    test_npz: Path | None = None
    """The coordinator's test images: ``images``/``labels``, or MedMNIST's ``test_images``/``test_labels``."""
    validation_images: Path | None = None
    test_images: Path | None = None
    validation_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    test_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    label_skew: Annotated[float, Field(gt=0)] | None = 1.0
    """Dirichlet alpha for label skew across members (smaller = more skewed); omit for IID."""
    seed: int = 7


class ModelSettings(_Strict):
    """The model every member trains: the numpy logistic regression (default, no extra dependency) or a
    PyTorch network of the consortium's own (``kind = "torch"``, needs ``pip install 'fairshare[torch]'``)."""

    kind: Literal["logistic_regression", "torch"] = "logistic_regression"
    l2: Annotated[float, Field(ge=0)] = 1e-3
    """L2 penalty (logistic regression) or weight decay (torch)."""
    factory: Annotated[str, Field(pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    """torch: "package.module:function" or "path/to/file.py:function", a function returning an nn.Module
    mapping a batch ``(b, *input_shape)`` to ``(b, classes)`` logits; a file path is relative to this file."""
    input_shape: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=4)] | None = None
    """torch: one sample's shape, e.g. [1, 8, 8] for 8x8 grey images; rows of data are reshaped to it."""
    optimiser: Literal["sgd", "adam"] = "sgd"
    """torch: the local optimiser (learning rate, epochs and batch size are in [training]); loss is cross-entropy."""
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """torch with sgd: momentum."""
    valuation_memory_mb: Annotated[int, Field(ge=16, le=65536)] = 256
    """torch: memory one chunk of batched coalition evaluations may use."""
    compile: bool = False
    """torch: compile the batched valuation pass with ``torch.compile`` (needs a C compiler). It costs about 40 s
    once per process and then made the digits CNN's coalitions about 4.6x cheaper here; worth it for long runs."""
    threads: Annotated[int, Field(ge=1, le=256)] = 1
    """torch: intra-op CPU threads. One is fastest for small networks and for serving single rows (measured on
    2 busy cores: a one-image call 0.16 ms with one thread, 2.3 ms with two); raise it for large networks on
    idle cores."""

    @model_validator(mode="after")
    def _check_kind(self) -> ModelSettings:
        if self.kind == "torch" and (self.factory is None or self.input_shape is None):
            raise ValueError('kind = "torch" needs factory = "module:function" and input_shape = [...]')
        if self.kind == "logistic_regression" and (self.factory is not None or self.input_shape is not None):
            raise ValueError('factory and input_shape are used only with kind = "torch"')
        return self


Runtime = Literal["in-process", "simulation"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)


def check_runtime(value: str) -> str:
    """A training runtime given on the command line, refused by name before anything is created."""
    if value not in RUNTIMES:
        raise ConfigError(f"unknown training runtime {value!r}; expected one of {', '.join(RUNTIMES)}")
    return value


class TrainingSettings(_Strict):
    rounds: Annotated[int, Field(ge=1, le=1000)] = 8
    local_epochs: Annotated[int, Field(ge=1, le=100)] = 2
    learning_rate: Annotated[float, Field(gt=0)] = 0.1
    batch_size: Annotated[int, Field(ge=1)] = 32
    seed: int = 0
    runtime: Runtime = "in-process"
    """Where members' ClientApps run when the coordinator holds their keys: "in-process" (one process, fastest
    on a few cores) or "simulation" (Flower's Simulation Engine, one Ray virtual node per member; needs the
    ``simulation`` extra; for many cores or a Ray cluster). Members on their own machines use
    ``fairshare train --federation`` instead."""


class ValuationSettings(_Strict):
    method: Literal["auto", "exact", "gtg", "loo", "banzhaf", "cosine", "perm"] = "auto"
    utility: Literal["calibrated_log_likelihood", "log_likelihood", "balanced_log_likelihood", "accuracy"] = (
        "calibrated_log_likelihood"
    )
    """What a coalition model is worth on the validation split. The default refits each model's class offsets
    to the split's class frequencies first, so a member's own class mix neither earns nor costs value
    (docs/valuation.md)."""
    drop_flagged: bool = True
    """Leave a flagged member's update out of the model (governed after setup: ``valuation`` proposals)."""
    noise_rule: Literal["pay", "exclude"] = "pay"
    """``pay`` settles the Shapley value of a member the round's model would be better without; ``exclude``
    pays it nothing and, with ``drop_flagged``, leaves it out (governed after setup; docs/valuation.md)."""
    aggregator: Literal["fedavg", "trimmed_mean", "median"] = "fedavg"
    seed: int = 0
    share_scale: Annotated[int, Field(ge=1, le=10**18)] = 10**9
    """Shares minted per unit of credited value (nats of validation log-likelihood by default)."""
    round_share_cap: Annotated[int, Field(ge=1, lt=2**128)] = 10**10
    """Most shares one round may mint (the contract scales a round's shares down to it): bounds what any
    single round, honest or not, can weigh in the split."""


class RevenueSettings(_Strict):
    """Amounts are integers in the token's smallest unit (wei for the native coin)."""

    currency: Annotated[str, Field(pattern=r"^(native|test-stablecoin|0x[0-9a-fA-F]{40})$")] = "native"
    """What revenue is paid in: the chain's native coin, an ERC-20 by address (e.g. a stablecoin), or
    "test-stablecoin" (a development token the run deploys and funds the operator with)."""
    treasury_cut_bps: Annotated[int, Field(ge=0, le=10_000)] = 500
    price_per_call: Annotated[int, Field(ge=0)] = 10**15
    demo_calls: Annotated[int, Field(ge=0, le=1_000_000)] = 120
    """How many paid model calls the demo's simulated customers make."""
    demo_rows_per_call: Annotated[int, Field(ge=1, le=10_000)] = 1
    payout: Literal["auto", "accumulator", "roots"] = "auto"
    """How the demo has members vote to pay out: the accumulator (one round transaction mints everyone's shares,
    at most 128 members), Merkle roots (rounds published in chunks, claims with proofs), or "auto": roots beyond
    128 members. Governance switches it (proposal kind payout-mode) like any other setting."""


class GovernanceSettingsModel(_Strict):
    """How members decide. Durations are in blocks (the embedded chain mines one block per transaction).

    The ranges are the Governor contract's own, chosen so that governance can always still act: a quorum
    everyone voting reaches, a threshold a majority can pass, role changes that wait longer than the rest.
    """

    weighting: Literal["member", "shares"] = "member"
    quorum_bps: Annotated[int, Field(ge=1, le=10_000)] = 5000
    threshold_bps: Annotated[int, Field(ge=5000, le=9999)] = 5000
    """Share of the votes cast that must be for (strictly more than this)."""
    supermajority_bps: Annotated[int, Field(ge=5000, le=9999)] = 6667
    """Role changes (oracle, pauser, operator, treasury, share rule, these rules) also need more than this
    share of the TOTAL weight, and a majority of members by count."""
    voting_period_blocks: Annotated[int, Field(ge=1, le=10**6)] = 20
    timelock_blocks: Annotated[int, Field(ge=0, le=10**6 - 1)] = 2
    role_timelock_blocks: Annotated[int, Field(ge=1, le=10**6)] = 10
    """Timelock of role changes; must be longer than ``timelock_blocks``."""
    execution_window_blocks: Annotated[int, Field(ge=10, le=10**6)] = 1000
    """A passed proposal not executed this many blocks after its timelock has expired."""
    pause_blocks: Annotated[int, Field(ge=1, le=10**6)] = 7200
    """How long the pauser's emergency pause lasts before the money moves again by itself."""
    demo_treasury_cut_bps: Annotated[int, Field(ge=0, le=10_000)] | None = 200
    """The demo proposes this treasury cut after the first settlement and shows its effect on the next."""


class PrivacySettingsModel(_Strict):
    """Differential privacy on the released model (Flower's DP wrappers); off unless ``clipping`` is set."""

    clipping: Literal["off", "server", "client"] = "off"
    """Where updates are clipped: by the coordinator ("server") or on each member's node ("client"). The noise
    is always added to the aggregate by the coordinator."""
    noise_multiplier: Annotated[float, Field(gt=0)] = 1.0
    clipping_norm: Annotated[float, Field(gt=0)] = 1.0
    delta: Annotated[float, Field(gt=0, lt=1)] = 1e-5


class FederationSettings(_Strict):
    """The coordinator's side of Flower's deployment runtime (``fairshare coordinator start``)."""

    address: str = "127.0.0.1:9092"
    """host:port the SuperLink listens on; members' nodes connect to it."""
    hostnames: list[str] = ["localhost", "127.0.0.1"]
    """Names and IP addresses members use to reach the coordinator; they go into its TLS certificate."""
    node_keys: dict[str, Path] = {}
    """Member name -> the public key (OpenSSH, ECDSA) of that member's node. Only admitted members are
    registered; a node without a registered key cannot connect."""
    node_timeout_seconds: Annotated[float, Field(gt=0)] = 600.0
    """How long a round waits for every registered node to be connected before the run stops, naming them."""


class ValidatorSettings(_Strict):
    """One validator: it values every round's updates on its own validation data and commits, then reveals, its
    scores on chain; the round's scores are the validators' weighted medians (docs/valuation.md, trust model).

    ``name`` is "coordinator" (the coordinator's key), a member's name (that member's account: it gets no say over
    its own score), or any other name: an independent party (auditor, regulator) with a key made at ``init``."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    weight: Annotated[int, Field(ge=1, le=2**32)] = 1
    behaviour: Literal["honest", "inflate", "deflate"] = "honest"
    """Demo/benchmark only: "inflate" reports ``target``'s score as 10x the larger of its credit and its value
    this round (a lie before the target vests too), "deflate" reports it as 0."""
    target: str | None = None
    address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None
    """An independent validator's own account, whose key stays on its machine: it runs ``fairshare validator
    start`` there and the coordinator waits for its commit and reveal. Unset: ``init`` makes its key here."""


class CommitteeSettingsModel(_Strict):
    """Phase lengths of every validators' ballot, in blocks (the embedded chain mines one block per transaction,
    so the commit and reveal phases need at least one block per validator)."""

    commit_blocks: Annotated[int, Field(ge=1, le=100_000)] = 16
    reveal_blocks: Annotated[int, Field(ge=1, le=100_000)] = 16
    challenge_blocks: Annotated[int, Field(ge=1, le=100_000)] = 5
    """How long a proposed set of medians waits, open to an on-chain recomputation by anyone."""
    wait_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """How long the coordinator waits for validators on other machines to commit, then to reveal."""


class ValidatorNodeConfig(_Strict):
    """A validator on its own machine (``fairshare validator start --config validator.toml``)."""

    chain: str
    """JSON-RPC URL of the consortium's chain."""
    committee: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
    """The consortium's ScoreCommittee address (run.json: deployment.committee)."""
    account_key: Path
    """This validator's account key (an Ethereum keystore file, ``fairshare node account``)."""
    data: Path
    """Its validation rows (a partition file); their hash must be the one governance admitted."""
    handoff: Path
    """The folder the coordinator's round hand-off files (round-<r>.npz) arrive in."""
    settlement: Path | None = None
    """This validator's settlement log (its values round by round); default ``<data>.settlement.json``."""
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 0.2


class ChainSettings(_Strict):
    url: str | None = None
    """None or empty: the embedded chain in ``<home>/chain.sqlite``. Otherwise any Ethereum JSON-RPC URL."""


class ConsortiumConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    data: DataSettings = DataSettings()
    model: ModelSettings = ModelSettings()
    training: TrainingSettings = TrainingSettings()
    valuation: ValuationSettings = ValuationSettings()
    revenue: RevenueSettings = RevenueSettings()
    chain: ChainSettings = ChainSettings()
    governance: GovernanceSettingsModel = GovernanceSettingsModel()
    privacy: PrivacySettingsModel = PrivacySettingsModel()
    federation: FederationSettings = FederationSettings()
    members: Annotated[list[MemberSettings], Field(min_length=2, max_length=10_000)]
    validators: Annotated[list[ValidatorSettings], Field(max_length=16)] = []
    """Empty: the coordinator is the single scorer (labelled so in every round record and the audit)."""
    committee: CommitteeSettingsModel = CommitteeSettingsModel()

    @model_validator(mode="after")
    def _check_validators(self) -> ConsortiumConfig:
        names = [v.name for v in self.validators]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"[[validators]] names must be unique; repeated: {', '.join(repeated)}")
        members = {m.name for m in self.members}
        for v in self.validators:
            if v.behaviour != "honest" and v.target not in members:
                raise ValueError(f"validator {v.name!r} is {v.behaviour!r}: its target must be a member's name")
        too_short = [
            k for k in ("commit_blocks", "reveal_blocks") if self.validators and getattr(self.committee, k) < len(names)
        ]
        if too_short:
            raise ValueError(f"[committee] {', '.join(too_short)} must be at least the number of validators")
        return self

    _source: str = PrivateAttr(default="")
    """The file this was read from (``load_config``), named in errors found later (e.g. a model factory's)."""

    @property
    def source(self) -> str:
        return self._source

    def __eq__(self, other: object) -> bool:
        """The same settings are the same consortium, whichever file they were read from."""
        if not isinstance(other, ConsortiumConfig):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _check_members(self) -> ConsortiumConfig:
        names = [m.name for m in self.members]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"member names must be unique; repeated: {', '.join(duplicates)}")
        for member in self.members:
            if member.copy_of is not None and member.copy_of not in names:
                raise ValueError(f"member {member.name!r} has copy_of={member.copy_of!r}, which is not a member")
            sources = [k for k in ("csv", "images", "npz") if getattr(member, k) is not None]
            if len(sources) > 1:
                raise ValueError(f"member {member.name!r} sets {' and '.join(sources)}; give one data source")
            if not sources and self.data.dataset is None:
                raise ValueError(f"member {member.name!r} has no csv, images or npz and [data] names no dataset")
        if self.data.classes is not None and len(set(self.data.classes)) != len(self.data.classes):
            raise ValueError(f"[data] classes lists a label twice: {self.data.classes}")
        coordinator = [
            k
            for k in ("csv", "npz", "images")
            if getattr(self.data, f"validation_{k}") is not None or getattr(self.data, f"test_{k}") is not None
        ]
        if len(coordinator) > 1:
            raise ValueError(f"[data] sets validation/test as {' and '.join(coordinator)}; give one kind")
        if coordinator:
            kind = coordinator[0]
            if getattr(self.data, f"validation_{kind}") is None or getattr(self.data, f"test_{kind}") is None:
                raise ValueError(f"[data] needs both validation_{kind} and test_{kind}")
        if (
            any(m.csv is not None or m.images is not None or m.npz is not None for m in self.members)
            and not coordinator
        ):
            raise ValueError(
                "members with their own data need the coordinator's validation and test splits: [data] "
                "validation_csv and test_csv (or validation_npz and test_npz, or validation_images and test_images)"
            )
        if self.privacy.clipping != "off" and self.valuation.aggregator != "fedavg":
            raise ValueError(
                "differential privacy is accounted for the fedavg aggregator only; set [valuation] "
                f'aggregator = "fedavg" or [privacy] clipping = "off" (aggregator is {self.valuation.aggregator!r})'
            )
        if self.governance.role_timelock_blocks <= self.governance.timelock_blocks:
            raise ValueError(
                "[governance] role_timelock_blocks must be longer than timelock_blocks "
                f"({self.governance.role_timelock_blocks} <= {self.governance.timelock_blocks})"
            )
        unknown = sorted(set(self.federation.node_keys) - set(names))
        if unknown:
            raise ValueError(f"[federation] node_keys names members that do not exist: {', '.join(unknown)}")
        return self


class NodeConfig(_Strict):
    """A member's node (``fairshare node start --config member.toml``): what its SuperNode needs, nothing more."""

    member: Annotated[str, Field(min_length=1, max_length=64)]
    superlink: str
    """host:port of the coordinator's SuperLink."""
    root_certificates: Path
    """The consortium CA certificate (ca.crt from the coordinator)."""
    node_key: Path
    """This node's private key (``fairshare node keygen``); the coordinator registered its .pub."""
    account_key: Path
    """The member's account key (an Ethereum keystore file): signs every update and receives the pay."""
    data: Path
    """The member's training rows (a partition file); they never leave this machine."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9094
    """Local port of this node's ClientApp API; distinct per node on one machine."""
    model_factory: str = ""
    """The PyTorch network factory ("module:function") this member agreed to run. A node imports and calls the
    factory a round names, so it refuses any other (and any network at all while this is empty)."""
    behaviour: Behaviour = "honest"


_M = TypeVar("_M", bound=BaseModel)


def _format_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    return path if path.is_absolute() else (base / path).resolve()


def _load_model(path: Path, model: type[_M], what: str) -> _M:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist; pass --config with an existing file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = _format_location(error["loc"])
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            else:
                problems.append(f"'{key}': {error['msg']}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from exc


def load_node_config(path: Path) -> NodeConfig:
    """A member's node file; relative paths are resolved against the file's folder."""
    config = _load_model(path, NodeConfig, "node file")
    base = path.resolve().parent
    return config.model_copy(
        update={k: _resolve(getattr(config, k), base) for k in ("root_certificates", "node_key", "account_key", "data")}
    )


def load_validator_config(path: Path) -> ValidatorNodeConfig:
    """A validator's node file; relative paths are resolved against the file's folder."""
    config = _load_model(path, ValidatorNodeConfig, "validator file")
    base = path.resolve().parent
    keys = ("account_key", "data", "handoff", "settlement")
    return config.model_copy(update={k: _resolve(getattr(config, k), base) for k in keys})


def load_config(path: Path) -> ConsortiumConfig:
    """Parse and validate a consortium file; relative data paths are resolved against the file's folder."""
    config = _load_model(path, ConsortiumConfig, "consortium file")
    base = path.resolve().parent
    members = [
        m.model_copy(update={k: _resolve(getattr(m, k), base) for k in ("csv", "images", "npz")})
        for m in config.members
    ]
    data = config.data.model_copy(
        update={
            f"{split}_{kind}": _resolve(getattr(config.data, f"{split}_{kind}"), base)
            for split in ("validation", "test")
            for kind in ("csv", "npz", "images")
        }
    )
    factory = config.model.factory
    if factory is not None and factory.rpartition(":")[0].endswith(".py"):
        file, _, function = factory.rpartition(":")
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"factory": f"{_resolve(Path(file), base)}:{function}"})}
        )
    federation = config.federation.model_copy(
        update={"node_keys": {m: _resolve(k, base) for m, k in config.federation.node_keys.items()}}
    )
    config = config.model_copy(update={"members": members, "data": data, "federation": federation})
    config._source = str(path)
    return config


def with_members(config: ConsortiumConfig, count: int) -> ConsortiumConfig:
    """The first ``count`` members of ``config``, or all of them plus honest members named ``member-K`` up to ``count``.

    Extra members need a bundled dataset to take rows from; copies refer to members that must stay in.
    """
    if count < 2:
        raise ConfigError(f"--members must be at least 2; got {count}")
    members = list(config.members[:count])
    kept = {m.name for m in members}
    for member in members:
        if member.copy_of is not None and member.copy_of not in kept:
            raise ConfigError(
                f"--members {count} drops {member.copy_of!r}, of which {member.name!r} holds a copy; use more members"
            )
    if count > len(members) and config.data.dataset is None:
        raise ConfigError(f"--members {count}: the file has {len(members)} CSV members and no dataset to split")
    k = 1
    while len(members) < count:
        name = f"member-{k}"
        if name not in kept:
            members.append(MemberSettings(name=name))
            kept.add(name)
        k += 1
    names = {m.name for m in members}
    dropped = {m.name for m in config.members} - names  # a validator that was a dropped member leaves too
    validators = [v for v in config.validators if v.name not in dropped and (v.target is None or v.target in names)]
    return config.model_copy(update={"members": members, "validators": validators})


def _drop_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def save_config(config: ConsortiumConfig, path: Path) -> None:
    """Write ``config`` as a consortium file that ``load_config`` reads back to an equal object (paths absolute)."""
    path.write_text(tomli_w.dumps(_drop_none(config.model_dump(mode="json"))), encoding="utf-8")
