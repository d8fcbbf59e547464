"""Backend selection and host/device transfers.

This is the only module that knows which array library or device is in use (as
``dezero/cuda.py`` is in DeZero). Everything else gets its namespace from its
inputs with ``array_namespace(x)`` and calls standard functions only.

A *spec* names a device or a library, optionally with a device after a colon:

=====================================  ==========================================
``"cpu"``, ``"numpy"``                 NumPy
``"cuda"``, ``"cuda:N"``, ``"cupy:N"`` CuPy on GPU N (imported only when asked for)
``"array_api_strict[:DEVICE]"``        array-api-strict, e.g. ``:device1``
``"torch[:DEVICE]"``                   PyTorch, e.g. ``"torch:cuda"``
``"dask[:cuda]"``                      dask.array with NumPy (or CuPy) chunks
``"jax[:DEVICE]"``                     JAX, ``:cpu`` or ``:cuda[:N]`` (XLA-compiled)
=====================================  ==========================================
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np
from array_api_compat import (
    is_array_api_strict_namespace,
    is_cupy_array,
    is_dask_array,
    is_jax_array,
    is_numpy_array,
    is_torch_array,
)

from .errors import BackendError
from .files import check_npy, reading

LIBRARIES = ("numpy", "cupy", "array_api_strict", "torch", "dask", "jax")
CPU_BATCH_SIZE = 500  # 1.6 MB of float32 per batch: stays in cache, and the per-batch Python cost stays small
GPU_BATCH_SIZE = 1 << 16

_INSTALL = {
    "cupy": "pip install 'xpnet[cuda12]' (CUDA 12) or 'xpnet[cuda13]' (CUDA 13)",
    "array_api_strict": "pip install array-api-strict",
    "torch": "pip install 'xpnet[torch]'",
    "dask": "pip install 'xpnet[dask]'",
    "jax": "pip install 'xpnet[jax]' (a CUDA build of jaxlib for GPUs: pip install 'jax[cuda12]')",
}


@dataclass(frozen=True)
class Backend:
    """An array namespace and the device that new arrays are placed on.

    ``name`` is the library (one of ``LIBRARIES``), ``xp`` its array-API
    namespace, ``device`` the device object for ``xp.asarray(..., device=)``
    and ``batch_size`` the number of images per step that suits it: enough to
    keep a CPU's caches warm, many more on a GPU, where each step costs a
    kernel launch; for dask, the chunk size along the batch axis. ``workers``
    is how many batches run at once, each on its own CPU core (see
    :func:`parallel_map`): one per core for NumPy, one for the rest.
    """

    name: str
    xp: ModuleType
    device: Any = None
    batch_size: int = CPU_BATCH_SIZE
    workers: int = 1

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Place a host (NumPy) array or nested sequence on this backend's device (no copy where none is needed)."""
        if self.name == "dask":
            return _dask_asarray(self, x, dtype)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    @property
    def on_gpu(self) -> bool:
        """Whether new arrays land on a CUDA GPU."""
        return self.name == "cupy" or str(self.device).startswith(("cuda", "gpu"))

    def load_npy(self, path: str | os.PathLike[str]) -> Any:
        """An ``.npy`` file as an array of this backend, memory-mapped rather than read whole.

        dask maps the file afresh in each chunk's task, so no process holds
        more than the chunks in flight; NumPy uses the mapping as it is; the
        other backends copy it to their device.
        """
        shape, dtype = check_npy(path)
        if self.name == "dask":
            return _dask_npy(self, path, shape, dtype)
        with reading(path):
            mapped = np.load(path, mmap_mode="r", allow_pickle=False) if math.prod(shape) else np.empty(shape, dtype)
        return self.asarray(mapped)

    def asarrays(self, arrays: dict[str, Any]) -> dict[str, Any]:
        """``asarray`` applied to every value of a dict (a network's weights, say)."""
        return {key: self.asarray(value) for key, value in arrays.items()}

    def __str__(self) -> str:
        return self.name if self.device is None else f"{self.name} on {self.device}"


def get_backend(
    spec: Backend | str = "cpu", device: str | None = None, *, batch_size: int | None = None, workers: int | None = None
) -> Backend:
    """Return the :class:`Backend` that ``spec`` names (see the module docstring); a Backend passes through.

    ``device`` may be given apart from the spec, as the scripts' ``--backend``
    and ``--device`` are: ``get_backend("torch", "cuda")``. ``"cpu"`` and
    ``"cuda"`` on their own pick NumPy and CuPy; ``batch_size`` and
    ``workers`` replace the backend's own (see :class:`Backend`). Raises :class:`BackendError`
    with one line saying what is missing when the library or device is not there.
    """
    given = {key: value for key, value in (("batch_size", batch_size), ("workers", workers)) if value is not None}
    if isinstance(spec, Backend):
        return replace(spec, **given)
    if not isinstance(spec, str):
        raise BackendError(f"a backend is named by a string such as 'cpu' or 'cuda:1', or is a Backend; got {spec!r}")
    name, _, spec_device = spec.partition(":")
    if device is not None and spec_device and device != spec_device:
        raise BackendError(f"device given twice: {spec!r} and {device!r}")
    device = device or spec_device or None
    if name == "cpu":
        name, device = "numpy", device
    elif name == "cuda":
        name, device = "cupy", device or "0"
    if name == "numpy" and device not in (None, "cpu"):
        if device.startswith("cuda"):
            name, device = "cupy", device.partition(":")[2] or "0"
        else:
            raise BackendError(f"numpy runs on the cpu only, not on {device!r}")
    if name not in LIBRARIES:
        raise BackendError(f"unknown backend {spec!r}: choose cpu, cuda[:N] or one of {', '.join(LIBRARIES)}")
    return replace(_OPENERS[name](device), **given)


def get_namespace(spec: str = "cpu") -> ModuleType:
    """Return the array-API namespace that ``spec`` names, e.g. ``numpy`` or ``array_api_compat.torch``."""
    return get_backend(spec).xp


def array_namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of ``arrays``, as ``array_api_compat.array_namespace`` gives it.

    One exception: NumPy arrays get ``numpy`` itself, which implements the
    standard since NumPy 2.1. Its wrapper, ``array_api_compat.numpy``, would
    add about 19 MB and 0.1 s to every CPU run (it imports ``numpy.typing``,
    ``numpy.f2py`` and ``numpy.testing``). Raises TypeError for mixed libraries.
    """
    if arrays and all(type(x) is np.ndarray for x in arrays):  # the common case, answered at once: layers ask per call
        return np
    native = all(is_numpy_array(x) for x in arrays)
    return array_api_compat.array_namespace(*arrays, use_compat=False if native else None)


def as_array(x: Any) -> Any:
    """``x`` itself if it is an array of a supported library, else ``numpy.asarray(x)`` (Python numbers, lists)."""
    return x if array_api_compat.is_array_api_obj(x) else np.asarray(x)


def default_dtype(xp: ModuleType, kind: str, device: Any = None) -> Any:
    """The namespace's default dtype of ``kind`` (``"real floating"`` or ``"integral"``) on ``device``.

    float64 and int64 on NumPy; PyTorch's default float is float32, JAX's
    are 32-bit unless its 64-bit mode is on.
    """
    return xp.__array_namespace_info__().default_dtypes(device=device)[kind]


def to_device(x: Any, backend: Backend | str) -> Any:
    """Move an array of any supported library onto ``backend`` (a Backend or a spec)."""
    return get_backend(backend).asarray(to_numpy(x))


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a NumPy array on the host, whatever its library and device."""
    if isinstance(x, np.ndarray):
        return x
    if is_dask_array(x):
        return to_numpy(x.compute())
    if is_cupy_array(x):
        return x.get()
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    xp = array_namespace(x)
    if is_array_api_strict_namespace(xp):
        return np.asarray(x.to_device(xp.Device("CPU_DEVICE")))
    return np.asarray(x)


@contextmanager
def parallel_map(workers: int = 1, device: Any = None) -> Iterator[Callable[..., Iterator[Any]]]:
    """A ``map`` that runs up to ``workers`` calls at once, in threads, with BLAS single-threaded meanwhile.

    Meant for one call per worker, each taking its share of the batches: each
    core then converts and multiplies its own batches. With one BLAS call
    spread over both cores instead, the other core reads every batch that
    the first has just written, which on some machines (the README's 2-core
    VM, at times) makes a pass 1.5 times slower. Each call runs with
    ``device`` current (CuPy's current GPU is a per-thread setting, so a
    worker thread would otherwise run on GPU 0). Results come in call order;
    ``workers == 1`` maps in the calling thread.
    """
    scope = device if _is_cupy_device(device) else nullcontext()
    if workers == 1:
        with scope:
            yield map
        return
    from concurrent.futures import ThreadPoolExecutor

    def on_device(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if _is_cupy_device(device):
                device.use()  # the pool's own threads, discarded afterwards
            return function(*args)

        return call

    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        yield lambda function, *iterables: pool.map(on_device(function), *iterables)


class _BlasLimit:
    """BLAS held to one thread while any caller is inside; the last to leave restores what the first found.

    threadpoolctl's limits are process-wide: two overlapping ``with
    threadpool_limits(1)`` blocks that leave in the wrong order would leave
    BLAS pinned to one thread for good, so callers are counted. And OpenBLAS
    ignores a raise of its thread count made from a thread other than the one
    that lowered it, so every change is made on one helper thread of our own.
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


def reuse_freed_memory() -> bool:
    """Have the C library's ``malloc`` (glibc's) keep freed blocks of up to 32 MiB for reuse; True if it took.

    A pass allocates arrays of the same sizes for every batch. By default glibc
    returns blocks above a moving threshold to the kernel when they are freed
    and maps them afresh for the next batch, so that every page is faulted in
    and zeroed again: on the README's 2-core VM that halves SimpleConvNet's
    speed. The same happens in a fresh arena (glibc's per-thread heap): a
    pass's worker threads start while the last pass's are still exiting, and
    may each be given a new, empty one (with JAX's thread pool in the
    process, 500 page faults a batch and SimpleConvNet's first eight passes
    three times slower), so arenas are capped at one a core. xpnet's
    commands call this when they run a ConvNet, as they own their process;
    importing xpnet changes nothing. Freed memory then stays with the process
    (up to 512 MiB at the top of the heap) instead of going back to the
    system.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: macOS and Windows have no mallopt
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # glibc's <malloc.h>
    return all(mallopt(option, value) for option, value in (
        (m_mmap_threshold, 32 << 20), (m_trim_threshold, 512 << 20), (m_arena_max, _cpu_count())))


def single_threaded_blas() -> _BlasLimit:
    """A context in which NumPy's BLAS uses one thread (see :class:`_BlasLimit`); safe to nest and overlap."""
    return _BLAS_LIMIT


def _is_cupy_device(device: Any) -> bool:
    return type(device).__module__.startswith("cupy")


_COMPILED: dict[Callable[..., Any], Callable[..., Any]] = {}


def compiled(function: Callable[..., Any], like: Any, static: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``function`` compiled for the library of ``like`` where it has a compiler, else ``function`` itself.

    JAX: ``jax.jit`` with the keyword arguments ``static`` (hashable) fixed at
    trace time; one compiled copy per function, traced once per input
    shape and static values, for the life of the process.
    """
    if not is_jax_array(like):
        return function
    if function not in _COMPILED:
        import jax

        _COMPILED[function] = jax.jit(function, static_argnames=static)
    return _COMPILED[function]


def dtype_named(backend: Backend, name: str) -> Any:
    """``backend``'s dtype called ``name`` (``"float32"``, ``"float16"``, ...); BackendError if it has none.

    The standard's dtypes are looked up in the namespace's inspection API (JAX
    lists float64 only in its 64-bit mode), others (float16, which the
    standard leaves out) by name.
    """
    xp = backend.xp
    listed = xp.__array_namespace_info__().dtypes(device=backend.device)
    if (name in listed) if name in ("float32", "float64") else hasattr(xp, name):
        return getattr(xp, name)
    hint = " (turn on JAX's 64-bit mode: JAX_ENABLE_X64=1)" if backend.name == "jax" and name == "float64" else ""
    raise BackendError(f"{backend} has no {name}{hint}")


def is_deferred(x: Any) -> bool:
    """Whether ``x`` is a dask array: a graph that :func:`compute_each` evaluates, not values yet."""
    return is_dask_array(x)


def compute_each(arrays: list[Any], done: Callable[[int], object] | None = None) -> list[np.ndarray]:
    """Host (NumPy) copies of ``arrays``, computed together; ``done(i)`` as soon as array ``i`` is ready.

    dask arrays go to the default dask.distributed client if there is one
    (finished futures report), else to the local scheduler (a callback sees
    each output task finish). Other arrays are copied in turn.
    """
    done = done or (lambda i: None)
    if not any(is_dask_array(a) for a in arrays):
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


def _flat_keys(keys: Any) -> Iterator[Any]:
    if isinstance(keys, list):
        for key in keys:
            yield from _flat_keys(key)
    else:
        yield keys


def _default_dask_client() -> Any:
    """The client that ``use_dask_scheduler`` (or the user) made the default, if dask.distributed is in use."""
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def refuse_lazy(x: Any, what: str) -> None:
    """Raise BackendError when ``x`` is a dask array: ``what`` needs arrays that compute as they go."""
    if is_dask_array(x):
        raise BackendError(
            f"{what} needs an eager backend: on dask each step's graph would build on the last, so the time would "
            "grow faster than the number of steps (use numpy, cupy, torch or array_api_strict)"
        )


def _cpu_count() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import(library: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendError(f"{library} is not installed ({err}); install it with: {_INSTALL[library]}") from None


def _open_numpy(device: str | None) -> Backend:
    return Backend("numpy", np, "cpu", workers=_cpu_count())


def _cupy_device(device: str | None) -> Any:
    cupy = _import("cupy", "cupy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDARuntimeError, or a missing driver library
        raise BackendError(f"cuda requested but no CUDA GPU is visible ({str(err).strip()})") from None
    index = int(device or 0)
    if not 0 <= index < count:
        raise BackendError(f"cuda:{index} requested but {count} CUDA GPU(s) are visible")
    return cupy.cuda.Device(index)


def _open_cupy(device: str | None) -> Backend:
    if device is not None and not device.isdigit():
        raise BackendError(f"cupy needs a GPU number as its device, not {device!r}")
    gpu = _cupy_device(device)
    gpu.use()
    return Backend("cupy", _import("cupy", "array_api_compat.cupy"), gpu, GPU_BATCH_SIZE)


def _open_array_api_strict(device: str | None) -> Backend:
    xp = _import("array_api_strict", "array_api_strict")
    try:
        return Backend("array_api_strict", xp, xp.Device("CPU_DEVICE" if device in (None, "cpu") else device))
    except ValueError as err:
        raise BackendError(f"array_api_strict: {str(err).strip()}") from None


def _open_torch(device: str | None) -> Backend:
    xp = _import("torch", "array_api_compat.torch")
    torch = _import("torch", "torch")
    try:
        target = torch.device(device or "cpu")
    except (RuntimeError, ValueError, TypeError) as err:
        raise BackendError(f"torch: {' '.join(str(err).split())}") from None
    if target.type not in ("cpu", "cuda"):
        raise BackendError(f"torch runs here on 'cpu' or 'cuda[:N]', not {target.type!r}")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise BackendError("torch:cuda requested but torch sees no CUDA GPU (is this a CPU build of torch?)")
    if target.type == "cuda" and (target.index or 0) >= torch.cuda.device_count():
        raise BackendError(f"torch:{target} requested but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return Backend("torch", xp, target, GPU_BATCH_SIZE if target.type == "cuda" else CPU_BATCH_SIZE)


def _open_dask(device: str | None) -> Backend:
    if device not in (None, "cpu", "cuda"):
        raise BackendError(f"dask runs on 'cpu' or 'cuda' chunks, not {device!r}")
    xp = _import("dask", "array_api_compat.dask.array")
    if device == "cuda":
        _cupy_device(None)
    return Backend("dask", xp, device, 10_000)


def _dask_asarray(backend: Backend, x: Any, dtype: Any) -> Any:
    """Wrap a host array as a dask array chunked along axis 0."""
    import dask.array

    host = x if is_dask_array(x) else np.asarray(x, dtype=dtype)
    chunks = (backend.batch_size,) + (-1,) * (host.ndim - 1) if host.ndim else ()
    lazy = host.rechunk(chunks) if is_dask_array(host) else dask.array.from_array(host, chunks=chunks, name=False)
    return _on_dask_device(backend, lazy)


def _dask_npy(backend: Backend, path: str | os.PathLike[str], shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """A dask array whose chunks each map ``path`` and take their rows: nothing is read up front."""
    import dask
    import dask.array

    starts = range(0, shape[0], backend.batch_size)
    bounds = [(start, min(start + backend.batch_size, shape[0])) for start in starts]
    blocks = [
        dask.array.from_delayed(
            dask.delayed(_npy_rows)(os.fspath(path), start, stop), shape=(stop - start, *shape[1:]), dtype=dtype
        )
        for start, stop in bounds
    ]
    return _on_dask_device(backend, dask.array.concatenate(blocks))


def _npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.load(path, mmap_mode="r")[start:stop]


def _on_dask_device(backend: Backend, lazy: Any) -> Any:
    """CuPy chunks for ``dask:cuda``, else the NumPy chunks as they are."""
    if backend.device == "cuda":
        import cupy

        return lazy.map_blocks(cupy.asarray)
    return lazy


def use_dask_scheduler(address: str) -> Any:
    """Send every dask computation of this process to the dask.distributed scheduler at ``address``."""
    try:
        from distributed import Client
    except ImportError:
        raise BackendError(f"--scheduler needs dask.distributed: {_INSTALL['dask']}") from None
    try:
        return Client(address, timeout=10)
    except Exception as err:
        raise BackendError(f"cannot reach the dask scheduler at {address!r} ({' '.join(str(err).split())})") from None


def _open_jax(device: str | None) -> Backend:
    jax = _import("jax", "jax")
    xp = _import("jax", "jax.numpy")
    kind, _, index = (device or "cpu").partition(":")
    if kind not in ("cpu", "cuda", "gpu") or (index and not index.isdigit()):
        raise BackendError(f"jax runs here on 'cpu' or 'cuda[:N]', not {device!r}")
    try:
        devices = jax.devices("cpu" if kind == "cpu" else "gpu")
    except RuntimeError:
        raise BackendError(f"jax:{device} requested but JAX sees no GPU (is jaxlib a CPU build? "
                           f"{_INSTALL['jax']})") from None
    if int(index or 0) >= len(devices):
        raise BackendError(f"jax:{device} requested but JAX sees {len(devices)} {kind} device(s)")
    target = devices[int(index or 0)]
    return Backend("jax", xp, target, CPU_BATCH_SIZE if kind == "cpu" else GPU_BATCH_SIZE)


_OPENERS = {
    "numpy": _open_numpy,
    "cupy": _open_cupy,
    "array_api_strict": _open_array_api_strict,
    "torch": _open_torch,
    "dask": _open_dask,
    "jax": _open_jax,
}
