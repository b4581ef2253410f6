"""The coordinator side: a Flower ``ServerApp`` that runs the rounds with ``HookedFedAvg``.

``make_server_app`` closes over what the coordinator holds (the hook, the model and its test split), so the
same app object runs under the in-process runner and under Flower's deployment runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from fairshare.learning.data import Dataset
from fairshare.learning.model import LogisticRegression, Params
from fairshare.learning.strategy import HookedFedAvg, RoundHook, RoundUpdates

__all__ = ["RoundResult", "TrainingSettings", "make_server_app"]


@dataclass(frozen=True)
class RoundResult:
    """The global model after one round, evaluated on the coordinator's test split."""

    round: int
    params: Params
    accuracy: float
    loss: float


@dataclass(frozen=True)
class TrainingSettings:
    rounds: int
    local_epochs: int
    learning_rate: float
    batch_size: int
    seed: int


def make_server_app(
    model: LogisticRegression,
    initial: Params,
    settings: TrainingSettings,
    test: Dataset,
    hook: RoundHook,
    on_round: Callable[[RoundResult], None],
    node_names: dict[int, str] | None = None,
    first_round: int = 1,
) -> ServerApp:
    """A ServerApp running rounds ``first_round .. first_round + rounds - 1`` from ``initial``."""
    app = ServerApp()
    offset = first_round - 1

    def shifted_hook(updates: RoundUpdates) -> Params:
        return hook(replace(updates, round=updates.round + offset))

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = HookedFedAvg(shifted_hook, node_names=node_names, min_nodes=len(node_names or {}) or 1)

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            if server_round == 0:
                return None
            params = arrays.to_numpy_ndarrays()
            result = RoundResult(
                round=server_round + offset,
                params=params,
                accuracy=model.accuracy(params, test.X, test.y),
                loss=model.log_loss(params, test.X, test.y),
            )
            on_round(result)
            return MetricRecord({"accuracy": result.accuracy, "loss": result.loss})

        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(initial),
            num_rounds=settings.rounds,
            train_config=ConfigRecord(
                {
                    "local-epochs": settings.local_epochs,
                    "learning-rate": settings.learning_rate,
                    "batch-size": settings.batch_size,
                    "seed": settings.seed,
                    "l2": model.l2,
                    "round-offset": offset,
                }
            ),
            evaluate_fn=evaluate,
        )

    return app
