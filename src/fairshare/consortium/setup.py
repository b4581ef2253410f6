"""Starting a run: split the data among members, give every member a key, deploy the consortium's contracts.

Order matters for crash safety: files first, chain last, and ``run.json`` is written only once the contracts
exist, so an interrupted ``init`` leaves a folder that later commands ignore rather than a half-made run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from eth_utils import to_checksum_address

from fairshare.config import ConsortiumConfig, DataSettings, MemberSettings, load_config, save_config, with_members
from fairshare.consortium.workspace import MemberAccount, RunPaths, RunRecord, new_run, write_record
from fairshare.errors import ConfigError
from fairshare.learning.data import (
    Dataset,
    Standardizer,
    holdout,
    load_builtin,
    load_csv,
    partition,
    save_partition,
)
from fairshare.learning.factory import build_model
from fairshare.learning.images import load_image_folder, load_image_npz
from fairshare.learning.model import ModelSpec
from fairshare.ledger import Chain, GovernanceSettings, Keystore, deploy_consortium, deploy_test_stablecoin
from fairshare.ledger.deploy import ShareRule
from fairshare.valuation import record_fingerprints

__all__ = ["GAS_ALLOWANCE_WEI", "chain_url_for", "init_run", "model_spec", "prepare_data", "resolve_config"]

TEST_TOKEN_FLOAT = 10**30
"""Development tokens minted to the operator when a run pays in "test-stablecoin"."""

GAS_ALLOWANCE_WEI = 10**17
"""Native coin sent to each member account so it can pay gas for its own withdrawals and votes."""


def _own_data(member: MemberSettings, label: str) -> Dataset | None:
    """The member's own rows: a CSV, a folder of images per class, or an images .npz (its train split)."""
    if member.csv is not None:
        return load_csv(member.csv, label)
    if member.images is not None:
        return load_image_folder(member.images)
    if member.npz is not None:
        return load_image_npz(member.npz, "train")
    return None


def _coordinator_splits(data: DataSettings) -> tuple[Dataset, Dataset] | None:
    """The coordinator's own validation and test data, when the file names them rather than a dataset."""
    if data.validation_csv is not None and data.test_csv is not None:
        return load_csv(data.validation_csv, data.label), load_csv(data.test_csv, data.label)
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
    data = config.data
    own: dict[str, Dataset] = {}
    split_members: list[MemberSettings] = []
    for member in config.members:
        rows = _own_data(member, data.label)
        if rows is not None:
            own[member.name] = rows
        elif member.copy_of is None:
            split_members.append(member)
    splits = _coordinator_splits(data)
    if splits is not None:
        validation, test = splits
        pool = None
    else:
        assert data.dataset is not None  # guaranteed by ConsortiumConfig validation
        pool, validation, test = holdout(
            load_builtin(data.dataset), data.validation_fraction, data.test_fraction, seed=data.seed
        )
    if split_members:
        if pool is None:
            assert data.dataset is not None
            pool = load_builtin(data.dataset)
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
    save_partition(scaler.transform(test), paths.coordinator_dir / "test.npz")
    salt = f"{config.name}/{paths.index}".encode()
    sizes = {}
    for name, part in members.items():
        scaled = scaler.transform(part)
        save_partition(scaled, paths.data_dir / f"{name}.npz")
        np.save(paths.data_dir / f"{name}.fingerprints.npy", record_fingerprints(part.X, salt))
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


def resolve_config(config_path: Path, members: int | None = None, rounds: int | None = None) -> ConsortiumConfig:
    """The consortium file with command-line overrides applied."""
    config = load_config(config_path)
    if members is not None:
        config = with_members(config, members)
    if rounds is not None:
        if rounds < 1:
            raise ConfigError(f"--rounds must be at least 1; got {rounds}")
        config = config.model_copy(update={"training": config.training.model_copy(update={"rounds": rounds})})
    return config


def chain_url_for(config: ConsortiumConfig, chain_url: str | None) -> str | None:
    """``--chain`` wins over the consortium file; neither means the embedded chain."""
    return chain_url if chain_url is not None else config.chain.url or None


def init_run(config: ConsortiumConfig, home: Path, chain: Chain) -> tuple[RunPaths, RunRecord]:
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
        ),
        token=token,
        share_rule=ShareRule(config.valuation.share_scale, config.valuation.round_share_cap),
        pause_blocks=rules.pause_blocks,
    )
    record = RunRecord(
        consortium=config.name,
        chain_url=chain.url if not chain.url.startswith("embedded:") else "embedded",
        chain_id=chain.chain_id,
        deployment=deployment.to_json(),
        members=accounts,
        treasury=treasury.address,
        oracle=chain.operator.address,
    )
    write_record(paths, record)
    return paths, record
