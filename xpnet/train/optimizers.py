"""The book's optimizers (``common/optimizer.py``) for arrays of any backend, with its default learning rates.

Each ``update(params, grads)`` changes ``params`` as the book writes it,
``params[key] -= step``: in place where the library lets an array be
changed (so layers that hold the arrays, the book's own included, see each
step), and by binding the new array into ``params`` where it does not (JAX;
a network's ``params`` writes it through to its layers). Python numbers work
too, as the book's ``optimizer_compare_naive.py`` has them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, ClassVar

from ..backends import array_namespace, as_array

Array = Any
Grads = dict[str, Array]


class Stateful:
    """What an optimizer carries from step to step, to save with a checkpoint and load to go on from it:
    ``slots`` name its dicts of per-parameter arrays (Momentum's ``v``), ``counters`` its step counts."""

    slots: ClassVar[tuple[str, ...]] = ()
    counters: ClassVar[tuple[str, ...]] = ()

    def state(self) -> dict[str, Any]:
        """The state as a flat dict: ``"v.W1"`` for a slot's array, the counter's name for a count."""
        state: dict[str, Any] = {name: getattr(self, name) for name in self.counters}
        for slot in self.slots:
            state.update({f"{slot}.{key}": value for key, value in getattr(self, slot).items()})
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (as :meth:`state` gives it, the arrays placed where the parameters are);
        ValueError for a name this optimizer does not keep."""
        self._apply(state, int)

    def restored(self, state: Mapping[str, Any]) -> Stateful:
        """A copy that goes on from ``state`` alone, its counts left as they come (arrays, in a compiled step)."""
        clone = copy.copy(self)
        for slot in self.slots:
            setattr(clone, slot, {})
        clone._apply(state, lambda count: count)
        return clone

    def _apply(self, state: Mapping[str, Any], count: Callable[[Any], Any]) -> None:
        for name, value in state.items():
            slot, _, key = name.partition(".")
            if name in self.counters:
                setattr(self, name, count(value))
            elif slot in self.slots and key:
                getattr(self, slot)[key] = value
            else:
                raise ValueError(f"{type(self).__name__} keeps no {name!r}")


class SGD(Stateful):
    """Stochastic gradient descent: W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            params[key] -= self.lr * grads[key]


class Momentum(Stateful):
    """v <- momentum * v - lr * dW; W <- W + v."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self.v[key] = self.momentum * self.v.get(key, 0.0) - self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient as the book computes it: W <- W + momentum^2 v - (1 + momentum) lr dW,
    then v <- momentum * v - lr * dW (the velocity of the step before enters the step)."""

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            velocity = self.v.get(key, 0.0)
            params[key] += self.momentum * self.momentum * velocity
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] = self.momentum * velocity - self.lr * grads[key]


class AdaGrad(Stateful):
    """h <- h + dW^2; W <- W - lr * dW / (sqrt(h) + 1e-7)."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01) -> None:
        self.lr, self.h = lr, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self.h[key] = self._accumulated(self.h.get(key, 0.0), grads[key] * grads[key])
            params[key] -= self.lr * grads[key] / (_sqrt(self.h[key]) + 1e-7)

    def _accumulated(self, h: Array, squared: Array) -> Array:
        return h + squared


class RMSprop(AdaGrad):
    """AdaGrad with a forgetting sum: h <- decay_rate * h + (1 - decay_rate) * dW^2."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def _accumulated(self, h: Array, squared: Array) -> Array:
        return self.decay_rate * h + (1 - self.decay_rate) * squared


class Adam(Stateful):
    """Adam with the book's bias correction folded into the learning rate."""

    slots = ("m", "v")
    counters = ("iter",)

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, {}, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        self.iter += 1
        lr_t = self.lr * _root(1 - self.beta2**self.iter) / (1 - self.beta1**self.iter)
        for key in grads:
            self.m[key] = self.m.get(key, 0.0) + (1 - self.beta1) * (grads[key] - self.m.get(key, 0.0))
            self.v[key] = self.v.get(key, 0.0) + (1 - self.beta2) * (grads[key] ** 2 - self.v.get(key, 0.0))
            params[key] -= lr_t * self.m[key] / (_sqrt(self.v[key]) + 1e-7)


def _root(value: Any) -> Any:
    """The square root of a Python number (a Python float), or of an array (a compiled step's count)."""
    return math.sqrt(value) if isinstance(value, int | float) else _sqrt(value)


def _sqrt(x: Array) -> Array:
    """sqrt of an array of any library, or of a Python number (as NumPy gives it)."""
    x = as_array(x)
    return array_namespace(x).sqrt(x)


Optimizer = SGD | Momentum | Nesterov | AdaGrad | RMSprop | Adam
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}
