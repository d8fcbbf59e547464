"""Side by side, in one process: xpnet's inference pass, the chapter's loop, the BLAS floor and PyTorch.

Each method runs on the same weights and images (the test set tiled), in
interleaved repetitions; the median time counts. Every method must first get
the same accuracy on the untiled test set. Before each timed pass the bench
sleeps for ``SETTLE_S``: thread pools spin on after their last job (PyTorch's
OpenMP threads for up to 200 ms), and would otherwise steal cycles from
whichever method comes next.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xpnet.datasets.mnist import normalized

from .backend import Backend, array_namespace, to_numpy
from .network import accuracy

Array = Any
SWEEP_SIZES = (10**3, 10**4, 10**5, 10**6)
SETTLE_S = 0.3


def chapter_accuracy(network: dict[str, Array], x: Array, t: Array, batch_size: int = 100) -> float:
    """The chapter's ``neuralnet_mnist.py`` loop, restated for any namespace (3-layer networks).

    float32 input normalized beforehand, sigmoid as 1 / (1 + exp(-x)), the
    book's softmax kept, and each batch's count added to a Python number:
    one device-to-host transfer per batch.
    """
    xp = array_namespace(x, t)
    w1, b1, w2, b2, w3, b3 = (network[key] for key in ("W1", "b1", "W2", "b2", "W3", "b3"))

    def sigmoid(a: Array) -> Array:
        return 1 / (1 + xp.exp(-a))

    def softmax(a: Array) -> Array:  # as printed in the chapter: one max and one sum for the whole batch
        exp_a = xp.exp(a - xp.max(a))
        return exp_a / xp.sum(exp_a)

    count = 0
    n = x.shape[0]
    for i in range(0, n, batch_size):
        stop = min(i + batch_size, n)
        z1 = sigmoid(x[i:stop, ...] @ w1 + b1)
        z2 = sigmoid(z1 @ w2 + b2)
        y = softmax(z2 @ w3 + b3)
        count += int(xp.sum(xp.astype(xp.argmax(y, axis=1) == t[i:stop], xp.int64)))
    return count / n


def torch_accuracy(network: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, batch_size: int, device: str) -> float:
    """The same network written the usual PyTorch way: float32 tensors, addmm, ``torch.inference_mode``."""
    import torch

    target = torch.device(device)
    w = {key: torch.from_numpy(value).to(target) for key, value in network.items()}
    with torch.inference_mode():
        inputs, labels = torch.from_numpy(x).to(target), torch.from_numpy(t).to(target)
        correct = torch.zeros((), dtype=torch.int64, device=target)
        for i in range(0, len(inputs), batch_size):
            h = torch.sigmoid(torch.addmm(w["b1"], inputs[i : i + batch_size], w["W1"]))
            h = torch.sigmoid(torch.addmm(w["b2"], h, w["W2"]))
            scores = torch.addmm(w["b3"], h, w["W3"])
            correct += (scores.argmax(dim=1) == labels[i : i + batch_size]).sum()
        return correct.item() / len(inputs)


def run(
    backend: Backend,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    tile: int = 10,
    repeats: int = 5,
    with_torch: bool = True,
    sweep: bool = False,
) -> dict[str, Any]:
    """Check every method on the untiled set, then time them on ``tile`` copies of it.

    ``images``: (n, 784) uint8; ``labels``: (n,). Returns a dict with the
    accuracies, each method's median seconds and images/s, and (with
    ``sweep``) xpnet's images/s and input GB/s for 10^3 .. 10^6 images.
    """
    methods = _methods(backend, weights, with_torch)
    floats = normalized(images)
    accuracies = {
        name: prepare(images, floats, labels)() for name, prepare in methods.items() if name != "BLAS floor"
    }
    if len(set(accuracies.values())) != 1:
        raise AssertionError(f"methods disagree on the test set: {accuracies}")
    tiled_images, tiled_labels = np.tile(images, (tile, 1)), np.tile(labels, tile)
    tiled_floats = np.tile(floats, (tile, 1))  # once, shared by the methods that start from float32
    passes = {name: prepare(tiled_images, tiled_floats, tiled_labels) for name, prepare in methods.items()}
    n = len(tiled_labels)
    results = _interleaved(passes, repeats, n)
    report = {
        "backend": backend.name,
        "device": str(backend.device),
        "batch_size": backend.batch_size,
        "workers": backend.workers,
        "images": n,
        "repeats": repeats,
        "accuracy": accuracies,
        "methods": results,
    }
    if sweep:
        report["sweep"] = _sweep(methods["xpnet"], images, labels, repeats)
    return report


def _methods(backend: Backend, weights: dict[str, np.ndarray], with_torch: bool) -> dict[str, Callable]:
    """name -> prepare(images, floats, labels) -> a callable that runs one timed pass and returns its accuracy.

    ``floats`` are the images normalized to float32 beforehand, as the chapter has them.
    """
    network = backend.asarrays(weights)

    def xpnet_pass(images: np.ndarray, floats: np.ndarray | None, labels: np.ndarray) -> Callable[[], float]:
        # as xpnet infer runs it: uint8 to the device, converted one batch at a time, one transfer back
        return lambda: accuracy(network, backend.asarray(images), backend.asarray(labels), backend.batch_size,
                                workers=backend.workers)

    def chapter_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
        x, t = backend.asarray(floats), backend.asarray(labels)
        return lambda: chapter_accuracy(network, x, t)

    def floor_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
        x = backend.asarray(floats)
        inputs = [x, x @ network["W1"]]
        inputs.append(inputs[1] @ network["W2"])

        def products() -> float:
            for a, key in zip(inputs, ("W1", "W2", "W3"), strict=True):
                last = a @ network[key]
            to_numpy(last[-1, :])  # waits for the device to finish
            return float("nan")

        return products

    methods: dict[str, Callable] = {"xpnet": xpnet_pass, "chapter loop": chapter_pass, "BLAS floor": floor_pass}
    if with_torch and backend.name in ("numpy", "cupy", "torch") and _torch_installed():
        device = "cuda" if backend.on_gpu else "cpu"

        def torch_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
            t = labels.astype(np.int64)
            return lambda: torch_accuracy(weights, floats, t, backend.batch_size, device)

        methods["PyTorch"] = torch_pass
    return methods


def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def _sweep(xpnet_pass: Callable, images: np.ndarray, labels: np.ndarray, repeats: int) -> list[dict[str, float]]:
    rows = []
    for size in SWEEP_SIZES:
        index = np.arange(size) % len(labels)
        one_pass = xpnet_pass(images[index], None, labels[index])
        one_pass()  # warm-up: kernels compiled, memory pools filled
        seconds = statistics.median(_timed(one_pass) for _ in range(repeats))
        rows.append({"images": size, "seconds": seconds, "images_per_s": size / seconds,
                     "input_GB_per_s": size * images.shape[1] / seconds / 1e9})
    return rows


def _interleaved(passes: dict[str, Callable[[], object]], repeats: int, images: int) -> dict[str, dict[str, float]]:
    """Run every pass ``repeats`` times, interleaved, each after a settling pause; median seconds and images/s."""
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(repeats):
        for name, one_pass in passes.items():
            time.sleep(SETTLE_S)
            times[name].append(_timed(one_pass))
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    return {name: {"seconds": seconds, "images_per_s": images / seconds} for name, seconds in medians.items()}


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run_training(
    backend: Backend, images: np.ndarray, labels: np.ndarray, *, repeats: int = 3, with_torch: bool = True
) -> dict[str, Any]:
    """Time one epoch of SGD (lr 0.1, batch 100, 784-50-100-10 sigmoid) over ``images``, beside PyTorch.

    Both start from the same weights and walk the same batch order; the median
    epoch of ``repeats`` counts (the weights go on learning between them).
    """
    from .train import SGD, MultiLayerNet, train_epoch

    net = MultiLayerNet(784, [50, 100], 10, "sigmoid", "xavier", seed=0, backend=backend, dtype="float32")
    initial = {key: to_numpy(value) for key, value in net.params.items()}
    x, t = backend.asarray(images), backend.asarray(labels)
    rng = np.random.default_rng(0)
    epochs = {"xpnet": lambda: train_epoch(net, x, t, SGD(0.1), rng)}
    if with_torch and not backend.on_gpu and backend.name in ("numpy", "torch") and _torch_installed():
        epochs["PyTorch"] = _torch_trainer(initial, images, labels)
    n = len(labels)
    return {
        "backend": backend.name,
        "device": str(backend.device),
        "images": n,
        "repeats": repeats,
        "methods": _interleaved(epochs, repeats, n),
    }


def _torch_trainer(initial: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
    """One epoch of the same network and SGD, written the usual PyTorch way (autograd, cross_entropy)."""
    import torch

    params = {key: torch.from_numpy(value.copy()).requires_grad_() for key, value in initial.items()}
    x, t = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    rng = np.random.default_rng(0)

    def epoch() -> float:
        total = torch.zeros(())
        order = torch.from_numpy(rng.permutation(len(t)))
        for start in range(0, len(t), 100):
            rows = order[start : start + 100]
            h = torch.sigmoid(torch.addmm(params["b1"], x[rows].float() / 255, params["W1"]))
            h = torch.sigmoid(torch.addmm(params["b2"], h, params["W2"]))
            loss = torch.nn.functional.cross_entropy(torch.addmm(params["b3"], h, params["W3"]), t[rows])
            loss.backward()
            with torch.no_grad():
                for value in params.values():
                    value -= 0.1 * value.grad
                    value.grad = None
                total += loss * len(rows)
        return total.item() / len(t)

    return epoch


def format_report(report: dict[str, Any]) -> str:
    """The report as a text table, each method's speed with xpnet's speed-up over it."""
    xpnet_rate = report["methods"]["xpnet"]["images_per_s"]
    if "accuracy" in report:
        title = (f"{report['images']:,} images (test set tiled), {report['backend']} on {report['device']}, "
                 f"xpnet batch {report['batch_size']} x {report['workers']} worker(s), median of {report['repeats']}; "
                 "accuracy on the test set: "
                 + ", ".join(f"{name} {value}" for name, value in report["accuracy"].items()))
    else:
        title = (f"training: one SGD epoch over {report['images']:,} images, batch 100, xpnet's BLAS on one thread, "
                 f"{report['backend']} on {report['device']}, median of {report['repeats']}")
    lines = [title, f"{'method':<14}{'images/s':>14}{'xpnet is':>12}"]
    for name, result in report["methods"].items():
        lines.append(f"{name:<14}{result['images_per_s']:>14,.0f}{xpnet_rate / result['images_per_s']:>11.2f}x")
    for row in report.get("sweep", []):
        lines.append(
            f"xpnet on {row['images']:>9,} images: {row['images_per_s']:>14,.0f} images/s, "
            f"{row['input_GB_per_s']:.2f} GB/s of uint8 input"
        )
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
