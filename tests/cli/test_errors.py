"""Bad input gets one clear line on stderr, a non-zero exit and no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_end_to_end import fairshare


def test_unknown_key_names_the_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\ncolour = "red"\n[[members]]\nname = "a"\n[[members]]\nname = "b"\n')
    result = fairshare("demo", "--config", str(config), home=tmp_path, check=False)
    assert result.returncode == 1
    assert "unknown key 'colour'" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name = "x"\n[training]\nrounds = "many"\n[[members]]\nname = "a"\n[[members]]\nname = "b"\n')
    result = fairshare("init", "--config", str(config), home=tmp_path, check=False)
    assert result.returncode == 1 and "'training.rounds'" in result.stderr and "Traceback" not in result.stderr


def test_missing_data_file_names_the_path(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        'name = "x"\n[data]\nvalidation_csv = "v.csv"\ntest_csv = "t.csv"\n'
        '[[members]]\nname = "a"\ncsv = "missing.csv"\n[[members]]\nname = "b"\ncsv = "missing.csv"\n'
    )
    result = fairshare("init", "--config", str(config), home=tmp_path, check=False)
    assert result.returncode == 1 and str(tmp_path / "missing.csv") in result.stderr


def test_audit_without_any_run_says_what_to_do(tmp_path: Path) -> None:
    result = fairshare("audit", home=tmp_path, check=False)
    assert result.returncode == 1 and "fairshare init" in result.stderr and "Traceback" not in result.stderr


def test_audit_on_a_chain_without_our_contracts(tmp_path: Path) -> None:
    fairshare("demo", "--rounds", "1", "--members", "2", home=tmp_path)
    (tmp_path / "chain.sqlite").unlink()
    for extra in tmp_path.glob("chain.sqlite-*"):
        extra.unlink()
    result = fairshare("audit", home=tmp_path, check=False)
    assert result.returncode == 1
    assert "no fairshare contracts" in result.stderr or "chain id" in result.stderr


def test_unreachable_chain_url(tmp_path: Path) -> None:
    result = fairshare("demo", "--chain", "http://127.0.0.1:9", home=tmp_path, check=False)
    assert result.returncode == 1 and "no Ethereum node answers at http://127.0.0.1:9" in result.stderr


def test_node_file_problems_name_the_key_to_fix(tmp_path: Path) -> None:
    node = tmp_path / "member.toml"
    node.write_text('member = "a"\nsuperlink = "127.0.0.1:9092"\nroot_certificates = "ca.crt"\n')
    result = fairshare("node", "start", "--config", str(node), home=tmp_path, check=False)
    assert result.returncode == 1 and "'node_key'" in result.stderr and "Traceback" not in result.stderr
    fairshare("node", "keygen", "--out", str(tmp_path / "node-key"), home=tmp_path)
    node.write_text(
        'member = "a"\nsuperlink = "127.0.0.1:9092"\nroot_certificates = "ca.crt"\nnode_key = "node-key"\n'
        'account_key = "account.json"\ndata = "a.npz"\n'
    )
    result = fairshare("node", "start", "--config", str(node), home=tmp_path, check=False)
    assert result.returncode == 1 and f"root_certificates = {tmp_path / 'ca.crt'} does not exist" in result.stderr


def test_node_keys_are_never_overwritten(tmp_path: Path) -> None:
    fairshare("node", "keygen", "--out", str(tmp_path / "k"), home=tmp_path)
    public = (tmp_path / "k.pub").read_text()
    result = fairshare("node", "keygen", "--out", str(tmp_path / "k"), home=tmp_path, check=False)
    assert result.returncode == 1 and "never overwritten" in result.stderr
    assert (tmp_path / "k.pub").read_text() == public and public.startswith("ecdsa-sha2-nistp384 ")


def test_training_over_a_federation_without_registered_nodes_says_what_to_do(tmp_path: Path) -> None:
    fairshare("init", "--members", "2", home=tmp_path)
    result = fairshare("train", "--federation", "healthcare", home=tmp_path, check=False)
    assert result.returncode == 1 and "fairshare coordinator start" in result.stderr
    assert "Traceback" not in result.stderr


def test_members_with_their_own_keys_are_never_signed_for_here(tmp_path: Path) -> None:
    address = fairshare("node", "account", "--out", str(tmp_path / "b.json"), home=tmp_path).stdout.split()[2]
    config = tmp_path / "c.toml"
    config.write_text(f'name = "x"\n[[members]]\nname = "a"\n[[members]]\nname = "b"\naddress = "{address}"\n')
    fairshare("init", "--config", str(config), home=tmp_path)
    result = fairshare("train", home=tmp_path, check=False)
    assert result.returncode == 1 and "b keep their account keys" in result.stderr and "--federation" in result.stderr
    result = fairshare("withdraw", "--member", "b", home=tmp_path, check=False)
    assert result.returncode == 1 and f"b keeps its own account key ({address})" in result.stderr
    assert "nothing due" in fairshare("withdraw", "--key", str(tmp_path / "b.json"), home=tmp_path).stdout
    stranger = tmp_path / "stranger.json"
    fairshare("node", "account", "--out", str(stranger), home=tmp_path)
    result = fairshare("withdraw", "--key", str(stranger), home=tmp_path, check=False)
    assert result.returncode == 1 and "not an account of this consortium" in result.stderr
    # governance: b proposes and votes with its own key file; a stranger's key is refused
    opened = fairshare("propose", "treasury-cut", "--number", "100", "--key", str(tmp_path / "b.json"), home=tmp_path)
    proposal = opened.stdout.split()[1]
    fairshare("vote", proposal, "--key", str(tmp_path / "b.json"), home=tmp_path)
    result = fairshare("vote", proposal, "--key", str(stranger), home=tmp_path, check=False)
    assert result.returncode == 1 and "not a member of this consortium" in result.stderr
    result = fairshare("vote", proposal, home=tmp_path, check=False)
    assert result.returncode == 1 and "--member NAME, or --key FILE" in result.stderr
    from fairshare.consortium.session import open_run

    run = open_run(tmp_path)
    try:
        (opened_proposal,) = run.governance.proposals()
        assert opened_proposal.votes_for == 1  # b's vote, signed with its own key file, counted once
    finally:
        run.chain.close()
