"""Pictures of the chapter, written to PNG with matplotlib's Agg backend (no window needed).

matplotlib is an optional extra: ``pip install 'xpnet[plot]'``. Every function
takes host (NumPy) arrays: images as uint8 (n, 784) or (n, 28, 28), labels
and predictions as integers (n,).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import XpnetError
from .io.download import check_writable, save_atomically

PathLike = str | os.PathLike[str]
WRONG = "tab:red"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise XpnetError("plotting needs matplotlib: pip install 'xpnet[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show_digit(axes: Any, image: np.ndarray) -> None:
    axes.imshow(np.reshape(image, (28, 28)), cmap="gray_r", interpolation="nearest", vmin=0, vmax=255)
    axes.set_xticks([])
    axes.set_yticks([])


def output_format(path: PathLike) -> str:
    """The format of the picture ``path`` names: its suffix, if matplotlib writes it, else PNG when it has none.

    Raises XpnetError for a suffix that matplotlib does not write (naming
    those it does), and where every output is refused (:func:`~xpnet.io.download.check_writable`): checked
    before any work, so none is wasted. Missing folders are made, as for every file xpnet writes.
    """
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix and suffix not in formats:
        raise XpnetError(f"{path}: matplotlib does not write {suffix!r} pictures; it writes "
                         f"{', '.join(sorted(formats))}")
    check_writable(path)
    return suffix or "png"


def _save(figure: Any, path: PathLike) -> None:
    """Write ``figure`` to exactly ``path`` (PNG unless its suffix names another format), whole or not at all."""
    fmt = output_format(path)
    try:
        save_atomically(Path(path), lambda temporary: figure.savefig(temporary, format=fmt))
    finally:
        _pyplot().close(figure)


def save_digit(image: np.ndarray, label: int, path: PathLike) -> None:
    """One digit, enlarged, titled with its label: 300x330 pixels."""
    figure, axes = _pyplot().subplots(figsize=(3, 3.3), dpi=100)
    _show_digit(axes, image)
    axes.set_title(f"label {label}")
    _save(figure, path)


def save_grid(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path: PathLike) -> None:
    """Digits in a square-ish grid, each titled 'true → predicted'; wrong predictions in red."""
    count = len(images)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    figure, axes = _pyplot().subplots(rows, columns, figsize=(1.25 * columns, 1.5 * rows), dpi=100, squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    for ax, image, label, guess in zip(axes.flat, images, labels, predicted, strict=False):
        _show_digit(ax, image)
        wrong = int(label) != int(guess)
        ax.set_title(f"{label} → {guess}", color=WRONG if wrong else "black", fontsize=10)
        if wrong:
            for spine in ax.spines.values():
                spine.set_edgecolor(WRONG)
                spine.set_linewidth(2)
    figure.tight_layout()
    _save(figure, path)


def save_confusion(labels: np.ndarray, predicted: np.ndarray, path: PathLike) -> None:
    """The 10x10 confusion matrix (rows: true digit, columns: predicted) with its counts; classes 0..9 only."""
    for name, values in (("labels", labels), ("predictions", predicted)):
        if values.size and not 0 <= int(values.min()) <= int(values.max()) <= 9:
            raise ValueError(f"{name} run from {int(values.min())} to {int(values.max())}: a confusion matrix of "
                             "MNIST's classes needs 0..9")
    matrix = np.bincount(labels.astype(np.int64) * 10 + predicted.astype(np.int64), minlength=100).reshape(10, 10)
    figure, axes = _pyplot().subplots(figsize=(6.4, 5.6), dpi=100)
    shown = axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        dark = shown.norm(np.log1p(count)) > 0.6
        axes.text(column, row, str(count), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    axes.set_xticks(range(10))
    axes.set_yticks(range(10))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{int(np.trace(matrix))} of {int(matrix.sum())} right ({np.trace(matrix) / matrix.sum():.4f})")
    figure.tight_layout()
    _save(figure, path)


def save_probabilities(image: np.ndarray, label: int, probabilities: np.ndarray, path: PathLike) -> None:
    """A digit beside the bar chart of the network's softmax output for it (10 classes)."""
    if probabilities.shape != (10,):
        raise ValueError(f"the network gives {probabilities.shape[-1]} outputs: the bars are MNIST's 10 classes")
    figure, (left, right) = _pyplot().subplots(1, 2, figsize=(7, 3), dpi=100, width_ratios=(1, 1.6))
    _show_digit(left, image)
    left.set_title(f"label {label}")
    guess = int(np.argmax(probabilities))
    colors = ["tab:blue"] * 10
    colors[guess] = "tab:green" if guess == label else WRONG
    right.bar(range(10), probabilities, color=colors)
    right.set_xticks(range(10))
    right.set_ylim(0, 1)
    right.set_xlabel("digit")
    right.set_ylabel("probability")
    right.set_title(f"predicted {guess} ({probabilities[guess]:.3f})")
    figure.tight_layout()
    _save(figure, path)


def save_filters(initial: np.ndarray, learned: np.ndarray, path: PathLike) -> None:
    """A first layer's filters before and after training, side by side, as the book's ``visualize_filter.py``.

    Filters (FN, C, FH, FW) show their first channel; a dense first layer
    (784, n) shows each unit's weights as a 28x28 image. Each filter is
    scaled to its own range, as the book draws them.
    """
    figure = _pyplot().figure(figsize=(10, 5), dpi=100)
    for panel, (title, weights) in zip(figure.subfigures(1, 2), (("random initial weights", initial),
                                                                   ("learned", learned)), strict=True):
        images = weights.T.reshape(-1, 28, 28) if weights.ndim == 2 else weights[:, 0]
        columns = math.ceil(math.sqrt(len(images)))
        rows = math.ceil(len(images) / columns)
        axes = panel.subplots(rows, columns, squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, image in zip(axes.flat, images, strict=False):
            ax.imshow(image, cmap="gray_r", interpolation="nearest")
        panel.suptitle(f"{title} ({len(images)} filters)")
    _save(figure, path)


def save_curves(epochs: list[dict[str, float]], path: PathLike) -> None:
    """A training run's loss (left) and accuracies (right) per epoch, from the lines of ``xpnet train --json``."""
    figure, (left, right) = _pyplot().subplots(1, 2, figsize=(10, 3.6), dpi=100)
    numbers = [epoch["epoch"] for epoch in epochs]
    left.plot(numbers, [epoch["loss"] for epoch in epochs], marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel("mean training loss")
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
        if all(key in epoch for epoch in epochs):
            right.plot(numbers, [epoch[key] for epoch in epochs], marker="o", label=key.removesuffix("_accuracy"))
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.legend()
    for axes in (left, right):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)


Series = dict[str, tuple[list[float], list[float]]]  # a line's label -> its x and y values


def save_series(panels: list[tuple[str, str, str, Series]], path: PathLike) -> None:
    """Line plots side by side, one panel per ``(title, x label, y label, lines)``: the figures of the book's
    experiments (loss per iteration, accuracy per epoch), 500 pixels wide a panel."""
    figure, axes = _pyplot().subplots(1, len(panels), figsize=(5 * len(panels), 3.8), dpi=100, squeeze=False)
    for ax, (title, x_label, y_label, lines) in zip(axes[0], panels, strict=True):
        for label, (xs, ys) in lines.items():
            ax.plot(xs, ys, label=label)
        ax.set_title(title)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.tight_layout()
    _save(figure, path)


def save_activations(path: PathLike) -> None:
    """Step, sigmoid and ReLU over x in [-5, 5] on one figure, as in the chapter: 1000x320 pixels."""
    from .functions import relu, sigmoid, step_function

    x = np.arange(-5.0, 5.0, 0.01)
    figure, axes = _pyplot().subplots(1, 3, figsize=(10, 3.2), dpi=100)
    curves = (("step", step_function), ("sigmoid", sigmoid), ("ReLU", relu))
    for ax, (name, function) in zip(axes, curves, strict=True):
        ax.plot(x, function(x))
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        if name != "ReLU":
            ax.set_ylim(-0.1, 1.1)
    figure.tight_layout()
    _save(figure, path)
