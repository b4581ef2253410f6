"""Starting a run: split the data among members, give every member a key, deploy the consortium's contracts.

Order matters for crash safety: files first, chain last, and ``run.json`` is written only once the contracts
exist, so an interrupted ``init`` leaves a folder that later commands ignore rather than a half-made run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from eth_utils import to_checksum_address

from fairshare.config import (
    ConsortiumConfig,
    DataSettings,
    MemberSettings,
    check_runtime,
    load_config,
    save_config,
    with_members,
)
from fairshare.consortium.workspace import (
    MemberAccount,
    RunPaths,
    RunRecord,
    ValidatorAccount,
    new_run,
    write_record,
)
from fairshare.errors import ConfigError, DataError
from fairshare.learning.data import (
    Dataset,
    Standardizer,
    class_list,
    encode_labels,
    holdout,
    load_builtin,
    load_partition,
    partition,
    read_csv,
    save_partition,
    without_rows,
)
from fairshare.learning.factory import build_model
from fairshare.learning.images import load_image_folder, load_image_npz
from fairshare.learning.model import ModelSpec
from fairshare.ledger import Chain, GovernanceSettings, Keystore, deploy_consortium, deploy_test_stablecoin
from fairshare.ledger.deploy import CommitteeSettings, ShareRule, ValidatorSeat
from fairshare.valuation import ValuationPolicy, record_fingerprints

__all__ = ["GAS_ALLOWANCE_WEI", "chain_url_for", "init_run", "model_spec", "prepare_data", "resolve_config"]

TEST_TOKEN_FLOAT = 10**30
"""Development tokens minted to the operator when a run pays in "test-stablecoin"."""

GAS_ALLOWANCE_WEI = 10**17
"""Native coin sent to each member account so it can pay gas for its own withdrawals and votes."""


def _image_data(member: MemberSettings) -> Dataset | None:
    """A member's own images: a folder of images per class, or an images .npz (its train split)."""
    if member.images is not None:
        return load_image_folder(member.images)
    if member.npz is not None:
        return load_image_npz(member.npz, "train")
    return None


def _coordinator_images(data: DataSettings) -> tuple[Dataset, Dataset] | None:
    """The coordinator's own validation and test images, when the file names them."""
    if data.validation_npz is not None and data.test_npz is not None:
        return load_image_npz(data.validation_npz, "validation"), load_image_npz(data.test_npz, "test")
    if data.validation_images is not None and data.test_images is not None:
        return load_image_folder(data.validation_images), load_image_folder(data.test_images)
    return None


def _same_classes(parts: dict[str, Dataset]) -> dict[str, Dataset]:
    """Every file counts classes up to its own largest label; the model has as many as the largest of them."""
    classes = max(d.n_classes for d in parts.values())
    return {k: Dataset(d.X, d.y, classes, d.feature_names, d.name) for k, d in parts.items()}


def _coordinator_and_member_data(config: ConsortiumConfig) -> tuple[Dataset, Dataset, dict[str, Dataset]]:
    """The coordinator's validation and test splits and every member's rows, all labelled by one class list.

    CSV labels map through ``[data] classes`` (or the labels of the coordinator's files); members cut from a
    bundled dataset are cut from what remains after the coordinator's holdout, and rows equal to a
    validation or test row are removed from it, so no member trains on the rows that value it.
    """
    data = config.data
    files = {m.name: read_csv(m.csv, data.label) for m in config.members if m.csv is not None}
    images = {m.name: rows for m in config.members if (rows := _image_data(m)) is not None}
    split_members = [m for m in config.members if m.name not in files and m.name not in images and m.copy_of is None]
    coordinator_images = _coordinator_images(data)
    bundled = None
    if data.dataset is not None and (split_members or (data.validation_csv is None and coordinator_images is None)):
        bundled = holdout(load_builtin(data.dataset), data.validation_fraction, data.test_fraction, seed=data.seed)
    own: dict[str, Dataset] = dict(images)
    if data.validation_csv is not None and data.test_csv is not None:
        coordinator = read_csv(data.validation_csv, data.label), read_csv(data.test_csv, data.label)
        classes = tuple(data.classes) if data.classes is not None else class_list(*coordinator)
        if bundled is not None and len(classes) != bundled[0].n_classes:
            raise DataError(
                f"the consortium's class list ({', '.join(classes)}) has {len(classes)} labels but dataset "
                f"{data.dataset!r} has {bundled[0].n_classes}; set [data] classes to as many labels, in its order"
            )
        validation, test = (encode_labels(t, classes) for t in coordinator)
        own.update({name: encode_labels(rows, classes) for name, rows in files.items()})
    elif coordinator_images is not None:
        assert not files  # ConsortiumConfig requires the coordinator's CSV files for CSV members
        validation, test = coordinator_images
    else:  # no member of its own data: ConsortiumConfig requires the coordinator's files when there is one
        assert bundled is not None and not files and not images
        _, validation, test = bundled
    if split_members:
        assert bundled is not None
        pool = without_rows(bundled[0], validation, test)
        parts = partition(pool, [m.weight for m in split_members], data.label_skew, seed=data.seed)
        own.update({m.name: part for m, part in zip(split_members, parts, strict=True)})
    for member in config.members:
        if member.copy_of is not None:
            own[member.name] = own[member.copy_of]
    aligned = _same_classes({"/validation": validation, "/test": test, **own})
    return aligned.pop("/validation"), aligned.pop("/test"), aligned


def prepare_data(config: ConsortiumConfig, paths: RunPaths) -> dict[str, int]:
    """Write each member's (scaled) partition and salted record fingerprints, and the coordinator's splits.

    The scaler is fitted on the coordinator's validation split, never on member rows. Fingerprints are what a
    member would commit so the coordinator can count duplicated records without seeing them (see docs/valuation.md).
    Returns each member's row count.
    """
    validation, test, members = _coordinator_and_member_data(config)
    build_model(model_spec(config, validation.X.shape[1], validation.n_classes))  # a bad factory fails before any file
    scaler = Standardizer.fit(validation)
    save_partition(scaler.transform(validation), paths.coordinator_dir / "validation.npz")
    if config.validators:
        _validator_splits(config, paths, scaler.transform(validation))
    save_partition(scaler.transform(test), paths.coordinator_dir / "test.npz")
    salt = f"{config.name}/{paths.index}".encode()
    sizes = {}
    for name, part in members.items():
        scaled = scaler.transform(part)
        save_partition(scaled, paths.data_dir / f"{name}.npz")
        np.save(paths.data_dir / f"{name}.fingerprints.npy", record_fingerprints(scaled.X, salt))
        sizes[name] = len(part.y)
    return sizes


def model_spec(config: ConsortiumConfig, n_features: int, n_classes: int) -> ModelSpec:
    """The ``[model]`` section as the spec the coordinator and every node build the same model from."""
    model = config.model
    return ModelSpec(
        kind=model.kind,
        n_features=n_features,
        n_classes=n_classes,
        l2=model.l2,
        factory=model.factory,
        input_shape=tuple(model.input_shape) if model.input_shape is not None else None,
        optimiser=model.optimiser,
        momentum=model.momentum,
        valuation_memory_mb=model.valuation_memory_mb,
        threads=model.threads,
        compile=model.compile,
        source=config.source,
    )


def data_hash(ds: Dataset) -> bytes:
    """SHA-256 of a validation split's rows and labels: what a validator commits to when it is admitted."""
    return hashlib.sha256(ds.X.astype(np.float64).tobytes() + ds.y.astype(np.int64).tobytes()).digest()


def _validator_splits(config: ConsortiumConfig, paths: RunPaths, validation: Dataset) -> None:
    """Cut the coordinator's (scaled) validation split into one disjoint split per validator.

    In a real consortium each validator brings its own data; on one machine this stands in for it, so that no two
    validators measure on the same rows."""
    if len(validation.y) < 2 * len(config.validators):
        raise ConfigError(
            f"{len(config.validators)} validators need at least {2 * len(config.validators)} validation rows; "
            f"the holdout has {len(validation.y)}: raise [data] validation_fraction"
        )
    order = np.random.default_rng([config.data.seed, 1]).permutation(len(validation.y))
    paths.validators_dir.mkdir(parents=True, exist_ok=True)
    for validator, rows in zip(config.validators, np.array_split(order, len(config.validators)), strict=True):
        save_partition(validation.subset(np.sort(rows)), paths.validators_dir / f"{validator.name}.npz")


def _validator_accounts(
    config: ConsortiumConfig, paths: RunPaths, chain: Chain, keystore: Keystore, members: list[MemberAccount]
) -> list[ValidatorAccount]:
    """Each validator's paying account: the oracle's, a member's own, or a key made for an independent party."""
    by_name = {m.name: m for m in members}
    accounts = []
    for v in config.validators:
        remote = False
        if v.name == "coordinator":
            address, kind = chain.operator.address, "coordinator"
        elif v.name in by_name:
            address, kind, remote = by_name[v.name].address, "member", by_name[v.name].own_key
        elif v.address is not None:
            address, kind, remote = to_checksum_address(v.address), "independent", True
            chain.fund(address, GAS_ALLOWANCE_WEI)
        else:
            address, kind = keystore.create(f"{config.name}-{paths.index}-validator-{v.name}").address, "independent"
            chain.fund(address, GAS_ALLOWANCE_WEI)
        split = load_partition(paths.validators_dir / f"{v.name}.npz")
        accounts.append(ValidatorAccount(v.name, address, v.weight, data_hash(split).hex(), kind, remote))
    return accounts


def resolve_config(
    config_path: Path, members: int | None = None, rounds: int | None = None, runtime: str | None = None
) -> ConsortiumConfig:
    """The consortium file with command-line overrides applied."""
    config = load_config(config_path)
    if members is not None:
        config = with_members(config, members)
    training: dict[str, object] = {}
    if rounds is not None:
        if rounds < 1:
            raise ConfigError(f"--rounds must be at least 1; got {rounds}")
        training["rounds"] = rounds
    if runtime is not None:
        training["runtime"] = check_runtime(runtime)
    if training:
        config = config.model_copy(update={"training": config.training.model_copy(update=training)})
    return config


def chain_url_for(config: ConsortiumConfig, chain_url: str | None) -> str | None:
    """``--chain`` wins over the consortium file; neither means the embedded chain."""
    return chain_url if chain_url is not None else config.chain.url or None


def init_run(
    config: ConsortiumConfig, home: Path, chain: Chain, progress: Callable[[str, int, int], None] | None = None
) -> tuple[RunPaths, RunRecord]:
    """Create a new run of ``config`` on ``chain``: data files, member keys, contracts; returns paths and record."""
    paths = new_run(home, config.name)
    save_config(config, paths.config_file)
    prepare_data(config, paths)
    keystore = Keystore(home / "keystore")
    accounts = []
    for member in config.members:
        if member.address is not None:
            address = to_checksum_address(member.address)
        else:
            address = keystore.create(f"{config.name}-{paths.index}-{member.name}").address
        chain.fund(address, GAS_ALLOWANCE_WEI)
        accounts.append(MemberAccount(member.name, address, member.behaviour, own_key=member.address is not None))
        if progress is not None:
            progress("keys", len(accounts), len(config.members))
    validators = _validator_accounts(config, paths, chain, keystore, accounts)
    committee = (
        CommitteeSettings(
            tuple(ValidatorSeat(v.address, v.weight, bytes.fromhex(v.data_hash)) for v in validators),
            commit_blocks=config.committee.commit_blocks,
            reveal_blocks=config.committee.reveal_blocks,
            challenge_blocks=config.committee.challenge_blocks,
        )
        if validators
        else None
    )
    treasury = keystore.create(f"{config.name}-{paths.index}-treasury")
    chain.fund(treasury.address, GAS_ALLOWANCE_WEI)
    rules = config.governance
    token = "" if config.revenue.currency == "native" else config.revenue.currency
    if token == "test-stablecoin":
        token = deploy_test_stablecoin(chain, chain.operator.address, TEST_TOKEN_FLOAT)
    deployment = deploy_consortium(
        chain,
        name=config.name,
        treasury=treasury.address,
        treasury_cut_bps=config.revenue.treasury_cut_bps,
        oracle=chain.operator,
        governance=GovernanceSettings(
            members=tuple((a.name, a.address) for a in accounts),
            weighting=0 if rules.weighting == "member" else 1,
            quorum_bps=rules.quorum_bps,
            threshold_bps=rules.threshold_bps,
            super_bps=rules.supermajority_bps,
            voting_period=rules.voting_period_blocks,
            timelock=rules.timelock_blocks,
            role_timelock=rules.role_timelock_blocks,
            execution_window=rules.execution_window_blocks,
            price_per_row=config.revenue.price_per_call,
            valuation_method=config.valuation.method,
            valuation_params=ValuationPolicy(config.valuation.drop_flagged, config.valuation.noise_rule).to_text(),
        ),
        token=token,
        share_rule=ShareRule(config.valuation.share_scale, config.valuation.round_share_cap),
        pause_blocks=rules.pause_blocks,
        committee=committee,
    )
    record = RunRecord(
        consortium=config.name,
        chain_url=chain.url if not chain.url.startswith("embedded:") else "embedded",
        chain_id=chain.chain_id,
        deployment=deployment.to_json(),
        members=accounts,
        treasury=treasury.address,
        oracle=chain.operator.address,
        validators=validators,
    )
    write_record(paths, record)
    return paths, record
