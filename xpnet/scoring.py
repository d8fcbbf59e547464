"""Batched scoring on any backend: :func:`accuracy`, :func:`score` (with each class's accuracy) and
:func:`predicted_labels`.

A network is scored as it is: nothing is swapped in or out of it. The
batches run through an *executor*: ``"eager"`` (one batch after another),
``"threads"`` (one worker a core, each taking the next batch as it finishes
one), ``"chunks"`` (a lazy library's: each chunk of a batch's size scored
in a task of its own, the counts computed together) or ``"jit"`` (each
batch through a compiled copy of the pass, where the library has a
compiler, with the weights passed as arguments). By default the input
chooses: lazy arrays go to chunks, arrays of a compiling library to jit,
the rest to threads when ``workers`` > 1.
"""

from __future__ import annotations

import math
import operator
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import device

from .backends import array_namespace, default_dtype, is_lazy, to_numpy
from .backends.runtime import compiled, compiles, compute_each, parallel_map, per_chunk
from .functions import softmax

Array = Any
EXECUTORS = ("eager", "threads", "chunks", "jit")


@dataclass(frozen=True)
class Score:
    """How many of ``images`` samples a network classified right, overall and by class.

    ``class_images[k]``: samples labelled k; ``class_correct[k]``: those of
    them predicted k.
    """

    correct: int
    images: int
    class_correct: tuple[int, ...]
    class_images: tuple[int, ...]

    @property
    def accuracy(self) -> float:
        """The fraction of samples classified right."""
        return self.correct / self.images

    @property
    def class_accuracy(self) -> tuple[float | None, ...]:
        """Each class's accuracy (None for a class with no sample)."""
        pairs = zip(self.class_correct, self.class_images, strict=True)
        return tuple(right / count if count else None for right, count in pairs)


def accuracy(model: Any, x: Array, t: Array, batch_size: int = 100, **options: Any) -> float:
    """Fraction of samples whose predicted class is the label, walking ``x`` in batches; ``options`` (workers,
    progress, executor, chunk_batch) as :func:`score` takes them."""
    return score(model, x, t, batch_size, **options).accuracy


def score(
    model: Any,
    x: Array,
    t: Array,
    batch_size: int = 100,
    *,
    workers: int = 1,
    progress: Callable[[int], object] | None = None,
    executor: str | None = None,
    chunk_batch: int | None = None,
    nan: str = "raise",
) -> Score:
    """How many samples, overall and by class, have the label as their predicted class; ``x`` is walked in batches.

    ``model``: a network (:class:`xpnet.nn.Model`: its ``inference`` gives
    the pass that scores, ``arrays`` and ``bound`` let a compiled copy take
    the weights as arguments). ``x``: (n, ...) floating point or uint8
    pixels, converted one batch at a time; ``t``: (n,) integer labels in
    0..n_out-1 or (n, n_out) one-hot. The running count stays on the device:
    one device-to-host transfer at the end. Raises ValueError when a label
    does not fit the outputs, and, with ``nan="raise"``, when a sample scores
    NaN (NaN in its input, or weights that are not finite); with
    ``nan="miss"`` such a sample counts as misclassified, with a
    RuntimeWarning (the book's networks score a diverged network so).
    ``progress``, if given, is called with each batch's size once the batch
    is done (``tqdm``'s ``update`` fits). ``workers``: batches scored at once
    (threads); ``executor``: see the module docstring; ``chunk_batch``: with
    chunks, each chunk's task scores its images this many at a time, so that
    its memory is bounded by that batch, not by the chunk (default: the whole
    chunk at once). The result depends on none of them.
    """
    _check_model(model)
    if nan not in ("raise", "miss"):
        raise ValueError(f"nan must be 'raise' or 'miss', not {nan!r}")
    xp = array_namespace(x, t)
    batch_size, workers = _positive("batch_size", batch_size), _positive("workers", workers)
    chunk_batch = None if chunk_batch is None else _positive("chunk_batch", chunk_batch)
    n = _check_labels(x, t)
    _check_samples(model, x)
    executor = _executor(executor, x, workers)
    counts_dtype = default_dtype(xp, "integral", device(x))
    count = _batch_counter(model, x, executor, counts_dtype, chunk_batch, min(batch_size, n))

    def batch_counts(start: int) -> Array:
        if executor == "jit":  # the compiled copy takes its batch from the whole arrays: one call a batch
            return count(x, t, start)
        stop = min(start + batch_size, n)  # the standard leaves out-of-bounds slices undefined
        return count(x[start:stop, ...], t[start:stop, ...])

    starts = range(0, n, batch_size)
    if executor == "chunks":  # each chunk scored in a task of its own, the counts computed together
        chunks = per_chunk(count, x, t, batch_size)
        sizes = [min(batch_size, n - start) for start in starts]
        tally = sum(compute_each(chunks, None if progress is None else (lambda i: progress(sizes[i]))))
    else:
        threads = workers if executor == "threads" else 1
        tally = to_numpy(_eager_tally(batch_counts, starts, min(threads, len(starts)), device(x), progress))
    correct, nan_rows, stray_labels, *by_class = (int(v) for v in tally)
    if stray_labels and t.ndim == 2:
        raise ValueError(f"t holds {stray_labels} rows that are not one-hot (one 1, the rest 0)")
    if stray_labels:
        n_out = model.predict(x[:1, ...]).shape[-1]
        raise ValueError(f"t holds {stray_labels} labels outside 0..{n_out - 1}, the network's classes")
    if nan_rows and nan == "raise":
        raise ValueError(f"{nan_rows} of {n} samples score NaN: NaN in x, or weights that are not finite")
    if nan_rows:
        warnings.warn(f"{nan_rows} of {n} samples score NaN and count as misclassified", RuntimeWarning,
                      stacklevel=4)  # the caller of a network's accuracy
    classes = len(by_class) // 2
    return Score(correct, n, tuple(by_class[classes:]), tuple(by_class[:classes]))


def predicted_labels(
    model: Any,
    x: Array,
    batch_size: int = 100,
    *,
    workers: int = 1,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """The predicted class of each sample of ``x`` (as :func:`accuracy` reads it), as a NumPy array (n,)."""
    return _per_batch(model, x, batch_size, workers, progress, _labels)


def probabilities(
    model: Any,
    x: Array,
    batch_size: int = 100,
    *,
    workers: int = 1,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """The softmax output of each sample of ``x``, as a NumPy array (n, n_out) of the network's dtype."""
    return _per_batch(model, x, batch_size, workers, progress, softmax)


def _per_batch(model: Any, x: Array, batch_size: int, workers: int, progress: Callable[[int], object] | None,
               result: Callable[[Array], Array]) -> np.ndarray:
    """``result(scores)`` of each batch of ``x``, brought to NumPy and joined along the first axis; through one
    compiled copy where the library compiles (every batch of one shape, see :func:`_rows`)."""
    _check_model(model)
    xp = array_namespace(x)
    batch_size, workers = _positive("batch_size", batch_size), _positive("workers", workers)
    n = x.shape[0]
    _check_samples(model, x)
    pixels = x.dtype == xp.uint8
    if compiles(x):
        jitted, weights = compiled(_bound_result, x, model, static=("size", "pixels", "result")), dict(model.arrays)
        size = min(batch_size, n)  # fewer samples than a batch are one batch of their own size

        def results(start: int) -> Array:
            return jitted(weights, x, start, size=size, pixels=pixels, result=result)[: min(size, n - start), ...]
    else:
        plan = model.inference(pixels=pixels)

        def results(start: int) -> Array:
            return result(plan.forward(x[start : min(start + batch_size, n), ...]))

    def of_batch(start: int) -> np.ndarray:
        batch = to_numpy(results(start))
        if progress is not None:
            progress(batch.shape[0])
        return batch

    with parallel_map(min(workers, max(1, -(-n // batch_size))), device(x)) as map_:
        batches = list(map_(of_batch, range(0, n, batch_size)))
    if not batches:
        raise ValueError("x is empty: no samples to score")
    return np.concatenate(batches)


def _executor(executor: str | None, x: Array, workers: int) -> str:
    if executor is None:
        return "chunks" if is_lazy(x) else "jit" if compiles(x) else "threads" if workers > 1 else "eager"
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if (executor == "chunks") != is_lazy(x):
        raise ValueError(f"executor {executor!r} does not fit {type(x).__name__} input")
    return executor


def _batch_counter(model: Any, x: Array, executor: str, counts_dtype: Any, chunk_batch: int | None = None,
                   batch_size: int = 1) -> Callable[..., Array]:
    """``count(images, targets)``: [correct, NaN rows, labels out of range, samples of each class, correct of
    each class] of one batch (for chunks, of one chunk's arrays, scored with the weights brought there,
    ``chunk_batch`` images at a time; compiled, ``count(x, t, start)`` of the ``batch_size`` rows from
    ``start``)."""
    pixels = x.dtype == array_namespace(x).uint8
    if executor == "chunks":
        host = {key: to_numpy(value) for key, value in model.arrays.items()}

        def chunk_counts(images: Array, targets: Array) -> Array:
            xp = array_namespace(images)
            local = model.bound({key: xp.asarray(value) for key, value in host.items()}).inference(pixels=pixels)
            n, step = images.shape[0], chunk_batch or images.shape[0]
            dtype = default_dtype(xp, "integral", device(images))

            def batch_counts(start: int) -> Array:
                stop = min(start + step, n)
                return _count(local, images[start:stop, ...], targets[start:stop, ...], dtype)

            return sum(batch_counts(start) for start in range(0, n, step))

        return chunk_counts
    if executor == "jit":
        jitted = compiled(_bound_count, x, model, static=("size", "pixels", "counts_dtype"))
        weights = dict(model.arrays)
        return lambda images, targets, start: jitted(weights, images, targets, start, size=batch_size,
                                                     pixels=pixels, counts_dtype=counts_dtype)
    plan = model.inference(pixels=pixels)  # rewritten once for the whole pass
    return lambda images, targets: _count(plan, images, targets, counts_dtype)


def _bound_count(model: Any, weights: dict[str, Array], x: Array, t: Array, start: int, *, size: int,
                 pixels: bool, counts_dtype: Any) -> Array:
    plan = model.bound(weights).inference(pixels=pixels)
    return _count(plan, _rows(x, start, size), _rows(t, start, size), counts_dtype, x.shape[0] - start)


def _rows(x: Array, start: int, size: int) -> Array:
    """The ``size`` rows of ``x`` from ``start`` (a traced number), past the end the last row again (counted
    nowhere): every batch of a compiled pass has one shape, taken from the whole array in the compiled code."""
    xp = array_namespace(x)
    return xp.take(x, xp.minimum(start + xp.arange(size, device=device(x)), x.shape[0] - 1), axis=0)


def _count(plan: Any, images: Array, targets: Array, counts_dtype: Any, rows: int | None = None) -> Array:
    """The counts of one batch (see :func:`_batch_counter`); with ``rows``, of its first ``rows`` samples only
    (the rest pad it, and count nowhere)."""
    xp = array_namespace(images, targets)
    scores = plan.forward(images)
    n_out = scores.shape[-1]
    if targets.ndim == 2 and targets.shape[1] != n_out:
        raise ValueError(f"t has one-hot rows of width {targets.shape[1]} but the network has {n_out} outputs")
    if targets.ndim == 1:
        labels, strays = targets, (targets < 0) | (targets >= n_out)
    else:  # a one-hot row holds one 1 and zeros: anything else (NaN, two ones, all zeros) names no class
        labels = xp.argmax(targets, axis=1)
        strays = (xp.sum(xp.astype(targets == 1, counts_dtype), axis=1) != 1) | (
            xp.sum(xp.astype(targets != 0, counts_dtype), axis=1) != 1)
    nan_rows = xp.any(xp.isnan(scores), axis=1)
    hits, named = (xp.argmax(scores, axis=1) == labels) & ~nan_rows, ~strays  # a stray row names no class
    if rows is not None:
        real = xp.arange(scores.shape[0], device=device(scores)) < rows
        hits, nan_rows, strays, named = hits & real, nan_rows & real, strays & real, named & real
    classes = xp.arange(n_out, dtype=labels.dtype, device=device(labels))
    of_class = (labels[:, None] == classes[None, :]) & named[:, None]  # (n, n_out)
    totals = xp.stack([xp.count_nonzero(hits), xp.count_nonzero(nan_rows), xp.count_nonzero(strays)])
    by_class = xp.stack([xp.sum(xp.astype(of_class, counts_dtype), axis=0),
                         xp.sum(xp.astype(of_class & hits[:, None], counts_dtype), axis=0)])
    return xp.concat([xp.astype(totals, counts_dtype), xp.reshape(by_class, (-1,))])


def _labels(scores: Array) -> Array:
    return array_namespace(scores).argmax(scores, axis=1)


def _bound_result(model: Any, weights: dict[str, Array], x: Array, start: int, *, size: int, pixels: bool,
                  result: Callable[[Array], Array]) -> Array:
    return result(model.bound(weights).inference(pixels=pixels).forward(_rows(x, start, size)))


def _eager_tally(batch_counts: Callable[[int], Array], starts: range, workers: int, on: Any,
                 progress: Callable[[int], object] | None) -> Array:
    """The sum of ``batch_counts`` over ``starts`` on device ``on``; each worker takes the next batch when it
    is done with one, so that a worker slowed down (a shared machine) leaves the others more."""
    lock = threading.Lock()

    def counted(start: int) -> Array:
        counts = batch_counts(start)
        if progress is not None:
            with lock:
                progress(min(starts.step, starts.stop - start))
        return counts

    with parallel_map(max(workers, 1), on) as map_:
        counts = list(map_(counted, starts))
    xp = array_namespace(*counts)
    return xp.sum(xp.stack(counts), axis=0)


def _check_model(model: Any) -> None:
    if not callable(getattr(model, "inference", None)):
        raise TypeError(f"expected a network (an xpnet.nn.Model), got {type(model).__name__}")


def _check_samples(model: Any, x: Array) -> None:
    """``x`` must hold samples of the network's input shape, or flat rows of as many numbers."""
    shape = tuple(getattr(model, "input_shape", ()))
    if not shape or tuple(x.shape[1:]) in (shape, (math.prod(shape),)):
        return
    if x.ndim == 2:
        raise ValueError(f"x has {x.shape[1]} features per sample but the network takes {math.prod(shape)}")
    raise ValueError(f"x has samples of shape {tuple(x.shape[1:])} but the network takes {shape} (or rows of "
                     f"{math.prod(shape)})")


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
