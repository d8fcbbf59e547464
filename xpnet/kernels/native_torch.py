"""PyTorch's own convolution, forward and backward (``conv2d``, ``convolution_backward``), for ``torch.Tensor``
inputs on any device: two to three times the grid kernel's speed on a CPU. And its ``sigmoid``, one operation
where the portable one takes nine (within 1.2 ulp of the exact value, as the portable one is within 2), its
``relu`` and the ReLU's gradient (one operation each, where the portable ones take two and four), its
``softmax`` (one, where the portable one takes five), the sigmoid's gradient (one, for three), a batch's rows
(one: array-api-compat's ``take`` adds three that allow negative indices) and an optimizer's scaled step (one,
for two): a dense network's small steps are mostly the library's cost per operation.

Max pooling stays with the grid kernel, reading PyTorch's (N, C, H, W) order
as it comes (the gradient it writes is then the one the convolution's
backward reads fastest): PyTorch's CPU ``max_pool2d`` took eight times as
long on the book's shapes (see ``docs/benchmarks.md``).
``torch`` is imported on the first call, never by ``import xpnet``.
"""

from __future__ import annotations

import functools
from typing import Any

from array_api_compat import is_torch_array

from . import steps

Array = Any


def _promoted(*arrays: Array) -> list[Array]:
    """The arrays in their common dtype, as the standard promotes (PyTorch's convolution takes one dtype)."""
    import torch

    dtype = functools.reduce(torch.promote_types, [a.dtype for a in arrays])
    return [a if a.dtype == dtype else a.to(dtype) for a in arrays]  # a call costs a microsecond or two


def conv_forward(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    import torch

    return torch.nn.functional.conv2d(*_promoted(x, w, b), stride, pad)


def conv_backward(x: Array, w: Array, b: Array, stride: int, pad: int, dout: Array,
                  input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    import torch

    dout, x, w = _promoted(dout, x, w)
    dx, dw, db = torch.ops.aten.convolution_backward(dout, x, w, [w.shape[0]], [stride] * 2, [pad] * 2, [1, 1],
                                                     False, [0, 0], 1, [input_grad, True, True])
    return dx, dw, db


def sigmoid(x: Array) -> Array:
    import torch

    return torch.sigmoid(x)


def relu(x: Array) -> Array:
    import torch

    return torch.relu(x)


def relu_backward(x: Array, dout: Array) -> Array:
    import torch

    return torch.ops.aten.threshold_backward(dout, x, 0)  # autograd's own: 0 where x <= 0, NaN passing dout


def softmax(x: Array) -> Array:
    import torch

    return torch.softmax(x, dim=-1)


def sigmoid_backward(out: Array, dout: Array) -> Array:
    import torch

    return torch.ops.aten.sigmoid_backward(*_promoted(dout, out))  # autograd's own: dout * (1 - out) * out


def take_rows(x: Array, indices: Array) -> Array:
    import torch

    return torch.index_select(x, 0, indices)


def subtract_scaled(a: Array, scale: Any, b: Array) -> Array:
    if isinstance(scale, int | float) and is_torch_array(b) and a.dtype == b.dtype:
        return a.sub_(b, alpha=scale)
    return steps.subtract_scaled(a, scale, b)
