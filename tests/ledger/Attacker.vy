# pragma version ~=0.4.3
"""
@title Attacker
@notice Test-only: withdraws its shares' revenue and tries to withdraw again from inside the payment.
"""

interface RevenueShares:
    def withdraw() -> uint256: nonpayable

target: public(address)
reentered: public(bool)
reentry_succeeded: public(bool)
received: public(uint256)


@deploy
def __init__(target: address):
    self.target = target


@external
def attack():
    extcall RevenueShares(self.target).withdraw()


@external
@payable
def __default__():
    self.received += msg.value
    if not self.reentered:
        self.reentered = True
        success: bool = False
        response: Bytes[32] = b""
        success, response = raw_call(self.target, method_id("withdraw()"), max_outsize=32, revert_on_failure=False)
        self.reentry_succeeded = success
