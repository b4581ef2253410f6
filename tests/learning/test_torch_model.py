"""A PyTorch network through the model protocol and the real in-process runner (ServerApp + ClientApp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fairshare.errors import LearningError
from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition, save_partition
from fairshare.learning.factory import build_model
from fairshare.learning.model import ModelSpec, params_hash
from fairshare.learning.runner import FederationSpec, MemberSpec, run_federation
from fairshare.learning.strategy import RoundUpdates, fedavg

pytest.importorskip("torch")

CNN = ModelSpec("torch", 64, 10, factory="fairshare.examples_models:make_cnn", input_shape=(1, 8, 8), momentum=0.9)


@pytest.fixture(scope="module")
def digits() -> tuple[Dataset, Dataset, Dataset]:
    pool, validation, test = holdout(load_builtin("digits"), 0.2, 0.2, seed=5)
    scaler = Standardizer.fit(validation)
    return scaler.transform(pool), scaler.transform(validation), scaler.transform(test)


def test_parameters_are_float32_arrays_in_state_dict_order_and_seeded() -> None:
    model = build_model(CNN)
    first, again, other = model.init_params(1), model.init_params(1), model.init_params(2)
    assert [p.dtype for p in first] == [np.float32] * 8
    assert params_hash(first) == params_hash(again) != params_hash(other)
    model.check(first)
    with pytest.raises(LearningError, match="expected"):
        model.check(first[:-1])
    with pytest.raises(LearningError, match="NaN or Inf"):
        model.check([*first[:-1], np.full_like(first[-1], np.nan)])


def test_local_training_learns_reproducibly_and_leaves_its_input_alone(digits) -> None:
    pool, validation, _ = digits
    model = build_model(CNN)
    start = model.init_params(0)
    kept = [p.copy() for p in start]
    train = dict(epochs=2, learning_rate=0.05, batch_size=32)
    one = model.fit_local(start, pool.X, pool.y, rng=np.random.default_rng(3), **train)
    two = model.fit_local(start, pool.X, pool.y, rng=np.random.default_rng(3), **train)
    assert all(np.array_equal(a, b) for a, b in zip(start, kept, strict=True))
    assert params_hash(one) == params_hash(two)
    assert model.log_loss(one, validation.X, validation.y) < model.log_loss(start, validation.X, validation.y) - 0.5
    with pytest.raises(LearningError, match="empty partition"):
        model.fit_local(start, pool.X[:0], pool.y[:0], rng=np.random.default_rng(0), **train)


def test_rows_of_the_wrong_length_are_refused() -> None:
    model = build_model(CNN)
    with pytest.raises(LearningError, match="takes rows of 64 values"):
        model.logits(model.init_params(0), np.zeros((2, 30)))


def test_a_torch_model_trains_through_the_in_process_runner(tmp_path: Path, digits) -> None:
    pool, _, test = digits
    members = []
    for k, part in enumerate(partition(pool, [2, 1, 1], 2.0, seed=5)):
        path = tmp_path / f"m{k}.npz"
        save_partition(part, path)
        members.append(MemberSpec(f"m{k}", path, "free_rider" if k == 2 else "honest"))
    model = build_model(CNN)
    seen: list[RoundUpdates] = []

    def hook(updates: RoundUpdates):
        seen.append(updates)
        return fedavg(updates.global_params, updates.updates)

    results = []
    spec = FederationSpec(model, members, 3, 1, 0.05, 32, 0, test)
    final = run_federation(spec, hook, results.append)
    again = run_federation(spec, lambda u: fedavg(u.global_params, u.updates))
    assert [r.round for r in results] == [1, 2, 3]
    accuracy = [r.accuracy for r in results]
    assert accuracy[-1] > max(0.3, accuracy[0] + 0.15), accuracy  # chance is 0.1
    assert params_hash(final.params) == params_hash(again.params)
    for updates in seen:
        assert all(len(u.params) == 8 for u in updates.updates)
        free_rider = updates.updates[2]
        assert all(np.array_equal(a, b) for a, b in zip(free_rider.params, updates.global_params, strict=True))


def test_a_node_runs_only_the_network_factory_its_member_agreed_to(digits) -> None:
    """A node imports and calls the factory a round names: a coordinator must not choose what code it runs."""
    from fairshare.learning.clientapp import _model

    pool, _, _ = digits
    spec = CNN.to_json()
    assert _model(spec, pool, "fairshare.examples_models:make_cnn").n_features == 64
    assert _model(spec, pool, None).n_features == 64  # in-process: one machine, no pin
    with pytest.raises(LearningError, match="the member agreed to only 'my_models:make_cnn'"):
        _model(spec, pool, "my_models:make_cnn")
    with pytest.raises(LearningError, match="no network factory"):
        _model(spec, pool, "")
    evil = ModelSpec("torch", 64, 10, factory="os:abort", input_shape=(1, 8, 8)).to_json()
    with pytest.raises(LearningError, match="'os:abort'"):
        _model(evil, pool, "")


def test_fairshare_node_start_passes_the_members_pin_to_its_node(tmp_path: Path, monkeypatch) -> None:
    import fairshare.consortium.federation as federation
    from fairshare.config import NodeConfig

    for name in ("ca.crt", "node-key", "account.json", "data.npz"):
        (tmp_path / name).write_text("x")
    started: list[list[str]] = []
    monkeypatch.setattr(federation.subprocess, "Popen", lambda command, env: started.append(command))
    node = NodeConfig(
        member="st-marys",
        superlink="127.0.0.1:9092",
        root_certificates=tmp_path / "ca.crt",
        node_key=tmp_path / "node-key",
        account_key=tmp_path / "account.json",
        data=tmp_path / "data.npz",
        model_factory="fairshare.examples_models:make_cnn",
    )
    federation.start_node(node)
    config = started[0][started[0].index("--node-config") + 1]
    assert 'model-factory="fairshare.examples_models:make_cnn"' in config
    federation.start_node(node.model_copy(update={"model_factory": ""}))
    assert 'model-factory=""' in started[1][started[1].index("--node-config") + 1]


def test_artifacts_of_either_layout_load_in_order(tmp_path: Path) -> None:
    from fairshare.consortium.training import load_model, save_model

    params = build_model(CNN).init_params(0)
    save_model(tmp_path / "round-1.npz", params)
    assert params_hash(load_model(tmp_path / "round-1.npz")) == params_hash(params)
    W, b = np.ones((3, 2)), np.zeros(2)
    np.savez(tmp_path / "old.npz", W=W, b=b)  # the logistic regression's artifacts before models were pluggable
    assert params_hash(load_model(tmp_path / "old.npz")) == params_hash([W, b])
