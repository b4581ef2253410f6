# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title CreditVault
@notice Customers' prepaid API credit, held on chain until it is either settled into the members'
        payouts or refunded to the customer. Nothing leaves the vault any other way.
@dev A key is keccak256 of an API key id ("fairshare:api-key:<id>"). Its first depositor is its holder,
     the only account a refund can go to and the only one that may top the key up. Per key, always:
     deposited == settled + refunded + held, and settled never exceeds deposited - refunded. A refund
     closes its key: later calls need a new key (so running totals never straddle a refund).
     Settlement moves the growth of a key's running total billed (as signed in the operator's receipts)
     to where the Governor's payout mode pays members now: RevenueShares.distribute (mode 0, the
     accumulator) or EntitlementRoots.fund (mode 1, Merkle roots). The vault's `settled[key]` is the
     only record of what a key paid; each sink's running total for the key grows by exactly what the
     vault pays it, so a receipt never settles twice, across a mode switch too.
     Receipts are EIP-712 signed in batches: a receipt is a leaf of a Merkle tree whose root the
     operator's key signs (one signature per group commit of the API). Each settlement window's batch
     roots are themselves a Merkle tree whose root the operator posts here (`post_window`), so the
     evidence is public without revealing per-customer traffic. The operator settles citing a posted
     window; if it stops, anyone settles a key from one published receipt, its
     batch signature and its proofs (`settle_receipt`).
     The operator and receipt signer is RevenueShares' operator (a governed role); the refund notice is
     the Governor's `refund_notice` (proposal kind VAULT). Merkle pairs are hashed in sorted order; leaves
     are 224-byte struct encodings and cannot be confused with 64-byte inner nodes.
@custom:security Settlement reverts unless a key's running total grows, so a receipt never settles twice
     and an out-of-order total reverts; it reverts above what the key deposited (less refunds). A refund
     waits the governed notice so the operator can settle what was billed before it; calls billed but not
     settled within the notice are the operator's loss, never the customer's. Token transfers are
     measured: a fee-on-transfer token is refused.
"""

from ethereum.ercs import IERC20

MAX_KEYS: constant(uint256) = 64
MAX_DEPTH: constant(uint256) = 32
ROOTS_MODE: constant(uint8) = 1  # Governor.payout_mode: 0 the accumulator (RevenueShares), 1 Merkle roots
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

RECEIPT_TYPEHASH: constant(bytes32) = keccak256(
    "Receipt(bytes32 key,bytes32 request,uint256 rows,uint256 amount,uint256 total,bytes32 model)"
)
BATCH_TYPEHASH: constant(bytes32) = keccak256("ReceiptBatch(bytes32 root)")
DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)

interface RevenueShares:
    def distribute(
        settlement_id: bytes32, sources: DynArray[bytes32, MAX_KEYS], totals: DynArray[uint256, MAX_KEYS]
    ) -> uint256: payable
    def settled_total(source: bytes32) -> uint256: view
    def operator() -> address: view
    def token() -> address: view

interface EntitlementRoots:
    def fund(
        settlement_id: bytes32, sources: DynArray[bytes32, MAX_KEYS], totals: DynArray[uint256, MAX_KEYS]
    ) -> uint256: payable
    def settled_total(source: bytes32) -> uint256: view
    def revenue_shares() -> address: view
    def governor() -> address: view
    def token() -> address: view

interface Governor:
    def refund_notice() -> uint256: view
    def payout_mode() -> uint8: view

struct Receipt:
    key: bytes32
    request: bytes32
    rows: uint256
    amount: uint256
    total: uint256
    model: bytes32

struct Window:
    root: bytes32
    signer: address
    batches: uint256

event Deposited:
    key: indexed(bytes32)
    payer: indexed(address)
    amount: uint256
    deposited: uint256

event RefundRequested:
    key: indexed(bytes32)
    holder: indexed(address)
    available_at: uint256

event Refunded:
    key: indexed(bytes32)
    holder: indexed(address)
    amount: uint256

event WindowPosted:
    window_id: indexed(uint256)
    root: bytes32
    signer: address
    batches: uint256

event Settled:
    key: indexed(bytes32)
    window_id: indexed(uint256)
    by: indexed(address)
    request: bytes32
    total: uint256
    amount: uint256

revenue_shares: public(address)
governor: public(address)
entitlement_roots: public(address)  # where settlements go while the Governor's payout mode is roots (1)
token: public(address)  # empty: the chain's native coin; else RevenueShares' ERC-20

holder: public(HashMap[bytes32, address])
deposited: public(HashMap[bytes32, uint256])
settled: public(HashMap[bytes32, uint256])  # the running total billed that has been settled
refunded: public(HashMap[bytes32, uint256])
refund_at: public(HashMap[bytes32, uint256])  # block from which a requested refund may be taken; 0: none
windows: public(HashMap[uint256, Window])
window_count: public(uint256)
total_deposited: public(uint256)
total_settled: public(uint256)
total_refunded: public(uint256)
domain_separator: public(bytes32)


@deploy
def __init__(revenue_shares: address, governor: address, entitlement_roots: address):
    """
    @param revenue_shares The consortium's RevenueShares (which must name this vault as its vault).
    @param governor The consortium's Governor (holds the refund notice and the payout mode).
    @param entitlement_roots The consortium's EntitlementRoots (paid instead of RevenueShares in roots mode);
           it must read the same RevenueShares and Governor and be paid in the same asset.
    """
    self.revenue_shares = revenue_shares
    self.governor = governor
    self.entitlement_roots = entitlement_roots
    self.token = staticcall RevenueShares(revenue_shares).token()
    roots: EntitlementRoots = EntitlementRoots(entitlement_roots)
    assert staticcall roots.revenue_shares() == revenue_shares and staticcall roots.governor() == governor, "CreditVault: EntitlementRoots of another consortium"
    assert staticcall roots.token() == self.token, "CreditVault: EntitlementRoots paid in another asset"
    self.domain_separator = keccak256(
        abi_encode(DOMAIN_TYPEHASH, keccak256("fairshare CreditVault"), keccak256("1"), chain.id, self)
    )


@internal
@view
def _operator() -> address:
    return staticcall RevenueShares(self.revenue_shares).operator()


@internal
@view
def _held(key: bytes32) -> uint256:
    return self.deposited[key] - self.settled[key] - self.refunded[key]


@internal
@pure
def _fold(leaf: bytes32, proof: DynArray[bytes32, MAX_DEPTH]) -> bytes32:
    node: bytes32 = leaf
    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(concat(node, sibling))
        else:
            node = keccak256(concat(sibling, node))
    return node


@internal
@view
def _recover(root: bytes32, signature: Bytes[65]) -> address:
    digest: bytes32 = keccak256(
        concat(b"\x19\x01", self.domain_separator, keccak256(abi_encode(BATCH_TYPEHASH, root)))
    )
    assert len(signature) == 65, "CreditVault: signature must be 65 bytes"
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint8 = convert(slice(signature, 64, 1), uint8)
    assert s <= HALF_N, "CreditVault: malleable signature"
    return ecrecover(digest, v, r, s)


@internal
def _settle(key: bytes32, total: uint256, window_id: uint256, request: bytes32) -> uint256:
    previous: uint256 = self.settled[key]
    assert total > previous, "CreditVault: running total not above what was settled"
    assert total <= self.deposited[key] - self.refunded[key], "CreditVault: running total above the key's deposits"
    amount: uint256 = total - previous
    self.settled[key] = total
    self.total_settled += amount
    log Settled(key=key, window_id=window_id, by=msg.sender, request=request, total=total, amount=amount)
    return amount


@internal
def _pay_in(sid: bytes32, keys: DynArray[bytes32, MAX_KEYS], amounts: DynArray[uint256, MAX_KEYS], amount: uint256):
    # The sink's running totals for these sources grow by exactly what this vault settles now; the sink
    # is read at each settlement, so a governed switch of the payout mode takes effect at once.
    roots: bool = staticcall Governor(self.governor).payout_mode() == ROOTS_MODE
    sink: address = self.entitlement_roots if roots else self.revenue_shares
    totals: DynArray[uint256, MAX_KEYS] = []
    for i: uint256 in range(len(keys), bound=MAX_KEYS):  # both sinks have the same settled_total(source)
        totals.append(staticcall EntitlementRoots(sink).settled_total(keys[i]) + amounts[i])
    value: uint256 = amount
    if self.token != empty(address):
        value = 0
        assert extcall IERC20(self.token).approve(sink, amount, default_return_value=True), "CreditVault: approve failed"
    if roots:
        extcall EntitlementRoots(sink).fund(sid, keys, totals, value=value)
    else:
        extcall RevenueShares(sink).distribute(sid, keys, totals, value=value)


@internal
def _take(amount: uint256, sent: uint256):
    if self.token == empty(address):
        assert sent == amount, "CreditVault: value differs from amount"
    else:
        assert sent == 0, "CreditVault: native coin sent to a token vault"
        before: uint256 = staticcall IERC20(self.token).balanceOf(self)
        assert extcall IERC20(self.token).transferFrom(msg.sender, self, amount, default_return_value=True), "CreditVault: token transfer failed"
        received: uint256 = staticcall IERC20(self.token).balanceOf(self) - before
        assert received == amount, "CreditVault: token delivered less than the amount"


@external
@view
def held(key: bytes32) -> uint256:
    """
    @notice Credit of `key` still in the vault: deposited - settled - refunded.
    @param key keccak256 of the API key id.
    @return Amount in the smallest unit.
    """
    return self._held(key)


@external
@view
def refund_notice() -> uint256:
    """
    @notice Blocks a customer waits between asking for a refund and taking it (set by governance).
    @return Blocks.
    """
    return staticcall Governor(self.governor).refund_notice()


@external
@view
def receipt_leaf(receipt: Receipt) -> bytes32:
    """
    @notice The Merkle leaf of a receipt (its EIP-712 struct hash).
    @param receipt The receipt.
    @return The leaf.
    """
    return keccak256(abi_encode(RECEIPT_TYPEHASH, receipt))


@external
@payable
@nonreentrant
def deposit(key: bytes32, amount: uint256):
    """
    @notice Buy credit for an API key; the first depositor becomes the key's holder (refunds go to it, and
            only it may top the key up).
    @dev Native coin: msg.value must equal `amount`. ERC-20: approve first; it must arrive in full.
    @param key keccak256 of the API key id.
    @param amount Amount in the smallest unit.
    """
    assert amount > 0, "CreditVault: nothing deposited"
    assert key != empty(bytes32), "CreditVault: empty key"
    assert self.refunded[key] == 0, "CreditVault: this key was refunded and is closed; buy credit for a new key"
    holder: address = self.holder[key]
    # Only the holder tops a key up: otherwise whoever deposits 1 unit first (front-running a customer's
    # first deposit) would be the holder and take the customer's credit back as its refund.
    assert holder == empty(address) or holder == msg.sender, "CreditVault: this key belongs to another holder"
    self._take(amount, msg.value)
    if holder == empty(address):
        self.holder[key] = msg.sender
    self.deposited[key] += amount
    self.total_deposited += amount
    log Deposited(key=key, payer=msg.sender, amount=amount, deposited=self.deposited[key])


@external
def post_window(root: bytes32, batches: uint256) -> uint256:
    """
    @notice Publish the Merkle root of a settlement window's signed receipt batches; only the operator.
    @param root Root over the window's batch roots.
    @param batches How many batch roots the window holds.
    @return The window id (1, 2, ...).
    """
    operator: address = self._operator()
    assert msg.sender == operator, "CreditVault: caller is not the operator"
    assert root != empty(bytes32) and batches > 0, "CreditVault: empty window"
    wid: uint256 = self.window_count + 1
    self.window_count = wid
    self.windows[wid] = Window(root=root, signer=operator, batches=batches)
    log WindowPosted(window_id=wid, root=root, signer=operator, batches=batches)
    return wid


@external
@nonreentrant
def settle(
    window_id: uint256,
    keys: DynArray[bytes32, MAX_KEYS],
    totals: DynArray[uint256, MAX_KEYS],
    requests: DynArray[bytes32, MAX_KEYS],
) -> uint256:
    """
    @notice Settle keys up to running totals billed in a posted window's receipts; only the operator.
    @dev Each total must be one the operator signed (the request names the receipt; the audit checks it
         against the published window); each must grow and stay within the key's deposits. The growth
         goes in one call to RevenueShares.distribute, or to EntitlementRoots.fund in roots mode.
    @param window_id The posted window the receipts are in.
    @param keys Keys to settle, at most 64, each once.
    @param totals Each key's running total billed.
    @param requests The request id of the receipt carrying each total.
    @return The amount settled.
    """
    assert msg.sender == self._operator(), "CreditVault: caller is not the operator"
    assert window_id >= 1 and window_id <= self.window_count, "CreditVault: no such window"
    assert len(keys) == len(totals) and len(keys) == len(requests), "CreditVault: keys, totals and requests differ in length"
    amounts: DynArray[uint256, MAX_KEYS] = []
    amount: uint256 = 0
    for i: uint256 in range(len(keys), bound=MAX_KEYS):
        grown: uint256 = self._settle(keys[i], totals[i], window_id, requests[i])
        amounts.append(grown)
        amount += grown
    assert amount > 0, "CreditVault: nothing to settle"
    self._pay_in(self.windows[window_id].root, keys, amounts, amount)
    return amount


@external
@nonreentrant
def settle_receipt(
    window_id: uint256,
    receipt: Receipt,
    batch_proof: DynArray[bytes32, MAX_DEPTH],
    signature: Bytes[65],
    window_proof: DynArray[bytes32, MAX_DEPTH],
) -> uint256:
    """
    @notice Settle one key from a receipt the operator signed and published; anyone may call.
    @dev The receipt folds with `batch_proof` to a batch root that the window's signer signed (EIP-712
         ReceiptBatch), and that batch root folds with `window_proof` to the window's posted root.
    @param window_id The posted window.
    @param receipt The receipt (its total is the key's running total billed).
    @param batch_proof Merkle proof from the receipt's leaf to its batch root.
    @param signature The operator's 65-byte signature (r, s, v) over the batch root.
    @param window_proof Merkle proof from the batch root to the window root.
    @return The amount settled.
    """
    assert window_id >= 1 and window_id <= self.window_count, "CreditVault: no such window"
    window: Window = self.windows[window_id]
    batch_root: bytes32 = self._fold(keccak256(abi_encode(RECEIPT_TYPEHASH, receipt)), batch_proof)
    assert self._recover(batch_root, signature) == window.signer, "CreditVault: receipt not signed by the window's operator"
    assert self._fold(batch_root, window_proof) == window.root, "CreditVault: receipt batch not in the window"
    amount: uint256 = self._settle(receipt.key, receipt.total, window_id, receipt.request)
    self._pay_in(window.root, [receipt.key], [amount], amount)
    return amount


@external
def request_refund(key: bytes32) -> uint256:
    """
    @notice Ask for the unused credit of `key` back; only its holder. The API stops honouring the key.
    @param key keccak256 of the API key id.
    @return The block from which `refund` pays.
    """
    assert msg.sender == self.holder[key], "CreditVault: caller is not the key's holder"
    available_at: uint256 = block.number + staticcall Governor(self.governor).refund_notice()
    self.refund_at[key] = available_at
    log RefundRequested(key=key, holder=msg.sender, available_at=available_at)
    return available_at


@external
@nonreentrant
def refund(key: bytes32) -> uint256:
    """
    @notice Pay the holder the credit of `key` not settled, after the notice; only the holder.
    @param key keccak256 of the API key id.
    @return The amount refunded.
    """
    holder: address = self.holder[key]
    assert msg.sender == holder, "CreditVault: caller is not the key's holder"
    assert self.refund_at[key] != 0, "CreditVault: no refund requested"
    assert block.number >= self.refund_at[key], "CreditVault: refund notice has not passed"
    amount: uint256 = self._held(key)
    assert amount > 0, "CreditVault: nothing to refund"
    self.refund_at[key] = 0
    self.refunded[key] += amount
    self.total_refunded += amount
    log Refunded(key=key, holder=holder, amount=amount)
    if self.token == empty(address):
        raw_call(holder, b"", value=amount)
    else:
        held: uint256 = staticcall IERC20(self.token).balanceOf(self)
        assert extcall IERC20(self.token).transfer(holder, amount, default_return_value=True), "CreditVault: token transfer failed"
        assert held - staticcall IERC20(self.token).balanceOf(self) == amount, "CreditVault: token did not deliver the exact amount"
    return amount
