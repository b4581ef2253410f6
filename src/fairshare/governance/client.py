"""Typed access to the Governor: propose, vote, cancel, execute, and read the policy off-chain parts obey.

Every refusal the contract makes (non-member, double vote, vote after the deadline, execution before the
timelock or of a defeated proposal, re-execution) surfaces as ``GovernanceError`` with the contract's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from fairshare.errors import ContractNotFoundError, GovernanceError, TransactionError
from fairshare.governance.proposals import KINDS, NAMES, Proposal, ProposalAction, Rules, VoteRecord
from fairshare.ledger import Chain, Deployment
from fairshare.ledger.deploy import check_same_chain, contract_at
from fairshare.ledger.events import EventIndex

__all__ = ["GovernanceClient", "Policy"]

# positions in the Governor's Proposal struct, as its public getter returns it
_END, _TIMELOCK, _VOTES_FOR, _VOTES_AGAINST = 8, 13, 18, 19


@dataclass(frozen=True)
class Policy:
    """The consortium's rules as the chain holds them now."""

    price_per_row: int
    treasury_cut_bps: int
    valuation_method: str
    valuation_params: str
    released_model: bytes
    rules: Rules
    members: int
    share_scale: int
    round_cap: int
    paused_until: int
    pause_blocks: int
    pauser_armed: bool
    refund_notice: int = 0
    """Blocks a customer waits between asking the CreditVault for a refund and taking it."""
    payout_mode: int = 0
    """0: rounds mint shares in RevenueShares (accumulator); 1: rounds are published to EntitlementRoots."""

    @property
    def weighting(self) -> int:
        return self.rules.weighting

    @property
    def quorum_bps(self) -> int:
        return self.rules.quorum_bps

    @property
    def threshold_bps(self) -> int:
        return self.rules.threshold_bps

    @property
    def voting_period(self) -> int:
        return self.rules.voting_period

    @property
    def timelock(self) -> int:
        return self.rules.timelock


class GovernanceClient:
    def __init__(self, chain: Chain, deployment: Deployment, index: EventIndex | None = None) -> None:
        if not deployment.governor:
            raise ContractNotFoundError(
                f"consortium {deployment.name!r} was deployed without a Governor; start a new run with `fairshare init`"
            )
        check_same_chain(chain, deployment)
        self.chain = chain
        self.governor = contract_at(chain, "Governor", deployment.governor)
        self.revenue = contract_at(chain, "RevenueShares", deployment.revenue_shares)
        self.log = contract_at(chain, "TrainingLog", deployment.training_log)
        self.index = index or EventIndex(chain.w3, [self.governor], deployment.block)
        if self.governor.address not in self.index.contracts:
            self.index = EventIndex(chain.w3, [self.governor], deployment.block)

    def _send(self, sender: LocalAccount, function: str, *args: object, what: str) -> dict:
        try:
            return self.chain.send(sender, self.governor, function, *args, what=what)
        except TransactionError as exc:
            raise GovernanceError(str(exc)) from exc

    def propose(self, member: LocalAccount, action: ProposalAction, description: str) -> int:
        if len(description.encode()) > 256:
            raise GovernanceError("a proposal's description is limited to 256 bytes")
        receipt = self._send(
            member,
            "propose",
            KINDS[action.kind],
            action.number,
            Web3.to_checksum_address(action.account),
            action.digest,
            action.text,
            description,
            what=f"proposing to {action.describe()}",
        )
        event = self.governor.events.Proposed().process_receipt(receipt)[0]
        return int(event.args.proposal_id)

    def vote(self, member: LocalAccount, proposal_id: int, support: bool) -> None:
        self._send(member, "vote", proposal_id, support, what=f"voting on proposal {proposal_id}")

    def cancel(self, member: LocalAccount, proposal_id: int) -> None:
        self._send(member, "cancel", proposal_id, what=f"cancelling proposal {proposal_id}")

    def execute(self, sender: LocalAccount, proposal_id: int) -> str:
        receipt = self._send(sender, "execute", proposal_id, what=f"executing proposal {proposal_id}")
        return receipt["transactionHash"].to_0x_hex()

    def state(self, proposal_id: int) -> str:
        try:
            return str(self.governor.functions.state(proposal_id).call())
        except Exception as exc:  # a view revert: the id does not exist
            raise GovernanceError(f"no proposal {proposal_id}") from exc

    def blocks_until_executable(self, proposal_id: int) -> int:
        """Blocks to let pass until the proposal's state is "ready" (its execution window then lasts at least 10)."""
        stored = self.governor.functions.proposals(proposal_id).call()
        end, timelock = int(stored[_END]), int(stored[_TIMELOCK])
        return max(0, end + timelock + 1 - int(self.chain.w3.eth.block_number))

    def is_member(self, account: str) -> bool:
        """Admitted and not removed, as the Governor says now."""
        return bool(self.governor.functions.is_member(account).call())

    def member_name(self, account: str) -> str:
        """The name the Governor admitted ``account`` under ("" if it never was a member)."""
        return str(self.governor.functions.member_name(Web3.to_checksum_address(account)).call())

    def policy(self) -> Policy:
        g, r = self.governor.functions, self.revenue.functions
        return Policy(
            price_per_row=int(g.price_per_row().call()),
            treasury_cut_bps=int(r.treasury_cut_bps().call()),
            valuation_method=str(g.valuation_method().call()),
            valuation_params=str(g.valuation_params().call()),
            released_model=bytes(g.released_model().call()),
            rules=Rules(*(int(v) for v in g.rules().call())),
            members=int(g.member_count().call()),
            share_scale=int(self.log.functions.share_scale().call()),
            round_cap=int(self.log.functions.round_cap().call()),
            paused_until=int(r.paused_until().call()),
            pause_blocks=int(r.pause_blocks().call()),
            refund_notice=int(g.refund_notice().call()),
            pauser_armed=bool(r.pauser_armed().call()),
            payout_mode=int(g.payout_mode().call()),
        )

    def proposals(self) -> list[Proposal]:
        """Every proposal with its votes, tallies and state, from events and the contract."""
        address = self.governor.address
        votes: dict[int, list[VoteRecord]] = {}
        for e in self.index.events(address, "Voted"):
            votes.setdefault(e.args["proposal_id"], []).append(
                VoteRecord(e.args["voter"], bool(e.args["support"]), int(e.args["weight"]), e.block)
            )
        executed = {e.args["proposal_id"]: e.block for e in self.index.events(address, "Executed")}
        out = []
        for e in self.index.events(address, "Proposed"):
            pid = int(e.args["proposal_id"])
            stored = self.governor.functions.proposals(pid).call()
            action = ProposalAction(
                kind=NAMES[int(e.args["kind"])],
                number=int(e.args["number"]),
                account=e.args["account"],
                digest=bytes(e.args["digest"]),
                text=e.args["text"],
            )
            out.append(
                Proposal(
                    proposal_id=pid,
                    proposer=e.args["proposer"],
                    action=action,
                    description=e.args["description"],
                    snapshot=int(e.args["snapshot"]),
                    end=int(e.args["end"]),
                    total_weight=int(e.args["total_weight"]),
                    votes_for=int(stored[_VOTES_FOR]),
                    votes_against=int(stored[_VOTES_AGAINST]),
                    state=self.state(pid),
                    votes=tuple(votes.get(pid, [])),
                    executed_block=executed.get(pid),
                    weighting=int(e.args["weighting"]),
                    quorum_bps=int(e.args["quorum_bps"]),
                    threshold_bps=int(e.args["threshold_bps"]),
                    super_bps=int(e.args["super_bps"]),
                    timelock=int(e.args["timelock"]),
                    expires=int(e.args["expires"]),
                    member_count=int(e.args["member_count"]),
                    block=e.block,
                )
            )
        return out
