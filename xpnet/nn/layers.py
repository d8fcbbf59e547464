"""The book's ``common/layers.py`` for any array-API array, on the layer protocol of :mod:`xpnet.nn.base`.

Names, constructor arguments and attributes are the book's (``Affine(W, b)``
with ``W``, ``b``, ``dW``, ``db``; ``Convolution(W, b, stride, pad)`` with
filters (FN, C, FH, FW) on (N, C, H, W) images). Convolution and pooling run
the kernels that :func:`xpnet.kernels.kernels_for` picks for their input.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import device

from ..backends import array_namespace
from ..functions import cross_entropy_error, one_hot
from ..kernels import kernels_for
from .base import Layer, Seed, generator

Array = Any


class Relu(Layer):
    """max(x, 0); backward stops the gradient where ``x <= 0``, as the book's mask does."""

    monotone = True

    def forward(self, x: Array, train: bool = False) -> Array:
        if train:
            self.x = x  # the mask is made in backward
        return kernels_for(x).relu(x)

    def backward(self, dout: Array) -> Array:
        return kernels_for(dout).relu_backward(self.x, dout)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); backward multiplies by out * (1 - out)."""

    monotone = True
    tanh_form = (0.5, 0.5, 0.5)  # sigmoid(a) = 0.5 + 0.5 * tanh(0.5 * a)

    def forward(self, x: Array, train: bool = False) -> Array:
        out = kernels_for(x).sigmoid(x)
        if train:
            self.out = out
        return out

    def backward(self, dout: Array) -> Array:
        return kernels_for(dout).sigmoid_backward(self.out, dout)


class Tanh(Layer):
    """tanh(x); backward multiplies by 1 - out^2."""

    monotone = True

    def forward(self, x: Array, train: bool = False) -> Array:
        out = array_namespace(x).tanh(x)
        if train:
            self.out = out
        return out

    def backward(self, dout: Array) -> Array:
        return dout * (1.0 - self.out * self.out)


class Affine(Layer):
    """x @ W + b for x of shape (batch, ...), flattened to (batch, W.shape[0]) in C order, as the book's.

    ``W``: (n_in, n_out), ``b``: (n_out,); mixed float dtypes promote as the
    standard says (``matmul`` and ``+``).
    """

    param_names = ("W", "b")
    decays = ("W",)
    affine = True

    def __init__(self, W: Array, b: Array) -> None:  # noqa: N803 - the book's names
        self.W, self.b = W, b

    def forward(self, x: Array, train: bool = False) -> Array:
        xp = array_namespace(x, self.W)
        flat = x if x.ndim == 2 else xp.reshape(x, (-1, math.prod(x.shape[1:])))  # -1: the batch may be symbolic
        if train:
            self.original_x_shape, self.x = x.shape, flat
        out = _matmul(xp, flat, self.W)
        if out.dtype != self.b.dtype:  # a float64 bias promotes a float32 product, as the standard's + does
            return out + self.b
        out += self.b  # in place where the library allows it, else a new array: both correct
        return out

    def backward(self, dout: Array) -> Array:
        self.backward_params(dout)
        xp = array_namespace(dout, self.W)
        dx = _matmul(xp, dout, self.W.T)
        return dx if len(self.original_x_shape) == 2 else xp.reshape(dx, self.original_x_shape)

    def backward_params(self, dout: Array) -> None:
        xp = array_namespace(dout, self.W)
        self.dW = _matmul(xp, self.x.T, dout)
        self.db = xp.sum(dout, axis=0)


def _matmul(xp: Any, a: Array, b: Array) -> Array:
    """``a @ b``; mixed dtypes through ``xp.matmul``, which promotes them (PyTorch's operator refuses). The operator
    is the library's own: on PyTorch, array-api-compat's ``matmul`` costs a small product half as much again."""
    return a @ b if a.dtype == b.dtype else xp.matmul(a, b)


class SoftmaxWithLoss(Layer):
    """Softmax, then the cross-entropy error (kept as ``loss``); backward gives (y - t) / batch."""

    def forward(self, x: Array, t: Array) -> Array:  # type: ignore[override] - the book's loss layer takes labels
        self.y = kernels_for(x).softmax(x)
        self.t = one_hot(t, self.y)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout: float = 1) -> Array:
        return (self.y - self.t) * (dout / self.y.shape[0])


class Convolution(Layer):
    """The book's convolution: ``W`` (FN, C, FH, FW), ``b`` (FN,); input and output (N, C, H, W)."""

    param_names = ("W", "b")
    decays = ("W",)
    large_products = True

    def __init__(self, W: Array, b: Array | float, stride: int = 1, pad: int = 0) -> None:  # noqa: N803
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x: Array, train: bool = False) -> Array:
        if train:
            self.x = x
        return kernels_for(x).conv_forward(x, self.W, self._bias(), self.stride, self.pad)

    def backward(self, dout: Array) -> Array:
        dx, self.dW, self.db = kernels_for(dout).conv_backward(self.x, self.W, self._bias(), self.stride, self.pad,
                                                               dout)
        return dx

    def backward_params(self, dout: Array) -> None:
        _, self.dW, self.db = kernels_for(dout).conv_backward(self.x, self.W, self._bias(), self.stride, self.pad,
                                                              dout, input_grad=False)

    def _bias(self) -> Array:
        """``b`` as one value per filter: the book passes a number too (``Convolution(w, 0)``)."""
        if hasattr(self.b, "shape") and self.b.shape == (self.W.shape[0],):
            return self.b
        xp = array_namespace(self.W)
        return xp.full(self.W.shape[0], float(self.b), dtype=self.W.dtype, device=device(self.W))


class Pooling(Layer):
    """The book's max pooling over ``pool_h`` x ``pool_w`` windows; input and output (N, C, H, W)."""

    commutes_with_monotone = True

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x: Array, train: bool = False) -> Array:
        out = kernels_for(x).pool_forward(x, self.pool_h, self.pool_w, self.stride, self.pad)
        if train:
            self.x, self.out = x, out
        return out

    def backward(self, dout: Array) -> Array:
        return kernels_for(dout).pool_backward(self.x, self.pool_h, self.pool_w, self.stride, self.pad, dout,
                                               self.out)


class Dropout(Layer):
    """The book's dropout: in training, each unit is dropped with probability ``dropout_ratio``;
    in inference every unit is kept and scaled by ``1 - dropout_ratio``.

    The random mask is drawn on the host from ``seed`` (:data:`~xpnet.nn.base.Seed`).
    """

    pure = False  # draws its masks from a generator on the host
    _rows_before = 0  # in a part of a batch (see part): the rows of the parts before it, whose draws it skips

    def __init__(self, dropout_ratio: float = 0.5, *, seed: Seed = None) -> None:
        self.dropout_ratio = dropout_ratio
        self._rng = generator(seed)

    def forward(self, x: Array, train: bool = False) -> Array:
        if not train:
            return x * (1.0 - self.dropout_ratio)
        xp = array_namespace(x)
        if self._rows_before:  # one 64-bit draw a number (see part)
            self._rng.bit_generator.advance(self._rows_before * math.prod(x.shape[1:]))
            self._rows_before = 0
        keep = self._rng.random(tuple(x.shape)) > self.dropout_ratio
        self.mask = xp.asarray(keep, device=device(x))
        return xp.where(self.mask, x, xp.zeros_like(x))

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        return xp.where(self.mask, dout, xp.zeros_like(dout))

    def part(self, start: int, stop: int) -> Dropout | None:
        """A copy that draws its rows of the whole batch's mask: a copy of the generator, moved on past the rows
        before ``start`` at the draw (PCG64 draws one 64-bit number a float and skips ahead at no cost; None
        for NumPy's global generator, which cannot skip)."""
        if not isinstance(getattr(self._rng, "bit_generator", None), np.random.PCG64 | np.random.PCG64DXSM):
            return None
        clone = copy.copy(self)
        clone._rng, clone._rows_before = copy.deepcopy(self._rng), start
        return clone

    def join(self, parts: Sequence[Layer]) -> None:
        self._rng = parts[-1]._rng  # it drew the batch's last rows: it stands where the whole batch's draw ends


class BatchNormalization(Layer):
    """The book's batch normalization: ``gamma * (x - mean) / sqrt(var + 1e-6) + beta`` over the batch, per feature
    of the flattened samples ((N, D), or (N, C, H, W) as (N, C * H * W)).

    Training normalizes by the batch's own statistics and moves the running
    ones (``running_mean``, ``running_var``) by ``1 - momentum`` towards
    them; inference normalizes by the running ones. The running statistics are
    state that outlives a batch: they start at zero when first needed.
    """

    pure = False  # keeps running statistics

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")

    def __init__(self, gamma: Array, beta: Array, momentum: float = 0.9, running_mean: Array | None = None,
                 running_var: Array | None = None) -> None:
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean, self.running_var = running_mean, running_var

    def forward(self, x: Array, train: bool = False) -> Array:
        xp = array_namespace(x, self.gamma)
        shape = x.shape
        x = xp.reshape(x, (-1, math.prod(shape[1:])))  # -1: the batch may be symbolic (a traced graph)
        if self.running_mean is None:
            self.running_mean = xp.zeros(x.shape[1], dtype=x.dtype, device=device(x))
            self.running_var = xp.zeros(x.shape[1], dtype=x.dtype, device=device(x))
        if train:
            mu = xp.mean(x, axis=0)
            xc = x - mu
            var = xp.mean(xc**2, axis=0)
            std = xp.sqrt(var + 10e-7)
            xn = xc / std
            self.input_shape, self.xc, self.xn, self.std = shape, xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xn = (x - self.running_mean) / xp.sqrt(self.running_var + 10e-7)
        return xp.reshape(self.gamma * xn + self.beta, (-1, *shape[1:]))

    def reset_state(self) -> None:
        """Forget the running statistics (they start at zero again)."""
        self.running_mean = self.running_var = None

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout, self.gamma)
        dout = xp.reshape(dout, (dout.shape[0], -1))
        batch = dout.shape[0]
        self.dbeta = xp.sum(dout, axis=0)
        self.dgamma = xp.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -xp.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc = dxc + (2.0 / batch) * self.xc * dvar
        dmu = xp.sum(dxc, axis=0)
        return xp.reshape(dxc - dmu / batch, self.input_shape)


ACTIVATIONS: dict[str, type[Layer]] = {"sigmoid": Sigmoid, "relu": Relu}
