"""Members govern the consortium on chain: proposals, votes and execution in front of the contracts."""

from fairshare.governance.client import GovernanceClient, Policy
from fairshare.governance.proposals import KINDS, Proposal, ProposalAction, Rules, VoteRecord, pack_share_rule

__all__ = [
    "KINDS",
    "GovernanceClient",
    "Policy",
    "Proposal",
    "ProposalAction",
    "Rules",
    "VoteRecord",
    "pack_share_rule",
]
