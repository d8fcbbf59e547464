"""The boundary where outside bytes come in: weights files, IDX files, ``.npy`` files and downloads.

Every reader of outside bytes goes through here, under three rules:

- only regular files are opened (a FIFO would hang, a device never end, a directory fail late);
- sizes are checked before anything is allocated: what a header declares must fit the file
  itself and a stated cap (:data:`WEIGHTS_CAP`, :data:`MAX_IMAGES`), so no file can make
  xpnet allocate more than the cap beyond what its real data need;
- any failure of the bytes, whatever the library below raises, becomes one :class:`DataError`
  naming the file and the fault (:func:`reading`).
"""

from __future__ import annotations

import io
import math
import os
import reprlib
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import DataError

if TYPE_CHECKING:
    from ..backends import Backend

MiB = 1 << 20
WEIGHTS_CAP = 128 * MiB  # the most array data a weights file may hold (32 million float32 parameters)
READ_WHOLE_CAP = 1 << 30  # --images files up to this size are read into memory, larger ones memory-mapped
MAX_IMAGES = 70_000  # all of MNIST: the most images an IDX file or a cached array may declare


@contextmanager
def reading(path: object) -> Iterator[None]:
    """Turn any failure inside the block into DataError naming ``path`` (the fault of the bytes read there).

    KeyboardInterrupt and SystemExit pass through; a DataError that names
    ``path`` already passes unchanged.
    """
    try:
        yield
    except DataError as err:
        message = str(err)
        raise DataError(message if message.startswith(f"{path}") else f"{path}: {message}") from None
    except Exception as err:
        raise DataError(f"{path}: {describe(err)}") from None


def shown(value: object) -> str:
    """``repr(value)`` cut to at most about 80 characters, for messages about values read from outside."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80


def describe(err: BaseException) -> str:
    """A one-line account of an exception: its type, and its message where it has one."""
    if isinstance(err, OSError) and err.strerror:
        return f"cannot read ({err.strerror})"
    if isinstance(err, MemoryError):
        return "needs more memory than this machine has"
    message = " ".join(str(err)[:400].split())
    if type(err) is ValueError and message:  # written for people, as check_network's are
        return message
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file; DataError otherwise."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DataError(f"{path}: not a regular file (a FIFO, a device or a directory is never read)")
        # O_NONBLOCK: a FIFO swapped in after the check cannot make open() wait for a writer
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    file = os.fdopen(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        file.close()
        raise DataError(f"{path}: not a regular file (a FIFO, a device or a directory is never read)")
    return file


def read_capped(path: str | os.PathLike[str], cap: int, what: str) -> bytes:
    """The whole of the regular file ``path``, refused if it holds more than ``cap`` bytes (``what``: its kind)."""
    with open_regular(path) as file, reading(path):
        size = os.fstat(file.fileno()).st_size
        if size > cap:
            raise DataError(f"{path}: {size:,} bytes, more than the {cap // MiB} MiB that {what} may hold")
        data = file.read(size + 1)  # read(n) reserves n bytes up front: ask for what is there
    if len(data) != size:  # a file written meanwhile, or a system file whose size is not its content's (/proc's)
        raise DataError(f"{path}: {size:,} bytes by its size, {'more' if len(data) > size else 'fewer'} when read: "
                        f"changed while being read, or not a file of data (/proc, /sys)")
    return data


def npy_layout(file: BinaryIO, size: int, cap: int) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape, dtype and Fortran order from the ``.npy`` header at ``file``'s position; the position ends at the data.

    ``size``: the bytes from the header's start to the end of what holds it
    (the file, or an archive member); the data must fill exactly the rest,
    and hold at most ``cap`` bytes. Object arrays are refused (they would
    need pickles).
    """
    start = file.tell()
    version = np.lib.format.read_magic(file)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
    else:
        raise DataError(f".npy format version {version[0]}.{version[1]} is not read here")
    header = file.tell() - start
    if dtype.hasobject:
        raise DataError("holds Python objects, which are never unpickled")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > cap:
        raise DataError(f"declares a {shape} {dtype} array of {nbytes:,} bytes, more than the {cap // MiB} MiB cap")
    if nbytes != size - header:
        raise DataError(f"declares a {shape} {dtype} array of {nbytes:,} bytes but holds {size - header:,}")
    return shape, dtype, fortran


def read_npy_stream(file: BinaryIO, size: int, cap: int) -> np.ndarray:
    """The ``.npy`` array at ``file``'s position (``size`` bytes from there to the end of what holds it):
    its header checked by :func:`npy_layout` first, then exactly the declared bytes read, and no more there."""
    shape, dtype, fortran = npy_layout(file, size, cap)
    declared = math.prod(shape) * dtype.itemsize
    data = bytearray()  # writable, one copy, and growing only as the bytes come: a header may lie about its size
    while len(data) < declared and (chunk := file.read(min(declared - len(data), 1 << 20))):
        data += chunk
    if len(data) < declared:
        raise DataError(f"ends after {len(data):,} of the {declared:,} bytes its header declares")
    if file.read(1):
        raise DataError("holds more than its header declares")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def read_npy(path: str | os.PathLike[str], cap: int) -> np.ndarray:
    """A ``.npy`` file read whole, after its header has been checked against the file's size and ``cap``."""
    with open_regular(path) as file, reading(path):
        return read_npy_stream(file, os.fstat(file.fileno()).st_size, cap)


def read_npz(data: bytes, cap: int, most_members: int) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive ``data`` by member name (less ``.npy``): at most ``most_members``
    members, unpacking to at most ``cap`` bytes together, each member's header checked against its size before
    it is read; each array writable."""
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        declared = sum(member.file_size for member in members)
        if declared > cap:
            raise DataError(f"its members unpack to {declared:,} bytes, more than the {cap // MiB} MiB cap")
        if len(members) > most_members:
            raise DataError(f"holds {len(members):,} members, more than the {most_members:,} it may")
        for member in members:
            key = member.filename.removesuffix(".npy")
            if key == member.filename:
                raise DataError(f"member {shown(member.filename)} is not a .npy array")
            if key in arrays:
                raise DataError(f"holds two members named {shown(member.filename)}")
            with archive.open(member) as stream:
                arrays[key] = read_npy_stream(stream, member.file_size, cap)
    return arrays


def check_npy(path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` file ``path``, once its header is seen to fit the file (for memory maps)."""
    with open_regular(path) as file, reading(path):
        size = os.fstat(file.fileno()).st_size
        shape, dtype, _ = npy_layout(file, size, size)
    return shape, dtype


def check_image_files(images: str | os.PathLike[str], labels: str | os.PathLike[str]) -> None:
    """``images`` must hold uint8 pixels (n, 784), (n, 28, 28) or (n, 1, 28, 28), ``labels`` (n,) or (n, 10),
    for one n >= 1."""
    image_shape, image_dtype = check_npy(images)
    label_shape, _ = check_npy(labels)
    if image_shape[1:] not in ((784,), (28, 28), (1, 28, 28)) or image_dtype != np.uint8:
        raise DataError(f"{images}: holds a {image_shape} {image_dtype} array; expected uint8 pixels (n, 784), "
                        "(n, 28, 28) or (n, 1, 28, 28)")
    if image_shape[0] == 0:
        raise DataError(f"{images}: holds no images")
    if len(label_shape) not in (1, 2) or label_shape[0] != image_shape[0]:
        raise DataError(f"{labels}: holds a {label_shape} array; expected ({image_shape[0]},) labels or "
                        f"({image_shape[0]}, 10) one-hot rows, one per image")


def load_npy(path: str | os.PathLike[str], backend: Backend) -> Any:
    """An ``.npy`` file as an array of ``backend``: read whole up to :data:`READ_WHOLE_CAP`, memory-mapped above.

    A file read whole cannot change under the pass (a mapped file truncated
    meanwhile would kill the process with SIGBUS). A lazy backend maps the
    file afresh in each chunk's task, so no process holds more than the
    chunks in flight; NumPy uses a mapping as it is; the other backends copy
    the array to their device.
    """
    shape, dtype = check_npy(path)
    if backend.lazy:
        return backend.asarray(_LazyNpy(os.fspath(path), shape, dtype))
    if math.prod(shape) * dtype.itemsize <= READ_WHOLE_CAP:
        return backend.asarray(read_npy(path, READ_WHOLE_CAP))
    with reading(path):
        return backend.asarray(np.load(path, mmap_mode="r", allow_pickle=False))


class _LazyNpy:
    """An ``.npy`` file as an array-like whose slices map the file afresh (a lazy backend reads it by slices)."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype, self.ndim = path, shape, dtype, len(shape)

    def __getitem__(self, where: Any) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")[where]
