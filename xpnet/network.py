"""Chapter 3's functions under the book's names, for its weights dicts (``W1..Wn``, ``b1..bn``) and networks.

``init_network`` gives the toy network of section 3.4 as the book does (a
dict); ``forward`` runs it (identity output), ``predict`` gives the softmax
probabilities, ``classify`` the predicted classes. Each takes a weights dict
or a network (:class:`xpnet.nn.Model`): a dict becomes chapter 3's network of
its sizes (sigmoid hidden layers, or ``activation="relu"``), so there is one
kind of network and one inference path. Input is floating point, or uint8
pixels, which count as pixel / 255; every function gets its namespace from
its inputs and never leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .backends import Backend, array_namespace, get_backend
from .functions import identity_function, softmax
from .io.weights import check_network
from .models.mlp import MultiLayerNet
from .nn import Model
from .scoring import accuracy as _accuracy

Array = Any
Network = Mapping[str, Array]
HIDDEN_ACTIVATIONS = ("sigmoid", "relu")

TOY_NETWORK = {
    "W1": [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]],
    "b1": [0.1, 0.2, 0.3],
    "W2": [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]],
    "b2": [0.1, 0.2],
    "W3": [[0.1, 0.3], [0.2, 0.4]],
    "b3": [0.1, 0.2],
}


def init_network(backend: Backend | str = "cpu") -> dict[str, Array]:
    """The chapter's 2-3-2-2 toy network (section 3.4.3) on ``backend``, in its default floating dtype."""
    backend = get_backend(backend)
    xp = backend.xp
    dtype = xp.__array_namespace_info__().default_dtypes(device=backend.device)["real floating"]
    return {key: backend.asarray(value, dtype=dtype) for key, value in TOY_NETWORK.items()}


def as_model(network: Network | Model, activation: str = "sigmoid") -> Model:
    """``network`` itself if it is a network, else chapter 3's network of a weights dict's sizes, holding its
    arrays (cast to their common dtype). ValueError for a dict whose layout does not fit; TypeError otherwise."""
    if isinstance(network, Model):
        return network
    if not isinstance(network, Mapping):
        raise TypeError(f"expected a weights dict (W1, b1, ...) or a network, got {type(network).__name__}")
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}, got {activation!r}")
    check_network(network)
    return MultiLayerNet.from_weights(network, activation)


def logits(network: Network | Model, x: Array, activation: str = "sigmoid") -> Array:
    """Scores before the output activation: (n_in,) -> (n_out,), (batch, n_in) -> (batch, n_out).

    NaN in ``x`` gives NaN scores for that sample. ``activation``: of a
    weights dict's hidden layers, ``"sigmoid"`` (the chapter's) or ``"relu"``.
    """
    model = as_model(network, activation)
    _check_input(x, model)
    if x.ndim == 1:
        return model.predict(x[None, ...])[0, ...]
    return model.predict(x)


def forward(network: Network | Model, x: Array) -> Array:
    """The toy network's forward pass (sigmoid hidden layers, identity output)."""
    return identity_function(logits(network, x))


def predict(network: Network | Model, x: Array, activation: str = "sigmoid") -> Array:
    """Class probabilities (softmax output), shape (batch, n_out) or (n_out,)."""
    return softmax(logits(network, x, activation))


def classify(network: Network | Model, x: Array, activation: str = "sigmoid") -> Array:
    """Predicted class indices of shape (batch,), in the namespace's default integer dtype: the argmax of the
    scores, no softmax needed."""
    return array_namespace(x).argmax(logits(network, x, activation), axis=-1)


def accuracy(
    network: Network | Model,
    x: Array,
    t: Array,
    batch_size: int = 100,
    *,
    progress: Callable[[int], object] | None = None,
    activation: str = "sigmoid",
    workers: int = 1,
    executor: str | None = None,
) -> float:
    """:func:`xpnet.scoring.accuracy` for a network or a weights dict (``activation`` as for :func:`logits`)."""
    return _accuracy(as_model(network, activation), x, t, batch_size, workers=workers, progress=progress,
                     executor=executor)


def _check_input(x: Array, model: Model) -> None:
    """Check the shape, feature count and dtype of ``x`` against a dense network's input."""
    xp = array_namespace(x)
    if len(model.input_shape) == 1:
        if x.ndim not in (1, 2):
            raise ValueError(f"x has shape {tuple(x.shape)}: expected (n_features,) or (batch, n_features)")
        if x.shape[-1] != model.input_shape[0]:
            raise ValueError(f"x has {x.shape[-1]} features per sample but W1 expects {model.input_shape[0]}")
    if x.ndim == 2 and x.shape[0] == 0:
        raise ValueError("x is empty: no samples to score")
    if x.dtype != xp.uint8 and not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"x has dtype {x.dtype}: expected floating point, or uint8 pixels in 0..255")


__all__ = ["accuracy", "as_model", "check_network", "classify", "forward", "init_network", "logits", "predict"]
