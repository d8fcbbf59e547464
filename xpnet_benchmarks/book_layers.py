"""The book's layers and optimizers (``common/layers.py``, ``common/util.py``, ``common/optimizer.py``) restated
in plain NumPy, independently of xpnet's: what xpnet's ConvNets and their training are measured against.

They compute as the book does: float64 patch matrices from ``np.pad`` and a
loop over filter taps, ``argmax`` for pooling, masks copied for ReLU and
dropout, and the book's Adam. :func:`book_layers` lays them out in the order
of one of xpnet's networks, with that network's shapes, strides and pads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xpnet.nn import Affine, Convolution, Dropout, Model, Pooling, Relu, Sigmoid


def im2col(data: np.ndarray, filter_h: int, filter_w: int, stride: int, pad: int) -> np.ndarray:
    """The book's ``im2col``: ``np.pad``, a loop over filter positions, ``transpose``."""
    n, c, h, w = data.shape
    out_h, out_w = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    img = np.pad(data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        for x in range(filter_w):
            col[:, :, y, x, :, :] = img[:, :, y : y + stride * out_h : stride, x : x + stride * out_w : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(col: np.ndarray, shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int) -> np.ndarray:
    """The book's ``col2im``: each patch entry added back where it was read."""
    n, c, h, w = shape
    out_h, out_w = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    col = col.reshape(n, out_h, out_w, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(filter_h):
        for x in range(filter_w):
            img[:, :, y : y + stride * out_h : stride, x : x + stride * out_w : stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : h + pad, pad : w + pad]


class BookRelu:
    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class BookSigmoid:
    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class BookAffine:
    def __init__(self, params: dict[str, np.ndarray], w: str, b: str) -> None:
        self.params, self.keys = params, (w, b)

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.params[self.keys[0]]) + self.params[self.keys[1]]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.params[self.keys[0]].T)
        self.grads = {self.keys[0]: np.dot(self.x.T, dout), self.keys[1]: np.sum(dout, axis=0)}
        return dx.reshape(*self.original_x_shape)


class BookConvolution:
    def __init__(self, params: dict[str, np.ndarray], w: str, b: str, stride: int, pad: int) -> None:
        self.params, self.keys, self.stride, self.pad = params, (w, b), stride, pad

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        w = self.params[self.keys[0]]
        fn, _, fh, fw = w.shape
        n, _, h, width = x.shape
        out_h, out_w = 1 + (h + 2 * self.pad - fh) // self.stride, 1 + (width + 2 * self.pad - fw) // self.stride
        self.x, self.col = x, im2col(x, fh, fw, self.stride, self.pad)
        self.col_w = w.reshape(fn, -1).T
        out = np.dot(self.col, self.col_w) + self.params[self.keys[1]]
        return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, fh, fw = self.params[self.keys[0]].shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.grads = {self.keys[0]: np.dot(self.col.T, dout).transpose(1, 0).reshape(fn, c, fh, fw),
                      self.keys[1]: np.sum(dout, axis=0)}
        return col2im(np.dot(dout, self.col_w.T), self.x.shape, fh, fw, self.stride, self.pad)


class BookPooling:
    def __init__(self, pool_h: int, pool_w: int, stride: int, pad: int) -> None:
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        n, c, h, w = x.shape
        out_h, out_w = 1 + (h - self.pool_h) // self.stride, 1 + (w - self.pool_w) // self.stride
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad).reshape(-1, self.pool_h * self.pool_w)
        self.x, self.arg_max = x, np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(*dout.shape, pool_size).reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class BookDropout:
    def __init__(self, dropout_ratio: float) -> None:
        self.dropout_ratio = dropout_ratio

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        if train:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


def book_layers(net: Model, params: dict[str, np.ndarray]) -> list[Any]:
    """The book's layers in ``net``'s order, reading (and, in training, updating) ``params`` under ``net``'s
    keys: float64 copies of its parameters, or the book's own arrays."""
    key_of = {id(value): key for key, value in net.params.items()}
    layers: list[Any] = []
    for layer in net.layers.values():
        keys = [key_of[id(value)] for value in layer.params.values()]
        if isinstance(layer, Convolution):
            layers.append(BookConvolution(params, *keys, layer.stride, layer.pad))
        elif isinstance(layer, Affine):
            layers.append(BookAffine(params, *keys))
        elif isinstance(layer, Pooling):
            layers.append(BookPooling(layer.pool_h, layer.pool_w, layer.stride, layer.pad))
        elif isinstance(layer, Relu):
            layers.append(BookRelu())
        elif isinstance(layer, Sigmoid):
            layers.append(BookSigmoid())
        elif isinstance(layer, Dropout):
            layers.append(BookDropout(layer.dropout_ratio))
        else:
            raise TypeError(f"no restatement of the book's {type(layer).__name__}")
    return layers


def book_scores(layers: list[Any], x: np.ndarray, train: bool = False) -> np.ndarray:
    """The book's ``predict``: every layer's forward pass in order."""
    for layer in layers:
        x = layer.forward(x, train)
    return x


def book_gradient(layers: list[Any], x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """The book's ``gradient``: forward in training, ``SoftmaxWithLoss`` on labels ``t`` (n,), backward."""
    y = book_scores(layers, x, train=True)
    y = np.exp(y - np.max(y, axis=1, keepdims=True))
    y /= np.sum(y, axis=1, keepdims=True)
    dout = y.copy()  # the book's SoftmaxWithLoss.backward for label indices
    dout[np.arange(len(t)), t] -= 1
    dout /= len(t)
    grads: dict[str, np.ndarray] = {}
    for layer in reversed(layers):
        dout = layer.backward(dout)
        grads |= getattr(layer, "grads", {})
    return grads


class BookAdam:
    """The book's ``Adam`` (``common/optimizer.py``)."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2, self.iter = lr, beta1, beta2, 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if not self.m:
            self.m = {key: np.zeros_like(value) for key, value in params.items()}
            self.v = {key: np.zeros_like(value) for key, value in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


class BookSGD:
    """The book's ``SGD``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]
