"""Members' governance of a run: propose, vote, execute, with each member signing with its own key."""

from __future__ import annotations

import math
from pathlib import Path

from eth_account.signers.local import LocalAccount

from fairshare.consortium.session import Run
from fairshare.consortium.view import View
from fairshare.errors import GovernanceError
from fairshare.governance import Proposal, ProposalAction, Rules
from fairshare.ledger.keystore import load_key_file

__all__ = ["execute_proposal", "pass_by_acclamation", "propose", "vote"]


def _member_key(run: Run, name: str | None, key: Path | None = None) -> LocalAccount:
    """The signer: a member's own key file (``key``), else the member's key in this machine's keystore."""
    if key is None:
        if name is None:
            raise GovernanceError("say who signs: --member NAME, or --key FILE for a member that keeps its own key")
        return run.member_key(name)
    account = load_key_file(key)
    if run.account_name(account.address) in (None, "treasury"):
        raise GovernanceError(f"{key} is the key of {account.address}, which is not a member of this consortium")
    return account


def propose(run: Run, member: str | None, action: ProposalAction, description: str, key: Path | None = None) -> int:
    return run.governance.propose(_member_key(run, member, key), action, description)


def vote(run: Run, member: str | None, proposal_id: int, support: bool, key: Path | None = None) -> None:
    run.governance.vote(_member_key(run, member, key), proposal_id, support)


def execute_proposal(run: Run, proposal_id: int, wait: bool = False) -> str:
    """Execute a passed proposal (anyone may; the operator pays). ``wait`` lets blocks pass on dev chains."""
    remaining = run.governance.blocks_until_executable(proposal_id)
    if remaining > 0:
        if not wait:
            state = run.governance.state(proposal_id)
            raise GovernanceError(
                f"proposal {proposal_id} is {state}: executable in {remaining} blocks (use --wait on a dev chain)"
            )
        run.chain.mine(remaining)
    return run.governance.execute(run.chain.operator, proposal_id)


def votes_needed(rules: Rules, members: int, role_change: bool) -> int:
    """Fewest votes for (one member one vote, nobody against) that pass a proposal under ``rules``."""
    need = max(1, math.ceil(members * rules.quorum_bps / 10_000))
    if role_change:
        need = max(need, members * rules.super_bps // 10_000 + 1, members // 2 + 1)
    return min(need, members)


def pass_by_acclamation(run: Run, action: ProposalAction, description: str, view: View) -> Proposal:
    """The demo's path: the first member proposes, members vote for until it is sure to pass (every member
    under share weighting), blocks pass, anyone executes."""
    members = [m.name for m in run.record.members]
    rules = run.governance.policy().rules
    voters = members if rules.weighting else members[: votes_needed(rules, len(members), action.role_change)]
    if len(voters) > rules.voting_period:
        raise GovernanceError(
            f"{len(voters)} votes are needed but voting lasts {rules.voting_period} blocks (one vote per block on "
            "a dev chain); raise [governance] voting_period_blocks"
        )
    proposal_id = propose(run, members[0], action, description)
    for k, name in enumerate(voters, start=1):
        vote(run, name, proposal_id, True)
        view.progress("votes", k, len(voters))
    execute_proposal(run, proposal_id, wait=True)
    proposal = next(p for p in run.governance.proposals() if p.proposal_id == proposal_id)
    view.governed(proposal)
    return proposal
