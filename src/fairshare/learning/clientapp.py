"""The member side: a Flower ``ClientApp`` that trains on the member's own rows and replies with its update.

A member node knows three things from its node config: ``member`` (its name in the consortium),
``data-path`` (its partition, an ``.npz`` written by ``save_partition``) and ``behaviour`` (``honest`` unless
a demo or benchmark plays an adversary). Raw rows never leave the node: only parameters and counts do.

Behaviours: ``free_rider`` returns the global model unchanged; ``random_update`` returns the global model plus
Gaussian noise the size of an honest update; ``label_flip`` trains on flipped labels (a poisoner).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fairshare.errors import LearningError
from fairshare.learning.data import Dataset, load_partition
from fairshare.learning.model import LogisticRegression, Params

__all__ = ["BEHAVIOURS", "app", "local_update"]

BEHAVIOURS = ("honest", "free_rider", "random_update", "label_flip")

app = ClientApp()


@lru_cache(maxsize=256)
def _partition(path: str) -> Dataset:
    return load_partition(Path(path))


def local_update(
    model: LogisticRegression,
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
    if behaviour == "honest":
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
    model = LogisticRegression(data.X.shape[1], data.n_classes, l2=float(config["l2"]))
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


def _member_seed(seed: int, round_id: int, member: str) -> int:
    """Reproducible per member and round, whatever node id the runtime assigned."""
    digest = hashlib.sha256(f"{seed}/{round_id}/{member}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    data = _partition(_node_setting(context, "data-path"))
    params = msg.content["arrays"].to_numpy_ndarrays()
    model = LogisticRegression(data.X.shape[1], data.n_classes)
    model.check(params)
    metrics = MetricRecord(
        {
            "num-examples": len(data.y),
            "eval-loss": model.log_loss(params, data.X, data.y),
            "eval-acc": model.accuracy(params, data.X, data.y),
        }
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
