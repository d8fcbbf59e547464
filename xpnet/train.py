"""Chapters 4 to 6 on any backend, under the book's names: networks that learn, optimizers and the training loop.

``TwoLayerNet`` and ``MultiLayerNet`` take the book's constructor arguments and
offer its ``predict``, ``loss``, ``accuracy``, ``numerical_gradient`` and
``gradient`` (which returns the gradient dict); the optimizers are the book's
with its default learning rates. What xpnet adds (``seed``, ``backend``,
``dtype``) is keyword-only. ``net.params`` holds the parameters under the
book's keys and writes through to the layers, so ``params[key] -= ...`` as
in the book, ``params[key] = ...`` and ``net.params = {...}`` all update the
network. Arrays are never updated in place: each step binds new ones, which
works on immutable arrays too.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np
from array_api_compat import device

from .backend import (
    Backend,
    array_namespace,
    default_dtype,
    get_backend,
    refuse_lazy,
    single_threaded_blas,
    to_device,
    to_numpy,
)
from .layers import Affine, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from .network import accuracy, scaled_input

Array = Any
Grads = dict[str, Array]


def numerical_gradient(f: Callable[[Array], object], x: Array, h: float = 1e-4) -> Array:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h for each element i of ``x``.

    ``f`` computes a number (or a 0-d array) from its argument. ``x`` is never
    written to: each probe is a new array, so immutable arrays (JAX) and lazy
    ones (dask) work too. Slow by design: a check for backpropagation.
    """
    xp = array_namespace(x)
    positions = xp.reshape(xp.arange(math.prod(x.shape), device=device(x)), x.shape)
    slopes = []
    for i in range(math.prod(x.shape)):
        step = xp.astype(positions == i, x.dtype) * h
        slopes.append((float(f(x + step)) - float(f(x - step))) / (2 * h))
    return xp.reshape(xp.asarray(slopes, dtype=x.dtype, device=device(x)), x.shape)


class Params(MutableMapping):
    """A network's parameters under the book's keys (``W1``, ``b1``, ...), read from and written to its layers.

    Setting ``params["W1"]`` rebinds the layer's ``W``, so the layers never
    lose sight of their parameters. The keys are fixed: a new key or a
    deletion raises KeyError.
    """

    def __init__(self, sources: dict[str, tuple[object, str]]) -> None:
        self._sources = sources

    def __getitem__(self, key: str) -> Array:
        layer, name = self._sources[key]
        return getattr(layer, name)

    def __setitem__(self, key: str, value: Array) -> None:
        if key not in self._sources:
            raise KeyError(f"{key!r} is not a parameter of this network (it has {', '.join(self._sources)})")
        layer, name = self._sources[key]
        setattr(layer, name, value)

    def __delitem__(self, key: str) -> None:
        raise KeyError(f"a network's parameters cannot be deleted ({key!r})")

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"Params({', '.join(f'{key}: {tuple(self[key].shape)}' for key in self)})"


class LayerNet:
    """What the book's layered networks share: ``layers`` (an ordered dict), ``last_layer`` and ``params``."""

    layers: dict[str, Any]
    last_layer: SoftmaxWithLoss
    weight_decay_lambda: float = 0.0
    input_shape: tuple[int, ...] | None = None  # (C, H, W) for convolutional networks: flat rows are reshaped

    def __init__(self, *, seed: int | None, backend: Backend | str, dtype: Any) -> None:
        self.backend = get_backend(backend)
        xp = self.backend.xp
        self._dtype = default_dtype(xp, "real floating", self.backend.device) if dtype is None else (
            getattr(xp, dtype) if isinstance(dtype, str) else dtype
        )
        self._rng = np.random.default_rng(seed)
        self.layers = {}
        self._sources: dict[str, tuple[object, str]] = {}

    def _noise(self, shape: tuple[int, ...], scale: float) -> Array:
        """Gaussian noise of ``shape`` times ``scale``, drawn on the host from the network's seeded generator."""
        return self.backend.asarray(self._rng.standard_normal(shape) * scale, dtype=self._dtype)

    def _zeros(self, n: int) -> Array:
        return self.backend.xp.zeros(n, dtype=self._dtype, device=self.backend.device)

    def _add_affine(self, k: int, n_in: int, n_out: int, scale: float, name: str | None = None) -> None:
        self._add(name or f"Affine{k}", k, Affine(self._noise((n_in, n_out), scale), self._zeros(n_out)))

    def _add_convolution(self, k: int, shape: tuple[int, int, int, int], scale: float, stride: int, pad: int,
                         name: str | None = None) -> None:
        convolution = Convolution(self._noise(shape, scale), self._zeros(shape[0]), stride, pad)
        self._add(name or f"Conv{k}", k, convolution)

    def _add(self, name: str, k: int, layer: Affine | Convolution) -> None:
        self.layers[name] = layer
        self._sources |= {f"W{k}": (layer, "W"), f"b{k}": (layer, "b")}

    @property
    def params(self) -> Params:
        return Params(self._sources)

    @params.setter
    def params(self, values: Mapping[str, Array]) -> None:
        """Rebind every parameter at once; the keys must be the network's and the shapes as they are."""
        if set(values) != set(self._sources):
            raise KeyError(f"expected the parameters {sorted(self._sources, key=_natural)}, "
                           f"got {sorted(values, key=_natural)}")
        for key, value in values.items():
            if tuple(value.shape) != tuple(self.params[key].shape):
                raise ValueError(f"{key} has shape {tuple(value.shape)}, not this network's "
                                 f"{tuple(self.params[key].shape)}")
        for key, value in values.items():
            self.params[key] = value

    @property
    def dtype(self) -> Any:
        """The network's floating dtype: the standard's result_type of its parameters."""
        values = list(self.params.values())
        return array_namespace(*values).result_type(*values)

    def to(self, backend: Backend | str) -> LayerNet:
        """Move every parameter to ``backend`` (a Backend or a spec such as ``"cuda"``); returns the network."""
        self.backend = get_backend(backend)
        self.params = {key: to_device(value, self.backend) for key, value in self.params.items()}
        return self

    def predict(self, x: Array, train_flg: bool = False) -> Array:
        """Scores before the softmax, (batch, n_out).

        uint8 pixels count as pixel / 255, floats take the network's dtype;
        a convolutional network takes (batch, C, H, W) or flat rows.
        ``train_flg``: dropout layers drop (training) or scale (inference).
        In inference, a ReLU just before a max pooling runs after it: the two
        commute exactly, and the pooling leaves a quarter of the values (2 x 2
        windows) to rectify.
        """
        x = scaled_input(x, self.dtype)
        if self.input_shape is not None and x.ndim == 2:
            x = array_namespace(x).reshape(x, (-1, *self.input_shape))  # -1: the batch may be symbolic (ndonnx)
        layers = list(self.layers.values())
        if not train_flg:
            layers = _relu_after_pooling(layers)
        for layer in layers:
            x = layer.forward(x, train_flg) if isinstance(layer, Dropout) else layer.forward(x)
        return x

    def scores_with(self, params: Mapping[str, Array], x: Array) -> Array:
        """:meth:`predict` (inference) with ``params`` bound for the call: for compiled callers (JAX's jit),
        which pass the weights as arguments so that a compiled copy never scores with stale ones."""
        current = dict(self.params)
        self.params = params
        try:
            return self.predict(x)
        finally:
            self.params = current

    def loss(self, x: Array, t: Array) -> Array:
        """Cross-entropy error of the batch (labels or one-hot ``t``) plus the weight decay, a 0-d array."""
        y = self.predict(x, train_flg=True)
        decay = sum(0.5 * self.weight_decay_lambda * _sum_of_squares(self.params[key]) for key in self._decayed())
        return self.last_layer.forward(y, t) + decay

    def accuracy(self, x: Array, t: Array, batch_size: int = 100) -> float:
        """Fraction of ``x`` classified as ``t`` says (labels or one-hot), in batches (:func:`xpnet.accuracy`)."""
        return accuracy(self, x, t, batch_size)

    def gradient(self, x: Array, t: Array) -> Grads:
        """Every parameter's gradient of :meth:`loss`, by backpropagation, under the book's keys."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {key: getattr(layer, f"d{name}") for key, (layer, name) in self._sources.items()}
        for key in self._decayed():
            grads[key] = grads[key] + self.weight_decay_lambda * self.params[key]
        return grads

    def numerical_gradient(self, x: Array, t: Array) -> Grads:
        """The same gradients by central differences (slow: for checking :meth:`gradient`)."""
        grads = {}
        for key, value in self.params.items():

            def loss_at(probe: Array, key: str = key, value: Array = value) -> Array:
                self.params[key] = probe
                try:
                    return self.loss(x, t)
                finally:
                    self.params[key] = value

            grads[key] = numerical_gradient(loss_at, value)
        return grads

    def _decayed(self) -> list[str]:
        return [key for key in self._sources if key.startswith("W")] if self.weight_decay_lambda else []


def _relu_after_pooling(layers: list[Any]) -> list[Any]:
    """``layers`` with each ReLU that comes just before a max pooling moved after it.

    max(relu(a), relu(b)) = relu(max(a, b)) for any a and b, NaN and padding
    zeros included: the scores are the same to the bit.
    """
    order = list(layers)
    for k in range(len(order) - 1):
        if isinstance(order[k], Relu) and isinstance(order[k + 1], Pooling):
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def _sum_of_squares(w: Array) -> Array:
    return array_namespace(w).sum(w * w)


def _natural(key: str) -> tuple[str, int]:
    """W2 before W10."""
    return key[0], int(key[1:]) if key[1:].isdigit() else 0


class TwoLayerNet(LayerNet):
    """The book's chapter-5 network: Affine -> ReLU -> Affine -> softmax, weights ``weight_init_std * N(0, 1)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed: int | None = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self._add_affine(1, input_size, hidden_size, weight_init_std)
        self.layers["Relu1"] = Relu()
        self._add_affine(2, hidden_size, output_size, weight_init_std)
        self.last_layer = SoftmaxWithLoss()


ACTIVATIONS = {"sigmoid": Sigmoid, "relu": Relu}


class MultiLayerNet(LayerNet):
    """The book's fully connected network (chapter 6): hidden layers of ``hidden_size_list``, softmax output.

    ``activation``: ``"relu"`` or ``"sigmoid"``. ``weight_init_std``: a number,
    or ``"relu"``/``"he"`` for sqrt(2 / n_in), ``"sigmoid"``/``"xavier"`` for
    sqrt(1 / n_in). ``weight_decay_lambda``: the L2 weight decay. Weights are
    drawn from ``numpy.random.default_rng(seed)``, biases start at zero, in
    ``dtype`` (default: the backend's default float) on ``backend``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        *,
        seed: int | None = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.activation = activation
        self.weight_decay_lambda = weight_decay_lambda
        sizes = [input_size, *hidden_size_list, output_size]
        for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
            self._add_affine(k, n_in, n_out, _init_scale(weight_init_std, n_in))
            if k < len(sizes) - 1:
                self.layers[f"Activation_function{k}"] = ACTIVATIONS[activation]()
        self.last_layer = SoftmaxWithLoss()


class SimpleConvNet(LayerNet):
    """The book's chapter-7 network: conv -> ReLU -> 2x2 max pool -> Affine -> ReLU -> Affine -> softmax.

    Arguments as the book's; the parameters are ``W1`` (filters), ``W2``, ``W3`` and their biases.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: Mapping[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        *,
        seed: int | None = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        conv = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1} | dict(conv_param or {})
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = tuple(input_dim)
        channels, size = input_dim[0], input_dim[1]
        filters, filter_size = conv["filter_num"], conv["filter_size"]
        conv_out = (size - filter_size + 2 * conv["pad"]) // conv["stride"] + 1
        pooled = filters * (conv_out // 2) ** 2
        self._add_convolution(1, (filters, channels, filter_size, filter_size), weight_init_std, conv["stride"],
                              conv["pad"], name="Conv1")
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self._add_affine(2, pooled, hidden_size, weight_init_std, name="Affine1")
        self.layers["Relu2"] = Relu()
        self._add_affine(3, hidden_size, output_size, weight_init_std, name="Affine2")
        self.last_layer = SoftmaxWithLoss()


DEEP_CONVOLUTIONS = (  # the book's conv_param_1 .. conv_param_6
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(LayerNet):
    """The book's chapter-8 network: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters), a 2x2 max pool
    after every second, Affine 50 -> ReLU -> Dropout -> Affine 10 -> Dropout; He initial weights.

    Arguments as the book's (``conv_param_1`` .. ``conv_param_6``); parameters ``W1`` .. ``W8``.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: Mapping[str, int] = DEEP_CONVOLUTIONS[0],
        conv_param_2: Mapping[str, int] = DEEP_CONVOLUTIONS[1],
        conv_param_3: Mapping[str, int] = DEEP_CONVOLUTIONS[2],
        conv_param_4: Mapping[str, int] = DEEP_CONVOLUTIONS[3],
        conv_param_5: Mapping[str, int] = DEEP_CONVOLUTIONS[4],
        conv_param_6: Mapping[str, int] = DEEP_CONVOLUTIONS[5],
        hidden_size: int = 50,
        output_size: int = 10,
        *,
        seed: int | None = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = tuple(input_dim)
        channels, size = input_dim[0], input_dim[1]
        convolutions = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        for k, conv in enumerate(convolutions, start=1):
            filter_size = conv["filter_size"]
            scale = math.sqrt(2.0 / (channels * filter_size * filter_size))
            self._add_convolution(k, (conv["filter_num"], channels, filter_size, filter_size), scale,
                                  conv["stride"], conv["pad"])
            self.layers[f"Relu{k}"] = Relu()
            size = (size - filter_size + 2 * conv["pad"]) // conv["stride"] + 1
            channels = conv["filter_num"]
            if k % 2 == 0:
                self.layers[f"Pool{k // 2}"] = Pooling(pool_h=2, pool_w=2, stride=2)
                size //= 2
        flat = channels * size * size
        self._add_affine(7, flat, hidden_size, math.sqrt(2.0 / flat))
        self.layers["Relu7"] = Relu()
        self.layers["Dropout1"] = Dropout(0.5, seed=seed)
        self._add_affine(8, hidden_size, output_size, math.sqrt(2.0 / hidden_size))
        self.layers["Dropout2"] = Dropout(0.5, seed=None if seed is None else seed + 1)
        self.last_layer = SoftmaxWithLoss()


def _init_scale(weight_init_std: float | str, n_in: int) -> float:
    """The book's rule: a number as it is, He (relu) sqrt(2 / n_in), Xavier (sigmoid) sqrt(1 / n_in)."""
    name = str(weight_init_std).lower()
    if name in ("relu", "he"):
        return math.sqrt(2.0 / n_in)
    if name in ("sigmoid", "xavier"):
        return math.sqrt(1.0 / n_in)
    try:
        return float(weight_init_std)
    except ValueError:
        raise ValueError(f"weight_init_std must be a number, 'relu'/'he' or 'sigmoid'/'xavier', "
                         f"got {weight_init_std!r}") from None


class SGD:
    """Stochastic gradient descent: W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            params[key] = params[key] - self.lr * grads[key]


class Momentum:
    """v <- momentum * v - lr * dW; W <- W + v."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self.v[key] = self.momentum * self.v.get(key, 0.0) - self.lr * grads[key]
            params[key] = self._moved(params[key], self.v[key], grads[key])

    def _moved(self, param: Array, velocity: Array, grad: Array) -> Array:
        return param + velocity


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, in the book's form: the velocity as Momentum's, a look-ahead step."""

    def _moved(self, param: Array, velocity: Array, grad: Array) -> Array:
        return param + self.momentum**2 * velocity - (1 + self.momentum) * self.lr * grad


class AdaGrad:
    """h <- h + dW^2; W <- W - lr * dW / (sqrt(h) + 1e-7)."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr, self.h = lr, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            xp = array_namespace(grads[key])
            self.h[key] = self._accumulated(self.h.get(key, 0.0), grads[key] * grads[key])
            params[key] = params[key] - self.lr * grads[key] / (xp.sqrt(self.h[key]) + 1e-7)

    def _accumulated(self, h: Array, squared: Array) -> Array:
        return h + squared


class RMSprop(AdaGrad):
    """AdaGrad with a forgetting sum: h <- decay_rate * h + (1 - decay_rate) * dW^2."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def _accumulated(self, h: Array, squared: Array) -> Array:
        return self.decay_rate * h + (1 - self.decay_rate) * squared


class Adam:
    """Adam with the book's bias correction folded into the learning rate."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, {}, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        self.iter += 1
        lr_t = self.lr * math.sqrt(1 - self.beta2**self.iter) / (1 - self.beta1**self.iter)
        for key in grads:
            xp = array_namespace(grads[key])
            self.m[key] = self.m.get(key, 0.0) + (1 - self.beta1) * (grads[key] - self.m.get(key, 0.0))
            self.v[key] = self.v.get(key, 0.0) + (1 - self.beta2) * (grads[key] ** 2 - self.v.get(key, 0.0))
            params[key] = params[key] - lr_t * self.m[key] / (xp.sqrt(self.v[key]) + 1e-7)


Optimizer = SGD | Momentum | Nesterov | AdaGrad | RMSprop | Adam
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}


def train_epoch(
    net: LayerNet,
    x: Array,
    t: Array,
    optimizer: Optimizer,
    rng: np.random.Generator,
    batch_size: int = 100,
    progress: Callable[[int], object] | None = None,
) -> float:
    """One pass over ``(x, t)`` in mini-batches of a random order; returns the mean loss (before weight decay).

    Images may be uint8 pixels or floats (see ``LayerNet.predict``). The order
    goes to the device once; the loss is summed on the device and read once.
    BLAS runs on one thread meanwhile: mini-batch products are too small to
    share, and a second thread only waits (or, on a loaded machine, stalls).
    Dask is refused: its graph would grow with every step.
    """
    refuse_lazy(x, "training")
    xp = array_namespace(x, t)
    n = x.shape[0]
    order = xp.asarray(rng.permutation(n), device=device(x))
    loss_sum = None
    with single_threaded_blas():
        for start in range(0, n, batch_size):
            rows = order[start : min(start + batch_size, n)]
            grads = net.gradient(xp.take(x, rows, axis=0), xp.take(t, rows, axis=0))
            optimizer.update(net.params, grads)
            batch_loss = net.last_layer.loss * rows.shape[0]
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            if progress is not None:
                progress(rows.shape[0])
    return float(to_numpy(loss_sum)) / n


def fit(
    net: LayerNet,
    train: tuple[Array, Array],
    test: tuple[Array, Array],
    *,
    epochs: int,
    optimizer: Optimizer,
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
            "train_accuracy": net.accuracy(*train, batch_size=1000),
            "test_accuracy": net.accuracy(*test, batch_size=1000),
            "seconds": seconds,
            "images_per_s": train[0].shape[0] / seconds,
        }
