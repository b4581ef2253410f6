"""The repository is a standard Flower App: Flower's own CLI builds it, and it is the app fairshare writes."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from fairshare.learning.deployment import FLOWER_APP, NODE_CONFIG_KEYS, RUN_CONFIG, write_app

REPO = Path(__file__).resolve().parents[2]
FLWR = str(Path(sys.executable).parent / "flwr")


def _flwr_build(app: Path, out: Path) -> Path:
    env = {**os.environ, "FLWR_HOME": str(out / "flwr"), "FLWR_TELEMETRY_ENABLED": "0"}
    result = subprocess.run([FLWR, "build", "--app", str(app)], cwd=out, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    [fab] = out.glob("*.fab")
    return fab


def test_flwr_builds_the_repository_as_an_app(tmp_path: Path) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["flwr"]["app"]
    assert {k: v for k, v in declared.items() if k != "fab-include"} == FLOWER_APP
    fab = _flwr_build(REPO, tmp_path)
    with zipfile.ZipFile(fab) as bundle:
        bundled = tomllib.loads(bundle.read("pyproject.toml").decode())["tool"]["flwr"]["app"]
    assert bundled["components"] == FLOWER_APP["components"] and bundled["config"] == RUN_CONFIG


def test_the_written_app_is_the_same_app(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    assert tomllib.loads((app / "pyproject.toml").read_text())["tool"]["flwr"]["app"] == FLOWER_APP
    (tmp_path / "out").mkdir()
    _flwr_build(app, tmp_path / "out")


def test_the_documented_keys_are_the_keys_the_apps_read() -> None:
    guide = (REPO / "docs" / "federation.md").read_text()
    for key in [*RUN_CONFIG, *NODE_CONFIG_KEYS]:
        assert f"`{key}`" in guide, f"docs/federation.md does not document {key!r}"
