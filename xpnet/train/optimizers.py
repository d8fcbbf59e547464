"""The book's optimizers (``common/optimizer.py``) for arrays of any backend, with its default learning rates.

Each ``update(params, grads)`` changes ``params`` as the book writes it,
``params[key] -= step``: in place where the library lets an array be
changed (so layers that hold the arrays, the book's own included, see each
step), and by binding the new array into ``params`` where it does not (JAX;
a network's ``params`` writes it through to its layers). The optimizer's own
arrays (Momentum's velocities, Adam's moments) change the same way, and
leave it only as copies (:meth:`Stateful.state`). Python numbers work too, as
the book's ``optimizer_compare_naive.py`` has them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

from array_api_compat import is_writeable_array

from ..backends import array_namespace, as_array
from ..kernels import kernels_for

Array = Any
Grads = dict[str, Array]


class Stateful:
    """What an optimizer carries from step to step, to save with a checkpoint and load to go on from it:
    ``slots`` name its dicts of per-parameter arrays (Momentum's ``v``), ``counters`` its step counts."""

    slots: ClassVar[tuple[str, ...]] = ()
    counters: ClassVar[tuple[str, ...]] = ()

    def state(self) -> dict[str, Any]:
        """The state as a flat dict: ``"v.W1"`` for a copy of a slot's array, the counter's name for a count."""
        state: dict[str, Any] = {name: getattr(self, name) for name in self.counters}
        for slot in self.slots:
            state.update({f"{slot}.{key}": _copy(value) for key, value in getattr(self, slot).items()})
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Go on from ``state`` (as :meth:`state` gives it, the arrays placed where the parameters are; copied);
        ValueError for a name this optimizer does not keep."""
        self._apply(state, int)

    def restored(self, state: Mapping[str, Any]) -> Stateful:
        """A copy that goes on from ``state`` alone, its counts left as they come (arrays, in a compiled step)."""
        clone = copy.copy(self)
        for slot in self.slots:
            setattr(clone, slot, {})
        clone._apply(state, lambda count: count)
        return clone

    def ready(self, params: Mapping[str, Array]) -> None:
        """Give every slot an array for each of ``params`` (zeros), as the first step would: a compiled step then
        takes arguments of the same kinds from the first step on, and is compiled once."""
        for key, value in params.items():
            self._ready(key, value)

    def part(self, rows: Callable[[Array], Array], params: Mapping[str, Array]) -> Stateful | None:
        """A copy that steps the part of each of ``params`` that ``rows`` picks (a view of its array), its slots
        the same views of this one's, which its steps change in place: copies over disjoint parts, stepped side
        by side, take this one's step together (then :meth:`join` them). None until this one holds an array for
        each parameter in every slot (after its first step), or where an array cannot be changed in place."""
        held = [getattr(self, slot) for slot in self.slots]
        if not all(params.keys() <= arrays.keys() for arrays in held) or not all(
                is_writeable_array(value) for arrays in (params, *held) for value in arrays.values()):
            return None
        clone = copy.copy(self)
        for slot, arrays in zip(self.slots, held, strict=True):
            setattr(clone, slot, {key: rows(value) for key, value in arrays.items()})
        return clone

    def join(self, parts: Sequence[Stateful]) -> None:
        """Go on after ``parts`` (from :meth:`part`) took a step: their slots wrote into this one's; the counts."""
        for name in self.counters:
            setattr(self, name, getattr(parts[0], name))

    def _apply(self, state: Mapping[str, Any], count: Callable[[Any], Any]) -> None:
        for name, value in state.items():
            slot, _, key = name.partition(".")
            if name in self.counters:
                setattr(self, name, count(value))
            elif slot in self.slots and key:
                getattr(self, slot)[key] = _copy(value)
            else:
                raise ValueError(f"{type(self).__name__} keeps no {name!r}")

    def _ready(self, key: str, like: Array) -> None:
        """Give every slot an array for ``key``: zeros like ``like`` at the first step."""
        for slot in self.slots:
            arrays = getattr(self, slot)
            if key not in arrays:
                arrays[key] = _zeros_like(like)


class SGD(Stateful):
    """Stochastic gradient descent: W <- W - lr * dW."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            params[key] = _subtract_scaled(params[key], self.lr, grads[key])


class Momentum(Stateful):
    """v <- momentum * v - lr * dW; W <- W + v."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum, self.v = lr, momentum, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self._ready(key, grads[key])
            self.v[key] *= self.momentum
            self.v[key] = _subtract_scaled(self.v[key], self.lr, grads[key])
            params[key] += self.v[key]


class Nesterov(Momentum):
    """Nesterov's accelerated gradient as the book computes it: W <- W + momentum^2 v - (1 + momentum) lr dW,
    then v <- momentum * v - lr * dW (the velocity of the step before enters the step)."""

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self._ready(key, grads[key])
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] = _subtract_scaled(params[key], (1 + self.momentum) * self.lr, grads[key])
            self.v[key] *= self.momentum
            self.v[key] = _subtract_scaled(self.v[key], self.lr, grads[key])


class AdaGrad(Stateful):
    """h <- h + dW^2; W <- W - lr * dW / (sqrt(h) + 1e-7)."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01) -> None:
        self.lr, self.h = lr, {}

    def update(self, params: MutableMapping[str, Array], grads: Grads) -> None:
        for key in grads:
            self._ready(key, grads[key])
            self._accumulate(key, grads[key] * grads[key])
            params[key] -= self.lr * grads[key] / (_sqrt(self.h[key]) + 1e-7)

    def _accumulate(self, key: str, squared: Array) -> None:
        self.h[key] += squared


class RMSprop(AdaGrad):
    """AdaGrad with a forgetting sum: h <- decay_rate * h + (1 - decay_rate) * dW^2."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = decay_rate

    def _accumulate(self, key: str, squared: Array) -> None:
        self.h[key] *= self.decay_rate
        self.h[key] += (1 - self.decay_rate) * squared


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
            self._ready(key, grads[key])
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (_sqrt(self.v[key]) + 1e-7)


def _subtract_scaled(a: Array, scale: Any, b: Array) -> Array:
    """``a - scale * b``, in place where ``a`` can change (see :func:`xpnet.kernels.steps.subtract_scaled`)."""
    return kernels_for(a).subtract_scaled(a, scale, b)


def _root(value: Any) -> Any:
    """The square root of a Python number (a Python float), or of an array (a compiled step's count)."""
    return math.sqrt(value) if isinstance(value, int | float) else _sqrt(value)


def _copy(value: Any) -> Any:
    """A copy of an array of any library (a Python number as it is)."""
    if isinstance(value, int | float):
        return value
    return array_namespace(value).asarray(value, copy=True)


def _zeros_like(value: Any) -> Any:
    """Zeros of an array's shape, dtype and device (0.0 for a Python number)."""
    if isinstance(value, int | float):
        return 0.0
    return array_namespace(value).zeros_like(value)


def _sqrt(x: Array) -> Array:
    """sqrt of an array of any library, or of a Python number (as NumPy gives it)."""
    x = as_array(x)
    return array_namespace(x).sqrt(x)


Optimizer = SGD | Momentum | Nesterov | AdaGrad | RMSprop | Adam
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
              "adam": Adam}
