"""The book's convolution and pooling as it writes them (``common/util.py``'s ``im2col``/``col2im`` and the layers
of ``common/layers.py``), in standard array-API calls: the readable reference that every tuned or native kernel
is tested against.

``im2col`` and ``col2im`` keep the book's signatures. The book's ``im2col``
makes its patch matrix in float64 whatever the input; here it keeps the
input's dtype, so that a float32 network stays float32.
"""

from __future__ import annotations

from typing import Any

import array_api_extra as xpx
from array_api_compat import device

from ..backends import array_namespace

Array = Any


def out_size(size: int, window: int, stride: int, pad: int) -> int:
    """How many windows of ``window`` fit, ``stride`` apart, along an axis of ``size`` padded by ``pad`` each side."""
    return (size + 2 * pad - window) // stride + 1


def _every(start: int, count: int, stride: int) -> slice:
    """``count`` indices from ``start``, ``stride`` apart (the book's ``y:y_max:stride``, its stop within bounds,
    as the standard asks)."""
    return slice(start, start + stride * (count - 1) + 1, stride)


def im2col(input_data: Array, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> Array:
    """(N, C, H, W) images as a patch matrix (N * OH * OW, C * FH * FW): one row per output position."""
    xp = array_namespace(input_data)
    n, c, h, w = input_data.shape
    out_h, out_w = out_size(h, filter_h, stride, pad), out_size(w, filter_w, stride, pad)
    img = xpx.pad(input_data, ((0, 0), (0, 0), (pad, pad), (pad, pad)), xp=xp) if pad else input_data
    taps = [img[:, :, _every(y, out_h, stride), _every(x, out_w, stride)] for y in range(filter_h)
            for x in range(filter_w)]
    col = xp.reshape(xp.stack(taps, axis=2), (n, c, filter_h, filter_w, out_h, out_w))
    return xp.reshape(xp.permute_dims(col, (0, 4, 5, 1, 2, 3)), (n * out_h * out_w, -1))


def col2im(col: Array, input_shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> Array:
    """The transpose of :func:`im2col`: each patch entry added back where it was read; (N, C, H, W)."""
    xp = array_namespace(col)
    n, c, h, w = input_shape
    out_h, out_w = out_size(h, filter_h, stride, pad), out_size(w, filter_w, stride, pad)
    col = xp.permute_dims(xp.reshape(col, (n, out_h, out_w, c, filter_h, filter_w)), (0, 3, 4, 5, 1, 2))
    img = xp.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype, device=device(col))
    for y in range(filter_h):
        for x in range(filter_w):
            where = (slice(None), slice(None), _every(y, out_h, stride), _every(x, out_w, stride))
            img = xpx.at(img, where).add(col[:, :, y, x, :, :], xp=xp)
    return img[:, :, pad : h + pad, pad : w + pad]


def conv_forward(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    """The book's ``Convolution.forward``: (N, C, H, W) -> (N, FN, OH, OW)."""
    xp = array_namespace(x, w)
    fn, _, fh, fw = w.shape
    n, _, h, width = x.shape
    out = xp.matmul(im2col(x, fh, fw, stride, pad), xp.reshape(w, (fn, -1)).T) + b
    out_h, out_w = out_size(h, fh, stride, pad), out_size(width, fw, stride, pad)
    return xp.permute_dims(xp.reshape(out, (n, out_h, out_w, -1)), (0, 3, 1, 2))


def conv_backward(x: Array, w: Array, b: Array, stride: int, pad: int, dout: Array,
                  input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    """The book's ``Convolution.backward``: ``(dx, dW, db)``; ``dx`` is None without ``input_grad``."""
    xp = array_namespace(dout, w)
    fn, c, fh, fw = w.shape
    dout = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (-1, fn))
    col, col_w = im2col(x, fh, fw, stride, pad), xp.reshape(w, (fn, -1)).T
    dw = xp.reshape(xp.matmul(col.T, dout).T, (fn, c, fh, fw))
    dx = col2im(xp.matmul(dout, col_w.T), tuple(x.shape), fh, fw, stride, pad) if input_grad else None
    return dx, dw, xp.sum(dout, axis=0)


def pool_forward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int) -> Array:
    """The book's ``Pooling.forward`` (max pooling): (N, C, H, W) -> (N, C, OH, OW)."""
    xp = array_namespace(x)
    n, c, h, w = x.shape
    col = xp.reshape(im2col(x, pool_h, pool_w, stride, pad), (-1, pool_h * pool_w))
    out = xp.reshape(xp.max(col, axis=1), (n, out_size(h, pool_h, stride, pad), out_size(w, pool_w, stride, pad), c))
    return xp.permute_dims(out, (0, 3, 1, 2))


def pool_backward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int, dout: Array,
                  out: Array | None = None) -> Array:
    """The book's ``Pooling.backward``: each window's gradient to its first maximum (``argmax``); the forward's
    ``out`` is not needed."""
    xp = array_namespace(dout, x)
    size = pool_h * pool_w
    arg_max = xp.argmax(xp.reshape(im2col(x, pool_h, pool_w, stride, pad), (-1, size)), axis=1)
    flat = xp.reshape(xp.permute_dims(dout, (0, 2, 3, 1)), (-1, 1))
    positions = xp.arange(size, device=device(dout))
    dmax = xp.where(arg_max[:, None] == positions, flat, xp.zeros_like(flat))
    return col2im(xp.reshape(dmax, (-1, x.shape[1] * size)), tuple(x.shape), pool_h, pool_w, stride, pad)
