"""Loading and saving network weights: the book's pickle (safely) and ``.npz``."""

from __future__ import annotations

import hashlib
import io
import math
import operator
import os
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .download import cache_dir, fetch, from_cache, save_atomically
from .errors import DataError
from .files import WEIGHTS_CAP, MiB, npy_layout, read_capped, reading
from .network import check_network

SAMPLE_WEIGHT_URL = (
    "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/master/ch03/sample_weight.pkl"
)
SAMPLE_WEIGHT_SHA256 = "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13"
SAMPLE_WEIGHT_BYTES = 181_853

_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_NUMERIC_KINDS = "biuf"


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays of numbers; any other global is refused before it runs.

    NumPy's array reconstruction is wrapped: an array's declared size is
    checked against ``budget`` (the file's own size: a pickle carries its
    arrays' bytes) before anything is allocated. ``numpy.ndarray`` is handed
    out only as a name for that reconstruction, never as something to call.
    """

    def __init__(self, file: io.BytesIO, budget: int) -> None:
        super().__init__(file)
        self.budget = budget

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return self._reconstruct
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) == ("numpy", "dtype"):
            return _dtype
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a weights file may not")

    def _reconstruct(self, subtype: object, shape: tuple[int, ...], dtype: object) -> np.ndarray:
        descr = _dtype(dtype)
        nbytes = math.prod(operator.index(n) for n in shape) * descr.itemsize
        if subtype is not _NDARRAY or nbytes > self.budget:
            raise DataError(f"declares an array of {nbytes:,} bytes in a file of {self.budget:,}")
        return _RECONSTRUCT(np.ndarray, tuple(shape), descr)


_NDARRAY = object()  # what the name numpy.ndarray unpickles to: a token, not the class


def _dtype(*args: object) -> np.dtype:
    """``numpy.dtype(*args)`` for numbers only (no objects, no structures, no sub-arrays)."""
    descr = np.dtype(*args)  # type: ignore[call-overload]
    if descr.kind not in _NUMERIC_KINDS or descr.shape != () or descr.names is not None:
        raise DataError(f"holds a {descr} array: weights are numbers")
    return descr


def load_weights(path: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """Weights as a dict of NumPy arrays ``W1..Wn``, ``b1..bn``, checked to form a network.

    ``path``: a ``.pkl`` in the book's format (read without running code) or
    an ``.npz``; None takes ``$XPNET_WEIGHTS``, else the book's
    ``sample_weight.pkl`` (784-50-100-10, float32), downloaded once into the
    cache and verified by its SHA-256. Raises :class:`DataError` naming the
    file and the fault.
    """
    if path is None and os.environ.get("XPNET_WEIGHTS"):
        path = os.environ["XPNET_WEIGHTS"]
    if path is None:
        return _sample_weights()
    return _read_weights(Path(path))


def save_weights(path: str | os.PathLike[str], network: Mapping[str, Any]) -> None:
    """Save weights (arrays of any backend) as ``.npz``, no pickles inside, checked first; whole or not at all."""
    arrays = {key: to_numpy(value) for key, value in network.items()}
    try:
        check_network(arrays)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)

    save_atomically(Path(path), write)


def _read_weights(path: Path, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Parse the weights file ``path`` (its bytes ``data``, if already read) and check the network."""
    data = read_capped(path, WEIGHTS_CAP, "a weights file") if data is None else data
    with reading(path):
        if data[:4] == b"PK\x03\x04":
            network = _read_npz(data)
        else:
            try:
                for _ in pickletools.genops(data):  # every length field checked against the bytes there
                    pass
                network = _ArraysOnlyUnpickler(io.BytesIO(data), len(data)).load()
            except (pickle.UnpicklingError, ValueError) as err:
                raise DataError(f"not a weights file ({' '.join(str(err).split())})") from None
        if not isinstance(network, dict) or not all(isinstance(v, np.ndarray) for v in network.values()):
            raise DataError(f"expected a dict of NumPy arrays, got {type(network).__name__}")
        if not all(isinstance(key, str) for key in network):
            raise DataError(f"has a key {next(k for k in network if not isinstance(k, str))!r}: keys are W1, b1, ...")
        check_network(network)
    return network


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive, each member's header checked against its size before it is read."""
    network = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        declared = sum(member.file_size for member in members)
        if declared > WEIGHTS_CAP:
            raise DataError(f"its members unpack to {declared:,} bytes, more than the {WEIGHTS_CAP // MiB} MiB cap")
        for member in members:
            if not member.filename.endswith(".npy"):
                raise DataError(f"member {member.filename!r} is not a .npy array")
            with archive.open(member) as stream:
                shape, dtype, fortran = npy_layout(stream, member.file_size, WEIGHTS_CAP)
                raw = stream.read(math.prod(shape) * dtype.itemsize)
                if stream.read(1):
                    raise DataError(f"member {member.filename!r} holds more than it declares")
            array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            network[member.filename.removesuffix(".npy")] = array
    return network


def _sample_weights() -> dict[str, np.ndarray]:
    """The book's weights from the cache, downloading them first if absent or damaged."""
    cached = cache_dir("sample_weight.pkl")
    weights = from_cache(cached, _verified)
    return weights if weights is not None else fetch(
        [SAMPLE_WEIGHT_URL],
        cached.parent,
        _verified,
        max_bytes=2 * SAMPLE_WEIGHT_BYTES,
        keep_as=cached,
        by_hand=f"Place the book's ch03/sample_weight.pkl at {cached}, or pass its path (--weights).",
    )


def _verified(path: Path) -> dict[str, np.ndarray]:
    data = read_capped(path, WEIGHTS_CAP, "a weights file")
    digest = hashlib.sha256(data).hexdigest()
    if digest != SAMPLE_WEIGHT_SHA256:
        raise DataError(f"{path}: SHA-256 {digest} is not the book's sample_weight.pkl ({SAMPLE_WEIGHT_SHA256})")
    return _read_weights(path, data)
