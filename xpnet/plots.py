"""Pictures of the chapter, written to PNG with matplotlib's Agg backend (no window needed).

matplotlib is an optional extra: ``pip install 'xpnet[plot]'``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import XpnetError

PathLike = str | os.PathLike[str]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise XpnetError("plotting needs matplotlib: pip install 'xpnet[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_digit(image: np.ndarray, label: int, path: PathLike) -> None:
    """Write one 28x28 uint8 digit, enlarged, titled with its label."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(3, 3.3), dpi=100)
    axes.imshow(np.reshape(image, (28, 28)), cmap="gray", interpolation="nearest")
    axes.set_title(f"label {label}")
    axes.axis("off")
    figure.savefig(path)
    plt.close(figure)


def save_activations(path: PathLike) -> None:
    """Write step, sigmoid and ReLU over x in [-5, 5] on one figure, as in the chapter."""
    from .functions import relu, sigmoid, step_function

    plt = _pyplot()
    x = np.arange(-5.0, 5.0, 0.01)
    figure, axes = plt.subplots(1, 3, figsize=(10, 3.2), dpi=100)
    curves = (("step", step_function), ("sigmoid", sigmoid), ("ReLU", relu))
    for ax, (name, function) in zip(axes, curves, strict=True):
        ax.plot(x, function(x))
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        if name != "ReLU":
            ax.set_ylim(-0.1, 1.1)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
