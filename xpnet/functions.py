"""The book's ``common/functions.py`` for any array-API array: activations, perceptron gates and losses.

Each function takes an array of any library and device and returns one of the
same library, on the same device. Python numbers and lists are accepted too,
as the book's functions accept them, and give NumPy results. Integer input to
a function that needs floats takes the namespace's default floating dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import device

from .backends import array_namespace, as_array, default_dtype

Array = Any


def _floating(x: Array) -> Array:
    """``x`` as an array; integers and booleans as the namespace's default floating dtype."""
    x = as_array(x)
    xp = array_namespace(x)
    if xp.isdtype(x.dtype, ("real floating", "complex floating")):
        return x
    return xp.astype(x, default_dtype(xp, "real floating", device(x)))


def step_function(x: Array) -> Array:
    """1 where ``x > 0``, else 0, in the namespace's default integer dtype, of the shape of ``x``."""
    x = as_array(x)
    xp = array_namespace(x)
    return xp.astype(x > 0, default_dtype(xp, "integral", device(x)))


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)), elementwise, accurate to a few ulp in both tails; keeps the floating dtype of ``x``.

    Written as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0 with
    e = exp(-|x|) <= 1: exp never overflows (no warning), and the negative
    tail keeps its relative accuracy down to where the true value leaves the
    normal floats, where 1 / (1 + exp(-x)) would round to 0. NaN stays NaN.
    """
    x = _floating(x)
    xp = array_namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu(x: Array) -> Array:
    """max(x, 0), elementwise, same dtype as ``x``; NaN stays NaN (the standard's ``maximum``, as the book's)."""
    x = as_array(x)
    return array_namespace(x).maximum(x, 0)


def sigmoid_grad(x: Array) -> Array:
    """The sigmoid's derivative at ``x``, (1 - sigmoid(x)) * sigmoid(x), as the book's chapter-4 network uses it."""
    y = sigmoid(x)
    return (1.0 - y) * y


def relu_grad(x: Array) -> Array:
    """The book's ReLU derivative: 1 where ``x >= 0``, else 0, in the floating dtype of ``x``."""
    x = _floating(x)
    xp = array_namespace(x)
    return xp.astype(x >= 0, x.dtype)


def identity_function(x: Array) -> Array:
    """``x`` itself (as an array): the output activation of a regression network."""
    return as_array(x)


def softmax(a: Array) -> Array:
    """exp(a) / sum(exp(a)) along the last axis, for a vector (n,) or a batch (batch, n).

    The row maximum is subtracted first, which leaves the result unchanged and
    keeps exp from overflowing: ``softmax([1010, 1000, 990])`` is finite.
    """
    a = _floating(a)
    xp = array_namespace(a)
    e = xp.exp(a - xp.max(a, axis=-1, keepdims=True))
    return e / xp.sum(e, axis=-1, keepdims=True)


def perceptron(x: Array, w: Sequence[float], b: float) -> Array:
    """y = h(b + w·x) with the step function h, over the last axis of ``x``.

    ``x``: inputs of shape (..., len(w)), any real dtype; returns the default integer dtype, shape (...).
    """
    x = _floating(x)
    xp = array_namespace(x)
    weights = xp.asarray(w, dtype=x.dtype, device=device(x))
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


def one_hot(t: Array, like: Array) -> Array:
    """Targets ``t`` as one-hot rows of the shape and dtype of the outputs ``like``, by the book's rule: ``t`` is
    one-hot already when it holds as many numbers as ``like`` (reshaped to its shape), else class indices, one
    for each row of ``like`` (shape ``like.shape[:-1]``, or any shape of that size, such as (batch, 1)).
    """
    t = as_array(t)
    xp = array_namespace(t, like)
    if t.shape == like.shape:
        return t if t.dtype == like.dtype else xp.astype(t, like.dtype)
    size, rows = math.prod(t.shape), math.prod(like.shape[:-1])
    if size == rows * like.shape[-1]:
        return xp.astype(xp.reshape(t, like.shape), like.dtype)
    if size != rows:
        raise ValueError(f"targets of shape {tuple(t.shape)} fit neither outputs of shape {tuple(like.shape)} "
                         f"(one-hot) nor their rows (class indices)")
    labels = xp.reshape(t, like.shape[:-1])
    return xp.astype(labels[..., None] == xp.arange(like.shape[-1], device=device(t)), like.dtype)


def sum_squared_error(y: Array, t: Array) -> Array:
    """0.5 * sum((y - t)^2) over every element, batch included, as the book's; ``t`` one-hot or class indices."""
    y = _floating(y)
    xp = array_namespace(y)
    return 0.5 * xp.sum((y - one_hot(t, y)) ** 2)


def cross_entropy_error(y: Array, t: Array) -> Array:
    """-sum(t * log(y + 1e-7)) over the classes, averaged over a batch (as the book's); 1e-7 keeps log(0) away.

    ``y``: probabilities (n_classes,) or (batch, n_classes); ``t``: one-hot of
    the same shape or class indices. Returns a 0-d array.
    """
    y = _floating(y)
    xp = array_namespace(y)
    batch = math.prod(y.shape[:-1])
    return xp.sum(one_hot(t, y) * xp.log(y + 1e-7)) * (-1 / batch)  # the book's: one sum, over the batch size


def softmax_loss(x: Array, t: Array) -> Array:
    """The cross-entropy error of ``softmax(x)`` against ``t`` (one-hot or class indices), as the book's."""
    return cross_entropy_error(softmax(x), t)
