"""Only members governance admitted can be paid by roots, on the embedded chain and on anvil.

The attacker holds the oracle key: it publishes a score for an address of its own (a sybil), for the oracle or the
treasury, or for a member governance removed. The contract refuses the chunk and nothing changes; the oracle's
client refuses before sending anything, naming who; and the audit names any payee that an older contract (built
here from the shipped source without the membership check) let through.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from vyper.compiler import compile_code
from vyper.compiler.settings import Settings
from web3 import Web3
from web3.contract import Contract

from fairshare.errors import LedgerError, TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger import Chain, audit, contracts, deploy
from fairshare.ledger import client as client_module
from fairshare.ledger import roots as roots_module
from fairshare.ledger.deploy import Deployment
from fairshare.ledger.entitlements import EntitlementTree
from fairshare.ledger.roots import RootsClient
from tests.ledger.conftest import HASH
from tests.ledger.test_entitlement_roots import WINDOW, Roots, open_roots

NOT_A_MEMBER = "EntitlementRoots: payee is not a member"
MEMBERSHIP_CHECK = f'        assert staticcall governor.is_member(a), "{NOT_A_MEMBER}"\n'


@pytest.fixture
def roots(chain: Chain) -> Roots:
    return open_roots(chain)


def _ordered(*accounts: str) -> list[str]:
    return sorted((Web3.to_checksum_address(a) for a in accounts), key=lambda a: int(a, 16))


def _unchanged(r: Roots, epoch: int = 1) -> None:
    """The epoch has nothing published: no chunk, no event, no raw total, still open."""
    assert r.client.contract.functions.epochs(epoch).call()[3] == 0  # chunks
    assert r.client.contract.functions.epochs(epoch).call()[2] == 0  # raw_total
    assert not [e for e in r.client.events("ScoresPublished") if e.args["epoch"] == epoch]
    assert r.client.open_epoch() == epoch


def test_the_oracle_cannot_pay_an_address_governance_never_admitted(roots: Roots) -> None:
    sybil = Account.create().address
    member = roots.c.members[0].address
    for accounts in ([sybil], _ordered(member, sybil), [roots.oracle.address], [roots.c.treasury.address]):
        with pytest.raises(TransactionError, match=NOT_A_MEMBER):
            roots.send("publish", 1, accounts, [10**9] * len(accounts), sender=roots.oracle)
    _unchanged(roots)

    nonce = roots.c.chain.w3.eth.get_transaction_count(roots.oracle.address)
    with pytest.raises(LedgerError, match=f"the Governor has not admitted {sybil} as a member") as refused:
        roots.client.publish(roots.oracle, 1, [(member, 10**9), (sybil, 10**9)], names={member: "m0"})
    assert not isinstance(refused.value, TransactionError) and member not in str(refused.value)
    assert roots.c.chain.w3.eth.get_transaction_count(roots.oracle.address) == nonce  # nothing was sent
    _unchanged(roots)


def test_a_refused_payee_leaves_what_was_published_for_the_epoch(roots: Roots) -> None:
    first, *rest = _ordered(*(m.address for m in roots.c.members))
    roots.client.publish(roots.oracle, 1, [(first, 2 * 10**9)])
    sybil = Account.create().address
    with pytest.raises(LedgerError, match=sybil):
        roots.client.publish(roots.oracle, 1, [(a, 10**9) for a in [*rest, sybil]])
    assert roots.client.contract.functions.epochs(1).call()[3] == 1  # the first chunk is still there
    roots.client.publish(roots.oracle, 1, [(a, 10**9) for a in rest])  # the honest remainder goes through
    roots.client.close(roots.oracle, 1, HASH, "exact", "{}", 0)
    standing = roots.client.standings()[-1]
    assert standing.entries[first][0] == 2 * 10**9 and sybil not in standing.entries
    assert set(standing.entries) == {first, *rest}


def test_a_removed_member_is_no_longer_published_but_keeps_what_it_earned(roots: Roots) -> None:
    leaving = roots.c.members[1]
    names = {m.address: f"m{k}" for k, m in enumerate(roots.c.members)}
    _, tree = roots.epoch({m.address: 10**9 for m in roots.c.members}, revenue=40_000)
    roots.c.govern(ProposalAction("remove", account=leaving.address))
    assert not roots.c.governance.is_member(leaving.address)

    with pytest.raises(TransactionError, match=NOT_A_MEMBER):
        roots.send("publish", 2, [leaving.address], [10**9], sender=roots.oracle)
    with pytest.raises(LedgerError, match=rf"the Governor has not admitted m1 \({leaving.address}\)"):
        roots.client.publish(roots.oracle, 2, [(m.address, 10**9) for m in roots.c.members], names=names)
    _unchanged(roots, epoch=2)
    paid, _ = roots.client.claim(roots.c.outsider, 1, tree, leaving.address)  # what it earned as a member
    assert paid == tree.leaf_of(leaving.address).entitled > 0
    assert audit(roots.c.chain, roots.c.deployment).ok  # it was a member when it was published


def _old_contract(r: Roots, monkeypatch: pytest.MonkeyPatch) -> tuple[Deployment, RootsClient]:
    """EntitlementRoots as it was before payees had to be members, deployed beside the consortium's own. Our
    clients refuse code that is not the shipped contract's; here they are told to read this one anyway."""
    source = (Path(contracts.__file__).with_name("contracts") / "EntitlementRoots.vy").read_text()
    assert source.count(MEMBERSHIP_CHECK) == 1, "the shipped contract changed: update this test's variant"
    out = compile_code(
        source.replace(MEMBERSHIP_CHECK, ""),
        output_formats=["abi", "bytecode"],
        settings=Settings(evm_version=contracts.EVM_VERSION),
    )
    chain, d = r.c.chain, r.c.deployment
    factory = chain.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    args = (d.governor, d.revenue_shares, d.training_log, "0x" + "00" * 20, WINDOW)
    address = chain.transact(chain.operator, {"data": factory.constructor(*args).data_in_transaction}, "old roots")
    old = replace(d, entitlement_roots=address["contractAddress"])

    def contract_at(chain: Chain, name: str, at: str) -> Contract:
        if at == old.entitlement_roots:
            return chain.w3.eth.contract(address=at, abi=out["abi"])
        return deploy.contract_at(chain, name, at)

    monkeypatch.setattr(roots_module, "contract_at", contract_at)
    monkeypatch.setattr(client_module, "contract_at", contract_at)
    return old, RootsClient(chain, old)


def test_the_audit_names_a_payee_that_was_not_a_member_at_publication(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = open_roots(chain)
    old, client = _old_contract(r, monkeypatch)
    sybil, leaving = Account.create().address, r.c.members[1].address
    r.c.govern(ProposalAction("remove", account=leaving))
    scores = {m.address: 10**9 for m in r.c.members} | {sybil: 5 * 10**9}
    with pytest.raises(LedgerError, match="not admitted"):  # our own oracle would not even try
        client.publish(chain.operator, 1, scores.items())
    ordered = sorted(scores.items(), key=lambda p: int(p[0], 16))
    chain.send(chain.operator, client.contract, "publish", 1, [a for a, _ in ordered], [s for _, s in ordered])
    early = {c.name: c for c in audit(chain, old).checks}["roots payees were members"]  # the epoch is still open
    assert not early.ok and sybil in early.detail
    client.fund(chain.operator, 1000)
    client.close(chain.operator, 1, HASH, "exact", "{}", 0)
    client.propose(chain.operator, 1, EntitlementTree(client.standings()[-1].leaves()))

    checks = {c.name: c for c in audit(chain, old).checks}
    payees = checks["roots payees were members"]
    assert not payees.ok
    assert f"scored {sybil} ({5 * 10**9}), not a member: never admitted" in payees.detail
    assert f"scored {leaving} ({10**9}), not a member: removed in block" in payees.detail
    assert r.c.members[0].address not in payees.detail and checks["entitlement roots recompute"].ok
