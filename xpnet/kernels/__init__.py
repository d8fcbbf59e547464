"""The layers' kernels (convolution, pooling, the sigmoid and the ReLU) and a training step's small ones, one
table: the layers and the training loop ask :func:`kernels_for` and never know which runs.

:data:`REFERENCE` is the book's im2col formulation (:mod:`.reference`),
:data:`GRID` the tuned array-API kernels (:mod:`.grid`, :mod:`.pooling`,
:mod:`.steps`), the default; :data:`TRACED` is the tuned kernel for a graph
being traced (a batch of no size yet, as in ONNX export). A library with
native kernels registers them in :data:`TABLE` ahead of the default where
they are faster (:data:`TORCH`: PyTorch's convolution, sigmoid, ReLU,
softmax and a step's small operations, on any device; :data:`JAX`: JAX's
convolution and pooling, on a GPU: on a CPU, XLA's convolution is no faster
than the grid kernel and its input gradient with padding 2 ten times
slower). Every entry is tested against the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import is_jax_array, is_torch_array

from ..backends import is_traced
from ..functions import relu, sigmoid, softmax
from . import grid, native_jax, native_torch, pooling, reference, steps
from .reference import col2im, im2col

Array = Any


@dataclass(frozen=True)
class Kernels:
    """``conv_forward(x, W, b, stride, pad)``, ``conv_backward(x, W, b, stride, pad, dout, input_grad=True) ->
    (dx, dW, db)`` (``dx`` None without ``input_grad``),
    ``pool_forward(x, pool_h, pool_w, stride, pad)``,
    ``pool_backward(x, pool_h, pool_w, stride, pad, dout, out=None)`` (``out``: the forward's result, which a
    kernel may use instead of pooling again);
    images (N, C, H, W), filters (FN, C, FH, FW); ``sigmoid(x)``, ``relu(x)`` and ``relu_backward(x, dout)`` (the
    gradient ``dout`` passed where ``x > 0`` or NaN, 0 elsewhere), elementwise, of any shape; ``softmax(x)`` over
    the last axis."""

    name: str
    conv_forward: Callable[..., Array]
    conv_backward: Callable[..., tuple[Array | None, Array, Array]]
    pool_forward: Callable[..., Array]
    pool_backward: Callable[..., Array]
    sigmoid: Callable[[Array], Array] = sigmoid
    relu: Callable[[Array], Array] = relu
    relu_backward: Callable[[Array, Array], Array] = grid.relu_backward
    softmax: Callable[[Array], Array] = softmax
    sigmoid_backward: Callable[[Array, Array], Array] = steps.sigmoid_backward
    take_rows: Callable[[Array, Array], Array] = steps.take_rows
    subtract_scaled: Callable[[Array, Any, Array], Array] = steps.subtract_scaled


REFERENCE = Kernels("reference", reference.conv_forward, reference.conv_backward, reference.pool_forward,
                    reference.pool_backward)
GRID = Kernels("grid", grid.conv_forward, grid.conv_backward, pooling.pool_forward, pooling.pool_backward)
TRACED = Kernels("traced", functools.partial(grid.conv_forward, blocks=grid.blocks_by_concat), grid.conv_backward,
                 pooling.pool_forward, pooling.pool_backward)
TORCH = Kernels("torch", native_torch.conv_forward, native_torch.conv_backward,
                functools.partial(pooling.pool_forward, channel_major=False),
                functools.partial(pooling.pool_backward, channel_major=False), native_torch.sigmoid, native_torch.relu,
                native_torch.relu_backward, native_torch.softmax, native_torch.sigmoid_backward, native_torch.take_rows,
                native_torch.subtract_scaled)
JAX = Kernels("jax", native_jax.conv_forward, native_jax.conv_backward, native_jax.pool_forward,
              native_jax.pool_backward)

# (applies to an array?, kernels): the first that applies serves; the default comes last
TABLE: list[tuple[Callable[[Array], bool], Kernels]] = [(is_traced, TRACED), (is_torch_array, TORCH),
                                                        (native_jax.on_accelerator, JAX), (lambda x: True, GRID)]

# every library's native kernels, whatever the device: what the tests check against the reference
NATIVE: dict[Callable[[Array], bool], Kernels] = {is_torch_array: TORCH, is_jax_array: JAX}


def kernels_for(x: Array) -> Kernels:
    """The kernels that serve arrays like ``x``."""
    kind = type(x)
    served = _BY_TYPE.get(kind)
    if served is None:
        served = next(kernels for applies, kernels in TABLE if applies(x))
        if is_torch_array(x):  # one entry serves PyTorch's arrays on every device
            _BY_TYPE[kind] = served
    return served


# types whose every array one entry serves: they skip the table's tests (a microsecond each, and a dense
# network's step asks a dozen times)
_BY_TYPE: dict[type, Kernels] = {np.ndarray: GRID}


__all__ = ["GRID", "JAX", "NATIVE", "REFERENCE", "TABLE", "TORCH", "TRACED", "Kernels", "col2im", "im2col",
           "kernels_for"]
