"""Convolution, pooling and dropout against independent nested-loop computations, and their gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import xpnet
from xpnet.nn import Affine, Convolution, Dropout, Pooling, Relu
from xpnet.train import numerical_gradient

from conftest import xp_assert_close


def direct_convolution(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """out[n, f, i, j] = b[f] + sum over c, p, q of w[f, c, p, q] * x_padded[n, c, i*stride + p, j*stride + q]."""
    n, c, h, width = x.shape
    fn, _, fh, fw = w.shape
    padded = np.zeros((n, c, h + 2 * pad, width + 2 * pad))
    padded[:, :, pad : pad + h, pad : pad + width] = x
    out_h, out_w = (h + 2 * pad - fh) // stride + 1, (width + 2 * pad - fw) // stride + 1
    out = np.empty((n, fn, out_h, out_w))
    for s, f, i, j in itertools.product(range(n), range(fn), range(out_h), range(out_w)):
        window = padded[s, :, i * stride : i * stride + fh, j * stride : j * stride + fw]
        out[s, f, i, j] = b[f] + sum(float(w[f, ch, p, q]) * float(window[ch, p, q])
                                     for ch in range(c) for p in range(fh) for q in range(fw))
    return out


def direct_max_pool(x: np.ndarray, size: int, stride: int, pad: int) -> np.ndarray:
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad))  # the book pads with zeros, before the maximum
    padded[:, :, pad : pad + h, pad : pad + w] = x
    out_h, out_w = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
    out = np.empty((n, c, out_h, out_w))
    for s, ch, i, j in itertools.product(range(n), range(c), range(out_h), range(out_w)):
        out[s, ch, i, j] = max(padded[s, ch, i * stride + p, j * stride + q] for p in range(size) for q in range(size))
    return out


GEOMETRIES = [(1, 0), (1, 1), (2, 1), (2, 0), (3, 2)]  # (stride, pad)


# more filters than a filter row has weights (FW x C, 6 below): every filter row's taps copied;
# no more: one row copied, the others read further on
FILTERS = [10, 3]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize(("stride", "pad"), GEOMETRIES)
def test_convolution_matches_the_direct_sum(backend_dtype, stride: int, pad: int, filters: int) -> None:
    backend, dtype = backend_dtype
    rng = np.random.default_rng(stride * 10 + pad)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((filters, 3, 3, 2)), rng.standard_normal(filters)
    layer = Convolution(backend.asarray(w, dtype=dtype), backend.asarray(b, dtype=dtype), stride, pad)
    host = [xpnet.to_numpy(backend.asarray(a, dtype=dtype)).astype(float) for a in (x, w, b)]
    expected = direct_convolution(*host, stride, pad)
    xb = backend.asarray(x, dtype=dtype)
    out = layer.forward(xb)
    xp_assert_close(out, expected, like=xb, rtol=1e-12 if dtype == backend.xp.float64 else 1e-4, atol=1e-6)


@pytest.mark.parametrize(("size", "stride", "pad"), [(2, 2, 0), (3, 1, 1), (2, 1, 0), (3, 2, 1)])
def test_pooling_matches_the_direct_maximum(backend_dtype, size: int, stride: int, pad: int) -> None:
    backend, dtype = backend_dtype
    x = np.random.default_rng(size + stride).standard_normal((2, 3, 6, 7))
    xb = backend.asarray(x, dtype=dtype)
    expected = direct_max_pool(xpnet.to_numpy(xb).astype(float), size, stride, pad)
    xp_assert_close(Pooling(size, size, stride, pad).forward(xb), expected, like=xb, rtol=0)


def test_affine_flattens_images_in_nchw_order(backend: xpnet.Backend) -> None:
    b = backend
    x = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    w = np.random.default_rng(0).standard_normal((12, 5))
    out = Affine(b.asarray(w), b.asarray(np.zeros(5))).forward(b.asarray(x))
    xp_assert_close(out, x.reshape(2, 12) @ w, like=b.asarray(w), rtol=1e-12)


def test_dropout_as_the_book(backend: xpnet.Backend) -> None:
    b = backend
    x = b.asarray(np.ones((200, 50)))
    layer = Dropout(0.5, seed=0)
    xp_assert_close(layer.forward(x, train=False), np.full((200, 50), 0.5), like=x)
    kept = xpnet.to_numpy(layer.forward(x, train=True))
    assert set(np.unique(kept)) == {0.0, 1.0} and 0.45 < kept.mean() < 0.55
    np.testing.assert_array_equal(xpnet.to_numpy(layer.backward(b.asarray(np.full((200, 50), 3.0)))), 3 * kept)


def test_dropout_parts_draw_their_rows_of_the_whole_batchs_mask() -> None:
    """Copies for rows 0:3 and 3:10 of a batch, drawing in either order, draw the whole batch's mask between them;
    joined, the layer goes on drawing as it would after the whole batch."""
    x = np.ones((10, 4, 3))
    whole, parted = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    whole.forward(x, train=True)
    spans = [(0, 3), (3, 10)]
    parts = [parted.part(start, stop) for start, stop in spans]
    for part, (start, stop) in reversed(list(zip(parts, spans, strict=True))):
        part.forward(x[start:stop], train=True)
    np.testing.assert_array_equal(np.concatenate([part.mask for part in parts]), whole.mask)
    parted.join(parts)
    whole.forward(x, train=True)
    parted.forward(x, train=True)
    np.testing.assert_array_equal(parted.mask, whole.mask)
    assert Dropout(0.5, seed=np.random).part(0, 1) is None  # NumPy's global generator cannot skip ahead


class Stack:
    """Layers in a row, with a scalar loss: sum(out * probe), whose gradient by out is ``probe``."""

    def __init__(self, layers: list[object], probe: object) -> None:
        self.layers, self.probe = layers, probe

    def loss(self, x: object) -> object:
        for layer in self.layers:
            x = layer.forward(x, train=True)
        xp = xpnet.backends.array_namespace(x)
        return xp.sum(x * self.probe)

    def gradient(self, x: object) -> object:
        self.loss(x)
        dout = self.probe
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize(("stride", "pad"), [(1, 1), (2, 0), *(pytest.param(*geometry, marks=pytest.mark.slow)
                                                                 for geometry in [(2, 1), (1, 2)])])
def test_backward_agrees_with_the_numerical_gradient(eager_backend: xpnet.Backend, stride: int, pad: int,
                                                     filters: int) -> None:
    """Convolution -> ReLU -> max pooling, float64: input, filter and bias gradients by central differences."""
    b = eager_backend
    rng = np.random.default_rng(stride + 2 * pad)
    x = b.asarray(rng.standard_normal((2, 2, 6, 5)))
    w = rng.standard_normal((filters, 2, 3, 3))
    conv = Convolution(b.asarray(w), b.asarray(rng.standard_normal(filters)), stride, pad)
    pool = Pooling(2, 2, 1, 0)
    out_shape = tuple(pool.forward(Relu().forward(conv.forward(x))).shape)
    stack = Stack([conv, Relu(), pool], b.asarray(rng.standard_normal(out_shape)))
    dx = stack.gradient(x)
    xp_assert_close(dx, xpnet.to_numpy(numerical_gradient(stack.loss, x)), like=x, atol=1e-6)
    dw, db = conv.dW, conv.db
    w, bias = conv.W, conv.b

    def loss_with(name: str, value: object) -> object:
        setattr(conv, name, value)
        try:
            return stack.loss(x)
        finally:
            conv.W, conv.b = w, bias

    xp_assert_close(dw, xpnet.to_numpy(numerical_gradient(lambda v: loss_with("W", v), w)), like=x, atol=1e-6)
    xp_assert_close(db, xpnet.to_numpy(numerical_gradient(lambda v: loss_with("b", v), bias)), like=x, atol=1e-6)
