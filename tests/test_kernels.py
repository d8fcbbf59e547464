"""Every kernel in the table agrees with the reference (the book's im2col formulation) on every backend, forward
and backward, and the reference's im2col and col2im are the book's."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.kernels import GRID, NATIVE, REFERENCE, col2im, im2col
from xpnet.kernels.grid import Grid

from conftest import xp_assert_close

# the portable kernel, and the library's own where it has them (on every device, served there or not);
# the traced kernel serves graphs being traced (a batch of no size yet): tested through the ONNX export
KERNELS = ["grid", "native"]


def _kernels(which: str, x):
    return next((kernels for applies, kernels in NATIVE.items() if applies(x) and which == "native"), GRID)


def test_im2col_as_the_book_lays_it_out() -> None:
    """Row n * OH * OW + i * OW + j holds the window at (i, j) of image n, channel-major then row-major."""
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    col = im2col(x, 2, 3, stride=1, pad=0)
    assert col.shape == (2 * 3 * 3, 3 * 2 * 3)
    np.testing.assert_array_equal(col[1 * 9 + 2 * 3 + 1], x[1, :, 2:4, 1:4].reshape(-1))
    # col2im adds each entry back where it was read: the count of windows that cover each pixel, for ones
    counts = col2im(np.ones_like(col), x.shape, 2, 3)
    np.testing.assert_array_equal(counts[0, 0], np.outer([1, 2, 2, 1], [1, 2, 3, 2, 1]))


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize(("filters", "stride", "pad"), [(10, 1, 1), (4, 2, 1), (10, 1, 0), (10, 2, 1), *(
    pytest.param(*geometry, marks=pytest.mark.slow) for geometry in [(3, 1, 0), (3, 3, 2)])])
def test_convolution_kernels_agree_with_the_reference(eager_backend, dtype: str, kernels, filters: int, stride: int,
                                                      pad: int) -> None:
    backend, dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rng = np.random.default_rng(filters + stride)
    x, w, b = (backend.asarray(rng.standard_normal(shape), dtype=dtype)
               for shape in ((2, 3, 7, 6), (filters, 3, 3, 2), (filters,)))
    kernels = _kernels(kernels, x)
    out = kernels.conv_forward(x, w, b, stride, pad)
    tolerance = {"rtol": 1e-12, "atol": 1e-12} if dtype == backend.xp.float64 else {"rtol": 2e-5, "atol": 2e-5}
    xp_assert_close(out, xpnet.to_numpy(REFERENCE.conv_forward(x, w, b, stride, pad)), like=x, **tolerance)
    dout = backend.asarray(rng.standard_normal(tuple(out.shape)), dtype=dtype)
    expected = REFERENCE.conv_backward(x, w, b, stride, pad, dout)
    for got, value in zip(kernels.conv_backward(x, w, b, stride, pad, dout), expected, strict=True):
        xp_assert_close(got, xpnet.to_numpy(value), like=x, **tolerance)
    # a first layer asks for the parameters' gradients alone, of images of three channels or of one
    for channels in (3, 1):
        x, w = x[:, :channels, ...], w[:, :channels, ...]
        expected = REFERENCE.conv_backward(x, w, b, stride, pad, dout)
        dx, *grads = kernels.conv_backward(x, w, b, stride, pad, dout, input_grad=False)
        assert dx is None
        for got, value in zip(grads, expected[1:], strict=True):
            xp_assert_close(got, xpnet.to_numpy(value), like=x, **tolerance)


def test_the_grid_takes_exact_patches_where_it_would_mostly_compute_dropped_positions() -> None:
    """Filters of 3 x 2 over 3 channels on 7 x 6 images, as above: with ten filters every filter row is copied; the
    grid holds (7 + 1) x (6 + 1) positions an image for 7 x 7 outputs with padding 1, but 7 x 6 for 5 x 5 without,
    and with stride 2 and padding 1 (8 / 2) x 8 for 4 x 4. With four filters one filter row is copied."""
    assert not Grid.of((10, 3, 3, 2), 7, 6, 1, 1).exact
    assert Grid.of((10, 3, 3, 2), 7, 6, 1, 0).exact
    assert Grid.of((10, 3, 3, 2), 7, 6, 2, 1).exact
    assert not Grid.of((4, 3, 3, 2), 7, 6, 1, 0).exact


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize(("size", "stride", "pad", "width"),  # (2, 2, 0, 6): windows that tile the image
                         [(3, 2, 1, 7), (2, 2, 0, 7), (2, 2, 0, 6), pytest.param(3, 1, 1, 7, marks=pytest.mark.slow)])
def test_pooling_kernels_agree_with_the_reference(eager_backend, dtype: str, kernels, size: int, stride: int,
                                                  pad: int, width: int) -> None:
    backend, dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rng = np.random.default_rng(size)
    # whole numbers in a small range: windows with tied maxima, whose gradient goes to the first, as argmax picks
    x = backend.asarray(rng.integers(-3, 4, (2, 3, 6, width)), dtype=dtype)
    kernels = _kernels(kernels, x)
    out = kernels.pool_forward(x, size, size, stride, pad)
    xp_assert_close(out, xpnet.to_numpy(REFERENCE.pool_forward(x, size, size, stride, pad)), like=x, rtol=0)
    # whole numbers again, so that overlapping windows' gradients sum exactly in any order
    dout = backend.asarray(rng.integers(-5, 6, tuple(out.shape)), dtype=dtype)
    expected = xpnet.to_numpy(REFERENCE.pool_backward(x, size, size, stride, pad, dout))
    xp_assert_close(kernels.pool_backward(x, size, size, stride, pad, dout), expected, like=x, rtol=0)
    # as a layer calls it in training, with the forward's result
    xp_assert_close(kernels.pool_backward(x, size, size, stride, pad, dout, out), expected, like=x, rtol=0)


@pytest.mark.parametrize("kernels", ["reference", "native"])
def test_sigmoid_kernels_are_within_two_ulp_of_the_formula(eager_backend, dtype: str, kernels) -> None:
    """1 / (1 + exp(-x)) in float64 (and far in the tails, where it is exp(x) to the dtype's precision)."""
    backend, xp_dtype = eager_backend, getattr(eager_backend.xp, dtype)
    values = np.concatenate([np.linspace(-60, 30, 901), [-0.0, 1e-30]]).astype(dtype)
    x = backend.asarray(values, dtype=xp_dtype)
    sigmoid = REFERENCE.sigmoid if kernels == "reference" else _kernels("native", x).sigmoid
    exact = 1 / (1 + np.exp(-values.astype(np.float64)))
    xp_assert_close(sigmoid(x), exact.astype(dtype), like=x, rtol=2 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("kernels", ["reference", "native"])
def test_softmax_kernels_are_within_four_ulp_of_the_formula(eager_backend, dtype: str, kernels) -> None:
    """exp(a - max a) / sum(exp(a - max a)) over each row, in float64 (rows far apart, and one that overflows
    exp without the max taken off)."""
    backend, xp_dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rows = np.array([[1010.0, 1000.0, 990.0, 0.0], [0.3, -2.0, 5.0, 5.0], [-80.0, -80.5, -100.0, -79.0]])
    x = backend.asarray(rows.astype(dtype), dtype=xp_dtype)
    softmax = REFERENCE.softmax if kernels == "reference" else _kernels("native", x).softmax
    e = np.exp(rows.astype(dtype).astype(np.float64) - rows.max(axis=1, keepdims=True))
    exact = e / e.sum(axis=1, keepdims=True)
    eps = float(np.finfo(dtype).eps)
    xp_assert_close(softmax(x), exact.astype(dtype), like=x, rtol=4 * eps, atol=float(np.finfo(dtype).tiny))


@pytest.mark.parametrize("kernels", KERNELS)
def test_relu_kernels_mask_as_the_book_does(eager_backend, dtype: str, kernels) -> None:
    """relu is max(x, 0), NaN kept; its backward sets dout to 0 where x <= 0 (the book's mask), NaN passing it."""
    backend, xp_dtype = eager_backend, getattr(eager_backend.xp, dtype)
    values = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan, -np.inf, np.inf], dtype=dtype)
    gradient = np.arange(1, 9, dtype=dtype)
    x, dout = backend.asarray(values, dtype=xp_dtype), backend.asarray(gradient, dtype=xp_dtype)
    chosen = _kernels(kernels, x)
    xp_assert_close(chosen.relu(x), np.where(np.isnan(values), np.nan, np.maximum(values, 0)), like=x, rtol=0)
    expected = gradient.copy()
    expected[values <= 0] = 0  # the book's Relu: mask = (x <= 0); dout[mask] = 0
    xp_assert_close(chosen.relu_backward(x, dout), expected, like=x, rtol=0)


@pytest.mark.parametrize("kernels", KERNELS)
def test_sigmoid_backward_kernels_follow_the_book(eager_backend, dtype: str, kernels) -> None:
    """The book's Sigmoid.backward: dout * (1.0 - out) * out, within one rounding of each product."""
    backend, xp_dtype = eager_backend, getattr(eager_backend.xp, dtype)
    rng = np.random.default_rng(3)
    out_values, dout_values = rng.random(300).astype(dtype), rng.normal(size=300).astype(dtype)
    out, dout = backend.asarray(out_values, dtype=xp_dtype), backend.asarray(dout_values, dtype=xp_dtype)
    exact = dout_values.astype(np.float64) * (1.0 - out_values.astype(np.float64)) * out_values
    # 1 - out is exact (Sterbenz) for out in [0.5, 1] and within half an ulp of out below; two products
    xp_assert_close(_kernels(kernels, out).sigmoid_backward(out, dout), exact.astype(dtype), like=out,
                    rtol=3 * float(np.finfo(dtype).eps))


@pytest.mark.parametrize("kernels", KERNELS)
def test_take_rows_picks_the_rows_in_the_order_given(eager_backend, kernels) -> None:
    backend = eager_backend
    values = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    x = backend.asarray(values, dtype=backend.xp.float32)
    indices = backend.asarray(np.array([4, 0, 0, 2]))
    xp_assert_close(_kernels(kernels, x).take_rows(x, indices), values[[4, 0, 0, 2]], like=x, rtol=0)


@pytest.mark.parametrize("kernels", KERNELS)
def test_subtract_scaled_writes_into_its_array_where_the_library_lets_it(eager_backend, dtype: str, kernels) -> None:
    """a - scale * b as the book's optimizers write it (a -= lr * grad): into a itself, which layers may hold,
    where the library lets an array change; a new array where it does not (JAX)."""
    backend, xp_dtype = eager_backend, getattr(eager_backend.xp, dtype)
    a_values, b_values = np.array([1.0, -2.0, 0.5], dtype=dtype), np.array([0.25, 4.0, -8.0], dtype=dtype)
    expected = a_values - 0.5 * b_values  # exact: powers of two
    a, b = backend.asarray(a_values, dtype=xp_dtype), backend.asarray(b_values, dtype=xp_dtype)
    result = _kernels(kernels, a).subtract_scaled(a, 0.5, b)
    xp_assert_close(result, expected, like=a, rtol=0)
    assert (result is a) == xpnet.backends.is_writable(a)
    if xpnet.backends.is_writable(a):
        xp_assert_close(a, expected, like=a, rtol=0)
    # a Python number for b, as the book's scripts may pass
    xp_assert_close(_kernels(kernels, result).subtract_scaled(result, 0.5, 2.0), expected - 1.0, like=a, rtol=0)


def test_subtract_scaled_takes_python_numbers() -> None:
    """The book's optimizer_compare_naive.py keeps its parameters as Python floats."""
    assert GRID.subtract_scaled(1.5, 0.1, 5.0) == 1.5 - 0.1 * 5.0


def test_the_table_serves_native_kernels_where_they_are_faster() -> None:
    """PyTorch's convolution on any device; JAX's kernels on an accelerator only; the grid kernel elsewhere."""
    from xpnet.kernels import JAX, TORCH, kernels_for

    assert kernels_for(np.zeros((1, 1, 2, 2))) is GRID
    torch = pytest.importorskip("torch")
    assert kernels_for(torch.zeros((1, 1, 2, 2))) is TORCH
    assert all(getattr(TORCH, name) is not getattr(GRID, name)
               for name in ("sigmoid", "relu", "relu_backward", "softmax", "sigmoid_backward", "take_rows",
                            "subtract_scaled"))
    jnp = pytest.importorskip("jax.numpy")
    on_cpu = jnp.zeros((1, 1, 2, 2))
    assert on_cpu.devices().pop().platform == "cpu"
    assert kernels_for(on_cpu) is GRID and JAX is not GRID
