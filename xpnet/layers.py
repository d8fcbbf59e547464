"""The book's ``common/layers.py`` for any array-API array: layers with ``forward`` and ``backward``.

Names, constructor arguments and attributes are the book's (``Affine(W, b)``
with ``W``, ``b``, ``dW``, ``db``). Nothing is written in place: each pass
binds new arrays, which works on immutable arrays (JAX) too.
"""

from __future__ import annotations

from typing import Any

from .backend import array_namespace
from .functions import cross_entropy_error, one_hot, sigmoid, softmax

Array = Any


class Relu:
    """max(x, 0); backward lets the gradient through where ``x > 0``."""

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x)
        self.mask = x <= 0
        return xp.where(self.mask, xp.zeros_like(x), x)

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        return xp.where(self.mask, xp.zeros_like(dout), dout)


class Sigmoid:
    """1 / (1 + exp(-x)); backward multiplies by out * (1 - out)."""

    def forward(self, x: Array) -> Array:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: Array) -> Array:
        return dout * (1.0 - self.out) * self.out


class Affine:
    """x @ W + b for x of shape (batch, ...), flattened to (batch, W.shape[0]) in C order, as the book's.

    ``W``: (n_in, n_out), ``b``: (n_out,); mixed float dtypes promote as the
    standard says (``matmul`` and ``+``).
    """

    def __init__(self, W: Array, b: Array) -> None:  # noqa: N803 - the book's names
        self.W, self.b = W, b

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x, self.W)
        self.original_x_shape = x.shape
        self.x = xp.reshape(x, (x.shape[0], -1))
        return xp.matmul(self.x, self.W) + self.b

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout, self.W)
        self.dW = xp.matmul(self.x.T, dout)
        self.db = xp.sum(dout, axis=0)
        return xp.reshape(xp.matmul(dout, self.W.T), self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax, then the cross-entropy error (kept as ``loss``); backward gives (y - t) / batch."""

    def forward(self, x: Array, t: Array) -> Array:
        self.y = softmax(x)
        self.t = one_hot(t, self.y)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout: float = 1) -> Array:
        return (self.y - self.t) * (dout / self.y.shape[0])
