"""Validators benchmark: gas of a committee round (commit, reveal, median) and the adversary rows.

    python benchmarks/validators.py [--quick] [--json FILE]

For members x validators in 10x3, 10x5, 10x7, 100x7 and 128x16 (``--quick``: 10x3 only), on the embedded chain:

- gas of one normal (optimistic) round, the second of a consortium (steady state): ``open_round``, every
  ``commit``, every ``reveal``, ``propose`` and ``finalize``. ``finalize`` includes recording the round in the
  TrainingLog and minting its shares, which a single scorer pays too, so the committee's *overhead* is the
  round's total minus a single scorer's ``record_round`` of the same round (a twin consortium without a committee);
- gas of the challenge path: ``finalize_on_chain`` recomputing every median from every reveal, overturning a
  wrong proposal (it also records and mints);
- the adversary rows at 10x3 (one validator inflates a member 10x, one deflates a rival to 0, two of three
  collude): the shares each member gets, against the honest round's.

Then, on the healthcare example (5 members, real training, validators on their own cut of the holdout):

- wall time per training round in-process with the three demo validators (coordinator + two members) and with a
  single scorer, in the same process, as a ratio;
- the same consortium with the third validator inflating one member 10x, or deflating it to 0: how far that
  member's shares move from the honest run's (the honest validators disagree a little, since they measure on
  different rows; a liar of three can move the median only inside that disagreement).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account

from fairshare.config import ValidatorSettings
from fairshare.consortium.session import open_run
from fairshare.consortium.setup import init_run, resolve_config
from fairshare.consortium.training import train_run
from fairshare.consortium.view import SilentView
from fairshare.ledger import GovernanceSettings, LedgerClient, connect, deploy_consortium
from fairshare.ledger.chain import Chain
from fairshare.ledger.committee import CommitteeClient, RoundContext
from fairshare.ledger.deploy import CommitteeSettings, ShareRule, ValidatorSeat
from fairshare.valuation.median import committee_medians

HASH = bytes(range(32))
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "healthcare.toml"
TARGET = "lakeside-oncology"
SIZES = [(10, 3), (10, 5), (10, 7), (100, 7), (128, 16)]  # the last: the largest a ballot takes


def _deploy(chain: Chain, members: list[str], validators: list[str]) -> LedgerClient:
    committee = (
        CommitteeSettings(
            tuple(ValidatorSeat(v, 1, bytes(32)) for v in validators),
            commit_blocks=len(validators) + 1,
            reveal_blocks=len(validators) + 1,
            challenge_blocks=3,
        )
        if validators
        else None
    )
    deployment = deploy_consortium(
        chain,
        name="bench",
        treasury=Account.create().address,
        treasury_cut_bps=500,
        oracle=chain.operator,
        governance=GovernanceSettings(members=tuple((f"m{k}", a) for k, a in enumerate(members))),
        share_rule=ShareRule(share_scale=10**9, round_cap=10**30),
        committee=committee,
    )
    return LedgerClient(chain, deployment)


def _vectors(n_members: int, n_validators: int, rng: random.Random) -> list[list[int]]:
    """Honest validators: a common value per member (values x 1e9, some negative) plus each one's own noise."""
    base = [rng.randint(-2 * 10**7, 3 * 10**8) for _ in range(n_members)]
    return [[b + rng.randint(-(10**6), 10**6) for b in base] for _ in range(n_validators)]


def _round(chain: Chain, n_members: int, n_validators: int, vectors: list[list[int]], wrong: bool) -> dict:
    members = sorted((Account.create().address for _ in range(n_members)), key=lambda a: int(a, 16))
    scorers = [Account.create() for _ in range(n_validators)]
    for v in scorers:
        chain.fund(v.address, 10**18)
    client = _deploy(chain, members, [v.address for v in scorers])
    committee = CommitteeClient(chain, client.deployment, client.index)
    for round_id in (1, 2):  # round 1 warms up the consortium; round 2 is the steady state measured
        context = RoundContext(round_id, HASH, "exact", '{"bench": true}', 0, tuple(members))
        before = [client.shares_of(m) for m in members]
        outcome = committee.run_ballot(
            chain.operator,
            context,
            {v.address: s for v, s in zip(scorers, vectors, strict=True)},
            {v.address: v for v in scorers},
            lambda reveals, weights, context=context: committee_medians(context.members, reveals, weights),
            propose_medians=[0] * n_members if wrong and round_id == 2 else None,
        )
    shares = [client.shares_of(m) - b for m, b in zip(members, before, strict=True)]
    return {"gas": outcome.gas, "medians": outcome.medians, "shares": shares}


def _single_scorer(chain: Chain, n_members: int, scores: list[int]) -> int:
    members = sorted((Account.create().address for _ in range(n_members)), key=lambda a: int(a, 16))
    client = _deploy(chain, members, [])
    for round_id in (1, 2):  # the same steady state as the committee's round 2
        tx = client.record_round(
            chain.operator,
            round_id=round_id,
            model_hash=HASH,
            method="exact",
            params='{"bench": true}',
            seed=0,
            members=members,
            scores=scores,
        )
    return int(chain.w3.eth.get_transaction_receipt(tx)["gasUsed"])


def gas_rows(chain: Chain, sizes: list[tuple[int, int]]) -> list[dict]:
    rng = random.Random(7)
    rows = []
    for n_members, n_validators in sizes:
        vectors = _vectors(n_members, n_validators, rng)
        normal = _round(chain, n_members, n_validators, vectors, wrong=False)
        challenged = _round(chain, n_members, n_validators, vectors, wrong=True)
        single = _single_scorer(chain, n_members, normal["medians"])
        g = normal["gas"]
        total = sum(g.values())
        rows.append(
            {
                "members": n_members,
                "validators": n_validators,
                "open": g["open"],
                "commits": g["commit"],
                "reveals": g["reveal"],
                "propose": g["propose"],
                "finalize": g["finalize"],
                "round_total": total,
                "single_scorer_record": single,
                "committee_overhead": total - single,
                "challenge_recompute": challenged["gas"]["challenge"],
                "challenge_overhead": challenged["gas"]["challenge"] - single,
                "challenge_shares_equal_honest": challenged["shares"] == normal["shares"],
            }
        )
    return rows


def adversary_rows(chain: Chain) -> list[dict]:
    """10 members x 3 validators; member 0 is the favourite, member 1 the rival."""
    rng = random.Random(11)
    honest = _vectors(10, 1, rng)[0]
    honest = [abs(h) + 10**8 for h in honest]  # everyone earns something, so 'pay moves' is visible
    inflate = list(honest)
    inflate[0] *= 10
    deflate = list(honest)
    deflate[1] = 0
    cases = {
        "honest": [honest, honest, honest],
        "one inflates member 0 x10": [honest, honest, inflate],
        "one deflates member 1 to 0": [deflate, honest, honest],
        "two of three inflate member 0 x10": [inflate, inflate, honest],
        "two of three deflate member 1 to 0": [deflate, deflate, honest],
    }
    results = {name: _round(chain, 10, 3, vectors, wrong=False) for name, vectors in cases.items()}
    base = results["honest"]["shares"]
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "case": name,
                "member0_shares": r["shares"][0],
                "member1_shares": r["shares"][1],
                "member0_moved": r["shares"][0] - base[0],
                "member1_moved": r["shares"][1] - base[1],
                "others_moved": sum(abs(a - b) for a, b in zip(r["shares"][2:], base[2:], strict=True)),
            }
        )
    return rows


def _train(validators: list[ValidatorSettings] | None, rounds: int) -> tuple[float, dict[str, int]]:
    """Seconds per round and each member's shares after ``rounds`` rounds of the healthcare example."""
    config = resolve_config(EXAMPLE, rounds=rounds)
    if validators is not None:
        config = config.model_copy(update={"validators": validators})
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        chain = connect(None, home)
        try:
            init_run(config, home, chain)
            run = open_run(home, config.name, chain=chain)
            started = time.perf_counter()
            train_run(run, SilentView())
            seconds = (time.perf_counter() - started) / rounds
            shares = {m.name: run.ledger.shares_of(m.address) for m in run.record.members}
        finally:
            chain.close()
    return seconds, shares


def wall_rows(rounds: int) -> dict:
    demo = resolve_config(EXAMPLE).validators
    liar = demo[-1].name
    single, _ = _train([], rounds)
    three, honest = _train(None, rounds)
    rows = {"rounds": rounds, "single_scorer_s_per_round": single, "three_validators_s_per_round": three}
    rows["ratio"] = three / single
    moves = []
    for behaviour in ("inflate", "deflate"):
        lying = [
            v if v.name != liar else ValidatorSettings(name=liar, behaviour=behaviour, target=TARGET) for v in demo
        ]
        _, shares = _train(lying, rounds)
        moves.append(
            {
                "case": f"{liar} {behaviour}s {TARGET}" + (" x10" if behaviour == "inflate" else " to 0"),
                "honest_shares": honest[TARGET],
                "shares": shares[TARGET],
                "moved_pct": 100 * (shares[TARGET] - honest[TARGET]) / max(honest[TARGET], 1),
                "others_moved_pct": 100
                * sum(abs(shares[m] - honest[m]) for m in honest if m != TARGET)
                / max(sum(honest[m] for m in honest if m != TARGET), 1),
            }
        )
    rows["noisy_adversaries"] = moves
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 members x 3 validators only")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        chain = connect(None, Path(home))
        try:
            gas = gas_rows(chain, SIZES[:1] if args.quick else SIZES)
            adversaries = adversary_rows(chain)
        finally:
            chain.close()
    wall = wall_rows(3 if args.quick else 4)  # value vests from round 3 (valuation/settlement.py)
    print(
        f"{'members x val':>13} {'open':>7} {'commits':>9} {'reveals':>9} {'propose':>8} {'finalize':>10} "
        f"{'single rec':>10} {'overhead':>9} {'challenge':>10} {'chal.ovh':>9}"
    )
    for r in gas:
        print(
            f"{r['members']:>6} x {r['validators']:<4} {r['open']:>7,} {r['commits']:>9,} {r['reveals']:>9,} "
            f"{r['propose']:>8,} {r['finalize']:>10,} {r['single_scorer_record']:>10,} {r['committee_overhead']:>9,} "
            f"{r['challenge_recompute']:>10,} {r['challenge_overhead']:>9,}"
        )
    print()
    print(
        f"{'adversary (10 members x 3 validators)':<38} {'m0 shares':>12} {'m0 moved':>12} {'m1 moved':>12} "
        f"{'others':>8}"
    )
    for r in adversaries:
        print(
            f"{r['case']:<38} {r['member0_shares']:>12,} {r['member0_moved']:>12,} {r['member1_moved']:>12,} "
            f"{r['others_moved']:>8,}"
        )
    print(
        f"\nhealthcare, {wall['rounds']} rounds in-process: single scorer "
        f"{wall['single_scorer_s_per_round']:.2f} s/round, "
        f"three validators {wall['three_validators_s_per_round']:.2f} s/round: ratio {wall['ratio']:.2f}"
    )
    for r in wall["noisy_adversaries"]:
        print(
            f"{r['case']:<48} shares {r['honest_shares']:>12,} -> {r['shares']:>12,} ({r['moved_pct']:+.2f}%); "
            f"others moved {r['others_moved_pct']:.2f}%"
        )
    print(f"\n({time.perf_counter() - started:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"gas": gas, "adversaries": adversaries, "wall": wall}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
