"""Numerical gradients, the book's check for backpropagation (``common/gradient.py``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from array_api_compat import device

from ..backends import array_namespace, as_array, is_lazy, is_writable

Array = Any


def numerical_gradient(f: Callable[[Array], object], x: Array, h: float = 1e-4) -> Array:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for each element i of ``x``, as the book's.

    Where ``x``'s library lets an array be changed, each element is moved in
    place and put back, as the book does, so that the book's idiom
    ``numerical_gradient(lambda W: net.loss(x, t), net.params['W1'])`` (whose
    function ignores its argument and reads the network) gives the gradient.
    Where it does not (JAX, dask), each probe is a new array passed to ``f``:
    ``f`` must then compute from its argument, and a function that does not
    (the book's idiom there) is refused with ValueError after a few probes,
    not answered with zeros. Slow by design: a check for backpropagation.
    """
    x_host = as_array(x)
    xp = array_namespace(x_host)
    if is_writable(x_host) and not is_lazy(x_host):
        slopes = []
        for index in itertools.product(*(range(n) for n in x_host.shape)):
            kept = float(x_host[index])
            x_host[index] = kept + h
            above = float(f(x_host))
            x_host[index] = kept - h
            below = float(f(x_host))
            x_host[index] = kept
            slopes.append((above - below) / (2 * h))
    else:
        size = math.prod(x.shape)
        positions = xp.reshape(xp.arange(size, device=device(x)), x.shape)
        slopes = []
        for i in range(size):
            step = xp.astype(positions == i, x.dtype) * h
            slopes.append((float(f(x + step)) - float(f(x - step))) / (2 * h))
            if i + 1 == min(size, _FLAT_PROBES) and not any(slopes) and not _reads_argument(f, x):
                raise ValueError(
                    "numerical_gradient: f gives the same value wherever x moves, so it does not compute from x; "
                    "x cannot be changed in place (a JAX or dask array, or a read-only one), so f must compute from "
                    "the array it is given (the book's lambda W: net.loss(x, t) reads the network instead; "
                    "net.numerical_gradient(x, t) perturbs the network's own parameters)")
    return xp.reshape(xp.asarray(slopes, dtype=x_host.dtype, device=device(x_host)), x_host.shape)


_FLAT_PROBES = 8  # slopes that are all exactly zero after so many probes: ask whether f reads x at all


def _reads_argument(f: Callable[[Array], object], x: Array) -> bool:
    """Whether ``f``'s value moves when ``x`` does: every element moved by its own amount (0.5 to 1.5; not by one
    amount for all, under which a softmax's loss stays put as its last bias shifts), or made NaN (a bias before
    batch normalization, whose loss stays put however it moves, still carries NaN through)."""
    xp = array_namespace(x)
    ramp = xp.reshape(xp.linspace(0.5, 1.5, math.prod(x.shape), dtype=x.dtype, device=device(x)), x.shape)
    at_x = float(f(x))
    return any(float(f(probe)) != at_x for probe in (x + ramp, x - ramp, x + math.nan))
