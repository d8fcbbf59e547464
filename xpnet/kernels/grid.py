"""The tuned array-API kernels for convolution and the ReLU's backward (max pooling's are in :mod:`.pooling`):
the book's values, less memory traffic.

Convolution: the batch is read channel-major, (C, N, H, W), and laid end to
end in one zero-filled buffer: each image takes a block of ``rows`` x ``row``,
with ``top`` zero rows above it and ``left`` zero columns before each of its
rows. An image's padding is then the zeros around it, and what one filter
tap reads for the whole batch is a single strided run of that buffer. The
outputs are computed on a grid of ``rows / stride`` x ``row`` an image,
whose top-left OH x OW are the convolution's; the rest (a few columns and
rows, and ``stride`` times the columns for strides above 1) are computed and
dropped.

The taps of some filter rows are copied into a patch matrix (im2col from
standard slicing and ``concat``), with a row of ones under them that the
bias multiplies. A filter row further down reads the same patches a few
block rows further on. So where a filter row has at least as many weights
(FW x C) as there are filters, one filter row is copied (a third of the
copying for 3 x 3 filters), all rows' filters are stacked into one matrix,
and one product gives each row's share, which is added to the first's from a
few block rows on; with few channels (the first layers) every filter row is
copied and one product is the result. Only the summation order differs from
the book's. The (N, C, H, W) result is a view of a channel-major array,
which the next layer reads as it is.

A pass writes only into arrays it has just made (array-api-extra's ``at``,
and ``+=``), and on immutable arrays (JAX) binds new ones instead.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_extra as xpx
from array_api_compat import device

from ..backends import array_namespace
from .reference import _every as every
from .reference import out_size

Array = Any
Blocks = Callable[[Array, "Grid"], Array]


@dataclass(frozen=True)
class Grid:
    """Where a convolution of ``W``'s shape reads and writes, for images of one size."""

    fn: int
    c: int
    fh: int
    fw: int
    stride: int
    pad: int
    out_h: int
    out_w: int
    top: int  # zero rows above each image
    left: int  # zero columns before each image row
    rows: int  # rows of an image's block, zeros included
    row: int  # columns of a block row, zeros included
    spare: int  # zero blocks after the last image: the last outputs' taps read into them
    start: int  # where the first output's first tap reads

    @classmethod
    @functools.lru_cache(maxsize=256)  # every batch of a pass asks again
    def of(cls, w_shape: tuple[int, ...], height: int, width: int, stride: int, pad: int) -> Grid:
        fn, c, fh, fw = w_shape
        s = stride
        out_h, out_w = out_size(height, fh, s, pad), out_size(width, fw, s, pad)
        # rows and row are multiples of the stride, so that a filter row further down is a whole step of the grid
        top = max(pad, s * out_h - height)
        top += -(height + top) % s
        left = max(pad, out_w - width)
        left += -(width + left) % s
        rows, row = height + top, width + left
        start = (top - pad) * row + left - pad
        reach = start + (fh - 1) * row + fw - s  # how far the last output's taps read past the last image's block
        return cls(fn, c, fh, fw, s, pad, out_h, out_w, top, left, rows, row, max(1, -(-reach // (rows * row))), start)

    @property
    def copied(self) -> int:
        """Filter rows whose taps are copied into the patch matrix: one when a filter row has at least as
        many weights (FW x C) as there are filters, else all."""
        return 1 if self.fw * self.c >= self.fn else self.fh

    @property
    def block(self) -> int:
        return self.rows * self.row

    @property
    def exact(self) -> bool:
        """Whether the patches are taken at the outputs' own positions instead (the book's im2col, channel-major):
        where every filter row is copied anyway, the grid saves no copying, and its dropped positions would
        add a fifth or more to the products (a first layer without padding)."""
        return self.copied == self.fh and 5 * (self.rows // self.stride) * self.row >= 6 * self.out_h * self.out_w

    @functools.cached_property
    def taps(self) -> tuple[slice, ...]:
        """Where each copied tap reads the flat buffer of blocks: strided runs, row-major over (filter row, column).

        Each run has as many entries as the output grid and, when filter rows
        are left to views, the block rows those views reach further on. Its
        stop is counted from the end, past the spare blocks, so that it needs
        no batch size (a traced batch has none).
        """
        s = self.stride
        extra = (self.fh - self.copied) * (self.row // s)
        runs = []
        for first in (self.start + i * self.row + j for i in range(self.copied) for j in range(self.fw)):
            stop = first + s * (extra - 1) + 1 - self.spare * self.block
            runs.append(slice(first, stop if stop < 0 else None, s))
        return tuple(runs)

    @functools.cached_property
    def shifts(self) -> tuple[tuple[slice, slice], ...]:
        """Each group's block of rows in the product with the patch matrix, and the columns that hold its
        share of the outputs: a group further down reads the patches a few block rows further on."""
        step = self.row // self.stride
        return tuple((slice(g * self.fn, (g + 1) * self.fn),
                      slice(i * step, (i + self.copied - self.fh) * step or None))  # stops from the end
                     for g, i in enumerate(range(0, self.fh, self.copied)))


def swap_batch_channels(x: Array) -> Array:
    """(N, C, H, W) as (C, N, H, W) and back: a view."""
    return array_namespace(x).permute_dims(x, (1, 0, 2, 3))


def blocks_by_scatter(images: Array, grid: Grid) -> Array:
    """Channel-major ``images`` (C, N, H, W) in their zero-filled blocks, flat: (C, (N + spare) * rows * row)."""
    xp = array_namespace(images)
    c, n, _, _ = images.shape
    blocks = xp.zeros((c, n + grid.spare, grid.rows, grid.row), dtype=images.dtype, device=device(images))
    where = (slice(None), slice(0, n), slice(grid.top, None), slice(grid.left, None))
    return xp.reshape(xpx.at(blocks, where).set(images, xp=xp), (c, -1))


def _patches(x: Array, grid: Grid, blocks: Blocks) -> Array:
    """The patch matrix of ``x`` (N, C, H, W): the copied taps' runs (C rows each) and a row of ones; or, for an
    :attr:`~Grid.exact` grid, each tap at the outputs' positions, (C, N * OH * OW) a tap."""
    xp = array_namespace(x)
    if grid.exact:
        # stacked with a block of ones, of which the patch matrix keeps one row: each tap is copied once
        images, s = pad_hw(swap_batch_channels(x), grid.pad), grid.stride
        taps = [images[:, :, every(i, grid.out_h, s), every(j, grid.out_w, s)]
                for i in range(grid.fh) for j in range(grid.fw)]
        stacked = xp.stack([*taps, full(taps[0], tuple(taps[0].shape), 1)])
        return xp.reshape(stacked, ((len(taps) + 1) * grid.c, -1))[: len(taps) * grid.c + 1, :]
    flat = blocks(swap_batch_channels(x), grid)
    taps = [flat[:, run] for run in grid.taps]
    return xp.concat([*taps, full(taps[0][:1, :], (1, taps[0].shape[1]), 1)], axis=0)


def full(like: Array, shape: tuple[int | None, ...], value: float = 0) -> Array:
    """An array of ``shape`` filled with ``value``, in ``like``'s dtype and on its device; a size None is
    ``like``'s own on that axis.

    None stands for a symbolic batch (a graph being traced). That array is
    broadcast from ``like``: a traced ``full`` needs every size, and
    ``full_like`` forgets the static sizes that the next layers read.
    """
    xp = array_namespace(like)
    if None not in shape:
        return xp.full(shape, value, dtype=like.dtype, device=device(like))
    corner = like[tuple(slice(None) if size is None else slice(0, 1) for size in shape)]
    # corner != corner is true only where corner is NaN: as 0 or 1, times 0, it is 0 either way
    sizes = tuple(1 if size is None else size for size in shape)
    return xp.astype(corner != corner, like.dtype) * xp.zeros(sizes, dtype=like.dtype) + value


def blocks_by_concat(images: Array, grid: Grid) -> Array:
    """:func:`blocks_by_scatter` for a traced batch, which has no size to ask zeros of: the blocks are
    concatenated (and ONNX Runtime runs these concatenations twice as fast as the scatter would be)."""
    xp = array_namespace(images)
    c, n, h, _ = images.shape
    blocks = xp.concat([full(images, (c, n, h, grid.left)), images], axis=3)
    blocks = xp.reshape(xp.concat([full(blocks, (c, n, grid.top, grid.row)), blocks], axis=2), (c, -1))
    return xp.concat([blocks, full(blocks, (c, grid.spare * grid.block))], axis=1)


def _filters(w: Array, b: Array, grid: Grid) -> Array:
    """The filters as one matrix for the patch matrix: (groups * FN, copied rows * FW * C + 1).

    A group is a run of copied filter rows (one group, or one for each row);
    each group takes a block of FN rows. The last column is the bias in the
    first block and zeros in the others, for the patch matrix's row of ones.
    """
    xp = array_namespace(w, b)
    groups = grid.fh // grid.copied
    filters = xp.reshape(xp.permute_dims(w, (0, 2, 3, 1)), (grid.fn, groups, -1))  # the patch matrix's order
    filters = xp.reshape(xp.permute_dims(filters, (1, 0, 2)), (groups * grid.fn, -1))
    bias = xp.concat([b, xp.zeros((groups - 1) * grid.fn, dtype=b.dtype, device=device(b))])
    return xp.concat([filters, xp.reshape(bias, (-1, 1))], axis=1)


def conv_forward(x: Array, w: Array, b: Array, stride: int, pad: int, blocks: Blocks = blocks_by_scatter) -> Array:
    """The convolution of ``x`` (N, C, H, W) with filters ``w`` (FN, C, FH, FW) and bias ``b`` (FN,):
    (N, FN, OH, OW). ``blocks`` lays the batch out (see :func:`blocks_by_scatter`)."""
    xp = array_namespace(x, w)
    grid = Grid.of(tuple(w.shape), x.shape[2], x.shape[3], stride, pad)
    # one product for every group (a taller matrix multiplies faster than three short ones), then each
    # group's share added, in place where the library allows it (else bound anew)
    products = xp.matmul(_filters(w, b, grid), _patches(x, grid, blocks))
    if grid.exact:
        return swap_batch_channels(xp.reshape(products, (grid.fn, -1, grid.out_h, grid.out_w)))
    out = functools.reduce(operator.iadd, (products[part] for part in grid.shifts))
    out = xp.reshape(out, (grid.fn, -1, grid.rows // stride, grid.row))
    return swap_batch_channels(out[:, :, : grid.out_h, : grid.out_w])


def conv_backward(x: Array, w: Array, b: Array, stride: int, pad: int, dout: Array,
                  input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    """``(dx, dW, db)`` of :func:`conv_forward` at ``x`` for the output gradient ``dout`` (N, FN, OH, OW);
    ``dx`` is None without ``input_grad``.

    The patches are built again from ``x``: kept alive from one batch to the
    next, a patch matrix several times the size of ``x`` would push every
    pass's arrays out of the cache.
    """
    xp = array_namespace(dout, w)
    n, _, h, width = x.shape
    grid = Grid.of(tuple(w.shape), h, width, stride, pad)
    fn, c = grid.fn, grid.c
    patches = _patches(x, grid, blocks_by_scatter)
    dproducts = _products_gradient(dout, grid, patches.shape[1])
    db = xp.sum(dproducts[:fn, :], axis=1)  # the first group reads every output once; the dropped have none
    groups = len(grid.shifts)
    dfilters = xp.reshape(xp.matmul(dproducts, patches[:-1, :].T), (groups, fn, -1))  # no row of ones: db is above
    dfilters = xp.reshape(xp.permute_dims(dfilters, (1, 0, 2)), (fn, grid.fh, grid.fw, c))
    dw = xp.permute_dims(dfilters, (0, 3, 1, 2))
    if not input_grad:
        return None, dw, db
    dpatches = xp.matmul(_filters(w, b, grid).T, dproducts)
    return swap_batch_channels(_unpatched(dpatches, grid, n, h, width)), dw, db


def _products_gradient(dout: Array, grid: Grid, columns: int) -> Array:
    """The gradient of the product of :func:`conv_forward` for ``dout`` (N, FN, OH, OW): (groups * FN, columns)."""
    xp = array_namespace(dout)
    fn, n = grid.fn, dout.shape[0]
    if grid.exact:
        return xp.reshape(swap_batch_channels(dout), (fn, -1))
    on_grid = xp.zeros((fn, n, grid.rows // grid.stride, grid.row), dtype=dout.dtype, device=device(dout))
    on_grid = xpx.at(on_grid, (slice(None), slice(None), slice(0, grid.out_h), slice(0, grid.out_w))
                     ).set(swap_batch_channels(dout), xp=xp)
    on_grid = xp.reshape(on_grid, (fn, -1))  # the dropped outputs get no gradient
    if len(grid.shifts) == 1:  # one group, which read every position: its share is the output's
        return on_grid
    dproducts = xp.zeros((len(grid.shifts) * fn, columns), dtype=dout.dtype, device=device(dout))
    for part in grid.shifts:  # each group's share goes back where it was read
        dproducts = xpx.at(dproducts, part).set(on_grid, xp=xp)
    return dproducts


def _unpatched(dpatches: Array, grid: Grid, n: int, h: int, w: int) -> Array:
    """Each tap's rows of ``dpatches`` added back where :func:`_patches` read them: channel-major (C, N, H, W)."""
    xp, c, s = array_namespace(dpatches), grid.c, grid.stride
    taps = [dpatches[k * c : (k + 1) * c, :] for k in range(len(grid.taps))]  # C rows a copied tap
    if grid.exact:
        p = grid.pad
        dimages = xp.zeros((c, n, h + 2 * p, w + 2 * p), dtype=dpatches.dtype, device=device(dpatches))
        for (i, j), tap in zip(itertools.product(range(grid.fh), range(grid.fw)), taps, strict=True):
            where = (slice(None), slice(None), every(i, grid.out_h, s), every(j, grid.out_w, s))
            dimages = xpx.at(dimages, where).add(xp.reshape(tap, (c, n, grid.out_h, grid.out_w)), xp=xp)
        return dimages[:, :, p : p + h, p : p + w]
    dflat = xp.zeros((c, (n + grid.spare) * grid.block), dtype=dpatches.dtype, device=device(dpatches))
    for run, tap in zip(grid.taps, taps, strict=True):
        dflat = xpx.at(dflat, (slice(None), run)).add(tap, xp=xp)
    return xp.reshape(dflat, (c, n + grid.spare, grid.rows, grid.row))[:, :n, grid.top :, grid.left :]


def pad_hw(x: Array, pad: int) -> Array:
    """``x`` of shape (C, N, H, W) (or (N, C, H, W)) with ``pad`` rows and columns of zeros on each side (standard
    concat only)."""
    if pad == 0:
        return x
    xp = array_namespace(x)
    c, n, h, w = x.shape
    x = xp.concat([full(x, (c, n, pad, w)), x, full(x, (c, n, pad, w))], axis=2)
    return xp.concat([full(x, (c, n, h + 2 * pad, pad)), x, full(x, (c, n, h + 2 * pad, pad))], axis=3)


def relu_backward(x: Array, dout: Array) -> Array:
    """``dout`` where ``x > 0`` (or NaN), 0 where ``x <= 0``: the book's mask, as a product with 0/1, which NumPy
    computes several times faster than ``where``."""
    xp = array_namespace(x, dout)
    return dout * xp.astype(xp.logical_not(x <= 0), dout.dtype)
