"""Scale benchmark: how a round's cost grows from 10 to 1,000 members, and payouts to a million payees.

    python benchmarks/scale.py [--quick] [--json FILE]

- growth: for 10, 100 and 1,000 members (--quick: 10 and 100), the real training loop (Flower ServerApp and
  ClientApp on the in-process Grid, generated data), valuation by ``auto`` (exact, then permutation-prefix sampling)
  and recording by Merkle roots on the embedded chain (publish, close, propose, accept): seconds per round split
  into training, valuation and recording; gas per round; gas per member claim (first and later); audit time; and
  the accumulator's ``record_round`` gas for the sizes it takes (at most 128 members);
- valuation accuracy at the largest size: the sampler's values against a 10x-budget reference on the same round's
  game (Spearman, top-decile overlap), and its seconds;
- a simulated epoch of 10^6 payees: root build time, proof length, propose/accept gas, claim gas (first, later);
- embedded chain vs anvil: transfers per second, same code, one run;
- the accumulator's ``distribute``: gas with each feature stripped from a copy of the contract (settlement id
  and sources in the event, pause check, treasury cut, token transfer) against the floor of a transaction plus one
  storage write.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from eth_account import Account
from scipy.stats import spearmanr
from web3 import Web3

from fairshare.consortium.governing import votes_needed
from fairshare.governance import GovernanceClient, ProposalAction
from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition, save_partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.runner import FederationSpec, MemberSpec, run_federation
from fairshare.learning.strategy import RoundUpdates
from fairshare.ledger import GovernanceSettings, LedgerClient, audit, connect, deploy_consortium
from fairshare.ledger.chain import Chain
from fairshare.ledger.deploy import Deployment, ShareRule
from fairshare.ledger.entitlements import EntitlementTree, Leaf
from fairshare.ledger.roots import RootsClient
from fairshare.valuation import ValuationConfig, make_game, value_round
from fairshare.valuation.methods import PrefixPermutationShapley

WINDOW = 3
ROWS_PER_MEMBER = 40
FOUNDERS = 5
BLOCK_GAS = 30_000_000


def _roots_consortium(home: Path, members: int = FOUNDERS) -> tuple[Chain, Deployment, RootsClient, list[str]]:
    """A consortium of ``members`` founding members (admitted in batches before the founding is sealed, as
    ``fairshare demo --members 1000`` does: only members can be payees) switched to payouts by roots by the
    fewest votes that pass a role change; returns the members' addresses too."""
    chain = connect(None, home)
    keys = [Account.create() for _ in range(max(members, FOUNDERS))]
    deployment = deploy_consortium(
        chain,
        name="scale",
        treasury=Account.create().address,
        treasury_cut_bps=500,
        oracle=chain.operator,
        governance=GovernanceSettings(
            members=tuple((f"m{i:04d}", k.address) for i, k in enumerate(keys)), voting_period=len(keys) + 10
        ),
        share_rule=ShareRule(share_scale=10**9, round_cap=10**30),
        challenge_blocks=WINDOW,
    )
    governance = GovernanceClient(chain, deployment)
    voters = keys[: votes_needed(governance.policy().rules, len(keys), role_change=True)]
    for k in voters:
        chain.fund(k.address, 10**18)
    pid = governance.propose(voters[0], ProposalAction("payout-mode", number=1), "pay out by roots")
    for k in voters:
        governance.vote(k, pid, True)
    chain.mine(governance.blocks_until_executable(pid))
    governance.execute(chain.operator, pid)
    return chain, deployment, RootsClient(chain, deployment), [k.address for k in keys]


def _settle_epoch(chain: Chain, roots: RootsClient, epoch: int) -> tuple[EntitlementTree, dict[str, int]]:
    tree = EntitlementTree(roots.standings()[-1].leaves())
    gas = {"propose": roots.propose(chain.operator, epoch, tree)}
    chain.mine(WINDOW + 1)
    gas["accept"] = roots.accept(chain.operator, epoch)
    return tree, gas


def growth(members: int, rounds: int, reference_factor: int | None) -> dict[str, object]:
    """Train ``rounds`` rounds of ``members`` members, valuing and recording each; returns the row of the table."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        chain, deployment, roots, addresses = _roots_consortium(home, members)
        pool, validation, test = holdout(load_builtin("synthetic"), 0.01, 0.01, seed=0)
        scaler = Standardizer.fit(validation)
        pool = pool.subset(np.arange(members * ROWS_PER_MEMBER))
        parts = partition(scaler.transform(pool), [1.0] * members, None, seed=0)
        specs = []
        accounts = {}
        for k, part in enumerate(parts):
            name = f"m{k:04d}"
            path = home / f"{name}.npz"
            save_partition(part, path)
            specs.append(MemberSpec(name=name, data_path=path))
            accounts[name] = addresses[k]  # an admitted member: EntitlementRoots pays nobody else
        model = LogisticRegression(pool.X.shape[1], pool.n_classes)
        validation = scaler.transform(validation)
        spec = FederationSpec(
            model=model,
            members=specs,
            rounds=rounds,
            local_epochs=1,
            learning_rate=0.1,
            batch_size=16,
            seed=0,
            test=scaler.transform(test),
        )
        config = ValuationConfig(method="auto")
        past: dict[str, float] = {}
        per_round: list[dict[str, float]] = []
        pending: dict[str, object] = {}
        last_updates: list[RoundUpdates] = []
        mark = [time.perf_counter()]

        def hook(updates: RoundUpdates) -> list[np.ndarray]:
            started = time.perf_counter()
            params = {u.member: u.params for u in updates.updates}
            sizes = {u.member: u.num_examples for u in updates.updates}
            valuation, new = value_round(
                model,
                updates.round,
                updates.global_params,
                params,
                sizes,
                validation.X,
                validation.y,
                config,
                past_values=past,
            )
            for m, v in valuation.values.items():
                past[m] = past.get(m, 0.0) + v
            pending.update(valuation=valuation, seconds=time.perf_counter() - started)
            last_updates[:] = [updates]
            return new

        def on_round(result) -> None:
            started = time.perf_counter()
            valuation = pending["valuation"]
            epoch = roots.open_epoch()
            fund = roots.fund(chain.operator, 10**15)
            scores = [(accounts[m], round(v * 10**9)) for m, v in valuation.values.items()]  # type: ignore[attr-defined]
            publish = roots.publish(chain.operator, epoch, scores)
            close = roots.close(chain.operator, epoch, bytes(31) + b"\x01", valuation.method, "{}", 0)  # type: ignore[attr-defined]
            tree, settle = _settle_epoch(chain, roots, epoch)
            recording = time.perf_counter() - started
            wall = time.perf_counter() - mark[0]
            per_round.append(
                {
                    "seconds": wall,
                    "valuation": float(pending["seconds"]),  # type: ignore[arg-type]
                    "recording": recording,
                    "training": wall - float(pending["seconds"]) - recording,  # type: ignore[arg-type]
                    "gas_publish": publish,
                    "publish_gas_per_payee": round(publish / len(scores)),
                    "gas_close": close,
                    "gas_fund": fund,
                    **{f"gas_{k}": v for k, v in settle.items()},
                    "method": valuation.method,  # type: ignore[attr-defined]
                    "evaluations": valuation.evaluations,  # type: ignore[attr-defined]
                }
            )
            pending["tree"] = tree
            mark[0] = time.perf_counter()

        claim_sample = [accounts[n] for n in sorted(accounts)[:10]]
        first_claims: list[int] = []
        later_claims: list[int] = []

        def on_round_and_claim(result) -> None:
            on_round(result)
            tree = pending["tree"]
            epoch = roots.accepted_epoch()
            target = first_claims if epoch == 1 else later_claims
            for account in claim_sample:
                leaf = tree.leaf_of(account)  # type: ignore[attr-defined]
                if leaf is not None and leaf.entitled > roots.claimed(account):
                    target.append(roots.claim(chain.operator, epoch, tree, account)[1])  # type: ignore[arg-type]
            mark[0] = time.perf_counter()  # claims are measured apart from the round

        run_federation(spec, hook, on_round=on_round_and_claim)
        started = time.perf_counter()
        report = audit(chain, deployment)
        audit_seconds = time.perf_counter() - started
        row: dict[str, object] = {
            "members": members,
            "rounds": rounds,
            "per_round": per_round,
            "audit_seconds": audit_seconds,
            "audit_ok": report.ok,
            "claim_gas_first": _mean(first_claims),
            "claim_gas_later": _mean(later_claims),
        }
        if reference_factor:
            row["accuracy"] = valuation_accuracy(model, last_updates[0], validation, reference_factor)
        chain.close()
        return row


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values)) if values else None


def valuation_accuracy(
    model: LogisticRegression, updates: RoundUpdates, validation: Dataset, factor: int
) -> dict[str, object]:
    """The sampler at its default budget against one with ``factor`` times the budget, on the same round's game."""
    params = {u.member: u.params for u in updates.updates}
    sizes = {u.member: float(u.num_examples) for u in updates.updates}
    game = make_game(model, updates.global_params, params, sizes, validation.X, validation.y)
    sampler = PrefixPermutationShapley()
    started = time.perf_counter()
    values = sampler.values(game, np.random.default_rng(1))
    seconds = time.perf_counter() - started
    reference = PrefixPermutationShapley(evaluations=sampler.evaluations * factor).values(
        game, np.random.default_rng(2)
    )
    k = max(1, game.n // 10)
    top = set(np.argsort(-values)[:k]) & set(np.argsort(-reference)[:k])
    return {
        "members": game.n,
        "permutation_pairs": sampler.pairs(game.n),
        "seconds": seconds,
        "reference_pairs": sampler.pairs(game.n) * factor,
        "spearman": float(spearmanr(values, reference).statistic),
        "top_decile_overlap": len(top) / k,
    }


def accumulator_round_gas(members: int) -> int | None:
    """``record_round`` gas for ``members`` founding members (the accumulator takes at most 128)."""
    if members > 128:
        return None
    with tempfile.TemporaryDirectory() as home:
        chain = connect(None, Path(home))
        holders = [Account.create().address for _ in range(members)]
        deployment = deploy_consortium(
            chain,
            name="acc",
            treasury=Account.create().address,
            treasury_cut_bps=500,
            oracle=chain.operator,
            governance=GovernanceSettings(members=tuple((f"m{k}", a) for k, a in enumerate(holders))),
            share_rule=ShareRule(share_scale=10**9, round_cap=10**30),
        )
        client = LedgerClient(chain, deployment)
        tx = client.record_round(
            chain.operator,
            round_id=1,
            model_hash=bytes(31) + b"\x01",
            method="exact",
            params="{}",
            seed=0,
            members=holders,
            scores=[10**6 + k for k in range(members)],
        )
        gas = int(chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])
        chain.close()
        return gas


def million_payees(payees: int) -> dict[str, object]:
    """A simulated epoch of ``payees`` payees: the root is proposed as the oracle would (its leaves are generated,
    not published: that would be ``payees`` x the publish gas per payee measured in the growth table)."""
    rng = np.random.default_rng(6)
    raw = sorted({os.urandom(20) for _ in range(payees)})
    accounts = ["0x" + a.hex() for a in raw]
    shares = [int(s) for s in rng.integers(1, 10**6, size=len(accounts))]
    revenue = 10**18
    started = time.perf_counter()
    total = sum(shares)
    leaves = [Leaf(k, a, s, (revenue // 2) * s // total) for k, (a, s) in enumerate(zip(accounts, shares, strict=True))]
    tree = EntitlementTree(leaves)
    build = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as home:
        chain, _, roots, members = _roots_consortium(Path(home))
        roots.fund(chain.operator, revenue)
        roots.publish(chain.operator, 1, [(members[0], 10**9)])  # one published score: shares exist
        roots.close(chain.operator, 1, bytes(31) + b"\x01", "simulated", "{}", 0)
        propose = roots.propose(chain.operator, 1, tree)
        chain.mine(WINDOW + 1)
        accept = roots.accept(chain.operator, 1)
        sample = [int(i) for i in rng.choice(len(leaves), size=5, replace=False)]
        first = [_claim(chain, roots, 1, tree, i) for i in sample]
        # epoch 2: every entitlement grows; the same payees claim again
        roots.fund(chain.operator, revenue)
        roots.close(chain.operator, 2, bytes(31) + b"\x02", "simulated", "{}", 0)
        grown = EntitlementTree([Leaf(lf.index, lf.account, lf.shares, lf.entitled * 2) for lf in leaves])
        roots.propose(chain.operator, 2, grown)
        chain.mine(WINDOW + 1)
        roots.accept(chain.operator, 2)
        later = [_claim(chain, roots, 2, grown, i) for i in sample]
        chain.close()
    return {
        "payees": len(leaves),
        "root_build_seconds": build,
        "proof_length": len(tree.proof(0)[0]),
        "gas_propose": propose,
        "gas_accept": accept,
        "claim_gas_first": _mean(first),
        "claim_gas_later": _mean(later),
    }


MEMBERSHIP_CHECK = '        assert staticcall governor.is_member(a), "EntitlementRoots: payee is not a member"\n'


def membership_check_cost(payees: int) -> dict[str, object]:
    """Publish gas of one chunk of ``payees`` admitted members into the shipped EntitlementRoots and into a copy
    without the membership check, beside it on the same consortium: what requiring members costs per payee."""
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    from fairshare.ledger.contracts import EVM_VERSION

    source = (Path(__file__).parents[1] / "src/fairshare/ledger/contracts/EntitlementRoots.vy").read_text()
    if source.count(MEMBERSHIP_CHECK) != 1:
        raise SystemExit("EntitlementRoots.vy changed: cannot strip the membership check; update the benchmark")
    out = compile_code(
        source.replace(MEMBERSHIP_CHECK, ""),
        output_formats=["abi", "bytecode"],
        settings=Settings(evm_version=EVM_VERSION),
    )
    with tempfile.TemporaryDirectory() as home:
        chain, d, roots, members = _roots_consortium(Path(home), payees)
        factory = chain.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
        data = factory.constructor(d.governor, d.revenue_shares, d.training_log, "0x" + "00" * 20, WINDOW)
        address = chain.transact(chain.operator, {"data": data.data_in_transaction}, "deploying the variant")
        unchecked = chain.w3.eth.contract(address=address["contractAddress"], abi=out["abi"])
        ordered = sorted(members[:payees], key=lambda a: int(a, 16))
        scores = [10**9 + k for k in range(len(ordered))]
        shipped = int(chain.send(chain.operator, roots.contract, "publish", 1, ordered, scores)["gasUsed"])
        stripped = int(chain.send(chain.operator, unchecked, "publish", 1, ordered, scores)["gasUsed"])
        chain.close()
    return {
        "payees": len(ordered),
        "gas_shipped": shipped,
        "gas_without_membership_check": stripped,
        "check_gas_per_payee": round((shipped - stripped) / len(ordered)),
        "ratio": round(shipped / stripped, 3),
    }


def _claim(chain: Chain, roots: RootsClient, epoch: int, tree: EntitlementTree, index: int) -> int:
    index_, account, shares, entitled, hashes, sums = tree.leaf_arg(index)
    leaf = (index_, Web3.to_checksum_address(account), shares, entitled, hashes, sums)
    receipt = chain.send(chain.operator, roots.contract, "claim", epoch, tree.root, leaf)
    return int(receipt["gasUsed"])


def chain_throughput(count: int) -> dict[str, object]:
    """Native transfers per second on the embedded chain and on anvil (same ``Chain`` code path), one run."""
    from fairshare.ledger.anvil import ANVIL_DEV_KEY, ensure_anvil, start_anvil
    from fairshare.ledger.chain import DEPLOYER_KEY_ENV
    from fairshare.serving.server import free_port

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as home:
        out["embedded_tx_per_s"] = _transfers(connect(None, Path(home)), count)
        try:
            cache = Path.home() / ".cache" / "fairshare"
            ensure_anvil(cache)
            node = start_anvil(cache, free_port())
        except Exception as exc:  # npm or the binary missing: say so in the table
            out["anvil_tx_per_s"] = f"unavailable: {exc}"
            return out
        os.environ[DEPLOYER_KEY_ENV] = ANVIL_DEV_KEY
        try:
            out["anvil_tx_per_s"] = _transfers(connect(node.url, Path(home)), count)
        finally:
            node.stop()
            os.environ.pop(DEPLOYER_KEY_ENV, None)
    return out


def _transfers(chain: Chain, count: int) -> float:
    target = Account.create().address
    nonce = chain.w3.eth.get_transaction_count(chain.operator.address)
    started = time.perf_counter()
    for k in range(count):
        chain.transact(chain.operator, {"to": target, "value": 1, "gas": 21_000, "nonce": nonce + k}, "transfer")
    seconds = time.perf_counter() - started
    chain.close()
    return round(count / seconds, 1)


_DISTRIBUTE_VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "no pause check": (
        (
            '"RevenueShares: caller is not the operator"\n    self._not_paused()\n    assert len(sources)',
            '"RevenueShares: caller is not the operator"\n    assert len(sources)',
        ),
    ),
    "no treasury cut": (
        (
            "    cut: uint256 = amount * self.treasury_cut_bps // MAX_BPS\n    self.credits[self.treasury] += cut\n",
            "    cut: uint256 = 0\n",
        ),
    ),
    "no settlement id (running totals, event arrays)": (
        ("        previous: uint256 = self.settled_total[sources[i]]\n", "        previous: uint256 = 0\n"),
        ("        self.settled_total[sources[i]] = totals[i]\n", ""),
        ("        sources=sources,\n        totals=totals,\n", "        sources=[],\n        totals=[],\n"),
    ),
}


def _variant_source(changes: tuple[tuple[str, str], ...]) -> str:
    source = (Path(__file__).parents[1] / "src/fairshare/ledger/contracts/RevenueShares.vy").read_text()
    for old, new in changes:
        if source.count(old) != 1:
            raise SystemExit(f"RevenueShares.vy changed: cannot strip {old.strip()!r}; update the benchmark")
        source = source.replace(old, new)
    return source


def _distribute_gas(source: str, token: bool, running: bool = True) -> int:
    """Steady-state gas of ``distribute`` (third settlement of one source, shares held) for a contract source."""
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    from fairshare.ledger.contracts import EVM_VERSION
    from fairshare.ledger.deploy import deploy_test_stablecoin

    out = compile_code(source, output_formats=["abi", "bytecode"], settings=Settings(evm_version=EVM_VERSION))
    with tempfile.TemporaryDirectory() as home:
        chain = connect(None, Path(home))
        op = chain.operator
        token_address = deploy_test_stablecoin(chain, op.address, 10**30) if token else "0x" + "00" * 20
        factory = chain.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
        data = factory.constructor(Account.create().address, 500, op.address, token_address, 100).data_in_transaction
        address = chain.transact(op, {"data": data}, "deploying a variant")["contractAddress"]
        contract = chain.w3.eth.contract(address=address, abi=out["abi"])
        chain.send(op, contract, "mint", Account.create().address, 10**9, 1)
        if token:
            erc20 = chain.w3.eth.contract(address=token_address, abi=_ERC20)
            chain.send(op, erc20, "approve", address, 10**30)
        gas = 0
        for k in range(1, 4):
            receipt = chain.send(
                op,
                contract,
                "distribute",
                bytes(32),
                [bytes(32)],
                [k * 10**6 if running else 10**6],
                value=0 if token else 10**6,
            )
            gas = int(receipt["gasUsed"])
        chain.close()
        return gas


_ERC20 = [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "s", "type": "address"}, {"name": "a", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]


def distribute_breakdown() -> list[dict[str, object]]:
    """``distribute`` gas as shipped, with each feature stripped from a copy, with all stripped, and with a token."""
    shipped = _variant_source(())
    rows: list[dict[str, object]] = [{"variant": "as shipped (native coin)", "gas": _distribute_gas(shipped, False)}]
    for name, changes in _DISTRIBUTE_VARIANTS.items():
        gas = _distribute_gas(_variant_source(changes), False, running=not name.startswith("no settlement"))
        rows.append({"variant": name, "gas": gas, "feature_costs": rows[0]["gas"] - gas})  # type: ignore[operator]
    everything = tuple(c for changes in _DISTRIBUTE_VARIANTS.values() for c in changes)
    stripped = _distribute_gas(_variant_source(everything), False, running=False)
    rows.append({"variant": "all three stripped", "gas": stripped})
    token = _distribute_gas(shipped, True)
    rows.append({"variant": "as shipped, ERC-20 token", "gas": token, "feature_costs": token - rows[0]["gas"]})  # type: ignore[operator]
    rows.append({"variant": "floor: a transaction + one storage write", "gas": 21_000 + 5_000})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 100 members, 10^4 payees, fewer transfers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    results: dict[str, object] = {"growth": []}
    for n in sizes:
        row = growth(n, rounds=2, reference_factor=(4 if args.quick else 10) if n == sizes[-1] else None)
        row["accumulator_record_gas"] = accumulator_round_gas(n)
        results["growth"].append(row)  # type: ignore[attr-defined]
        _print_growth_row(row)
    results["membership_check"] = membership_check_cost(256)
    print("publish, one chunk of admitted members:", json.dumps(results["membership_check"]))
    results["distribute"] = distribute_breakdown()
    _print_distribute(results["distribute"])  # type: ignore[arg-type]
    results["million"] = million_payees(10**4 if args.quick else 10**6)
    print("payees epoch:", json.dumps(results["million"]))
    results["throughput"] = chain_throughput(100 if args.quick else 300)
    print("throughput:", json.dumps(results["throughput"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def _print_growth_row(row: dict[str, object]) -> None:
    rounds = row["per_round"]
    avg = {k: sum(r[k] for r in rounds) / len(rounds) for k in ("seconds", "training", "valuation", "recording")}  # type: ignore[index,union-attr,arg-type]
    gas = sum(v for k, v in rounds[-1].items() if k.startswith("gas_"))  # type: ignore[index,union-attr]
    print(
        f"{row['members']:>6} members | round {avg['seconds']:7.2f} s (training {avg['training']:6.2f}, valuation "
        f"{avg['valuation']:6.2f}, recording {avg['recording']:6.2f}) | roots gas/round {gas:>11,} "
        f"(publish {rounds[-1]['publish_gas_per_payee']:,}/payee) | "  # type: ignore[index]
        f"accumulator record_round {row['accumulator_record_gas']} | claim gas first {row['claim_gas_first']} "
        f"later {row['claim_gas_later']} | audit {row['audit_seconds']:.2f} s ok={row['audit_ok']}"
    )
    if "accuracy" in row:
        print("  valuation accuracy:", json.dumps(row["accuracy"]))


def _print_distribute(rows: list[dict[str, object]]) -> None:
    for r in rows:
        cost = f" (the feature costs {r['feature_costs']:,})" if "feature_costs" in r else ""
        print(f"  distribute {r['variant']:<48} {r['gas']:>8,} gas{cost}")


if __name__ == "__main__":
    sys.exit(main())
