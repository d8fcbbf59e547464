"""Chapter 3's dense networks in the book's weight format (a dict ``W1..Wn``, ``b1..bn``), and the batched
``accuracy`` that every network uses.

Hidden layers use the sigmoid (or, asked for, ReLU); the output is the identity
for the toy network of section 3.4 (``forward``) and the softmax for
classification (``predict``). A network's dtype is the standard's
``result_type`` of its weights; float input takes it, uint8 pixels count as
pixel / 255. Every function gets its namespace from its inputs and never leaves it.
"""

from __future__ import annotations

import functools
import operator
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from array_api_compat import device

from .backend import (
    Backend,
    array_namespace,
    compiled,
    compute_each,
    default_dtype,
    get_backend,
    is_deferred,
    parallel_map,
    to_numpy,
)
from .functions import identity_function, relu, softmax

Array = Any
Network = dict[str, Array]


class Classifier(Protocol):
    """A network object with the book's ``predict``: scores (batch, n_out) for a batch of inputs."""

    def predict(self, x: Array) -> Array: ...

TOY_NETWORK = {
    "W1": [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]],
    "b1": [0.1, 0.2, 0.3],
    "W2": [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]],
    "b2": [0.1, 0.2],
    "W3": [[0.1, 0.3], [0.2, 0.4]],
    "b3": [0.1, 0.2],
}


def init_network(backend: Backend | str = "cpu") -> Network:
    """The chapter's 2-3-2-2 toy network (section 3.4.3) on ``backend``, in its default floating dtype."""
    backend = get_backend(backend)
    dtype = default_dtype(backend.xp, "real floating", backend.device)
    return {key: backend.asarray(value, dtype=dtype) for key, value in TOY_NETWORK.items()}


def layers(network: Network) -> list[tuple[Array, Array]]:
    """``[(W1, b1), ..., (Wn, bn)]``; raises ValueError naming the first missing key."""
    strange = [key for key in network if not isinstance(key, str)]
    if strange:
        raise ValueError(f"network has a key {strange[0]!r} that is not a string: expected keys W1..Wn and b1..bn")
    count = sum(1 for key in network if key.startswith("W"))
    missing = [key for k in range(1, count + 1) for key in (f"W{k}", f"b{k}") if key not in network]
    if count == 0 or missing:
        raise ValueError(f"network lacks {missing[0] if missing else 'W1'}: expected keys W1..Wn and b1..bn")
    return [(network[f"W{k}"], network[f"b{k}"]) for k in range(1, count + 1)]


def check_network(network: Network) -> None:
    """Check keys, dtypes, shapes and values; raise ValueError naming the faulty key.

    W_k must be 2-D floating point, b_k 1-D of length W_k.shape[1], W_{k+1}
    must have W_k.shape[1] rows, and no value may be NaN or infinite.
    """
    previous = None
    for k, (w, b) in enumerate(layers(network), start=1):
        xp = array_namespace(w, b)
        for key, value, ndim in ((f"W{k}", w, 2), (f"b{k}", b, 1)):
            if not xp.isdtype(value.dtype, "real floating"):
                raise ValueError(f"{key} has dtype {value.dtype}: weights must be floating point")
            if value.ndim != ndim:
                raise ValueError(f"{key} has shape {tuple(value.shape)}: expected {ndim}-D")
            if not bool(xp.all(xp.isfinite(value))):
                raise ValueError(f"{key} holds NaN or infinite values")
        if previous is not None and w.shape[0] != previous:
            raise ValueError(f"W{k} has {w.shape[0]} rows but W{k - 1} has {previous} columns: the layers do not chain")
        if b.shape[0] != w.shape[1]:
            raise ValueError(f"b{k} has length {b.shape[0]} but W{k} has {w.shape[1]} columns")
        previous = w.shape[1]


HIDDEN_ACTIVATIONS = ("sigmoid", "relu")


def logits(network: Network | Classifier, x: Array, activation: str = "sigmoid") -> Array:
    """Scores before the output activation: (n_in,) -> (n_out,), (batch, n_in) -> (batch, n_out).

    ``network``: chapter 3's weights dict, run folded, or a network object
    with the book's ``predict`` (a batch in, its scores out). ``x`` is
    floating point, or uint8 pixels, which count as pixel / 255. NaN in
    ``x`` gives NaN scores for that sample. ``activation``: of a weights
    dict's hidden layers, ``"sigmoid"`` (the chapter's) or ``"relu"``.
    """
    if not isinstance(network, Mapping):
        return network.predict(x)
    _check_input(x, layers(network)[0][0])
    return _scores(fold(network, x.dtype == array_namespace(x).uint8, activation), x, activation)


def fold(network: Network, pixels: bool = False, activation: str = "sigmoid") -> list[tuple[Array, Array]]:
    """The layers rewritten so that each sigmoid layer is ``tanh(a @ W + b)``: the same scores, less work.

    sigmoid(a) = tanh(a / 2) / 2 + 1/2, so the halving of ``a`` moves into the
    layer's own W and b, and the ``/ 2 + 1/2`` into the next layer's (W / 2,
    and b + column sums of W / 2). A hidden layer then costs one product, one
    bias add and one tanh. With ``pixels`` the first layer also takes in the
    1/255 that scales uint8 pixels to [0, 1], so they need no division. ReLU
    layers are left as they are, but for that scale. Every array takes the
    network's dtype, the standard's ``result_type`` of all its weights.
    """
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}, got {activation!r}")
    folded = []
    *hidden, _ = all_layers = layers(network)
    arrays = [a for layer in all_layers for a in layer]
    xp = array_namespace(*arrays)
    dtype = xp.result_type(*arrays)
    for k, (w, b) in enumerate(all_layers):
        w, b = xp.astype(w, dtype), xp.astype(b, dtype)
        if k == 0 and pixels:
            w = w * (1 / 255)
        if activation == "sigmoid":
            if k > 0:
                w, b = w * 0.5, b + 0.5 * xp.sum(w, axis=0)
            if k < len(hidden):
                w, b = w * 0.5, b * 0.5
        folded.append((w, b))
    return folded


def _scores(folded: list[tuple[Array, Array]], x: Array, activation: str) -> Array:
    """Run folded layers on checked input ``x``, converted here to the network's dtype, one batch at a time."""
    xp = array_namespace(x)
    hidden = xp.tanh if activation == "sigmoid" else relu
    a = xp.astype(x, folded[0][0].dtype)
    for k, (w, b) in enumerate(folded):
        a = xp.matmul(a, w)
        a += b  # in place where the library allows it, else a new array: both correct (same dtype)
        if k < len(folded) - 1:
            a = hidden(a)
    return a


def forward(network: Network, x: Array) -> Array:
    """The toy network's forward pass (sigmoid hidden layers, identity output)."""
    return identity_function(logits(network, x))


def predict(network: Network | Classifier, x: Array, activation: str = "sigmoid") -> Array:
    """Class probabilities (softmax output), shape (batch, n_out) or (n_out,)."""
    return softmax(logits(network, x, activation))


def classify(network: Network | Classifier, x: Array, activation: str = "sigmoid") -> Array:
    """Predicted class indices, int64 of shape (batch,): argmax of the scores, no softmax needed."""
    xp = array_namespace(x)
    return xp.argmax(logits(network, x, activation), axis=-1)


def scaled_input(x: Array, dtype: Any) -> Array:
    """A batch as ``dtype``: uint8 pixels divided by 255, floats cast (the network's dtype wins)."""
    xp = array_namespace(x)
    return xp.astype(x, dtype) / 255 if x.dtype == xp.uint8 else xp.astype(x, dtype)


def accuracy(
    network: Network | Classifier,
    x: Array,
    t: Array,
    batch_size: int = 100,
    *,
    progress: Callable[[int], object] | None = None,
    activation: str = "sigmoid",
    workers: int = 1,
) -> float:
    """Fraction of samples whose predicted class is the label, walking ``x`` in batches.

    ``network``: chapter 3's weights dict (run folded, see :func:`fold`;
    ``activation`` as for :func:`logits`) or a network object with the
    book's ``predict`` (:mod:`xpnet.train`). ``x``: (n, ...) floating point or
    uint8 pixels, converted one batch at a time; ``t``: (n,) integer labels in
    0..n_out-1 or (n, n_out) one-hot. The running count stays on the device:
    one device-to-host transfer at the end (dask: the batches' counts are
    computed together, each reported when done). Raises ValueError when a sample
    scores NaN (NaN in its input, say) or a label does not fit the outputs.
    ``progress``, if given, is called with each batch's size once the batch is
    done (``tqdm``'s ``update`` fits). ``workers``: batches scored at once,
    one per CPU core (a backend's ``workers``; see
    :func:`xpnet.backend.parallel_map`); the result does not depend on it.
    """
    xp = array_namespace(x, t)
    batch_size, workers = _positive("batch_size", batch_size), _positive("workers", workers)
    n = _check_labels(x, t)
    score, weights = _scorer(network, x, activation)
    workers = min(workers, -(-n // batch_size))  # never a thread without a batch
    counts_dtype = default_dtype(xp, "integral", device(x))

    count = compiled(_count, x, static=("score", "counts_dtype"))

    def batch_counts(start: int) -> Array:
        stop = min(start + batch_size, n)  # the standard leaves out-of-bounds slices undefined
        return count(weights, x[start:stop, ...], t[start:stop, ...], score=score, counts_dtype=counts_dtype)

    starts = range(0, n, batch_size)
    if is_deferred(x):  # a graph: the counts are computed together, and report as each is done
        report = None if progress is None else (lambda i: progress(min(batch_size, n - starts[i])))
        tally = sum(compute_each([batch_counts(start) for start in starts], report))
    else:
        tally = to_numpy(_eager_tally(batch_counts, starts, workers, device(x), progress))
    correct, nan_rows, stray_labels = (int(v) for v in tally)
    if stray_labels:
        n_out = score(weights, x[:1, ...]).shape[-1]
        raise ValueError(f"t holds {stray_labels} labels outside 0..{n_out - 1}, the network's classes")
    if nan_rows:
        raise ValueError(f"x holds NaN: {nan_rows} of {n} samples score NaN")
    return correct / n


def _eager_tally(
    batch_counts: Callable[[int], Array],
    starts: range,
    workers: int,
    on: Any,
    progress: Callable[[int], object] | None,
) -> Array:
    """The sum of ``batch_counts`` over ``starts`` on device ``on``; each worker takes the next batch when it
    is done with one, so that a worker slowed down (a shared machine) leaves the others more."""
    lock = threading.Lock()
    pending = iter(starts)
    abandoned = threading.Event()  # a share failed or the caller was interrupted: the other shares stop

    def share_tally(_: int) -> Array | None:
        tally = None  # built from the first batch's counts, so it lives where they do
        try:
            while not abandoned.is_set():
                with lock:
                    start = next(pending, None)
                if start is None:
                    break
                counts = batch_counts(start)
                tally = counts if tally is None else tally + counts
                if progress is not None:
                    with lock:
                        progress(min(starts.step, starts.stop - start))
        except BaseException:
            abandoned.set()
            raise
        return tally

    with parallel_map(workers, on) as map_:
        try:
            shares = list(map_(share_tally, range(workers)))
        except BaseException:
            abandoned.set()
            raise
    shares = [share for share in shares if share is not None]  # a worker may have found no batch left
    xp = array_namespace(*shares)
    return xp.sum(xp.stack(shares), axis=0)


def _positive(name: str, value: object) -> int:
    """``value`` as an int of at least 1 (NumPy integers welcome); ValueError naming ``name`` otherwise."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def _check_labels(x: Array, t: Array) -> int:
    """The number of samples, once ``x`` and ``t`` are seen to fit each other; ValueError or TypeError if not."""
    xp = array_namespace(x, t)
    if x.ndim < 2:
        raise ValueError(f"x has shape {tuple(x.shape)}: expected (n_samples, ...)")
    if t.ndim not in (1, 2) or t.shape[0] != x.shape[0]:
        raise ValueError(f"t has shape {tuple(t.shape)} but x holds {x.shape[0]} samples: expected (n,) or (n, n_out)")
    if x.shape[0] == 0:
        raise ValueError("x is empty: no samples to score")
    if t.ndim == 1 and not xp.isdtype(t.dtype, "integral"):
        raise TypeError(f"t has dtype {t.dtype}: labels must be integers (or one-hot rows)")
    if t.ndim == 2 and not xp.isdtype(t.dtype, ("integral", "real floating")):
        raise TypeError(f"t has dtype {t.dtype}: one-hot labels must be numbers")
    return x.shape[0]


def _count(weights: Any, images: Array, targets: Array, *, score: Callable[[Any, Array], Array],
           counts_dtype: Any) -> Array:
    """[correct, NaN rows, labels out of range] of one batch, scored by ``score(weights, images)``.

    The weights are an argument, not a constant of the function, so that a
    compiled copy (JAX: one per batch shape) serves every call, and never
    scores with weights that have changed since.
    """
    xp = array_namespace(images, targets)
    scores = score(weights, images)
    n_out = scores.shape[-1]
    if targets.ndim == 2 and targets.shape[1] != n_out:
        raise ValueError(f"t has one-hot rows of width {targets.shape[1]} but the network has {n_out} outputs")
    labels = targets if targets.ndim == 1 else xp.argmax(targets, axis=1)
    # NaN anywhere in a sample's input makes every one of its scores NaN: one column tells
    counts = xp.stack([
        xp.count_nonzero(xp.argmax(scores, axis=1) == labels),
        xp.count_nonzero(xp.isnan(scores[:, 0])),
        xp.count_nonzero((labels < 0) | (labels >= n_out)),
    ])
    return xp.astype(counts, counts_dtype)


# One scoring function per hidden activation, made once: compiled copies are kept per function.
_FOLDED_SCORES = {name: functools.partial(_scores, activation=name) for name in HIDDEN_ACTIVATIONS}


def _scorer(network: Network | Classifier, x: Array, activation: str) -> tuple[Callable[[Any, Array], Array], Any]:
    """``(score, weights)``: ``score(weights, batch)`` gives the scores (batch, n_out) of a batch of ``x``."""
    if isinstance(network, Mapping):
        _check_input(x, layers(network)[0][0])
        return _FOLDED_SCORES[activation], fold(network, x.dtype == array_namespace(x).uint8, activation)
    return network.scores_with, dict(network.params)


def _check_input(x: Array, w1: Array) -> None:
    """Check the shape, feature count and dtype of ``x`` against the first layer."""
    xp = array_namespace(x, w1)
    if x.ndim not in (1, 2):
        raise ValueError(f"x has shape {tuple(x.shape)}: expected (n_features,) or (batch, n_features)")
    if x.shape[-1] != w1.shape[0]:
        raise ValueError(f"x has {x.shape[-1]} features per sample but W1 expects {w1.shape[0]}")
    if x.ndim == 2 and x.shape[0] == 0:
        raise ValueError("x is empty: no samples to score")
    if x.dtype != xp.uint8 and not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"x has dtype {x.dtype}: expected floating point, or uint8 pixels in 0..255")
