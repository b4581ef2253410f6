# pragma version ~=0.4.3
"""
@title TrainingLog
@notice Append-only record of every training round and the shares it earned.
@dev One record per round id; recording a round mints its shares in RevenueShares in the same
     transaction, so a round is either recorded and paid, or neither. The full record (method,
     parameters, seed, members, scores, shares) is in the RoundRecorded event; storage keeps the
     model hash and the keccak256 of the record so anyone can verify the event against state.
"""

MAX_MEMBERS: constant(uint256) = 128

interface RevenueShares:
    def mint(account: address, amount: uint256, round_id: uint256): nonpayable

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

owner: public(address)
oracle: public(address)
revenue_shares: public(address)
round_count: public(uint256)
model_hash_of: public(HashMap[uint256, bytes32])
record_hash_of: public(HashMap[uint256, bytes32])
last_round: public(uint256)


@deploy
def __init__(revenue_shares: address, oracle: address):
    """
    @param revenue_shares The RevenueShares contract this log mints in (it must make this log its minter).
    @param oracle The coordinator allowed to record rounds.
    """
    self.owner = msg.sender
    self.oracle = oracle
    self.revenue_shares = revenue_shares


@external
def record_round(
    round_id: uint256,
    model_hash: bytes32,
    method: String[32],
    params: String[2048],
    seed: uint256,
    members: DynArray[address, MAX_MEMBERS],
    scores: DynArray[int256, MAX_MEMBERS],
    shares: DynArray[uint256, MAX_MEMBERS],
):
    """
    @notice Record a round and mint its shares; only the oracle, once per round id.
    @param round_id Round number, starting at 1.
    @param model_hash SHA-256 of the global model after the round.
    @param method Valuation method that produced the scores.
    @param params Method parameters (JSON) so anyone can recompute the scores.
    @param seed Seed of the valuation's randomness.
    @param members Member accounts, in the order of scores and shares.
    @param scores Measured values, scaled by 1e9 (may be negative).
    @param shares Shares minted to each member.
    """
    assert msg.sender == self.oracle, "TrainingLog: caller is not the oracle"
    assert round_id > 0, "TrainingLog: round ids start at 1"
    assert self.model_hash_of[round_id] == empty(bytes32), "TrainingLog: round already recorded"
    assert model_hash != empty(bytes32), "TrainingLog: empty model hash"
    assert len(members) == len(scores) and len(members) == len(shares), "TrainingLog: length mismatch"
    record: bytes32 = keccak256(abi_encode(round_id, model_hash, method, params, seed, members, scores, shares))
    self.model_hash_of[round_id] = model_hash
    self.record_hash_of[round_id] = record
    self.round_count += 1
    if round_id > self.last_round:
        self.last_round = round_id
    for i: uint256 in range(MAX_MEMBERS):
        if i >= len(members):
            break
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
    @notice Change the "owner" or the "oracle"; only the owner (governance).
    @param role Role name.
    @param account New holder.
    """
    assert msg.sender == self.owner, "TrainingLog: caller is not the owner"
    assert account != empty(address), "TrainingLog: zero account"
    if role == "owner":
        self.owner = account
    elif role == "oracle":
        self.oracle = account
    else:
        raise "TrainingLog: unknown role"
    log RoleChanged(role=role, account=account)
