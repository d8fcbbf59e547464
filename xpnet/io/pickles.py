"""The restricted unpickler for weights ``.pkl`` files: dicts of numeric NumPy arrays, nothing called, nothing
changed after it was checked, and what it builds charged against the file's size."""

from __future__ import annotations

import io
import math
import operator
import pickle
import pickletools
import warnings
from collections.abc import Callable

import numpy as np

from ..errors import DataError
from .files import shown

_NUMERIC_KINDS = "biuf"
PICKLE_OPS_CAP = 1 << 16  # opcodes a weights pickle may hold: about 20 an array, the book's files fewer than 300
# how a pickle of a dict starts: protocol 2 and later's PROTO, protocol 1's EMPTY_DICT or protocol 0's MARK
_DICT_STARTS = (b"\x80", b"}", b"(")
_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}


class _Token:
    """What a weights pickle's globals unpickle to: objects of xpnet's own, whose state no ``BUILD`` can change.

    ``BUILD`` calls an object's ``__setstate__``, else sets its attributes:
    a pickle could otherwise rewrite a NumPy dtype (the process-wide float64
    among them) or a helper function's defaults after they were checked.
    """

    __slots__ = ()

    def __setstate__(self, state: object) -> None:
        raise DataError(f"changes a {type(self).__name__.strip('_')} after building it, which a weights file may not")


class _Global(_Token):
    """A function that a weights pickle may call by name; nothing else can be done with it."""

    __slots__ = ("_function",)

    def __init__(self, function: Callable[..., object]) -> None:
        self._function = function

    def __call__(self, *args: object) -> object:
        return self._function(*args)


_NDARRAY = _Token()  # what the name numpy.ndarray unpickles to: a token, not the class


class _Dtype(_Token):
    """``numpy.dtype(*args)`` as a pickle builds it: numbers only, its byte order the one ``BUILD`` may set."""

    __slots__ = ("descr",)

    def __init__(self, *args: object) -> None:
        self.descr = _dtype(*args)

    def __setstate__(self, state: object) -> None:
        # NumPy's state: (version, byte order, sub-array, names, fields, item size, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in ("<", ">", "=", "|")
                and state[2:5] == (None, None, None) and state[5] in (-1, self.descr.itemsize)
                and state[8:] in ((), (None,))):
            raise DataError("holds a dtype that is not a plain number")
        self.descr = self.descr.newbyteorder(state[1]) if state[1] in "<>" else self.descr


class _Array(_Token):
    """An array as a pickle builds it: empty until its one ``BUILD`` (protocols 0 to 4), or built whole
    (protocol 5); each array's bytes are charged to its loader's budget before they are allocated."""

    __slots__ = ("_loader", "array")

    def __init__(self, loader: _ArraysOnlyUnpickler, array: np.ndarray | None = None) -> None:
        self.array, self._loader = array, loader

    def __setstate__(self, state: object) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise DataError("sets an array's contents twice or in a form NumPy does not write")
        shape, dtype, fortran, data = state[-4:]
        if not isinstance(dtype, _Dtype) or not isinstance(data, (bytes, bytearray)) or not isinstance(shape, tuple):
            raise DataError("holds an array that is not numbers stored as bytes")
        self.array = self._loader.build(data, dtype.descr, shape, "F" if fortran else "C")


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays of numbers; any other global is refused before it runs.

    Every global a weights file may name unpickles to an object of
    :class:`_Token`'s, so nothing the pickle does reaches NumPy or this
    module: arrays are built from their bytes once their state is complete.
    All that the globals allocate (arrays, bytes from latin-1 text) is
    charged against ``budget``, so arrays that share one buffer through the
    pickle's memo cost what they would cost written out. Protocols 0 to 2
    carry bytes as latin-1 text, which ``_codecs.encode`` turns back into
    bytes and nothing else; protocol 5, ``pickle.dump``'s default from
    Python 3.14 on, carries each array's bytes as one buffer.
    """

    def __init__(self, file: io.BytesIO, budget: int) -> None:
        super().__init__(file)
        self.budget = budget
        self._globals = {
            ("numpy.core.multiarray", "_reconstruct"): _Global(self._reconstruct),
            ("numpy._core.multiarray", "_reconstruct"): _Global(self._reconstruct),
            ("numpy.core.numeric", "_frombuffer"): _Global(self._frombuffer),
            ("numpy._core.numeric", "_frombuffer"): _Global(self._frombuffer),
            ("_codecs", "encode"): _Global(self._latin1),  # how protocols 0 to 2 write bytes, arrays' among them
            ("numpy", "ndarray"): _NDARRAY,
            ("numpy", "dtype"): _Global(_Dtype),
        }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._globals:
            return self._globals[module, name]
        raise pickle.UnpicklingError(f"refers to {module[:80]}.{name[:80]}, which a weights file may not")

    def charge(self, nbytes: int) -> None:
        """Count ``nbytes`` about to be allocated against the budget; DataError past it."""
        self.budget -= nbytes
        if self.budget < 0:
            raise DataError("makes more array data than the file holds (a buffer reused by many arrays?)")

    def build(self, data: bytes | bytearray, descr: np.dtype, shape: tuple, order: str) -> np.ndarray:
        """A copy of the array of ``shape`` whose bytes ``data`` holds."""
        nbytes = math.prod(operator.index(n) for n in shape) * descr.itemsize
        if len(data) != nbytes or order not in ("C", "F"):
            raise DataError(f"declares a {shown(shape)} {descr} array ({nbytes:,} bytes) over {len(data):,} bytes")
        self.charge(nbytes)
        return np.frombuffer(data, descr).reshape(shape, order=order).copy(order=order)

    def _reconstruct(self, subtype: object, shape: object, dtype: object) -> _Array:
        if subtype is not _NDARRAY:
            raise DataError("reconstructs something other than an array")
        return _Array(self)

    def _frombuffer(self, buffer: object, dtype: object, shape: object, order: object) -> _Array:
        if not isinstance(buffer, (bytes, bytearray)) or not isinstance(dtype, _Dtype) or not isinstance(shape, tuple):
            raise DataError("holds an array that is not numbers stored as bytes")
        return _Array(self, self.build(buffer, dtype.descr, shape, order))  # type: ignore[arg-type]

    def _latin1(self, text: object, encoding: object = "utf-8") -> bytes:
        """``codecs.encode`` as protocols 0 to 2 call it for bytes: a str that holds them, in latin-1."""
        if not isinstance(text, str) or encoding != "latin1":
            raise DataError(f"encodes {type(text).__name__} as {shown(encoding)}: only bytes, as latin-1 text")
        self.charge(len(text))
        return text.encode("latin1")


def _dtype(*args: object) -> np.dtype:
    """``numpy.dtype(*args)`` for numbers only (no objects, no structures, no sub-arrays)."""
    descr = np.dtype(*args)  # type: ignore[call-overload]
    if descr.kind not in _NUMERIC_KINDS or descr.shape != () or descr.names is not None:
        raise DataError(f"holds a {descr} array: weights are numbers")
    return descr


def unpickle_weights(data: bytes) -> dict[object, np.ndarray]:
    """The object a weights pickle holds, its arrays built; DataError for anything else or too much."""
    if not data:
        raise DataError("not a weights file: it is empty")
    if data[:1] not in _DICT_STARTS:
        raise DataError(f"not a weights file: it starts with {shown(data[:8])}, neither an .npz archive nor a "
                        "pickle of a dict")
    # protocol 0's string opcodes decode escapes, and a bad one in a hostile file would warn
    # (DeprecationWarning) on top of the one error that the file gets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            for count, (op, arg, _) in enumerate(pickletools.genops(data)):  # each length checked against the bytes
                if count == PICKLE_OPS_CAP:
                    raise DataError(f"holds more than {PICKLE_OPS_CAP:,} pickle opcodes: not a network's weights")
                # Python's unpickler sizes its memo by the largest index, so one index can cost gigabytes
                if op.name in _MEMO_OPS and arg > PICKLE_OPS_CAP:
                    raise DataError(f"uses memo index {arg:,}: a network's weights need fewer than {PICKLE_OPS_CAP:,}")
            # latin-1 text and the arrays made from it may each take the file's size
            loaded = _ArraysOnlyUnpickler(io.BytesIO(data), 2 * len(data)).load()
        except (pickle.UnpicklingError, ValueError) as err:
            raise DataError(f"not a weights file ({' '.join(str(err)[:400].split())})") from None
    if not isinstance(loaded, dict):
        raise DataError(f"expected a dict of NumPy arrays, got {type(loaded).__name__.strip('_')}")
    for key, value in loaded.items():
        if not (isinstance(value, _Array) and value.array is not None):
            held = type(value).__name__.strip("_")
            raise DataError(f"expected a dict of NumPy arrays, but {shown(key)} holds {held}")
    return {key: value.array for key, value in loaded.items()}
