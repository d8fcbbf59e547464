"""Pictures and arrays of your own digits, read at the boundary: PNG or JPEG files (with Pillow), ``.npy`` and
``.npz`` arrays, or folders of them, each picture as (height, width) gray levels for :func:`xpnet.digits.to_mnist`.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError, DataError
from .files import MAX_IMAGES, MiB, describe, read_capped, read_npy_stream, read_npz, reading

PICTURES = (".png", ".jpg", ".jpeg")
ARRAYS = (".npy", ".npz")
FILE_CAP = 64 * MiB  # bytes of one file of digits
MAX_SIDE = 4096  # pixels along either side of one picture (a decoded 4096 x 4096 picture is 16 MiB of gray)
ORIENTATION = 0x0112  # the EXIF tag that says how a picture is turned


def read_digits(paths: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, picture)`` for each digit in ``paths`` (files, or folders of them, read in name order): a
    PNG or JPEG is one picture, named by its path; an array is ``(h, w)`` for one picture, ``(n, h, w)`` or
    ``(n, 1, h, w)`` for n, ``(n, 784)`` for n rows of 28x28, each named ``path[i]`` (``path:member[i]`` in an
    ``.npz``). Pictures are uint8 or floating point gray levels as stored; at most 70,000 in all."""
    count = 0
    for path in _files(paths):
        for name, picture in _read_file(path):
            count += 1
            if count > MAX_IMAGES:
                raise DataError(f"{path}: more than {MAX_IMAGES:,} digits in all (classify them in parts)")
            yield name, picture


def _files(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        found = sorted(str(entry) for entry in Path(path).iterdir()
                       if entry.suffix.lower() in PICTURES + ARRAYS and entry.is_file())
        if not found:
            raise DataError(f"{path}: holds no {', '.join(PICTURES + ARRAYS)} file")
        yield from found


def _read_file(path: str) -> list[tuple[str, np.ndarray]]:
    suffix = Path(path).suffix.lower()
    if suffix not in PICTURES + ARRAYS:
        raise DataError(f"{path}: not a picture or array of digits (expected {', '.join(PICTURES + ARRAYS)})")
    data = read_capped(path, FILE_CAP, "a file of digits")
    with reading(path):
        if suffix in PICTURES:
            return [(path, decode_picture(data))]
        if suffix == ".npy":
            return list(_pictures_of(path, read_npy_stream(io.BytesIO(data), len(data), FILE_CAP)))
        arrays = read_npz(data, FILE_CAP, MAX_IMAGES)
        return [item for key, array in arrays.items() for item in _pictures_of(f"{path}:{key}", array)]


def _pictures_of(name: str, array: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The pictures an array holds, by its shape (see :func:`read_digits`)."""
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2 and array.shape[1] == 784 and array.shape[0] != 784:
        array = array.reshape(-1, 28, 28)
    elif array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or 0 in array.shape:
        raise DataError(f"{name}: has shape {array.shape}: expected (h, w), (n, h, w), (n, 1, h, w) or (n, 784)")
    if max(array.shape[1:]) > MAX_SIDE:
        raise DataError(f"{name}: pictures of {array.shape[1]} x {array.shape[2]} pixels, more than {MAX_SIDE} a side")
    if array.shape[0] > MAX_IMAGES:
        raise DataError(f"{name}: holds {array.shape[0]:,} pictures, more than {MAX_IMAGES:,}")
    if array.shape[0] == 1:
        yield name, array[0]
        return
    for index, picture in enumerate(array):
        yield f"{name}[{index}]", picture


def decode_picture(data: bytes) -> np.ndarray:
    """A PNG's or JPEG's gray levels, uint8 (h, w), turned upright as its EXIF orientation says (a phone stores a
    photo as its sensor read it, and the turn in a tag); transparent parts count as paper (see :func:`_paper`).
    A JPEG of more than :data:`MAX_SIDE` pixels a side is decoded at the largest of a half, a quarter or an
    eighth of its size that fits. DataError for bytes that are not a whole PNG or JPEG, or a picture too large."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise BackendError("reading PNG or JPEG needs Pillow: pip install 'xpnet[plot]' (or give .npy arrays)"
                           ) from None
    try:
        with warnings.catch_warnings():  # Pillow's warning of large pictures: the sides are bounded below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.UnidentifiedImageError:
        raise DataError("is not a PNG or JPEG picture") from None
    except Image.DecompressionBombError:
        raise DataError(f"holds more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels (Pillow refuses to open it)") from None
    with opened as picture:
        side = max(picture.size)
        if side > MAX_SIDE and picture.format == "JPEG" and side <= 8 * MAX_SIDE:
            # JPEG decodes at a half, a quarter or an eighth of its size for the asking: a phone's 48-megapixel
            # photo in bounded memory, and a digit needs no more
            scale = next(k for k in (2, 4, 8) if side <= k * MAX_SIDE)
            picture.draft("L", (picture.size[0] // scale, picture.size[1] // scale))
        if max(picture.size) > MAX_SIDE:  # before any pixel is decoded
            raise DataError(f"{picture.size[0]} x {picture.size[1]} pixels, more than {MAX_SIDE} a side"
                            + (f" ({8 * MAX_SIDE} for a JPEG)" if picture.format == "JPEG" else ""))
        try:
            if picture.getexif().get(ORIENTATION, 1) != 1:  # a turned copy only where there is a turn
                picture = ImageOps.exif_transpose(picture)
            if "A" in picture.getbands() or "transparency" in picture.info:
                rgba = picture.convert("RGBA")
                picture = Image.alpha_composite(Image.new("RGBA", rgba.size, _paper(rgba)), rgba)
            return np.asarray(picture.convert("L"))
        except Exception as err:  # Pillow's decoders raise what they meet: OSError, SyntaxError, ValueError, ...
            raise DataError(f"is a broken PNG or JPEG picture ({describe(err)})") from None


def _paper(rgba: Any) -> str:
    """The paper that a picture's transparent parts show: white, unless most of the picture is transparent and
    what it shows is light on average (a light pen on a clear layer), then black, so that the strokes stand out
    either way. Read from the picture reduced to at most 256 pixels a side, so that a large one costs no memory."""
    thumbnail = rgba.reduce(max(1, -(-max(rgba.size) // 256)))
    alpha = np.asarray(thumbnail.getchannel("A"), dtype=np.float64) / 255
    shown = float(alpha.sum())
    if shown == 0 or shown > alpha.size / 2:
        return "white"
    gray = np.asarray(thumbnail.convert("RGB").convert("L"), dtype=np.float64)
    return "black" if float((gray * alpha).sum()) > 127.5 * shown else "white"
