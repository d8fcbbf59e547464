"""The ``xpnet`` command: ``xpnet infer``, ``xpnet show``, ``xpnet plot ...``.

Errors that the user can fix (a missing file, a bad argument, a missing
library) end the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import XpnetError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (XpnetError, OSError) as err:
        print(f"xpnet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xpnet {args.command}: interrupted", file=sys.stderr)
        return 130


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpnet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    infer = commands.add_parser("infer", help="MNIST test accuracy with the book's weights (chapter 3)")
    _add_backend_args(infer)
    _add_data_args(infer)
    infer.add_argument(
        "--batch-size",
        type=positive_int,
        help="images per batch; any size gives the same result (default: 1000 on a CPU, 65536 on a GPU, "
        "10000 per dask chunk; the book uses 100)",
    )
    infer.add_argument("--json", action="store_true", help="print the result as one JSON object")
    infer.add_argument("--images", metavar="NPY", help="score a uint8 (n, 784) or (n, 28, 28) .npy instead of MNIST's "
                       "test set; memory-mapped, and read chunk by chunk with --backend dask")
    infer.add_argument("--labels", metavar="NPY", help="the (n,) labels .npy that goes with --images")
    infer.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --backend dask: run on the dask.distributed scheduler at ADDRESS")
    infer.set_defaults(run=_infer)

    bench = commands.add_parser("bench", help="time xpnet beside the chapter's loop, the BLAS floor and PyTorch")
    _add_backend_args(bench)
    _add_data_args(bench)
    bench.add_argument("--batch-size", type=positive_int, help="xpnet's images per batch (default: the backend's)")
    bench.add_argument("--tile", type=positive_int, default=10, help="copies of the test set to time (default 10)")
    bench.add_argument("--repeats", type=positive_int, default=5, help="interleaved repetitions (default 5)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    bench.add_argument("--sweep", action="store_true", help="time 10^3 .. 10^6 images (default on a GPU)")
    bench.set_defaults(run=_bench)

    show = commands.add_parser("show", help="write a PNG of a test digit with its label")
    _add_data_args(show, weights=False)
    show.add_argument("--index", type=int, default=0, help="which test image (default 0)")
    show.add_argument("--output", "-o", default="mnist_digit.png", help="PNG to write (default mnist_digit.png)")
    show.set_defaults(run=_show)

    plot = commands.add_parser("plot", help="plot a figure of the chapter")
    figures = plot.add_subparsers(dest="figure", required=True, metavar="FIGURE")
    activations = figures.add_parser("activations", help="step, sigmoid and ReLU on one figure")
    activations.add_argument("--output", "-o", default="activations.png", help="PNG to write")
    activations.set_defaults(run=_plot_activations)
    return parser


def _add_backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, or the backend's own device name")
    parser.add_argument(
        "--backend", default="numpy", help="numpy (cupy on cuda), cupy, array_api_strict, torch or dask"
    )


def _add_data_args(parser: argparse.ArgumentParser, weights: bool = True) -> None:
    parser.add_argument("--data-dir", help="directory holding the MNIST .gz files (default $XPNET_DATA_DIR)")
    if weights:
        parser.add_argument("--weights", help="weights .pkl or .npz (default $XPNET_WEIGHTS, else the book's)")


def _infer(args: argparse.Namespace) -> int:
    from .backend import get_backend, use_dask_scheduler
    from .network import accuracy
    from .weights import load_weights

    if (args.images is None) != (args.labels is None):
        raise XpnetError("--images and --labels go together")
    backend = get_backend(args.backend, args.device, batch_size=args.batch_size)
    if args.scheduler:
        if backend.name != "dask":
            raise XpnetError("--scheduler needs --backend dask")
        use_dask_scheduler(args.scheduler)
    weights = load_weights(args.weights)
    if not args.images:
        from dataset.mnist import load_array

        images, labels = load_array("test", "images", args.data_dir), load_array("test", "labels", args.data_dir)
    start = time.perf_counter()  # from host data (or the .npy files) to the accuracy on the host
    network = backend.asarrays(weights)
    if args.images:
        x, t = backend.load_npy(args.images), backend.load_npy(args.labels)
    else:
        x, t = backend.asarray(images), backend.asarray(labels)
    x = backend.xp.reshape(x, (x.shape[0], -1))
    score = accuracy(network, x, t, backend.batch_size)
    seconds = time.perf_counter() - start
    n = x.shape[0]
    result = {
        "accuracy": score,
        "correct": round(score * n),
        "images": n,
        "device": str(backend.device),
        "backend": backend.name,
        "batch_size": backend.batch_size,
        "seconds": seconds,
        "images_per_s": n / seconds,
    }
    _report(result, args.json)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from dataset.mnist import load_array

    from . import bench
    from .backend import get_backend
    from .weights import load_weights

    backend = get_backend(args.backend, args.device, batch_size=args.batch_size)
    if backend.name == "dask":
        raise XpnetError("bench times eager backends; for dask, time 'xpnet infer --backend dask' instead")
    images = load_array("test", "images", args.data_dir)
    report = bench.run(
        backend,
        load_weights(args.weights),
        images.reshape(images.shape[0], -1),
        load_array("test", "labels", args.data_dir),
        tile=args.tile,
        repeats=args.repeats,
        with_torch=not args.no_torch,
        sweep=args.sweep or backend.on_gpu,
    )
    print(bench.format_report(report))
    if args.json:
        bench.write_json(report, args.json)
    return 0


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    print(f"Accuracy:{result['accuracy']}")
    print(
        f"{result['images']} images on {result['backend']} ({result['device']}), batch {result['batch_size']}: "
        f"{result['seconds']:.3f} s, {result['images_per_s']:,.0f} images/s"
    )


def _show(args: argparse.Namespace) -> int:
    from dataset.mnist import load_array

    from .plots import save_digit

    images = load_array("test", "images", args.data_dir)
    labels = load_array("test", "labels", args.data_dir)
    if not -len(images) <= args.index < len(images):
        raise XpnetError(f"--index {args.index} is out of range: the test set has {len(images)} images")
    save_digit(images[args.index], int(labels[args.index]), args.output)
    print(f"wrote {args.output}: test image {args.index}, label {int(labels[args.index])}")
    return 0


def _plot_activations(args: argparse.Namespace) -> int:
    from .plots import save_activations

    save_activations(args.output)
    print(f"wrote {args.output}")
    return 0
