"""Update signatures: every member update is signed by the account the member is paid on.

Flower's node authentication proves which SuperNode a message came over; it does not say which member's key
produced the update, and it is not the key that receives money. So each member signs, with its Ethereum
account key, a claim naming the consortium (``domain``: chain id and TrainingLog address), the round, the
global model it trained from, the hash of the parameters it sends and the row count it reports. The
coordinator recomputes the update hash and accepts the update only if the claim matches this round and this
model and was signed by that member's registered account. A replayed update (an earlier round's, or another
consortium's) fails the round, model or domain check; a tampered one fails the hash; a forged one the signer.

The signature travels in the reply as a ``ConfigRecord`` named ``signature`` (see ``SIGNATURE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from flwr.app import ConfigRecord

from fairshare.errors import LearningError
from fairshare.learning.model import Params, params_hash

__all__ = ["SIGNATURE", "UpdateClaim", "UpdateRejected", "sign_claim", "verify_claim"]

SIGNATURE = "signature"
_TAG = b"fairshare/update/v1"


class UpdateRejected(LearningError):
    """An update that is not provably the named member's, for this round and this model."""


@dataclass(frozen=True)
class UpdateClaim:
    domain: str
    round: int
    global_hash: bytes
    update_hash: bytes
    num_examples: int

    def digest(self) -> bytes:
        return keccak(
            _TAG
            + keccak(self.domain.encode())
            + self.round.to_bytes(8, "big")
            + self.global_hash
            + self.update_hash
            + self.num_examples.to_bytes(8, "big")
        )

    @classmethod
    def of(cls, domain: str, round_id: int, global_params: Params, params: Params, num_examples: int) -> UpdateClaim:
        return cls(domain, round_id, params_hash(global_params), params_hash(params), num_examples)


def sign_claim(account: LocalAccount, claim: UpdateClaim) -> ConfigRecord:
    signed = account.sign_message(encode_defunct(primitive=claim.digest()))
    return ConfigRecord(
        {
            "signer": account.address,
            "signature": signed.signature.hex(),
            "domain": claim.domain,
            "round": claim.round,
            "global-hash": claim.global_hash.hex(),
            "num-examples": claim.num_examples,
        }
    )


def verify_claim(
    record: ConfigRecord | None,
    *,
    member: str,
    account: str,
    domain: str,
    round_id: int,
    global_params: Params,
    params: Params,
    num_examples: int,
) -> None:
    """Raise ``UpdateRejected`` naming what is wrong unless ``record`` signs exactly this update."""
    if record is None:
        raise UpdateRejected(f"{member}: unsigned update; the node needs its account key (node config key-path)")
    try:
        signature = bytes.fromhex(str(record["signature"]).removeprefix("0x"))
        signed_round = int(record["round"])
        signed_domain = str(record["domain"])
        signed_global = bytes.fromhex(str(record["global-hash"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise UpdateRejected(f"{member}: malformed signature record ({exc})") from exc
    if signed_domain != domain:
        raise UpdateRejected(f"{member}: update signed for consortium {signed_domain!r}, not {domain!r} (replay)")
    if signed_round != round_id:
        raise UpdateRejected(f"{member}: update signed for round {signed_round}, this is round {round_id} (replay)")
    if signed_global != params_hash(global_params):
        raise UpdateRejected(f"{member}: update trained from another global model than this round's (replay)")
    claim = UpdateClaim(domain, round_id, signed_global, params_hash(params), num_examples)
    try:
        signer = Account.recover_message(encode_defunct(primitive=claim.digest()), signature=signature)
    except Exception as exc:  # eth_keys raises several types for malformed signatures
        raise UpdateRejected(f"{member}: invalid signature ({exc})") from exc
    if signer.lower() != account.lower():
        raise UpdateRejected(
            f"{member}: signature does not match: recovered {signer}, expected the member's account {account} "
            "(the parameters or row count were changed after signing, or another key signed)"
        )
