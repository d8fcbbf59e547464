"""The book's ``Trainer`` (``common/trainer.py``) and its ``common/util.py`` helpers for training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from array_api_compat import device

from ..backends import array_namespace
from ..nn import Model
from .optimizers import OPTIMIZERS

Array = Any


class Trainer:
    """Trains ``network`` as the book's ``Trainer`` does: ``epochs`` of random mini-batches (drawn with NumPy's
    global ``np.random.choice``, as the book's), an accuracy on the training and test data at each epoch's
    start, ``train_loss_list``, ``train_acc_list`` and ``test_acc_list``.

    The data may be NumPy arrays (the book's) or arrays of the network's
    backend; NumPy batches go to the network's device as they are drawn.
    """

    def __init__(self, network: Model, x_train: Array, t_train: Array, x_test: Array, t_test: Array,
                 epochs: int = 20, mini_batch_size: int = 100, optimizer: str = "SGD",
                 optimizer_param: Mapping[str, float] | None = None, evaluate_sample_num_per_epoch: int | None = None,
                 verbose: bool = True) -> None:
        self.network, self.verbose = network, verbose
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
        self.optimizer.update(self.network.params, grads)
        loss = float(self.network.loss(x_batch, t_batch))
        self.train_loss_list.append(loss)
        if self.verbose:
            print(f"train loss:{loss}")
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            samples = slice(self.evaluate_sample_num_per_epoch)  # slice(None): all of them
            train = (self.x_train[samples], self.t_train[samples])
            test = (self.x_test[samples], self.t_test[samples])
            self.train_acc_list.append(self.network.accuracy(*train))
            self.test_acc_list.append(self.network.accuracy(*test))
            if self.verbose:
                print(f"=== epoch:{self.current_epoch}, train acc:{self.train_acc_list[-1]}, "
                      f"test acc:{self.test_acc_list[-1]} ===")
        self.current_iter += 1

    def train(self) -> None:
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print(f"test acc:{test_acc}")


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
