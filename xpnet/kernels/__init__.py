"""Convolution and pooling kernels, one table: the layers ask :func:`kernels_for` and never know which runs.

:data:`REFERENCE` is the book's im2col formulation (:mod:`.reference`),
:data:`GRID` the tuned array-API kernel (:mod:`.grid`), the default;
:data:`TRACED` is the tuned kernel for a graph being traced (a batch of no
size yet, as in ONNX export). A library with native kernels registers them
in :data:`TABLE` ahead of the default; every entry is tested against the
reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends import is_traced
from . import grid, reference
from .reference import col2im, im2col

Array = Any


@dataclass(frozen=True)
class Kernels:
    """``conv_forward(x, W, b, stride, pad)``, ``conv_backward(x, W, b, stride, pad, dout, input_grad=True) ->
    (dx, dW, db)`` (``dx`` None without ``input_grad``),
    ``pool_forward(x, pool_h, pool_w, stride, pad)``, ``pool_backward(x, pool_h, pool_w, stride, pad, dout)``;
    images (N, C, H, W), filters (FN, C, FH, FW)."""

    name: str
    conv_forward: Callable[..., Array]
    conv_backward: Callable[..., tuple[Array | None, Array, Array]]
    pool_forward: Callable[..., Array]
    pool_backward: Callable[..., Array]


REFERENCE = Kernels("reference", reference.conv_forward, reference.conv_backward, reference.pool_forward,
                    reference.pool_backward)
GRID = Kernels("grid", grid.conv_forward, grid.conv_backward, grid.pool_forward, grid.pool_backward)
TRACED = Kernels("traced", functools.partial(grid.conv_forward, blocks=grid.blocks_by_concat), grid.conv_backward,
                 grid.pool_forward, grid.pool_backward)

# (applies to an array?, kernels): the first that applies serves; the default comes last
TABLE: list[tuple[Callable[[Array], bool], Kernels]] = [(is_traced, TRACED), (lambda x: True, GRID)]


def kernels_for(x: Array) -> Kernels:
    """The kernels that serve arrays like ``x``."""
    return next(kernels for applies, kernels in TABLE if applies(x))


__all__ = ["GRID", "REFERENCE", "TABLE", "TRACED", "Kernels", "col2im", "im2col", "kernels_for"]
