# pragma version ~=0.4.3
"""
@title TestStablecoin
@notice A minimal ERC-20 for development chains: the demo pays revenue in it to show token payouts.
@dev Only the deployer mints. Not for production: use a real stablecoin's address on real networks.
"""

from ethereum.ercs import IERC20

implements: IERC20

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
minter: public(address)

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__():
    self.name = "Test USD"
    self.symbol = "tUSD"
    self.decimals = 6
    self.minter = msg.sender


@external
def mint(receiver: address, amount: uint256):
    """
    @notice Create tokens; the deployer only.
    @param receiver Who receives them.
    @param amount Smallest units.
    """
    assert msg.sender == self.minter, "TestStablecoin: caller is not the minter"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "TestStablecoin: balance too low"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Send tokens.
    @param receiver Recipient.
    @param amount Smallest units.
    @return True.
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Send tokens on behalf of `sender` within its allowance.
    @param sender Owner of the tokens.
    @param receiver Recipient.
    @param amount Smallest units.
    @return True.
    """
    assert self.allowance[sender][msg.sender] >= amount, "TestStablecoin: allowance too low"
    self.allowance[sender][msg.sender] -= amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Allow `spender` to move `amount` of the caller's tokens.
    @param spender Spender.
    @param amount Smallest units.
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
