"""The programs xpnet is measured against, restated from the book independently of xpnet's layers: chapter 3's
``neuralnet_mnist.py`` loop and the ConvNets' forward pass with the book's im2col, both in plain NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from xpnet.backends import array_namespace
from xpnet.nn import Affine, Convolution, Dropout, Model, Pooling, Relu

Array = Any


def chapter_accuracy(network: dict[str, Array], x: Array, t: Array, batch_size: int = 100) -> float:
    """The chapter's ``neuralnet_mnist.py`` loop, restated for any namespace (3-layer networks).

    float32 input normalized beforehand, sigmoid as 1 / (1 + exp(-x)), the
    book's softmax kept, and each batch's count added to a Python number:
    one device-to-host transfer per batch.
    """
    xp = array_namespace(x, t)
    w1, b1, w2, b2, w3, b3 = (network[key] for key in ("W1", "b1", "W2", "b2", "W3", "b3"))

    def sigmoid(a: Array) -> Array:
        return 1 / (1 + xp.exp(-a))

    def softmax(a: Array) -> Array:  # as printed in the chapter: one max and one sum for the whole batch
        exp_a = xp.exp(a - xp.max(a))
        return exp_a / xp.sum(exp_a)

    count = 0
    n = x.shape[0]
    for i in range(0, n, batch_size):
        stop = min(i + batch_size, n)
        z1 = sigmoid(x[i:stop, ...] @ w1 + b1)
        z2 = sigmoid(z1 @ w2 + b2)
        y = softmax(z2 @ w3 + b3)
        count += int(xp.sum(xp.astype(xp.argmax(y, axis=1) == t[i:stop], xp.int64)))
    return count / n


def im2col(data: np.ndarray, filter_h: int, filter_w: int, stride: int, pad: int) -> np.ndarray:
    """The book's ``common/util.py`` im2col: ``np.pad``, a loop over filter positions, ``transpose``."""
    n, c, h, w = data.shape
    out_h, out_w = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    img = np.pad(data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        for x_ in range(filter_w):
            col[:, :, y, x_, :, :] = img[:, :, y : y + stride * out_h : stride, x_ : x_ + stride * out_w : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def _convolution(layer: Convolution, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    fn, _, fh, fw = w.shape
    n, _, h, width = a.shape
    out_h, out_w = 1 + (h + 2 * layer.pad - fh) // layer.stride, 1 + (width + 2 * layer.pad - fw) // layer.stride
    out = np.dot(im2col(a, fh, fw, layer.stride, layer.pad), w.reshape(fn, -1).T) + b
    return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)


def _pooling(layer: Pooling, a: np.ndarray) -> np.ndarray:
    n, c, h, width = a.shape
    out_h, out_w = 1 + (h - layer.pool_h) // layer.stride, 1 + (width - layer.pool_w) // layer.stride
    col = im2col(a, layer.pool_h, layer.pool_w, layer.stride, layer.pad).reshape(-1, layer.pool_h * layer.pool_w)
    np.argmax(col, axis=1)  # the book's Pooling.forward keeps arg_max for backward
    return np.max(col, axis=1).reshape(n, out_h, out_w, c).transpose(0, 3, 1, 2)


def _relu(a: np.ndarray) -> np.ndarray:  # the book's Relu.forward: a mask, a copy, the masked entries zeroed
    mask = a <= 0
    a = a.copy()
    a[mask] = 0
    return a


def book_convnet_scores(net: Model, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The book's ConvNet forward pass restated: its layers' forward passes in float64 with what they keep for
    backward (ReLU's mask and copy, pooling's ``argmax``), in the book's layer order.

    ``net`` gives the layer sequence (its layers' kinds, strides and pads);
    ``params`` the book's parameter dict; ``x``: (n, 1, 28, 28) float64. Returns the (n, 10) scores.
    """
    numbers = {layer: key[len(name):] for key, (layer, name) in net._keys.items()}
    a = x
    for name, layer in net.layers.items():
        k = numbers.get(name)
        if isinstance(layer, Convolution):
            a = _convolution(layer, params[f"W{k}"], params[f"b{k}"], a)
        elif isinstance(layer, Pooling):
            a = _pooling(layer, a)
        elif isinstance(layer, Relu):
            a = _relu(a)
        elif isinstance(layer, Affine):
            a = np.dot(a.reshape(a.shape[0], -1), params[f"W{k}"]) + params[f"b{k}"]
        elif isinstance(layer, Dropout):
            a = a * (1.0 - layer.dropout_ratio)
    return a


def book_convnet_accuracy(net: Model, params: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray,
                          batch_size: int = 100) -> float:
    """:func:`book_convnet_scores` in the book's ``accuracy`` loop over batches of 100. ``t``: (n,) labels."""
    correct = 0
    for i in range(0, len(x), batch_size):
        scores = book_convnet_scores(net, params, x[i : i + batch_size])
        correct += int(np.sum(np.argmax(scores, axis=1) == t[i : i + batch_size]))
    return correct / len(x)
