# pragma version ~=0.4.3
"""
@title Governor
@notice The members govern the consortium: proposals, votes, a timelock, execution by contract.
@dev Owns RevenueShares and TrainingLog; only an executed proposal changes their policy. Policy that
     off-chain parts read (price per row, valuation method and parameters, released model) lives
     here, so there is no local copy to drift. Durations are in blocks.
     Every proposal freezes its rule when it is opened: weighting, quorum, threshold, timelock, the
     total weight and the member count at its snapshot (the block before). Votes are cast until
     `end`; after that nothing its outcome depends on can change, so a proposal's outcome is fixed
     when its voting ends, whatever the parameters become later.
     Voting power is one member one vote, or the voter's contribution shares at the snapshot
     (RevenueShares.shares_at), so shares minted after a proposal cannot swing it; with no shares
     at the snapshot a share-weighted proposal counts members instead.
     An ordinary proposal passes when the weight of all votes reaches `quorum_bps` of the total
     weight and the votes for exceed `threshold_bps` of the votes cast. A role change (oracle,
     pauser, operator, treasury, share rule, governance parameters) must also win more than
     `super_bps` of the TOTAL weight and a majority of the members by count, and waits
     `role_timelock` instead of `timelock`, so a single large holder cannot take a role alone.
     Anyone may execute a passed proposal after its timelock and within `execution_window` blocks;
     after that it has expired. Parameters are validated so that governance can always still act.
"""

MAX_MEMBERS: constant(uint256) = 128
MAX_BPS: constant(uint256) = 10_000
MAX_DURATION: constant(uint256) = 1_000_000
MIN_WINDOW: constant(uint256) = 10  # a passed proposal stays executable long enough for someone to execute it
FIELD: constant(uint256) = 2**32

# proposal kinds
TREASURY_CUT: constant(uint8) = 0
VALUATION: constant(uint8) = 1
ADMIT_MEMBER: constant(uint8) = 2
REMOVE_MEMBER: constant(uint8) = 3
RELEASE_MODEL: constant(uint8) = 4
PRICE: constant(uint8) = 5
ORACLE: constant(uint8) = 6
GOVERNANCE: constant(uint8) = 7
PAUSE: constant(uint8) = 8
ROLE: constant(uint8) = 9
SHARE_RULE: constant(uint8) = 10
VALIDATOR: constant(uint8) = 11
VAULT: constant(uint8) = 12
DEFAULT_REFUND_NOTICE: constant(uint256) = 100  # blocks; the operator's time to settle before a refund
PAYOUT_MODE: constant(uint8) = 13  # 0 accumulator (RevenueShares), 1 Merkle roots (EntitlementRoots)

interface RevenueShares:
    def set_treasury_cut(bps: uint256): nonpayable
    def set_role(role: String[16], account: address): nonpayable
    def set_pauser(account: address, pause_blocks: uint256): nonpayable
    def set_pause(blocks: uint256): nonpayable
    def shares_at(account: address, at_block: uint256) -> uint256: view
    def total_shares_at(at_block: uint256) -> uint256: view
    def treasury() -> address: view

interface TrainingLog:
    def set_role(role: String[16], account: address): nonpayable
    def set_share_rule(share_scale: uint256, round_cap: uint256): nonpayable
    def oracle() -> address: view
    def committee() -> address: view

interface ScoreCommittee:
    def set_validator(account: address, weight: uint256, data_hash: bytes32): nonpayable

struct Rules:
    weighting: uint8
    quorum_bps: uint256
    threshold_bps: uint256
    super_bps: uint256
    voting_period: uint256
    timelock: uint256
    role_timelock: uint256
    execution_window: uint256

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
    weighting: uint8
    quorum_bps: uint256
    threshold_bps: uint256
    super_bps: uint256
    timelock: uint256
    expires: uint256
    role_change: bool
    total_weight: uint256
    member_count: uint256
    votes_for: uint256
    votes_against: uint256
    members_for: uint256
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
    weighting: uint8
    quorum_bps: uint256
    threshold_bps: uint256
    super_bps: uint256
    timelock: uint256
    expires: uint256
    role_change: bool
    total_weight: uint256
    member_count: uint256

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

event RulesChanged:
    weighting: uint8
    quorum_bps: uint256
    threshold_bps: uint256
    super_bps: uint256
    voting_period: uint256
    timelock: uint256
    role_timelock: uint256
    execution_window: uint256

revenue_shares: public(address)
training_log: public(address)
founder: public(address)  # the deployer may add founding members in batches until it seals the founding
is_member: public(HashMap[address, bool])
member_since: public(HashMap[address, uint256])
member_name: public(HashMap[address, String[256]])
member_count: public(uint256)
removed_shares: public(uint256)  # shares held by removed members: they can no longer vote
_removed_share_of: HashMap[address, uint256]

rules: public(Rules)

price_per_row: public(uint256)
refund_notice: public(uint256)  # blocks a customer waits between asking the CreditVault for a refund and taking it
valuation_method: public(String[256])
valuation_params: public(String[256])
released_model: public(bytes32)
payout_mode: public(uint8)  # 0: rounds mint shares in RevenueShares; 1: rounds are published to EntitlementRoots

proposal_count: public(uint256)
proposals: public(HashMap[uint256, Proposal])
has_voted: public(HashMap[uint256, HashMap[address, bool]])


@deploy
def __init__(
    revenue_shares: address,
    training_log: address,
    members: DynArray[address, MAX_MEMBERS],
    names: DynArray[String[256], MAX_MEMBERS],
    rules: Rules,
    price_per_row: uint256,
    valuation_method: String[32],
    valuation_params: String[256],
):
    """
    @param revenue_shares The consortium's RevenueShares (this governor must then be made its owner).
    @param training_log The consortium's TrainingLog (likewise).
    @param members Founding member accounts (never the oracle or the treasury).
    @param names Their names, in the same order.
    @param rules Voting rules; see `_check_rules` for the ranges.
    @param price_per_row Initial price of one predicted row, in the smallest unit.
    @param valuation_method Initial valuation method.
    @param valuation_params Initial valuation policy (compact JSON read by the coordinator).
    """
    assert len(members) == len(names), "Governor: names and members differ in length"
    assert len(members) > 0, "Governor: no members"
    self.revenue_shares = revenue_shares
    self.training_log = training_log
    self.founder = msg.sender
    for i: uint256 in range(len(members), bound=MAX_MEMBERS):
        self._admit(members[i], names[i])
    self._set_rules(rules)
    self.price_per_row = price_per_row
    self.refund_notice = DEFAULT_REFUND_NOTICE
    self.valuation_method = valuation_method
    self.valuation_params = valuation_params


@external
def add_founders(members: DynArray[address, MAX_MEMBERS], names: DynArray[String[256], MAX_MEMBERS]):
    """
    @notice Admit more founding members, for consortia larger than one transaction admits; only the
            deployer, before it seals the founding (`seal_founding`), so no member needs a proposal.
    @param members Founding member accounts (never the oracle or the treasury).
    @param names Their names, in the same order.
    """
    assert msg.sender == self.founder, "Governor: founding is sealed"
    assert len(members) == len(names), "Governor: names and members differ in length"
    for i: uint256 in range(len(members), bound=MAX_MEMBERS):
        self._admit(members[i], names[i])


@external
def seal_founding():
    """
    @notice End the founding: from now on only an executed proposal admits a member; only the deployer.
    """
    assert msg.sender == self.founder, "Governor: founding is sealed"
    self.founder = empty(address)


@internal
@pure
def _check_rules(r: Rules):
    assert r.weighting <= 1, "Governor: unknown weighting"
    assert r.quorum_bps >= 1 and r.quorum_bps <= MAX_BPS, "Governor: quorum must be 1 to 10000 bps"
    assert r.threshold_bps >= 5000 and r.threshold_bps < MAX_BPS, "Governor: threshold must be 5000 to 9999 bps"
    assert r.super_bps >= 5000 and r.super_bps < MAX_BPS, "Governor: supermajority must be 5000 to 9999 bps"
    assert r.voting_period >= 1 and r.voting_period <= MAX_DURATION, "Governor: voting period out of range"
    assert r.timelock < r.role_timelock, "Governor: role changes need a longer timelock than other proposals"
    assert r.role_timelock <= MAX_DURATION, "Governor: timelock out of range"
    assert r.execution_window >= MIN_WINDOW and r.execution_window <= MAX_DURATION, "Governor: execution window out of range"


@internal
@pure
def _unpack(number: uint256) -> Rules:
    return Rules(
        weighting=convert(number & (FIELD - 1), uint8),
        quorum_bps=(number >> 32) & (FIELD - 1),
        threshold_bps=(number >> 64) & (FIELD - 1),
        super_bps=(number >> 96) & (FIELD - 1),
        voting_period=(number >> 128) & (FIELD - 1),
        timelock=(number >> 160) & (FIELD - 1),
        role_timelock=(number >> 192) & (FIELD - 1),
        execution_window=(number >> 224) & (FIELD - 1),
    )


@internal
def _set_rules(r: Rules):
    self._check_rules(r)
    self.rules = r
    log RulesChanged(
        weighting=r.weighting,
        quorum_bps=r.quorum_bps,
        threshold_bps=r.threshold_bps,
        super_bps=r.super_bps,
        voting_period=r.voting_period,
        timelock=r.timelock,
        role_timelock=r.role_timelock,
        execution_window=r.execution_window,
    )


@internal
def _admit(account: address, name: String[256]):
    assert account != empty(address), "Governor: zero account"
    assert not self.is_member[account], "Governor: already a member"
    self._not_a_role_holder(account)
    self.is_member[account] = True
    self.member_since[account] = block.number
    self.member_name[account] = name
    self.member_count += 1
    removed: uint256 = self._removed_share_of[account]
    if removed > 0:
        self.removed_shares -= removed
        self._removed_share_of[account] = 0
    log MemberChanged(account=account, name=name, admitted=True)


@internal
@view
def _not_a_role_holder(account: address):
    assert account != staticcall TrainingLog(self.training_log).oracle(), "Governor: the oracle cannot be a member"
    assert account != staticcall RevenueShares(self.revenue_shares).treasury(), "Governor: the treasury cannot be a member"


@internal
@pure
def _is_role_change(kind: uint8) -> bool:
    return kind == ORACLE or kind == GOVERNANCE or kind == ROLE or kind == SHARE_RULE or kind == VALIDATOR or kind == PAYOUT_MODE


@internal
@view
def _validate(kind: uint8, number: uint256, account: address, text: String[256]):
    assert kind <= PAYOUT_MODE, "Governor: unknown proposal kind"
    if kind == TREASURY_CUT:
        assert number <= MAX_BPS, "Governor: cut over 10000 bps"
    elif kind == ADMIT_MEMBER:
        assert not self.is_member[account], "Governor: already a member"
        self._not_a_role_holder(account)
    elif kind == REMOVE_MEMBER:
        assert self.is_member[account], "Governor: not a member"
        assert self.member_count > 1, "Governor: cannot remove the last member"
    elif kind == ORACLE:
        assert not self.is_member[account], "Governor: the oracle cannot be a member"
    elif kind == GOVERNANCE:
        self._check_rules(self._unpack(number))
    elif kind == PAUSE:
        assert number <= MAX_DURATION, "Governor: pause longer than 1000000 blocks"
    elif kind == ROLE:
        assert text == "pauser" or text == "operator" or text == "treasury", "Governor: unknown role"
        assert account != empty(address), "Governor: zero account"
        if text == "pauser":
            assert number >= 1 and number <= MAX_DURATION, "Governor: pause length out of range"
        if text == "treasury":
            assert not self.is_member[account], "Governor: the treasury cannot be a member"
    elif kind == VAULT:
        assert number >= 1 and number <= MAX_DURATION, "Governor: refund notice out of range"
    elif kind == SHARE_RULE:
        scale: uint256 = number & (2**128 - 1)
        cap: uint256 = number >> 128
        assert scale >= 1 and scale <= 10**18 and cap >= 1, "Governor: share rule out of range"
    elif kind == VALIDATOR:
        assert staticcall TrainingLog(self.training_log).committee() != empty(address), "Governor: no score committee"
        assert account != empty(address), "Governor: zero account"
        assert number <= 2**32, "Governor: validator weight out of range"
    elif kind == PAYOUT_MODE:
        assert number <= 1, "Governor: payout mode must be 0 (accumulator) or 1 (roots)"


@external
def propose(
    kind: uint8, number: uint256, account: address, digest: bytes32, text: String[256], description: String[256]
) -> uint256:
    """
    @notice Open a proposal; members only.
    @dev kind 0 treasury cut (number = bps); 1 valuation (text = method, description = policy
         JSON); 2 admit member (account, text = name); 3 remove member (account); 4 release model
         (digest); 5 price per row (number); 6 oracle (account); 7 governance rules (number packs
         weighting, quorum, threshold, supermajority, voting period, timelock, role timelock and
         execution window as 8 fields of 32 bits, lowest first); 8 pause (number = blocks from
         execution, 0 = resume now); 9 role (text = "pauser" | "operator" | "treasury", account;
         for the pauser, number = its pause length); 10 share rule (number = scale + cap << 128);
         11 validator (account, number = weight, 0 removes; digest = its validation data's hash).
         12 vault refund notice (number = blocks, 1 to 1,000,000).
         13 payout mode (number = 0 accumulator, 1 Merkle roots; a role change).
    @param kind Proposal kind.
    @param number Numeric argument.
    @param account Address argument.
    @param digest Hash argument.
    @param text Text argument.
    @param description Why; shown to voters.
    @return The proposal id.
    """
    assert self.is_member[msg.sender], "Governor: caller is not a member"
    self._validate(kind, number, account, text)
    r: Rules = self.rules
    snapshot: uint256 = block.number - 1
    weighting: uint8 = r.weighting
    total: uint256 = self.member_count
    if weighting == 1:
        shares: uint256 = staticcall RevenueShares(self.revenue_shares).total_shares_at(snapshot)
        if shares > self.removed_shares:
            total = shares - self.removed_shares
        else:
            weighting = 0  # nobody holds shares yet: count members
    role_change: bool = self._is_role_change(kind)
    timelock: uint256 = r.timelock
    if role_change:
        timelock = r.role_timelock
    end: uint256 = block.number + r.voting_period
    expires: uint256 = end + timelock + r.execution_window
    pid: uint256 = self.proposal_count + 1
    self.proposal_count = pid
    self.proposals[pid] = Proposal(
        proposer=msg.sender,
        kind=kind,
        number=number,
        account=account,
        digest=digest,
        text=text,
        description=description,
        snapshot=snapshot,
        end=end,
        weighting=weighting,
        quorum_bps=r.quorum_bps,
        threshold_bps=r.threshold_bps,
        super_bps=r.super_bps,
        timelock=timelock,
        expires=expires,
        role_change=role_change,
        total_weight=total,
        member_count=self.member_count,
        votes_for=0,
        votes_against=0,
        members_for=0,
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
        snapshot=snapshot,
        end=end,
        weighting=weighting,
        quorum_bps=r.quorum_bps,
        threshold_bps=r.threshold_bps,
        super_bps=r.super_bps,
        timelock=timelock,
        expires=expires,
        role_change=role_change,
        total_weight=total,
        member_count=self.member_count,
    )
    return pid


@external
def vote(proposal_id: uint256, support: bool):
    """
    @notice Vote for or against an open proposal, once; members who joined before its snapshot only.
    @dev Under share weighting a member without shares votes with weight 0: its vote counts towards
         the member majority a role change needs, not towards the weight.
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
    weight: uint256 = 1
    if p.weighting == 1:
        weight = staticcall RevenueShares(self.revenue_shares).shares_at(msg.sender, p.snapshot)
    self.has_voted[proposal_id][msg.sender] = True
    if support:
        self.proposals[proposal_id].votes_for += weight
        self.proposals[proposal_id].members_for += 1
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
@pure
def _passed(p: Proposal) -> bool:
    cast: uint256 = p.votes_for + p.votes_against
    if cast == 0 or cast * MAX_BPS < p.total_weight * p.quorum_bps:
        return False
    if p.votes_for * MAX_BPS <= cast * p.threshold_bps:
        return False
    if p.role_change:
        return p.votes_for * MAX_BPS > p.total_weight * p.super_bps and p.members_for * 2 > p.member_count
    return True


@external
@view
def state(proposal_id: uint256) -> String[16]:
    """
    @notice "active", "canceled", "defeated", "queued" (passed, in timelock), "ready", "executed"
            or "expired" (passed but not executed in time).
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
    if block.number <= p.end + p.timelock:
        return "queued"
    if block.number > p.expires:
        return "expired"
    return "ready"


@external
def execute(proposal_id: uint256):
    """
    @notice Carry out a passed proposal after its timelock and before it expires; anyone may call.
    @param proposal_id The proposal.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.end != 0, "Governor: no such proposal"
    assert not p.executed, "Governor: already executed"
    assert not p.canceled, "Governor: proposal canceled"
    assert block.number > p.end, "Governor: voting has not ended"
    assert self._passed(p), "Governor: proposal did not pass"
    assert block.number > p.end + p.timelock, "Governor: timelock has not passed"
    assert block.number <= p.expires, "Governor: proposal expired"
    self._validate(p.kind, p.number, p.account, p.text)  # the world may have moved since it was proposed
    self.proposals[proposal_id].executed = True
    if p.kind == TREASURY_CUT:
        extcall RevenueShares(self.revenue_shares).set_treasury_cut(p.number)
    elif p.kind == VALUATION:
        self.valuation_method = p.text
        self.valuation_params = p.description
    elif p.kind == ADMIT_MEMBER:
        self._admit(p.account, p.text)
    elif p.kind == REMOVE_MEMBER:
        self.is_member[p.account] = False
        self.member_count -= 1
        held: uint256 = staticcall RevenueShares(self.revenue_shares).shares_at(p.account, block.number)
        self._removed_share_of[p.account] = held
        self.removed_shares += held
        log MemberChanged(account=p.account, name=self.member_name[p.account], admitted=False)
    elif p.kind == RELEASE_MODEL:
        self.released_model = p.digest
    elif p.kind == PRICE:
        self.price_per_row = p.number
    elif p.kind == VAULT:
        self.refund_notice = p.number
    elif p.kind == ORACLE:
        extcall TrainingLog(self.training_log).set_role("oracle", p.account)
    elif p.kind == GOVERNANCE:
        self._set_rules(self._unpack(p.number))
    elif p.kind == PAUSE:
        extcall RevenueShares(self.revenue_shares).set_pause(p.number)
    elif p.kind == ROLE:
        if p.text == "pauser":
            extcall RevenueShares(self.revenue_shares).set_pauser(p.account, p.number)
        elif p.text == "operator":
            extcall RevenueShares(self.revenue_shares).set_role("operator", p.account)
        else:
            assert p.account != staticcall TrainingLog(self.training_log).oracle(), "Governor: the oracle cannot be the treasury"
            extcall RevenueShares(self.revenue_shares).set_role("treasury", p.account)
    elif p.kind == PAYOUT_MODE:
        self.payout_mode = convert(p.number, uint8)
    elif p.kind == SHARE_RULE:
        extcall TrainingLog(self.training_log).set_share_rule(p.number & (2**128 - 1), p.number >> 128)
    else:
        committee: address = staticcall TrainingLog(self.training_log).committee()
        extcall ScoreCommittee(committee).set_validator(p.account, p.number, p.digest)
    log Executed(proposal_id=proposal_id, kind=p.kind)
