"""Every kernel in the table agrees with the reference (the book's im2col formulation) on every backend, forward
and backward, and the reference's im2col and col2im are the book's."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.kernels import REFERENCE, TABLE, TRACED, col2im, im2col

from conftest import xp_assert_close

# the traced kernel serves graphs being traced (a batch of no size yet): tested through the ONNX export
KERNELS = sorted({kernels for _, kernels in TABLE} - {REFERENCE, TRACED}, key=lambda kernels: kernels.name)


def test_im2col_as_the_book_lays_it_out() -> None:
    """Row n * OH * OW + i * OW + j holds the window at (i, j) of image n, channel-major then row-major."""
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    col = im2col(x, 2, 3, stride=1, pad=0)
    assert col.shape == (2 * 3 * 3, 3 * 2 * 3)
    np.testing.assert_array_equal(col[1 * 9 + 2 * 3 + 1], x[1, :, 2:4, 1:4].reshape(-1))
    # col2im adds each entry back where it was read: the count of windows that cover each pixel, for ones
    counts = col2im(np.ones_like(col), x.shape, 2, 3)
    np.testing.assert_array_equal(counts[0, 0], np.outer([1, 2, 2, 1], [1, 2, 3, 2, 1]))


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda kernels: kernels.name)
@pytest.mark.parametrize(("filters", "stride", "pad"), [(10, 1, 1), (4, 2, 1), *(
    pytest.param(*geometry, marks=pytest.mark.slow) for geometry in [(3, 1, 0), (3, 3, 2)])])
def test_convolution_kernels_agree_with_the_reference(eager_backend, dtype: str, kernels, filters: int, stride: int,
                                                      pad: int) -> None:
    backend, dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rng = np.random.default_rng(filters + stride)
    x, w, b = (backend.asarray(rng.standard_normal(shape), dtype=dtype)
               for shape in ((2, 3, 7, 6), (filters, 3, 3, 2), (filters,)))
    out = kernels.conv_forward(x, w, b, stride, pad)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == backend.xp.float64 else {"rtol": 2e-5, "atol": 2e-5}
    xp_assert_close(out, xpnet.to_numpy(REFERENCE.conv_forward(x, w, b, stride, pad)), like=x, **tolerance)
    dout = backend.asarray(rng.standard_normal(tuple(out.shape)), dtype=dtype)
    expected = REFERENCE.conv_backward(x, w, b, stride, pad, dout)
    for got, value in zip(kernels.conv_backward(x, w, b, stride, pad, dout), expected, strict=True):
        xp_assert_close(got, xpnet.to_numpy(value), like=x, **tolerance)
    # a first layer asks for the parameters' gradients alone
    dx, *grads = kernels.conv_backward(x, w, b, stride, pad, dout, input_grad=False)
    assert dx is None
    for got, value in zip(grads, expected[1:], strict=True):
        xp_assert_close(got, xpnet.to_numpy(value), like=x, **tolerance)


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda kernels: kernels.name)
@pytest.mark.parametrize(("size", "stride", "pad"),
                         [(3, 2, 1), (2, 2, 0), pytest.param(3, 1, 1, marks=pytest.mark.slow)])
def test_pooling_kernels_agree_with_the_reference(eager_backend, dtype: str, kernels, size: int, stride: int,
                                                  pad: int) -> None:
    backend, dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rng = np.random.default_rng(size)
    x = backend.asarray(rng.standard_normal((2, 3, 6, 7)), dtype=dtype)
    out = kernels.pool_forward(x, size, size, stride, pad)
    xp_assert_close(out, xpnet.to_numpy(REFERENCE.pool_forward(x, size, size, stride, pad)), like=x, rtol=0)
    dout = backend.asarray(rng.standard_normal(tuple(out.shape)), dtype=dtype)
    xp_assert_close(kernels.pool_backward(x, size, size, stride, pad, dout),
                    xpnet.to_numpy(REFERENCE.pool_backward(x, size, size, stride, pad, dout)), like=x, rtol=1e-12)
