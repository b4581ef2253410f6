"""A consortium's own network, named by import path: every way the factory can be wrong is a clear ConfigError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fairshare.config import load_config
from fairshare.errors import ConfigError
from fairshare.learning.factory import TORCH_INSTALL, build_model
from fairshare.learning.model import ModelSpec

pytest.importorskip("torch")

FACTORIES = """
import torch
from torch import nn

def good():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

def wrong_classes():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

def wrong_input():
    return nn.Linear(5, 10)

def not_a_module():
    return "a string"

def needs_arguments(width):
    return nn.Linear(64, width)

NOT_CALLABLE = 42
"""


@pytest.fixture
def factories(tmp_path: Path) -> Path:
    path = tmp_path / "my_models.py"
    path.write_text(FACTORIES)
    return path


def spec(factory: str, input_shape=(1, 8, 8), n_features=64, source="consortium.toml") -> ModelSpec:
    return ModelSpec("torch", n_features, 10, factory=factory, input_shape=input_shape, source=source)


def test_a_factory_in_a_file_builds_the_network(factories: Path) -> None:
    model = build_model(spec(f"{factories}:good"))
    assert model.n_features == 64 and model.n_classes == 10 and not model.linear_in_params
    assert [p.shape for p in model.init_params(0)] == [(10, 64), (10,)]


def test_a_factory_by_module_path_builds_the_network() -> None:
    model = build_model(spec("fairshare.examples_models:make_cnn"))
    assert sum(p.size for p in model.init_params(0)) == 3658


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("wrong_classes", "it must output (batch, 10) logits"),
        ("wrong_input", "make [model] input_shape = [1, 8, 8] match its input"),
        ("not_a_module", "returned a str; it must return a torch.nn.Module"),
        ("needs_arguments", "it must build the network without arguments"),
        ("NOT_CALLABLE", "is a int, not a function"),
        ("missing", "has no 'missing'; name a function defined there"),
    ],
)
def test_a_wrong_factory_names_the_key_the_file_and_the_fix(factories: Path, name: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(spec(f"{factories}:{name}"))
    message = str(info.value)
    assert message.startswith("consortium.toml: [model] factory")
    assert says in message


def test_a_module_that_fails_to_import_is_named() -> None:
    with pytest.raises(ConfigError, match=r"importing 'no_such_models' failed \(ModuleNotFoundError"):
        build_model(spec("no_such_models:make"))


def test_a_missing_factory_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"the file .*absent\.py does not exist; fix the path"):
        build_model(spec(f"{tmp_path / 'absent.py'}:make"))


def test_input_shape_must_hold_a_row_of_the_data(factories: Path) -> None:
    with pytest.raises(ConfigError, match=r"input_shape = \[1, 8, 8\] holds 64 values .* data has 30 features"):
        build_model(spec(f"{factories}:good", n_features=30))


def test_without_torch_kind_torch_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, factories: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError, as without the extra
    with pytest.raises(ConfigError) as info:
        build_model(spec(f"{factories}:good", source="other.toml"))
    needs = f'other.toml: [model] kind = "torch" needs PyTorch, which is not installed: {TORCH_INSTALL}'
    assert str(info.value) == needs
    assert TORCH_INSTALL == "pip install 'fairshare[torch]'"


def test_a_factory_file_is_resolved_against_the_consortium_file(tmp_path: Path, factories: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'name = "c"\n[model]\nkind = "torch"\nfactory = "my_models.py:good"\ninput_shape = [1, 8, 8]\n'
        '[[members]]\nname = "a"\n[[members]]\nname = "b"\n'
    )
    config = load_config(path)
    assert config.model.factory == f"{factories}:good"
    assert config.source == str(path)


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ('kind = "torch"', 'kind = "torch" needs factory'),
        ('factory = "m:f"', "used only with kind"),
        ('kind = "torch"\nfactory = "nocolon"\ninput_shape = [4]', "'model.factory'"),
        ('kind = "torch"\nfactory = "m:f"\ninput_shape = [0]', "'model.input_shape[0]'"),
    ],
)
def test_model_section_errors_name_the_key(tmp_path: Path, model: str, says: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'name = "c"\n[model]\n{model}\n[[members]]\nname = "a"\n[[members]]\nname = "b"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and says in str(info.value)
