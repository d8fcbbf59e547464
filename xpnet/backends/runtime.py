"""How work runs: worker threads and the BLAS thread limit, freed-memory reuse, compiled functions (JAX's jit),
and dask execution. Nothing here runs on import."""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from array_api_compat import is_dask_array, is_jax_array

from ..errors import BackendError
from .libraries import LIBRARIES, cpu_count
from .namespace import to_numpy


@contextmanager
def parallel_map(workers: int = 1, device: Any = None) -> Iterator[Callable[..., Iterator[Any]]]:
    """A ``map`` that runs up to ``workers`` calls at once, in the calling thread and threads of a pool, each
    taking the next call as it finishes one, with BLAS single-threaded meanwhile; results in call order.

    Best with one call per worker, each taking its share of the batches: each
    core then converts and multiplies its own batches. With one BLAS call
    spread over both cores instead, the other core reads every batch that
    the first has just written, which on some machines makes a pass 1.5
    times slower. Each call runs with ``device`` current (CuPy's current GPU
    is a per-thread setting, so a worker thread would otherwise run on GPU
    0). ``workers == 1`` maps in the calling thread. The calling thread takes calls as well, rather than
    waiting: its memory is already in use, where a new thread's may first be faulted in (``xpnet infer
    --model deep_convnet``: 2% to 7% faster). A call that raises stops the others from taking more.
    """
    def on_device() -> Any:
        """``device`` made current where that is a per-thread setting (CuPy), else nothing to do."""
        return device if _is_cupy_device(device) else nullcontext()

    if workers == 1:
        with on_device():
            yield map
        return
    from concurrent.futures import ThreadPoolExecutor

    with single_threaded_blas(), ThreadPoolExecutor(workers - 1) as pool:

        def map_(function: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
            calls = list(zip(*iterables))  # noqa: B905 (map's own semantics: the shortest iterable ends it)
            results: list[Any] = [None] * len(calls)
            pending, lock, abandoned = iter(range(1, len(calls))), threading.Lock(), threading.Event()

            def take_calls(k: int | None = None) -> None:
                """Call ``k`` (if given), then the next pending call, until none is left."""
                try:
                    with on_device():
                        while not abandoned.is_set():
                            if k is None:
                                with lock:
                                    k = next(pending, None)
                                if k is None:
                                    return
                            results[k], k = function(*calls[k]), None
                except BaseException:
                    abandoned.set()
                    raise

            others = [pool.submit(take_calls) for _ in range(min(workers, len(calls)) - 1)]
            try:
                take_calls(0 if calls else None)  # the first call in the calling thread
            except BaseException:
                for other in others:
                    other.exception()  # waits for it to stop; the caller's exception is the one raised
                raise
            for other in others:
                other.result()  # raises a worker's exception
            return iter(results)

        yield map_


def _is_cupy_device(device: Any) -> bool:
    return type(device).__module__.startswith("cupy")


class _BlasLimit:
    """BLAS held to one thread while any caller is inside; the last to leave restores what the first found.

    threadpoolctl's limits are process-wide: two overlapping ``with
    threadpool_limits(1)`` blocks that leave in the wrong order would leave
    BLAS pinned to one thread for good, so callers are counted. And OpenBLAS
    ignores a raise of its thread count made from a thread other than the one
    that lowered it, so every change is made on one helper thread of our own,
    started on first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None
        self._helper: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                from concurrent.futures import ThreadPoolExecutor

                from threadpoolctl import threadpool_limits

                self._helper = self._helper or ThreadPoolExecutor(1, thread_name_prefix="xpnet-blas")
                self._limiter = self._helper.submit(threadpool_limits, limits=1, user_api="blas").result()
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._helper.submit(self._limiter.restore_original_limits).result()


_BLAS_LIMIT = _BlasLimit()


def single_threaded_blas() -> _BlasLimit:
    """A context in which NumPy's BLAS uses one thread (see :class:`_BlasLimit`); safe to nest and overlap."""
    return _BLAS_LIMIT


def reuse_freed_memory() -> bool:
    """Have the C library's ``malloc`` (glibc's) keep freed blocks of up to 32 MiB for reuse; True if it took.

    A pass allocates arrays of the same sizes for every batch. By default glibc
    returns blocks above a moving threshold to the kernel when they are freed
    and maps them afresh for the next batch, so that every page is faulted in
    and zeroed again: on a 2-core VM that halves SimpleConvNet's speed. The
    same happens in a fresh arena (glibc's per-thread heap): a pass's worker
    threads start while the last pass's are still exiting, and may each be
    given a new, empty one, so arenas are capped at one a core. The command
    line calls this when it runs a network with convolutions, as it owns its
    process; importing xpnet changes nothing. Freed memory then stays with the
    process (up to 512 MiB at the top of the heap) instead of going back to
    the system.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: macOS and Windows have no mallopt
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # glibc's <malloc.h>
    return all(mallopt(option, value) for option, value in (
        (m_mmap_threshold, 32 << 20), (m_trim_threshold, 512 << 20), (m_arena_max, cpu_count())))


# Compiled copies of functions that belong to an object (a network): they go when it goes.
_OWNED: weakref.WeakKeyDictionary[Any, dict[Any, Callable[..., Any]]] = weakref.WeakKeyDictionary()


def compiles(like: Any) -> bool:
    """Whether the library of ``like`` compiles functions (JAX)."""
    return is_jax_array(like)


_COMPILING = {"seconds": 0.0, "listening": False}  # JAX's compilation time in this process, once asked for


def compile_seconds(like: Any) -> float | None:
    """Seconds the library of ``like`` has spent compiling (tracing, lowering, compiling) in this process since
    the first call of this function; None for a library that does not compile."""
    if not compiles(like):
        return None
    if not _COMPILING["listening"]:
        from jax import monitoring

        def note(event: str, seconds: float, **_: Any) -> None:
            if event.startswith("/jax/core/compile/"):
                _COMPILING["seconds"] += seconds

        monitoring.register_event_duration_secs_listener(note)
        _COMPILING["listening"] = True
    return _COMPILING["seconds"]


def compiled(function: Callable[..., Any], like: Any, owner: Any, static: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``function(owner, *args)`` compiled for the library of ``like`` where it has a compiler, as a function of
    ``*args``; elsewhere ``function`` with ``owner`` bound.

    JAX: ``jax.jit`` with the keyword arguments ``static`` (hashable) fixed at
    trace time, traced once per input shape and static values. The compiled
    copy is kept as long as ``owner`` lives, and holds it only weakly, so a
    network that is no longer used is freed with its compiled code.
    """
    if not is_jax_array(like):
        return lambda *args, **kwargs: function(owner, *args, **kwargs)
    cache = _OWNED.setdefault(owner, {})
    if function not in cache:
        import jax

        ref = weakref.ref(owner)
        cache[function] = jax.jit(lambda *args, **kwargs: function(ref(), *args, **kwargs), static_argnames=static)
    return cache[function]


def compute_each(arrays: list[Any], done: Callable[[int], object] | None = None) -> list[np.ndarray]:
    """Host (NumPy) copies of ``arrays``, computed together; ``done(i)`` as soon as array ``i`` is ready.

    dask's arrays and lazy values go to the default dask.distributed client if there is one
    (finished futures report), else to the local scheduler (a callback sees
    each output task finish). Other arrays are copied in turn.
    """
    done = done or (lambda i: None)
    if not any(_is_dask_collection(a) for a in arrays):
        results = []
        for i, a in enumerate(arrays):
            results.append(to_numpy(a))
            done(i)
        return results
    client = _default_dask_client()
    if client is not None:
        from distributed import as_completed

        futures = client.compute(arrays)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            done(index[future.key])
        return [to_numpy(value) for value in client.gather(futures)]
    import dask
    from dask.callbacks import Callback

    owner = {key: i for i, a in enumerate(arrays) for key in _flat_keys(a.__dask_keys__())}
    waiting = [0] * len(arrays)  # output chunks not computed yet, per array
    for i in owner.values():
        waiting[i] += 1

    class _OutputDone(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if key in owner:
                waiting[owner[key]] -= 1
                if waiting[owner[key]] == 0:
                    done(owner[key])

    with _OutputDone():
        return [to_numpy(value) for value in dask.compute(*arrays)]


def per_chunk(function: Callable[[Any, Any], Any], x: Any, t: Any, rows: int) -> list[Any]:
    """``function(x_chunk, t_chunk)`` for each chunk of ``rows`` of the dask arrays ``x`` and ``t``, as lazy
    values (dask's ``Delayed``, for :func:`compute_each`): each task holds one chunk of the input, whatever the
    whole's size, and runs with BLAS on one thread (the scheduler runs a task on each core)."""
    import dask

    x = x.rechunk({0: rows, **{axis: -1 for axis in range(1, x.ndim)}})
    t = t.rechunk((x.chunks[0], *((-1,) * (t.ndim - 1))))

    def on_one_thread(x_chunk: Any, t_chunk: Any) -> Any:
        with single_threaded_blas():
            return function(x_chunk, t_chunk)

    task = dask.delayed(on_one_thread, pure=True)
    return [task(x_chunk, t_chunk) for x_chunk, t_chunk in zip(x.to_delayed().ravel(), t.to_delayed().ravel(),
                                                                strict=True)]


def _is_dask_collection(value: Any) -> bool:
    if "dask" not in sys.modules:  # nothing of dask's exists before it is imported
        return False
    from dask.base import is_dask_collection

    return is_dask_collection(value)


def _flat_keys(keys: Any) -> Iterator[Any]:
    if isinstance(keys, list):
        for key in keys:
            yield from _flat_keys(key)
    else:
        yield keys


def _default_dask_client() -> Any:
    """The client that ``use_scheduler`` (or the user) made the default, if dask.distributed is in use."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def use_scheduler(address: str) -> Any:
    """Send every dask computation of this process to the dask.distributed scheduler at ``address``."""
    try:
        from distributed import Client
    except ImportError:
        raise BackendError(f"--scheduler needs dask.distributed: {LIBRARIES['dask'].install}") from None
    try:
        return Client(address, timeout=10)
    except Exception as err:
        raise BackendError(f"cannot reach the dask scheduler at {address!r} ({' '.join(str(err).split())})") from None


def lazy_workers(client: Any = None) -> int:
    """The workers that run dask's tasks: the cluster's (``client``'s), else the local scheduler's threads."""
    if client is not None:
        return len(client.scheduler_info()["workers"])
    import dask

    return int(dask.config.get("num_workers", None) or dask.system.CPU_COUNT)


def refuse_lazy(x: Any, what: str) -> None:
    """Raise BackendError when ``x`` is a dask array: ``what`` needs arrays that compute as they go."""
    if is_dask_array(x):
        eager = ", ".join(name for name, library in LIBRARIES.items() if not library.lazy)
        raise BackendError(
            f"{what} needs an eager backend: on dask each step's graph would build on the last, so the time would "
            f"grow faster than the number of steps (use {eager})"
        )
