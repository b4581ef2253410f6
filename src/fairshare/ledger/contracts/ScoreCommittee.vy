# pragma version ~=0.4.3
"""
@title ScoreCommittee
@notice No single party decides the scores: admitted validators commit to their score vectors, reveal
        them once every commit is in, and a round's scores are the two-sided weighted median of the
        revealed vectors, member by member. The median is then recorded in the TrainingLog, which mints
        the shares, so shares come from medians.
@dev One ballot at a time, one per attempt to record a round (a coordinator that crashed mid-round
     opens a new one once the old one can no longer settle; the TrainingLog takes each round once).
     Phases, in blocks, fixed when the ballot opens:
         commit   block <= commit_end                       commit(keccak(ballot, validator, scores, salt))
         reveal   commit_end < block <= reveal_end          reveal(scores, salt): checked against the commit
         settle   block > reveal_end                        propose(medians), then finalize after the window;
                                                            or finalize_on_chain (recompute) at any time
     Reveals stay in the transaction's calldata. Only the open ballot lives in storage, in slots that
     every ballot reuses (rewriting a slot costs a quarter of a new one): its phases and tallies, its
     context, its proposal, and one slot per validator: the ballot id (top 48 bits) over the commitment
     (a 207-bit keccak prefix, lowest bit 0), replaced at reveal by keccak(commitment, weight) with the
     lowest bit 1. Events keep the history; the audit reads the reveals back from calldata. The optimistic path: the oracle or a validator posts
     keccak(medians); after `challenge_blocks` anyone finalizes with the medians. Before that, anyone may
     call `finalize_on_chain` with every reveal: the contract checks each against its stored hash,
     recomputes the medians itself and records those; a proposal that differed is overturned (named in
     an event). No judge is trusted: the recomputation is the contract's.
     Median of member j: the revealed scores s_v with weights w_v of every revealer v, except a revealer
     whose account is j itself (a member gets no say over its own score); sorted ascending, the median is
     the first s with 2 * (weight of scores <= s) >= total weight (the lower weighted median); 0 if
     nobody else revealed. Inflating or deflating a member moves its median only if validators holding
     at least half the revealed weight do so (honest-majority assumption).
     A ballot settles only when validators holding more than half the admitted weight revealed.
@custom:security Validators see the round's updates (they value them); a weighted majority of
     validators that collude decides the scores. The commit binds the validator's address, so a
     validator cannot copy another's commitment and reveal its vector.
"""

MAX_MEMBERS: constant(uint256) = 128
MAX_VALIDATORS: constant(uint256) = 16
MAX_WEIGHT: constant(uint256) = 2**32
MAX_PHASE: constant(uint256) = 100_000
B48: constant(uint256) = 2**48 - 1
HASH: constant(uint256) = 2**208 - 1  # the hash part of a tagged slot; the ballot id sits above it

interface TrainingLog:
    def record_round(
        round_id: uint256,
        model_hash: bytes32,
        method: String[32],
        params: String[2048],
        seed: uint256,
        members: DynArray[address, MAX_MEMBERS],
        scores: DynArray[int256, MAX_MEMBERS],
    ): nonpayable
    def oracle() -> address: view
    def last_round() -> uint256: view

event ValidatorChanged:
    account: indexed(address)
    weight: uint256
    data_hash: bytes32

event Opened:
    ballot: indexed(uint256)
    round_id: indexed(uint256)
    context: bytes32
    members: uint256
    commit_end: uint256
    reveal_end: uint256

event Committed:
    ballot: indexed(uint256)
    validator: indexed(address)
    commitment: bytes32

event Revealed:
    ballot: indexed(uint256)
    validator: indexed(address)
    weight: uint256

event Proposed:
    ballot: indexed(uint256)
    proposer: indexed(address)
    medians_hash: bytes32
    challenge_end: uint256

event Finalized:
    ballot: indexed(uint256)
    round_id: indexed(uint256)
    medians_hash: bytes32
    recomputed: bool
    overturned: bool

owner: public(address)
training_log: public(address)
commit_blocks: public(uint256)
reveal_blocks: public(uint256)
challenge_blocks: public(uint256)

weight_of: public(HashMap[address, uint256])
data_hash_of: public(HashMap[address, bytes32])
validator_count: public(uint256)
total_weight: public(uint256)

ballot_count: public(uint256)  # the open ballot is the last one
context: public(bytes32)
_state: uint256  # commit_end | reveal_end << 48 | challenge_end << 96 | members << 144 | reveals << 152 | finalized << 160 | revealed weight << 168
_proposal: uint256  # ballot << 208 | 208 bits of keccak(medians)
slot_of: public(HashMap[address, uint256])  # ballot << 208 | commitment (bit 0 = 0) or keccak(commitment, weight) (bit 0 = 1)


@deploy
def __init__(training_log: address, commit_blocks: uint256, reveal_blocks: uint256, challenge_blocks: uint256):
    """
    @param training_log The TrainingLog this committee records rounds in (it must make this committee its recorder).
    @param commit_blocks Blocks during which validators commit, from the ballot's opening.
    @param reveal_blocks Blocks during which validators reveal, after the commit phase.
    @param challenge_blocks Blocks a proposal waits, open to an on-chain recomputation, before it is final.
    """
    assert training_log != empty(address), "ScoreCommittee: zero training log"
    assert commit_blocks >= 1 and commit_blocks <= MAX_PHASE, "ScoreCommittee: commit phase out of range"
    assert reveal_blocks >= 1 and reveal_blocks <= MAX_PHASE, "ScoreCommittee: reveal phase out of range"
    assert challenge_blocks >= 1 and challenge_blocks <= MAX_PHASE, "ScoreCommittee: challenge window out of range"
    self.owner = msg.sender
    self.training_log = training_log
    self.commit_blocks = commit_blocks
    self.reveal_blocks = reveal_blocks
    self.challenge_blocks = challenge_blocks


@internal
@pure
def _field(state: uint256, offset: uint256, bits: uint256) -> uint256:
    return (state >> offset) & ((1 << bits) - 1)


@external
def set_validator(account: address, weight: uint256, data_hash: bytes32):
    """
    @notice Admit a validator, change its weight, or remove it (weight 0); only the owner (governance).
    @param account The validator's account (a member's own account makes it a member-validator).
    @param weight Its weight in every median, 1 to 2**32; 0 removes it.
    @param data_hash The hash of the validation data it values on, committed when admitted.
    """
    assert msg.sender == self.owner, "ScoreCommittee: caller is not the owner"
    assert account != empty(address), "ScoreCommittee: zero account"
    assert weight <= MAX_WEIGHT, "ScoreCommittee: weight out of range"
    old: uint256 = self.weight_of[account]
    if old == 0 and weight > 0:
        assert self.validator_count < MAX_VALIDATORS, "ScoreCommittee: too many validators"
        self.validator_count += 1
    elif old > 0 and weight == 0:
        self.validator_count -= 1
    self.total_weight = self.total_weight - old + weight
    self.weight_of[account] = weight
    self.data_hash_of[account] = data_hash
    log ValidatorChanged(account=account, weight=weight, data_hash=data_hash)


@external
def set_owner(account: address):
    """
    @notice Hand the committee to governance; only the owner.
    @param account The new owner.
    """
    assert msg.sender == self.owner, "ScoreCommittee: caller is not the owner"
    assert account != empty(address), "ScoreCommittee: zero account"
    self.owner = account


@internal
@view
def _open(ballot: uint256) -> uint256:
    assert ballot != 0 and ballot == self.ballot_count, "ScoreCommittee: not the open ballot"
    return self._state


@external
def open_round(round_id: uint256, context: bytes32, members: uint256) -> uint256:
    """
    @notice Open a ballot for the next round; only the TrainingLog's oracle.
    @dev The previous ballot must be finalized or no longer open to a challenge: past its reveal phase and
         either not proposed or past its challenge window. A final proposal nobody finalized is dropped
         when the next ballot opens (anyone may finalize it as soon as its window ends; the coordinator
         does at once). The TrainingLog takes each round once.
    @param round_id The round (the TrainingLog's last round + 1).
    @param context keccak256(abi_encode(round_id, model_hash, method, params, seed, members)): what the
           scores are about, and the member order every score vector follows.
    @param members How many members (entries per score vector), 1 to 128.
    @return The ballot id.
    """
    log_: address = self.training_log
    assert msg.sender == staticcall TrainingLog(log_).oracle(), "ScoreCommittee: caller is not the oracle"
    assert round_id == staticcall TrainingLog(log_).last_round() + 1, "ScoreCommittee: not the next round"
    assert members >= 1 and members <= MAX_MEMBERS, "ScoreCommittee: 1 to 128 members"
    ballot: uint256 = self.ballot_count
    if ballot != 0:
        old: uint256 = self._state
        if self._field(old, 160, 1) == 0:
            challenge_end: uint256 = self._field(old, 96, 48)
            done: bool = block.number > self._field(old, 48, 48) and (challenge_end == 0 or block.number > challenge_end)
            assert done, "ScoreCommittee: the open ballot can still settle"
    ballot += 1
    self.ballot_count = ballot
    commit_end: uint256 = block.number + self.commit_blocks
    reveal_end: uint256 = commit_end + self.reveal_blocks
    self.context = context
    self._state = commit_end | (reveal_end << 48) | (members << 144)
    log Opened(ballot=ballot, round_id=round_id, context=context, members=members, commit_end=commit_end, reveal_end=reveal_end)
    return ballot


@internal
@pure
def _commitment(ballot: uint256, validator: address, scores: DynArray[int256, MAX_MEMBERS], salt: bytes32) -> uint256:
    h: uint256 = convert(keccak256(abi_encode(ballot, validator, scores, salt)), uint256)
    return (ballot << 208) | (h & HASH & ~1)


@internal
@pure
def _revealed(slot: uint256, weight: uint256) -> uint256:
    return (slot >> 208 << 208) | (convert(keccak256(abi_encode(slot, weight)), uint256) & HASH) | 1


@external
def commit(ballot: uint256, commitment: bytes32):
    """
    @notice Commit to a score vector during the commit phase; admitted validators only, once per ballot.
    @param ballot The open ballot.
    @param commitment keccak256(abi_encode(ballot, validator, scores, salt)); 207 bits of it are kept.
    """
    assert self.weight_of[msg.sender] > 0, "ScoreCommittee: caller is not a validator"
    state: uint256 = self._open(ballot)
    assert block.number <= state & B48, "ScoreCommittee: the commit phase is over"
    assert self.slot_of[msg.sender] >> 208 != ballot, "ScoreCommittee: already committed"
    assert commitment != empty(bytes32), "ScoreCommittee: empty commitment"
    slot: uint256 = (ballot << 208) | (convert(commitment, uint256) & HASH & ~1)
    self.slot_of[msg.sender] = slot
    log Committed(ballot=ballot, validator=msg.sender, commitment=convert(slot, bytes32))


@external
def reveal(ballot: uint256, scores: DynArray[int256, MAX_MEMBERS], salt: bytes32):
    """
    @notice Reveal the committed vector once the commit phase is over; it counts with the caller's weight now.
    @dev The vector stays in this transaction's calldata; the slot becomes keccak256(commitment, weight) | 1.
    @param ballot The open ballot.
    @param scores One score per member of the ballot's context, in its order (values x 1e9).
    @param salt The secret that made the commitment unguessable.
    """
    state: uint256 = self._open(ballot)
    assert block.number > state & B48, "ScoreCommittee: the commit phase is still open"
    assert block.number <= self._field(state, 48, 48), "ScoreCommittee: the reveal phase is over"
    weight: uint256 = self.weight_of[msg.sender]
    assert weight > 0, "ScoreCommittee: caller is not a validator"
    slot: uint256 = self.slot_of[msg.sender]
    assert slot >> 208 == ballot, "ScoreCommittee: nothing committed"
    assert slot & 1 == 0, "ScoreCommittee: already revealed"
    assert len(scores) == self._field(state, 144, 8), "ScoreCommittee: one score per member"
    assert self._commitment(ballot, msg.sender, scores, salt) == slot, "ScoreCommittee: reveal does not match the commitment"
    self.slot_of[msg.sender] = self._revealed(slot, weight)
    self._state = state + (1 << 152) + (weight << 168)
    log Revealed(ballot=ballot, validator=msg.sender, weight=weight)


@internal
@view
def _settleable(ballot: uint256) -> uint256:
    state: uint256 = self._open(ballot)
    assert block.number > self._field(state, 48, 48), "ScoreCommittee: the reveal phase is still open"
    assert self._field(state, 160, 1) == 0, "ScoreCommittee: already finalized"
    assert self._field(state, 168, 64) * 2 > self.total_weight, "ScoreCommittee: validators holding half the weight or less revealed"
    return state


@external
def propose(ballot: uint256, medians_hash: bytes32):
    """
    @notice Post keccak256(abi_encode(medians)) after the reveal phase; the oracle or a validator, once.
    @dev Anyone may overturn it before it is final with `finalize_on_chain`.
    @param ballot The open ballot.
    @param medians_hash keccak256(abi_encode(medians)), medians in the context's member order.
    """
    assert msg.sender == staticcall TrainingLog(self.training_log).oracle() or self.weight_of[msg.sender] > 0, "ScoreCommittee: caller is not the oracle or a validator"
    state: uint256 = self._settleable(ballot)
    assert self._field(state, 96, 48) == 0, "ScoreCommittee: already proposed"
    challenge_end: uint256 = block.number + self.challenge_blocks
    self._proposal = (ballot << 208) | (convert(medians_hash, uint256) & HASH)
    self._state = state | (challenge_end << 96)
    log Proposed(ballot=ballot, proposer=msg.sender, medians_hash=medians_hash, challenge_end=challenge_end)


@internal
@pure
def _tagged(ballot: uint256, medians: DynArray[int256, MAX_MEMBERS]) -> uint256:
    return (ballot << 208) | (convert(keccak256(abi_encode(medians)), uint256) & HASH)


@internal
def _record(
    ballot: uint256,
    state: uint256,
    round_id: uint256,
    model_hash: bytes32,
    method: String[32],
    params: String[2048],
    seed: uint256,
    members: DynArray[address, MAX_MEMBERS],
    medians: DynArray[int256, MAX_MEMBERS],
    recomputed: bool,
    overturned: bool,
):
    context: bytes32 = keccak256(abi_encode(round_id, model_hash, method, params, seed, members))
    assert context == self.context, "ScoreCommittee: context differs from the ballot's"
    self._state = state | (1 << 160)
    extcall TrainingLog(self.training_log).record_round(round_id, model_hash, method, params, seed, members, medians)
    log Finalized(ballot=ballot, round_id=round_id, medians_hash=keccak256(abi_encode(medians)), recomputed=recomputed, overturned=overturned)


@external
def finalize(
    ballot: uint256,
    round_id: uint256,
    model_hash: bytes32,
    method: String[32],
    params: String[2048],
    seed: uint256,
    members: DynArray[address, MAX_MEMBERS],
    medians: DynArray[int256, MAX_MEMBERS],
):
    """
    @notice Record an unchallenged proposal once its challenge window is over; anyone may call.
    @param ballot The open ballot.
    @param round_id The round, as in the ballot's context.
    @param model_hash SHA-256 of the round's model, as in the context.
    @param method Valuation method, as in the context.
    @param params Parameters (JSON), as in the context.
    @param seed Seed, as in the context.
    @param members Members, as in the context (ascending addresses).
    @param medians The proposed medians.
    """
    state: uint256 = self._settleable(ballot)
    challenge_end: uint256 = self._field(state, 96, 48)
    assert challenge_end != 0, "ScoreCommittee: nothing proposed"
    assert block.number > challenge_end, "ScoreCommittee: the challenge window is still open"
    assert self._tagged(ballot, medians) == self._proposal, "ScoreCommittee: medians differ from the proposal"
    self._record(ballot, state, round_id, model_hash, method, params, seed, members, medians, False, False)


@internal
@pure
def _median(values: DynArray[int256, MAX_VALIDATORS], weights: DynArray[uint256, MAX_VALIDATORS]) -> int256:
    n: uint256 = len(values)
    if n == 0:
        return 0
    v: DynArray[int256, MAX_VALIDATORS] = values
    w: DynArray[uint256, MAX_VALIDATORS] = weights
    total: uint256 = 0
    for x: uint256 in weights:
        total += x
    for i: uint256 in range(n, bound=MAX_VALIDATORS):
        for j: uint256 in range(i + 1, n, bound=MAX_VALIDATORS):
            if v[j] < v[i]:
                tv: int256 = v[i]
                v[i] = v[j]
                v[j] = tv
                tw: uint256 = w[i]
                w[i] = w[j]
                w[j] = tw
    cumulative: uint256 = 0
    for i: uint256 in range(n, bound=MAX_VALIDATORS):
        cumulative += w[i]
        if 2 * cumulative >= total:
            return v[i]
    return v[n - 1]


@external
@pure
def weighted_median(values: DynArray[int256, MAX_VALIDATORS], weights: DynArray[uint256, MAX_VALIDATORS]) -> int256:
    """
    @notice The lower weighted median the committee uses (0 for no values).
    @param values The values.
    @param weights Their weights, in the same order.
    @return The first value, in ascending order, at which the cumulative weight reaches half the total.
    """
    assert len(values) == len(weights), "ScoreCommittee: length mismatch"
    return self._median(values, weights)


@external
def finalize_on_chain(
    ballot: uint256,
    round_id: uint256,
    model_hash: bytes32,
    method: String[32],
    params: String[2048],
    seed: uint256,
    members: DynArray[address, MAX_MEMBERS],
    validators: DynArray[address, MAX_VALIDATORS],
    weights: DynArray[uint256, MAX_VALIDATORS],
    reveals: DynArray[DynArray[int256, MAX_MEMBERS], MAX_VALIDATORS],
    salts: DynArray[bytes32, MAX_VALIDATORS],
):
    """
    @notice Recompute the medians on chain from every reveal and record them; anyone may call after the
            reveal phase, before a proposal is final. A differing proposal is overturned.
    @param ballot The open ballot.
    @param round_id The round, as in the ballot's context.
    @param model_hash As in the context.
    @param method As in the context.
    @param params As in the context.
    @param seed As in the context.
    @param members As in the context.
    @param validators Every validator that revealed, in ascending address order.
    @param weights The weight each revealed with.
    @param reveals Each one's revealed scores.
    @param salts Each one's salt.
    """
    state: uint256 = self._settleable(ballot)
    challenge_end: uint256 = self._field(state, 96, 48)
    assert challenge_end == 0 or block.number <= challenge_end, "ScoreCommittee: the proposal is final; call finalize"
    n: uint256 = len(validators)
    assert n == self._field(state, 152, 8), "ScoreCommittee: every reveal is needed"
    assert len(weights) == n and len(reveals) == n and len(salts) == n, "ScoreCommittee: length mismatch"
    previous: uint256 = 0
    for k: uint256 in range(n, bound=MAX_VALIDATORS):
        assert convert(validators[k], uint256) > previous, "ScoreCommittee: validators must be in ascending order"
        previous = convert(validators[k], uint256)
        committed: uint256 = self._commitment(ballot, validators[k], reveals[k], salts[k])
        assert self._revealed(committed, weights[k]) == self.slot_of[validators[k]], "ScoreCommittee: a reveal differs from the one stored"
    medians: DynArray[int256, MAX_MEMBERS] = []
    for j: uint256 in range(len(members), bound=MAX_MEMBERS):
        values: DynArray[int256, MAX_VALIDATORS] = []
        ws: DynArray[uint256, MAX_VALIDATORS] = []
        for k: uint256 in range(n, bound=MAX_VALIDATORS):
            if validators[k] != members[j]:
                values.append(reveals[k][j])
                ws.append(weights[k])
        medians.append(self._median(values, ws))
    overturned: bool = challenge_end != 0 and self._tagged(ballot, medians) != self._proposal
    self._record(ballot, state, round_id, model_hash, method, params, seed, members, medians, True, overturned)


@external
@view
def ballot_state() -> (uint256, uint256, uint256, uint256, uint256, uint256, bool, uint256):
    """
    @notice The open ballot's phases and progress.
    @return ballot, commit_end, reveal_end, challenge_end (0: nothing proposed), members, reveals,
            finalized, revealed weight.
    """
    s: uint256 = self._state
    return (
        self.ballot_count,
        s & B48,
        self._field(s, 48, 48),
        self._field(s, 96, 48),
        self._field(s, 144, 8),
        self._field(s, 152, 8),
        self._field(s, 160, 1) == 1,
        self._field(s, 168, 64),
    )
