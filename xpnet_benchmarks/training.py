"""Training timed side by side: an epoch of xpnet, of the book's layers (float64, as the book runs them) and of
PyTorch (float32), on one network from the same initial weights and with the book's optimizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xpnet.backends import Backend, get_backend, to_numpy
from xpnet.datasets.mnist import normalized
from xpnet.models import ModelEntry
from xpnet.nn import Model
from xpnet.train import SGD, Adam, train_epoch

from .book_layers import BookAdam, BookSGD, book_gradient, book_layers
from .timing import flops_per_image, interleaved, sgemm_peak, torch_installed

# the book's recipes: chapter 5's SGD for a dense network, chapters 7 and 8's Adam for a ConvNet
RECIPES = {True: ("sgd", 0.1), False: ("adam", 0.001)}
XPNET_OPTIMIZERS, BOOK_OPTIMIZERS = {"sgd": SGD, "adam": Adam}, {"sgd": BookSGD, "adam": BookAdam}
TRAINING_IMAGES = {True: 10_000, False: 1_000}  # the book's ConvNets take about 10 s a pass over 1,000 in float64


def run_training(model: ModelEntry, backend: Backend, images: np.ndarray, labels: np.ndarray, *, repeats: int = 3,
                 with_torch: bool = True, batch_size: int = 100,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time one epoch of ``model`` over the first images of ``images`` ((n, 784) uint8; labels (n,)), xpnet in
    float32 on ``backend`` beside the book's layers and PyTorch on the CPU (and xpnet on NumPy, where ``backend``
    is another library's CPU); the median of ``repeats`` counts
    (the weights go on learning between them). ``options``: the network's (a dense network's ``sizes``,
    ``activation``, ``weight_init_std``), for all three."""
    options = options or {}
    n = min(TRAINING_IMAGES[model.dense], len(labels))
    images, labels = images[:n], labels[:n]
    optimizer, lr = RECIPES[model.dense]
    net = model.network(backend, seed=0, dtype="float32", **options)
    initial = {key: to_numpy(value) for key, value in net.params.items()}
    epochs: dict[str, Callable[[], object]] = {
        "xpnet": _xpnet_epoch(net, backend, images, labels, XPNET_OPTIMIZERS[optimizer](lr), batch_size),
        "the book's layers": _book_epoch(model.network(get_backend("cpu"), **options), initial, images, labels,
                                         optimizer, lr, batch_size),
    }
    if backend.name != "numpy" and not backend.on_gpu:  # another library on the CPU, against NumPy in the same run
        on_numpy = model.network(get_backend("cpu"), seed=0, dtype="float32", **options)
        on_numpy.params = {key: np.array(value) for key, value in initial.items()}  # writable copies (JAX's are not)
        epochs["xpnet on NumPy"] = _xpnet_epoch(on_numpy, get_backend("cpu"), images, labels,
                                                XPNET_OPTIMIZERS[optimizer](lr), batch_size)
    if with_torch and not backend.on_gpu and torch_installed():
        from .pytorch import trainer

        epochs["PyTorch"] = trainer(model.network(get_backend("cpu"), **options), initial, images, labels, optimizer,
                                    lr, batch_size)
    flops = 3 * flops_per_image(model.network(get_backend("cpu"), **options))  # backward: twice the forward's
    shape = {key: options[key] for key in ("sizes", "activation") if key in options}
    report = {"model": model.name, **shape, "backend": backend.name, "device": str(backend.device), "dtype": "float32",
              "optimizer": f"{optimizer} (lr {lr})", "batch_size": batch_size, "images": n, "repeats": repeats,
              "methods": interleaved(epochs, repeats, n), "flops_per_image": flops, "sgemm_peak_gflops": sgemm_peak()}
    for result in report["methods"].values():
        result["gflops"] = flops * result["images_per_s"] / 1e9
    return report


def _xpnet_epoch(net: Model, backend: Backend, images: np.ndarray, labels: np.ndarray, optimizer: Any,
                 batch_size: int) -> Callable[[], float]:
    """An epoch of xpnet's ``net`` on ``backend``, its data placed there once; its epochs take the batch orders
    that every method's take (one seed)."""
    x, t = backend.asarray(images), backend.asarray(labels)
    rng = np.random.default_rng(0)
    return lambda: train_epoch(net, x, t, optimizer, rng, batch_size)


def _book_epoch(net: Model, initial: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray,
                optimizer: str, lr: float, batch_size: int) -> Callable[[], None]:
    """An epoch of the book's training loop on its restated layers (those of ``net``): float64, images normalized
    beforehand."""
    params = {key: value.astype(np.float64) for key, value in initial.items()}
    layers = book_layers(net, params)
    update = BOOK_OPTIMIZERS[optimizer](lr).update
    x = normalized(images).astype(np.float64).reshape(-1, *net.input_shape)
    rng = np.random.default_rng(0)

    def epoch() -> None:
        order = rng.permutation(len(labels))
        for start in range(0, len(labels), batch_size):
            rows = order[start : start + batch_size]
            update(params, book_gradient(layers, x[rows], labels[rows]))

    return epoch
