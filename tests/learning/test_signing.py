"""Updates are bound to the member's paid account: unsigned, mis-signed, forged and replayed updates are refused."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from flwr.app import Message

from fairshare.learning import clientapp
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.runner import FederationSpec, InProcessGrid, MemberSpec, run_federation
from fairshare.learning.serverapp import TrainingSettings, make_server_app, run_rounds
from fairshare.learning.signing import UpdateClaim, UpdateRejected, sign_claim, verify_claim
from fairshare.learning.strategy import RoundUpdates, UpdateIdentity, fedavg
from fairshare.ledger.keystore import Keystore

MODEL = LogisticRegression(30, 2)
DOMAIN = "31337:0x00000000000000000000000000000000000000aa"


def _params(seed: int):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(30, 2)), rng.normal(size=2)]


@pytest.fixture
def signed():
    account = Account.create()
    global_params, params = _params(1), _params(2)
    record = sign_claim(account, UpdateClaim.of(DOMAIN, 3, global_params, params, 40))
    return account, global_params, params, record


def _verify(record, signer, base_global, base_params, /, **overrides):
    args = {
        "member": "m0",
        "account": signer.address,
        "domain": DOMAIN,
        "round_id": 3,
        "global_params": base_global,
        "params": base_params,
        "num_examples": 40,
    }
    verify_claim(record, **{**args, **overrides})


def test_a_correctly_signed_update_is_accepted(signed) -> None:
    account, global_params, params, record = signed
    _verify(record, account, global_params, params)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"round_id": 4}, "signed for round 3, this is round 4 (replay)"),
        ({"domain": "1:0xother"}, "signed for consortium"),
        ({"global_params": _params(9)}, "another global model"),
        ({"params": _params(3)}, "signature does not match"),
        ({"num_examples": 41}, "signature does not match"),
        ({"account": Account.create().address}, "signature does not match"),
    ],
)
def test_replayed_tampered_or_foreign_updates_are_refused_with_the_reason(signed, override, reason) -> None:
    account, global_params, params, record = signed
    with pytest.raises(UpdateRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
        _verify(record, account, global_params, params, **override)


def test_unsigned_and_malformed_signatures_are_refused(signed) -> None:
    account, global_params, params, record = signed
    with pytest.raises(UpdateRejected, match="unsigned update"):
        _verify(None, account, global_params, params)
    broken = record.copy()
    broken["signature"] = "zz"
    with pytest.raises(UpdateRejected, match="malformed signature"):
        _verify(broken, account, global_params, params)


@pytest.fixture
def keyed(federation, tmp_path: Path):
    """The federation's members, each with an account key in a keystore; m4 is a forger this time."""
    members, test = federation
    keystore = Keystore(tmp_path / "keys")
    accounts, keyed_members = {}, []
    for member in members:
        account = keystore.create(member.name)
        accounts[member.name] = account.address
        behaviour = "forger" if member.name == "m4" else member.behaviour
        keyed_members.append(replace(member, behaviour=behaviour, key_path=keystore.path(member.name)))
    return keyed_members, test, UpdateIdentity(DOMAIN, accounts)


def _run(members, test, identity, rounds=2, **kw):
    seen: list[RoundUpdates] = []

    def hook(updates: RoundUpdates):
        seen.append(updates)
        return fedavg(updates.global_params, updates.updates)

    spec = FederationSpec(MODEL, members, rounds, 2, 0.1, 32, 0, test, identity=identity, **kw)
    run_federation(spec, hook)
    return seen


def test_a_forged_update_is_rejected_and_the_rejection_is_reported(keyed, caplog) -> None:
    members, test, identity = keyed
    seen = _run(members, test, identity)
    for updates in seen:
        assert [u.member for u in updates.updates] == ["m0", "m1", "m2", "m3"]
        (failure,) = updates.failures
        assert failure.startswith("m4: rejected: signature does not match")
    assert "rejected update: m4" in caplog.text


def test_a_node_without_its_account_key_sends_unsigned_updates_that_are_refused(keyed) -> None:
    members, test, identity = keyed
    members = [replace(m, key_path=None) if m.name == "m1" else m for m in members]
    seen = _run(members, test, identity, rounds=1)
    assert "m1" not in [u.member for u in seen[0].updates]
    assert any(f.startswith("m1: rejected: unsigned update") for f in seen[0].failures)


class ReplayingGrid(InProcessGrid):
    """A man in the middle: keeps m0's signed round-1 reply and delivers it again in round 2."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.captured: Message | None = None

    def push_messages(self, messages):
        ids = list(super().push_messages(messages))
        for message_id in ids:
            reply = self._replies[message_id]
            if reply.metadata.src_node_id != 1001 or reply.has_error():
                continue
            if self.captured is None:
                self.captured = reply
            else:
                stale = Message(self.captured.content, reply_to=self._replies[message_id])
                stale.metadata.__dict__["_src_node_id"] = 1001
                self._replies[message_id] = stale
        return ids


def test_a_replayed_update_from_an_earlier_round_is_rejected(keyed) -> None:
    members, test, identity = keyed
    seen: list[RoundUpdates] = []

    def hook(updates: RoundUpdates):
        seen.append(updates)
        return fedavg(updates.global_params, updates.updates)

    from flwr.app import Context, RecordDict
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    contexts = {
        1001 + k: Context(
            run_id=1,
            node_id=1001 + k,
            node_config={
                "member": m.name,
                "data-path": str(m.data_path),
                "behaviour": "honest",
                "key-path": str(m.key_path),
            },
            state=RecordDict(),
            run_config={},
        )
        for k, m in enumerate(members)
    }
    names = {node: str(ctx.node_config["member"]) for node, ctx in contexts.items()}
    rounds = TrainingSettings(2, 1, 0.1, 32, 0)
    server = make_server_app(
        lambda grid: run_rounds(grid, MODEL, MODEL.init_params(0), rounds, test, hook, _ignore, names, 1, identity)
    )
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    grid = ReplayingGrid(clientapp.app, contexts, 1)
    server(grid, Context(1, SUPERLINK_NODE_ID, node_config={}, state=RecordDict(), run_config={}))
    assert "m0" in [u.member for u in seen[0].updates]
    assert "m0" not in [u.member for u in seen[1].updates]
    replay = "m0: rejected: update signed for round 1, this is round 2 (replay)"
    assert any(f.startswith(replay) for f in seen[1].failures)


def test_members_missing_from_the_identity_are_refused(keyed) -> None:
    members, test, identity = keyed
    partial = UpdateIdentity(identity.domain, {k: v for k, v in identity.accounts.items() if k != "m2"})
    seen = _run(members, test, partial, rounds=1)
    assert any(f.startswith("m2: rejected: node") and "not a member" in f for f in seen[0].failures)


def test_without_an_identity_nothing_is_checked(federation) -> None:
    members, test = federation
    seen = _run(members, test, None, rounds=1)
    assert len(seen[0].updates) == 5 and seen[0].failures == ()


def test_member_spec_key_path_reaches_the_node(keyed) -> None:
    members, _test, _identity = keyed
    assert all(isinstance(m, MemberSpec) and m.key_path and m.key_path.exists() for m in members)


class RecordingGrid(InProcessGrid):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent_to: set[int] = set()

    def push_messages(self, messages):
        messages = list(messages)
        self.sent_to |= {m.metadata.dst_node_id for m in messages}
        return super().push_messages(messages)


def test_a_node_that_is_not_a_registered_member_never_receives_the_model(keyed) -> None:
    from flwr.app import Context, RecordDict
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.supercore.task_identity import TaskIdentity

    members, test, _identity = keyed
    contexts = {
        1001 + k: Context(
            run_id=1,
            node_id=1001 + k,
            node_config={"member": m.name, "data-path": str(m.data_path), "key-path": str(m.key_path)},
            state=RecordDict(),
            run_config={},
        )
        for k, m in enumerate(members)
    }
    names = {node: str(ctx.node_config["member"]) for node, ctx in contexts.items() if node != 1004}
    rounds = TrainingSettings(1, 1, 0.1, 32, 0)
    server = make_server_app(
        lambda grid: run_rounds(grid, MODEL, MODEL.init_params(0), rounds, test, fedavg_hook, _ignore, names)
    )
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, SUPERLINK_NODE_ID, 1
    grid = RecordingGrid(clientapp.app, contexts, 1)
    server(grid, Context(1, SUPERLINK_NODE_ID, node_config={}, state=RecordDict(), run_config={}))
    assert grid.sent_to == set(names) and 1004 not in grid.sent_to


def _ignore(_result) -> None:
    """The round results these tests do not look at."""


def fedavg_hook(updates: RoundUpdates):
    return fedavg(updates.global_params, updates.updates)
