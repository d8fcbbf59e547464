"""Namespaces and dtypes: which array library an array belongs to, its dtypes, and the way to the host.

Everything outside :mod:`xpnet.backends` gets its namespace from its inputs
with :func:`array_namespace` and calls standard functions only.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np
from array_api_compat import (
    is_array_api_strict_namespace,
    is_cupy_array,
    is_dask_array,
    is_torch_array,
)

from ..errors import BackendError

FLOAT_DTYPES = ("float64", "float32", "float16")


def array_namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of ``arrays``, as ``array_api_compat.array_namespace`` gives it.

    One exception: NumPy arrays get ``numpy`` itself, which implements the
    standard since NumPy 2.1. Its wrapper, ``array_api_compat.numpy``, would
    add about 19 MB and 0.1 s to every CPU run (it imports ``numpy.typing``,
    ``numpy.f2py`` and ``numpy.testing``). Raises TypeError for mixed libraries.
    """
    # layers ask per call: arrays of one type get the namespace found for that type before (array-api-compat's
    # own lookup costs a PyTorch step of a small network several percent)
    kind = type(arrays[0]) if arrays else None
    if kind in _NAMESPACES and all(type(x) is kind for x in arrays):
        return _NAMESPACES[kind]
    native = all(array_api_compat.is_numpy_array(x) for x in arrays)
    xp = array_api_compat.array_namespace(*arrays, use_compat=False if native else None)
    if kind not in _SCALARS and all(type(x) is kind for x in arrays):
        _NAMESPACES[kind] = xp
    return xp


_NAMESPACES: dict[type, ModuleType] = {np.ndarray: np}
_SCALARS = (bool, int, float, complex, type(None))  # array-api-compat passes over them: they name no namespace


def as_array(x: Any) -> Any:
    """``x`` itself if it is an array of a supported library, else ``numpy.asarray(x)`` (Python numbers, lists)."""
    return x if array_api_compat.is_array_api_obj(x) else np.asarray(x)


def default_dtype(xp: ModuleType, kind: str, device: Any = None) -> Any:
    """The namespace's default dtype of ``kind`` (``"real floating"`` or ``"integral"``) on ``device``.

    float64 and int64 on NumPy; PyTorch's default float is float32, JAX's
    are 32-bit unless its 64-bit mode is on.
    """
    return xp.__array_namespace_info__().default_dtypes(device=device)[kind]


def dtype_of(xp: ModuleType, dtype: Any, device: Any = None) -> Any:
    """The one dtype lookup: ``dtype`` (a name such as ``"float32"``, a dtype of ``xp``, or None for the
    namespace's default float) as a dtype of ``xp`` that ``device`` holds; BackendError if it holds none.

    The standard's dtypes are looked up in the namespace's inspection API (JAX
    lists float64 only in its 64-bit mode, and would otherwise make float32
    of it without a word); float16, which the standard leaves out, by name.
    """
    if dtype is None:
        return default_dtype(xp, "real floating", device)
    name = dtype if isinstance(dtype, str) else dtype_name(dtype)
    listed = xp.__array_namespace_info__().dtypes(device=device)
    if name in listed:
        return listed[name]
    if name in FLOAT_DTYPES and name not in ("float32", "float64") and hasattr(xp, name):
        return getattr(xp, name)
    library = xp.__name__.removeprefix("array_api_compat.").split(".")[0]
    hint = " (turn on JAX's 64-bit mode: JAX_ENABLE_X64=1)" if library == "jax" and name == "float64" else ""
    raise BackendError(f"{library} on {device} has no {name}{hint}")


def dtype_name(dtype: Any) -> str:
    """The standard name of a dtype of any library (``"float32"``)."""
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else str(dtype).rpartition(".")[2]


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


def is_lazy(x: Any) -> bool:
    """Whether ``x`` is a graph evaluated later (dask), not values yet."""
    return is_dask_array(x)


def is_traced(x: Any) -> bool:
    """Whether ``x`` is symbolic, being traced into a graph (ndonnx): its batch size is unknown."""
    return array_api_compat.is_ndonnx_array(x)


def is_writable(x: Any) -> bool:
    """Whether ``x``'s library lets an array be changed in place (JAX's arrays cannot be)."""
    return array_api_compat.is_writeable_array(x)
