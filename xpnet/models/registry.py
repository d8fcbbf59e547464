"""The registry of networks, as data: each model's constructor, input, classes, pretrained weights, batch
sizes and the book's accuracy. Every command, the export and the bench read this table and never know a
model by name: a new model is a module of its own and one :func:`register` call.
"""

from __future__ import annotations

import math
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends import Backend, dtype_of, get_backend
from ..backends.runtime import reuse_freed_memory
from ..errors import DataError, XpnetError
from ..io.weights import SAMPLE_WEIGHT, BookWeights, check_network, dense_layers, load_weights
from ..nn import Model
from ..nn.model import undrawn
from .convnets import DeepConvNet, SimpleConvNet
from .mlp import chapter3_network


@dataclass(frozen=True)
class ModelEntry:
    """A network xpnet knows.

    ``build(seed=, backend=, dtype=)`` makes it with initial (random)
    weights; ``input_shape`` is one sample's, ``classes`` the outputs';
    ``weights`` the book's pinned file (None: weights must be given);
    ``batch`` the images per batch by kind of backend (``"cpu"``, ``"gpu"``,
    ``"chunks"``: one chunk of a lazy backend; ``"pool"``: a CPU library with
    a thread pool of its own, given one batch at a time, ``"cpu"``'s where not
    given); ``accuracy`` the book's test accuracy with those weights (float64);
    ``dense`` whether its weights are a dense network's
    (W1..Wn, b1..bn, checked as such; its layer sizes are the weights', and it takes ``activation``).
    """

    name: str
    title: str
    build: Callable[..., Model]
    input_shape: tuple[int, ...]
    classes: int
    weights: BookWeights | None
    batch: dict[str, int] = field(default_factory=lambda: {"cpu": 100, "gpu": 1024, "chunks": 1000})
    accuracy: float | None = None
    dtype: str = "float32"  # for inference
    dense: bool = False
    weights_variable: str | None = None  # an environment variable that names weights to use instead of the book's
    reuse_memory: bool = True  # whether a process that runs it keeps freed memory (large arrays every batch)
    insides: tuple[str, ...] = ()  # the layers whose outputs pictures of the network show (hidden units, feature maps)

    @property
    def features(self) -> int:
        """Numbers in one sample (784 for MNIST's images)."""
        return math.prod(self.input_shape)

    def bytes_per_image(self, dtype: str | None = None) -> int:
        """The memory one more image adds to an inference pass of uint8 pixels on NumPy, measured with
        ``tracemalloc`` on batches of 1 and 3 images (a network with random weights, built for the purpose). Each
        peak is the least of three passes: ``tracemalloc`` counts what other threads allocate meanwhile too."""
        plan = self.network(get_backend("numpy"), dtype=dtype).inference(pixels=True)

        def peak(n: int) -> int:
            images = np.zeros((n, self.features), np.uint8)
            tracemalloc.start()
            try:
                plan.forward(images)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        one, three = (min(peak(n) for _ in range(3)) for n in (1, 3))
        return max(1, (three - one) // 2)

    def claim_memory(self) -> None:
        """Have the C library keep freed memory for reuse in this process where the model's batches allocate
        arrays of the same large sizes every time (:func:`~xpnet.backends.runtime.reuse_freed_memory`): for a
        command, which owns its process."""
        if self.reuse_memory:
            reuse_freed_memory()

    def batch_size(self, backend: Backend) -> int:
        """Images per batch on ``backend``: its own choice if it has one, else this model's for its kind."""
        return backend.batch_size or self.batch.get(backend.kind, self.batch["cpu"])

    def network(self, backend: Backend, *, seed: int | None = 0, dtype: str | None = None, **options: Any) -> Model:
        """A new network with initial (random) weights."""
        return self.build(seed=seed, backend=backend, dtype=dtype or self.dtype, **options)

    def load(self, backend: Backend, path: str | os.PathLike[str] | None = None, dtype: str | None = None,
             **options: Any) -> Model:
        """The network with the book's weights (or those in ``path``), in ``dtype`` on ``backend``."""
        target = dtype_of(backend.xp, dtype or self.dtype, backend.device)
        if path is None and self.weights is None and not (self.weights_variable and os.environ.get(
                self.weights_variable)):
            raise XpnetError(f"{self.name} has no published weights: give a weights file (--weights)")
        weights = load_weights(path, book=self.weights, check=check_network if self.dense else None,
                               environment=self.weights_variable)
        source = path or (self.weights_variable and os.environ.get(self.weights_variable)) or self.weights.path
        if self.dense:  # its layer sizes are the weights' own, from this model's input to its classes
            sizes = [weights["W1"].shape[0], *(w.shape[1] for w, _ in dense_layers(weights))]
            if (sizes[0], sizes[-1]) != (self.features, self.classes):
                raise DataError(f"{source}: holds a network from {sizes[0]} inputs to {sizes[-1]} outputs; {self.name} "
                                f"takes {self.features} pixels and gives {self.classes} classes")
            options.setdefault("sizes", sizes)
        largest = float(np.finfo(dtype or self.dtype).max)
        for key, value in weights.items():
            if value.size and max(-float(value.min()), float(value.max())) > largest:  # no copy of the weights
                raise DataError(f"{source}: {key} holds values beyond {dtype or self.dtype}'s range (--dtype float64 "
                                "holds them)")
        with undrawn():  # the file's weights replace them
            net = self.network(backend, dtype=dtype, **options)
        try:
            net.arrays = {key: backend.asarray(value, dtype=target) for key, value in weights.items()}
        except (KeyError, ValueError) as err:
            title = f"a {'-'.join(map(str, options['sizes']))} network" if self.dense else self.title
            raise DataError(f"{source}: not {title}'s weights: {err.args[0]}") from None
        return net


MODELS: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to :data:`MODELS` (replacing one of the same name); returns it."""
    MODELS[entry.name] = entry
    return entry




register(ModelEntry(
    "mlp", "chapter 3's 784-50-100-10 network", chapter3_network, (784,), 10, SAMPLE_WEIGHT,
    {"cpu": 500, "pool": 2000, "gpu": 1 << 16, "chunks": 10_000}, 0.9352, dense=True, weights_variable="XPNET_WEIGHTS",
    reuse_memory=False, insides=("Activation_function1", "Activation_function2")))
register(ModelEntry(
    "simple_convnet", "chapter 7's SimpleConvNet", SimpleConvNet, (1, 28, 28), 10,
    BookWeights("ch07/params.pkl", "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779", 3_471_538),
    {"cpu": 100, "gpu": 2048, "chunks": 1000}, 0.9890, weights_variable="XPNET_WEIGHTS_SIMPLE_CONVNET",
    insides=("Relu1",)))
register(ModelEntry(
    "deep_convnet", "chapter 8's DeepConvNet", DeepConvNet, (1, 28, 28), 10,
    BookWeights("ch08/deep_convnet_params.pkl", "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc",
                989_346),
    {"cpu": 48, "gpu": 1024, "chunks": 1000}, 0.9935, weights_variable="XPNET_WEIGHTS_DEEP_CONVNET",
    insides=("Relu1",)))
