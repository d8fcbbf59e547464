"""MNIST (LeCun, Cortes and Burges): the book's ``load_mnist``, with verified downloads.

The four IDX files are read from a data directory (``data_dir`` argument or
``$XPNET_DATA_DIR``) when they are there; otherwise they are downloaded from
the first mirror that serves a good copy, verified, decoded and cached as
uint8 ``.npy`` in the user's cache directory (``$XPNET_CACHE_DIR`` overrides
it). Images stay uint8 until ``normalize`` asks for float32 on the way out.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..config import get_config
from ..errors import DataError
from ..io.download import cache_dir, fetch, from_cache, save_atomically
from ..io.files import MAX_IMAGES, open_regular, read_npy, reading

__all__ = ["load_array", "load_mnist", "load_split", "normalized", "read_idx_gz"]

FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}
# SHA-256 of the decompressed IDX content, which survives a mirror's re-compression.
RAW_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}
# MD5 of the original gz files: a second accepted check, for the files as first published.
GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Sizes of the original gz files; a mirror's re-compressed copy may differ a little, never by twice.
GZ_BYTES = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}
COUNTS = {name: 60_000 if split == "train" else 10_000 for (split, _), name in FILES.items()}
_MAGIC = {"images": 0x00000803, "labels": 0x00000801}
_READ_BLOCK = 1 << 20


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, t_train), (x_test, t_test))`` with the book's meaning.

    normalize: float32 in [0, 1] instead of uint8 0..255. flatten: images as
    (n, 784) instead of (n, 1, 28, 28). one_hot_label: labels as (n, 10)
    float64 one-hot (the book's) instead of (n,) uint8.
    """
    return tuple(
        load_split(split, normalize, flatten, one_hot_label, data_dir=data_dir) for split in ("train", "test")
    )  # type: ignore[return-value]


def load_split(
    split: str = "test",
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, t)`` of one split, ``"train"`` (60,000) or ``"test"`` (10,000); options as load_mnist."""
    images = load_array(split, "images", data_dir)
    labels = load_array(split, "labels", data_dir)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"MNIST {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = images.reshape(images.shape[0], 784) if flatten else images.reshape(images.shape[0], 1, 28, 28)
    if normalize:
        x = normalized(x)
    t = np.eye(10)[labels] if one_hot_label else labels  # float64, as the book's
    return x, t


def normalized(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0..255 as float32 in [0, 1], as the book's ``normalize=True`` gives them."""
    return images.astype(np.float32) / np.float32(255)


def load_array(split: str, kind: str, data_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """The verified uint8 array of one file: images (n, 28, 28) or labels (n,).

    Looks in ``data_dir`` (or ``$XPNET_DATA_DIR``) for the gz file, then in the
    cache for the decoded ``.npy``, then downloads. Raises :class:`DataError`.
    """
    if (split, kind) not in FILES:
        raise ValueError(f"no MNIST file for split={split!r}, kind={kind!r}")
    name = FILES[split, kind]
    data_dir = data_dir or os.environ.get("XPNET_DATA_DIR")
    for local in (name, name.removesuffix(".gz")) if data_dir else ():  # compressed or not
        if os.path.lexists(Path(data_dir, local)):
            return read_idx_gz(Path(data_dir, local), kind, name)
    cached = cache_dir("mnist", name.removesuffix(".gz") + ".npy")
    array = from_cache(cached, lambda path: _read_cached(path, name, kind))
    if array is not None:
        return array
    array = fetch(
        [mirror + name for mirror in get_config().mnist_mirrors],
        cached.parent,
        lambda path: read_idx_gz(path, kind, name),
        max_bytes=2 * GZ_BYTES[name] + (1 << 16),
        by_hand=f"Put {name} in a directory and pass it as --data-dir (or set XPNET_DATA_DIR; the uncompressed "
        f"{name.removesuffix('.gz')} is read too)"
        + (f"; looked in {data_dir}" if data_dir else ""),
    )
    save_atomically(cached, lambda path: _write_npy(path, array))
    return array


def read_idx_gz(path: Path, kind: str, name: str | None = None) -> np.ndarray:
    """Decode an IDX file of MNIST ``kind`` (``"images"`` or ``"labels"``), gzip-compressed or not, and verify it
    by the SHA-256 of its content, whatever its compression (or, compressed, by the original gz file's MD5).

    ``name`` is the standard file name whose checks apply (default: the
    file's own name). Every fault raises :class:`DataError` naming ``path``;
    memory use is bounded by the file's real decompressed size, whatever its
    header claims.
    """
    name = name or path.name
    with open_regular(path) as raw, reading(path):
        try:
            head = raw.read(16)
            raw.seek(0)
            md5 = hashlib.md5()
            if not head.startswith(b"\x1f\x8b"):
                if int.from_bytes(head[:4], "big") != _MAGIC[kind]:
                    raise DataError(f"not gzip data (starts with {head!r}), nor an IDX file of {kind}")
                array, raw_sha256 = _decode_idx(raw, kind, COUNTS.get(name))
            else:
                with gzip.GzipFile(fileobj=_Hashing(raw, md5), mode="rb") as stream:
                    array, raw_sha256 = _decode_idx(stream, kind, COUNTS.get(name))
        except (gzip.BadGzipFile, zlib.error) as err:
            raise DataError(f"corrupt gzip data ({err})") from None
        except EOFError:
            raise DataError("truncated gzip stream") from None
        _check_hash(path, name, raw_sha256, md5.hexdigest())
    return array


def _check_hash(path: Path, name: str, raw_sha256: str, gz_md5: str) -> None:
    if name in RAW_SHA256 and raw_sha256 != RAW_SHA256[name] and gz_md5 != GZ_MD5[name]:
        raise DataError(f"{path}: checksum mismatch (content SHA-256 {raw_sha256}, expected {RAW_SHA256[name]})")


def _decode_idx(stream: BinaryIO, kind: str, count: int | None) -> tuple[np.ndarray, str]:
    """Read an IDX stream: returns the array and the SHA-256 of the decompressed bytes.

    The header must declare ``count`` items (a standard file's), or between 1
    and ``MAX_IMAGES``; at most the declared payload and one byte more are
    ever decompressed, so a gzip bomb costs no more than an honest file.
    """
    ndim = 3 if kind == "images" else 1
    header = _read_exactly(stream, 4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"IDX header ends after {len(header)} bytes")
    magic = int.from_bytes(header[:4], "big")
    if magic != _MAGIC[kind]:
        raise DataError(f"wrong IDX magic number 0x{magic:08x} for {kind} (expected 0x{_MAGIC[kind]:08x})")
    shape = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if kind == "images" and shape[1:] != (28, 28):
        raise DataError(f"images are {shape[1]}x{shape[2]} pixels, not 28x28")
    if count is not None and shape[0] != count:
        raise DataError(f"header declares {shape[0]} {kind}, not the file's {count}")
    if not 1 <= shape[0] <= MAX_IMAGES:
        raise DataError(f"header declares {shape[0]} {kind}: expected 1 to {MAX_IMAGES:,}")
    expected = int(np.prod(shape, dtype=np.int64))
    payload = _read_exactly(stream, expected + 1)
    if len(payload) != expected:
        raise DataError(f"header says {'x'.join(map(str, shape))} = {expected} bytes but the data hold {len(payload)}"
                        + ("" if len(payload) < expected else " or more"))
    if kind == "labels" and len(payload) and max(payload) > 9:
        raise DataError(f"label value {max(payload)} is above 9")
    array = np.frombuffer(payload, dtype=np.uint8).reshape(shape)
    return array, _content_sha256(kind, array)


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    """Up to ``size`` bytes, read in blocks so that only what exists is ever allocated."""
    data = bytearray()
    while len(data) < size:
        block = stream.read(min(_READ_BLOCK, size - len(data)))
        if not block:
            break
        data += block
    return data


class _Hashing:
    """A read-only file wrapper that feeds every byte read into a hash."""

    def __init__(self, file, digest) -> None:
        self._file, self._digest = file, digest

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._digest.update(data)
        return data

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def _read_cached(path: Path, name: str, kind: str) -> np.ndarray:
    """A cached decoded array: its header checked against its size, its content against the recorded hash."""
    count = COUNTS[name]
    shape = (count, 28, 28) if kind == "images" else (count,)
    with reading(path):
        array = read_npy(path, count * 784)
        if array.dtype != np.uint8 or array.shape != shape:
            raise DataError(f"holds a {array.shape} {array.dtype} array, not {shape} uint8")
        if _content_sha256(kind, array) != RAW_SHA256[name]:
            raise DataError("fails its check (damaged or edited)")
    return array


def _content_sha256(kind: str, array: np.ndarray) -> str:
    """SHA-256 of the IDX file that ``array`` decodes from (hashed in place, no copy)."""
    digest = hashlib.sha256(_MAGIC[kind].to_bytes(4, "big"))
    digest.update(b"".join(n.to_bytes(4, "big") for n in array.shape))
    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:
        np.save(file, array)
