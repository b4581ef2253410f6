"""Typed calls on EntitlementRoots: publish an epoch's scores, close it, propose, challenge and accept its root,
claim with a proof; and the published history, from which anyone rebuilds every root.

The oracle's side (publish, close, propose) and a watcher's side (``check_proposal`` finds the evidence that
rejects a wrong root) both rebuild the standing with ``fairshare.ledger.entitlements`` from the events alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from fairshare.errors import LedgerError
from fairshare.ledger.chain import Chain
from fairshare.ledger.client import growth_due, refuse_customer_keys
from fairshare.ledger.deploy import Deployment, contract_at
from fairshare.ledger.entitlements import (
    CHUNK,
    EntitlementTree,
    EpochPublication,
    Leaf,
    Standing,
    chunked,
    next_standing,
)
from fairshare.ledger.events import EventIndex, IndexedEvent

__all__ = ["ClaimEvent", "Proposal", "RootsClient"]

STATUS = ("open", "closed", "proposed", "accepted")
MAX_SOURCES = 64
DIRECT = Web3.keccak(text="fairshare:direct-revenue")
"""The revenue source of payments made outside the usage ledger (benchmarks, tests, a grant)."""

Progress = Callable[[str, int, int], None]
"""(phase, done, total): called after each published chunk."""


@dataclass(frozen=True)
class Proposal:
    epoch: int
    root: bytes
    leaves: int
    block: int
    outcome: str  # "accepted", "rejected: <reason>" or "pending"


@dataclass(frozen=True)
class ClaimEvent:
    epoch: int
    account: str
    amount: int
    cumulative: int
    block: int
    log_index: int


class RootsClient:
    def __init__(self, chain: Chain, deployment: Deployment, index: EventIndex | None = None) -> None:
        if not deployment.entitlement_roots:
            raise LedgerError(f"consortium {deployment.name!r} was deployed without EntitlementRoots")
        self.chain = chain
        self.deployment = deployment
        self.contract = contract_at(chain, "EntitlementRoots", deployment.entitlement_roots)
        self.governor = contract_at(chain, "Governor", deployment.governor)
        if index is None or not {self.contract.address, self.governor.address} <= set(index.contracts):
            index = EventIndex(chain.w3, [self.contract, self.governor], deployment.block)
        self.index = index

    def events(self, name: str) -> list[IndexedEvent]:
        return self.index.events(self.contract.address, name)

    def _view(self, function: str, *args: object) -> object:
        return getattr(self.contract.functions, function)(*args).call()

    # the oracle -------------------------------------------------------------------------------------------

    def publish(
        self,
        oracle: LocalAccount,
        epoch: int,
        scores: Iterable[tuple[str, int]],
        chunk: int = CHUNK,
        names: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Publish an epoch's (account, score) pairs in ascending chunks; returns the gas used.

        Every payee must be a member the Governor admitted (the contract reverts otherwise): they are checked
        before the first chunk is sent, so a refused epoch sends nothing and what was published before stays.
        ``names`` (address -> member name) lets the refusal name members; ``progress`` is told each chunk.
        """
        chunks = chunked(scores, chunk)
        outsiders = self.unadmitted([a for accounts, _ in chunks for a in accounts])
        if outsiders:
            known = {Web3.to_checksum_address(a): n for a, n in (names or {}).items()}
            who = ", ".join(f"{known[a]} ({a})" if a in known else a for a in outsiders[:5])
            more = f" and {len(outsiders) - 5} more" if len(outsiders) > 5 else ""
            raise LedgerError(
                f"epoch {epoch}: the Governor has not admitted {who}{more} as a member, so the contract would refuse "
                "the scores: payees are admitted by governance (proposal kind admit), and a removed member is no "
                "longer paid. Leave them out of the scores; nothing of this publication was sent"
            )
        gas = done = 0
        total = sum(len(accounts) for accounts, _ in chunks)
        for accounts, values in chunks:
            receipt = self.chain.send(
                oracle, self.contract, "publish", epoch, accounts, values, what=f"publishing epoch {epoch}'s scores"
            )
            gas += int(receipt["gasUsed"])
            done += len(accounts)
            if progress is not None:
                progress("recording", done, total)
        return gas

    def member_changes(self) -> list[IndexedEvent]:
        """The Governor's admissions and removals (MemberChanged), in chain order: every write to ``is_member``."""
        return self.index.events(self.governor.address, "MemberChanged")

    def unadmitted(self, accounts: Iterable[str]) -> list[str]:
        """The accounts that are not members now, in the order given: the Governor's MemberChanged events replayed
        (one read of the index, where asking ``is_member`` per account costs ~3 ms each on the embedded chain)."""
        member: dict[str, bool] = {}
        for e in self.member_changes():
            member[e.args["account"]] = bool(e.args["admitted"])
        return [a for a in accounts if not member.get(Web3.to_checksum_address(a), False)]

    def close(self, oracle: LocalAccount, epoch: int, model_hash: bytes, method: str, params: str, seed: int) -> int:
        if len(params.encode()) > 2048:
            raise LedgerError(f"valuation parameters are {len(params.encode())} bytes; an epoch record takes 2048")
        receipt = self.chain.send(
            oracle, self.contract, "close_epoch", epoch, model_hash, method, params, seed, what=f"closing epoch {epoch}"
        )
        return int(receipt["gasUsed"])

    def propose(self, oracle: LocalAccount, epoch: int, tree: EntitlementTree) -> int:
        receipt = self.chain.send(
            oracle,
            self.contract,
            "propose_root",
            epoch,
            tree.root,
            len(tree.leaves),
            tree.total,
            what=f"proposing epoch {epoch}'s root",
        )
        return int(receipt["gasUsed"])

    def accept(self, sender: LocalAccount, epoch: int) -> int:
        receipt = self.chain.send(sender, self.contract, "accept_root", epoch, what=f"accepting epoch {epoch}'s root")
        return int(receipt["gasUsed"])

    def settled_total(self, source: bytes) -> int:
        """The running total the contract has settled for revenue ``source``."""
        return int(self._view("settled_total", source))  # type: ignore[arg-type]

    def settle(self, payer: LocalAccount, settlement_id: bytes, totals: Mapping[bytes, int]) -> tuple[int, str, int]:
        """Pay the growth of each source's running total to the payees of the next epoch to close; (amount,
        transaction hash, gas). The contract refuses a total that does not grow, so a retry cannot pay twice."""
        if not totals or len(totals) > MAX_SOURCES:
            raise LedgerError(f"a settlement takes 1 to {MAX_SOURCES} revenue sources; got {len(totals)}")
        refuse_customer_keys(self.chain, self.deployment, totals)
        amount = growth_due(totals, self.settled_total)
        token = self.deployment.token
        if token:
            erc20 = self.chain.w3.eth.contract(address=Web3.to_checksum_address(token), abi=_ERC20_APPROVE)
            self.chain.send(payer, erc20, "approve", self.contract.address, amount, what="approving the revenue")
        receipt = self.chain.send(
            payer,
            self.contract,
            "fund",
            settlement_id,
            list(totals),
            list(totals.values()),
            value=0 if token else amount,
            what="funding the payees",
        )
        return amount, receipt["transactionHash"].to_0x_hex(), int(receipt["gasUsed"])

    def fund(self, payer: LocalAccount, amount: int, source: bytes = DIRECT) -> int:
        """Pay ``amount`` more revenue from ``source`` (its running total grows by ``amount``); returns the gas."""
        return self.settle(payer, source, {source: self.settled_total(source) + amount})[2]

    # payees -----------------------------------------------------------------------------------------------

    def claim(self, sender: LocalAccount, epoch: int, tree: EntitlementTree, account: str) -> tuple[int, int]:
        """Claim ``account``'s due against epoch ``epoch``'s root (built locally as ``tree``); (amount, gas)."""
        leaf = tree.leaf_of(account)
        if leaf is None:
            raise LedgerError(f"{account} has no entitlement in epoch {epoch}")
        due = leaf.entitled - self.claimed(account)
        receipt = self.send_claim(sender, epoch, tree, leaf, what=f"claim by {account} in epoch {epoch}")
        return due, int(receipt["gasUsed"])

    def send_claim(self, sender: LocalAccount, epoch: int, tree: EntitlementTree, leaf: Leaf, what: str) -> TxReceipt:
        """The claim transaction for ``leaf`` against epoch ``epoch``'s root (built locally as ``tree``), signed
        by ``sender`` (the payee, or anyone relaying it: the money goes to the leaf's account)."""
        return self.chain.send(sender, self.contract, "claim", epoch, tree.root, tree.leaf_arg(leaf.index), what=what)

    # reads ------------------------------------------------------------------------------------------------

    def claimed(self, account: str) -> int:
        return int(self._view("claimed", Web3.to_checksum_address(account)))  # type: ignore[arg-type]

    def status(self, epoch: int) -> str:
        """ "open", "closed" (no live root), "proposed" or "accepted"."""
        return STATUS[int(self._view("roots", epoch)[2]) & 255]  # type: ignore[index]

    def accepted_epoch(self) -> int:
        return int(self._view("accepted_epoch"))  # type: ignore[arg-type]

    def open_epoch(self) -> int:
        return int(self._view("open_epoch"))  # type: ignore[arg-type]

    def root_of(self, epoch: int) -> bytes:
        return bytes(self._view("roots", epoch)[0])  # type: ignore[index]

    def totals(self) -> dict[str, int]:
        keys = ("total_funded", "total_paid", "pending_revenue", "treasury_owed")
        return {k: int(self._view(k)) for k in keys}  # type: ignore[arg-type]

    # history ----------------------------------------------------------------------------------------------

    def publications(self) -> list[EpochPublication]:
        """Every closed epoch's published scores, share rule and revenue, in epoch order."""
        chunks: dict[int, list[tuple[int, tuple[str, ...], tuple[int, ...]]]] = {}
        for e in self.events("ScoresPublished"):
            chunks.setdefault(e.args["epoch"], []).append(
                (int(e.args["raw_before"]), tuple(e.args["accounts"]), tuple(int(s) for s in e.args["scores"]))
            )
        return [
            EpochPublication(
                epoch=e.args["epoch"],
                chunks=tuple(chunks.get(e.args["epoch"], [])),
                share_scale=int(e.args["share_scale"]),
                round_cap=int(e.args["round_cap"]),
                revenue=int(e.args["revenue"]),
            )
            for e in sorted(self.events("EpochClosed"), key=lambda e: e.args["epoch"])
        ]

    def closed_epochs(self) -> list[IndexedEvent]:
        return sorted(self.events("EpochClosed"), key=lambda e: e.args["epoch"])

    def standings(self) -> list[Standing]:
        """The standing after every closed epoch, rebuilt from the published events alone."""
        standing = Standing(0, {}, 0)
        out = []
        for publication in self.publications():
            standing = next_standing(standing, publication)
            out.append(standing)
        return out

    def proposals(self) -> list[Proposal]:
        """Every proposed root in chain order, with what became of it: the next rejection or acceptance of its
        epoch (an epoch has at most one live proposal)."""
        names = ("RootProposed", "RootRejected", "RootAccepted")
        events = sorted(((e.block, e.log_index, n, e) for n in names for e in self.events(n)), key=lambda t: t[:2])
        live: dict[int, int] = {}
        out: list[Proposal] = []
        for _, _, name, e in events:
            epoch = e.args["epoch"]
            if name == "RootProposed":
                live[epoch] = len(out)
                out.append(Proposal(epoch, bytes(e.args["root"]), int(e.args["leaves"]), e.block, "pending"))
            elif epoch in live:
                k = live.pop(epoch)
                outcome = "accepted" if name == "RootAccepted" else f"rejected: {e.args['reason']}"
                out[k] = replace(out[k], outcome=outcome)
        return out

    def claims(self) -> list[ClaimEvent]:
        return [
            ClaimEvent(e.args["epoch"], e.args["account"], e.args["amount"], e.args["cumulative"], e.block, e.log_index)
            for e in self.events("Claimed")
        ]


_ERC20_APPROVE = [
    {
        "type": "function",
        "name": "approve",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]
