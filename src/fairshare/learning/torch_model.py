"""A member-supplied PyTorch network as a fairshare ``Model`` (the ``torch`` extra).

The network comes from a factory (a function returning an ``nn.Module``, named in the consortium file); its
parameters travel as ``list[numpy.ndarray]``: every floating-point entry of the module's ``state_dict`` (weights
and float buffers such as BatchNorm's running statistics), in ``state_dict`` order, as float32. Integer buffers
(BatchNorm's batch counter) stay local: they do not change what the network computes in evaluation mode.

Rows arrive flat, ``(m, n_features)``, as for every model, and are reshaped to ``input_shape`` (e.g. ``(1, 8,
8)`` for one-channel 8x8 images) before the forward pass. Local training minimises the mean cross-entropy with
SGD (optionally with momentum) or Adam, ``l2`` as weight decay. The network is not linear in its parameters
(``linear_in_params = False``): valuation evaluates coalitions with ``batched_logits``, many parameter sets in
one vectorised pass (``fairshare.valuation.batched``).

Building one sets torch's intra-op CPU threads for the process (``threads``, default 1): OpenMP's hand-off
between two threads cost more than the work for these small networks on busy cores (see docs/models.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from fairshare.errors import LearningError
from fairshare.learning.model import LogitClassifier, ModelSpec, Params, check_shapes

__all__ = ["TorchModel"]


def _device() -> torch.device:
    """A GPU when one is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchModel(LogitClassifier):
    """A classifier over ``factory()``'s network; ``input_shape`` is one sample's shape (no batch dimension)."""

    linear_in_params = False

    def __init__(
        self,
        factory: Callable[[], nn.Module],
        input_shape: Sequence[int],
        n_classes: int,
        *,
        l2: float = 0.0,
        optimiser: str = "sgd",
        momentum: float = 0.0,
        valuation_memory_mb: int = 256,
        threads: int = 1,
        compiled: bool = False,
        spec: ModelSpec | None = None,
    ) -> None:
        self.factory = factory
        self._spec = spec
        self.input_shape = tuple(int(d) for d in input_shape)
        self.n_features = math.prod(self.input_shape)
        self.n_classes = n_classes
        self.l2 = l2
        self.optimiser = optimiser
        self.momentum = momentum
        self.valuation_memory_mb = valuation_memory_mb
        self.compiled = compiled
        """Compile the batched pass (``torch.compile``); valuation then pads every chunk to one size, so the
        network is compiled once per process rather than once per chunk shape."""
        self._batched: Callable[..., torch.Tensor] | None = None
        self.device = _device()
        # torch's intra-op thread count is process-wide: the consortium's [model] threads sets it for the process
        torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.module = factory().to(self.device)
        state = self.module.state_dict()
        self.names = tuple(k for k, v in state.items() if v.is_floating_point())
        self.shapes = [tuple(state[k].shape) for k in self.names]
        self._activations_per_sample = self._count_activations()

    @property
    def spec(self) -> ModelSpec:
        """The spec this network was built from (``build_model``); members' nodes build it from the same."""
        if self._spec is None:
            raise LearningError(
                "this TorchModel was not built from a ModelSpec (use build_model); nodes cannot build it"
            )
        return self._spec

    # --- parameters -----------------------------------------------------------------------------------------

    def _export(self, module: nn.Module) -> Params:
        state = module.state_dict()
        return [state[k].detach().to("cpu", torch.float32).numpy().copy() for k in self.names]

    def tensors(self, params: Params, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """``params`` as the module's named tensors (on the model's device)."""
        return {
            name: torch.as_tensor(np.asarray(p), dtype=dtype, device=self.device)
            for name, p in zip(self.names, params, strict=True)
        }

    def init_params(self, seed: int = 0) -> Params:
        """The factory's own initialisation under ``torch.manual_seed(seed)``: the same seed, the same network."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._export(self.factory())

    def check(self, params: Params) -> None:
        """Raise ``LearningError`` unless ``params`` has this network's shapes and only finite values."""
        check_shapes(params, self.shapes)

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    # --- forward passes ---------------------------------------------------------------------------------------

    def inputs(self, X: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Flat rows reshaped to ``(m, *input_shape)`` on the model's device."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise LearningError(f"rows have shape {X.shape}; this network takes rows of {self.n_features} values")
        return torch.as_tensor(X, dtype=dtype, device=self.device).reshape(len(X), *self.input_shape)

    def logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        """One forward pass in evaluation mode: shape ``(m, n_classes)``, float64."""
        self.module.eval()
        with torch.no_grad():
            out = functional_call(self.module, self.tensors(params), (self.inputs(X),))
        return out.to("cpu", torch.float64).numpy()

    def batched_logits(self, stacked: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        """Logits of ``k`` parameter sets at once: ``stacked[j]`` is ``(k, *shapes[j])``; result ``(k, m, C)``.

        ``torch.vmap`` over ``functional_call``: one vectorised pass (convolutions become grouped convolutions),
        no Python loop over the parameter sets.
        """
        self.module.eval()
        if self._batched is None:

            def forward(inputs: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
                return functional_call(self.module, dict(zip(self.names, params, strict=True)), (inputs,))

            batched = torch.vmap(forward, in_dims=(None, *([0] * len(self.names))))
            self._batched = torch.compile(batched, dynamic=False) if self.compiled else batched
        with torch.no_grad():
            return self._batched(X, *stacked)

    def coalition_bytes(self, m: int) -> int:
        """Rough memory of one parameter set evaluated on ``m`` rows: its parameters and every layer's output
        (times 3 for what vmap keeps alive at once), in float32."""
        return 4 * (self.parameter_count + 3 * m * max(self._activations_per_sample, self.n_features))

    def _count_activations(self) -> int:
        """Elements every submodule outputs for one sample (measured once with forward hooks)."""
        total = 0

        def count(_module: nn.Module, _inputs: object, output: object) -> None:
            nonlocal total
            if isinstance(output, torch.Tensor):
                total += output.numel()

        hooks = [m.register_forward_hook(count) for m in self.module.modules()]
        try:
            self.module.eval()
            with torch.no_grad():
                self.module(torch.zeros((1, *self.input_shape), device=self.device))
        finally:
            for hook in hooks:
                hook.remove()
        return total

    # --- local training --------------------------------------------------------------------------------------

    def fit_local(
        self,
        params: Params,
        X: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        learning_rate: float,
        batch_size: int,
        rng: np.random.Generator,
    ) -> Params:
        """Mini-batch training from ``params`` (cross-entropy); returns new arrays, never mutates the input.

        Batches are drawn with ``rng`` and any randomness inside the network (dropout) is seeded from it, so a
        member's update is reproducible from the round's seed.
        """
        if len(y) == 0:
            raise LearningError("cannot train on an empty partition")
        self.module.load_state_dict(self.tensors(params), strict=False)
        self.module.train()
        trainable = [p for p in self.module.parameters() if p.requires_grad]
        if self.optimiser == "adam":
            optimiser: torch.optim.Optimizer = torch.optim.Adam(trainable, lr=learning_rate, weight_decay=self.l2)
        else:
            optimiser = torch.optim.SGD(trainable, lr=learning_rate, momentum=self.momentum, weight_decay=self.l2)
        inputs = self.inputs(X)
        labels = torch.as_tensor(y, dtype=torch.int64, device=self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            for _ in range(epochs):
                order = torch.as_tensor(rng.permutation(len(y)), device=self.device)
                for start in range(0, len(y), batch_size):
                    idx = order[start : start + batch_size]
                    optimiser.zero_grad(set_to_none=True)
                    loss = nn.functional.cross_entropy(self.module(inputs[idx]), labels[idx])
                    loss.backward()
                    optimiser.step()
        self.module.eval()
        return self._export(self.module)
