"""Chapters 4 and 5 on any backend: losses, the numerical gradient, layers with backward passes,
a multi-layer network, the optimizers and the training loop.

Parameters use the book's keys (``W1..Wn``, ``b1..bn``), so a trained
network's ``params`` feed straight into :func:`xpnet.accuracy` and
:func:`xpnet.save_weights`. Arrays are never updated in place: each step binds
new ones, which works on immutable arrays too.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from array_api_compat import device

from .backend import Backend, array_namespace, get_backend, to_numpy
from .functions import relu, sigmoid, softmax
from .network import accuracy

Array = Any
Params = dict[str, Array]


def one_hot(t: Array, like: Array) -> Array:
    """Targets ``t`` as one-hot rows of the shape and dtype of the outputs ``like``.

    ``t`` is one-hot already (the shape of ``like``) or class indices (its
    shape without the last axis).
    """
    xp = array_namespace(t, like)
    if t.shape == like.shape:
        return xp.astype(t, like.dtype)
    return xp.astype(t[..., None] == xp.arange(like.shape[-1], device=device(t)), like.dtype)


def sum_squared_error(y: Array, t: Array) -> Array:
    """0.5 * sum((y - t)^2) over the classes, averaged over a batch; ``t`` one-hot or class indices."""
    xp = array_namespace(y)
    return xp.mean(0.5 * xp.sum((y - one_hot(t, y)) ** 2, axis=-1))


def cross_entropy_error(y: Array, t: Array) -> Array:
    """-sum(t * log(y + 1e-7)) over the classes, averaged over a batch; the 1e-7 keeps log(0) away."""
    xp = array_namespace(y)
    return xp.mean(-xp.sum(one_hot(t, y) * xp.log(y + 1e-7), axis=-1))


def numerical_gradient(f: Callable[[Array], object], x: Array, h: float = 1e-4) -> Array:
    """Central differences (f(x + h) - f(x - h)) / 2h for each element of ``x``, which is restored.

    ``f`` returns a number (or a 0-d array). Slow by design: a check for backpropagation.
    """
    xp = array_namespace(x)
    grad = xp.zeros_like(x)
    for index in itertools.product(*(range(n) for n in x.shape)):
        original = float(x[index])  # a number, not a view that the next line would change
        x[index] = original + h
        above = float(f(x))
        x[index] = original - h
        below = float(f(x))
        x[index] = original
        grad[index] = (above - below) / (2 * h)
    return grad


class Affine:
    """x @ W + b, reading ``W{k}`` and ``b{k}`` from ``params`` at each call."""

    def __init__(self, params: Params, k: int) -> None:
        self.params, self.k = params, k

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.params[f"W{self.k}"] + self.params[f"b{self.k}"]

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        self.dW = self.x.T @ dout
        self.db = xp.sum(dout, axis=0)
        return dout @ self.params[f"W{self.k}"].T


class Sigmoid:
    def forward(self, x: Array) -> Array:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: Array) -> Array:
        return dout * (1.0 - self.out) * self.out


class Relu:
    def forward(self, x: Array) -> Array:
        self.positive = x > 0
        return relu(x)

    def backward(self, dout: Array) -> Array:
        xp = array_namespace(dout)
        return xp.where(self.positive, dout, xp.zeros_like(dout))


class SoftmaxWithLoss:
    """Softmax, then the cross-entropy error; backward gives (y - t) / batch."""

    def forward(self, x: Array, t: Array) -> Array:
        self.y = softmax(x)
        self.t = one_hot(t, x)
        return cross_entropy_error(self.y, self.t)

    def backward(self) -> Array:
        return (self.y - self.t) / self.y.shape[0]


class MultiLayerNet:
    """A dense network, e.g. sizes (784, 50, 100, 10), with sigmoid or ReLU hidden layers and a softmax output.

    Weights start as Gaussian noise from ``numpy.random.default_rng(seed)``,
    scaled by sqrt(1/n_in) (``"xavier"``) or sqrt(2/n_in) (``"he"``), biases at
    zero, in ``dtype`` on ``backend``; ``params`` holds them under the book's keys.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "sigmoid",
        weight_init: str = "xavier",
        seed: int = 0,
        backend: Backend | str = "cpu",
        dtype: str = "float32",
    ) -> None:
        backend = get_backend(backend)
        if activation not in ("sigmoid", "relu") or weight_init not in ("xavier", "he") or len(sizes) < 2:
            raise ValueError(f"need 2+ sizes, activation sigmoid|relu, weight_init xavier|he; got "
                             f"{list(sizes)}, {activation!r}, {weight_init!r}")
        rng = np.random.default_rng(seed)
        self.activation = activation
        self.params: Params = {}
        self.layers: list[Any] = []
        for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
            scale = math.sqrt((1.0 if weight_init == "xavier" else 2.0) / n_in)
            self.params[f"W{k}"] = backend.asarray((rng.standard_normal((n_in, n_out)) * scale).astype(dtype))
            self.params[f"b{k}"] = backend.asarray(np.zeros(n_out, dtype=dtype))
            self.layers.append(Affine(self.params, k))
            self.layers.append(Sigmoid() if activation == "sigmoid" else Relu())
        self.layers.pop()  # the output layer's activation is the softmax in the loss
        self.output = SoftmaxWithLoss()

    def loss(self, x: Array, t: Array) -> Array:
        """The mean cross-entropy error of a float batch ``x`` against labels ``t``, a 0-d array."""
        for layer in self.layers:
            x = layer.forward(x)
        return self.output.forward(x, t)

    def gradient(self, x: Array, t: Array) -> tuple[Array, Params]:
        """The loss and the gradient of every parameter, by backpropagation."""
        loss = self.loss(x, t)
        dout = self.output.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        affine = [layer for layer in self.layers if isinstance(layer, Affine)]
        grads = {f"W{a.k}": a.dW for a in affine} | {f"b{a.k}": a.db for a in affine}
        return loss, grads

    def numerical_gradient(self, x: Array, t: Array) -> Params:
        """The same gradients by central differences (slow: for checking ``gradient``)."""
        return {key: numerical_gradient(lambda _: self.loss(x, t), value) for key, value in self.params.items()}

    def accuracy(self, x: Array, t: Array, batch_size: int = 1000) -> float:
        return accuracy(self.params, x, t, batch_size, activation=self.activation)


class SGD:
    """Plain stochastic gradient descent: p -= lr * grad."""

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr

    def update(self, params: Params, grads: Params) -> None:
        for key in params:
            params[key] = params[key] - self.lr * grads[key]


class Momentum:
    """v = momentum * v - lr * grad; p += v (the book's default lr is 0.01; 0.05 learns faster here)."""

    def __init__(self, lr: float = 0.05, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.velocity = lr, momentum, {}

    def update(self, params: Params, grads: Params) -> None:
        for key in params:
            self.velocity[key] = self.momentum * self.velocity.get(key, 0.0) - self.lr * grads[key]
            params[key] = params[key] + self.velocity[key]


class Adam:
    """Adam with bias correction (the book's default lr is 0.001; 0.005 learns faster here)."""

    def __init__(self, lr: float = 0.005, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2, self.steps, self.m, self.v = lr, beta1, beta2, 0, {}, {}

    def update(self, params: Params, grads: Params) -> None:
        self.steps += 1
        lr = self.lr * math.sqrt(1 - self.beta2**self.steps) / (1 - self.beta1**self.steps)
        for key in params:
            xp = array_namespace(grads[key])
            self.m[key] = self.m.get(key, 0.0) + (1 - self.beta1) * (grads[key] - self.m.get(key, 0.0))
            self.v[key] = self.v.get(key, 0.0) + (1 - self.beta2) * (grads[key] ** 2 - self.v.get(key, 0.0))
            params[key] = params[key] - lr * self.m[key] / (xp.sqrt(self.v[key]) + 1e-7)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def train_epoch(
    net: MultiLayerNet,
    x: Array,
    t: Array,
    optimizer: SGD | Momentum | Adam,
    rng: np.random.Generator,
    batch_size: int = 100,
    progress: Callable[[int], object] | None = None,
) -> float:
    """One pass over ``(x, t)`` in mini-batches of a random order; returns the mean loss.

    Images may be uint8 pixels (scaled per batch) or floats. The order goes to
    the device once; the loss is summed on the device and read once.
    """
    xp = array_namespace(x, t)
    dtype = net.params["W1"].dtype
    n = x.shape[0]
    order = xp.asarray(rng.permutation(n), device=device(x))
    loss_sum = xp.zeros((), dtype=dtype, device=device(x))
    for start in range(0, n, batch_size):
        rows = order[start : min(start + batch_size, n)]
        batch = xp.take(x, rows, axis=0)
        batch = xp.astype(batch, dtype) / 255 if batch.dtype == xp.uint8 else batch
        loss, grads = net.gradient(batch, xp.take(t, rows, axis=0))
        optimizer.update(net.params, grads)
        loss_sum = loss_sum + loss * rows.shape[0]
        if progress is not None:
            progress(rows.shape[0])
    return float(to_numpy(loss_sum)) / n


def fit(
    net: MultiLayerNet,
    train: tuple[Array, Array],
    test: tuple[Array, Array],
    *,
    epochs: int,
    optimizer: SGD | Momentum | Adam,
    batch_size: int = 100,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
) -> Iterator[dict[str, float]]:
    """Train for ``epochs``; yields after each its mean loss, train and test accuracy and seconds."""
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(net, *train, optimizer, rng, batch_size, progress)
        seconds = time.perf_counter() - start
        yield {
            "epoch": epoch,
            "loss": loss,
            "train_accuracy": net.accuracy(*train),
            "test_accuracy": net.accuracy(*test),
            "seconds": seconds,
            "images_per_s": train[0].shape[0] / seconds,
        }
