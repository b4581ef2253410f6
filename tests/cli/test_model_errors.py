"""A wrong model factory stops `fairshare init` with one line naming the key, the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_end_to_end import fairshare

pytest.importorskip("torch")


def test_a_factory_with_the_wrong_output_stops_init_before_any_run_is_recorded(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text("from torch import nn\n\ndef make():\n    return nn.Linear(30, 3)\n")
    config = tmp_path / "c.toml"
    config.write_text(
        'name = "x"\n[model]\nkind = "torch"\nfactory = "nets.py:make"\ninput_shape = [30]\n'
        '[[members]]\nname = "a"\n[[members]]\nname = "b"\n'
    )
    result = fairshare("init", "--config", str(config), home=tmp_path / "home", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = " ".join(result.stderr.split())
    assert str(config) in line and "[model] factory = " in line and "it must output (batch, 2) logits" in line
    assert not list((tmp_path / "home" / "runs" / "x").glob("*/run.json"))  # no half-made run
