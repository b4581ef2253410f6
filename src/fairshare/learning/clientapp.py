"""The member side: a Flower ``ClientApp`` that trains on the member's own rows and replies with its update.

A member node knows four things from its node config: ``member`` (its name in the consortium),
``data-path`` (its partition, an ``.npz`` written by ``save_partition``), ``key-path`` (its account key, an
Ethereum keystore file; the passphrase comes from ``FAIRSHARE_KEYSTORE_PASSWORD``) and ``behaviour``
(``honest`` unless a demo or benchmark plays an adversary). Raw rows never leave the node: only parameters
and counts do, signed by the member's account (``signing``).

Behaviours: ``free_rider`` returns the global model unchanged; ``random_update`` returns the global model plus
Gaussian noise the size of an honest update; ``label_flip`` trains on flipped labels (a poisoner);
``forger`` trains honestly but signs with a key that is not the member's (an impostor).

On Flower's Simulation Engine a virtual node knows only its ``partition-id``: ``member_of_partition`` reads
that partition's member settings from the members file named in ``FAIRSHARE_SIMULATION_MEMBERS`` (written
by ``fairshare.learning.simulation``), so the same app runs there unchanged.

Mods, outermost first: ``member_of_partition`` (simulation only); ``sign_update`` signs what finally leaves
the node, so it runs after ``clip_if_asked``, which clips the update when the coordinator runs Flower's
client-side DP clipping wrapper (the clipping norm is in the round's config) and does nothing otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fairshare.errors import LearningError
from fairshare.learning.data import Dataset, load_partition
from fairshare.learning.factory import build_model
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import Model, ModelSpec, Params
from fairshare.learning.privacy import clip_update
from fairshare.learning.signing import SIGNATURE, UpdateClaim, sign_claim
from fairshare.ledger.keystore import load_key_file

__all__ = ["BEHAVIOURS", "app", "local_update"]

BEHAVIOURS = ("honest", "free_rider", "random_update", "label_flip", "forger")


def member_of_partition(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """A simulated node becomes the member its partition id stands for; a real node's config is left alone."""
    if "member" not in context.node_config and "partition-id" in context.node_config:
        context.node_config.update(_simulated_member(int(context.node_config["partition-id"])))
    return call_next(msg, context)


def _simulated_member(partition: int) -> dict[str, str]:
    path = os.environ.get("FAIRSHARE_SIMULATION_MEMBERS")
    if not path:
        raise LearningError(
            "this simulated node has no member: start the Simulation Engine through fairshare (training runtime "
            "'simulation'), which writes the members file and names it in FAIRSHARE_SIMULATION_MEMBERS"
        )
    members = _members_file(path)
    if not 0 <= partition < len(members):
        raise LearningError(f"partition {partition} has no member: the members file {path} lists {len(members)}")
    return members[partition]


@lru_cache(maxsize=4)
def _members_file(path: str) -> list[dict[str, str]]:
    return json.loads(Path(path).read_text())


def sign_update(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Sign the outgoing update with the member's account key; unsigned if the node has no key configured."""
    reply = call_next(msg, context)
    if msg.metadata.message_type != MessageType.TRAIN or reply.has_error():
        return reply
    key_path = context.node_config.get("key-path")
    if not key_path:
        return reply  # the coordinator rejects it and says why
    config = msg.content["config"]
    claim = UpdateClaim.of(
        str(config.get("domain", "")),
        int(config["server-round"]) + int(config.get("round-offset", 0)),
        msg.content["arrays"].to_numpy_ndarrays(),
        reply.content["arrays"].to_numpy_ndarrays(),
        int(reply.content["metrics"]["num-examples"]),
    )
    forger = context.node_config.get("behaviour") == "forger"
    signer = Account.create() if forger else _account_key(str(key_path))
    reply.content[SIGNATURE] = sign_claim(signer, claim)
    return reply


@lru_cache(maxsize=16_384)
def _account_key(path: str) -> LocalAccount:
    """Decrypting a keystore costs ~50 ms (scrypt): once per process and key file (a cache smaller than the
    consortium would decrypt every member's key again every round)."""
    return load_key_file(Path(path))


def clip_if_asked(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Client-side DP clipping, as Flower's ``fixedclipping_mod`` but safe for a zero update (see ``clip_update``)."""
    reply = call_next(msg, context)
    config = msg.content["config"]
    if msg.metadata.message_type != MessageType.TRAIN or KEY_CLIPPING_NORM not in config or reply.has_error():
        return reply
    record = reply.content["arrays"]
    clipped = clip_update(
        record.to_numpy_ndarrays(), msg.content["arrays"].to_numpy_ndarrays(), float(config[KEY_CLIPPING_NORM])
    )
    reply.content["arrays"] = ArrayRecord(dict(zip(record.keys(), map(Array, clipped), strict=True)))
    return reply


app = ClientApp(mods=[member_of_partition, sign_update, clip_if_asked])


@lru_cache(maxsize=16_384)
def _partition(path: str) -> Dataset:
    return load_partition(Path(path))


def local_update(
    model: Model,
    global_params: Params,
    data: Dataset,
    behaviour: str,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> Params:
    """What this member sends back for one round, according to its behaviour."""
    rng = np.random.default_rng(seed)
    train = dict(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, rng=rng)
    if behaviour in ("honest", "forger"):
        return model.fit_local(global_params, data.X, data.y, **train)
    if behaviour == "free_rider":
        return [p.copy() for p in global_params]
    if behaviour == "label_flip":
        flipped = (data.n_classes - 1) - data.y
        return model.fit_local(global_params, data.X, flipped, **train)
    if behaviour == "random_update":
        honest = model.fit_local(global_params, data.X, data.y, **train)
        return [
            g + rng.normal(0.0, max(float(np.std(h - g)), 1e-6), g.shape)
            for g, h in zip(global_params, honest, strict=True)
        ]
    raise LearningError(f"unknown behaviour {behaviour!r}; expected one of {', '.join(BEHAVIOURS)}")


def _node_setting(context: Context, key: str) -> str:
    value = context.node_config.get(key)
    if value is None or value == "":
        raise LearningError(f'this node\'s config has no {key!r}; start the node with --node-config "{key}=..."')
    return str(value)


@app.train()
def train(msg: Message, context: Context) -> Message:
    member = _node_setting(context, "member")
    data = _partition(_node_setting(context, "data-path"))
    behaviour = str(context.node_config.get("behaviour", "honest"))
    config = msg.content["config"]
    global_params = msg.content["arrays"].to_numpy_ndarrays()
    model = _model(str(config["model"]), data, context.node_config.get("model-factory"))
    model.check(global_params)
    round_id = int(config["server-round"]) + int(config.get("round-offset", 0))
    params = local_update(
        model,
        global_params,
        data,
        behaviour,
        epochs=int(config["local-epochs"]),
        learning_rate=float(config["learning-rate"]),
        batch_size=int(config["batch-size"]),
        seed=_member_seed(int(config["seed"]), round_id, member),
    )
    metrics = MetricRecord(
        {
            "num-examples": len(data.y),
            "train-loss": model.log_loss(params, data.X, data.y),
            "round": round_id,
        }
    )
    content = RecordDict({"arrays": ArrayRecord(params), "metrics": metrics})
    content["member"] = ConfigRecord({"name": member})
    return Message(content=content, reply_to=msg)


def _shape(data: Dataset) -> tuple[int, int]:
    return data.X.shape[1], data.n_classes


def _model(spec_json: str, data: Dataset, pinned: object = None) -> Model:
    """The consortium's model as the round's config describes it (the coordinator's spec), checked against
    this node's data: the same network the coordinator values and releases.

    Building a network imports and calls its factory, so a node started by ``fairshare node start`` (its
    node config has ``model-factory``, the member's own choice) runs no factory but that one: a coordinator
    cannot make a member's machine call arbitrary code. The in-process runner sets no pin (one machine).
    """
    spec = ModelSpec.from_json(spec_json)
    if pinned is not None and spec.kind == "torch" and spec.factory != str(pinned):
        agreed = f"only {pinned!r}" if pinned else "no network factory (model_factory is empty in its node file)"
        raise LearningError(
            f"the coordinator asks this node to run the network factory {spec.factory!r}, but the member agreed to "
            f"{agreed}; set model_factory in the node file if the member accepts it"
        )
    if spec.n_features != data.X.shape[1]:
        raise LearningError(
            f"this node's data has {data.X.shape[1]} features per row; the consortium's model takes {spec.n_features}"
        )
    return build_model(spec)


def _member_seed(seed: int, round_id: int, member: str) -> int:
    """Reproducible per member and round, whatever node id the runtime assigned."""
    digest = hashlib.sha256(f"{seed}/{round_id}/{member}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    data = _partition(_node_setting(context, "data-path"))
    params = msg.content["arrays"].to_numpy_ndarrays()
    config = msg.content.get("config", ConfigRecord())
    pinned = context.node_config.get("model-factory")
    model = _model(str(config["model"]), data, pinned) if "model" in config else LogisticRegression(*_shape(data))
    model.check(params)
    metrics = MetricRecord(
        {
            "num-examples": len(data.y),
            "eval-loss": model.log_loss(params, data.X, data.y),
            "eval-acc": model.accuracy(params, data.X, data.y),
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
