"""The registry of networks: each model's constructor, pretrained weights and default batch, in one place.

``infer``, ``bench``, ``show``, ``plot``, ``train`` and ``export`` read this
table and never know a model by name: a new model is one more entry here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backend import Backend, dtype_named
from .errors import DataError
from .network import Classifier, Network, check_network
from .weights import BookWeights, load_weights

DTYPES = ("float64", "float32", "float16")


@dataclass(frozen=True)
class Model:
    """A network xpnet knows: how to build it, its pretrained weights, its batch sizes and dtype."""

    name: str
    title: str
    weights: BookWeights
    build: Callable[..., Any]  # (seed=, backend=, dtype=) -> a network of xpnet.train with initial weights
    batch: dict[str, int]  # images per batch by kind of device: "cpu", "gpu", "dask" (one chunk)
    accuracy: float  # the book's test accuracy with the pretrained weights (float64)
    fused: bool = False  # inference runs chapter 3's folded path on the weights dict (xpnet.network)
    dtype: str = "float32"  # for inference

    def batch_size(self, backend: Backend) -> int:
        return self.batch["dask" if backend.name == "dask" else "gpu" if backend.on_gpu else "cpu"]

    def network(self, backend: Backend, *, seed: int | None = 0, dtype: str | None = None) -> Any:
        """A new network with initial (random) weights, to train."""
        return self.build(seed=seed, backend=backend, dtype=dtype or self.dtype)

    def load(self, backend: Backend, path: str | os.PathLike[str] | None = None, dtype: str | None = None,
             ) -> Network | Classifier:
        """The network with the book's weights (or those in ``path``), in ``dtype`` on ``backend``."""
        target = dtype_named(backend, dtype or self.dtype)
        # chapter 3's network is the default one: $XPNET_WEIGHTS, when set, stands in for its file
        weights = load_weights(path, book=None if self.fused else self.weights,
                               check=check_network if self.fused else None)
        arrays = {key: backend.asarray(value, dtype=target) for key, value in weights.items()}
        if self.fused:
            return arrays
        net = self.build(seed=0, backend=backend, dtype=dtype or self.dtype)
        try:
            net.params = arrays
        except (KeyError, ValueError) as err:
            raise DataError(f"{path or self.weights.path}: not {self.title}'s weights: {err.args[0]}") from None
        return net


def _chapter_3_network(**options: Any) -> Any:
    from .train import MultiLayerNet

    return MultiLayerNet(784, [50, 100], 10, "sigmoid", "xavier", **options)


def _simple_convnet(**options: Any) -> Any:
    from .train import SimpleConvNet

    return SimpleConvNet(**options)


def _deep_convnet(**options: Any) -> Any:
    from .train import DeepConvNet

    return DeepConvNet(**options)


MODELS = {
    model.name: model
    for model in (
        Model("mlp", "chapter 3's 784-50-100-10 network",
              BookWeights("ch03/sample_weight.pkl",
                          "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13", 181_853),
              _chapter_3_network, {"cpu": 500, "gpu": 1 << 16, "dask": 10_000}, 0.9352, fused=True),
        Model("simple_convnet", "chapter 7's SimpleConvNet",
              BookWeights("ch07/params.pkl", "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779",
                          3_471_538),
              _simple_convnet, {"cpu": 100, "gpu": 2048, "dask": 1000}, 0.9890),
        Model("deep_convnet", "chapter 8's DeepConvNet",
              BookWeights("ch08/deep_convnet_params.pkl",
                          "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc", 989_346),
              _deep_convnet, {"cpu": 32, "gpu": 1024, "dask": 1000}, 0.9935),
    )
}
