"""Side by side, in one process: xpnet's inference pass, the chapter's loop, the BLAS floor and PyTorch.

Each method runs on the same weights and images (the test set tiled), in
interleaved repetitions; the median time counts, and xpnet's speed-up over each
method is the median of the rounds' ratios. Every method must first get
the same accuracy on the untiled test set. Before each timed pass the bench
sleeps for ``SETTLE_S``: thread pools spin on after their last job (PyTorch's
OpenMP threads for up to 200 ms), and would otherwise steal cycles from
whichever method comes next. Then the method runs once untimed: after that
pause this project's 2-core VM runs its next few tens of milliseconds several
times slower, which would cost a short pass (a ConvNet on 1,000 images) a
third of its measured speed and the book's long one almost nothing.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xpnet.backends import Backend, get_backend, to_numpy
from xpnet.datasets.mnist import normalized
from xpnet.errors import BackendError
from xpnet.io.weights import dense_layers
from xpnet.models import ModelEntry
from xpnet.nn import Model
from xpnet.scoring import accuracy

from .references import book_convnet_accuracy, chapter_accuracy
from .timing import flops_per_image, interleaved, sgemm_peak, timed, torch_installed
from .training import run_training

__all__ = ["format_report", "run", "run_training", "write_json"]

Array = Any
SWEEP_SIZES = (10**3, 10**4, 10**5, 10**6)


CONVNET_IMAGES = 1000  # a ConvNet pass over this many test images per --tile (the book's code takes 4 s)


def run(
    model: ModelEntry,
    backend: Backend,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    weights: str | None = None,
    dtype: str | None = None,
    tile: int | None = None,
    repeats: int = 5,
    with_torch: bool = True,
    sweep: bool = False,
) -> dict[str, Any]:
    """Time every method side by side on the same weights and images, interleaved; the median counts.

    ``images``: (n, 784) uint8 test images; ``labels``: (n,). Chapter 3's
    network: every method first gets the same accuracy on the whole set,
    then runs on ``tile`` (default 10) copies of it. A ConvNet: the methods
    run on the first ``tile`` (default 1) x 1,000 images, their accuracies
    there are reported, and each method's GFLOP/s beside the machine's SGEMM
    peak. Returns the report as a dict; with ``sweep``, xpnet's images/s and
    input GB/s for 10^3 .. 10^6 images too.
    """
    floats = normalized(images)
    if model.dense:
        host = {key: to_numpy(value) for key, value in model.load(get_backend("cpu"), weights).params.items()}
        methods = _methods(model, backend, host, with_torch)
    else:
        host = None
        methods = _convnet_methods(model, backend, weights, dtype, with_torch)
    if backend.name != "numpy" and not backend.on_gpu:
        methods["xpnet on NumPy"] = _numpy_method(model, host or weights, dtype)
    if model.dense:
        accuracies = {
            name: prepare(images, floats, labels)() for name, prepare in methods.items() if name != "BLAS floor"
        }
        if len(set(accuracies.values())) != 1:
            raise AssertionError(f"methods disagree on the test set: {accuracies}")
        copies = tile or 10
        timed = np.tile(images, (copies, 1)), np.tile(floats, (copies, 1)), np.tile(labels, copies)
    else:
        index = np.arange((tile or 1) * CONVNET_IMAGES) % len(labels)
        timed = images[index], floats[index], labels[index]
        accuracies = {name: prepare(*timed)() for name, prepare in methods.items()}
    passes = {name: prepare(*timed) for name, prepare in methods.items()}
    n = len(timed[2])
    report = {
        "model": model.name,
        "backend": backend.name,
        "device": str(backend.device),
        "dtype": dtype or model.dtype,
        "batch_size": backend.batch_size,
        "workers": backend.workers,
        "images": n,
        "repeats": repeats,
        "accuracy": accuracies,
        "methods": interleaved(passes, repeats, n),
    }
    if not model.dense:
        flops = flops_per_image(model.network(get_backend("cpu")))
        report["flops_per_image"] = flops
        report["sgemm_peak_gflops"] = sgemm_peak()
        for result in report["methods"].values():
            result["gflops"] = flops * result["images_per_s"] / 1e9
    if sweep:  # a ConvNet costs 40 to 400 times chapter 3's network per image: it stops at 10^5
        sizes = SWEEP_SIZES if model.dense else SWEEP_SIZES[:-1]
        report["sweep"] = _sweep(methods["xpnet"], images, labels, repeats, sizes)
    return report


def _convnet_methods(model: ModelEntry, backend: Backend, weights: str | None, dtype: str | None,
                     with_torch: bool) -> dict[str, Callable]:
    """xpnet's pass, the book's layers restated (float64, batch 100) and PyTorch (float32), on one ConvNet."""
    book = {key: to_numpy(value) for key, value in model.load(get_backend("cpu"), weights, "float64").params.items()}
    shape = (-1, *model.input_shape)

    def book_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
        x = floats.astype(np.float64).reshape(shape)
        return lambda: book_convnet_accuracy(model.network(get_backend("cpu")), book, x, labels)

    methods: dict[str, Callable] = {"xpnet": _xpnet_method(model.load(backend, weights, dtype), backend),
                                    "the book's layers": book_pass}
    if with_torch and backend.name in ("numpy", "cupy", "torch", "jax") and torch_installed():
        device = "cuda" if backend.on_gpu else "cpu"

        def torch_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
            from .pytorch import torch_convnet_accuracy

            net = model.network(get_backend("cpu"))
            return lambda: torch_convnet_accuracy(net, book, floats.reshape(shape), labels, 100, device)

        methods["PyTorch"] = torch_pass
    return methods | _compiled_methods(model, backend, book)


def _compiled_methods(model: ModelEntry, backend: Backend, weights: dict[str, np.ndarray]) -> dict[str, Callable]:
    """JAX (``jax.jit`` over xpnet's own functions) and ONNX Runtime (on the exported model), when installed.

    Both start from the same uint8 images as xpnet's pass; ``weights`` are host arrays of ``model``.
    """
    methods: dict[str, Callable] = {}
    if importlib.util.find_spec("jax") is not None:
        try:
            jax_backend = backend if backend.name == "jax" else get_backend(
                "jax", "cuda" if backend.on_gpu else "cpu",
                batch_size=backend.batch_size if backend.name == "numpy" else None)
        except BackendError:
            jax_backend = None
        if jax_backend is not None and jax_backend is not backend:  # on JAX, the xpnet row is JAX's
            network = _on(model, jax_backend, weights)

            def jax_pass(images: np.ndarray, floats: np.ndarray | None, labels: np.ndarray) -> Callable[[], float]:
                return lambda: accuracy(network, jax_backend.asarray(images), jax_backend.asarray(labels),
                                        model.batch_size(jax_backend))

            methods["JAX (jit)"] = jax_pass
        if jax_backend is not None:
            from .jax_plain import jax_accuracy

            score = jax_accuracy(_on(model, get_backend("cpu"), weights), weights)
            batch = model.batch_size(jax_backend)

            def plain_pass(images: np.ndarray, floats: np.ndarray | None, labels: np.ndarray) -> Callable[[], float]:
                return lambda: score(images, labels, batch)

            methods["plain jax.jit"] = plain_pass
    if all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "ndonnx", "onnx")):
        from xpnet.export import onnx_model

        proto = onnx_model(model, _on(model, get_backend("cpu"), weights))

        def onnx_pass(images: np.ndarray, floats: np.ndarray | None, labels: np.ndarray) -> Callable[[], float]:
            import onnxruntime

            session = onnxruntime.InferenceSession(proto.SerializeToString())
            batch = model.batch["cpu"]  # it runs on the CPU, in xpnet's CPU batches: a ConvNet's whole set at
            # once would build patch matrices of gigabytes, ten times slower

            def labelled() -> np.ndarray:
                return np.concatenate([session.run(["label"], {"images": images[i : i + batch]})[0]
                                       for i in range(0, len(images), batch)])

            return lambda: float(np.mean(labelled() == labels))

        methods["ONNX Runtime"] = onnx_pass
    return methods


def _on(model: ModelEntry, backend: Backend, weights: dict[str, np.ndarray]) -> Model:
    """``model``'s network with the host ``weights`` (float32) on ``backend``."""
    sizes = [weights["W1"].shape[0], *(w.shape[1] for w, _ in dense_layers(weights))] if model.dense else None
    network = model.network(backend, dtype="float32", **({"sizes": sizes} if sizes else {}))
    network.params = {key: backend.asarray(value, dtype=backend.xp.float32) for key, value in weights.items()}
    return network


def _methods(model: ModelEntry, backend: Backend, weights: dict[str, np.ndarray], with_torch: bool,
             ) -> dict[str, Callable]:
    """name -> prepare(images, floats, labels) -> a callable that runs one timed pass and returns its accuracy.

    ``floats`` are the images normalized to float32 beforehand, as the chapter has them.
    """
    network = backend.asarrays(weights)

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

    methods: dict[str, Callable] = {"xpnet": _xpnet_method(_on(model, backend, weights), backend),
                                    "chapter loop": chapter_pass, "BLAS floor": floor_pass}
    if with_torch and backend.name in ("numpy", "cupy", "torch") and torch_installed():
        device = "cuda" if backend.on_gpu else "cpu"

        def torch_pass(images: np.ndarray, floats: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
            from .pytorch import torch_accuracy

            t = labels.astype(np.int64)
            return lambda: torch_accuracy(weights, floats, t, backend.batch_size, device)

        methods["PyTorch"] = torch_pass
    return methods | _compiled_methods(model, backend, weights)


def _xpnet_method(network: Model, backend: Backend) -> Callable:
    """xpnet's pass as ``xpnet infer`` runs it: uint8 to the device, converted one batch at a time (in
    ``backend``'s batches and workers), one transfer back."""

    def xpnet_pass(images: np.ndarray, floats: np.ndarray | None, labels: np.ndarray) -> Callable[[], float]:
        return lambda: accuracy(network, backend.asarray(images), backend.asarray(labels), backend.batch_size,
                                workers=backend.workers)

    return xpnet_pass


def _numpy_method(model: ModelEntry, weights: str | dict[str, np.ndarray] | None, dtype: str | None) -> Callable:
    """xpnet's pass on NumPy, in NumPy's own batches and workers: the row another CPU library is compared with."""
    numpy = get_backend("cpu")
    numpy = get_backend(numpy, batch_size=model.batch_size(numpy))
    network = _on(model, numpy, weights) if isinstance(weights, dict) else model.load(numpy, weights, dtype)
    return _xpnet_method(network, numpy)


def _sweep(xpnet_pass: Callable, images: np.ndarray, labels: np.ndarray, repeats: int,
           sizes: tuple[int, ...]) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        index = np.arange(size) % len(labels)
        one_pass = xpnet_pass(images[index], None, labels[index])
        one_pass()  # warm-up: kernels compiled, memory pools filled
        seconds = statistics.median(timed(one_pass) for _ in range(repeats))
        rows.append({"images": size, "seconds": seconds, "images_per_s": size / seconds,
                     "input_GB_per_s": size * images.shape[1] / seconds / 1e9})
    return rows


def format_report(report: dict[str, Any]) -> str:
    """The report as a text table, each method's speed with xpnet's speed-up over it (the median of the rounds'
    ratios; and GFLOP/s for ConvNets)."""
    if "accuracy" in report:
        where = "test set tiled" if "flops_per_image" not in report else "of the test set"
        title = (f"{report['model']}, {report['images']:,} images ({where}), {report['backend']} on "
                 f"{report['device']}, {report['dtype']}, xpnet batch {report['batch_size']} x {report['workers']} "
                 f"worker(s), median of {report['repeats']}; accuracy: "
                 + ", ".join(f"{name} {value}" for name, value in report["accuracy"].items()))
    else:
        name = report["model"]
        if "sizes" in report:
            name += f" ({'-'.join(map(str, report['sizes']))}, {report['activation']})"
        title = (f"training {name}: one epoch of {report['optimizer']} over {report['images']:,} images, "
                 f"batch {report['batch_size']}, {report['backend']} on {report['device']}, median of "
                 f"{report['repeats']}; xpnet {report['dtype']}, the book's layers float64, PyTorch float32")
    peak = report.get("sgemm_peak_gflops")
    lines = [title, f"{'method':<18}{'images/s':>14}{'xpnet is':>12}" + (f"{'GFLOP/s':>10}{'of SGEMM':>10}" if peak
                                                                          else "")]
    for name, result in report["methods"].items():
        line = f"{name:<18}{result['images_per_s']:>14,.0f}{result['xpnet_is']:>11.2f}x"
        if peak:
            line += f"{result['gflops']:>10.1f}{result['gflops'] / peak:>10.0%}"
        lines.append(line)
    if peak:
        lines.append(f"{report['flops_per_image'] / 1e6:.1f} MFLOP per image; this machine's SGEMM peak "
                     f"(2048^3 float32 products): {peak:.1f} GFLOP/s")
    for row in report.get("sweep", []):
        lines.append(
            f"xpnet on {row['images']:>9,} images: {row['images_per_s']:>14,.0f} images/s, "
            f"{row['input_GB_per_s']:.2f} GB/s of uint8 input"
        )
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
