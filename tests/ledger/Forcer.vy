# pragma version ~=0.4.3
"""
@title Forcer
@notice Test-only: sends its coin to any address with SELFDESTRUCT, which no contract can refuse.
"""


@external
@payable
def force(target: address):
    selfdestruct(target)
