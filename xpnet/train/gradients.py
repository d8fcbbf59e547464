"""Numerical gradients, the book's check for backpropagation (``common/gradient.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from array_api_compat import device

from ..backends import array_namespace

Array = Any


def numerical_gradient(f: Callable[[Array], object], x: Array, h: float = 1e-4) -> Array:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for each element i of ``x``.

    ``f`` computes a number (or a 0-d array) from its argument. ``x`` is never
    written to: each probe is a new array, so immutable arrays (JAX) and lazy
    ones work too. Slow by design: a check for backpropagation.
    """
    xp = array_namespace(x)
    positions = xp.reshape(xp.arange(math.prod(x.shape), device=device(x)), x.shape)
    slopes = []
    for i in range(math.prod(x.shape)):
        step = xp.astype(positions == i, x.dtype) * h
        slopes.append((float(f(x + step)) - float(f(x - step))) / (2 * h))
    return xp.reshape(xp.asarray(slopes, dtype=x.dtype, device=device(x)), x.shape)
