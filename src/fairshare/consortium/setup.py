"""Starting a run: split the data among members, give every member a key, deploy the consortium's contracts.

Order matters for crash safety: files first, chain last, and ``run.json`` is written only once the contracts
exist, so an interrupted ``init`` leaves a folder that later commands ignore rather than a half-made run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from eth_utils import to_checksum_address

from fairshare.config import ConsortiumConfig, load_config, save_config, with_members
from fairshare.consortium.workspace import MemberAccount, RunPaths, RunRecord, new_run, write_record
from fairshare.errors import ConfigError, DataError
from fairshare.learning.data import (
    Dataset,
    Standardizer,
    class_list,
    encode_labels,
    holdout,
    load_builtin,
    partition,
    read_csv,
    save_partition,
    without_rows,
)
from fairshare.ledger import Chain, GovernanceSettings, Keystore, deploy_consortium, deploy_test_stablecoin
from fairshare.ledger.deploy import ShareRule
from fairshare.valuation import ValuationPolicy, record_fingerprints

__all__ = ["GAS_ALLOWANCE_WEI", "chain_url_for", "init_run", "prepare_data", "resolve_config"]

TEST_TOKEN_FLOAT = 10**30
"""Development tokens minted to the operator when a run pays in "test-stablecoin"."""

GAS_ALLOWANCE_WEI = 10**17
"""Native coin sent to each member account so it can pay gas for its own withdrawals and votes."""


def _coordinator_and_member_data(config: ConsortiumConfig) -> tuple[Dataset, Dataset, dict[str, Dataset]]:
    """The coordinator's validation and test splits and every member's rows, all labelled by one class list.

    CSV labels map through ``[data] classes`` (or the labels of the coordinator's files); members cut from a
    bundled dataset are cut from what remains after the coordinator's holdout, and rows equal to a
    validation or test row are removed from it, so no member trains on the rows that value it.
    """
    data = config.data
    files = {m.name: read_csv(m.csv, data.label) for m in config.members if m.csv is not None}
    split_members = [m for m in config.members if m.csv is None and m.copy_of is None]
    bundled = None
    if data.dataset is not None and (split_members or data.validation_csv is None):
        bundled = holdout(load_builtin(data.dataset), data.validation_fraction, data.test_fraction, seed=data.seed)
    if data.validation_csv is not None and data.test_csv is not None:
        coordinator = read_csv(data.validation_csv, data.label), read_csv(data.test_csv, data.label)
        classes = tuple(data.classes) if data.classes is not None else class_list(*coordinator)
        if bundled is not None and len(classes) != bundled[0].n_classes:
            raise DataError(
                f"the consortium's class list ({', '.join(classes)}) has {len(classes)} labels but dataset "
                f"{data.dataset!r} has {bundled[0].n_classes}; set [data] classes to as many labels, in its order"
            )
        validation, test = (encode_labels(t, classes) for t in coordinator)
        own = {name: encode_labels(rows, classes) for name, rows in files.items()}
    else:  # no CSV member: ConsortiumConfig requires the coordinator's files when there is one
        assert bundled is not None and not files
        _, validation, test = bundled
        own = {}
    if split_members:
        assert bundled is not None
        pool = without_rows(bundled[0], validation, test)
        parts = partition(pool, [m.weight for m in split_members], data.label_skew, seed=data.seed)
        own.update({m.name: part for m, part in zip(split_members, parts, strict=True)})
    for member in config.members:
        if member.copy_of is not None:
            own[member.name] = own[member.copy_of]
    return validation, test, own


def prepare_data(config: ConsortiumConfig, paths: RunPaths) -> dict[str, int]:
    """Write each member's (scaled) partition and salted record fingerprints, and the coordinator's splits.

    The scaler is fitted on the coordinator's validation split, never on member rows. Fingerprints are what a
    member would commit so the coordinator can count duplicated records without seeing them (see docs/valuation.md).
    Returns each member's row count.
    """
    validation, test, members = _coordinator_and_member_data(config)
    scaler = Standardizer.fit(validation)
    save_partition(scaler.transform(validation), paths.coordinator_dir / "validation.npz")
    save_partition(scaler.transform(test), paths.coordinator_dir / "test.npz")
    salt = f"{config.name}/{paths.index}".encode()
    sizes = {}
    for name, part in members.items():
        scaled = scaler.transform(part)
        save_partition(scaled, paths.data_dir / f"{name}.npz")
        np.save(paths.data_dir / f"{name}.fingerprints.npy", record_fingerprints(scaled.X, salt))
        sizes[name] = len(part.y)
    return sizes


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
            valuation_params=ValuationPolicy(config.valuation.drop_flagged, config.valuation.noise_rule).to_text(),
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
