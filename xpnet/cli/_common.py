"""What the commands share: argument types and options, the model and backend they name, the test set,
progress bars and the one-line report."""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..backends import FLOAT_DTYPES, LIBRARIES, Backend, get_backend, to_numpy
from ..config import get_config
from ..errors import BackendError, DataError, XpnetError
from ..io.weights import read_about
from ..models import MODELS, ModelEntry
from ..nn import ACTIVATIONS

# Upper limits, so that no argument can make a command allocate or spawn without bound.
MAX_BATCH = 1 << 24  # images per batch (16,777,216: 13 GB of uint8 pixels)
MAX_WORKERS = 256  # threads; a pass never uses more than it has batches
MAX_LAYER = 65_536  # units in one layer of a network that --sizes shapes
MAX_PARAMETERS = 8_000_000  # weights of a network that --sizes shapes (a 64 MiB file in float64)


def positive_int(text: str, most: int = 1 << 62) -> int:
    """argparse type: an integer from 1 to ``most``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        bounds = "a positive integer" if most == 1 << 62 else f"an integer from 1 to {most:,}"
        raise argparse.ArgumentTypeError(f"expected {bounds}, got {text!r}")
    return value


def at_most(most: int) -> Callable[[str], int]:
    """argparse type: an integer from 1 to ``most``."""

    def parse(text: str) -> int:
        return positive_int(text, most)

    parse.__name__ = "integer"
    return parse


def finite_positive(text: str) -> float:
    """argparse type: a finite, positive number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, or the backend's own device name")
    parser.add_argument("--backend", default="numpy",
                        help="numpy (cupy on cuda), " + ", ".join(name for name in LIBRARIES if name != "numpy"))


def add_model_arg(parser: argparse.ArgumentParser) -> None:
    action = parser.add_argument(
        "--model", choices=tuple(MODELS), help="; ".join(f"{name}: {model.title}" for name, model in MODELS.items())
        + " (default: the model a weights file of xpnet train records, else %(fallback)s)")
    action.fallback = "mlp"  # type: ignore[attr-defined]  # argparse fills %(fallback)s from the action


def add_weights_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", choices=FLOAT_DTYPES, help="the network's float dtype (default: the one a weights "
                        "file of xpnet train records, else float32; float16 runs the book's half_float_network.py "
                        "experiment)")
    variables = ", ".join(f"${model.weights_variable} for {name}" for name, model in MODELS.items()
                          if model.weights_variable)
    parser.add_argument("--weights", help="weights .pkl or .npz (default: the book's for the model, downloaded from "
                        f"its pinned commit; {variables})")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    add_model_arg(parser)
    add_weights_args(parser)
    parser.add_argument("--data-dir", help="directory holding the MNIST files (default $XPNET_DATA_DIR)")


INITS = ("xavier", "he")  # --init: the book's two initial weight scales by name
TRAIN_DTYPES = ("float32", "float64")  # xpnet train's --dtype; the first is the default


def seed(text: str) -> int:
    """argparse type: a seed for numpy.random.default_rng, an integer from 0 to 2**63 - 1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**63 - 1, got {text!r}")
    return value


# The settings that pick a run's images and their order, recorded in its file and kept by --resume: each one's
# default, and its parser (the option's, which checks a recorded value too).
RUN_SETTINGS: dict[str, tuple[int | None, Callable[[str], int]]] = {
    "seed": (0, seed), "batch_size": (100, at_most(MAX_BATCH)), "validation": (None, positive_int),
    "train_on_test": (None, positive_int)}

# What chapter 6 adds to a dense network, recorded in its file (``infer`` rebuilds the network from it) and kept by
# --resume: each one's flag, its value when not given, and whether a recorded value is one it takes.
DENSE_EXTRAS: dict[str, tuple[str, Any, Callable[[Any], bool]]] = {
    "weight_decay": ("--weight-decay", 0.0, lambda v: type(v) in (int, float) and math.isfinite(v) and v >= 0),
    "dropout": ("--dropout", 0.0, lambda v: type(v) in (int, float) and 0 <= v < 1),
    "batch_norm": ("--batch-norm", False, lambda v: type(v) is bool),
}


def _parses(parse: Callable[[str], int], value: Any) -> bool:
    """Whether ``value`` is an integer that ``parse`` (an option's argparse type) takes as it is."""
    try:
        return type(value) is int and parse(str(value)) == value
    except argparse.ArgumentTypeError:
        return False


def _run_settings(value: Any) -> bool:
    return isinstance(value, dict) and all(
        (kept is None and RUN_SETTINGS[name][0] is None) or _parses(RUN_SETTINGS[name][1], kept)
        for name, kept in value.items() if name in RUN_SETTINGS)


# What xpnet train records beside the weights: each field's name in an error, what it holds, and whether a value
# is one that train writes. A file's record is checked against it once, where it is read (:func:`read_record`).
_EXTRAS_HOLD = {"weight_decay": "a finite number from 0", "dropout": "a number from 0 up to 1",
                "batch_norm": "true or false"}
RECORD: dict[str, tuple[str, str, Callable[[Any], bool]]] = {
    "model": ("model", "one of " + ", ".join(MODELS), lambda v: isinstance(v, str) and v in MODELS),
    "dtype": ("dtype", " or ".join(TRAIN_DTYPES), lambda v: isinstance(v, str) and v in TRAIN_DTYPES),
    "optimizer": ("optimizer", "a name", lambda v: isinstance(v, str)),
    "lr": ("learning rate", "a finite positive number",
           lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0),
    "activation": ("--activation", "one of " + ", ".join(ACTIVATIONS),
                   lambda v: isinstance(v, str) and v in ACTIVATIONS),
    "init": ("--init", " or ".join(INITS), lambda v: isinstance(v, str) and v in INITS),
    **{name: (flag, _EXTRAS_HOLD[name], valid) for name, (flag, _, valid) in DENSE_EXTRAS.items()},
    "run": ("run settings", "the run's --seed, --batch-size, --validation and --train-on-test as they parse",
            _run_settings),
    "epoch": ("epoch", "a count from 0", lambda v: type(v) is int and v >= 0),
}


def read_record(path: str) -> dict[str, Any]:
    """What xpnet train recorded in the weights file ``path`` (``{}`` for a file it did not write), each field
    checked against :data:`RECORD`; DataError names the first that train would not have written."""
    record = read_about(path)
    for name, (label, holds, valid) in RECORD.items():
        if name in record and not valid(record[name]):
            raise DataError(f"{path}: its record says {label} {record[name]!r}, not {holds}")
    model = record.get("model")
    for name in ("activation", "init", *DENSE_EXTRAS):  # what shapes a dense network, and only one
        if name in record and not (model and MODELS[model].dense):
            raise DataError(f"{path}: its record says {RECORD[name][0]} {record[name]!r} for "
                            f"{f'model {model}' if model else 'no model'}, which takes no such option")
    return record


def add_dense_args(parser: argparse.ArgumentParser) -> None:
    """--sizes, --activation and --init: the shape of a dense network to train."""
    parser.add_argument("--sizes", help="with --model mlp: layer sizes (default 784,50,100,10)")
    parser.add_argument("--activation", choices=tuple(ACTIVATIONS),
                        help="with --model mlp: hidden activation (default sigmoid)")
    parser.add_argument("--init", choices=INITS, help="with --model mlp: weight scale (default xavier)")


def dense_options(args: argparse.Namespace, model: ModelEntry) -> dict[str, Any]:
    """The network options of --sizes, --activation and --init for a dense ``model``; none for another, which
    refuses them."""
    if model.dense:
        return {"sizes": _sizes(args.sizes, model.features, model.classes),
                "activation": args.activation or "sigmoid", "weight_init_std": args.init or "xavier"}
    if args.sizes or args.activation or args.init:
        raise XpnetError(f"--sizes, --activation and --init are for dense networks such as --model mlp; "
                         f"{model.name} is the book's as it is")
    return {}


def _sizes(text: str | None, features: int, classes: int) -> list[int]:
    """--sizes as a list of layer sizes, range-checked (default: chapter 3's)."""
    text = text or f"{features},50,100,{classes}"
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        raise XpnetError(f"--sizes {text!r}: expected integers separated by commas") from None
    if (len(sizes) < 2 or sizes[0] != features or sizes[-1] != classes
            or not 1 <= min(sizes) <= max(sizes) <= MAX_LAYER):
        raise XpnetError(f"--sizes {text!r}: needs {features} inputs first, {classes} outputs last, each from 1 to "
                         f"{MAX_LAYER:,}")
    parameters = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))
    if parameters > MAX_PARAMETERS:
        raise XpnetError(f"--sizes {text!r}: {parameters:,} weights, more than the {MAX_PARAMETERS:,} "
                         "this command trains")
    return sizes


def chosen_model(args: argparse.Namespace) -> ModelEntry:
    """The model that --model names, or that the --weights file records (with its --activation); the file's
    record must agree with --model when both are there."""
    about = read_record(args.weights) if getattr(args, "weights", None) else {}
    recorded = about.get("model")
    if args.model and recorded and args.model != recorded:
        raise XpnetError(f"{args.weights}: holds {recorded} weights (as xpnet train recorded), not {args.model}'s")
    args.model_named = bool(args.model or recorded)
    args.model = args.model or recorded or args.fallback_model
    if getattr(args, "activation", None) and not MODELS[args.model].dense:
        raise XpnetError(f"--activation is for dense networks such as --model mlp; {args.model} has its own")
    args.layers_recorded = _recorded_layers(about) if about and MODELS[args.model].dense else {}
    if hasattr(args, "activation") and not args.activation and about.get("activation"):
        args.activation = about["activation"]
    args.dtype_recorded = hasattr(args, "dtype") and not args.dtype and "dtype" in about
    if args.dtype_recorded:
        args.dtype = about["dtype"]  # scored in the dtype it was trained in
    return MODELS[args.model]


def _recorded_layers(record: dict[str, Any]) -> dict[str, Any]:
    """A dense network's layers as xpnet train recorded them (:func:`read_record`): its activation, and the
    dropout and batch normalization of --dropout and --batch-norm, the network's options that rebuild it."""
    dropout, batch_norm = record.get("dropout", 0), record.get("batch_norm", False)
    return {"activation": record.get("activation", "sigmoid"),
            **({"dropout": dropout, "batch_norm": batch_norm} if dropout or batch_norm else {})}


def model_backend(args: argparse.Namespace) -> tuple[ModelEntry, Backend]:
    """The model that --model (or the weights file) names, and the backend of --backend and --device with the
    model's batch size."""
    model = chosen_model(args)
    model.claim_memory()
    backend = get_backend(args.backend, args.device, workers=getattr(args, "workers", None))
    backend = get_backend(backend, batch_size=getattr(args, "batch_size", None) or model.batch_size(backend))
    if getattr(args, "batch_size", None):  # the models' own batches are small: only a chosen one is measured
        _check_batch_memory(model, backend, getattr(args, "dtype", None) or model.dtype)
    return model, backend


def _check_batch_memory(model: ModelEntry, backend: Backend, dtype: str) -> None:
    """Refuse, before any work, batches that would not fit in the memory available: the GPU's free memory on a
    GPU (as its library reports it), else the host's."""
    available = backend.free_memory() if backend.on_gpu else available_memory()
    if backend.lazy or available is None:
        return
    where = "this GPU has" if backend.on_gpu else "this machine has"
    per_image = model.bytes_per_image(dtype)
    need = per_image * backend.batch_size * backend.workers
    if need > available // 2:  # half: the data, the weights and other processes need the rest
        most = max(1, available // 2 // (per_image * backend.workers))
        raise XpnetError(f"--batch-size {backend.batch_size}: {model.name} in {dtype} takes about "
                         f"{per_image / 1e6:.2f} MB an image in a pass, {need / 2**30:,.1f} GiB for "
                         f"{backend.workers} batch(es) at once, and {where} {available / 2**30:.1f} GiB "
                         f"available: --batch-size at most {most:,} here")


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's MemAvailable), or None where the system does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load_network(args: argparse.Namespace, model: ModelEntry, backend: Backend, images: int = 10_000) -> Any:
    """--model's network with --weights (or the book's) in --dtype on ``backend``, with --activation if given.

    float16 on a CPU is warned of, up front, with an estimate of the time for ``images`` images.
    """
    options = dict(args.layers_recorded)
    if getattr(args, "activation", None):
        options["activation"] = args.activation
    try:
        network = model.load(backend, args.weights, args.dtype, **options)
    except BackendError as err:
        if getattr(args, "dtype_recorded", False):
            raise BackendError(f"{err}; {args.weights} was trained in {args.dtype} (--dtype float32 scores it in "
                               "float32)") from None
        raise
    except DataError as err:
        fits = [] if args.model_named or not args.weights else [
            name for name, other in MODELS.items() if other is not model and _loads(other, backend, args.weights)]
        if fits:
            raise DataError(f"{err} (these are {MODELS[fits[0]].title}'s weights: add --model {fits[0]})") from None
        raise

    if args.dtype == "float16" and not backend.on_gpu:
        plan, sample = network.inference(pixels=True), backend.asarray(np.zeros((8, model.features), np.uint8))
        start = time.perf_counter()
        to_numpy(plan.forward(sample))
        seconds = (time.perf_counter() - start) / 8 * images / backend.workers
        print(f"warning: float16 on the CPU has no fast matrix products (NumPy has no float16 BLAS): {images:,} "
              f"images will take about {seconds:,.0f} s; float32 is the fast CPU dtype", file=sys.stderr)
    return network


def _loads(model: ModelEntry, backend: Backend, weights: str) -> bool:
    """Whether ``weights`` are ``model``'s."""
    try:
        model.load(backend, weights)
    except XpnetError:
        return False
    return True


def test_set(args: argparse.Namespace) -> tuple[Any, Any]:
    """The test images as uint8 (10000, 784) and their labels, from --data-dir or the cache."""
    from ..datasets.mnist import load_array

    images = load_array("test", "images", args.data_dir)
    return images.reshape(images.shape[0], -1), load_array("test", "labels", args.data_dir)


@contextmanager
def progress_bar(total: int, batch_size: int) -> Iterator[Callable[[int], object] | None]:
    """tqdm's ``update`` for work of more than a few batches when progress is wanted, else None."""
    if total <= 5 * batch_size or not get_config().show_progress:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="img", unit_scale=True, leave=False) as bar:
        yield bar.update
