"""A network's parameters as the book names them: :class:`Params`, a mapping over a :class:`~xpnet.nn.Model`'s
layers."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Model

Array = Any


class Params(MutableMapping):
    """A network's parameters under the book's keys (``W1``, ``b1``, ...), read from and written to its layers.

    Setting ``params["W1"]`` rebinds the layer's ``W``, so the layers never
    lose sight of their parameters. The keys are fixed: a new key or a
    deletion raises KeyError.
    """

    def __init__(self, model: Model) -> None:
        self._model = model

    def __getitem__(self, key: str) -> Array:
        layer, name = self._model._keys[key]
        return getattr(self._model.layers[layer], name)

    def __setitem__(self, key: str, value: Array) -> None:
        if key not in self._model._keys:
            raise KeyError(f"{key!r} is not a parameter of this network (it has {', '.join(self._model._keys)})")
        layer, name = self._model._keys[key]
        setattr(self._model.layers[layer], name, value)

    def __delitem__(self, key: str) -> None:
        raise KeyError(f"a network's parameters cannot be deleted ({key!r})")

    def __iter__(self) -> Iterator[str]:
        return iter(self._model._keys)

    def __len__(self) -> int:
        return len(self._model._keys)

    def __repr__(self) -> str:
        return f"Params({', '.join(f'{key}: {tuple(self[key].shape)}' for key in self)})"
