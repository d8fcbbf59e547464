"""The portable kernels of the small operations that a training step repeats: the sigmoid's gradient, a
batch's rows, an optimizer's scaled step. A dense network's step is mostly the library's cost per operation,
so a library that does one of these in one operation registers its own (:mod:`.native_torch`)."""

from __future__ import annotations

from typing import Any

from ..backends import array_namespace

Array = Any


def sigmoid_backward(out: Array, dout: Array) -> Array:
    """``dout * (1 - out) * out``: the sigmoid's gradient from its output ``out``, as the book computes it."""
    return dout * (1.0 - out) * out


def take_rows(x: Array, indices: Array) -> Array:
    """The rows of ``x`` (its leading axis) at ``indices``, a 1-D array of nonnegative integers, in their order."""
    return array_namespace(x, indices).take(x, indices, axis=0)


def subtract_scaled(a: Array, scale: Any, b: Array) -> Array:
    """``a - scale * b``, written into ``a`` where its library lets an array change (then ``a`` itself is
    returned), else a new array; ``a`` may be a Python number, as the book's ``optimizer_compare_naive.py`` has
    its parameters."""
    a -= scale * b
    return a
