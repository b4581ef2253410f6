# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title RevenueShares
@notice Non-transferable contribution shares and exact, pull-based revenue splitting, paid in the
        chain's native coin or in one ERC-20 token (e.g. a stablecoin) fixed at deployment.
@dev Revenue is split with an accumulator: `magnified_per_share` grows by
     (amount * 2**128 + carried) // total_shares on every distribution, and each account's
     entitlement is (magnified_per_share * shares + correction) // 2**128. Minting subtracts
     magnified_per_share * amount from the account's correction, so shares minted after a
     distribution earn nothing from it. A distribution costs O(1) gas whatever the number of
     members; the division remainder is carried into the next distribution, never lost.
     Amounts are integers in the smallest unit of the payment asset.
     Revenue arrives per source (an API key, or any other origin the operator names) as a running
     total: `settled_total[source]` only grows, and a distribution pays exactly the growth, so the
     same revenue can never be distributed twice, whatever the operator's records say.
     The treasury cut rounds down: the treasury receives floor(amount * bps / 10000) and the rounding
     dust (under one unit per distribution) goes to the share holders.
@custom:security Withdrawals follow checks-effects-interactions and are nonreentrant. Token transfers
     are measured on both sides: a token that does not move exactly the amount asked is refused.
     The pauser's emergency pause lapses by itself after `pause_blocks` and can be used once until
     governance re-arms it; only governance pauses for longer or resumes early.
"""

from ethereum.ercs import IERC20

MAGNITUDE: constant(uint256) = 2**128
MAX_BPS: constant(uint256) = 10_000
MAX_SOURCES: constant(uint256) = 64
MAX_PAUSE: constant(uint256) = 1_000_000

event Minted:
    account: indexed(address)
    amount: uint256
    round_id: uint256
    total_shares: uint256

event Distributed:
    settlement_id: indexed(bytes32)
    amount: uint256
    treasury_cut: uint256
    to_holders: uint256
    total_shares: uint256
    magnified_per_share: uint256
    sources: DynArray[bytes32, MAX_SOURCES]
    totals: DynArray[uint256, MAX_SOURCES]

event Withdrawn:
    account: indexed(address)
    amount: uint256

event RoleChanged:
    role: String[16]
    account: indexed(address)

event TreasuryCutChanged:
    bps: uint256

event PauseChanged:
    by: indexed(address)
    until_block: uint256
    pause_blocks: uint256
    pauser_armed: bool

token: public(address)  # empty: the chain's native coin; else the ERC-20 revenue is paid in
owner: public(address)
minter: public(address)
operator: public(address)
vault: public(address)  # the CreditVault: pays customers' settled credit in, like the operator
pauser: public(address)
treasury: public(address)
treasury_cut_bps: public(uint256)
paused_until: public(uint256)  # paused while block.number < paused_until
pause_blocks: public(uint256)  # length of the pauser's emergency pause
pauser_armed: public(bool)  # the pauser may pause once; governance re-arms it

shares_of: public(HashMap[address, uint256])
total_shares: public(uint256)
magnified_per_share: public(uint256)
carried: public(uint256)
undistributed: public(uint256)
credits: public(HashMap[address, uint256])
withdrawn: public(HashMap[address, uint256])
total_deposited: public(uint256)
total_withdrawn: public(uint256)
settled_total: public(HashMap[bytes32, uint256])
_corrections: HashMap[address, int256]

# Share history for governance snapshots, so shares minted after a proposal cannot swing its vote.
# A checkpoint is one packed slot: block number in the top 64 bits, shares in the low 192.
_checkpoints: HashMap[address, HashMap[uint256, uint256]]
_checkpoint_count: HashMap[address, uint256]
_total_checkpoints: HashMap[uint256, uint256]
_total_checkpoint_count: uint256


@deploy
def __init__(treasury: address, treasury_cut_bps: uint256, operator: address, token: address, pause_blocks: uint256):
    """
    @param treasury Account credited with the treasury cut of every distribution.
    @param treasury_cut_bps Treasury cut in basis points (0 to 10000).
    @param operator Account allowed to post revenue settlements; also the first pauser.
    @param token ERC-20 the revenue is paid in (e.g. a stablecoin), or the zero address for the native coin.
    @param pause_blocks How long the pauser's emergency pause lasts (1 to 1,000,000 blocks).
    """
    assert treasury_cut_bps <= MAX_BPS, "RevenueShares: cut over 10000 bps"
    assert treasury != empty(address), "RevenueShares: zero treasury"
    assert pause_blocks >= 1 and pause_blocks <= MAX_PAUSE, "RevenueShares: pause length out of range"
    self.token = token
    self.owner = msg.sender
    self.minter = msg.sender
    self.operator = operator
    self.pauser = operator
    self.pause_blocks = pause_blocks
    self.pauser_armed = True
    self.treasury = treasury
    self.treasury_cut_bps = treasury_cut_bps
    log TreasuryCutChanged(bps=treasury_cut_bps)


@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "RevenueShares: caller is not the owner"


@internal
@view
def _not_paused():
    assert block.number >= self.paused_until, "RevenueShares: paused"


@internal
@view
def _entitled(account: address) -> uint256:
    magnified: int256 = convert(self.magnified_per_share * self.shares_of[account], int256) + self._corrections[account]
    return convert(magnified, uint256) // MAGNITUDE + self.credits[account]


@internal
@view
def _balance() -> uint256:
    if self.token == empty(address):
        return self.balance
    return staticcall IERC20(self.token).balanceOf(self)


@internal
@view
def _pack(amount: uint256) -> uint256:
    assert amount < 2**192, "RevenueShares: shares overflow"
    return (block.number << 192) | amount


@internal
def _write_checkpoint(account: address, amount: uint256):
    n: uint256 = self._checkpoint_count[account]
    if n > 0 and self._checkpoints[account][n - 1] >> 192 == block.number:
        self._checkpoints[account][n - 1] = self._pack(amount)
    else:
        self._checkpoints[account][n] = self._pack(amount)
        self._checkpoint_count[account] = n + 1


@internal
def _write_total_checkpoint(amount: uint256):
    n: uint256 = self._total_checkpoint_count
    if n > 0 and self._total_checkpoints[n - 1] >> 192 == block.number:
        self._total_checkpoints[n - 1] = self._pack(amount)
    else:
        self._total_checkpoints[n] = self._pack(amount)
        self._total_checkpoint_count = n + 1


@internal
@view
def _lookup(count: uint256, account: address, total: bool, at_block: uint256) -> uint256:
    # binary search for the last checkpoint at or before `at_block`
    low: uint256 = 0
    high: uint256 = count
    for _: uint256 in range(64):
        if low >= high:
            break
        mid: uint256 = (low + high) // 2
        packed: uint256 = 0
        if total:
            packed = self._total_checkpoints[mid]
        else:
            packed = self._checkpoints[account][mid]
        if packed >> 192 > at_block:
            high = mid
        else:
            low = mid + 1
    if low == 0:
        return 0
    if total:
        return self._total_checkpoints[low - 1] & (2**192 - 1)
    return self._checkpoints[account][low - 1] & (2**192 - 1)


@internal
def _split(
    amount: uint256,
    settlement_id: bytes32,
    sources: DynArray[bytes32, MAX_SOURCES],
    totals: DynArray[uint256, MAX_SOURCES],
):
    self.total_deposited += amount
    cut: uint256 = amount * self.treasury_cut_bps // MAX_BPS
    self.credits[self.treasury] += cut
    to_holders: uint256 = amount - cut + self.undistributed
    if self.total_shares == 0:
        self.undistributed = to_holders
    else:
        self.undistributed = 0
        magnified: uint256 = to_holders * MAGNITUDE + self.carried
        self.magnified_per_share += magnified // self.total_shares
        self.carried = magnified % self.total_shares
    log Distributed(
        settlement_id=settlement_id,
        amount=amount,
        treasury_cut=cut,
        to_holders=to_holders,
        total_shares=self.total_shares,
        magnified_per_share=self.magnified_per_share,
        sources=sources,
        totals=totals,
    )


@internal
@view
def _pays_in(account: address) -> bool:
    return account == self.operator or account == self.vault


@external
@view
def pays_in(account: address) -> bool:
    """
    @notice Whether `account` may pay revenue in, here and into EntitlementRoots: the operator or the vault
            (both governed roles), so no other contract can fund payouts under a customer's key.
    @param account The caller to check.
    @return True for the operator and the vault.
    """
    return self._pays_in(account)


@external
@view
def paused() -> bool:
    """
    @notice Whether minting, distributions and withdrawals are stopped now.
    @return True while an emergency or governance pause is in force.
    """
    return block.number < self.paused_until


@external
@view
def shares_at(account: address, at_block: uint256) -> uint256:
    """
    @notice Shares `account` held at the end of block `at_block` (for governance snapshots).
    @param account The account.
    @param at_block Block number.
    @return Shares.
    """
    return self._lookup(self._checkpoint_count[account], account, False, at_block)


@external
@view
def total_shares_at(at_block: uint256) -> uint256:
    """
    @notice Total shares at the end of block `at_block`.
    @param at_block Block number.
    @return Shares.
    """
    return self._lookup(self._total_checkpoint_count, empty(address), True, at_block)


@external
@view
def entitled(account: address) -> uint256:
    """
    @notice Everything `account` has earned so far, withdrawn or not.
    @param account The account.
    @return Amount in the smallest unit.
    """
    return self._entitled(account)


@external
@view
def withdrawable(account: address) -> uint256:
    """
    @notice What `account` can withdraw now.
    @param account The account.
    @return Amount in the smallest unit.
    """
    return self._entitled(account) - self.withdrawn[account]


@external
def mint(account: address, amount: uint256, round_id: uint256):
    """
    @notice Mint contribution shares for a round; only the minter (the TrainingLog).
    @dev The correction makes new shares blind to earlier distributions.
    @param account Member receiving shares.
    @param amount Shares to mint.
    @param round_id Round the shares were earned in (for the audit trail).
    """
    assert msg.sender == self.minter, "RevenueShares: caller is not the minter"
    self._not_paused()
    assert account != empty(address), "RevenueShares: zero account"
    self.shares_of[account] += amount
    self.total_shares += amount
    self._corrections[account] -= convert(self.magnified_per_share * amount, int256)
    self._write_checkpoint(account, self.shares_of[account])
    self._write_total_checkpoint(self.total_shares)
    log Minted(account=account, amount=amount, round_id=round_id, total_shares=self.total_shares)


@external
@payable
@nonreentrant
def distribute(
    settlement_id: bytes32, sources: DynArray[bytes32, MAX_SOURCES], totals: DynArray[uint256, MAX_SOURCES]
) -> uint256:
    """
    @notice Pay the growth of each source's running total into the split, after the treasury cut;
            only the operator or the vault.
    @dev The amount is sum(totals[i] - settled_total[sources[i]]); each total must exceed what was
         settled for its source before, so a retried or replayed settlement reverts instead of paying
         twice. Native coin: msg.value must equal the amount. ERC-20: the amount is pulled with
         transferFrom (approve it first) and must arrive in full. With no shares yet, the holders'
         part waits in `undistributed` for the next distribution.
    @param settlement_id The operator's id for this settlement (recorded in the event, for the audit).
    @param sources Revenue sources (e.g. keccak256 of an API key id), at most 64.
    @param totals Each source's running total billed, in the smallest unit of the payment asset.
    @return The amount distributed.
    """
    assert self._pays_in(msg.sender), "RevenueShares: caller is not the operator"
    self._not_paused()
    assert len(sources) == len(totals), "RevenueShares: sources and totals differ in length"
    amount: uint256 = 0
    for i: uint256 in range(len(sources), bound=MAX_SOURCES):
        previous: uint256 = self.settled_total[sources[i]]
        assert totals[i] > previous, "RevenueShares: running total not above what was settled"
        amount += totals[i] - previous
        self.settled_total[sources[i]] = totals[i]
    assert amount > 0, "RevenueShares: nothing to distribute"
    if self.token == empty(address):
        assert msg.value == amount, "RevenueShares: value differs from amount"
    else:
        assert msg.value == 0, "RevenueShares: native coin sent to a token split"
        before: uint256 = staticcall IERC20(self.token).balanceOf(self)
        assert extcall IERC20(self.token).transferFrom(msg.sender, self, amount, default_return_value=True), "RevenueShares: token transfer failed"
        received: uint256 = staticcall IERC20(self.token).balanceOf(self) - before
        assert received == amount, "RevenueShares: token delivered less than the amount"
    self._split(amount, settlement_id, sources, totals)
    return amount


@external
@nonreentrant
def distribute_surplus() -> uint256:
    """
    @notice Distribute value sent to this contract outside `distribute` (forced coin, stray token
            transfers) as revenue, like any other; anyone may call.
    @dev The surplus is the balance above what is still owed (deposited - withdrawn). Until someone
         calls this, the audit reports it separately as unsolicited.
    @return The amount distributed.
    """
    self._not_paused()
    owed: uint256 = self.total_deposited - self.total_withdrawn
    held: uint256 = self._balance()
    assert held > owed, "RevenueShares: no unsolicited balance"
    self._split(held - owed, empty(bytes32), [], [])
    return held - owed


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @notice Pay the caller everything it is owed (pull payment).
    @return The amount sent.
    """
    self._not_paused()
    amount: uint256 = self._entitled(msg.sender) - self.withdrawn[msg.sender]
    assert amount > 0, "RevenueShares: nothing to withdraw"
    self.withdrawn[msg.sender] += amount
    self.total_withdrawn += amount
    log Withdrawn(account=msg.sender, amount=amount)
    if self.token == empty(address):
        raw_call(msg.sender, b"", value=amount)
    else:
        held: uint256 = staticcall IERC20(self.token).balanceOf(self)
        had: uint256 = staticcall IERC20(self.token).balanceOf(msg.sender)
        assert extcall IERC20(self.token).transfer(msg.sender, amount, default_return_value=True), "RevenueShares: token transfer failed"
        sent: uint256 = held - staticcall IERC20(self.token).balanceOf(self)
        got: uint256 = staticcall IERC20(self.token).balanceOf(msg.sender) - had
        assert sent == amount and got == amount, "RevenueShares: token did not deliver the exact amount"
    return amount


@external
def set_treasury_cut(bps: uint256):
    """
    @notice Change the treasury cut for future distributions; only the owner (governance).
    @param bps New cut in basis points.
    """
    self._only_owner()
    assert bps <= MAX_BPS, "RevenueShares: cut over 10000 bps"
    self.treasury_cut_bps = bps
    log TreasuryCutChanged(bps=bps)


@external
def set_role(role: String[16], account: address):
    """
    @notice Change who holds a role: "owner", "minter", "operator", "vault" or "treasury"; only the owner.
    @dev The pauser is changed with `set_pauser`, which also sets its pause length.
    @param role Role name.
    @param account New holder.
    """
    self._only_owner()
    assert account != empty(address), "RevenueShares: zero account"
    if role == "owner":
        self.owner = account
    elif role == "minter":
        self.minter = account
    elif role == "operator":
        self.operator = account
    elif role == "vault":
        self.vault = account
    elif role == "treasury":
        self.treasury = account
    else:
        raise "RevenueShares: unknown role"
    log RoleChanged(role=role, account=account)


@external
def set_pauser(account: address, pause_blocks: uint256):
    """
    @notice Name the pauser and how long its emergency pause lasts, and re-arm it; only the owner.
    @param account New pauser (may pause at once, without a vote, once).
    @param pause_blocks Length of its pause, 1 to 1,000,000 blocks.
    """
    self._only_owner()
    assert account != empty(address), "RevenueShares: zero account"
    assert pause_blocks >= 1 and pause_blocks <= MAX_PAUSE, "RevenueShares: pause length out of range"
    self.pauser = account
    self.pause_blocks = pause_blocks
    self.pauser_armed = True
    log RoleChanged(role="pauser", account=account)
    log PauseChanged(by=msg.sender, until_block=self.paused_until, pause_blocks=pause_blocks, pauser_armed=True)


@external
def pause():
    """
    @notice Stop minting, distributions and withdrawals at once, in an emergency; only the pauser.
    @dev The pause lapses by itself after `pause_blocks`; the pauser cannot pause again until
         governance re-arms it (`set_pause` or `set_pauser`), so it can never freeze the money for good.
    """
    assert msg.sender == self.pauser, "RevenueShares: caller is not the pauser"
    assert self.pauser_armed, "RevenueShares: the pauser has used its pause; governance must re-arm it"
    self.pauser_armed = False
    self.paused_until = block.number + self.pause_blocks
    log PauseChanged(by=msg.sender, until_block=self.paused_until, pause_blocks=self.pause_blocks, pauser_armed=False)


@external
def set_pause(blocks: uint256):
    """
    @notice Governance pauses for `blocks` blocks from now, extends a pause, or (0) resumes now;
            re-arms the pauser; only the owner.
    @param blocks Blocks to stay paused (0 to 1,000,000).
    """
    self._only_owner()
    assert blocks <= MAX_PAUSE, "RevenueShares: pause length out of range"
    self.paused_until = 0
    if blocks > 0:
        self.paused_until = block.number + blocks
    self.pauser_armed = True
    log PauseChanged(by=msg.sender, until_block=self.paused_until, pause_blocks=self.pause_blocks, pauser_armed=True)
