"""The layer protocol (after DeZero's ``Layer``). A layer has

- ``params`` and ``grads``: dicts of arrays under the book's names (``W``, ``b``; ``gamma``, ``beta``), the
  gradients set by ``backward``;
- ``forward(x, train=False)``: the output; with ``train`` it keeps what ``backward`` needs (and dropout drops,
  batch normalization uses the batch's statistics); without, it keeps nothing, so threads may share a layer;
- ``backward(dout)``: the input's gradient, after a ``forward(x, train=True)``; optionally
  ``backward_params(dout)``, which sets the parameters' gradients alone (a network's first layer, whose
  input is the data, needs no more);
- state that outlives a batch (running statistics, a recurrent layer's hidden state), cleared by
  ``reset_state()``; what of it belongs with the parameters in a saved network (running statistics, not a
  hidden state) is named in ``state_names``;
- ``part(start, stop)``: a copy for rows ``start:stop`` of a training batch that is taken in parts, one
  a thread, which computes them as the whole batch would (None where no part can: statistics of the whole
  batch), and ``join(parts)``: what the parts leave for the next batch (a dropout layer's generator);
- declared properties that tell a network what it may do with it: ``decays`` (the parameters that weight
  decay applies to), ``affine`` (``x @ W + b`` on flattened rows), ``monotone`` (elementwise and
  non-decreasing), ``commutes_with_monotone`` (max pooling), ``tanh_form`` (the layer is
  ``shift + outer * tanh(inner * x)``), ``large_products`` (its products are large enough to share BLAS's
  threads in training), ``pure`` (its training pass depends on its input and parameters alone and changes
  nothing that outlives the step: no random draws, no running statistics; a compiler may trace it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

Array = Any
Seed = int | ModuleType | None
"""Where a layer or network draws its random numbers: ``numpy.random.default_rng(seed)`` for an int (None:
unseeded), or ``numpy.random`` itself, NumPy's global generator, which the book's scripts seed with
``np.random.seed``."""


def generator(seed: Seed) -> Any:
    """The generator that :data:`Seed` names: one with ``standard_normal(shape)`` and ``random(shape)``."""
    if isinstance(seed, ModuleType):
        if seed is not np.random:
            raise TypeError(f"seed must be an int, None or numpy.random, got the module {seed.__name__}")
        return seed
    return np.random.default_rng(seed)


class Layer:
    """Base of every layer: parameters registered by name, nothing kept between calls unless declared."""

    param_names: ClassVar[tuple[str, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ()
    decays: ClassVar[tuple[str, ...]] = ()
    affine: ClassVar[bool] = False
    monotone: ClassVar[bool] = False
    commutes_with_monotone: ClassVar[bool] = False
    tanh_form: ClassVar[tuple[float, float, float] | None] = None  # (inner, outer, shift)
    large_products: ClassVar[bool] = False
    pure: ClassVar[bool] = True

    @property
    def params(self) -> dict[str, Array]:
        return {name: getattr(self, name) for name in self.param_names}

    @params.setter
    def params(self, values: Mapping[str, Array]) -> None:
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def grads(self) -> dict[str, Array]:
        """The gradients of the last ``backward``, under the parameters' names."""
        return {name: getattr(self, f"d{name}") for name in self.param_names}

    def forward(self, x: Array, train: bool = False) -> Array:
        raise NotImplementedError

    def backward(self, dout: Array) -> Array:
        raise NotImplementedError

    def reset_state(self) -> None:
        """Forget state carried from batch to batch (none here)."""

    def part(self, start: int, stop: int) -> Layer | None:
        """A copy for rows ``start:stop`` of a training batch taken in parts, each on a thread of its own, that
        computes them as the whole batch would; None where no part can. A pure layer's is a plain copy (the
        parameters shared)."""
        return copy.copy(self) if self.pure else None

    def join(self, parts: Sequence[Layer]) -> None:
        """After a batch taken in ``parts`` (copies from :meth:`part`, in row order), take on what they leave for
        the next batch (a pure layer: nothing)."""
