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
@custom:security Withdrawals follow checks-effects-interactions and are nonreentrant.
"""

from ethereum.ercs import IERC20

MAGNITUDE: constant(uint256) = 2**128
MAX_BPS: constant(uint256) = 10_000

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

event Withdrawn:
    account: indexed(address)
    amount: uint256

event RoleChanged:
    role: String[16]
    account: indexed(address)

event TreasuryCutChanged:
    bps: uint256

event PauseChanged:
    paused: bool

token: public(address)  # empty: the chain's native coin; else the ERC-20 revenue is paid in
owner: public(address)
minter: public(address)
operator: public(address)
pauser: public(address)  # may pause in an emergency without waiting for a vote; only the owner unpauses
treasury: public(address)
treasury_cut_bps: public(uint256)
paused: public(bool)

shares_of: public(HashMap[address, uint256])
total_shares: public(uint256)
magnified_per_share: public(uint256)
carried: public(uint256)
undistributed: public(uint256)
credits: public(HashMap[address, uint256])
withdrawn: public(HashMap[address, uint256])
total_deposited: public(uint256)
total_withdrawn: public(uint256)
settled: public(HashMap[bytes32, bool])
_corrections: HashMap[address, int256]

# Share history for governance snapshots, so shares minted after a proposal cannot swing its vote.
# A checkpoint is one packed slot: block number in the top 64 bits, shares in the low 192.
_checkpoints: HashMap[address, HashMap[uint256, uint256]]
_checkpoint_count: HashMap[address, uint256]
_total_checkpoints: HashMap[uint256, uint256]
_total_checkpoint_count: uint256


@deploy
def __init__(treasury: address, treasury_cut_bps: uint256, operator: address, token: address):
    """
    @param treasury Account credited with the treasury cut of every distribution.
    @param treasury_cut_bps Treasury cut in basis points (0 to 10000).
    @param operator Account allowed to post revenue settlements.
    @param token ERC-20 the revenue is paid in (e.g. a stablecoin), or the zero address for the native coin.
    """
    self.token = token
    assert treasury_cut_bps <= MAX_BPS, "RevenueShares: cut over 10000 bps"
    assert treasury != empty(address), "RevenueShares: zero treasury"
    self.owner = msg.sender
    self.minter = msg.sender
    self.operator = operator
    self.pauser = operator
    self.treasury = treasury
    self.treasury_cut_bps = treasury_cut_bps


@internal
@view
def _only_owner():
    assert msg.sender == self.owner, "RevenueShares: caller is not the owner"


@internal
@view
def _not_paused():
    assert not self.paused, "RevenueShares: paused"


@internal
@view
def _entitled(account: address) -> uint256:
    magnified: int256 = convert(self.magnified_per_share * self.shares_of[account], int256) + self._corrections[account]
    return convert(magnified, uint256) // MAGNITUDE + self.credits[account]


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
def distribute(settlement_id: bytes32, amount: uint256):
    """
    @notice Split `amount` among share holders after the treasury cut; only the operator.
    @dev Native coin: msg.value must equal `amount`. ERC-20: `amount` is pulled with transferFrom
         (approve it first) and must arrive in full (fee-on-transfer tokens are refused).
         Idempotent by `settlement_id`: a retried settlement reverts instead of paying twice.
         With no shares yet, the holders' part waits in `undistributed` for the next distribution.
    @param settlement_id Unique id of the off-chain usage this revenue covers.
    @param amount Revenue in the smallest unit of the payment asset.
    """
    assert msg.sender == self.operator, "RevenueShares: caller is not the operator"
    self._not_paused()
    assert not self.settled[settlement_id], "RevenueShares: settlement already distributed"
    assert amount > 0, "RevenueShares: nothing to distribute"
    self.settled[settlement_id] = True
    if self.token == empty(address):
        assert msg.value == amount, "RevenueShares: value differs from amount"
    else:
        assert msg.value == 0, "RevenueShares: native coin sent to a token split"
        before: uint256 = staticcall IERC20(self.token).balanceOf(self)
        assert extcall IERC20(self.token).transferFrom(msg.sender, self, amount, default_return_value=True), "RevenueShares: token transfer failed"
        received: uint256 = staticcall IERC20(self.token).balanceOf(self) - before
        assert received == amount, "RevenueShares: token delivered less than the amount"
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
    )


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
        assert extcall IERC20(self.token).transfer(msg.sender, amount, default_return_value=True), "RevenueShares: token transfer failed"
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
    @notice Change who holds a role: "owner", "minter", "operator", "pauser" or "treasury"; only the owner.
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
    elif role == "pauser":
        self.pauser = account
    elif role == "treasury":
        self.treasury = account
    else:
        raise "RevenueShares: unknown role"
    log RoleChanged(role=role, account=account)


@external
def set_paused(paused: bool):
    """
    @notice Stop minting, distributions and withdrawals in an emergency (owner or pauser), or resume (owner).
    @dev Once governance owns this contract, the pauser can stop the money at once; resuming takes a vote.
    @param paused True to pause.
    """
    if paused:
        assert msg.sender == self.owner or msg.sender == self.pauser, "RevenueShares: caller cannot pause"
    else:
        self._only_owner()
    self.paused = paused
    log PauseChanged(paused=paused)
