"""``xpnet show`` and ``xpnet plot``: pictures of digits, predictions and networks, from the registry's models."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from .. import plots
from ..backends import to_numpy
from ..errors import XpnetError
from ..functions import softmax
from ..io.files import read_capped
from ..scoring import predicted_labels
from ._common import add_backend_args, add_data_args, at_most, load_network, model_backend, progress_bar, test_set

MAX_GRID = 400  # digits in one picture (a 20 x 20 grid)
MAX_LOG = 1 << 24  # bytes of a training log to plot
INDEX_HELP = "which test image (default 0; a negative one counts from the end: -1 is the last)"


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    show = commands.add_parser("show", help="write a PNG of test digits with their labels (and predictions)")
    add_backend_args(show)
    add_data_args(show)
    show.add_argument("--index", type=int, default=0, help=INDEX_HELP)
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
    curves = figures.add_parser("curves", help="loss and accuracy per epoch of a training run's --json log")
    curves.add_argument("log", help="the lines that 'xpnet train --json' printed, saved to a file")
    curves.add_argument("--output", "-o", default="curves.png", help="PNG to write (default curves.png)")
    curves.set_defaults(run=_plot_curves)
    confusion = figures.add_parser("confusion", help="the test set's 10x10 confusion matrix with counts")
    filters = figures.add_parser("filters", help="the first layer's filters, random and learned (chapter 7)")
    probabilities = figures.add_parser("probs", help="one digit's softmax output as a bar chart beside it")
    probabilities.add_argument("--index", type=int, default=0, help=INDEX_HELP)
    for figure, run, default in (
        (confusion, _plot_confusion, "confusion.png"),
        (probabilities, _plot_probs, "probs.png"),
        (filters, _plot_filters, "filters.png"),
    ):
        add_backend_args(figure)
        add_data_args(figure)
        figure.add_argument("--output", "-o", default=default, help=f"PNG to write (default {default})")
        figure.set_defaults(run=run)
    return [show, *figures.choices.values()]


def _network(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The model, backend and network that the arguments name."""
    model, backend = model_backend(args)
    return model, backend, load_network(args, model, backend)


def _predicted(args: argparse.Namespace, images: np.ndarray) -> np.ndarray:
    """Predicted labels of ``images`` as a NumPy array, computed on the chosen backend in the model's batches."""
    _, backend, network = _network(args)
    with progress_bar(len(images), backend.batch_size) as update:
        try:
            return predicted_labels(network, backend.asarray(images), backend.batch_size, workers=backend.workers,
                                    progress=update)
        except ValueError as err:
            raise XpnetError(f"{args.weights or 'the weights'}: {err}") from None


def _test_index(index: int, count: int) -> int:
    """``--index`` as a position among ``count`` test images, a negative one counted from the end."""
    if not -count <= index < count:
        raise XpnetError(f"--index {index} is out of range: the test set has {count} images")
    return index % count


def _show(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    images, labels = test_set(args)
    if args.grid is None and not args.misclassified:
        args.index = _test_index(args.index, len(images))
        plots.save_digit(images[args.index], int(labels[args.index]), args.output)
        print(f"wrote {args.output}: test image {args.index}, label {int(labels[args.index])}")
        return 0
    predicted = _predicted(args, images)
    wrong = predicted != labels
    chosen = wrong.nonzero()[0] if args.misclassified else range(len(images))
    chosen = chosen[: args.grid or 16]
    plots.save_grid(images[chosen], labels[chosen], predicted[chosen], args.output)
    if args.misclassified:
        print(f"wrote {args.output}: {len(chosen)} of the {int(wrong.sum()):,} test images predicted wrong")
    else:
        print(f"wrote {args.output}: {len(chosen)} test images, {int(wrong[chosen].sum())} predicted wrong")
    return 0


def _plot_confusion(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    images, labels = test_set(args)
    predicted = _predicted(args, images)
    plots.save_confusion(labels, predicted, args.output)
    print(f"wrote {args.output}: accuracy {float((predicted == labels).mean())}")
    return 0


def _plot_probs(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    images, labels = test_set(args)
    args.index = _test_index(args.index, len(images))
    _, backend, network = _network(args)
    scores = network.predict(backend.asarray(images[args.index : args.index + 1]))
    probabilities = to_numpy(softmax(scores))[0]
    plots.save_probabilities(images[args.index], int(labels[args.index]), probabilities, args.output)
    print(f"wrote {args.output}: test image {args.index}, label {int(labels[args.index])}, "
          f"predicted {int(probabilities.argmax())}")
    return 0


def _plot_filters(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    model, backend = model_backend(args)
    network = load_network(args, model, backend)
    learned = to_numpy(network.params["W1"])
    initial = to_numpy(model.network(backend, seed=0, **({"sizes": _sizes_of(learned)} if model.dense else {}))
                       .params["W1"])
    plots.save_filters(initial, learned, args.output)
    print(f"wrote {args.output}: {learned.shape[-1] if learned.ndim == 2 else learned.shape[0]} first-layer filters "
          f"of {model.name}, random and learned")
    return 0


def _sizes_of(w1: np.ndarray) -> list[int]:
    """Sizes of a dense network whose first layer is ``w1``: only W1's shape matters for the picture."""
    return [w1.shape[0], w1.shape[1], 10]


def _is_fraction(value: Any) -> bool:
    return type(value) in (int, float) and 0 <= value <= 1


# What a line of xpnet train --json holds that the curves draw, and whether a value is one train prints.
EPOCH_FIELDS: dict[str, tuple[str, Any]] = {
    "epoch": ("a count from 1", lambda v: type(v) is int and v >= 1),
    "loss": ("a finite number from 0", lambda v: type(v) in (int, float) and math.isfinite(v) and v >= 0),
    **{key: ("a number from 0 to 1", _is_fraction)
       for key in ("train_accuracy", "validation_accuracy", "test_accuracy")},
}


def _read_epochs(path: str) -> list[dict[str, Any]]:
    """The epochs of an ``xpnet train --json`` log, each line checked where it is read (:data:`EPOCH_FIELDS`, the
    epochs increasing); lines that are JSON but no epoch are passed over."""
    text = read_capped(path, MAX_LOG, "a training log").decode(errors="replace")
    epochs: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            epoch = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise XpnetError(f"{path}: line {number} is not JSON (expected the lines of xpnet train --json)") from None
        if not (isinstance(epoch, dict) and {"epoch", "loss"} <= set(epoch)):
            continue
        for key, (holds, valid) in EPOCH_FIELDS.items():
            if key in epoch and not valid(epoch[key]):
                raise XpnetError(f"{path}: line {number}: {key} {epoch[key]!r}, not {holds}")
        if epochs and epoch["epoch"] <= epochs[-1]["epoch"]:
            raise XpnetError(f"{path}: line {number}: epoch {epoch['epoch']} after epoch {epochs[-1]['epoch']} (one "
                             "run's lines, in their order)")
        epochs.append(epoch)
    if not epochs:
        raise XpnetError(f"{path}: holds no epoch of xpnet train --json")
    return epochs


def _plot_curves(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    epochs = _read_epochs(args.log)
    plots.save_curves(epochs, args.output)
    print(f"wrote {args.output}: {len(epochs)} epoch{'' if len(epochs) == 1 else 's'}")
    return 0


def _plot_activations(args: argparse.Namespace) -> int:
    plots.output_format(args.output)
    plots.save_activations(args.output)
    print(f"wrote {args.output}")
    return 0
