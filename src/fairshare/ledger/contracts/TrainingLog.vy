# pragma version ~=0.4.3
"""
@title TrainingLog
@notice Append-only record of every training round; the shares a round mints are computed here from
        its scores, so whoever records rounds cannot choose who is paid what.
@dev Rounds are numbered 1, 2, 3, ... without gaps. Recording a round mints its shares in
     RevenueShares in the same transaction, so a round is either recorded and paid, or neither.
     Shares are a pure function of the scores and the governed share rule:
         raw_i = max(score_i, 0) * share_scale // 10**9
         shares_i = raw_i                              if sum(raw) <= round_cap
                    raw_i * round_cap // sum(raw)      otherwise
     Members of a round must be admitted members of the consortium (the Governor, this log's owner,
     says who is) in strictly ascending address order, and never the oracle: the account that records
     rounds cannot be paid by them. The full record (method, parameters, seed, members, scores,
     shares) is in the RoundRecorded event; storage keeps the model hash and the keccak256 of the
     record so anyone can verify the event against state.
     With a score committee set (ScoreCommittee.vy), rounds come only from it: their scores are the
     weighted medians of the validators' revealed scores, and the oracle only proposes the context.
@custom:security Without a committee the oracle chooses the scores (a single scorer). Bounded damage:
     shares go only to members, at most `round_cap` per round.
"""

MAX_MEMBERS: constant(uint256) = 128
SCORE_SCALE: constant(uint256) = 10**9
MAX_SCORE: constant(int256) = 2**100
MAX_SCALE: constant(uint256) = 10**18

interface RevenueShares:
    def mint(account: address, amount: uint256, round_id: uint256): nonpayable
    def treasury() -> address: view

interface Governor:
    def is_member(account: address) -> bool: view
    def payout_mode() -> uint8: view

event RoundRecorded:
    round_id: indexed(uint256)
    model_hash: bytes32
    method: String[32]
    params: String[2048]
    seed: uint256
    members: DynArray[address, MAX_MEMBERS]
    scores: DynArray[int256, MAX_MEMBERS]
    shares: DynArray[uint256, MAX_MEMBERS]
    record_hash: bytes32

event RoleChanged:
    role: String[16]
    account: indexed(address)

event ShareRuleChanged:
    share_scale: uint256
    round_cap: uint256

owner: public(address)
oracle: public(address)
committee: public(address)
revenue_shares: public(address)
share_scale: public(uint256)
round_cap: public(uint256)
round_count: public(uint256)
model_hash_of: public(HashMap[uint256, bytes32])
record_hash_of: public(HashMap[uint256, bytes32])
last_round: public(uint256)


@deploy
def __init__(revenue_shares: address, oracle: address, share_scale: uint256, round_cap: uint256):
    """
    @param revenue_shares The RevenueShares contract this log mints in (it must make this log its minter).
    @param oracle The coordinator allowed to record rounds.
    @param share_scale Shares per unit of score (scores are values x 1e9), 1 to 1e18.
    @param round_cap Most shares one round may mint.
    """
    assert oracle != empty(address), "TrainingLog: zero oracle"
    self.owner = msg.sender
    self.oracle = oracle
    self.revenue_shares = revenue_shares
    self._set_share_rule(share_scale, round_cap)
    log RoleChanged(role="oracle", account=oracle)


@internal
def _set_share_rule(share_scale: uint256, round_cap: uint256):
    assert share_scale >= 1 and share_scale <= MAX_SCALE, "TrainingLog: share scale out of range"
    assert round_cap >= 1 and round_cap < 2**128, "TrainingLog: round cap out of range"
    self.share_scale = share_scale
    self.round_cap = round_cap
    log ShareRuleChanged(share_scale=share_scale, round_cap=round_cap)


@external
@view
def shares_for(scores: DynArray[int256, MAX_MEMBERS]) -> DynArray[uint256, MAX_MEMBERS]:
    """
    @notice The shares `scores` would mint under the share rule in force.
    @param scores Scores (values x 1e9).
    @return Shares per score, in order.
    """
    return self._shares_for(scores)


@internal
@view
def _shares_for(scores: DynArray[int256, MAX_MEMBERS]) -> DynArray[uint256, MAX_MEMBERS]:
    raw: DynArray[uint256, MAX_MEMBERS] = []
    total: uint256 = 0
    for score: int256 in scores:
        assert score <= MAX_SCORE and score >= -MAX_SCORE, "TrainingLog: score out of range"
        r: uint256 = 0
        if score > 0:
            r = convert(score, uint256) * self.share_scale // SCORE_SCALE
        raw.append(r)
        total += r
    if total <= self.round_cap:
        return raw
    capped: DynArray[uint256, MAX_MEMBERS] = []
    for r: uint256 in raw:
        capped.append(r * self.round_cap // total)
    return capped


@external
def record_round(
    round_id: uint256,
    model_hash: bytes32,
    method: String[32],
    params: String[2048],
    seed: uint256,
    members: DynArray[address, MAX_MEMBERS],
    scores: DynArray[int256, MAX_MEMBERS],
):
    """
    @notice Record the next round and mint the shares its scores earn; only the oracle, or the score
            committee once one is set (then only the committee).
    @param round_id The next round number (last_round + 1).
    @param model_hash SHA-256 of the global model after the round.
    @param method Valuation method that produced the scores.
    @param params Method parameters and measurements (JSON) so anyone can recompute the scores.
    @param seed Seed of the valuation's randomness.
    @param members Admitted member accounts, strictly ascending, in the order of scores.
    @param scores Credited values, scaled by 1e9 (may be negative; a non-positive score mints nothing).
    """
    if self.committee == empty(address):
        assert msg.sender == self.oracle, "TrainingLog: caller is not the oracle"
    else:
        assert msg.sender == self.committee, "TrainingLog: rounds come from the score committee"
    assert round_id == self.last_round + 1, "TrainingLog: rounds are recorded in order, without gaps"
    assert model_hash != empty(bytes32), "TrainingLog: empty model hash"
    assert len(members) == len(scores), "TrainingLog: length mismatch"
    assert staticcall Governor(self.owner).payout_mode() == 0, "TrainingLog: payouts are in roots mode; publish to EntitlementRoots"
    previous: uint256 = 0
    for member: address in members:
        assert convert(member, uint256) > previous, "TrainingLog: members must be in ascending order"
        previous = convert(member, uint256)
        assert member != self.oracle, "TrainingLog: the oracle cannot be paid"
        assert staticcall Governor(self.owner).is_member(member), "TrainingLog: not an admitted member"
    shares: DynArray[uint256, MAX_MEMBERS] = self._shares_for(scores)
    record: bytes32 = keccak256(abi_encode(round_id, model_hash, method, params, seed, members, scores, shares))
    self.model_hash_of[round_id] = model_hash
    self.record_hash_of[round_id] = record
    self.round_count += 1
    self.last_round = round_id
    for i: uint256 in range(len(members), bound=MAX_MEMBERS):
        if shares[i] > 0:
            extcall RevenueShares(self.revenue_shares).mint(members[i], shares[i], round_id)
    log RoundRecorded(
        round_id=round_id,
        model_hash=model_hash,
        method=method,
        params=params,
        seed=seed,
        members=members,
        scores=scores,
        shares=shares,
        record_hash=record,
    )


@external
def set_role(role: String[16], account: address):
    """
    @notice Change the "owner", the "oracle" or the score "committee"; only the owner (governance).
    @dev The oracle must not be a member or the treasury: it may not be paid by the rounds it records.
    @param role Role name.
    @param account New holder.
    """
    assert msg.sender == self.owner, "TrainingLog: caller is not the owner"
    assert account != empty(address), "TrainingLog: zero account"
    if role == "owner":
        self.owner = account
    elif role == "oracle":
        assert not staticcall Governor(self.owner).is_member(account), "TrainingLog: the oracle cannot be a member"
        treasury: address = staticcall RevenueShares(self.revenue_shares).treasury()
        assert account != treasury, "TrainingLog: the oracle cannot be the treasury"
        self.oracle = account
    elif role == "committee":
        self.committee = account
    else:
        raise "TrainingLog: unknown role"
    log RoleChanged(role=role, account=account)


@external
def set_share_rule(share_scale: uint256, round_cap: uint256):
    """
    @notice Change how scores become shares for future rounds; only the owner (governance).
    @param share_scale Shares per unit of score (scores are values x 1e9), 1 to 1e18.
    @param round_cap Most shares one round may mint.
    """
    assert msg.sender == self.owner, "TrainingLog: caller is not the owner"
    self._set_share_rule(share_scale, round_cap)
