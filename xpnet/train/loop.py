"""The training loop: one epoch of mini-batches (:func:`train_epoch`) and epochs with their scores (:func:`fit`)."""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import math
import operator
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import numpy as np
from array_api_compat import device, is_numpy_array

from ..backends import array_namespace, to_numpy
from ..backends.libraries import cpu_count
from ..backends.runtime import compiled, compiles, parallel_map, refuse_lazy, single_threaded_blas
from ..errors import DivergedError
from ..kernels import kernels_for
from ..nn import Model
from .optimizers import Optimizer

Array = Any


def train_epoch(
    net: Model,
    x: Array,
    t: Array,
    optimizer: Optimizer,
    rng: np.random.Generator,
    batch_size: int = 100,
    progress: Callable[[int], object] | None = None,
) -> float:
    """One pass over ``(x, t)`` in mini-batches of a random order; returns the mean loss (before weight decay).

    Images may be uint8 pixels or floats (see ``Model.predict``). The order
    goes to the device once; the loss is summed on the device and read once.
    BLAS runs on one thread meanwhile unless the network has large products
    (convolutions): a dense network's mini-batch products are too small to
    share, and a second thread only waits (or, on a loaded machine, stalls).
    On NumPy, which runs each elementwise pass on one core, such a network
    takes each batch in parts, one a core (see :func:`_gradient`), and the
    optimizer's step in parts too (:func:`_update`).
    Lazy arrays are refused: their graph would grow with every step.
    """
    refuse_lazy(x, "training")
    xp = array_namespace(x, t)
    n = x.shape[0]
    order = xp.asarray(rng.permutation(n), device=device(x))
    whole = n - n % batch_size
    # the batches' rows of x, one batch a row: the full batches in one matrix, a last, short batch in another
    batches = [xp.reshape(order[:whole], (-1, batch_size))] if whole else []
    batches += [xp.reshape(order[whole:], (1, -1))] if whole < n else []
    # a library that compiles takes each step as one compiled function of the weights and the optimizer's state,
    # which picks its batch from the data itself: each operation outside it would cost a dispatch
    step = compiled(_step, x, net, static=("optimizer",)) if compiles(x) and _traceable(net) else None
    params, state = None, None
    if step:  # arguments of the kinds the step returns (its counts as arrays), so it is compiled once a run
        optimizer.ready(net.params)
        params = dict(net.params)
        state = {name: xp.asarray(value, device=device(x)) if name in optimizer.counters else value
                 for name, value in optimizer.state().items()}
    loss_sum = xp.zeros((), dtype=net.dtype, device=device(x))
    cores = _cores(net)
    blas = contextlib.nullcontext() if getattr(net, "large_products", False) else single_threaded_blas()
    with blas, parallel_map(cores) as map_:
        for rows in batches:
            for k in range(rows.shape[0]):
                if step:
                    params, state, loss_sum = step(params, state, x, t, rows, k, loss_sum, optimizer=optimizer)
                else:
                    grads, loss = _gradient(net, *_batch(x, t, rows, k), cores, map_)
                    _update(optimizer, net.params, grads, cores, map_)
                    loss_sum = loss_sum + loss * rows.shape[1]
                if progress is not None:
                    progress(rows.shape[1])
    if step:
        net.params = params
        optimizer.load_state(state)
    return float(to_numpy(loss_sum)) / n


def _batch(x: Array, t: Array, rows: Array, k: int | Array) -> tuple[Array, Array]:
    """The images and labels of batch ``k``, whose indices are row ``k`` of ``rows``."""
    picked = rows[k, ...]
    return kernels_for(x).take_rows(x, picked), kernels_for(t).take_rows(t, picked)


def _cores(net: Model) -> int:
    """Cores a training step of ``net`` takes its batch to, a part each (BLAS on one thread): every core for a
    network on NumPy, which runs each elementwise pass on one, with large products and layers that can take a
    part of a batch (see :meth:`Model.part`). Elsewhere one: the library threads its own operations (PyTorch)."""
    on_numpy = all(is_numpy_array(value) for value in net.params.values())
    parted = on_numpy and getattr(net, "large_products", False) and net.part(0, 1) is not None
    return cpu_count() if parted else 1


def _gradient(net: Model, images: Array, labels: Array, cores: int, map_: Callable[..., Iterator[Any]],
              ) -> tuple[dict[str, Array], Array]:
    """``net``'s gradient for the batch and its mean loss, the batch taken in parts of at least 25 images (so that
    their products stay large), up to one for each of ``cores``, on ``map_``'s threads, each part by a copy of
    ``net`` (:meth:`Model.part`): the parts' gradients and losses, weighted by their shares of the batch, add up
    to the whole batch's."""
    n = images.shape[0]
    count = max(1, min(cores, n // 25))
    if count == 1:  # a short batch, or a network that takes its batches whole (see _cores)
        return net.gradient(images, labels), net.last_layer.loss
    spans = list(itertools.pairwise(n * i // count for i in range(count + 1)))
    parts = [net.part(start, stop) for start, stop in spans]

    def weighted(part: Model, start: int, stop: int) -> tuple[dict[str, Array], Array]:
        """The part's gradient and loss, each times its share of the batch (on the part's own thread)."""
        share = (stop - start) / n
        grads = part.gradient(images[start:stop, ...], labels[start:stop])
        return {key: share * value for key, value in grads.items()}, share * part.last_layer.loss

    results = list(map_(weighted, parts, *zip(*spans, strict=True)))
    net.join(parts)
    grads = {key: functools.reduce(operator.add, (weighted_grads[key] for weighted_grads, _ in results))
             for key in results[0][0]}
    return grads, functools.reduce(operator.add, (loss for _, loss in results))


def _update(optimizer: Optimizer, params: MutableMapping[str, Array], grads: dict[str, Array], cores: int,
            map_: Callable[..., Iterator[Any]]) -> None:
    """``optimizer``'s step, taken in parts, one a core, on ``map_``'s threads where there are several: each
    part steps its share of the rows of every parameter (the leading axis), in place (see
    :meth:`~xpnet.train.optimizers.Stateful.part`). Each row's step is the one the whole takes."""
    pickers = [functools.partial(_share, index=index, count=cores) for index in range(cores)]
    parts = [optimizer.part(rows, params) for rows in pickers] if cores > 1 else [None]
    if None in parts:  # one core, or the optimizer's first step, which makes its arrays
        optimizer.update(params, grads)
        return

    def step(part: Optimizer, rows: Callable[[Array], Array]) -> None:
        part.update({key: rows(params[key]) for key in grads}, {key: rows(value) for key, value in grads.items()})

    list(map_(step, parts, pickers))
    optimizer.join(parts)


def _share(array: Array, index: int, count: int) -> Array:
    """Part ``index`` of ``count`` of ``array``'s rows (its leading axis): a view."""
    rows = array.shape[0]
    return array[rows * index // count : rows * (index + 1) // count, ...]


def _traceable(net: Model) -> bool:
    """Whether a training step of ``net`` may be compiled: every layer pure (see :mod:`xpnet.nn.base`)."""
    return all(layer.pure for layer in (*net.layers.values(), net.last_layer))


def _step(net: Model, params: dict[str, Array], state: dict[str, Array], x: Array, t: Array, rows: Array,
          k: Array, loss_sum: Array, *, optimizer: Optimizer) -> tuple[dict[str, Array], dict[str, Array], Array]:
    """One training step as a function, on batch ``k`` of ``rows`` (see :func:`_batch`): the new weights, the
    optimizer's new state and the loss summed over the images so far, from the weights, the state and the sum
    given (``net`` and ``optimizer`` are left as they are)."""
    clone = net.bound(params)
    clone.last_layer = copy.copy(net.last_layer)
    grads = clone.gradient(*_batch(x, t, rows, k))
    going_on = optimizer.restored(state)
    updated = dict(params)
    going_on.update(updated, grads)
    return updated, going_on.state(), loss_sum + clone.last_layer.loss * rows.shape[1]


def fit(
    net: Model,
    train: tuple[Array, Array],
    test: tuple[Array, Array],
    *,
    epochs: int,
    optimizer: Optimizer,
    batch_size: int = 100,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
    first_epoch: int = 1,
    validation: tuple[Array, Array] | None = None,
) -> Iterator[dict[str, float]]:
    """Train epochs ``first_epoch`` to ``epochs``; yields after each its mean loss, train, validation (if
    given) and test accuracy and seconds. The batch order of an epoch depends on ``seed`` and the epoch alone,
    so a run resumed at ``first_epoch`` walks the batches a whole run would. Raises
    :class:`~xpnet.DivergedError` after an epoch whose loss or weights are not finite."""
    rng = np.random.default_rng(seed)
    for _ in range(1, first_epoch):
        rng.permutation(train[0].shape[0])
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(net, *train, optimizer, rng, batch_size, progress)
        seconds = time.perf_counter() - start
        if not (math.isfinite(loss) and all(bool(array_namespace(value).all(array_namespace(value).isfinite(value)))
                                            for value in net.params.values())):
            remedy = "learning rate or weight decay" if getattr(net, "weight_decay_lambda", 0) else "learning rate"
            raise DivergedError(f"training diverged in epoch {epoch}: the loss is {loss} or a weight is not finite (a "
                                f"smaller {remedy} may help)")
        scores = {"train_accuracy": net.accuracy(*train, batch_size=1000)}
        if validation is not None:
            scores["validation_accuracy"] = net.accuracy(*validation, batch_size=1000)
        yield {"epoch": epoch, "loss": loss, **scores, "test_accuracy": net.accuracy(*test, batch_size=1000),
               "seconds": seconds, "images_per_s": train[0].shape[0] / seconds}
