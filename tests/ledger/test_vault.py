"""The CreditVault through its typed client: deposits, windows, settlement by the operator and from a published
receipt, refunds after the governed notice, and every refusal (forged, replayed, out-of-order, over-deposit)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from fairshare.errors import GovernanceError, LedgerError, TransactionError
from fairshare.governance import ProposalAction
from fairshare.ledger.receipts import Receipt, ReceiptSigner, SignedReceipt, merkle_levels, merkle_proof, merkle_root
from fairshare.ledger.vault import VaultClient, key_hash

MODEL = bytes(range(32))
KEY = key_hash("k1")


def receipts_for(key: bytes, amounts: list[int], start: int = 0) -> list[Receipt]:
    out, total = [], start
    for i, amount in enumerate(amounts):
        total += amount
        out.append(Receipt(key, (i + 1 + start).to_bytes(32, "big"), 1, amount, total, MODEL))
    return out


def window_of(signer: ReceiptSigner, batches: list[list[Receipt]]):
    """Sign each batch; the window root over the batch roots; each receipt with its proofs."""
    signed = [signer.sign(b) for b in batches]
    levels = merkle_levels([s.root for s in signed])
    out = []
    for b, (batch, sig) in enumerate(zip(batches, signed, strict=True)):
        for i, r in enumerate(batch):
            out.append((signer.signed(r, sig.proofs[i], sig.signature), merkle_proof(levels, b)))
    return levels[-1][0], out


@pytest.fixture
def vault(consortium) -> VaultClient:
    return VaultClient(consortium.chain, consortium.deployment, consortium.client.index)


def signer_for(consortium, vault) -> ReceiptSigner:
    return ReceiptSigner(consortium.chain.operator, consortium.chain.chain_id, vault.address)


def test_the_leaf_and_batch_digest_are_eip712_as_eth_account_computes_them(consortium, vault) -> None:
    signer = signer_for(consortium, vault)
    r = receipts_for(KEY, [5])[0]
    assert bytes(vault.vault.functions.receipt_leaf(r.as_tuple()).call()) == r.leaf()
    batch = signer.sign([r])
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "ReceiptBatch": [{"name": "root", "type": "bytes32"}],
            },
            "primaryType": "ReceiptBatch",
            "domain": {
                "name": "fairshare CreditVault",
                "version": "1",
                "chainId": consortium.chain.chain_id,
                "verifyingContract": vault.address,
            },
            "message": {"root": batch.root},
        }
    )
    assert Account.recover_message(message, signature=batch.signature) == consortium.chain.operator.address
    assert signer.signed(r, batch.proofs[0], batch.signature).signer() == consortium.chain.operator.address


def test_merkle_proofs_fold_to_the_root_for_every_size() -> None:
    for n in range(1, 12):
        leaves = [bytes([i]) * 32 for i in range(n)]
        levels = merkle_levels(leaves)
        for i in range(n):
            node = leaves[i]
            for sibling in merkle_proof(levels, i):
                from fairshare.ledger.receipts import fold

                node = fold(node, [sibling])
            assert node == merkle_root(leaves)


def test_customer_pays_operator_settles_members_are_paid_and_refund_returns_the_rest(consortium, vault) -> None:
    c = consortium
    customer = c.outsider
    c.record(1, [1, 1, 1])
    vault.deposit(customer, KEY, 1000)
    receipts = receipts_for(KEY, [100, 200, 50])
    root, _ = window_of(signer_for(c, vault), [receipts[:2], receipts[2:]])
    wid = vault.post_window(c.chain.operator, root, 2)
    amount, _ = vault.settle(c.chain.operator, wid, {KEY: (350, receipts[2].request)})
    assert amount == 350 and vault.key(KEY).settled == 350
    assert c.client.withdrawable(c.treasury.address) == 35  # 10% cut, from the vault's money
    assert c.client.totals()["deposited"] == 350
    with pytest.raises(TransactionError, match="already settled up to 350"):
        vault.settle(c.chain.operator, wid, {KEY: (350, receipts[2].request)})
    with pytest.raises(TransactionError, match="CreditVault: running total not above what was settled"):
        c.chain.send(c.chain.operator, vault.vault, "settle", wid, [KEY], [300], [receipts[1].request])
    with pytest.raises(TransactionError, match="CreditVault: running total above the key's deposits"):
        c.chain.send(c.chain.operator, vault.vault, "settle", wid, [KEY], [1001], [bytes(32)])
    with pytest.raises(TransactionError, match="CreditVault: caller is not the operator"):
        c.chain.send(customer, vault.vault, "settle", wid, [KEY], [400], [bytes(32)])
    # refunds: only the holder, only after the governed notice, only what was not settled
    with pytest.raises(TransactionError, match="no refund was requested"):
        vault.refund(customer, KEY)
    with pytest.raises(TransactionError, match="only the key's holder"):
        vault.request_refund(c.members[0], KEY)
    at = vault.request_refund(customer, KEY)
    assert at == c.chain.w3.eth.block_number + vault.refund_notice()
    with pytest.raises(TransactionError, match="the refund notice runs until block"):
        vault.refund(customer, KEY)
    with pytest.raises(TransactionError, match="CreditVault: refund notice has not passed"):
        c.chain.send(customer, vault.vault, "refund", KEY)
    c.chain.mine(vault.refund_notice())
    before = c.client.balance_of(customer.address)
    refunded, tx = vault.refund(customer, KEY)
    gas = c.chain.w3.eth.get_transaction_receipt(tx)
    fee = gas["gasUsed"] * gas["effectiveGasPrice"]
    assert refunded == 650 and c.client.balance_of(customer.address) == before + 650 - fee
    assert vault.totals() == {"deposited": 1000, "settled": 350, "refunded": 650, "balance": 0}
    # after the refund nothing more can be settled: the billed total is capped by deposits less refunds
    with pytest.raises(TransactionError, match="CreditVault: running total above the key's deposits"):
        c.chain.send(c.chain.operator, vault.vault, "settle", wid, [KEY], [351], [bytes(32)])
    with pytest.raises(TransactionError, match="CreditVault: this key was refunded and is closed"):
        vault.deposit(customer, KEY, 10)


def test_anyone_settles_from_a_published_receipt_once(consortium, vault) -> None:
    c = consortium
    c.record(1, [1, 1, 1])
    vault.deposit(c.outsider, KEY, 10**6)
    receipts = receipts_for(KEY, [10, 20, 30, 40, 50])
    root, signed = window_of(signer_for(c, vault), [receipts[:3], receipts[3:]])
    wid = vault.post_window(c.chain.operator, root, 2)
    member = c.members[1]
    receipt, proof = signed[3]  # total 100
    assert vault.settle_receipt(member, wid, receipt, proof)[0] == 100
    with pytest.raises(TransactionError, match="already settled"):
        vault.settle_receipt(member, wid, receipt, proof)
    earlier, earlier_proof = signed[1]  # an older, lower total: out of order
    with pytest.raises(TransactionError, match="CreditVault: running total not above what was settled"):
        c.chain.send(
            member,
            vault.vault,
            "settle_receipt",
            wid,
            earlier.receipt.as_tuple(),
            list(earlier.batch_proof),
            earlier.signature,
            list(earlier_proof),
        )
    last, last_proof = signed[4]
    assert vault.settle_receipt(member, wid, last, last_proof)[0] == 50
    assert vault.key(KEY).settled == 150 and c.client.totals()["deposited"] == 150


def test_forged_and_doctored_receipts_revert(consortium, vault) -> None:
    c = consortium
    vault.deposit(c.outsider, KEY, 10**6)
    receipts = receipts_for(KEY, [10, 20])
    root, signed = window_of(signer_for(c, vault), [receipts])
    wid = vault.post_window(c.chain.operator, root, 1)
    good, proof = signed[1]

    def attempt(s: SignedReceipt, window_proof) -> None:
        c.chain.send(
            c.members[0],
            vault.vault,
            "settle_receipt",
            wid,
            s.receipt.as_tuple(),
            list(s.batch_proof),
            s.signature,
            list(window_proof),
        )

    inflated = SignedReceipt(
        Receipt(KEY, good.receipt.request, 1, 20, 10**5, MODEL), good.batch_proof, good.signature, 0, vault.address
    )
    with pytest.raises(TransactionError, match="CreditVault: receipt not signed by the window's operator"):
        attempt(inflated, proof)
    forger = ReceiptSigner(Account.create(), c.chain.chain_id, vault.address)
    forged_root, forged = window_of(forger, [receipts])
    with pytest.raises(TransactionError, match="CreditVault: receipt not signed by the window's operator"):
        attempt(forged[1][0], proof)
    other_vault = ReceiptSigner(c.chain.operator, c.chain.chain_id, c.outsider.address)  # another domain
    _, replayed = window_of(other_vault, [receipts])
    with pytest.raises(TransactionError, match="CreditVault: receipt not signed by the window's operator"):
        attempt(replayed[1][0], proof)
    unposted = receipts_for(KEY, [99], start=30)
    _, fresh = window_of(signer_for(c, vault), [unposted])
    with pytest.raises(TransactionError, match="CreditVault: receipt batch not in the window"):
        attempt(fresh[0][0], [])
    with pytest.raises(TransactionError, match="CreditVault: caller is not the operator"):
        c.chain.send(c.members[0], vault.vault, "post_window", forged_root, 1)
    assert vault.key(KEY).settled == 0


def test_deposits_are_exact_and_only_the_holder_tops_up(consortium, vault) -> None:
    c = consortium
    with pytest.raises(TransactionError, match="CreditVault: value differs from amount"):
        c.chain.send(c.outsider, vault.vault, "deposit", KEY, 10, value=9)
    with pytest.raises(LedgerError, match="a deposit must be positive"):
        vault.deposit(c.outsider, KEY, 0)
    vault.deposit(c.outsider, KEY, 10)
    vault.deposit(c.outsider, KEY, 5)
    state = vault.key(KEY)
    assert (state.holder, state.deposited, state.held) == (c.outsider.address, 15, 15)
    assert [e.args["deposited"] for e in vault.events("Deposited")] == [10, 15]


def test_a_front_runner_cannot_take_a_customers_credit_as_its_refund(consortium, vault) -> None:
    """The attacker sees a customer's first deposit for a key pending and deposits 1 unit to the key first. If
    others could top the key up, the attacker would be its holder and the customer's credit its refund."""
    c = consortium
    attacker, customer = c.outsider, c.members[0]
    vault.deposit(attacker, KEY, 1)
    with pytest.raises(TransactionError, match="CreditVault: this key belongs to another holder"):
        vault.deposit(customer, KEY, 10**6)
    vault.request_refund(attacker, KEY)
    c.chain.mine(vault.refund_notice())
    amount, _ = vault.refund(attacker, KEY)
    assert amount == 1 and vault.key(KEY).deposited == 1  # the attacker gets back only its own unit


def test_governance_sets_the_refund_notice(consortium, vault) -> None:
    c = consortium
    assert vault.refund_notice() == 100
    c.govern(ProposalAction("refund-notice", number=7))
    assert vault.refund_notice() == 7 and c.governance.policy().refund_notice == 7
    with pytest.raises(GovernanceError, match="Governor: refund notice out of range"):
        c.governance.propose(c.members[0], ProposalAction("refund-notice", number=0), "none")
