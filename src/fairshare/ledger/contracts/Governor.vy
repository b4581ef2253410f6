# pragma version ~=0.4.3
"""
@title Governor
@notice The members govern the consortium: proposals, votes, a timelock, execution by contract.
@dev Owns RevenueShares and TrainingLog; only an executed proposal changes their policy. Policy that
     off-chain parts read (price per row, valuation method and parameters, released model) lives
     here, so there is no local copy to drift. Voting power is one member one vote, or the voter's
     contribution shares at the proposal's snapshot block (RevenueShares.shares_at), so shares minted
     after a proposal cannot swing it. Durations are in blocks.
     A proposal passes when, after its voting period, the weight of all votes reaches `quorum_bps` of
     the total weight at the snapshot and the votes for exceed `threshold_bps` of the votes cast.
     Anyone may execute a passed proposal once `timelock` blocks have followed the end of voting.
"""

MAX_MEMBERS: constant(uint256) = 128
MAX_BPS: constant(uint256) = 10_000

# proposal kinds
TREASURY_CUT: constant(uint8) = 0
VALUATION: constant(uint8) = 1
ADMIT_MEMBER: constant(uint8) = 2
REMOVE_MEMBER: constant(uint8) = 3
RELEASE_MODEL: constant(uint8) = 4
PRICE: constant(uint8) = 5
ORACLE: constant(uint8) = 6
GOVERNANCE: constant(uint8) = 7

interface RevenueShares:
    def set_treasury_cut(bps: uint256): nonpayable
    def shares_at(account: address, at_block: uint256) -> uint256: view
    def total_shares_at(at_block: uint256) -> uint256: view

interface TrainingLog:
    def set_role(role: String[16], account: address): nonpayable

struct Proposal:
    proposer: address
    kind: uint8
    number: uint256
    account: address
    digest: bytes32
    text: String[256]
    description: String[256]
    snapshot: uint256
    end: uint256
    total_weight: uint256
    votes_for: uint256
    votes_against: uint256
    canceled: bool
    executed: bool

event Proposed:
    proposal_id: indexed(uint256)
    proposer: indexed(address)
    kind: uint8
    number: uint256
    account: address
    digest: bytes32
    text: String[256]
    description: String[256]
    snapshot: uint256
    end: uint256
    total_weight: uint256

event Voted:
    proposal_id: indexed(uint256)
    voter: indexed(address)
    support: bool
    weight: uint256

event Canceled:
    proposal_id: indexed(uint256)

event Executed:
    proposal_id: indexed(uint256)
    kind: uint8

event MemberChanged:
    account: indexed(address)
    name: String[256]
    admitted: bool

revenue_shares: public(address)
training_log: public(address)
is_member: public(HashMap[address, bool])
member_since: public(HashMap[address, uint256])
member_name: public(HashMap[address, String[256]])
member_count: public(uint256)

weighting: public(uint8)  # 0 = one member one vote, 1 = contribution shares at the snapshot
quorum_bps: public(uint256)
threshold_bps: public(uint256)
voting_period: public(uint256)
timelock: public(uint256)

price_per_row: public(uint256)
valuation_method: public(String[256])
valuation_params: public(String[256])
released_model: public(bytes32)

proposal_count: public(uint256)
proposals: public(HashMap[uint256, Proposal])
has_voted: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(
    revenue_shares: address,
    training_log: address,
    members: DynArray[address, MAX_MEMBERS],
    names: DynArray[String[256], MAX_MEMBERS],
    weighting: uint8,
    quorum_bps: uint256,
    threshold_bps: uint256,
    voting_period: uint256,
    timelock: uint256,
    price_per_row: uint256,
    valuation_method: String[32],
):
    """
    @param revenue_shares The consortium's RevenueShares (this governor must then be made its owner).
    @param training_log The consortium's TrainingLog (likewise).
    @param members Founding member accounts.
    @param names Their names, in the same order.
    @param weighting 0 for one member one vote, 1 for contribution-share weighted.
    @param quorum_bps Share of the total weight that must vote.
    @param threshold_bps Share of the votes cast that must be for.
    @param voting_period Blocks a proposal is open for votes.
    @param timelock Blocks between the end of voting and execution.
    @param price_per_row Initial price of one predicted row, in the smallest unit.
    @param valuation_method Initial valuation method.
    """
    assert len(members) == len(names), "Governor: names and members differ in length"
    assert weighting <= 1, "Governor: unknown weighting"
    assert quorum_bps <= MAX_BPS and threshold_bps <= MAX_BPS, "Governor: bps over 10000"
    self.revenue_shares = revenue_shares
    self.training_log = training_log
    for i: uint256 in range(MAX_MEMBERS):
        if i >= len(members):
            break
        self._admit(members[i], names[i])
    self.weighting = weighting
    self.quorum_bps = quorum_bps
    self.threshold_bps = threshold_bps
    self.voting_period = voting_period
    self.timelock = timelock
    self.price_per_row = price_per_row
    self.valuation_method = valuation_method


@internal
def _admit(account: address, name: String[256]):
    assert account != empty(address), "Governor: zero account"
    assert not self.is_member[account], "Governor: already a member"
    self.is_member[account] = True
    self.member_since[account] = block.number
    self.member_name[account] = name
    self.member_count += 1
    log MemberChanged(account=account, name=name, admitted=True)


@internal
@view
def _weight(voter: address, snapshot: uint256) -> uint256:
    if self.weighting == 0:
        return 1
    return staticcall RevenueShares(self.revenue_shares).shares_at(voter, snapshot)


@external
def propose(
    kind: uint8, number: uint256, account: address, digest: bytes32, text: String[256], description: String[256]
) -> uint256:
    """
    @notice Open a proposal; members only.
    @dev kind 0 treasury cut (number = bps); 1 valuation (text = method, description = parameters);
         2 admit member (account, text = name); 3 remove member (account); 4 release model (digest);
         5 price per row (number); 6 oracle (account); 7 governance (number packs quorum_bps,
         threshold_bps, voting_period, timelock, weighting as 5 fields of 48 bits).
    @param kind Proposal kind.
    @param number Numeric argument.
    @param account Address argument.
    @param digest Hash argument.
    @param text Text argument.
    @param description Why; shown to voters.
    @return The proposal id.
    """
    assert self.is_member[msg.sender], "Governor: caller is not a member"
    assert kind <= GOVERNANCE, "Governor: unknown proposal kind"
    if kind == TREASURY_CUT:
        assert number <= MAX_BPS, "Governor: cut over 10000 bps"
    if kind == ADMIT_MEMBER:
        assert not self.is_member[account], "Governor: already a member"
    if kind == REMOVE_MEMBER:
        assert self.is_member[account], "Governor: not a member"
    pid: uint256 = self.proposal_count + 1
    self.proposal_count = pid
    total: uint256 = self.member_count
    if self.weighting == 1:
        total = staticcall RevenueShares(self.revenue_shares).total_shares_at(block.number - 1)
    end: uint256 = block.number + self.voting_period
    self.proposals[pid] = Proposal(
        proposer=msg.sender,
        kind=kind,
        number=number,
        account=account,
        digest=digest,
        text=text,
        description=description,
        snapshot=block.number - 1,
        end=end,
        total_weight=total,
        votes_for=0,
        votes_against=0,
        canceled=False,
        executed=False,
    )
    log Proposed(
        proposal_id=pid,
        proposer=msg.sender,
        kind=kind,
        number=number,
        account=account,
        digest=digest,
        text=text,
        description=description,
        snapshot=block.number - 1,
        end=end,
        total_weight=total,
    )
    return pid


@external
def vote(proposal_id: uint256, support: bool):
    """
    @notice Vote for or against an open proposal, once; members who joined before its snapshot only.
    @param proposal_id The proposal.
    @param support True for, False against.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.end != 0, "Governor: no such proposal"
    assert self.is_member[msg.sender], "Governor: caller is not a member"
    assert self.member_since[msg.sender] <= p.snapshot, "Governor: joined after the snapshot"
    assert not p.canceled, "Governor: proposal canceled"
    assert block.number <= p.end, "Governor: voting has ended"
    assert not self.has_voted[proposal_id][msg.sender], "Governor: already voted"
    weight: uint256 = self._weight(msg.sender, p.snapshot)
    assert weight > 0, "Governor: no voting power at the snapshot"
    self.has_voted[proposal_id][msg.sender] = True
    if support:
        self.proposals[proposal_id].votes_for += weight
    else:
        self.proposals[proposal_id].votes_against += weight
    log Voted(proposal_id=proposal_id, voter=msg.sender, support=support, weight=weight)


@external
def cancel(proposal_id: uint256):
    """
    @notice Withdraw a proposal before its voting ends; its proposer only.
    @param proposal_id The proposal.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.end != 0, "Governor: no such proposal"
    assert msg.sender == p.proposer, "Governor: caller is not the proposer"
    assert block.number <= p.end, "Governor: voting has ended"
    assert not p.canceled, "Governor: proposal canceled"
    self.proposals[proposal_id].canceled = True
    log Canceled(proposal_id=proposal_id)


@internal
@view
def _passed(p: Proposal) -> bool:
    cast: uint256 = p.votes_for + p.votes_against
    quorum: bool = cast * MAX_BPS >= p.total_weight * self.quorum_bps and cast > 0
    return quorum and p.votes_for * MAX_BPS > cast * self.threshold_bps


@external
@view
def state(proposal_id: uint256) -> String[16]:
    """
    @notice "active", "canceled", "defeated", "queued" (passed, in timelock), "ready" or "executed".
    @param proposal_id The proposal.
    @return The state.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.end != 0, "Governor: no such proposal"
    if p.canceled:
        return "canceled"
    if p.executed:
        return "executed"
    if block.number <= p.end:
        return "active"
    if not self._passed(p):
        return "defeated"
    if block.number <= p.end + self.timelock:
        return "queued"
    return "ready"


@external
def execute(proposal_id: uint256):
    """
    @notice Carry out a passed proposal after its timelock; anyone may call.
    @param proposal_id The proposal.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.end != 0, "Governor: no such proposal"
    assert not p.executed, "Governor: already executed"
    assert not p.canceled, "Governor: proposal canceled"
    assert block.number > p.end, "Governor: voting has not ended"
    assert self._passed(p), "Governor: proposal did not pass"
    assert block.number > p.end + self.timelock, "Governor: timelock has not passed"
    self.proposals[proposal_id].executed = True
    if p.kind == TREASURY_CUT:
        extcall RevenueShares(self.revenue_shares).set_treasury_cut(p.number)
    elif p.kind == VALUATION:
        self.valuation_method = p.text
        self.valuation_params = p.description
    elif p.kind == ADMIT_MEMBER:
        self._admit(p.account, p.text)
    elif p.kind == REMOVE_MEMBER:
        assert self.is_member[p.account], "Governor: not a member"
        self.is_member[p.account] = False
        self.member_count -= 1
        log MemberChanged(account=p.account, name=self.member_name[p.account], admitted=False)
    elif p.kind == RELEASE_MODEL:
        self.released_model = p.digest
    elif p.kind == PRICE:
        self.price_per_row = p.number
    elif p.kind == ORACLE:
        extcall TrainingLog(self.training_log).set_role("oracle", p.account)
    else:
        fields: uint256 = p.number
        quorum: uint256 = fields & (2**48 - 1)
        threshold: uint256 = (fields >> 48) & (2**48 - 1)
        period: uint256 = (fields >> 96) & (2**48 - 1)
        lock: uint256 = (fields >> 144) & (2**48 - 1)
        weighting: uint256 = (fields >> 192) & (2**48 - 1)
        assert quorum <= MAX_BPS and threshold <= MAX_BPS and weighting <= 1, "Governor: bad governance parameters"
        self.quorum_bps = quorum
        self.threshold_bps = threshold
        self.voting_period = period
        self.timelock = lock
        self.weighting = convert(weighting, uint8)
    log Executed(proposal_id=proposal_id, kind=p.kind)
