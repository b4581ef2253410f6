from pathlib import Path

import pytest

from fairshare.config import load_config, save_config, with_members
from fairshare.errors import ConfigError

MINIMAL = """
name = "c1"
[[members]]
name = "a"
[[members]]
name = "b"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "consortium.toml"
    path.write_text(text)
    return path


def test_examples_parse(examples_dir: Path) -> None:
    for name in ("healthcare.toml", "finance.toml"):
        config = load_config(examples_dir / name)
        assert len(config.members) >= 2
        assert config.valuation.method == "auto"


def test_defaults_fill_in(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.data.dataset == "breast_cancer"
    assert config.chain.url is None
    assert [m.behaviour for m in config.members] == ["honest", "honest"]


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[training]\nrouns = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "unknown key 'training.rouns'" in str(info.value)
    assert str(path) in str(info.value)


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('name = "b"', 'name = "b"\nweight = "heavy"'))
    with pytest.raises(ConfigError, match=r"'members\[1\]\.weight'"):
        load_config(path)


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "name = [unclosed"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_duplicate_member_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(write(tmp_path, MINIMAL.replace('name = "b"', 'name = "a"')))


def test_csv_paths_resolve_against_the_file(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "a"', 'name = "a"\ncsv = "data/a.csv"') + (
        '\n[data]\nvalidation_csv = "v.csv"\ntest_csv = "t.csv"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.members[0].csv == (tmp_path / "data" / "a.csv").resolve()
    assert config.data.test_csv == (tmp_path / "t.csv").resolve()


def test_csv_members_need_coordinator_data(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "a"', 'name = "a"\ncsv = "a.csv"')
    with pytest.raises(ConfigError, match="validation_csv and test_csv"):
        load_config(write(tmp_path, text))


def test_with_members_truncates_and_extends(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert [m.name for m in with_members(config, 4).members] == ["a", "b", "member-1", "member-2"]
    assert [m.name for m in with_members(config, 2).members] == ["a", "b"]
    with pytest.raises(ConfigError, match="at least 2"):
        with_members(config, 1)


def test_save_config_round_trips(tmp_path: Path, examples_dir: Path) -> None:
    config = with_members(load_config(examples_dir / "healthcare.toml"), 7)
    save_config(config, tmp_path / "saved.toml")
    assert load_config(tmp_path / "saved.toml") == config


def test_privacy_is_refused_with_a_robust_aggregator(tmp_path: Path) -> None:
    text = 'name = "c1"\n[valuation]\naggregator = "median"\n[privacy]\nclipping = "server"\n' + MINIMAL.replace(
        'name = "c1"\n', ""
    )
    with pytest.raises(ConfigError, match="fedavg aggregator only"):
        load_config(write(tmp_path, text))


def test_node_keys_must_name_members_and_resolve_against_the_file(tmp_path: Path) -> None:
    body = MINIMAL.replace('name = "c1"\n', "")
    with pytest.raises(ConfigError, match="node_keys names members that do not exist: zed"):
        load_config(write(tmp_path, 'name = "c1"\n[federation.node_keys]\nzed = "z.pub"\n' + body))
    config = load_config(write(tmp_path, 'name = "c1"\n[federation.node_keys]\na = "keys/a.pub"\n' + body))
    assert config.federation.node_keys["a"] == (tmp_path / "keys" / "a.pub").resolve()


def test_validators_are_checked_and_follow_the_members(tmp_path: Path, examples_dir: Path) -> None:
    config = load_config(examples_dir / "healthcare.toml")
    assert [v.name for v in config.validators] == ["coordinator", "st-marys", "riverside-general"]
    assert [v.name for v in with_members(config, 2).validators] == ["coordinator", "st-marys"]  # riverside dropped
    assert load_config(write(tmp_path, MINIMAL)).validators == []  # no [[validators]]: a single scorer
    with pytest.raises(ConfigError, match=r"\[\[validators\]\] names must be unique; repeated: x"):
        load_config(write(tmp_path, MINIMAL + '[[validators]]\nname = "x"\n[[validators]]\nname = "x"\n'))
    with pytest.raises(ConfigError, match="its target must be a member's name"):
        load_config(write(tmp_path, MINIMAL + '[[validators]]\nname = "x"\nbehaviour = "inflate"\ntarget = "zz"\n'))
    short = MINIMAL + '[committee]\ncommit_blocks = 1\n[[validators]]\nname = "x"\n[[validators]]\nname = "y"\n'
    with pytest.raises(ConfigError, match=r"\[committee\] commit_blocks must be at least the number of validators"):
        load_config(write(tmp_path, short))
    with pytest.raises(ConfigError, match=r"'validators\[0\]\.weight'"):
        load_config(write(tmp_path, MINIMAL + '[[validators]]\nname = "x"\nweight = 0\n'))


def test_a_validator_file_resolves_its_paths_and_its_settlement_log_against_itself(tmp_path: Path) -> None:
    from fairshare.config import load_validator_config

    text = (
        'chain = "http://127.0.0.1:8545"\ncommittee = "0x' + "ab" * 20 + '"\naccount_key = "k.json"\n'
        'data = "rows/validation.npz"\nhandoff = "in"\n'
    )
    (tmp_path / "v.toml").write_text(text)
    assert load_validator_config(tmp_path / "v.toml").settlement is None  # the node keeps it beside its rows
    (tmp_path / "v.toml").write_text(text + 'settlement = "state/log.json"\n')
    assert load_validator_config(tmp_path / "v.toml").settlement == (tmp_path / "state" / "log.json").resolve()
