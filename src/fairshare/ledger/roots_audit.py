"""The audit of payouts by Merkle roots: every root recomputed from the published scores and revenue, every claim
checked against it, and the money in EntitlementRoots accounted for.

It reads every log from the chain itself (an in-memory event index filled now), rebuilds each epoch's standing
with the entitlement rule (``fairshare.ledger.entitlements``) and compares:

- roots: each accepted root equals the recomputed one (hash, leaf count and total); a pending proposal that
  differs is reported with the block by which someone must challenge it; rejected ones are counted;
- claims: each claim's cumulative amount is the account's recomputed entitlement in the epoch it names, it paid
  exactly the growth over the account's previous claim, and the contract's ``claimed`` agrees;
- money: funded = payees' revenue + treasury cuts; the contract holds funded - paid; paid = claims + treasury
  payments; the revenue assigned to epochs plus what is pending is everything funded for payees. It says how
  much of the funding was customers' deposits settled by the CreditVault (the vault's audit checks that
  each such funding is exactly the growth the vault settled for its keys);
- payees: every published account was a member the Governor had admitted (and not removed) when its chunk was
  published, replaying the Governor's MemberChanged events in chain order. The contract refuses anyone else, so
  this fails only if that rule was bypassed (a contract built without it); it is the audit's own reading of the
  rule from the events, and names each such payee so members can see who took their money.
"""

from __future__ import annotations

from collections import defaultdict

from fairshare.ledger.audit import Check
from fairshare.ledger.client import LedgerClient
from fairshare.ledger.entitlements import EntitlementTree, Standing
from fairshare.ledger.roots import RootsClient

__all__ = ["roots_checks"]


def _roots_check(client: RootsClient, trees: dict[int, EntitlementTree]) -> Check:
    problems: list[str] = []
    accepted = rejected = pending = 0
    window = int(client.contract.functions.challenge_blocks().call())
    for p in client.proposals():
        tree = trees.get(p.epoch)
        right = tree is not None and p.root == tree.root and p.leaves == len(tree.leaves)
        if p.outcome == "accepted":
            accepted += 1
            if not right:
                problems.append(f"epoch {p.epoch}: the ACCEPTED root {p.root.hex()[:16]}… is not the recomputed one")
        elif p.outcome == "pending":
            pending += 1
            if not right:
                problems.append(
                    f"epoch {p.epoch}: proposed root {p.root.hex()[:16]}… is wrong; challenge it before block "
                    f"{p.block + window}"
                )
        else:
            rejected += 1
    detail = (
        f"{len(trees)} epochs recomputed from published scores and revenue; {accepted} accepted roots equal them"
        + (f"; {pending} pending" if pending else "")
        + (f"; {rejected} wrong roots were rejected with evidence" if rejected else "")
    )
    return Check("entitlement roots recompute", not problems, "; ".join(problems[:8]) if problems else detail)


def _claims_check(client: RootsClient, standings: dict[int, Standing]) -> Check:
    problems: list[str] = []
    last: dict[str, int] = defaultdict(int)
    claims = client.claims()
    for c in claims:
        standing = standings.get(c.epoch)
        entitled = standing.entries.get(c.account, (0, 0))[1] if standing else None
        if entitled != c.cumulative:
            problems.append(f"claim by {c.account} in epoch {c.epoch}: {c.cumulative} claimed, {entitled} entitled")
        if c.amount != c.cumulative - last[c.account]:
            problems.append(f"claim by {c.account} in epoch {c.epoch} paid {c.amount}, not the growth of its claims")
        last[c.account] = c.cumulative
    stale = [a for a, total in last.items() if client.claimed(a) != total]
    if stale:
        problems.append(f"contract's claimed totals differ for {', '.join(stale)}")
    detail = f"{len(claims)} claims by {len(last)} payees; each paid its recomputed entitlement less earlier claims"
    return Check("claims match the roots", not problems, "; ".join(problems[:8]) if problems else detail)


def _money_check(client: RootsClient, vault_txs: set[str]) -> Check:
    funded = client.events("Funded")
    from_vault = sum(e.args["amount"] for e in funded if e.tx_hash in vault_txs)
    paid_treasury = sum(e.args["amount"] for e in client.events("TreasuryPaid"))
    amount = sum(e.args["amount"] for e in funded)
    cuts = sum(e.args["treasury_cut"] for e in funded)
    claims = sum(c.amount for c in client.claims())
    assigned = sum(p.revenue for p in client.publications())
    totals = client.totals()
    held = _balance(client)
    problems = []
    if totals["total_funded"] != amount:
        problems.append(f"contract says {totals['total_funded']} funded, events {amount}")
    if totals["total_paid"] != claims + paid_treasury:
        problems.append(f"contract says {totals['total_paid']} paid, events {claims + paid_treasury}")
    if totals["treasury_owed"] + paid_treasury != cuts:
        problems.append(f"treasury owed {totals['treasury_owed']} + paid {paid_treasury} is not the cuts {cuts}")
    if assigned + totals["pending_revenue"] != amount - cuts:
        problems.append(f"epochs' revenue {assigned} + pending {totals['pending_revenue']} != {amount - cuts} funded")
    if held < amount - claims - paid_treasury:
        problems.append(f"holds {held}, owes {amount - claims - paid_treasury}")
    detail = (
        f"funded {amount} ({from_vault} of it customers' deposits settled by the CreditVault) = payees "
        f"{amount - cuts} + treasury {cuts}; paid {claims} in claims and {paid_treasury} to the treasury; holds {held}"
    )
    return Check("roots money conserved", not problems, "; ".join(problems) if problems else detail)


def _payees_check(client: RootsClient) -> Check:
    """Each published payee against the membership at its publication (admissions and removals before it)."""
    changes = [(e.block, e.log_index, e) for e in client.member_changes()]
    published = [(e.block, e.log_index, e) for e in client.events("ScoresPublished")]
    member: dict[str, bool] = {}
    removed_at: dict[str, int] = {}
    problems: list[str] = []
    scored = 0
    for block, _, e in sorted(changes + published, key=lambda t: t[:2]):
        if e.name == "MemberChanged":
            member[e.args["account"]] = bool(e.args["admitted"])
            if not e.args["admitted"]:
                removed_at[e.args["account"]] = block
            continue
        for account, score in zip(e.args["accounts"], e.args["scores"], strict=True):
            scored += 1
            if not member.get(account, False):
                why = f"removed in block {removed_at[account]}" if account in removed_at else "never admitted"
                problems.append(
                    f"epoch {e.args['epoch']} (block {block}) scored {account} ({score}), not a member: {why}"
                )
    detail = f"{scored} published scores, each to a member admitted at publication"
    return Check("roots payees were members", not problems, "; ".join(problems[:8]) if problems else detail)


def _balance(client: RootsClient) -> int:
    w3 = client.chain.w3
    if not client.deployment.token:
        return int(w3.eth.get_balance(client.contract.address))
    abi = [
        {
            "type": "function",
            "name": "balanceOf",
            "stateMutability": "view",
            "inputs": [{"name": "a", "type": "address"}],
            "outputs": [{"name": "", "type": "uint256"}],
        }
    ]
    token = w3.eth.contract(address=w3.to_checksum_address(client.deployment.token), abi=abi)
    return int(token.functions.balanceOf(client.contract.address).call())


def roots_checks(ledger: LedgerClient) -> list[Check]:
    """The roots audit; nothing to check (and no lines) for a deployment without EntitlementRoots or any epoch.
    ``ledger`` must read through an in-memory index filled from the chain now (the audit trusts no cache)."""
    if not ledger.deployment.entitlement_roots:
        return []
    client = RootsClient(ledger.chain, ledger.deployment, ledger.index)
    vault = ledger.deployment.vault
    vault_txs = {e.tx_hash for e in ledger.index.events(vault, "Settled")} if vault else set()
    standings = {s.epoch: s for s in client.standings()}
    if not standings and not client.events("Funded") and not client.events("ScoresPublished"):
        return []  # a payee published into the open epoch is checked before the epoch closes
    trees = {epoch: EntitlementTree(s.leaves()) for epoch, s in standings.items()}
    over = [e for e, t in trees.items() if t.total > sum(p.revenue for p in client.publications() if p.epoch <= e)]
    checks = [
        _roots_check(client, trees),
        _claims_check(client, standings),
        _money_check(client, vault_txs),
        _payees_check(client),
    ]
    if over:
        checks.append(Check("roots within revenue", False, f"epochs {over} entitle more than their revenue"))
    return checks
