"""The chapter's activation functions and the perceptron gates, for any array-API array.

Each function takes an array of any library and device and returns one of the
same library, on the same device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from array_api_compat import device

from .backend import array_namespace

Array = Any


def step_function(x: Array) -> Array:
    """1 where ``x > 0``, else 0, as int64 of the shape of ``x``."""
    xp = array_namespace(x)
    return xp.astype(x > 0, xp.int64)


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)), elementwise; keeps the floating dtype of ``x``.

    Computed as ``0.5 * tanh(x / 2) + 0.5``, which is the same function but
    cannot overflow for large ``|x|`` (exp(-x) does, with a warning, below
    about -88 in float32) and costs one transcendental instead of an exp and
    a division.
    """
    xp = array_namespace(x)
    return 0.5 * xp.tanh(0.5 * x) + 0.5


def relu(x: Array) -> Array:
    """max(x, 0), elementwise, same dtype as ``x``."""
    xp = array_namespace(x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def identity_function(x: Array) -> Array:
    """``x`` itself: the output activation of a regression network."""
    return x


def softmax(a: Array) -> Array:
    """exp(a) / sum(exp(a)) along the last axis, for a vector (n,) or a batch (batch, n).

    The row maximum is subtracted first, which leaves the result unchanged and
    keeps exp from overflowing: ``softmax([1010, 1000, 990])`` is finite.
    """
    xp = array_namespace(a)
    e = xp.exp(a - xp.max(a, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def perceptron(x: Array, w: Sequence[float], b: float) -> Array:
    """y = h(b + w·x) with the step function h, over the last axis of ``x``.

    ``x``: inputs of shape (..., len(w)), any real dtype; returns int64 of shape (...).
    """
    xp = array_namespace(x)
    x = xp.astype(x, xp.float64)
    weights = xp.asarray(w, dtype=xp.float64, device=device(x))
    return step_function(b + xp.sum(weights * x, axis=-1))


def AND(x: Array) -> Array:  # noqa: N802 - the chapter's name
    """The AND gate: ``x`` of shape (..., 2) holding 0/1 inputs; returns 0/1 of shape (...)."""
    return perceptron(x, (0.5, 0.5), -0.7)


def NAND(x: Array) -> Array:  # noqa: N802 - the chapter's name
    """The NAND gate: ``x`` of shape (..., 2) holding 0/1 inputs; returns 0/1 of shape (...)."""
    return perceptron(x, (-0.5, -0.5), 0.7)


def OR(x: Array) -> Array:  # noqa: N802 - the chapter's name
    """The OR gate: ``x`` of shape (..., 2) holding 0/1 inputs; returns 0/1 of shape (...)."""
    return perceptron(x, (0.5, 0.5), -0.2)
