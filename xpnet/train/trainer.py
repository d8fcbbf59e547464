"""The book's ``Trainer`` (``common/trainer.py``) and its ``common/util.py`` helpers for training."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from array_api_compat import device

from ..backends import Backend, array_namespace, get_backend, is_writable, to_numpy
from ..nn import Layer, Model
from .optimizers import OPTIMIZERS

Array = Any


class Trainer:
    """Trains ``network`` as the book's ``Trainer`` does: ``epochs`` of random mini-batches (drawn with NumPy's
    global ``np.random.choice``, as the book's), an accuracy on the training and test data at each epoch's
    start, ``train_loss_list``, ``train_acc_list`` and ``test_acc_list``.

    The data may be NumPy arrays (the book's) or arrays of the network's
    backend; NumPy batches go to the network's device as they are drawn.

    ``network`` may also be one of the book's own classes (its ``params`` a dict of NumPy arrays that its
    layers, xpnet's, hold). With a ``backend`` other than NumPy's, :meth:`train` then places the parameters,
    and the layers' same arrays, and the data on that backend for its span, scores the book's way there
    (``predict``, then argmax in batches of 100, as the book's ConvNets do; the book's ``accuracy`` calls
    NumPy), and hands the parameters back to the host as NumPy arrays, so that the script's ``save_params``
    and the rest go on as the book's.
    """

    def __init__(self, network: Model, x_train: Array, t_train: Array, x_test: Array, t_test: Array,
                 epochs: int = 20, mini_batch_size: int = 100, optimizer: str = "SGD",
                 optimizer_param: Mapping[str, float] | None = None, evaluate_sample_num_per_epoch: int | None = None,
                 verbose: bool = True, *, backend: Backend | str | None = None) -> None:
        self.network, self.verbose = network, verbose
        backend = get_backend(backend) if isinstance(backend, str) else backend
        # the book's own network classes hold NumPy arrays; xpnet's networks are placed when made
        self.backend = None if isinstance(network, Model) or backend is None or backend.name == "numpy" else backend
        self._placed_now = False
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.epochs, self.batch_size = epochs, mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = OPTIMIZERS[optimizer.lower()](**dict(optimizer_param or {"lr": 0.01}))
        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []

    def train_step(self) -> None:
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch, t_batch = _rows(self.x_train, batch_mask), _rows(self.t_train, batch_mask)
        grads = self.network.gradient(x_batch, t_batch)
        before = dict(self.network.params) if self._placed_now else {}
        self.optimizer.update(self.network.params, grads)
        if before and not is_writable(next(iter(before.values()))):  # new arrays bound (JAX): the layers' too
            bound = {id(old): self.network.params[key] for key, old in before.items()}
            _rebind(self.network, lambda old: bound.get(id(old), old), before)
        loss = float(self.network.loss(x_batch, t_batch))
        self.train_loss_list.append(loss)
        if self.verbose:
            print(f"train loss:{loss}")
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            samples = slice(self.evaluate_sample_num_per_epoch)  # slice(None): all of them
            train = (self.x_train[samples, ...], self.t_train[samples, ...])
            test = (self.x_test[samples, ...], self.t_test[samples, ...])
            self.train_acc_list.append(self._accuracy(*train))
            self.test_acc_list.append(self._accuracy(*test))
            if self.verbose:
                print(f"=== epoch:{self.current_epoch}, train acc:{self.train_acc_list[-1]}, "
                      f"test acc:{self.test_acc_list[-1]} ===")
        self.current_iter += 1

    def train(self) -> None:
        with self._placed():
            for _ in range(self.max_iter):
                self.train_step()
            test_acc = self._accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{test_acc}")

    def _accuracy(self, x: Array, t: Array) -> float:
        """The network's accuracy: its own on the host, the book's ConvNets' formula where :meth:`train`
        placed a book network elsewhere."""
        if not self._placed_now:
            return float(self.network.accuracy(x, t))
        xp = array_namespace(x, t)
        labels = xp.argmax(t, axis=1) if t.ndim != 1 else t
        # counted on the device and read once
        correct = sum(xp.sum(xp.astype(xp.argmax(self.network.predict(x[i : i + 100, ...]), axis=1)
                                       == labels[i : i + 100], xp.int32)) for i in range(0, x.shape[0] - 99, 100))
        return int(correct) / x.shape[0]

    @contextlib.contextmanager
    def _placed(self) -> Iterator[None]:
        """The book's network and the data on :attr:`backend` for the span of the block; back on the host after."""
        if self.backend is None:
            yield
            return
        data = (self.x_train, self.t_train, self.x_test, self.t_test)
        _rebind(self.network, self.backend.asarray)
        self.x_train, self.t_train, self.x_test, self.t_test = (self.backend.asarray(d) for d in data)
        self._placed_now = True
        try:
            yield
        finally:
            _rebind(self.network, to_numpy)
            self.x_train, self.t_train, self.x_test, self.t_test = data
            self._placed_now = False


def _layers(network: Any) -> Iterator[Layer]:
    """The layers a network holds: in its attributes, and in its attributes' dicts and lists."""
    for value in vars(network).values():
        for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]:
            if isinstance(item, Layer):
                yield item


def _rebind(network: Any, place: Callable[[Array], Array], params: Mapping[str, Array] | None = None) -> None:
    """``network.params`` placed by ``place``, and each layer's parameter that is one of those arrays bound to
    its placed copy (the book's layers share the arrays of ``params``, and optimizers update them in place), and
    each layer's saved state placed too.
    ``params``: the arrays as they were, where ``network.params`` has already been bound anew."""
    params = network.params if params is None else params
    placed = {id(value): place(value) for value in params.values()}
    for layer in _layers(network):
        layer.params = {name: placed[id(value)] if id(value) in placed else place(value)
                        for name, value in layer.params.items()}
        for name in layer.state_names:  # running statistics go where the parameters go
            if getattr(layer, name) is not None:
                setattr(layer, name, place(getattr(layer, name)))
    for key, value in params.items():
        network.params[key] = placed[id(value)]


def _rows(data: Array, rows: np.ndarray) -> Array:
    """``data[rows]`` for host row numbers, wherever ``data`` lives (the standard indexes by arrays with take)."""
    if isinstance(data, np.ndarray):
        return data[rows]
    xp = array_namespace(data)
    return xp.take(data, xp.asarray(rows, device=device(data)), axis=0)


def shuffle_dataset(x: Array, t: Array) -> tuple[Array, Array]:
    """``x`` and ``t`` in one random order (NumPy's global generator, as the book's)."""
    permutation = np.random.permutation(x.shape[0])
    return _rows(x, permutation), _rows(t, permutation)


def smooth_curve(x: Sequence[float]) -> np.ndarray:
    """A loss curve smoothed as the book's plots are: a Kaiser window of 11 (beta 2), the ends mirrored."""
    window_len = 11
    values = np.asarray([float(v) for v in x])
    s = np.r_[values[window_len - 1 : 0 : -1], values, values[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5 : len(y) - 5]
