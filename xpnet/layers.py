"""The book's ``common/layers.py`` for any array-API array: layers with ``forward`` and ``backward``.

Names, constructor arguments and attributes are the book's (``Affine(W, b)``
with ``W``, ``b``, ``dW``, ``db``; ``Convolution(W, b, stride, pad)`` with
filters (FN, C, FH, FW) on (N, C, H, W) images). Nothing is written in place:
each pass binds new arrays, which works on immutable arrays (JAX) too. A
forward pass reads only its own locals (what it keeps for backward is stored
on the side), so threads may run forward passes of one network at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device

from .backend import array_namespace
from .functions import cross_entropy_error, one_hot, relu, sigmoid, softmax

Array = Any


class Relu:
    """max(x, 0); backward stops the gradient where ``x <= 0``, as the book's mask does."""

    def forward(self, x: Array) -> Array:
        self.x = x  # the mask is made in backward: inference never pays for it
        return relu(x)

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        return xp.where(self.x <= 0, xp.zeros_like(dout), dout)


class Sigmoid:
    """1 / (1 + exp(-x)); backward multiplies by out * (1 - out)."""

    def forward(self, x: Array) -> Array:
        out = sigmoid(x)
        self.out = out
        return out

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
        flat = xp.reshape(x, (-1, math.prod(x.shape[1:])))  # not x.shape[0]: it may be symbolic (ndonnx)
        self.original_x_shape, self.x = x.shape, flat  # kept for backward; the pass itself reads locals only
        return xp.matmul(flat, self.W) + self.b

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


def _pad_hw(x: Array, pad: int) -> Array:
    """``x`` of shape (N, H, W, C) with ``pad`` rows and columns of zeros on each side (standard concat only).

    The zeros take the shape of one row (column) of ``x``, whose N may be symbolic (ndonnx).
    """
    if pad == 0:
        return x
    xp = array_namespace(x)
    rows = _zeros_shaped_like(x[:, :1, :, :])
    x = xp.concat([rows] * pad + [x] + [rows] * pad, axis=1)
    columns = _zeros_shaped_like(x[:, :, :1, :])
    return xp.concat([columns] * pad + [x] + [columns] * pad, axis=2)


def _zeros_shaped_like(a: Array) -> Array:
    """Zeros of ``a``'s shape, dtype and device. With a symbolic batch (an ndonnx graph being traced), ``a * 0``:
    ndonnx's ``zeros_like`` forgets the static sizes that the next layers read, arithmetic keeps them."""
    xp = array_namespace(a)
    if a.shape[0] is None:
        return a * 0
    return xp.zeros(a.shape, dtype=a.dtype, device=device(a))


def _windows(x: Array, filter_h: int, filter_w: int, stride: int, pad: int) -> tuple[list[Array], int, int]:
    """The strided (N, OH, OW, C) views of channels-last ``x`` that each filter tap sees, and OH, OW.

    Row-major over (filter row, filter column): tap ``i * filter_w + j``.
    """
    x = _pad_hw(x, pad)
    out_h = (x.shape[1] - filter_h) // stride + 1
    out_w = (x.shape[2] - filter_w) // stride + 1
    taps = [
        x[:, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride, :]
        for i in range(filter_h)
        for j in range(filter_w)
    ]
    return taps, out_h, out_w


def _add_windows(taps: list[Array], shape: tuple[int, ...], filter_w: int, stride: int, pad: int) -> Array:
    """The transpose of :func:`_windows`: each tap's (N, OH, OW, C) added back where it was read; (N, H, W, C)."""
    import array_api_extra as xpx

    xp = array_namespace(*taps)
    n, h, w, c = shape
    out_h, out_w = taps[0].shape[1:3]
    image = xp.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=taps[0].dtype, device=device(taps[0]))
    for k, tap in enumerate(taps):
        i, j = divmod(k, filter_w)
        rows = slice(i, i + stride * (out_h - 1) + 1, stride)
        columns = slice(j, j + stride * (out_w - 1) + 1, stride)
        image = xpx.at(image, (slice(None), rows, columns, slice(None))).add(tap)
    return image[:, pad : pad + h, pad : pad + w, :]


def _channels_last(x: Array) -> Array:
    return array_namespace(x).permute_dims(x, (0, 2, 3, 1))


def _channels_first(x: Array) -> Array:
    return array_namespace(x).permute_dims(x, (0, 3, 1, 2))


class Convolution:
    """The book's convolution: ``W`` (FN, C, FH, FW), ``b`` (FN,); input and output (N, C, H, W).

    Inside, the image is read channels-last, so that the patches of all taps
    concatenate into one (N * OH * OW, FH * FW * C) matrix and the product
    with the filters lands channels-last too: no transposes, one copy per
    layer (im2col from standard slicing and ``concat``). The values are the
    book's; only the summation order differs. The (N, C, H, W) result is a
    view of that channels-last array, which the next layer reads as it is.
    """

    def __init__(self, W: Array, b: Array, stride: int = 1, pad: int = 0) -> None:  # noqa: N803 - the book's names
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def _filters(self) -> Array:
        """``W`` as a (FH * FW * C, FN) matrix in the patches' column order."""
        xp = array_namespace(self.W)
        fn, c, fh, fw = self.W.shape
        return xp.reshape(xp.permute_dims(self.W, (2, 3, 1, 0)), (fh * fw * c, fn))

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x, self.W)
        fn, _, fh, fw = self.W.shape
        taps, out_h, out_w = _windows(_channels_last(x), fh, fw, self.stride, self.pad)
        col = xp.reshape(xp.concat(taps, axis=-1), (-1, fh * fw * x.shape[1]))
        out = xp.matmul(col, self._filters()) + self.b
        self.x_shape, self.col = x.shape, col
        return _channels_first(xp.reshape(out, (-1, out_h, out_w, fn)))

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout, self.W)
        fn, c, fh, fw = self.W.shape
        dout = xp.reshape(_channels_last(dout), (-1, fn))
        self.db = xp.sum(dout, axis=0)
        dw = xp.matmul(self.col.T, dout)  # (FH * FW * C, FN)
        self.dW = xp.permute_dims(xp.reshape(dw, (fh, fw, c, fn)), (3, 2, 0, 1))
        dcol = xp.matmul(dout, self._filters().T)
        n, _, h, w = self.x_shape
        out_h, out_w = (h + 2 * self.pad - fh) // self.stride + 1, (w + 2 * self.pad - fw) // self.stride + 1
        dcol = xp.reshape(dcol, (n, out_h, out_w, fh * fw, c))
        taps = [dcol[:, :, :, k, :] for k in range(fh * fw)]
        return _channels_first(_add_windows(taps, (n, h, w, c), fw, self.stride, self.pad))


class Pooling:
    """The book's max pooling over ``pool_h`` x ``pool_w`` windows; input and output (N, C, H, W)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x)
        image = _channels_last(x)
        self.x = image
        _, h, w, c = image.shape
        ph, pw = self.pool_h, self.pool_w
        out_h, out_w = (h + 2 * self.pad - ph) // self.stride + 1, (w + 2 * self.pad - pw) // self.stride + 1
        if self.pad == 0 and self.stride == ph == pw and h % ph == 0 and w % pw == 0:
            # windows that tile the image: split its axes (a view) instead of copying the taps
            pooled = xp.max(xp.reshape(image, (-1, out_h, ph, out_w, pw, c)), axis=(2, 4))
        else:
            taps, _, _ = _windows(image, ph, pw, self.stride, self.pad)
            pooled = xp.max(xp.stack(taps), axis=0)
        # the reshape (a no-op on values) states the sizes, which a traced graph (ndonnx) would otherwise forget
        return _channels_first(xp.reshape(pooled, (-1, out_h, out_w, c)))

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        dout = _channels_last(dout)
        zeros = xp.zeros_like(dout)
        taps, _, _ = _windows(self.x, self.pool_h, self.pool_w, self.stride, self.pad)
        arg_max = xp.argmax(xp.stack(taps), axis=0)  # the first maximum of each window gets the gradient, as the book's
        taps = [xp.where(arg_max == k, dout, zeros) for k in range(self.pool_h * self.pool_w)]
        return _channels_first(_add_windows(taps, tuple(self.x.shape), self.pool_w, self.stride, self.pad))


class Dropout:
    """The book's dropout: in training, each unit is dropped with probability ``dropout_ratio``;
    in inference (``train_flg=False``) every unit is kept and scaled by ``1 - dropout_ratio``.

    The random mask comes from ``numpy.random.default_rng(seed)`` on the host.
    """

    def __init__(self, dropout_ratio: float = 0.5, *, seed: int | None = None) -> None:
        self.dropout_ratio = dropout_ratio
        self._rng = np.random.default_rng(seed)

    def forward(self, x: Array, train_flg: bool = True) -> Array:
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        xp = array_namespace(x)
        keep = self._rng.random(tuple(x.shape)) > self.dropout_ratio
        self.mask = xp.asarray(keep, device=device(x))
        return xp.where(self.mask, x, xp.zeros_like(x))

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        return xp.where(self.mask, dout, xp.zeros_like(dout))
