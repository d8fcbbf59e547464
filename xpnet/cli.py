"""The ``xpnet`` command: ``xpnet infer``, ``xpnet show``, ``xpnet plot ...``.

Errors that the user can fix (a missing file, a bad argument, a missing
library) end the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import XpnetError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "model", None) is not None:
        from .backend import reuse_freed_memory
        from .models import MODELS

        if not MODELS[args.model].fused:
            # a layered network allocates the same large arrays for every batch; chapter 3's folded pass
            # gains nothing from this, and would hold 3 MB more at its peak
            reuse_freed_memory()
    if getattr(args, "quiet", False):
        from . import download

        download.SHOW_PROGRESS = False
    try:
        return args.run(args)
    except (XpnetError, OSError) as err:
        print(f"xpnet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xpnet {args.command}: interrupted", file=sys.stderr)
        return 130


# The command line's learning rates: higher than the book's class defaults, so that a few epochs show learning.
TRAIN_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.002, "adam": 0.005}


# Upper limits, so that no argument can make a command allocate or spawn without bound.
MAX_BATCH = 1 << 24  # images per batch (16,777,216: 13 GB of uint8 pixels)
MAX_WORKERS = 256  # threads; a pass never uses more than it has batches
MAX_GRID = 400  # digits in one picture (a 20 x 20 grid)
MAX_TILE = 100  # copies of the test set in the benchmark (a million images, 3.9 GB in float32)
MAX_LAYER = 65_536  # units in one layer of `train --sizes`
MAX_PARAMETERS = 50_000_000  # weights of a `train --sizes` network (200 MB in float32)
MIN_DASK_CHUNK = 1000  # images per dask chunk: each chunk costs a few tasks of scheduling


def positive_int(text: str, most: int = 1 << 62) -> int:
    """argparse type: an integer from 1 to ``most``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {most:,}, got {text!r}")
    return value


def at_most(most: int) -> Callable[[str], int]:
    """argparse type: an integer from 1 to ``most``."""

    def parse(text: str) -> int:
        return positive_int(text, most)

    parse.__name__ = "integer"
    return parse


def seed(text: str) -> int:
    """argparse type: a seed for numpy.random.default_rng, an integer from 0 to 2**63 - 1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**63 - 1, got {text!r}")
    return value


def learning_rate(text: str) -> float:
    """argparse type: a finite, positive number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpnet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    infer = commands.add_parser("infer", help="MNIST test accuracy with the book's weights (chapters 3, 7, 8)")
    _add_backend_args(infer)
    _add_data_args(infer)
    infer.add_argument(
        "--batch-size",
        type=at_most(MAX_BATCH),
        help="images per batch; any size gives the same result (default: the model's for the device, e.g. "
        "500 on a CPU and 65536 on a GPU for mlp; the book uses 100)",
    )
    infer.add_argument("--workers", type=at_most(MAX_WORKERS),
                       help="batches scored at once, one per core (default: every core with NumPy, else 1)")
    infer.add_argument("--json", action="store_true", help="print the result as one JSON object")
    infer.add_argument("--images", metavar="NPY", help="score a uint8 (n, 784) or (n, 28, 28) .npy instead of MNIST's "
                       "test set; memory-mapped, and read chunk by chunk with --backend dask")
    infer.add_argument("--labels", metavar="NPY", help="the (n,) labels .npy that goes with --images")
    infer.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --backend dask: run on the dask.distributed scheduler at ADDRESS")
    infer.add_argument("--activation", choices=("sigmoid", "relu"), default="sigmoid",
                       help="with --model mlp: the hidden layers' activation (default sigmoid, the book's)")
    infer.set_defaults(run=_infer)

    train = commands.add_parser("train", help="train a network by backpropagation (chapters 4 to 7)")
    _add_backend_args(train)
    _add_model_arg(train)
    train.add_argument("--data-dir", help="directory holding the MNIST .gz files (default $XPNET_DATA_DIR)")
    train.add_argument("--epochs", type=at_most(10_000), default=5, help="passes over the training set (default 5)")
    train.add_argument("--batch-size", type=at_most(MAX_BATCH), default=100, help="images per step (default 100)")
    train.add_argument("--optimizer", choices=tuple(TRAIN_LR), default="adam", help="default adam")
    train.add_argument("--lr", type=learning_rate, help="learning rate (default: "
                       + ", ".join(f"{name} {lr}" for name, lr in TRAIN_LR.items()) + "; the book's are lower)")
    train.add_argument("--seed", type=seed, default=0, help="seeds the weights and the batch order (default 0)")
    train.add_argument("--sizes", help="with --model mlp: layer sizes (default 784,50,100,10)")
    train.add_argument("--activation", choices=("sigmoid", "relu"),
                       help="with --model mlp: hidden activation (default sigmoid)")
    train.add_argument("--init", choices=("xavier", "he"), help="with --model mlp: weight scale (default xavier)")
    train.add_argument("--save", default="xpnet_weights.npz", help="where to save the weights (default %(default)s)")
    train.add_argument("--train-on-test", type=positive_int, metavar="N",
                       help="train on the first N test images and test on the rest (without the training split)")
    train.add_argument("--json", action="store_true", help="print each epoch as one JSON object")
    train.set_defaults(run=_train)

    bench = commands.add_parser("bench", help="time xpnet beside the chapter's loop, the BLAS floor and PyTorch")
    _add_backend_args(bench)
    _add_data_args(bench)
    bench.add_argument("--batch-size", type=at_most(MAX_BATCH),
                       help="xpnet's images per batch (default: the model's for the device)")
    bench.add_argument("--workers", type=at_most(MAX_WORKERS), help="xpnet's batches at once (default: the backend's)")
    bench.add_argument("--tile", type=at_most(MAX_TILE),
                       help=f"copies of the test set to time (default 10 for mlp; ConvNets: 1,000 images; "
                       f"at most {MAX_TILE})")
    bench.add_argument("--repeats", type=at_most(1000), default=5, help="interleaved repetitions (default 5)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    bench.add_argument("--sweep", action="store_true", help="time 10^3 .. 10^6 images (default on a GPU)")
    bench.add_argument("--train", action="store_true", help="time a training epoch instead (beside PyTorch)")
    bench.set_defaults(run=_bench)

    export = commands.add_parser("export", help="write a network as an ONNX model, traced from xpnet's own code")
    _add_model_arg(export)
    export.add_argument("--dtype", choices=("float32", "float64"), help="the network's dtype (default float32)")
    export.add_argument("--weights", help="weights .pkl or .npz (default: the book's for the model)")
    export.add_argument("--input", choices=("uint8", "float32"), default="uint8",
                        help="the model's input: uint8 pixels, scaled inside the graph (default), or float32 in [0, 1]")
    export.add_argument("--output", "-o", default="model.onnx", help="the .onnx file to write (default model.onnx)")
    export.set_defaults(run=_export)

    show = commands.add_parser("show", help="write a PNG of test digits with their labels (and predictions)")
    _add_backend_args(show)
    _add_data_args(show)
    show.add_argument("--index", type=int, default=0, help="which test image (default 0)")
    show.add_argument("--grid", type=at_most(MAX_GRID), metavar="N",
                      help=f"N digits with true and predicted labels (16 with --misclassified; at most {MAX_GRID})")
    show.add_argument("--misclassified", action="store_true", help="only digits the network gets wrong (a grid)")
    show.add_argument("--output", "-o", default="mnist_digit.png", help="PNG to write (default mnist_digit.png)")
    show.set_defaults(run=_show)

    plot = commands.add_parser("plot", help="plot a figure of the chapter")
    figures = plot.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    activations = figures.add_parser("activations", help="step, sigmoid and ReLU on one figure")
    activations.add_argument("--output", "-o", default="activations.png", help="PNG to write")
    activations.set_defaults(run=_plot_activations)
    confusion = figures.add_parser("confusion", help="the test set's 10x10 confusion matrix with counts")
    filters = figures.add_parser("filters", help="the first layer's filters, random and learned (chapter 7)")
    probabilities = figures.add_parser("probs", help="one digit's softmax output as a bar chart beside it")
    probabilities.add_argument("--index", type=int, default=0, help="which test image (default 0)")
    for figure, run, default in (
        (confusion, _plot_confusion, "confusion.png"),
        (probabilities, _plot_probs, "probs.png"),
        (filters, _plot_filters, "filters.png"),
    ):
        _add_backend_args(figure)
        _add_data_args(figure)
        figure.add_argument("--output", "-o", default=default, help=f"PNG to write (default {default})")
        figure.set_defaults(run=run)
    for command in [*(c for name, c in commands.choices.items() if name != "plot"), *figures.choices.values()]:
        command.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return parser


def _add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, or the backend's own device name")
    parser.add_argument(
        "--backend", default="numpy", help="numpy (cupy on cuda), cupy, array_api_strict, torch or dask"
    )


def _add_model_arg(parser: argparse.ArgumentParser) -> None:
    from .models import MODELS

    parser.add_argument("--model", choices=tuple(MODELS), default="mlp",
                        help="; ".join(f"{name}: {model.title}" for name, model in MODELS.items()) + " (default mlp)")


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    from .models import DTYPES

    _add_model_arg(parser)
    parser.add_argument("--dtype", choices=DTYPES, help="the network's float dtype (default float32; float16 runs "
                        "the book's half_float_network.py experiment)")
    parser.add_argument("--data-dir", help="directory holding the MNIST .gz files (default $XPNET_DATA_DIR)")
    parser.add_argument("--weights", help="weights .pkl or .npz (default: the book's for the model, downloaded from "
                        "its pinned commit; $XPNET_WEIGHTS for mlp)")


def _infer(args: argparse.Namespace) -> int:
    from .backend import use_dask_scheduler
    from .files import check_image_files
    from .network import accuracy

    if (args.images is None) != (args.labels is None):
        raise XpnetError("--images and --labels go together")
    model, backend = _model_backend(args)
    if args.activation != "sigmoid" and not model.fused:
        raise XpnetError(f"--activation is for --model mlp; {args.model} has its own")
    if backend.name == "dask" and backend.batch_size < MIN_DASK_CHUNK:
        raise XpnetError(f"--batch-size {backend.batch_size}: with dask it is the chunk size, at least "
                         f"{MIN_DASK_CHUNK:,} images (each chunk costs a few tasks to schedule)")
    if args.scheduler:
        if backend.name != "dask":
            raise XpnetError("--scheduler needs --backend dask")
        use_dask_scheduler(args.scheduler)
    network = model.load(backend, args.weights, args.dtype)
    if args.images:
        check_image_files(args.images, args.labels)
    else:
        images, labels = _test_set(args)
    start = time.perf_counter()  # from host data (or the .npy files) to the accuracy on the host
    if args.images:
        x, t = backend.load_npy(args.images), backend.load_npy(args.labels)
    else:
        x, t = backend.asarray(images), backend.asarray(labels)
    x = backend.xp.reshape(x, (x.shape[0], -1))
    with _progress_bar(x.shape[0], backend.batch_size) as update:
        try:
            score = accuracy(network, x, t, backend.batch_size, progress=update, activation=args.activation,
                             workers=backend.workers)
        except (ValueError, TypeError) as err:  # the images or labels do not fit the network
            raise XpnetError(f"{args.images or 'MNIST test set'}: {err}") from None
    seconds = time.perf_counter() - start
    n = x.shape[0]
    result = {
        "accuracy": score,
        "correct": round(score * n),
        "images": n,
        "model": model.name,
        "dtype": args.dtype or model.dtype,
        "device": str(backend.device),
        "backend": backend.name,
        "batch_size": backend.batch_size,
        "workers": backend.workers,
        "seconds": seconds,
        "images_per_s": n / seconds,
    }
    _report(result, args.json)
    return 0


def _model_backend(args: argparse.Namespace) -> tuple[Any, Any]:
    """The model that --model names, and the backend of --backend and --device with the model's batch size."""
    from .backend import get_backend
    from .models import MODELS

    model = MODELS[args.model]
    backend = get_backend(args.backend, args.device, workers=getattr(args, "workers", None))
    return model, get_backend(backend, batch_size=getattr(args, "batch_size", None) or model.batch_size(backend))


def _train(args: argparse.Namespace) -> int:
    from xpnet.datasets.mnist import load_split

    from .backend import get_backend
    from .download import check_writable
    from .models import MODELS
    from .network import check_network
    from .train import OPTIMIZERS, MultiLayerNet, fit
    from .weights import save_weights

    check_writable(args.save)
    model = MODELS[args.model]
    backend = get_backend(args.backend, args.device)
    if model.fused:
        sizes = _sizes(args.sizes or "784,50,100,10")
        net = MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], args.activation or "sigmoid", args.init or "xavier",
                            seed=args.seed, backend=backend, dtype="float32")
    elif args.sizes or args.activation or args.init:
        raise XpnetError(f"--sizes, --activation and --init are for --model mlp; {args.model} is the book's as it is")
    else:
        net = model.network(backend, seed=args.seed, dtype="float32")
    if args.train_on_test:
        images, labels = _test_set(args)
        cut = args.train_on_test
        if cut >= len(labels):
            raise XpnetError(f"--train-on-test {cut}: must leave test images (there are {len(labels)})")
        train_set, test_set = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    else:
        train_set = load_split("train", normalize=False, data_dir=args.data_dir)
        test_set = load_split("test", normalize=False, data_dir=args.data_dir)
    train_set, test_set = (tuple(backend.asarray(a) for a in pair) for pair in (train_set, test_set))
    optimizer = OPTIMIZERS[args.optimizer](lr=TRAIN_LR[args.optimizer] if args.lr is None else args.lr)
    n = train_set[0].shape[0]
    with _progress_bar(n * args.epochs, args.batch_size) as update:
        for epoch in fit(net, train_set, test_set, epochs=args.epochs, optimizer=optimizer,
                         batch_size=args.batch_size, seed=args.seed, progress=update):
            if args.json:
                print(json.dumps(epoch), flush=True)
            else:
                print(f"epoch {epoch['epoch']}/{args.epochs}: loss {epoch['loss']:.4f}, "
                      f"train accuracy {epoch['train_accuracy']:.4f}, test accuracy {epoch['test_accuracy']:.4f}, "
                      f"{epoch['seconds']:.2f} s ({epoch['images_per_s']:,.0f} images/s)", flush=True)
    save_weights(args.save, net.params, check=check_network if model.fused else None)
    hint = " --activation relu" if args.activation == "relu" else ""
    print(f"saved {args.save} ({n} training images); score it with: "
          f"xpnet infer --model {model.name} --weights {args.save}{hint}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _sizes(text: str) -> list[int]:
    """--sizes as a list of layer sizes, range-checked."""
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        raise XpnetError(f"--sizes {text!r}: expected integers separated by commas") from None
    if len(sizes) < 2 or sizes[0] != 784 or sizes[-1] != 10 or not 1 <= min(sizes) <= max(sizes) <= MAX_LAYER:
        raise XpnetError(f"--sizes {text!r}: needs 784 inputs first, 10 outputs last, each from 1 to {MAX_LAYER:,}")
    parameters = sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(sizes))
    if parameters > MAX_PARAMETERS:
        raise XpnetError(f"--sizes {text!r}: {parameters:,} weights, more than the {MAX_PARAMETERS:,} "
                         "this command trains")
    return sizes


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    model, backend = _model_backend(args)
    if backend.name == "dask":
        raise XpnetError("bench times eager backends; for dask, time 'xpnet infer --backend dask' instead")
    images, labels = _test_set(args)
    if args.train:
        report = bench.run_training(backend, images, labels, repeats=args.repeats, with_torch=not args.no_torch)
    else:
        report = bench.run(model, backend, images, labels, weights=args.weights, dtype=args.dtype, tile=args.tile,
                           repeats=args.repeats, with_torch=not args.no_torch, sweep=args.sweep or backend.on_gpu)
    print(bench.format_report(report))
    if args.json:
        bench.write_json(report, args.json)
    return 0


@contextmanager
def _progress_bar(total: int, batch_size: int) -> Iterator[Callable[[int], object] | None]:
    """tqdm's ``update`` for work of more than a few batches when progress is wanted, else None."""
    from .download import show_progress

    if total <= 5 * batch_size or not show_progress():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="img", unit_scale=True, leave=False) as bar:
        yield bar.update


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    print(f"Accuracy:{result['accuracy']}")
    print(
        f"{result['images']} images, {result['model']} in {result['dtype']}, on {result['backend']} "
        f"({result['device']}), batch {result['batch_size']} x {result['workers']} worker(s): "
        f"{result['seconds']:.3f} s, {result['images_per_s']:,.0f} images/s"
    )


def _test_set(args: argparse.Namespace) -> tuple[Any, Any]:
    """The test images as uint8 (10000, 784) and their labels, from --data-dir or the cache."""
    from xpnet.datasets.mnist import load_array

    images = load_array("test", "images", args.data_dir)
    return images.reshape(images.shape[0], -1), load_array("test", "labels", args.data_dir)


def _network(args: argparse.Namespace, images: Any) -> tuple[Any, Any]:
    """The backend of --backend and --device, and the model's network on it, seen to map pixels to 10 classes."""
    from .network import predict

    model, backend = _model_backend(args)
    network = model.load(backend, args.weights, args.dtype)
    try:
        outputs = predict(network, backend.asarray(images[:1])).shape[-1]
    except ValueError as err:
        raise XpnetError(f"{args.weights or model.weights.path}: {err}") from None
    if outputs != 10:
        raise XpnetError(f"{args.weights or model.weights.path}: a network from 784 inputs to {outputs} outputs; "
                         "the pictures are of MNIST, 784 pixels and 10 classes")
    return backend, network


def _predicted(args: argparse.Namespace, images: Any) -> Any:
    """Predicted labels of ``images`` as a NumPy array, computed on the chosen backend in the model's batches."""
    import numpy as np

    from .backend import to_numpy
    from .network import classify

    backend, network = _network(args, images)
    return np.concatenate([to_numpy(classify(network, backend.asarray(images[start : start + backend.batch_size])))
                           for start in range(0, len(images), backend.batch_size)])


def _check_index(index: int, count: int) -> None:
    if not -count <= index < count:
        raise XpnetError(f"--index {index} is out of range: the test set has {count} images")


def _show(args: argparse.Namespace) -> int:
    from . import plots

    plots.output_format(args.output)
    images, labels = _test_set(args)
    if args.grid is None and not args.misclassified:
        _check_index(args.index, len(images))
        plots.save_digit(images[args.index], int(labels[args.index]), args.output)
        print(f"wrote {args.output}: test image {args.index}, label {int(labels[args.index])}")
        return 0
    predicted = _predicted(args, images)
    chosen = (predicted != labels).nonzero()[0] if args.misclassified else range(len(images))
    chosen = chosen[: args.grid or 16]
    plots.save_grid(images[chosen], labels[chosen], predicted[chosen], args.output)
    wrong = int((predicted[chosen] != labels[chosen]).sum())
    print(f"wrote {args.output}: {len(chosen)} test images, {wrong} predicted wrong")
    return 0


def _plot_confusion(args: argparse.Namespace) -> int:
    from . import plots

    plots.output_format(args.output)
    images, labels = _test_set(args)
    predicted = _predicted(args, images)
    plots.save_confusion(labels, predicted, args.output)
    print(f"wrote {args.output}: accuracy {float((predicted == labels).mean())}")
    return 0


def _plot_probs(args: argparse.Namespace) -> int:
    from . import plots
    from .backend import to_numpy
    from .network import predict

    plots.output_format(args.output)
    images, labels = _test_set(args)
    _check_index(args.index, len(images))
    backend, network = _network(args, images)
    probabilities = to_numpy(predict(network, backend.asarray(images[args.index : args.index + 1 or None])))[0]
    plots.save_probabilities(images[args.index], int(labels[args.index]), probabilities, args.output)
    print(f"wrote {args.output}: test image {args.index}, label {int(labels[args.index])}, "
          f"predicted {int(probabilities.argmax())}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .backend import get_backend
    from .download import check_writable
    from .export import onnx_model, save_onnx
    from .models import MODELS

    check_writable(args.output)
    model = MODELS[args.model]
    network = model.load(get_backend("cpu"), args.weights, args.dtype)
    save_onnx(onnx_model(model, network, input_dtype=args.input), args.output)
    print(f"wrote {args.output}: {model.title}, input 'images' {args.input} (N, 784), outputs 'probabilities' "
          "(N, 10) and 'label' (N,)")
    return 0


def _plot_filters(args: argparse.Namespace) -> int:
    from . import plots
    from .backend import to_numpy

    plots.output_format(args.output)
    model, backend = _model_backend(args)
    network = model.load(backend, args.weights, args.dtype)
    learned = to_numpy(network["W1"] if model.fused else network.params["W1"])
    initial = to_numpy(model.network(backend, seed=0).params["W1"])
    plots.save_filters(initial, learned, args.output)
    print(f"wrote {args.output}: {learned.shape[-1] if learned.ndim == 2 else learned.shape[0]} first-layer filters "
          f"of {model.name}, random and learned")
    return 0


def _plot_activations(args: argparse.Namespace) -> int:
    from .plots import output_format, save_activations

    output_format(args.output)
    save_activations(args.output)
    print(f"wrote {args.output}")
    return 0
