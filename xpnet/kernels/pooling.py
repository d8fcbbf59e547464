"""The tuned array-API kernels for max pooling: elementwise maxima of strided views, the book's values with no
copy of the windows. They read the (N, C, H, W) views that :mod:`.grid`'s convolution writes channel-major as
they lie (see :func:`_arrangement`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import array_api_extra as xpx
from array_api_compat import device

from ..backends import array_namespace
from .grid import pad_hw, swap_batch_channels
from .reference import _every as every
from .reference import out_size

Array = Any


def _windows(x: Array, pool_h: int, pool_w: int, stride: int, pad: int) -> list[Array]:
    """What each window position sees of ``x`` (C, N, H, W) or (N, C, H, W): strided views (.., .., OH, OW),
    row-major over (window row, window column), of ``x`` padded with zeros."""
    _, _, height, width = x.shape
    out_h, out_w = out_size(height, pool_h, stride, pad), out_size(width, pool_w, stride, pad)
    x = pad_hw(x, pad)
    return [x[:, :, every(i, out_h, stride), every(j, out_w, stride)] for i in range(pool_h) for j in range(pool_w)]


def _arrangement(channel_major: bool) -> Callable[[Array], Array]:
    """How pooling reads its (N, C, H, W) arrays and writes its result: channel-major, as views of the grid
    convolution's outputs, or as they come, for a library whose convolution writes (N, C, H, W) in order;
    each way, the result is laid out as the next convolution's backward reads fastest."""
    return swap_batch_channels if channel_major else lambda x: x


def pool_forward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int, channel_major: bool = True) -> Array:
    """Max pooling of ``x`` (N, C, H, W) over ``pool_h`` x ``pool_w`` windows: (N, C, OH, OW), laid out
    as :func:`_arrangement` says."""
    xp, arranged = array_namespace(x), _arrangement(channel_major)
    image, s = pad_hw(arranged(x), pad), stride
    out_h, out_w = out_size(x.shape[2], pool_h, s, pad), out_size(x.shape[3], pool_w, s, pad)
    # elementwise maxima of strided views, no copy of them: over each window's rows first, which reads
    # whole image rows, then over its columns, in half the data
    rows = functools.reduce(xp.maximum, [image[:, :, every(i, out_h, s), :] for i in range(pool_h)])
    pooled = functools.reduce(xp.maximum, [rows[..., every(j, out_w, s)] for j in range(pool_w)])
    # the reshape (a no-op on values) states the sizes, which a traced graph would otherwise forget
    sizes = (x.shape[1], -1) if channel_major else (-1, x.shape[1])
    return arranged(xp.reshape(pooled, (*sizes, out_h, out_w)))


def pool_backward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int, dout: Array,
                  out: Array | None = None, channel_major: bool = True) -> Array:
    """The gradient of :func:`pool_forward` at ``x``: each window's ``dout`` goes to its first maximum, as the
    book's ``argmax`` sends it. ``out``, the forward's result if kept, saves pooling ``x`` again.

    No argmax: window position by position, the gradient goes where the
    position holds the window's maximum and no earlier position did. A
    window that holds NaN (whose maximum is NaN) sends its gradient nowhere,
    where the book's ``argmax`` sends it to the first NaN: a run whose
    activations are NaN has diverged already, and the training loop stops it at the epoch's end.
    """
    xp, arranged = array_namespace(dout), _arrangement(channel_major)
    windows = _windows(arranged(x), pool_h, pool_w, stride, pad)
    dout = arranged(dout)
    pooled = functools.reduce(xp.maximum, windows) if out is None else arranged(out)
    h, w = x.shape[2:]
    out_h, out_w = dout.shape[2:]
    overlap = stride < pool_h or stride < pool_w
    # windows that tile the image exactly set every entry once: nothing to fill with zeros first
    tiled = not overlap and pad == 0 and (out_h * stride, out_w * stride) == (h, w)
    grad = (xp.empty if tiled else xp.zeros)((*dout.shape[:2], h + 2 * pad, w + 2 * pad), dtype=dout.dtype,
                                             device=device(dout))
    taken = None  # where an earlier position holds the window's maximum
    for k, window in enumerate(windows):
        i, j = divmod(k, pool_w)
        where = (slice(None), slice(None), every(i, out_h, stride), every(j, out_w, stride))
        hit = window == pooled
        first = hit if taken is None else xp.logical_and(hit, xp.logical_not(taken))
        # a product with the 0/1 mask, not ``where``: NumPy multiplies several times faster
        share = dout * xp.astype(first, dout.dtype)
        at = xpx.at(grad, where)
        grad = at.add(share, xp=xp) if overlap else at.set(share, xp=xp)
        if k + 1 < len(windows):
            taken = hit if taken is None else xp.logical_or(taken, hit)
    return arranged(grad[:, :, pad : pad + h, pad : pad + w])
