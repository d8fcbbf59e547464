"""The book's ``common/layers.py`` for any array-API array: layers with ``forward`` and ``backward``.

Names, constructor arguments and attributes are the book's (``Affine(W, b)``
with ``W``, ``b``, ``dW``, ``db``; ``Convolution(W, b, stride, pad)`` with
filters (FN, C, FH, FW) on (N, C, H, W) images). Nothing is written in place:
each pass binds new arrays, which works on immutable arrays (JAX) too. A
forward pass reads only its own locals (what it keeps for backward is stored
on the side), so threads may run forward passes of one network at once.
"""

from __future__ import annotations

import functools
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
    """``x`` of shape (C, N, H, W) with ``pad`` rows and columns of zeros on each side (standard concat only)."""
    if pad == 0:
        return x
    xp = array_namespace(x)
    x = xp.concat([_zeros_along(x, 2, pad), x, _zeros_along(x, 2, pad)], axis=2)
    return xp.concat([_zeros_along(x, 3, pad), x, _zeros_along(x, 3, pad)], axis=3)


def _zeros_along(a: Array, axis: int, size: int) -> Array:
    """Zeros of ``a``'s shape but ``size`` long on ``axis``, in its dtype and on its device: padding for a concat.

    With a symbolic batch (an ndonnx graph being traced) they are broadcast
    from a slice of ``a``: ndonnx's ``zeros`` needs every size, and its
    ``zeros_like`` forgets the static sizes that the next layers read.
    """
    xp = array_namespace(a)
    shape = [*a.shape[:axis], size, *a.shape[axis + 1 :]]
    if None not in shape:
        return xp.zeros(tuple(shape), dtype=a.dtype, device=device(a))
    first = tuple(slice(0, 1) if k == axis else slice(None) for k in range(a.ndim))
    return a[first] * xp.zeros(tuple(size if k == axis else 1 for k in range(a.ndim)), dtype=a.dtype)


def _windows(x: Array, filter_h: int, filter_w: int, stride: int, pad: int) -> tuple[list[Array], int, int]:
    """What each filter tap sees of channel-major ``x`` (C, N, H, W): views of shape (C, N, OH, R); and OH, OW.

    Row-major over (filter row, filter column): tap ``i * filter_w + j``. With
    stride 1 the image is read flat, each row followed by Z >= ``pad`` zeros
    (which pad both that row's right and the next row's left), so a tap is one
    contiguous run and copying it moves whole rows: R = W + Z, and the last
    R - OW columns of each row are wrap-around that callers drop. Otherwise a
    tap is a strided slice of the padded image, R = OW.
    """
    xp = array_namespace(x)
    channels, _, height, width = x.shape
    out_h, out_w = (height + 2 * pad - filter_h) // stride + 1, (width + 2 * pad - filter_w) // stride + 1
    if stride == 1:
        row = width + max(pad, out_w - width)
        if row > width:
            x = xp.concat([x, _zeros_along(x, 3, row - width)], axis=3)
        flat = xp.reshape(x, (channels, -1, height * row))
        head = pad * row + pad  # zeros before the first pixel: the top padding, and the first row's left
        tail = pad * row + filter_w - 1  # the last tap's run ends here, past the bottom padding
        flat = xp.concat([_zeros_along(flat, 2, head), flat, _zeros_along(flat, 2, tail)], axis=2)
        run = out_h * row
        starts = [i * row + j for i in range(filter_h) for j in range(filter_w)]
        return [xp.reshape(flat[:, :, s : s + run], (channels, -1, out_h, row)) for s in starts], out_h, out_w
    x = _pad_hw(x, pad)
    taps = [
        x[:, :, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride]
        for i in range(filter_h)
        for j in range(filter_w)
    ]
    return taps, out_h, out_w


def _add_windows(taps: list[Array], shape: tuple[int, ...], filter_w: int, stride: int, pad: int) -> Array:
    """The transpose of :func:`_windows`: each tap's (C, N, OH, OW) added back where it was read; (C, N, H, W)."""
    import array_api_extra as xpx

    xp = array_namespace(*taps)
    c, n, h, w = shape
    out_h, out_w = taps[0].shape[2:]
    image = xp.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=taps[0].dtype, device=device(taps[0]))
    for k, tap in enumerate(taps):
        i, j = divmod(k, filter_w)
        rows = slice(i, i + stride * (out_h - 1) + 1, stride)
        columns = slice(j, j + stride * (out_w - 1) + 1, stride)
        image = xpx.at(image, (slice(None), slice(None), rows, columns)).add(tap)
    return image[:, :, pad : pad + h, pad : pad + w]


def _swap_batch_channels(x: Array) -> Array:
    """(N, C, H, W) as (C, N, H, W) and back: a view."""
    return array_namespace(x).permute_dims(x, (1, 0, 2, 3))


class Convolution:
    """The book's convolution: ``W`` (FN, C, FH, FW), ``b`` (FN,); input and output (N, C, H, W).

    Inside, images are read channel-major, (C, N, H, W): the taps concatenate
    into one (FH * FW * C, N * OH * R) patch matrix (im2col from standard
    slicing and ``concat``; see :func:`_windows` for R), and the product with
    the filters lands channel-major too, with no transposes. The values are
    the book's; only the summation order differs. The (N, C, H, W) result is a
    view of that channel-major array, which the next layer reads as it is.
    """

    def __init__(self, W: Array, b: Array, stride: int = 1, pad: int = 0) -> None:  # noqa: N803 - the book's names
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def _filters(self) -> Array:
        """``W`` as a (FN, FH * FW * C) matrix in the patches' row order."""
        xp = array_namespace(self.W)
        return xp.reshape(xp.permute_dims(self.W, (0, 2, 3, 1)), (self.W.shape[0], -1))

    def _patches(self, x: Array) -> tuple[Array, int, int, int]:
        """The patch matrix of ``x`` (N, C, H, W), (FH * FW * C, N * OH * R), with OH, OW and R."""
        xp = array_namespace(x)
        _, c, fh, fw = self.W.shape
        taps, out_h, out_w = _windows(_swap_batch_channels(x), fh, fw, self.stride, self.pad)
        return xp.reshape(xp.concat(taps, axis=0), (fh * fw * c, -1)), out_h, out_w, taps[0].shape[-1]

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x, self.W)
        col, out_h, out_w, row = self._patches(x)
        out = xp.matmul(self._filters(), col) + xp.reshape(self.b, (-1, 1))
        # backward builds the patches again from x: kept alive from one batch to the next, a patch
        # matrix nine times the size of x would push every pass's arrays out of the cache
        self.x = x
        return _swap_batch_channels(xp.reshape(out, (self.W.shape[0], -1, out_h, row))[..., :out_w])

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout, self.W)
        fn, c, fh, fw = self.W.shape
        n, _, h, w = self.x.shape
        col, out_h, out_w, row = self._patches(self.x)
        dout = _swap_batch_channels(dout)
        wrapped = row - out_w  # the columns that forward computed and dropped
        if wrapped:
            dout = xp.concat([dout, _zeros_along(dout, 3, wrapped)], axis=3)
        dout = xp.reshape(dout, (fn, -1))
        self.db = xp.sum(dout, axis=1)
        self.dW = xp.permute_dims(xp.reshape(xp.matmul(dout, col.T), (fn, fh, fw, c)), (0, 3, 1, 2))
        dcol = xp.reshape(xp.matmul(self._filters().T, dout), (fh * fw, c, n, out_h, out_w + wrapped))
        taps = [dcol[k, :, :, :, :out_w] for k in range(fh * fw)]
        return _swap_batch_channels(_add_windows(taps, (c, n, h, w), fw, self.stride, self.pad))


class Pooling:
    """The book's max pooling over ``pool_h`` x ``pool_w`` windows; input and output (N, C, H, W)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def _taps(self, image: Array) -> list[Array]:
        """Each window position's (C, N, OH, OW) view of the channel-major ``image``."""
        taps, _, out_w = _windows(image, self.pool_h, self.pool_w, self.stride, self.pad)
        return [tap[..., :out_w] for tap in taps]

    def forward(self, x: Array) -> Array:
        xp = array_namespace(x)
        self.x = _swap_batch_channels(x)
        taps = self._taps(self.x)
        pooled = functools.reduce(xp.maximum, taps)  # elementwise over strided views: no copy of the taps
        # the reshape (a no-op on values) states the sizes, which a traced graph (ndonnx) would otherwise forget
        return _swap_batch_channels(xp.reshape(pooled, (x.shape[1], -1, *taps[0].shape[2:])))

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        dout = _swap_batch_channels(dout)
        zeros = xp.zeros_like(dout)
        arg_max = xp.argmax(xp.stack(self._taps(self.x)), axis=0)  # the first maximum of each window, as the book's
        taps = [xp.where(arg_max == k, dout, zeros) for k in range(self.pool_h * self.pool_w)]
        return _swap_batch_channels(_add_windows(taps, tuple(self.x.shape), self.pool_w, self.stride, self.pad))


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
