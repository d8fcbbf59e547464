"""Everything that knows which array library or device is in use (as ``dezero/cuda.py`` in DeZero):
:mod:`.namespace` (namespaces, dtypes, the way to the host), :mod:`.libraries` (opening each library),
:mod:`.runtime` (threads, memory, compiled functions, dask execution)."""

from .libraries import LIBRARIES, Backend, Library, backend_of, cpu_count, get_backend, get_namespace, to_device
from .namespace import (
    FLOAT_DTYPES,
    array_namespace,
    as_array,
    default_dtype,
    dtype_name,
    dtype_of,
    is_lazy,
    is_traced,
    is_writable,
    to_numpy,
)

__all__ = [
    "FLOAT_DTYPES",
    "LIBRARIES",
    "Backend",
    "Library",
    "array_namespace",
    "as_array",
    "backend_of",
    "cpu_count",
    "default_dtype",
    "dtype_name",
    "dtype_of",
    "get_backend",
    "get_namespace",
    "is_lazy",
    "is_traced",
    "is_writable",
    "to_device",
    "to_numpy",
]
