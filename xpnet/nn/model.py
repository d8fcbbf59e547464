"""The one kind of network, :class:`Model` (after DeZero's ``Model``): ordered layers and a loss layer, with the
book's network interface: ``params`` (a flat view under the book's keys ``W1``, ``b1``, ...), ``predict``,
``loss``, ``gradient``, ``accuracy``, ``save_params``/``load_params``, and ``to(backend)``.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, array_namespace, dtype_name, dtype_of, get_backend, to_numpy
from .base import Layer, Seed, generator
from .layers import SoftmaxWithLoss
from .params import Params
from .rewrites import commuted, for_inference

Array = Any


_UNDRAWN: ContextVar[bool] = ContextVar("undrawn", default=False)


@contextmanager
def undrawn() -> Iterator[None]:
    """Networks built inside start with zeros, not random draws: for weights about to be replaced (a file being
    loaded), so that they cost no time, and, for NumPy's lazily zeroed pages, no memory."""
    token = _UNDRAWN.set(True)
    try:
        yield
    finally:
        _UNDRAWN.reset(token)


class Model:
    """Ordered layers (``layers``, by the book's names), a loss layer (``last_layer``) and the book's interface.

    ``input_shape``: one sample's shape, (n_in,) for dense networks, (C, H, W)
    for convolutional ones (flat rows are then reshaped). Subclasses build
    their layers with :meth:`add` in ``__init__``; what xpnet adds to the
    book's constructor arguments (``seed``, ``backend``, ``dtype``) is
    keyword-only. Weights are drawn on the host from ``seed``
    (:data:`~xpnet.nn.base.Seed`), in ``dtype`` (default: the backend's default float).
    """

    input_shape: tuple[int, ...] = ()
    weight_decay_lambda: float = 0.0

    def __init__(self, *, seed: Seed = None, backend: Backend | str = "cpu", dtype: Any = None) -> None:
        self.backend = get_backend(backend)
        self._dtype = dtype_of(self.backend.xp, dtype, self.backend.device)
        self._rng = generator(seed)
        self.layers: dict[str, Layer] = {}
        self.last_layer: Layer = SoftmaxWithLoss()
        self._keys: dict[str, tuple[str, str]] = {}  # "W1" -> ("Affine1", "W")
        self._state_keys: dict[str, tuple[str, str]] = {}  # "running_mean1" -> ("BatchNorm1", "running_mean")
        self._folded_pixels = False

    # building
    def add(self, name: str, layer: Layer, number: int | None = None) -> Layer:
        """Append ``layer`` as ``name``; its parameters appear in ``params`` as name + ``number`` (``W1``), its
        saved state in ``state`` (``running_mean1``)."""
        self.layers[name] = layer
        for param in layer.param_names:
            self._keys[f"{param}{number}"] = (name, param)
        for state in layer.state_names:
            self._state_keys[f"{state}{number}"] = (name, state)
        return layer

    def noise(self, shape: tuple[int, ...], scale: float) -> Array:
        """Gaussian noise of ``shape`` times ``scale``, drawn on the host from the network's seeded generator
        (zeros inside :func:`undrawn`)."""
        if _UNDRAWN.get():
            return self.backend.xp.zeros(shape, dtype=self._dtype, device=self.backend.device)
        return self.backend.asarray(self._rng.standard_normal(shape) * scale, dtype=self._dtype)

    def zeros(self, n: int) -> Array:
        return self.backend.xp.zeros(n, dtype=self._dtype, device=self.backend.device)

    # parameters
    @property
    def params(self) -> Params:
        return Params(self)

    @params.setter
    def params(self, values: Mapping[str, Array]) -> None:
        """Rebind every parameter at once; the keys must be the network's and the shapes as they are."""
        if set(values) != set(self._keys):
            raise KeyError(f"expected the parameters {sorted(self._keys, key=_natural)}, "
                           f"got {sorted(values, key=_natural)}")
        for key, value in values.items():
            if tuple(value.shape) != tuple(self.params[key].shape):
                raise ValueError(f"{key} has shape {tuple(value.shape)}, not this network's "
                                 f"{tuple(self.params[key].shape)}")
        for key, value in values.items():
            self.params[key] = value

    @property
    def state(self) -> dict[str, Array]:
        """What the layers keep from training that a saved network needs beside its parameters (batch
        normalization's running statistics), under keys like theirs (``running_mean1``); none before training."""
        arrays = {key: getattr(self.layers[layer], name) for key, (layer, name) in self._state_keys.items()}
        return {key: value for key, value in arrays.items() if value is not None}

    @state.setter
    def state(self, values: Mapping[str, Array]) -> None:
        unknown = set(values) - set(self._state_keys)
        if unknown:
            raise KeyError(f"{min(unknown)!r} is not state of this network (it keeps "
                           f"{', '.join(self._state_keys) or 'none'})")
        for key, value in values.items():
            layer, name = self._state_keys[key]
            setattr(self.layers[layer], name, value)

    @property
    def arrays(self) -> dict[str, Array]:
        """The parameters and the state (:attr:`state`): what a saved network holds."""
        return {**self.params, **self.state}

    @arrays.setter
    def arrays(self, values: Mapping[str, Array]) -> None:
        """Rebind the parameters (every one, as :attr:`params` takes them) and the state given."""
        self.params = {key: value for key, value in values.items() if key not in self._state_keys}
        self.state = {key: value for key, value in values.items() if key in self._state_keys}

    @property
    def grads(self) -> dict[str, Array]:
        """The gradients of the last :meth:`gradient` (weight decay not included), under the book's keys."""
        return {key: self.layers[layer].grads[name] for key, (layer, name) in self._keys.items()}

    @property
    def large_products(self) -> bool:
        """Whether a layer's products are large enough to share BLAS's threads in training."""
        return any(layer.large_products for layer in self.layers.values())

    @property
    def dtype(self) -> Any:
        """The network's floating dtype: the standard's result_type of its parameters."""
        values = list(self.params.values())
        dtypes = {value.dtype for value in values}
        if len(dtypes) == 1:  # asked every step: PyTorch's result_type through array-api-compat takes 20 us
            return dtypes.pop()
        return array_namespace(*values).result_type(*values)

    def to(self, backend: Backend | str) -> Model:
        """Move every parameter, and the state (:attr:`state`), to ``backend`` (a Backend or a spec such as
        ``"cuda"``), keeping its dtype (BackendError where ``backend`` has none such); returns the network."""
        target = get_backend(backend)
        dtype = dtype_of(target.xp, dtype_name(self.dtype), target.device)
        self.arrays = {key: target.asarray(to_numpy(value), dtype=dtype) for key, value in self.arrays.items()}
        self.backend = target
        return self

    def placed(self, x: Array) -> Array:
        """Host data (NumPy arrays, lists, numbers) on this network's device, as the book's scripts feed it;
        arrays of a library already are where they are."""
        if isinstance(x, (list, tuple, int, float)):
            x = np.asarray(x)
        if isinstance(x, np.ndarray) and self.backend.name != "numpy":
            return self.backend.asarray(x)
        return x

    def bound(self, params: Mapping[str, Array]) -> Model:
        """A copy of this network that computes with ``params`` (its own stay as they are), and state (see
        :attr:`arrays`) if given: for compiled callers, which pass the weights as arguments so that a compiled
        copy never scores with stale ones, and for other libraries' arrays (a dask chunk's, an exported graph's)."""
        clone = copy.copy(self)
        clone.layers = {name: copy.copy(layer) for name, layer in self.layers.items()}
        for key, value in params.items():
            layer, name = self._keys[key] if key in self._keys else self._state_keys[key]
            setattr(clone.layers[layer], name, value)
        return clone

    def reset_state(self) -> None:
        for layer in self.layers.values():
            layer.reset_state()

    def part(self, start: int, stop: int) -> Model | None:
        """A copy, sharing the parameters, that computes rows ``start:stop`` of a training batch taken in parts,
        one a thread, as the whole batch would; None where a layer cannot (see :meth:`Layer.part`)."""
        layers = {name: layer.part(start, stop) for name, layer in self.layers.items()}
        last = self.last_layer.part(start, stop)
        if last is None or any(layer is None for layer in layers.values()):
            return None
        clone = copy.copy(self)
        clone.layers, clone.last_layer = layers, last
        return clone

    def join(self, parts: Sequence[Model]) -> None:
        """After a batch taken in ``parts`` (from :meth:`part`, in row order), each layer takes on what its
        copies leave for the next batch."""
        for name, layer in self.layers.items():
            layer.join([part.layers[name] for part in parts])

    # computing
    def forward(self, x: Array, train: bool = False) -> Array:
        """The layers' scores (before the softmax), (batch, n_out), for checked input (see :meth:`predict`)."""
        x = self._prepared(x)
        for layer in self._commuted()[1] if train else self.layers.values():
            x = layer.forward(x, train)
        return x

    def outputs(self, x: Array) -> dict[str, Array]:
        """Each layer's output in inference, by layer name in order (the last: the scores), for a batch ``x``
        as :meth:`predict` takes it; what the network computes inside, for pictures of it."""
        x = self._prepared(self.placed(x))
        result = {}
        for name, layer in self.layers.items():
            x = result[name] = layer.forward(x)
        return result

    def _commuted(self) -> tuple[list[str], list[Layer]]:
        """The layers' names and layers in the order training and inference run them (:func:`.rewrites.commuted`)."""
        return commuted(self.layers)

    def predict(self, x: Array, train_flg: bool = False) -> Array:
        """Scores before the softmax, (batch, n_out), of a batch ``x``: uint8 pixels (as pixel / 255) or floats
        (cast to the network's dtype), as rows or in ``input_shape``. In inference the network first rewrites
        itself (:meth:`inference`): the same scores, less work."""
        x = self.placed(x)
        if train_flg:
            return self.forward(x, True)
        xp = array_namespace(x)
        return self.inference(pixels=x.dtype == xp.uint8).forward(x)

    def loss(self, x: Array, t: Array, train_flg: bool = True) -> Array:
        """Cross-entropy error of the batch (labels or one-hot ``t``) plus the weight decay, a 0-d array."""
        y = self.predict(x, train_flg)
        loss = self.last_layer.forward(y, self.placed(t))
        decayed = self._decayed()
        if not decayed:
            return loss
        return loss + sum(0.5 * self.weight_decay_lambda * _sum_of_squares(self.params[key]) for key in decayed)

    def accuracy(self, x: Array, t: Array, batch_size: int = 100) -> float:
        """Fraction of ``x`` classified as ``t`` says (labels or one-hot), in batches (:func:`xpnet.accuracy`). As
        in the book, a network that diverged is scored: a sample whose scores are NaN counts as misclassified (with
        a RuntimeWarning)."""
        from ..scoring import accuracy

        return accuracy(self, self.placed(x), self.placed(t), batch_size, nan="miss")

    def gradient(self, x: Array, t: Array) -> dict[str, Array]:
        """Every parameter's gradient of :meth:`loss`, by backpropagation, under the book's keys."""
        Model.loss(self, x, t, True)  # the loss as a 0-d array, whatever a subclass makes of it
        dout = self.last_layer.backward(1)
        first, *rest = self._commuted()[1]  # the order forward took
        for layer in reversed(rest):
            dout = layer.backward(dout)
        getattr(first, "backward_params", first.backward)(dout)  # the data needs no gradient
        grads = self.grads
        for key in self._decayed():
            grads[key] = grads[key] + self.weight_decay_lambda * self.params[key]
        return grads

    def numerical_gradient(self, x: Array, t: Array) -> dict[str, Array]:
        """The same gradients by central differences (slow: for checking :meth:`gradient`)."""
        from ..train.gradients import numerical_gradient

        grads = {}
        for key, value in self.params.items():

            def loss_at(probe: Array, key: str = key, value: Array = value) -> Array:
                self.params[key] = probe
                try:
                    return self.loss(x, t, True)
                finally:
                    self.params[key] = value

            grads[key] = numerical_gradient(loss_at, value)
        return grads

    def save_params(self, file_name: str = "params.pkl") -> None:
        """The parameters as the book saves them: a pickled dict of NumPy arrays under the book's keys (and the
        state, :attr:`state`, under its own, where a layer keeps one)."""
        from ..io.download import save_atomically

        arrays = {key: to_numpy(value) for key, value in self.arrays.items()}

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as file:
                pickle.dump(arrays, file)

        save_atomically(Path(file_name), write)

    def load_params(self, file_name: str = "params.pkl") -> None:
        """Parameters (and state) from a file of the book's format (or ``.npz``), read without running code, placed
        on this network's backend in its dtype."""
        from ..io.weights import load_weights

        weights = load_weights(file_name, check=None)
        self.arrays = {key: self.backend.asarray(value, dtype=self._dtype) for key, value in weights.items()}

    def inference(self, pixels: bool = False) -> Model:
        """This network rewritten for inference, by what its layers declare (:func:`.rewrites.for_inference`):
        the same scores, less work. ``pixels``: the input will be uint8 pixels."""
        names, layers, folded_pixels = for_inference(self.layers, pixels)
        clone = copy.copy(self)
        clone.layers = dict(zip(names, layers, strict=True))
        clone._folded_pixels = folded_pixels
        return clone

    def _prepared(self, x: Array) -> Array:
        """``x`` in the network's dtype (uint8 pixels divided by 255 unless a rewrite took that in) and shape."""
        xp = array_namespace(x)
        pixels = x.dtype == xp.uint8
        x = xp.astype(x, self.dtype, copy=False)  # no layer writes into its input: floats of its dtype pass as they are
        if pixels and not self._folded_pixels:
            x = x / 255
        if len(self.input_shape) > 1 and x.ndim == 2:
            x = xp.reshape(x, (-1, *self.input_shape))  # -1: the batch may be symbolic (a traced graph)
        return x

    def _decayed(self) -> list[str]:
        if not self.weight_decay_lambda:
            return []
        return [key for key, (layer, name) in self._keys.items() if name in self.layers[layer].decays]


def _sum_of_squares(w: Array) -> Array:
    return array_namespace(w).sum(w * w)


def _natural(key: str) -> tuple[str, int]:
    """W2 before W10."""
    head = key.rstrip("0123456789")
    return head, int(key[len(head):] or 0)
