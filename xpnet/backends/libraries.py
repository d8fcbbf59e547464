"""The array libraries xpnet runs on, one :class:`Library` each, and :func:`get_backend`, which opens them.

A *spec* names a device or a library, optionally with a device after a colon:

=====================================  ==========================================
``"cpu"``, ``"numpy"``                 NumPy
``"cuda"``, ``"cuda:N"``, ``"cupy:N"`` CuPy on GPU N (imported only when asked for)
``"array_api_strict[:DEVICE]"``        array-api-strict, e.g. ``:device1``
``"torch[:DEVICE]"``                   PyTorch, e.g. ``"torch:cuda"``
``"dask[:cuda]"``                      dask.array with NumPy (or CuPy) chunks
``"jax[:DEVICE]"``                     JAX, ``:cpu`` or ``:cuda[:N]`` (XLA-compiled)
=====================================  ==========================================

Adding a library is one more :class:`Library` in :data:`LIBRARIES`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from ..errors import BackendError
from .namespace import array_namespace, to_numpy


@dataclass(frozen=True)
class Backend:
    """An array namespace and the device that new arrays are placed on.

    ``name`` is the library (a key of :data:`LIBRARIES`), ``xp`` its
    array-API namespace, ``device`` the device object for
    ``xp.asarray(..., device=)``. ``batch_size``: images per step, or None
    for the model's own choice for this kind of device (the registry's); for
    dask, the chunk size along the batch axis. ``workers``: batches scored at
    once, each on its own CPU core: one per core for NumPy, one for the rest.
    """

    name: str
    xp: ModuleType
    device: Any = None
    batch_size: int | None = None
    workers: int = 1

    @property
    def library(self) -> Library:
        return LIBRARIES[self.name]

    @property
    def on_gpu(self) -> bool:
        """Whether new arrays land on a CUDA GPU."""
        return self.name == "cupy" or str(self.device).startswith(("cuda", "gpu"))

    @property
    def lazy(self) -> bool:
        """Whether arrays are graphs computed later (dask)."""
        return self.library.lazy

    @property
    def kind(self) -> str:
        """What the registry's batch sizes are chosen by: ``"chunks"`` (a lazy library's), ``"gpu"``, ``"pool"`` (a
        library that spreads each call over the CPU's cores with threads of its own) or ``"cpu"``."""
        return "chunks" if self.lazy else "gpu" if self.on_gpu else "pool" if self.library.pooled else "cpu"

    def free_memory(self) -> int | None:
        """Bytes free on this backend's GPU, as its library reports them (None: not a GPU, or not known)."""
        if not self.on_gpu or self.library.free_memory is None:
            return None
        try:
            return int(self.library.free_memory(self))
        except Exception:  # a driver that cannot say: nothing is estimated
            return None

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Place a host (NumPy) array or nested sequence on this backend's device (no copy where none is needed)."""
        return self.library.place(self, x, dtype)

    def asarrays(self, arrays: dict[str, Any]) -> dict[str, Any]:
        """``asarray`` applied to every value of a dict (a network's weights, say)."""
        return {key: self.asarray(value) for key, value in arrays.items()}

    def __str__(self) -> str:
        return self.name if self.device is None else f"{self.name} on {self.device}"


def _place(backend: Backend, x: Any, dtype: Any) -> Any:
    return backend.xp.asarray(x, dtype=dtype, device=backend.device)


@dataclass(frozen=True)
class Library:
    """How to open one array library: ``open(device)`` gives its Backend; ``place`` moves host data there."""

    name: str
    open: Callable[[str | None], Backend]
    install: str
    lazy: bool = False
    pooled: bool = False  # spreads each call over the CPU's cores itself, so it takes one batch at a time
    place: Callable[[Backend, Any, Any], Any] = _place
    free_memory: Callable[[Backend], int] | None = None  # bytes free on a GPU device of this library


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
    if device not in (None, "cpu") and spec_device and device != spec_device:
        raise BackendError(f"device given twice: {spec!r} and {device!r}")
    device = spec_device or device or None
    if name == "cpu":
        name = "numpy"
    elif name == "cuda":
        name, device = "cupy", device or "0"
    if name == "numpy" and device not in (None, "cpu"):
        if not device.startswith("cuda"):
            owner = OTHER_DEVICES.get(device)
            hint = f"{device!r} is {owner}'s: --backend {owner}; " if owner else ""
            raise BackendError(f"numpy runs on the cpu only, not on {device!r} ({hint}an NVIDIA GPU is 'cuda' or "
                               "'cuda:N')")
        name, device = "cupy", device.partition(":")[2] or "0"
    if name not in LIBRARIES:
        raise BackendError(f"unknown backend {spec!r}: choose cpu, cuda[:N] or one of {', '.join(LIBRARIES)}")
    return replace(LIBRARIES[name].open(device), **given)


def backend_of(x: Any) -> Backend:
    """The Backend that array ``x`` lives on (its library's namespace and its device)."""
    from array_api_compat import device

    xp = array_namespace(x)
    name = next((name for name, check in _OWNS.items() if check(x)), "array_api_strict")
    return Backend(name, xp, device(x), workers=cpu_count() if name == "numpy" else 1)


def get_namespace(spec: str = "cpu") -> ModuleType:
    """Return the array-API namespace that ``spec`` names, e.g. ``numpy`` or ``array_api_compat.torch``."""
    return get_backend(spec).xp


def to_device(x: Any, backend: Backend | str) -> Any:
    """Move an array of any supported library onto ``backend`` (a Backend or a spec)."""
    return get_backend(backend).asarray(to_numpy(x))


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import(library: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BackendError(f"{library} is not installed ({err}); install it with: {LIBRARIES[library].install}"
                           ) from None


def _open_numpy(device: str | None) -> Backend:
    return Backend("numpy", np, "cpu", workers=cpu_count())


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
    # the device object goes with every array placed (and is made current in each worker thread): the
    # process's current GPU is left as it was
    return Backend("cupy", _import("cupy", "array_api_compat.cupy"), _cupy_device(device))


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
        build = ("this is a CPU build of torch" if torch.version.cuda is None else
                 f"torch is built for CUDA {torch.version.cuda}: is there a GPU, its driver, and CUDA_VISIBLE_DEVICES?")
        raise BackendError(f"torch:cuda requested but torch sees no CUDA GPU ({build})")
    if target.type == "cuda" and (target.index or 0) >= torch.cuda.device_count():
        raise BackendError(f"torch:{target} requested but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return Backend("torch", xp, target)


def _open_dask(device: str | None) -> Backend:
    if device not in (None, "cpu", "cuda"):
        raise BackendError(f"dask runs on 'cpu' or 'cuda' chunks, not {device!r}")
    xp = _import("dask", "array_api_compat.dask.array")
    if device == "cuda":
        _cupy_device(None)
    return Backend("dask", xp, device)


OTHER_DEVICES = {"device1": "array_api_strict", "device2": "array_api_strict", "mps": "torch"}  # named alone
DASK_CHUNK = 10_000  # rows per chunk where neither the caller nor a model chose


def _place_dask(backend: Backend, x: Any, dtype: Any) -> Any:
    """Wrap a host array (or an array-like read by slices) as a dask array chunked along axis 0 (CuPy chunks for
    ``dask:cuda``)."""
    import dask.array
    from array_api_compat import is_dask_array

    host = x if dtype is None and hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x, dtype=dtype)
    rows = backend.batch_size or DASK_CHUNK
    chunks = (rows,) + (-1,) * (host.ndim - 1) if host.ndim else ()
    lazy = host.rechunk(chunks) if is_dask_array(host) else dask.array.from_array(host, chunks=chunks, name=False)
    if backend.device == "cuda":
        import cupy

        return lazy.map_blocks(cupy.asarray)
    return lazy


def _free_cupy(backend: Backend) -> int:
    return backend.device.mem_info[0]


def _free_torch(backend: Backend) -> int:
    import torch

    return torch.cuda.mem_get_info(backend.device)[0]


def _place_jax(backend: Backend, x: Any, dtype: Any) -> Any:
    """A NumPy array by ``jax.device_put``, which copies it in a third of the time ``jax.numpy.asarray`` takes
    (34 against 91 ms for 78 MB on a CPU); anything else as the other libraries place it."""
    if dtype is None and isinstance(x, np.ndarray):
        import jax

        return jax.device_put(x, backend.device)
    return _place(backend, x, dtype)


def _free_jax(backend: Backend) -> int:
    stats = backend.device.memory_stats()
    return stats["bytes_limit"] - stats["bytes_in_use"]


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
                           f"{LIBRARIES['jax'].install})") from None
    if int(index or 0) >= len(devices):
        raise BackendError(f"jax:{device} requested but JAX sees {len(devices)} {kind} device(s)")
    return Backend("jax", xp, devices[int(index or 0)])


LIBRARIES = {library.name: library for library in (
    Library("numpy", _open_numpy, "pip install numpy"),
    Library("cupy", _open_cupy, "pip install 'xpnet[cuda12]' (CUDA 12) or 'xpnet[cuda13]' (CUDA 13)",
            free_memory=_free_cupy),
    Library("array_api_strict", _open_array_api_strict, "pip install array-api-strict"),
    Library("torch", _open_torch, "pip install 'xpnet[torch]'", pooled=True, free_memory=_free_torch),
    Library("dask", _open_dask, "pip install 'xpnet[dask]'", lazy=True, place=_place_dask),
    Library("jax", _open_jax, "pip install 'xpnet[jax]' (a CUDA build of jaxlib for GPUs: pip install 'jax[cuda12]')",
            pooled=True, place=_place_jax, free_memory=_free_jax),
)}

_OWNS = {
    "numpy": array_api_compat.is_numpy_array,
    "cupy": array_api_compat.is_cupy_array,
    "torch": array_api_compat.is_torch_array,
    "dask": array_api_compat.is_dask_array,
    "jax": array_api_compat.is_jax_array,
}
