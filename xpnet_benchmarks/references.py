"""The programs xpnet is measured against, restated from the book independently of xpnet's layers: chapter 3's
``neuralnet_mnist.py`` loop and the ConvNets' forward pass with the book's layers (:mod:`.book_layers`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xpnet.backends import array_namespace, default_dtype
from xpnet.nn import Model

from .book_layers import book_layers, book_scores

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

    count, counts = 0, default_dtype(xp, "integral")  # int32 where JAX has no int64
    n = x.shape[0]
    for i in range(0, n, batch_size):
        stop = min(i + batch_size, n)
        z1 = sigmoid(x[i:stop, ...] @ w1 + b1)
        z2 = sigmoid(z1 @ w2 + b2)
        y = softmax(z2 @ w3 + b3)
        count += int(xp.sum(xp.astype(xp.argmax(y, axis=1) == t[i:stop], counts)))
    return count / n


def book_convnet_scores(net: Model, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The book's ConvNet forward pass restated (:mod:`.book_layers`): its layers' forward passes in float64 with
    what they keep for backward (ReLU's mask and copy, pooling's ``argmax``), in the book's layer order.

    ``net`` gives the layer sequence (its layers' kinds, strides and pads);
    ``params`` the book's parameter dict; ``x``: (n, 1, 28, 28) float64. Returns the (n, 10) scores.
    """
    return book_scores(book_layers(net, params), x)


def book_convnet_accuracy(net: Model, params: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray,
                          batch_size: int = 100) -> float:
    """:func:`book_convnet_scores` in the book's ``accuracy`` loop over batches of 100. ``t``: (n,) labels."""
    layers = book_layers(net, params)
    correct = 0
    for i in range(0, len(x), batch_size):
        scores = book_scores(layers, x[i : i + batch_size])
        correct += int(np.sum(np.argmax(scores, axis=1) == t[i : i + batch_size]))
    return correct / len(x)
