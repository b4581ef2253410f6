# pragma version ~=0.4.3
# pragma nonreentrancy off
# pragma optimize codesize
"""
@title EntitlementRoots
@notice Payouts for consortia too large for one transaction per round: each epoch's scores are
        published in chunks, a Merkle root of every payee's cumulative entitlement is proposed, and it
        is accepted only after a challenge window in which anyone can prove it wrong from the published
        data alone. Payees claim with a proof and receive the difference from what they have claimed.
@dev One epoch is one training round. Per epoch e:
       1. the oracle publishes the round's scores in chunks (`publish`), payees in strictly ascending
          address order across the whole epoch, each a member the Governor has admitted at that block;
          each chunk's data is in calldata and in the ScoresPublished event, and its hash is stored;
       2. the oracle closes the epoch (`close_epoch`): the revenue funded since the last close (after
          the treasury cut) becomes the epoch's revenue R_e, and the epoch's new shares are fixed;
       3. the oracle proposes the root (`propose_root`); during `challenge_blocks` blocks anyone may
          reject it with evidence (`challenge_leaf`, `challenge_order`, `challenge_omission`), or ask for
          any account's leaf (`request_leaf`), which the proposer must reveal in time;
       4. after the window anyone accepts it (`accept_root`); epochs are accepted in order.
     The entitlement rule (everything below is recomputable from events):
         raw_i     = max(score_i, 0) * share_scale // 10**9      (share rule of the TrainingLog)
         new_i     = raw_i                                      if T <= cap, where T = sum(raw)
                   = (P_i + raw_i) * cap // T - P_i * cap // T   otherwise, P_i = sum of raw before i
         S_i(e)    = S_i(e-1) + new_i        (shares, as in the accumulator: they never expire)
         W_e       = W_(e-1) + min(T, cap)   (= sum of S_i(e): the capped split telescopes exactly)
         C_i(e)    = C_i(e-1) + R_e * S_i(e) // W_e              (cumulative entitlement)
     The tree is a Merkle sum tree over the entitlements. A leaf is
     (keccak256(abi_encode(index, account, S_i(e), C_i(e))), C_i(e)); leaves are in strictly ascending
     account order at indices 0..n-1, padded with (0, 0) to a power of two; a node over (hl, sl) and
     (hr, sr) is (keccak256(abi_encode(hl, sl, hr, sr)), sl + sr). The proof of index k has exactly
     ceil(log2 n) siblings, so the index is bound to the position, and the root's sum is the total
     entitlement, which may not exceed the revenue of every epoch so far: a root that pays an account
     it should not must short a real payee by as much, and that payee can prove it.
     Data availability: anyone may `request_leaf` for an account during the window; the proposer must
     `answer` with its leaf (or proof that it has none) within `challenge_blocks`, or the root is
     rejected (`reject_unanswered`); a root is not accepted while a request is open. A declared total
     that is not the tree's sum makes every proof fail, so no request about it can be answered.
     Rounding dust (under n units per epoch) stays in the contract.
@custom:security Optimistic: a wrong root is paid out if nobody challenges it within the window.
     Anyone holding the published events can check every root (`fairshare audit` does); a payee left
     out, short-paid or out of order can prove it with one leaf and the chunk it was published in.
     The oracle chooses the scores (as with TrainingLog) and may delay payouts by proposing wrong
     roots, but it can only score members governance admitted: a stolen oracle key cannot pay an
     address of its own. The Governor never admits the oracle or the treasury (and refuses to make a
     member either), so neither can be a payee. No bond is slashed yet.
"""

from ethereum.ercs import IERC20

MAX_CHUNK: constant(uint256) = 256
MAX_DEPTH: constant(uint256) = 32
SCORE_SCALE: constant(uint256) = 10**9
MAX_SCORE: constant(int256) = 2**100
MAX_BPS: constant(uint256) = 10_000
ROOTS_MODE: constant(uint8) = 1
MAX_WINDOW: constant(uint256) = 1_000_000
MAX_SOURCES: constant(uint256) = 64

# epoch status
OPEN: constant(uint8) = 0
CLOSED: constant(uint8) = 1
PROPOSED: constant(uint8) = 2
ACCEPTED: constant(uint8) = 3

interface RevenueShares:
    def paused() -> bool: view
    def treasury() -> address: view
    def treasury_cut_bps() -> uint256: view
    def pays_in(account: address) -> bool: view

interface TrainingLog:
    def oracle() -> address: view
    def share_scale() -> uint256: view
    def round_cap() -> uint256: view

interface Governor:
    def payout_mode() -> uint8: view
    def is_member(account: address) -> bool: view

struct Leaf:
    index: uint256
    account: address
    shares: uint256
    entitled: uint256
    proof: DynArray[bytes32, MAX_DEPTH]
    sums: DynArray[uint256, MAX_DEPTH]

struct Epoch:
    share_scale: uint256
    round_cap: uint256
    raw_total: uint256
    chunks: uint256
    last_account: address
    revenue: uint256
    revenue_through: uint256  # revenue of epochs 1..this one: the most this epoch's root may pay in all
    total_shares: uint256

struct Root:
    hash: bytes32
    total: uint256
    meta: uint256  # packed: status (8 bits) | leaves (40) | proposed_at (64) | proposal (32) | open requests (64)

event ScoresPublished:
    epoch: indexed(uint256)
    chunk: uint256
    raw_before: uint256
    accounts: DynArray[address, MAX_CHUNK]
    scores: DynArray[int256, MAX_CHUNK]

event EpochClosed:
    epoch: indexed(uint256)
    model_hash: bytes32
    method: String[32]
    params: String[2048]
    seed: uint256
    revenue: uint256
    raw_total: uint256
    share_scale: uint256
    round_cap: uint256
    total_shares: uint256
    chunks: uint256

event Funded:
    settlement_id: indexed(bytes32)
    amount: uint256
    treasury_cut: uint256
    sources: DynArray[bytes32, MAX_SOURCES]
    totals: DynArray[uint256, MAX_SOURCES]

event RootProposed:
    epoch: indexed(uint256)
    root: bytes32
    leaves: uint256
    total: uint256
    challenge_until: uint256

event LeafRequested:
    epoch: indexed(uint256)
    account: indexed(address)
    requester: address
    answer_by: uint256

event LeafAnswered:
    epoch: indexed(uint256)
    account: indexed(address)
    found: bool
    shares: uint256
    entitled: uint256

event RootRejected:
    epoch: indexed(uint256)
    root: bytes32
    challenger: indexed(address)
    reason: String[64]
    account: address

event RootAccepted:
    epoch: indexed(uint256)
    root: bytes32

event Claimed:
    epoch: indexed(uint256)
    account: indexed(address)
    amount: uint256
    cumulative: uint256

event TreasuryPaid:
    treasury: indexed(address)
    amount: uint256

token: public(address)  # empty: the chain's native coin; else the ERC-20 revenue is paid in
governor: public(address)
revenue_shares: public(address)
training_log: public(address)
challenge_blocks: public(uint256)

epochs: public(HashMap[uint256, Epoch])
roots: public(HashMap[uint256, Root])
open_epoch: public(uint256)  # the epoch scores are being published for
accepted_epoch: public(uint256)  # the last epoch whose root is accepted
chunk_hash: public(HashMap[uint256, HashMap[uint256, bytes32]])
chunk_first: public(HashMap[uint256, HashMap[uint256, address]])

_requested_at: HashMap[bytes32, uint256]  # keccak(epoch, proposal, account) -> block of the open request
settled_total: public(HashMap[bytes32, uint256])
pending_revenue: public(uint256)  # funded for payees, not yet assigned to an epoch
treasury_owed: public(uint256)
claimed: public(HashMap[address, uint256])
total_funded: public(uint256)
total_paid: public(uint256)


@deploy
def __init__(governor: address, revenue_shares: address, training_log: address, token: address, challenge_blocks: uint256):
    """
    @param governor The consortium's Governor (its `payout_mode` switches rounds between the accumulator and roots).
    @param revenue_shares The consortium's RevenueShares (treasury, treasury cut and pause are governed there).
    @param training_log The consortium's TrainingLog (oracle and share rule are governed there).
    @param token ERC-20 the revenue is paid in, or the zero address for the native coin.
    @param challenge_blocks How long a proposed root can be challenged (1 to 1,000,000 blocks).
    """
    assert challenge_blocks >= 1 and challenge_blocks <= MAX_WINDOW, "EntitlementRoots: challenge window out of range"
    self.governor = governor
    self.revenue_shares = revenue_shares
    self.training_log = training_log
    self.token = token
    self.challenge_blocks = challenge_blocks
    self.open_epoch = 1


# internal helpers ------------------------------------------------------------------------------------


@internal
@view
def _only_oracle():
    assert msg.sender == staticcall TrainingLog(self.training_log).oracle(), "EntitlementRoots: caller is not the oracle"


@internal
@view
def _not_paused():
    assert not staticcall RevenueShares(self.revenue_shares).paused(), "EntitlementRoots: paused"


@internal
@pure
def _pack(status: uint8, leaves: uint256, proposed_at: uint256, proposal: uint256, requests: uint256) -> uint256:
    return convert(status, uint256) | (leaves << 8) | (proposed_at << 48) | (proposal << 112) | (requests << 144)


@internal
@pure
def _status(meta: uint256) -> uint8:
    return convert(meta & 255, uint8)


@internal
@pure
def _leaves(meta: uint256) -> uint256:
    return (meta >> 8) & (2**40 - 1)


@internal
@pure
def _proposed_at(meta: uint256) -> uint256:
    return (meta >> 48) & (2**64 - 1)


@internal
@pure
def _proposal(meta: uint256) -> uint256:
    return (meta >> 112) & (2**32 - 1)


@internal
@pure
def _requests(meta: uint256) -> uint256:
    return meta >> 144


@internal
@view
def _proposed(epoch: uint256) -> Root:
    """The epoch's proposed root (its window may be over: answers and rejections for silence come after it)."""
    r: Root = self.roots[epoch]
    assert self._status(r.meta) == PROPOSED, "EntitlementRoots: no root under challenge"
    return r


@internal
@view
def _under_challenge(epoch: uint256) -> Root:
    """The epoch's proposed root, still within its challenge window."""
    r: Root = self._proposed(epoch)
    assert block.number <= self._proposed_at(r.meta) + self.challenge_blocks, "EntitlementRoots: challenge window is over"
    return r


@internal
@pure
def _raw(score: int256, scale: uint256) -> uint256:
    if score <= 0:
        return 0
    return convert(score, uint256) * scale // SCORE_SCALE


@internal
@pure
def _depth(leaves: uint256) -> uint256:
    d: uint256 = 0
    for _: uint256 in range(MAX_DEPTH):
        if (1 << d) >= leaves:
            break
        d += 1
    return d


@internal
@pure
def _leaf_hash(leaf: Leaf) -> bytes32:
    return keccak256(abi_encode(leaf.index, leaf.account, leaf.shares, leaf.entitled))


@internal
@pure
def _root_of(leaves: uint256, leaf: Leaf) -> (bytes32, uint256):
    """The (root, total) `leaf` and its proof lead to; (0, 0) if the proof cannot be for index < leaves."""
    depth: uint256 = self._depth(leaves)
    if leaf.index >= leaves or len(leaf.proof) != depth or len(leaf.sums) != depth:
        return empty(bytes32), 0
    node: bytes32 = self._leaf_hash(leaf)
    total: uint256 = leaf.entitled
    position: uint256 = leaf.index
    for i: uint256 in range(depth, bound=MAX_DEPTH):
        if position & 1 == 1:
            node = keccak256(abi_encode(leaf.proof[i], leaf.sums[i], node, total))
        else:
            node = keccak256(abi_encode(node, total, leaf.proof[i], leaf.sums[i]))
        total += leaf.sums[i]
        position >>= 1
    return node, total


@internal
@pure
def _in_tree(r: Root, leaf: Leaf) -> bool:
    """Whether `leaf` and its proof lead to the root `r` (hash and total)."""
    node: bytes32 = empty(bytes32)
    sum: uint256 = 0
    node, sum = self._root_of(self._leaves(r.meta), leaf)
    return node == r.hash and sum == r.total and node != empty(bytes32)


@internal
@view
def _absent(r: Root, account: address, bracket: DynArray[Leaf, 2]) -> bool:
    """Whether `bracket` proves `account` has no leaf in `r`: two adjacent leaves around it, or the end leaf past it."""
    leaves: uint256 = self._leaves(r.meta)
    if leaves == 0:
        return True
    a: uint256 = convert(account, uint256)
    if len(bracket) == 2:
        return (
            bracket[1].index == bracket[0].index + 1
            and self._in_tree(r, bracket[0])
            and self._in_tree(r, bracket[1])
            and convert(bracket[0].account, uint256) < a
            and a < convert(bracket[1].account, uint256)
        )
    if len(bracket) == 1 and self._in_tree(r, bracket[0]):
        b: uint256 = convert(bracket[0].account, uint256)
        if bracket[0].index == 0 and a < b:
            return True
        if bracket[0].index == leaves - 1 and a > b:
            return True
    return False


@internal
@view
def _prior(epoch: uint256, account: address, evidence: DynArray[Leaf, 2]) -> (uint256, uint256):
    """(shares, cumulative entitlement) of `account` after the accepted epoch before `epoch`."""
    if epoch == 1:
        return 0, 0
    before: Root = self.roots[epoch - 1]
    if len(evidence) == 1 and evidence[0].account == account:
        assert self._in_tree(before, evidence[0]), "EntitlementRoots: prior leaf not in the accepted root"
        return evidence[0].shares, evidence[0].entitled
    assert self._absent(before, account, evidence), "EntitlementRoots: no evidence of the prior entitlement"
    return 0, 0


@internal
@view
def _check_chunk(
    epoch: uint256,
    chunk: uint256,
    accounts: DynArray[address, MAX_CHUNK],
    scores: DynArray[int256, MAX_CHUNK],
    raw_before: uint256,
):
    """Evidence names a chunk of `epoch` as published: its data must hash to what `publish` stored."""
    assert chunk < self.epochs[epoch].chunks, "EntitlementRoots: no such chunk"
    assert keccak256(abi_encode(raw_before, accounts, scores)) == self.chunk_hash[epoch][chunk], "EntitlementRoots: chunk differs from the published one"


@internal
@view
def _new_shares(
    epoch: uint256,
    account: address,
    chunk: uint256,
    accounts: DynArray[address, MAX_CHUNK],
    scores: DynArray[int256, MAX_CHUNK],
    raw_before: uint256,
) -> uint256:
    """Shares `account` earned in `epoch`, from the published chunk that holds it (or proves it absent)."""
    e: Epoch = self.epochs[epoch]
    if e.chunks == 0:
        return 0
    self._check_chunk(epoch, chunk, accounts, scores, raw_before)
    prefix: uint256 = raw_before
    for i: uint256 in range(len(accounts), bound=MAX_CHUNK):
        raw: uint256 = self._raw(scores[i], e.share_scale)
        if accounts[i] == account:
            if e.raw_total <= e.round_cap:
                return raw
            return (prefix + raw) * e.round_cap // e.raw_total - prefix * e.round_cap // e.raw_total
        prefix += raw
    a: uint256 = convert(account, uint256)
    # absent from the epoch: the chunk must be where it would have been
    assert chunk == 0 or convert(accounts[0], uint256) < a, "EntitlementRoots: account would precede this chunk"
    assert chunk + 1 == e.chunks or a < convert(self.chunk_first[epoch][chunk + 1], uint256), "EntitlementRoots: account would follow this chunk"
    return 0


@internal
def _reject(epoch: uint256, r: Root, reason: String[64], account: address):
    """Drop the proposed root `r`; its proposal number stays, so requests made against it lapse."""
    self.roots[epoch] = Root(hash=empty(bytes32), total=0, meta=self._pack(CLOSED, 0, 0, self._proposal(r.meta), 0))
    log RootRejected(epoch=epoch, root=r.hash, challenger=msg.sender, reason=reason, account=account)


@internal
def _pay(account: address, amount: uint256):
    self.total_paid += amount
    if self.token == empty(address):
        raw_call(account, b"", value=amount)
    else:
        assert extcall IERC20(self.token).transfer(account, amount, default_return_value=True), "EntitlementRoots: token transfer failed"


@internal
def _fix_rule(epoch: uint256) -> uint256:
    """Fix the epoch's share rule (TrainingLog's governed scale and cap) at its first chunk, or at its close if
    it has none, so a rule change mid-epoch cannot split one round two ways; returns the share scale."""
    if self.epochs[epoch].chunks == 0:
        self.epochs[epoch].share_scale = staticcall TrainingLog(self.training_log).share_scale()
        self.epochs[epoch].round_cap = staticcall TrainingLog(self.training_log).round_cap()
    return self.epochs[epoch].share_scale


@internal
def _request_key(epoch: uint256, proposal: uint256, account: address) -> bytes32:
    return keccak256(abi_encode(epoch, proposal, account))


# money in ---------------------------------------------------------------------------------------------


@external
@payable
@nonreentrant
def fund(settlement_id: bytes32, sources: DynArray[bytes32, MAX_SOURCES], totals: DynArray[uint256, MAX_SOURCES]) -> uint256:
    """
    @notice Pay the growth of each revenue source's running total to the payees of the next epoch to
            close, after the treasury cut; only the operator or the CreditVault (the governed roles
            RevenueShares.pays_in names), so no other contract can fund under a customer's key.
    @dev As RevenueShares.distribute: the amount is sum(totals[i] - settled_total[sources[i]]), each
         total must exceed what was settled for its source, so a replayed settlement reverts. Native
         coin: msg.value must equal the amount. ERC-20: pulled with transferFrom (approve it first),
         and it must arrive in full. The cut is RevenueShares' governed treasury cut.
    @param settlement_id The operator's id for this settlement (in the event, for the audit).
    @param sources Revenue sources (e.g. keccak256 of an API key id), at most 64.
    @param totals Each source's running total billed, in the smallest unit of the payment asset.
    @return The amount funded.
    """
    assert staticcall RevenueShares(self.revenue_shares).pays_in(msg.sender), "EntitlementRoots: caller is not the operator or the vault"
    self._not_paused()
    assert len(sources) == len(totals), "EntitlementRoots: sources and totals differ in length"
    amount: uint256 = 0
    for i: uint256 in range(len(sources), bound=MAX_SOURCES):
        previous: uint256 = self.settled_total[sources[i]]
        assert totals[i] > previous, "EntitlementRoots: running total not above what was settled"
        amount += totals[i] - previous
        self.settled_total[sources[i]] = totals[i]
    assert amount > 0, "EntitlementRoots: nothing to fund"
    if self.token == empty(address):
        assert msg.value == amount, "EntitlementRoots: value differs from amount"
    else:
        assert msg.value == 0, "EntitlementRoots: native coin sent to a token split"
        before: uint256 = staticcall IERC20(self.token).balanceOf(self)
        assert extcall IERC20(self.token).transferFrom(msg.sender, self, amount, default_return_value=True), "EntitlementRoots: token transfer failed"
        assert staticcall IERC20(self.token).balanceOf(self) - before == amount, "EntitlementRoots: token delivered less than the amount"
    cut: uint256 = amount * staticcall RevenueShares(self.revenue_shares).treasury_cut_bps() // MAX_BPS
    self.total_funded += amount
    self.treasury_owed += cut
    self.pending_revenue += amount - cut
    log Funded(settlement_id=settlement_id, amount=amount, treasury_cut=cut, sources=sources, totals=totals)
    return amount


# the oracle's publication -----------------------------------------------------------------------------


@external
def publish(epoch: uint256, accounts: DynArray[address, MAX_CHUNK], scores: DynArray[int256, MAX_CHUNK]):
    """
    @notice Publish the next chunk of the open epoch's scores; only the oracle, in roots mode.
    @dev Every payee must be a member of the Governor now (`is_member`): membership is governed, so a
         compromised oracle key cannot score an address governance never admitted, or one it removed.
         That also keeps out the oracle and the treasury, which the Governor never lets be members.
         Costs one cold `is_member` read per payee (2,630 gas in a chunk of 256, benchmarks/scale.py).
    @param epoch The open epoch (guards against publishing into the wrong one).
    @param accounts Payees, strictly ascending across every chunk of the epoch; each an admitted member.
    @param scores Their scores (values x 1e9; a non-positive score earns nothing).
    """
    self._only_oracle()
    governor: Governor = Governor(self.governor)
    assert staticcall governor.payout_mode() == ROOTS_MODE, "EntitlementRoots: governance has not switched payouts to roots"
    assert epoch == self.open_epoch, "EntitlementRoots: not the open epoch"
    assert len(accounts) == len(scores) and len(accounts) > 0, "EntitlementRoots: empty chunk or length mismatch"
    chunks: uint256 = self.epochs[epoch].chunks
    scale: uint256 = self._fix_rule(epoch)
    previous: uint256 = convert(self.epochs[epoch].last_account, uint256)
    raw_before: uint256 = self.epochs[epoch].raw_total
    raw_total: uint256 = raw_before
    for i: uint256 in range(len(accounts), bound=MAX_CHUNK):
        a: address = accounts[i]
        assert convert(a, uint256) > previous, "EntitlementRoots: accounts must be strictly ascending"
        assert staticcall governor.is_member(a), "EntitlementRoots: payee is not a member"
        assert scores[i] <= MAX_SCORE and scores[i] >= -MAX_SCORE, "EntitlementRoots: score out of range"
        previous = convert(a, uint256)
        raw_total += self._raw(scores[i], scale)
    self.chunk_hash[epoch][chunks] = keccak256(abi_encode(raw_before, accounts, scores))
    self.chunk_first[epoch][chunks] = accounts[0]
    log ScoresPublished(epoch=epoch, chunk=chunks, raw_before=raw_before, accounts=accounts, scores=scores)
    self.epochs[epoch].chunks = chunks + 1
    self.epochs[epoch].raw_total = raw_total
    self.epochs[epoch].last_account = accounts[len(accounts) - 1]


@external
def close_epoch(epoch: uint256, model_hash: bytes32, method: String[32], params: String[2048], seed: uint256):
    """
    @notice Close the open epoch: fix its revenue (everything funded since the last close) and its shares,
            and record the round's model and method; only the oracle.
    @dev With no shares yet, the revenue waits for the next epoch.
    @param epoch The open epoch.
    @param model_hash SHA-256 of the global model after the round.
    @param method Valuation method that produced the scores.
    @param params Method parameters and measurements (JSON) so anyone can recompute the scores.
    @param seed Seed of the valuation's randomness.
    """
    self._only_oracle()
    assert epoch == self.open_epoch, "EntitlementRoots: not the open epoch"
    assert model_hash != empty(bytes32), "EntitlementRoots: empty model hash"
    self._fix_rule(epoch)
    e: Epoch = self.epochs[epoch]
    before: uint256 = 0
    through: uint256 = 0
    if epoch > 1:
        before = self.epochs[epoch - 1].total_shares
        through = self.epochs[epoch - 1].revenue_through
    e.total_shares = before + min(e.raw_total, e.round_cap)
    if e.total_shares > 0:
        e.revenue = self.pending_revenue
        self.pending_revenue = 0
    e.revenue_through = through + e.revenue
    self.epochs[epoch] = e
    self.roots[epoch].meta = self._pack(CLOSED, 0, 0, 0, 0)
    self.open_epoch = epoch + 1
    log EpochClosed(
        epoch=epoch,
        model_hash=model_hash,
        method=method,
        params=params,
        seed=seed,
        revenue=e.revenue,
        raw_total=e.raw_total,
        share_scale=e.share_scale,
        round_cap=e.round_cap,
        total_shares=e.total_shares,
        chunks=e.chunks,
    )


@external
def propose_root(epoch: uint256, root: bytes32, leaves: uint256, total: uint256):
    """
    @notice Propose the root of cumulative entitlements after a closed epoch; only the oracle.
    @dev Epochs are proposed in order: the previous epoch's root must be accepted (it is the
         starting point every leaf of this one is checked against). The total may not exceed the
         revenue assigned to every closed epoch so far (a later epoch's close adds to it).
    @param epoch A closed epoch without a live proposal.
    @param root The Merkle sum tree's root hash (see the contract's notes for the encoding).
    @param leaves Number of leaves (payees with any shares so far).
    @param total The root's sum: every payee's cumulative entitlement together.
    """
    self._only_oracle()
    meta: uint256 = self.roots[epoch].meta
    assert self._status(meta) == CLOSED, "EntitlementRoots: epoch is not closed or already has a root"
    assert epoch == self.accepted_epoch + 1, "EntitlementRoots: the previous epoch's root is not accepted yet"
    assert leaves < 2**MAX_DEPTH, "EntitlementRoots: too many leaves"
    assert total <= self.epochs[epoch].revenue_through, "EntitlementRoots: entitlements exceed the revenue"
    self.roots[epoch] = Root(hash=root, total=total, meta=self._pack(PROPOSED, leaves, block.number, self._proposal(meta) + 1, 0))
    log RootProposed(epoch=epoch, root=root, leaves=leaves, total=total, challenge_until=block.number + self.challenge_blocks)


@external
def accept_root(epoch: uint256):
    """
    @notice Accept a proposed root once its challenge window has passed; anyone may call.
    @param epoch The epoch.
    """
    meta: uint256 = self.roots[epoch].meta
    assert self._status(meta) == PROPOSED, "EntitlementRoots: no root proposed"
    assert block.number > self._proposed_at(meta) + self.challenge_blocks, "EntitlementRoots: still in the challenge window"
    assert self._requests(meta) == 0, "EntitlementRoots: a leaf request is unanswered"
    self.roots[epoch].meta = meta - convert(PROPOSED, uint256) + convert(ACCEPTED, uint256)
    self.accepted_epoch = epoch
    log RootAccepted(epoch=epoch, root=self.roots[epoch].hash)


# challenges: anyone, with evidence from the published data ---------------------------------------------


@external
def challenge_leaf(
    epoch: uint256,
    leaf: Leaf,
    prior: DynArray[Leaf, 2],
    chunk: uint256,
    accounts: DynArray[address, MAX_CHUNK],
    scores: DynArray[int256, MAX_CHUNK],
    raw_before: uint256,
):
    """
    @notice Reject a proposed root with a leaf whose shares or entitlement do not follow from the
            previous accepted root, the epoch's published scores and its revenue.
    @param epoch The epoch under challenge.
    @param leaf The wrong leaf, with its proof in the proposed root.
    @param prior The account's leaf in the previous epoch's root, or the two adjacent leaves (or the end
           leaf) that prove it had none; empty for epoch 1.
    @param chunk Index of the published chunk that holds the account (or where it would be).
    @param accounts That chunk's accounts, as published.
    @param scores That chunk's scores, as published.
    @param raw_before That chunk's `raw_before`, as published.
    """
    r: Root = self._under_challenge(epoch)
    assert self._in_tree(r, leaf), "EntitlementRoots: leaf not in the root"
    e: Epoch = self.epochs[epoch]
    shares: uint256 = 0
    entitled: uint256 = 0
    shares, entitled = self._prior(epoch, leaf.account, prior)
    shares += self._new_shares(epoch, leaf.account, chunk, accounts, scores, raw_before)
    if e.total_shares > 0:
        entitled += e.revenue * shares // e.total_shares
    assert leaf.shares != shares or leaf.entitled != entitled, "EntitlementRoots: the leaf is correct"
    self._reject(epoch, r, "wrong leaf", leaf.account)


@external
def request_leaf(epoch: uint256, account: address):
    """
    @notice Ask the proposer to reveal `account`'s leaf in the proposed root (or prove it has none);
            anyone, during the challenge window.
    @dev An unanswered request after `challenge_blocks` rejects the root (`reject_unanswered`), and a
         root is not accepted while a request is open: nobody has to trust a root they cannot read.
    @param epoch The epoch under challenge.
    @param account The account whose leaf is wanted.
    """
    r: Root = self._under_challenge(epoch)
    key: bytes32 = self._request_key(epoch, self._proposal(r.meta), account)
    assert self._requested_at[key] == 0, "EntitlementRoots: already requested"
    self._requested_at[key] = block.number
    self.roots[epoch].meta = r.meta + (1 << 144)
    log LeafRequested(epoch=epoch, account=account, requester=msg.sender, answer_by=block.number + self.challenge_blocks)


@external
def answer(epoch: uint256, account: address, evidence: DynArray[Leaf, 2]):
    """
    @notice Answer a leaf request with the account's leaf, or the adjacent leaves that prove it has none;
            anyone who holds the tree.
    @dev The evidence is in this transaction's calldata; LeafAnswered summarises it.
    @param epoch The epoch under challenge.
    @param account The requested account.
    @param evidence Its leaf with proof, or two adjacent leaves around it (or the end leaf past it).
    """
    r: Root = self._proposed(epoch)
    key: bytes32 = self._request_key(epoch, self._proposal(r.meta), account)
    assert self._requested_at[key] > 0, "EntitlementRoots: no open request for this account"
    found: bool = len(evidence) == 1 and evidence[0].account == account
    if found:
        assert self._in_tree(r, evidence[0]), "EntitlementRoots: leaf not in the root"
        log LeafAnswered(epoch=epoch, account=account, found=True, shares=evidence[0].shares, entitled=evidence[0].entitled)
    else:
        assert self._absent(r, account, evidence), "EntitlementRoots: no evidence that the account has no leaf"
        log LeafAnswered(epoch=epoch, account=account, found=False, shares=0, entitled=0)
    self._requested_at[key] = 0
    self.roots[epoch].meta = r.meta - (1 << 144)


@external
def reject_unanswered(epoch: uint256, account: address):
    """
    @notice Reject a proposed root whose proposer left a leaf request unanswered for `challenge_blocks`.
    @param epoch The epoch under challenge.
    @param account The account whose request went unanswered.
    """
    r: Root = self._proposed(epoch)
    asked: uint256 = self._requested_at[self._request_key(epoch, self._proposal(r.meta), account)]
    assert asked > 0, "EntitlementRoots: no open request for this account"
    assert block.number > asked + self.challenge_blocks, "EntitlementRoots: the proposer may still answer"
    self._reject(epoch, r, "request unanswered", account)


@external
def challenge_order(epoch: uint256, left: Leaf, right: Leaf):
    """
    @notice Reject a proposed root with two adjacent leaves out of strictly ascending account order
            (a duplicate payee, or an order that would hide one).
    @param epoch The epoch under challenge.
    @param left The leaf at some index k, with its proof.
    @param right The leaf at index k + 1, with its proof.
    """
    r: Root = self._under_challenge(epoch)
    assert self._in_tree(r, left), "EntitlementRoots: leaf not in the root"
    assert self._in_tree(r, right), "EntitlementRoots: leaf not in the root"
    assert right.index == left.index + 1, "EntitlementRoots: leaves are not adjacent"
    assert convert(left.account, uint256) >= convert(right.account, uint256), "EntitlementRoots: the leaves are in order"
    self._reject(epoch, r, "leaves out of order", right.account)


@external
def challenge_omission(
    epoch: uint256,
    account: address,
    bracket: DynArray[Leaf, 2],
    prior: DynArray[Leaf, 1],
    chunk: uint256,
    accounts: DynArray[address, MAX_CHUNK],
    scores: DynArray[int256, MAX_CHUNK],
    raw_before: uint256,
):
    """
    @notice Reject a proposed root that leaves out a payee: `account` had a leaf in the previous
            accepted root or was published in this epoch, yet the proposed root has no leaf for it.
    @param epoch The epoch under challenge.
    @param account The payee left out.
    @param bracket Two adjacent leaves of the proposed root around `account` (or the end leaf past it).
    @param prior The account's leaf in the previous accepted root; empty to use the publication instead.
    @param chunk Index of the published chunk holding `account` (used when `prior` is empty).
    @param accounts That chunk's accounts, as published.
    @param scores That chunk's scores, as published.
    @param raw_before That chunk's `raw_before`, as published.
    """
    r: Root = self._under_challenge(epoch)
    assert self._absent(r, account, bracket), "EntitlementRoots: no evidence that the account is left out"
    if len(prior) == 1:
        assert prior[0].account == account and epoch > 1, "EntitlementRoots: prior leaf is for another account"
        before: Root = self.roots[epoch - 1]
        assert self._in_tree(before, prior[0]), "EntitlementRoots: prior leaf not in the accepted root"
    else:
        self._check_chunk(epoch, chunk, accounts, scores, raw_before)
        assert account in accounts, "EntitlementRoots: account not in the chunk"
    self._reject(epoch, r, "payee left out", account)


# money out --------------------------------------------------------------------------------------------


@external
@nonreentrant
def claim(epoch: uint256, root: bytes32, leaf: Leaf) -> uint256:
    """
    @notice Pay `leaf.account` its cumulative entitlement in an accepted root, less what it has claimed;
            anyone may submit it, the money goes to the account.
    @dev Naming the root makes a claim fail rather than pay against a root the claimant did not check.
         A repeated claim has nothing left to pay and reverts.
    @param epoch An accepted epoch.
    @param root The root the claim was built against.
    @param leaf The account's leaf in that root, with its proof.
    @return The amount paid.
    """
    self._not_paused()
    r: Root = self.roots[epoch]
    assert self._status(r.meta) == ACCEPTED, "EntitlementRoots: root not accepted"
    assert r.hash == root, "EntitlementRoots: not the accepted root of this epoch"
    assert self._in_tree(r, leaf), "EntitlementRoots: leaf not in the root"
    already: uint256 = self.claimed[leaf.account]
    assert leaf.entitled > already, "EntitlementRoots: nothing to claim"
    amount: uint256 = leaf.entitled - already
    self.claimed[leaf.account] = leaf.entitled
    log Claimed(epoch=epoch, account=leaf.account, amount=amount, cumulative=leaf.entitled)
    self._pay(leaf.account, amount)
    return amount


@external
@nonreentrant
def pay_treasury() -> uint256:
    """
    @notice Send the treasury cut collected so far to the treasury governed in RevenueShares; anyone may call.
    @return The amount sent.
    """
    self._not_paused()
    amount: uint256 = self.treasury_owed
    assert amount > 0, "EntitlementRoots: nothing owed to the treasury"
    self.treasury_owed = 0
    treasury: address = staticcall RevenueShares(self.revenue_shares).treasury()
    log TreasuryPaid(treasury=treasury, amount=amount)
    self._pay(treasury, amount)
    return amount
