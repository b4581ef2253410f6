"""The coordinator side: a Flower ``ServerApp`` that runs the rounds with ``HookedFedAvg``.

``run_rounds`` is the coordinator's whole job on any Grid; ``make_server_app`` wraps it, closed over what the
coordinator holds (the hook, the model and its test split), for the in-process runner. On Flower's deployment
runtime the ServerApp is ``fairshare.consortium.federation:server_app``, which opens the run and calls
``run_rounds``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Strategy

from fairshare.learning.data import Dataset
from fairshare.learning.model import Model, Params
from fairshare.learning.privacy import PrivacySettings, dp_strategy
from fairshare.learning.strategy import HookedFedAvg, RoundHook, RoundUpdates, SignedUpdates, UpdateIdentity

__all__ = ["RoundResult", "TrainingSettings", "make_server_app", "run_rounds"]


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


def run_rounds(
    grid: Grid,
    model: Model,
    initial: Params,
    settings: TrainingSettings,
    test: Dataset,
    hook: RoundHook,
    on_round: Callable[[RoundResult], None],
    node_names: dict[int, str] | None = None,
    first_round: int = 1,
    identity: UpdateIdentity | None = None,
    privacy: PrivacySettings | None = None,
    node_timeout: float = 600.0,
    expected_members: int | None = None,
) -> None:
    """Rounds ``first_round .. first_round + rounds - 1`` from ``initial`` over ``grid`` (any runtime's).

    ``on_round`` gets the model the round released: after the hook's aggregate and, with DP, after the noise.
    A round waits for every node ``node_names`` names, or for ``expected_members`` nodes when the runtime
    numbers them itself (the Simulation Engine).
    """
    offset = first_round - 1
    members = expected_members or len(node_names or {}) or 1

    def shifted_hook(updates: RoundUpdates) -> Params:
        return hook(replace(updates, round=updates.round + offset))

    hooked = HookedFedAvg(shifted_hook, node_names=node_names, min_nodes=members, node_timeout=node_timeout)
    strategy: Strategy = hooked if privacy is None else dp_strategy(hooked, privacy, members)
    if identity is not None:
        strategy = SignedUpdates(strategy, hooked, identity)

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
                "model": model.spec.to_json(),
                "round-offset": offset,
            }
        ),
        evaluate_fn=evaluate,
    )


def make_server_app(rounds: Callable[[Grid], None]) -> ServerApp:
    """A ServerApp whose main runs ``rounds`` on the runtime's Grid (e.g. ``partial(run_rounds, ...)``)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        rounds(grid)

    return app
