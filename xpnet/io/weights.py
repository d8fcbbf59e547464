"""Loading and saving network weights: the book's pickles (safely), its pinned downloads, and ``.npz``."""

from __future__ import annotations

import hashlib
import io
import json
import math
import operator
import os
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import array_namespace, to_numpy
from ..config import BOOK_COMMIT, get_config
from ..errors import DataError
from .download import cache_dir, fetch, from_cache, save_atomically
from .files import WEIGHTS_CAP, MiB, read_capped, read_npy_stream, reading


@dataclass(frozen=True)
class BookWeights:
    """One of the book's pretrained files: its path in the book's repository, its SHA-256 and its size."""

    path: str
    sha256: str
    size: int

    @property
    def url(self) -> str:
        return get_config().weights_base_url + self.path


# Chapter 3's 784-50-100-10 network (float32): what ``load_weights()`` gives without arguments.
SAMPLE_WEIGHT = BookWeights("ch03/sample_weight.pkl",
                            "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13", 181_853)

_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_NUMERIC_KINDS = "biuf"


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays of numbers; any other global is refused before it runs.

    NumPy's two array reconstructions are wrapped. Up to protocol 4 (the
    book's files), an array's declared size is checked against ``budget``
    (the file's own size: a pickle carries its arrays' bytes) before anything
    is allocated; protocols 0 to 2 carry those bytes as latin-1 text, which
    ``_codecs.encode`` turns back into bytes and nothing else. Protocol 5,
    ``pickle.dump``'s default from Python 3.14 on, carries each array's bytes
    as one buffer, whose length must match the declared shape.
    ``numpy.ndarray`` is handed out only as a name for the
    first reconstruction, never as something to call.
    """

    def __init__(self, file: io.BytesIO, budget: int) -> None:
        super().__init__(file)
        self.budget = budget

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return self._reconstruct
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _frombuffer
        if (module, name) == ("_codecs", "encode"):  # how protocols 0 to 2 write bytes, an array's among them
            return _latin1
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


def _frombuffer(buffer: object, dtype: object, shape: tuple[int, ...], order: str) -> np.ndarray:
    """NumPy's protocol-5 reconstruction: a copy of the array whose bytes ``buffer`` (read from the file) holds."""
    descr = _dtype(dtype)
    data = memoryview(buffer)  # type: ignore[arg-type]  # bytes or bytearray; anything else is refused here
    nbytes = math.prod(operator.index(n) for n in shape) * descr.itemsize
    if data.nbytes != nbytes or order not in ("C", "F"):
        raise DataError(f"declares a {tuple(shape)} {descr} array ({nbytes:,} bytes) over {data.nbytes:,} bytes")
    return np.frombuffer(data, descr).reshape(shape, order=order).copy(order=order)


def _latin1(text: object, encoding: object = "utf-8") -> bytes:
    """``codecs.encode`` as protocols 0 to 2 call it for bytes: a str that holds them, in latin-1."""
    if not isinstance(text, str) or encoding != "latin1":
        raise DataError(f"encodes {type(text).__name__} as {encoding!r}: only bytes, as latin-1 text")
    return text.encode("latin1")


_NDARRAY = object()  # what the name numpy.ndarray unpickles to: a token, not the class


def _dtype(*args: object) -> np.dtype:
    """``numpy.dtype(*args)`` for numbers only (no objects, no structures, no sub-arrays)."""
    descr = np.dtype(*args)  # type: ignore[call-overload]
    if descr.kind not in _NUMERIC_KINDS or descr.shape != () or descr.names is not None:
        raise DataError(f"holds a {descr} array: weights are numbers")
    return descr


Check = Callable[[dict[str, np.ndarray]], None]
ABOUT = "__xpnet__"  # the .npz member that says what a file of save_weights holds
ABOUT_CAP = 1 << 16


def dense_layers(network: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """``[(W1, b1), ..., (Wn, bn)]`` of a dense network's weights; ValueError naming the first missing key."""
    strange = [key for key in network if not isinstance(key, str)]
    if strange:
        raise ValueError(f"network has a key {strange[0]!r} that is not a string: expected keys W1..Wn and b1..bn")
    count = sum(1 for key in network if key.startswith("W"))
    missing = [key for k in range(1, count + 1) for key in (f"W{k}", f"b{k}") if key not in network]
    if count == 0 or missing:
        raise ValueError(f"network lacks {missing[0] if missing else 'W1'}: expected keys W1..Wn and b1..bn")
    return [(network[f"W{k}"], network[f"b{k}"]) for k in range(1, count + 1)]


def check_network(network: Mapping[str, Any]) -> None:
    """Check a dense network's keys, dtypes, shapes and values; raise ValueError naming the faulty key.

    W_k must be 2-D floating point, b_k 1-D of length W_k.shape[1], W_{k+1}
    must have W_k.shape[1] rows, and no value may be NaN or infinite.
    """
    previous = None
    for k, (w, b) in enumerate(dense_layers(network), start=1):
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


def load_weights(
    path: str | os.PathLike[str] | None = None,
    *,
    book: BookWeights | None = None,
    check: Check | None = check_network,
    environment: str | None = "XPNET_WEIGHTS",
) -> dict[str, np.ndarray]:
    """Weights as a dict of NumPy arrays (``W1``, ``b1``, ...), all floating point and finite.

    ``path``: a ``.pkl`` in the book's format (read without running code) or
    an ``.npz``. Without it: the file that the variable ``environment``
    names, when set, else the book's file ``book`` (default: chapter 3's
    ``sample_weight.pkl``, 784-50-100-10, float32), downloaded once from the
    pinned commit into the cache and verified by its SHA-256. ``check``
    (default: a dense network's, see :func:`check_network`) raises
    ValueError for a layout that does not fit. Raises :class:`DataError`
    naming the file and the fault.
    """
    if path is None and environment:
        path = os.environ.get(environment) or None
    if path is not None:
        return _read_weights(Path(path), check)
    return _book_weights(book or SAMPLE_WEIGHT, check)


def save_weights(path: str | os.PathLike[str], network: Mapping[str, Any], *,
                 check: Check | None = check_network, about: Mapping[str, Any] | None = None) -> None:
    """Save weights (arrays of any backend) as ``.npz``, no pickles inside; whole or not at all.

    ``check`` (default: a dense network's) runs first, so a broken network is
    never written. ``about``: what the file holds (the model's name, its
    activation, ...), JSON, read back by :func:`read_about`.
    """
    arrays = {key: to_numpy(value) for key, value in network.items()}
    if about is not None:
        arrays[ABOUT] = np.frombuffer(json.dumps(dict(about)).encode(), dtype=np.uint8)
    try:
        if check is not None:
            check(arrays)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)

    save_atomically(Path(path), write)


def read_about(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What an ``.npz`` that :func:`save_weights` wrote says it holds (``{}`` for other files); DataError if it
    says it in a way that is not a JSON object of at most ``ABOUT_CAP`` bytes."""
    data = read_capped(path, WEIGHTS_CAP, "a weights file")
    if data[:4] != b"PK\x03\x04":
        return {}
    with reading(path), zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [member for member in archive.infolist() if member.filename == f"{ABOUT}.npy"]
        if not members:
            return {}
        with archive.open(members[0]) as stream:
            text = read_npy_stream(stream, members[0].file_size, ABOUT_CAP)
        about = json.loads(text.tobytes().decode())
        if not isinstance(about, dict):
            raise DataError(f"{ABOUT} is not a JSON object")
    return about


def _read_weights(path: Path, check: Check | None, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Parse the weights file ``path`` (its bytes ``data``, if already read) and check its arrays."""
    data = read_capped(path, WEIGHTS_CAP, "a weights file") if data is None else data
    with reading(path):
        if data[:4] == b"PK\x03\x04":
            network = _read_npz(data)
            network.pop(ABOUT, None)
        else:
            # protocol 0's string opcodes decode escapes, and a bad one in a hostile file would warn
            # (DeprecationWarning) on top of the one error that the file gets
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
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
        for key, value in network.items():
            if value.dtype.kind != "f":
                raise DataError(f"{key} has dtype {value.dtype}: weights must be floating point")
            if not np.isfinite(value).all():
                raise DataError(f"{key} holds NaN or infinite values")
        if check is not None:
            check(network)
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
                array = read_npy_stream(stream, member.file_size, WEIGHTS_CAP)
            network[member.filename.removesuffix(".npy")] = array.copy()  # writable: optimizers work in place
    return network


def _book_weights(book: BookWeights, check: Check | None) -> dict[str, np.ndarray]:
    """One of the book's files from the cache, downloading it first (pinned, verified) if absent or damaged."""
    cached = cache_dir("book", *book.path.split("/"))

    def verified(path: Path) -> dict[str, np.ndarray]:
        data = read_capped(path, WEIGHTS_CAP, "a weights file")
        digest = hashlib.sha256(data).hexdigest()
        if digest != book.sha256:
            raise DataError(f"{path}: SHA-256 {digest} is not the book's {book.path} ({book.sha256})")
        return _read_weights(path, check, data)

    weights = from_cache(cached, verified)
    return weights if weights is not None else fetch(
        [book.url],
        cached.parent,
        verified,
        max_bytes=2 * book.size,
        keep_as=cached,
        by_hand=f"Place the book's {book.path} (commit {BOOK_COMMIT[:7]}) at {cached}, or pass its path (--weights).",
    )
