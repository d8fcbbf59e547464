"""Loading and saving network weights: the book's pickle (safely) and ``.npz``."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .download import cache_dir, fetch, from_cache, save_atomically
from .errors import DataError
from .network import check_network

SAMPLE_WEIGHT_URL = (
    "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/master/ch03/sample_weight.pkl"
)
SAMPLE_WEIGHT_SHA256 = "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13"

# The only callables a weights pickle may name: NumPy's array reconstruction.
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays; any other global is refused before it runs."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a weights file may not") from None


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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read weights ({err.strerror})") from None


def _read_weights(path: Path, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Parse the weights file ``path`` (its bytes ``data``, if already read) and check the network."""
    data = _read_bytes(path) if data is None else data
    try:
        if data[:4] == b"PK\x03\x04":
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                network = {key: archive[key] for key in archive.files}
        else:
            network = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, ValueError, EOFError, TypeError, KeyError, IndexError, OSError) as err:
        raise DataError(f"{path}: not a weights file ({err})") from None
    if not isinstance(network, dict) or not all(isinstance(v, np.ndarray) for v in network.values()):
        raise DataError(f"{path}: expected a dict of NumPy arrays, got {type(network).__name__}")
    try:
        check_network(network)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None
    return network


def _sample_weights() -> dict[str, np.ndarray]:
    """The book's weights from the cache, downloading them first if absent or damaged."""
    cached = cache_dir("sample_weight.pkl")
    weights = from_cache(cached, _verified)
    return weights if weights is not None else fetch(
        [SAMPLE_WEIGHT_URL],
        cached.parent,
        _verified,
        keep_as=cached,
        by_hand=f"Place the book's ch03/sample_weight.pkl at {cached}, or pass its path (--weights).",
    )


def _verified(path: Path) -> dict[str, np.ndarray]:
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SAMPLE_WEIGHT_SHA256:
        raise DataError(f"{path}: SHA-256 {digest} is not the book's sample_weight.pkl ({SAMPLE_WEIGHT_SHA256})")
    return _read_weights(path, data)
