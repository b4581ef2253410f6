# pragma version ~=0.4.3
"""
@title HostileToken
@notice Test-only ERC-20 that misbehaves on demand: a fee on `transfer` (not on `transferFrom`), and a
        `shrink` that takes tokens out of any holder's balance (a negative rebase).
"""

from ethereum.ercs import IERC20

implements: IERC20

totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
fee_bps: public(uint256)

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@external
def mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount
    self.totalSupply += amount


@external
def set_fee(bps: uint256):
    self.fee_bps = bps


@external
def shrink(holder: address, amount: uint256):
    self.balanceOf[holder] -= amount
    self.totalSupply -= amount


@external
def transfer(receiver: address, amount: uint256) -> bool:
    fee: uint256 = amount * self.fee_bps // 10000
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount - fee
    self.totalSupply -= fee
    log Transfer(sender=msg.sender, receiver=receiver, value=amount - fee)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
