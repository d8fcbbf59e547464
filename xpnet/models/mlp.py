"""The book's fully connected networks: chapter 5's ``TwoLayerNet``, chapter 6's ``MultiLayerNet`` and
``MultiLayerNetExtend`` (chapter 3's 784-50-100-10 network is a ``MultiLayerNet`` with sigmoid layers)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..backends import Backend, array_namespace, backend_of
from ..io.weights import dense_layers
from ..nn import ACTIVATIONS, Affine, BatchNormalization, Dropout, Model, Relu, Seed


class TwoLayerNet(Model):
    """The book's chapter-5 network: Affine -> ReLU -> Affine -> softmax, weights ``weight_init_std * N(0, 1)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed: Seed = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = (input_size,)
        self.add("Affine1", Affine(self.noise((input_size, hidden_size), weight_init_std), self.zeros(hidden_size)), 1)
        self.add("Relu1", Relu())
        self.add("Affine2", Affine(self.noise((hidden_size, output_size), weight_init_std), self.zeros(output_size)), 2)


class MultiLayerNet(Model):
    """The book's fully connected network (chapter 6): hidden layers of ``hidden_size_list``, softmax output.

    ``activation``: ``"relu"`` or ``"sigmoid"``. ``weight_init_std``: a number,
    or ``"relu"``/``"he"`` for sqrt(2 / n_in), ``"sigmoid"``/``"xavier"`` for
    sqrt(1 / n_in). ``weight_decay_lambda``: the L2 weight decay. Biases start at zero.
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
        seed: Seed = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = (input_size,)
        self.activation = activation
        self.weight_decay_lambda = weight_decay_lambda
        sizes = [input_size, *hidden_size_list, output_size]
        self._add_dense([(self.noise((n_in, n_out), init_scale(weight_init_std, n_in)), self.zeros(n_out))
                         for n_in, n_out in itertools.pairwise(sizes)])

    @classmethod
    def from_weights(cls, weights: Mapping[str, Any], activation: str = "sigmoid") -> MultiLayerNet:
        """The network whose layers hold ``weights`` (``W1..Wn``, ``b1..bn``, checked by the caller), on their
        backend, in their common dtype; no weights are drawn. ValueError for weights that hold more than a dense
        network's."""
        layers = dense_layers(weights)
        extra = sorted(set(weights) - {f"{kind}{k}" for k in range(1, len(layers) + 1) for kind in "Wb"})
        if extra:
            raise ValueError(f"the weights hold {extra[0]} beside W1..W{len(layers)} and b1..b{len(layers)}: a network "
                             "of more than dense layers (batch normalization's?); build it and load_params the file")
        arrays = [a for layer in layers for a in layer]
        xp = array_namespace(*arrays)
        dtype = xp.result_type(*arrays)
        net = cls.__new__(cls)
        Model.__init__(net, backend=backend_of(arrays[0]), dtype=dtype)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        net.input_shape, net.activation = (layers[0][0].shape[0],), activation
        net._add_dense([(xp.astype(w, dtype), xp.astype(b, dtype)) for w, b in layers])
        return net

    def _add_dense(self, layers: list[tuple[Any, Any]]) -> None:
        for k, (w, b) in enumerate(layers, start=1):
            self.add(f"Affine{k}", Affine(w, b), k)
            if k < len(layers):
                self.add(f"Activation_function{k}", ACTIVATIONS[self.activation]())


class MultiLayerNetExtend(MultiLayerNet):
    """The book's extended network (chapter 6): :class:`MultiLayerNet` with batch normalization after each hidden
    affine layer (``use_batchnorm``, parameters ``gamma1``, ``beta1``, ...) and dropout after each hidden
    activation (``use_dropout``, ratio ``dropout_ration``, the book's spelling).

    As in the book, ``loss`` runs in inference unless ``train_flg`` is set;
    ``gradient`` trains. Each dropout layer draws its masks from a generator
    seeded from ``seed``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: float | str = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        seed: Seed = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        self.use_dropout, self.dropout_ration, self.use_batchnorm = use_dropout, dropout_ration, use_batchnorm
        # NumPy's global generator, or none, serves every dropout layer as it is; a number seeds each its own
        self._dropout_seeds = seed if seed is None or seed is np.random else np.random.SeedSequence(seed)
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda,
                         seed=seed, backend=backend, dtype=dtype)

    def _add_dense(self, layers: list[tuple[Any, Any]]) -> None:
        xp = self.backend.xp
        for k, (w, b) in enumerate(layers, start=1):
            self.add(f"Affine{k}", Affine(w, b), k)
            if k == len(layers):
                break
            if self.use_batchnorm:
                size = w.shape[1]
                gamma = xp.ones(size, dtype=self._dtype, device=self.backend.device)
                self.add(f"BatchNorm{k}", BatchNormalization(gamma, self.zeros(size)), k)
            self.add(f"Activation_function{k}", ACTIVATIONS[self.activation]())
            if self.use_dropout:
                seeds = self._dropout_seeds
                seed = seeds.spawn(1)[0] if isinstance(seeds, np.random.SeedSequence) else seeds
                self.add(f"Dropout{k}", Dropout(self.dropout_ration, seed=seed))

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> Any:
        return super().loss(x, t, train_flg)


def init_scale(weight_init_std: float | str, n_in: int) -> float:
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


def chapter3_network(activation: str = "sigmoid", sizes: Sequence[int] = (784, 50, 100, 10),
                     weight_init_std: float | str = "xavier", dropout: float = 0, batch_norm: bool = False,
                     **options: Any) -> MultiLayerNet:
    """Chapter 3's 784-50-100-10 network (sigmoid hidden layers, Xavier initial weights), or one of other
    ``sizes``, activation or initial weights; with ``dropout`` (a ratio) or ``batch_norm``, chapter 6's
    :class:`MultiLayerNetExtend` with them."""
    if dropout or batch_norm:
        return MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1], activation, weight_init_std,
                                   use_dropout=bool(dropout), dropout_ration=dropout, use_batchnorm=batch_norm,
                                   **options)
    return MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], activation, weight_init_std, **options)
