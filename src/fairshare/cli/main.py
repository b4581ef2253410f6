"""The ``fairshare`` command: parse options, call the parts, render results.

Only ``FairshareError`` is caught: its message is printed on one line and the exit code is 1. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from fairshare.errors import ConfigError, FairshareError, GovernanceError

__all__ = ["app", "main"]

app = typer.Typer(
    name="fairshare",
    help="Federated learning that pays its members: measured contributions, on-chain revenue sharing and audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if Console().is_terminal else 140)
errors = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 140)

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "examples" / "healthcare.toml"

HomeOption = Annotated[
    Path,
    typer.Option("--home", envvar="FAIRSHARE_HOME", help="Folder for the embedded chain, keys and run files."),
]
ChainOption = Annotated[
    str | None,
    typer.Option("--chain", help="Ethereum JSON-RPC URL; default: the consortium file's, else the embedded chain."),
]
RuntimeOption = Annotated[
    str | None,
    typer.Option(
        "--runtime",
        help="Where members' ClientApps run: in-process (default) or simulation (Flower's Simulation Engine, Ray; "
        "needs the simulation extra). Default: the consortium file's [training] runtime.",
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="Sign with this key file instead (a member that keeps its own account key)."),
]
ConsortiumOption = Annotated[
    str | None, typer.Option("--consortium", help="Which consortium's latest run (default: the newest run).")
]


def _default_home() -> Path:
    return Path(os.environ.get("FAIRSHARE_HOME", ".fairshare"))


@app.command()
def demo(
    config: Annotated[Path, typer.Option("--config", help="Consortium file (TOML).")] = DEFAULT_CONFIG,
    members: Annotated[int | None, typer.Option("--members", help="Use this many members.")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Training rounds.")] = None,
    runtime: RuntimeOption = None,
    chain: ChainOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write summary.json into this folder.")] = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Run the whole loop: train, value, earn, settle, withdraw, audit."""
    from fairshare.cli import display
    from fairshare.consortium.demo import run_demo

    summary = run_demo(
        config_path=config,
        home=home,
        members=members,
        rounds=rounds,
        runtime=runtime,
        chain_url=chain,
        view=display.LiveView(console),
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        console.print(f"summary written to [bold]{out / 'summary.json'}[/bold]")
    if not summary["audit"]["ok"]:
        raise typer.Exit(2)


@app.command()
def init(
    config: Annotated[Path, typer.Option("--config", help="Consortium file (TOML).")] = DEFAULT_CONFIG,
    members: Annotated[int | None, typer.Option("--members", help="Use this many members.")] = None,
    chain: ChainOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Start a run: split the data, create member keys, deploy the consortium's contracts."""
    from fairshare.cli import display
    from fairshare.consortium.setup import chain_url_for, init_run, resolve_config
    from fairshare.ledger import connect

    settings = resolve_config(config, members=members)
    paths, record = init_run(settings, home, connect(chain_url_for(settings, chain), home))
    display.show_run(console, paths, record)


@app.command()
def train(
    rounds: Annotated[int | None, typer.Option("--rounds", help="Training rounds (default: the file's).")] = None,
    federation: Annotated[
        str | None,
        typer.Option(
            "--federation",
            help="Train over the members' nodes through this SuperLink connection (the consortium's name, "
            "written by `fairshare coordinator start`); default: all members in this process.",
        ),
    ] = None,
    runtime: RuntimeOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Train the latest run by federated learning, valuing and recording every round on chain."""
    from fairshare.cli import display
    from fairshare.consortium.session import open_run
    from fairshare.consortium.training import train_run

    run = open_run(home, consortium)
    view = display.LiveView(console)
    if federation is None:
        train_run(run, rounds=rounds, view=view, runtime=runtime)
        return
    if runtime is not None:
        raise ConfigError("--runtime is for members' nodes in this process; --federation trains over their own nodes")
    from fairshare.consortium.federation import train_over_federation
    from fairshare.consortium.report import member_balances

    recorded = train_over_federation(run, view, federation, rounds)
    console.print(f"rounds {recorded} trained over the federation and recorded on chain")
    display.show_balances(console, member_balances(open_run(home, consortium)))


def _stop_on_sigterm() -> None:
    """``kill`` stops a long-running command like Ctrl-C does, so it stops the Flower process it started too."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


coordinator_app = typer.Typer(help="The coordinator on Flower's deployment runtime.", no_args_is_help=True)
app.add_typer(coordinator_app, name="coordinator")
node_app = typer.Typer(help="A member's node on Flower's deployment runtime.", no_args_is_help=True)
app.add_typer(node_app, name="node")
validator_app = typer.Typer(
    help="A validator on its own machine (docs/valuation.md, trust model).", no_args_is_help=True
)
app.add_typer(validator_app, name="validator")


@coordinator_app.command("start")
def coordinator_start(
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Start the SuperLink (TLS, node authentication) and register the admitted members' node keys; Ctrl-C stops."""
    from fairshare.cli import display
    from fairshare.consortium.federation import register_members, start_superlink
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium)
    view = display.LiveView(console)
    _stop_on_sigterm()
    process = start_superlink(run, view)
    try:
        nodes = register_members(run, view)
        run.chain.close()  # the ServerApp process opens the chain for each training run
        console.print(
            f"coordinator ready: {len(nodes)} member nodes registered; train with "
            f"`fairshare train --federation {run.paths.consortium}`",
            highlight=False,
        )
        process.wait()
    except KeyboardInterrupt:
        console.print("stopping the SuperLink")
    finally:
        process.terminate()
        process.wait(timeout=30)


@node_app.command("keygen")
def node_keygen(
    out: Annotated[Path, typer.Option("--out", help="Private key file to create; the public key is <out>.pub.")],
) -> None:
    """Create this node's key pair; give the .pub to the coordinator, keep the private key on this machine."""
    from fairshare.learning.deployment import generate_node_key

    console.print(f"node public key: {generate_node_key(out)}", highlight=False)


@node_app.command("account")
def node_account(
    out: Annotated[
        Path, typer.Option("--out", help="Keystore file to create (encrypted with FAIRSHARE_KEYSTORE_PASSWORD).")
    ],
) -> None:
    """Create the member's own account key on this machine; give the printed address to the coordinator."""
    from fairshare.ledger.keystore import create_key_file

    account = create_key_file(out)
    console.print(f"member account {account.address} (key in {out}; it never leaves this machine)", highlight=False)


@validator_app.command("start")
def validator_start(
    config: Annotated[Path, typer.Option("--config", help="This validator's file (TOML).")],
    ballots: Annotated[int | None, typer.Option("--ballots", help="Stop after this many reveals.")] = None,
) -> None:
    """Run a validator on this machine: value each round on its own rows, commit, then reveal. Ctrl-C stops."""
    from fairshare.config import load_validator_config
    from fairshare.consortium.validator_node import serve_validator

    _stop_on_sigterm()
    try:
        made = serve_validator(
            load_validator_config(config), lambda line: console.print(line, highlight=False), ballots
        )
    except KeyboardInterrupt:
        return
    console.print(f"{made} ballots revealed")


@node_app.command("start")
def node_start(
    config: Annotated[Path, typer.Option("--config", help="This member's node file (TOML).")],
) -> None:
    """Start this member's SuperNode; it trains on local data and sends signed updates only. Ctrl-C stops."""
    from fairshare.config import load_node_config
    from fairshare.consortium.federation import start_node

    node = load_node_config(config)
    _stop_on_sigterm()
    process = start_node(node)
    console.print(f"node of {node.member} connecting to {node.superlink}", highlight=False)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        code = process.wait(timeout=30)
    if code not in (0, -15):
        raise typer.Exit(code)


@app.command()
def settle(
    from_window: Annotated[
        Path | None,
        typer.Option("--from-window", help="A published receipts window (receipts/window-N.json): settle from it."),
    ] = None,
    member: Annotated[str | None, typer.Option("--member", help="With --from-window: sign as this member.")] = None,
    key: KeyOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Post the window of all unsettled paid calls' receipts and settle each key through the CreditVault.

    With --from-window, a member (or anyone) settles every key from the operator's published receipts: what
    members do when the operator stops settling."""
    from fairshare.cli import display
    from fairshare.consortium.revenue import settle_run, vault_for
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium)
    if from_window is None:
        display.show_settlement(console, settle_run(run))
        return
    from fairshare.ledger.keystore import load_key_file
    from fairshare.serving.settle import settle_from_receipts

    if (member is None) == (key is None):
        raise GovernanceError("settling from a window is signed by one account: pass --member NAME or --key FILE")
    signer = load_key_file(key) if key is not None else run.member_key(member or "")
    try:
        published = json.loads(from_window.read_text())
    except (OSError, ValueError) as exc:
        raise GovernanceError(f"cannot read the window {from_window}: {exc}") from exc
    done = settle_from_receipts(vault_for(run), signer, published)
    for source, amount in done:
        console.print(f"settled {amount:,} for key {source[:14]}… from its signed receipt", highlight=False)
    if not done:
        console.print("nothing to settle: every key in this window is settled up to its highest receipt")


@app.command()
def withdraw(
    member: Annotated[str | None, typer.Option("--member", help="Only this member (default: every member).")] = None,
    key: KeyOption = None,
    chain: ChainOption = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Each member pulls its payout from the revenue contract, signing with its own key."""
    from fairshare.cli import display
    from fairshare.consortium.revenue import withdraw_members, withdraw_with_key
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium, chain_url=chain)
    done = [withdraw_with_key(run, key)] if key is not None else withdraw_members(run, only=member)
    display.show_withdrawals(console, done)


@app.command()
def status(
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Members' shares, entitlements and withdrawals, read from chain."""
    from fairshare.cli import display
    from fairshare.consortium.report import member_balances
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium)
    display.show_balances(console, member_balances(run))


@app.command()
def audit(
    chain: ChainOption = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"ok": bool, "checks": [...]}.')] = False,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Rebuild every balance from chain events and check the invariants; exit 2 if any check fails."""
    from fairshare.cli import display
    from fairshare.consortium.report import audit_run
    from fairshare.consortium.session import open_run

    report = audit_run(open_run(home, consortium, chain_url=chain))
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        display.show_audit(console, report)
    if not report.ok:
        raise typer.Exit(2)


keys_app = typer.Typer(help="API keys for the model API (customers buy their credit on chain).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    customer: Annotated[str, typer.Option("--customer", help="Who the key is for.")] = "customer",
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Issue a key; it is shown once and stored only as a salted hash. Its customer buys credit on chain."""
    from fairshare.consortium.session import open_run
    from fairshare.serving.store import UsageStore

    run = open_run(home, consortium)
    key = UsageStore(run.paths.usage_url).create_key(customer)
    key_id = key.split("_")[1]
    console.print(
        f"API key for {customer} (shown once); buy credit with `fairshare customer buy --key-id {key_id} --amount N`:"
    )
    print(key)


@keys_app.command("list")
def keys_list(
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Keys with their customer, what they bought in the vault, were billed and have left (never the secret)."""
    from fairshare.cli import display
    from fairshare.consortium.revenue import vault_for
    from fairshare.consortium.session import open_run
    from fairshare.serving.credit import sync_credit
    from fairshare.serving.store import UsageStore

    run = open_run(home, consortium)
    store = UsageStore(run.paths.usage_url)
    sync_credit(store, vault_for(run))
    display.show_keys(console, store.keys())


@app.command()
def usage(
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Paid calls, revenue, and how much of it is settled on chain or still pending."""
    from fairshare.cli import display
    from fairshare.consortium.session import open_run
    from fairshare.serving.store import UsageStore

    display.show_usage(console, UsageStore(open_run(home, consortium).paths.usage_url).summary())


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Serve the released model's paid API (OpenAPI at /docs, Prometheus at /metrics)."""
    import uvicorn

    from fairshare.consortium.revenue import api_for
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium)
    app_, released = api_for(run, with_dashboard=True)
    run.chain.close()  # the model's hash is checked; let settle and withdraw use the chain meanwhile
    url = f"http://{host}:{port}"
    if released is None:
        console.print(
            f"no model is released yet: the dashboard is at {url}/ and paid calls answer 503 until members "
            "pass a release proposal (`fairshare propose release`)"
        )
    else:
        console.print(f"serving model {released.model_hash[:16]}… at {url} (dashboard at /, docs at /docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def abi(
    out: Annotated[Path, typer.Option("--out", help="Folder for <Contract>.abi.json files.")] = Path("abi"),
) -> None:
    """Write the contracts' ABIs: all a third party needs, with web3, to read and recompute everything."""
    from fairshare.ledger import export_abis

    for path in export_abis(out):
        console.print(f"wrote {path}")


chain_app = typer.Typer(
    help="Chains: a local development node, or the embedded chain over JSON-RPC.", no_args_is_help=True
)
app.add_typer(chain_app, name="chain")


@chain_app.command("node")
def chain_node(
    port: Annotated[int, typer.Option("--port")] = 8545,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Run anvil (npm package @foundry-rs/anvil) on loopback with its state persisted under --home."""
    from fairshare.ledger.anvil import ANVIL_DEV_KEY, start_anvil

    _stop_on_sigterm()
    node = start_anvil(home, port)  # stops its own child if interrupted while starting
    try:
        console.print(f"anvil is running at {node.url} (state in {node.state}); stop with Ctrl-C or SIGTERM")
        console.print(f"use it with: export FAIRSHARE_DEPLOYER_KEY={ANVIL_DEV_KEY}; fairshare demo --chain {node.url}")
        node.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()


@chain_app.command("serve")
def chain_serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8545,
    writable: Annotated[
        bool, typer.Option("--writable", help="Also accept signed transactions (eth_sendRawTransaction) and mining.")
    ] = False,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Serve the embedded chain as a JSON-RPC node (read-only by default), so any web3 client can audit it."""
    import uvicorn

    from fairshare.ledger import connect
    from fairshare.ledger.rpc import rpc_app

    _stop_on_sigterm()
    chain = connect(None, home)
    mode = "read-write" if writable else "read-only"
    console.print(f"embedded chain {chain.url} (chain id {chain.chain_id}) at http://{host}:{port}, {mode}")
    console.print(f"audit it from anywhere: fairshare audit --chain http://{host}:{port} (no key needed)")
    try:
        uvicorn.run(rpc_app(chain, writable), host=host, port=port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        chain.close()


@app.command()
def propose(
    kind: Annotated[
        str,
        typer.Argument(
            help="treasury-cut | price | release | valuation | admit | remove | oracle | governance | pause | role "
            "| share-rule | validator | refund-notice | payout-mode"
        ),
    ],
    member: Annotated[str | None, typer.Option("--member", help="Proposing member (signs with its key).")] = None,
    key: KeyOption = None,
    number: Annotated[
        int,
        typer.Option(
            "--number",
            help="treasury-cut bps, price per row, pause blocks (0 resumes), pauser's pause, validator weight "
            "(0 removes), refund notice blocks, payout-mode (0 accumulator, 1 Merkle roots).",
        ),
    ] = 0,
    account: Annotated[str | None, typer.Option("--account", help="admit/remove/oracle/role address.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="release: model hash (hex); default the last round's.")
    ] = None,
    data_hash: Annotated[
        str | None, typer.Option("--data-hash", help="validator: SHA-256 of its validation data (hex).")
    ] = None,
    text: Annotated[
        str, typer.Option("--text", help="valuation method, the admitted member's name, or the role.")
    ] = "",
    description: Annotated[str, typer.Option("--description", help="Why, for the voters.")] = "",
    quorum: Annotated[int | None, typer.Option("--quorum-bps")] = None,
    threshold: Annotated[int | None, typer.Option("--threshold-bps")] = None,
    supermajority: Annotated[int | None, typer.Option("--supermajority-bps")] = None,
    period: Annotated[int | None, typer.Option("--voting-blocks")] = None,
    timelock: Annotated[int | None, typer.Option("--timelock-blocks")] = None,
    role_timelock: Annotated[int | None, typer.Option("--role-timelock-blocks")] = None,
    window: Annotated[int | None, typer.Option("--execution-window-blocks")] = None,
    weighting: Annotated[str | None, typer.Option("--weighting", help="member | shares")] = None,
    share_scale: Annotated[int | None, typer.Option("--share-scale", help="share-rule: shares per unit.")] = None,
    round_cap: Annotated[int | None, typer.Option("--round-cap", help="share-rule: most shares a round mints.")] = None,
    drop_flagged: Annotated[
        bool | None,
        typer.Option(
            "--drop-flagged/--keep-flagged", help="valuation: leave flagged members' updates out of the model."
        ),
    ] = None,
    noise_rule: Annotated[
        str | None, typer.Option("--noise-rule", help="valuation: pay | exclude members the model is better without.")
    ] = None,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Open a proposal; every member may then vote on it. Role changes need a supermajority and wait longer."""
    from dataclasses import replace

    from fairshare.consortium.governing import propose as open_proposal
    from fairshare.consortium.session import open_run
    from fairshare.governance import ProposalAction, pack_share_rule
    from fairshare.governance.proposals import ZERO_ADDRESS
    from fairshare.valuation import ValuationPolicy

    run = open_run(home, consortium)
    digest = bytes(32)
    if kind == "release":
        if model is None:
            rounds = run.ledger.rounds()
            if not rounds:
                raise GovernanceError("nothing to release: no round is recorded yet")
            digest = max(rounds, key=lambda r: r.round_id).model_hash
        else:
            try:
                digest = bytes.fromhex(model.removeprefix("0x"))
            except ValueError as exc:
                raise GovernanceError(f"--model must be a hex hash; got {model!r}") from exc
            if len(digest) != 32:
                raise GovernanceError("--model must be 32 bytes (64 hex digits)")
    if kind == "governance":
        if weighting not in (None, "member", "shares"):
            raise GovernanceError(f"--weighting must be member or shares; got {weighting!r}")
        changes = {
            "quorum_bps": quorum,
            "threshold_bps": threshold,
            "super_bps": supermajority,
            "voting_period": period,
            "timelock": timelock,
            "role_timelock": role_timelock,
            "execution_window": window,
            "weighting": {"member": 0, "shares": 1}[weighting] if weighting else None,
        }
        rules = replace(run.governance.policy().rules, **{k: v for k, v in changes.items() if v is not None})
        number = rules.pack()
    if kind == "validator" and data_hash is not None:
        try:
            digest = bytes.fromhex(data_hash.removeprefix("0x"))
        except ValueError as exc:
            raise GovernanceError(f"--data-hash must be hex; got {data_hash!r}") from exc
        if len(digest) != 32:
            raise GovernanceError("--data-hash must be 32 bytes (64 hex digits)")
    if kind == "share-rule":
        policy = run.governance.policy()
        number = pack_share_rule(share_scale or policy.share_scale, round_cap or policy.round_cap)
    if kind == "valuation":  # the Governor stores the description of a valuation proposal as the policy
        policy = run.governance.policy()
        settings = run.config.valuation
        current = ValuationPolicy(settings.drop_flagged, settings.noise_rule)
        if policy.valuation_params:
            current = ValuationPolicy.from_text(policy.valuation_params)
        changes = {"drop_flagged": drop_flagged, "noise_rule": noise_rule}
        description = replace(current, **{k: v for k, v in changes.items() if v is not None}).to_text()
        text = text or policy.valuation_method
    action = ProposalAction(kind, number=number, account=account or ZERO_ADDRESS, digest=digest, text=text)
    proposal_id = open_proposal(run, member, action, description or action.describe(), key=key)
    note = " (a role change: supermajority and the longer timelock)" if action.role_change else ""
    console.print(f"proposal {proposal_id} opened: {action.describe()}{note}")


@app.command("vote")
def vote_command(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    member: Annotated[str | None, typer.Option("--member", help="Voting member (signs with its key).")] = None,
    key: KeyOption = None,
    against: Annotated[bool, typer.Option("--against", help="Vote against (default: for).")] = False,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Vote on an open proposal, once per member."""
    from fairshare.consortium.governing import vote
    from fairshare.consortium.session import open_run

    vote(open_run(home, consortium), member, proposal_id, not against, key=key)
    console.print(f"{member or key} voted {'against' if against else 'for'} proposal {proposal_id}")


@app.command()
def execute(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id.")],
    wait: Annotated[bool, typer.Option("--wait", help="Mine the blocks still needed (dev chains only).")] = False,
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Carry out a passed proposal after its timelock (anyone may)."""
    from fairshare.consortium.governing import execute_proposal
    from fairshare.consortium.session import open_run

    tx = execute_proposal(open_run(home, consortium), proposal_id, wait=wait)
    console.print(f"proposal {proposal_id} executed in {tx}")


@app.command()
def proposals(
    consortium: ConsortiumOption = None,
    home: HomeOption = _default_home(),  # noqa: B008
) -> None:
    """Every proposal with its tallies and state, and the policy in force."""
    from fairshare.cli import display
    from fairshare.consortium.session import open_run

    run = open_run(home, consortium)
    display.show_proposals(console, run.governance.proposals())
    display.show_policy(console, run.governance.policy())


from fairshare.cli import customer as _customer  # noqa: E402,F401 - registers `customer` and `predict`


def main() -> None:
    """Entry point: run the app, turning our errors into one line on stderr and exit code 1."""
    try:
        code = app(standalone_mode=False)  # click returns an Exit's code instead of raising it here
    except FairshareError as exc:
        # escaped: messages name TOML sections ("[model] factory"), which rich would take for markup and drop
        errors.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code and message
        from click import ClickException

        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
