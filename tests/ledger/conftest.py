"""A fresh consortium (RevenueShares, TrainingLog, Governor) on the embedded chain and on anvil for each test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from fairshare.governance import GovernanceClient, ProposalAction
from fairshare.ledger import Chain, Deployment, GovernanceSettings, LedgerClient, deploy_consortium
from fairshare.ledger.deploy import CommitteeSettings, ShareRule, ValidatorSeat

HASH = bytes(range(32))
OPEN_RULE = ShareRule(share_scale=10**9, round_cap=10**30)
"""Shares equal the positive scores, uncapped: tests read shares straight off the scores."""


@dataclass
class Consortium:
    chain: Chain
    deployment: Deployment
    client: LedgerClient
    members: list[LocalAccount]
    treasury: LocalAccount
    outsider: LocalAccount
    validators: list[LocalAccount]

    @property
    def governance(self) -> GovernanceClient:
        return GovernanceClient(self.chain, self.deployment, self.client.index)

    def record(self, round_id: int, scores: list[int], model_hash: bytes = HASH, members: list[str] | None = None):
        """Record a round (the default share rule mints exactly the positive scores)."""
        return self.client.record_round(
            self.chain.operator,
            round_id=round_id,
            model_hash=model_hash,
            method="exact",
            params="{}",
            seed=0,
            members=members or [m.address for m in self.members],
            scores=scores,
        )

    def govern(self, action: ProposalAction) -> int:
        """Pass ``action`` with every member's vote and execute it; returns the proposal id."""
        governance = self.governance
        pid = governance.propose(self.members[0], action, action.describe())
        for member in self.members:
            governance.vote(member, pid, True)
        self.chain.mine(governance.blocks_until_executable(pid))
        governance.execute(self.outsider, pid)
        return pid


def make_consortium(
    chain: Chain,
    members: int = 3,
    cut_bps: int = 1000,
    token: str = "",
    share_rule: ShareRule = OPEN_RULE,
    pause_blocks: int = 50,
    validators: int = 0,
    challenge_blocks: int = 20,
    **rules: int,
) -> Consortium:
    """A consortium of ``members``; with ``validators`` > 0, that many independent validators of weight 1 score it
    through a ScoreCommittee (commit 4 blocks, reveal 4, challenge window 3)."""
    accounts = [Account.create() for _ in range(members)]
    treasury, outsider = Account.create(), Account.create()
    scorers = [Account.create() for _ in range(validators)]
    for account in [*accounts, treasury, outsider, *scorers]:
        chain.fund(account.address, 10**18)
    committee = (
        CommitteeSettings(
            tuple(ValidatorSeat(v.address, 1, bytes(32)) for v in scorers),
            commit_blocks=max(4, validators),
            reveal_blocks=max(4, validators),
            challenge_blocks=3,
        )
        if validators
        else None
    )
    governance = GovernanceSettings(
        members=tuple((f"m{k}", a.address) for k, a in enumerate(accounts)),
        voting_period=rules.pop("voting_period", 5),
        timelock=rules.pop("timelock", 1),
        role_timelock=rules.pop("role_timelock", 3),
        **rules,
    )
    deployment = deploy_consortium(
        chain,
        name="t",
        treasury=treasury.address,
        treasury_cut_bps=cut_bps,
        oracle=chain.operator,
        governance=governance,
        token=token,
        share_rule=share_rule,
        pause_blocks=pause_blocks,
        committee=committee,
        challenge_blocks=challenge_blocks,
    )
    return Consortium(chain, deployment, LedgerClient(chain, deployment), accounts, treasury, outsider, scorers)


@pytest.fixture
def consortium(chain: Chain) -> Consortium:
    return make_consortium(chain)
