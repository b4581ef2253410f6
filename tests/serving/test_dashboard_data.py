"""The dashboard's data for a run paid in an ERC-20: amounts are shown with the token's own symbol and decimals."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_end_to_end import REPO, fairshare

from fairshare.consortium.snapshot import dashboard_snapshot


def test_a_token_run_shows_the_tokens_symbol_and_decimals(tmp_path: Path) -> None:
    config = tmp_path / "token.toml"
    text = (REPO / "examples" / "healthcare.toml").read_text()
    config.write_text(text.replace("[revenue]\n", '[revenue]\ncurrency = "test-stablecoin"\n', 1))
    home = tmp_path / "home"
    fairshare("init", "--config", str(config), "--members", "3", home=home)
    data = dashboard_snapshot(home)  # before any round or release: the dashboard has something to show
    currency = data["currency"]
    assert (currency["symbol"], currency["decimals"], currency["unit"]) == ("tUSD", 6, "base units")
    assert str(currency["token"]).startswith("0x") and data["released_model"] is None
    assert data["revenue"]["unsettled"] == "0" and all(p["withdrawable"] == "0" for p in data["payouts"])


def test_each_round_says_who_scored_it_and_names_the_validators(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fairshare("init", "--members", "3", home=home)
    fairshare("train", "--rounds", "2", home=home)
    rounds = dashboard_snapshot(home)["rounds"]
    assert [r["scorer"] for r in rounds] == ["committee", "committee"]
    assert all(sorted(r["revealed"]) == ["coordinator", "riverside-general", "st-marys"] for r in rounds)
    assert all(r["missing"] == [] for r in rounds)
