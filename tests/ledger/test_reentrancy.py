"""A contract that re-enters withdraw() from its payment callback gets its entitlement once, and no more."""

from __future__ import annotations

from pathlib import Path

from vyper.compiler import compile_code

from fairshare.governance import ProposalAction
from fairshare.ledger import audit

SOURCE = (Path(__file__).parent / "Attacker.vy").read_text()


def test_reentrant_withdrawal_cannot_drain(consortium) -> None:
    c = consortium
    artifact = compile_code(SOURCE, output_formats=["abi", "bytecode"])
    factory = c.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = c.chain.transact(
        c.chain.operator, {"data": factory.constructor(c.client.revenue.address).data_in_transaction}, "deploy attacker"
    )
    attacker = c.chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    c.govern(ProposalAction("admit", account=attacker.address, text="attacker"))  # a member that is a contract
    c.record(1, [1] * 4, members=[attacker.address, *(m.address for m in c.members)])
    c.client.distribute(c.chain.operator, b"\x01" * 32, 4000)
    before = c.chain.w3.eth.get_balance(c.client.revenue.address)
    due = c.client.withdrawable(attacker.address)

    c.chain.send(c.chain.operator, attacker, "attack", what="attack")

    assert due == 900
    assert attacker.functions.reentered().call() is True
    assert attacker.functions.reentry_succeeded().call() is False
    assert attacker.functions.received().call() == due
    assert c.chain.w3.eth.get_balance(c.client.revenue.address) == before - due
    assert c.client.withdrawable(attacker.address) == 0
    assert audit(c.chain, c.deployment).ok
