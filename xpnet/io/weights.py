"""Loading and saving network weights: the book's pickles (safely), its pinned downloads, and ``.npz``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
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
from .files import WEIGHTS_CAP, read_capped, read_npy_stream, read_npz, reading, shown
from .pickles import unpickle_weights


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

KEYS_CAP = 4096  # arrays a weights file may hold
MEMBERS_CAP = 3 * KEYS_CAP + 2  # .npz members: the weights, an optimizer's two arrays for each and its count, ABOUT
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")


Check = Callable[[dict[str, np.ndarray]], None]
ABOUT = "__xpnet__"  # the .npz member that says what a file of save_weights holds
ABOUT_CAP = 1 << 16
OPTIMIZER = "optimizer."  # the prefix of the .npz members that hold an optimizer's state, beside the weights


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
            if 0 in value.shape:
                raise ValueError(f"{key} has shape {tuple(value.shape)}: a layer needs at least one unit")
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
                 check: Check | None = check_network, about: Mapping[str, Any] | None = None,
                 optimizer: Mapping[str, Any] | None = None) -> None:
    """Save weights (arrays of any backend) as ``.npz``, no pickles inside; whole or not at all.

    ``check`` (default: a dense network's) runs first, so a broken network is
    never written. ``about``: what the file holds (the model's name, its
    activation, ...), JSON, read back by :func:`read_about`. ``optimizer``: an
    optimizer's state (``Stateful.state``), kept beside the weights for
    :func:`read_optimizer_state`; loading the weights leaves it out.
    """
    arrays = {key: to_numpy(value) for key, value in network.items()}
    arrays.update({OPTIMIZER + key: np.asarray(value if isinstance(value, int | float) else to_numpy(value))
                   for key, value in (optimizer or {}).items()})
    if about is not None:
        arrays[ABOUT] = np.frombuffer(json.dumps(dict(about)).encode(), dtype=np.uint8)
    try:
        if check is not None:
            check({key: value for key, value in arrays.items() if key in network})
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


def read_optimizer_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The optimizer's state that :func:`save_weights` kept beside the weights in ``path`` (``{}`` if none)."""
    data = read_capped(path, WEIGHTS_CAP, "a weights file")
    if data[:4] != b"PK\x03\x04":
        return {}
    with reading(path):
        arrays = read_npz(data, WEIGHTS_CAP, MEMBERS_CAP)
    return {key.removeprefix(OPTIMIZER): value for key, value in arrays.items() if key.startswith(OPTIMIZER)}


def _read_weights(path: Path, check: Check | None, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Parse the weights file ``path`` (its bytes ``data``, if already read) and check its arrays."""
    data = read_capped(path, WEIGHTS_CAP, "a weights file") if data is None else data
    with reading(path):
        if data[:4] == b"PK\x03\x04":
            network = read_npz(data, WEIGHTS_CAP, MEMBERS_CAP)
            network.pop(ABOUT, None)
            network = {key: value for key, value in network.items() if not key.startswith(OPTIMIZER)}
        else:
            network = unpickle_weights(data)
        if len(network) > KEYS_CAP:
            raise DataError(f"holds {len(network):,} arrays, more than the {KEYS_CAP:,} a network's weights may")
        for key in network:
            if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
                raise DataError(f"has a key {shown(key)}: keys are names such as W1, b1, gamma1")
        for key, value in network.items():
            if value.dtype.kind != "f" or value.dtype.itemsize > 8:  # either byte order
                raise DataError(f"{key} has dtype {value.dtype}: weights are float16, float32 or float64")
            if not np.isfinite(value).all():
                raise DataError(f"{key} holds NaN or infinite values")
        if check is not None:
            check(network)
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
