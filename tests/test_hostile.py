"""A hostile-input corpus, generated here: every bad file, argument and server answer ends in one clear line.

Each command case asserts exit status 2, exactly the promised lines on
stderr (one ``xpnet CMD: error: ...`` line, or argparse's usage line and its
error line), no traceback, a whole-process peak RSS under ``budget_mib()``
(read from the child's own VmHWM) and what is left on disk afterwards.
"""

from __future__ import annotations

import functools
import gzip
import io
import itertools
import json
import os
import pickle
import pickletools
import resource
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpnet
import xpnet.datasets.mnist
import xpnet.io.download
import xpnet.io.pickles
import xpnet.io.weights
from xpnet.datasets.mnist import load_array

from conftest import BOOK_ACCURACY, BOOK_FILES, ROOT, SHARED_DATA
from mirror import Mirror

# What the data may add to the interpreter's own peak (imports included): MNIST's test set and the book's weights take
# tens of MiB; every bomb below would take gigabytes if anything allocated what it declares.
MARGIN_MIB = 96


@functools.cache
def budget_mib() -> float:
    """The peak RSS allowed to a command: the peak of an interpreter that imports what the commands may (xpnet's
    command line, matplotlib, and PyTorch where installed, whose CUDA build weighs twice its CPU build), plus
    ``MARGIN_MIB``. Measured, so that the budget holds with either build."""
    code = ("import xpnet.cli, matplotlib.pyplot\ntry:\n    import torch\nexcept ImportError:\n    pass\n"
            "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(result.stdout) / 1024 + MARGIN_MIB


IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"

HARNESS = """
import os, sys
from xpnet.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
with open(os.environ["XPNET_TEST_HWM"], "w") as out:
    out.write([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
sys.exit(status)
"""


def xpnet_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, limit_file_bytes: int | None = None,
              timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``xpnet ARGS`` as a user would; returns the result and the process's peak RSS in MiB."""
    hwm = tmp_path / "hwm.txt"

    def limits() -> None:
        if limit_file_bytes is not None:  # a disk that fills up: writes past this fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    result = subprocess.run(
        [sys.executable, "-c", HARNESS, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), "XPNET_TEST_HWM": str(hwm), **(env or {})}, preexec_fn=limits,
    )
    return result, int(hwm.read_text()) / 1024


def assert_one_line(result: subprocess.CompletedProcess[str], peak_mib: float, command: str, *parts: str) -> str:
    """Exit 2, nothing on stdout, one error line on stderr holding each of ``parts``, memory in budget."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"xpnet {command}: error: "), result.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert peak_mib < budget_mib(), f"peak RSS {peak_mib:.0f} MiB"
    return lines[0]


def assert_argparse(result: subprocess.CompletedProcess[str], command: str, message: str) -> None:
    """argparse's convention, as the README states it: its usage line(s), then one error line."""
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    usage, error = result.stderr.split(f"\nxpnet {command}: error: ")
    assert usage.startswith(f"usage: xpnet {command}")
    assert error.count("\n") == 1 and message in error, error


@pytest.fixture
def data(mnist_dir: Path, weights_path: Path) -> list[str]:
    return ["--data-dir", str(mnist_dir), "--weights", str(weights_path)]


# --- weights files -------------------------------------------------------------------------------------------


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def encrypted(data: bytes) -> bytes:
    """The zip with every member flagged as encrypted (bit 0 of the flags, local and central headers)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := out.find(signature, start)) != -1:
            out[start + offset] |= 1
            start += 4
    return bytes(out)


def duplicate_members(array: np.ndarray) -> bytes:
    """An ``.npz`` whose two members are both named ``W1.npy``."""
    buffer, member = io.BytesIO(), io.BytesIO()
    np.save(member, array)
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name it writes
        archive.writestr("W1.npy", member.getvalue())
        archive.writestr("W1.npy", member.getvalue())
    return buffer.getvalue()


def huge_reconstruct_pickle() -> bytes:
    """95 bytes or so that ask NumPy's array reconstruction for 1 GiB: (2**27,) float64."""
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + pickle.dumps((2**27,), protocol=2)[2:-1]
        + b"C\x01d\x87R."
    )


class _Buffered:
    """Pickles (protocol 5) as NumPy's ``_frombuffer(buffer, dtype, shape, order)`` with the given arguments."""

    def __init__(self, *args: object) -> None:
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return np.frombuffer(b"").__reduce_ex__(5)[0], self.args


class _Reduced:
    """Pickles as ``function(*args)``, then ``BUILD`` with ``state``: what NumPy's own arrays and dtypes write."""

    def __init__(self, function: object, args: tuple[object, ...], state: object) -> None:
        self.reduced = (function, args, state)

    def __reduce__(self) -> tuple[object, ...]:
        return self.reduced


RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
FROMBUFFER = np.frombuffer(b"").__reduce_ex__(5)[0]
STRUCTURED = np.dtype([("a", "<f8")]).__reduce__()[2]  # the state that makes a dtype a structure


def build_global(module: str, name: str, state: object) -> bytes:
    """A pickle of ``{"W1": module.name}`` after a ``BUILD`` of ``state`` on that global itself."""
    return (b"\x80\x02}X\x02\x00\x00\x00W1c" + f"{module}\n{name}\n".encode()
            + pickle.dumps(state, protocol=2)[2:-1] + b"bs.")


def shared_buffer_pickle(arrays: int, nbytes: int) -> bytes:
    """``arrays`` arrays of ``nbytes`` each, all made from one buffer that the pickle's memo holds once."""
    shared = bytearray(nbytes)
    return pickle.dumps({f"W{k}": _Buffered(shared, np.dtype("f8"), (nbytes // 8,), "C") for k in range(arrays)},
                        protocol=5)


def weights_cases(weights: dict[str, np.ndarray]) -> dict[str, tuple[bytes, str]]:
    plain = npz_bytes(weights)
    packed = npz_bytes(weights, compressed=True)
    return {
        "truncated npz": (plain[: len(plain) // 2], "bad.npz: "),
        "bad CRC": (flip(plain, len(plain) // 2), "bad.npz: BadZipFile"),
        "corrupt deflate": (flip(packed, len(packed) // 3), "bad.npz: "),
        "encrypted member": (encrypted(plain), "bad.npz: "),
        "non-string keys": (pickle.dumps({1: weights["W1"]}), "has a key 1"),
        "opcode on the wrong object": (b"\x80\x02K\x01}b.", "bad.npz: "),
        "huge length field": (b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"xx.", "bad.npz: "),
        "pickle declaring 1 GiB": (huge_reconstruct_pickle(), "expected a dict of NumPy arrays, got Array"),
        "dtype made a structure by BUILD": (
            pickle.dumps({"W1": _Reduced(RECONSTRUCT, (np.ndarray, (0,), b"b"),
                                         (1, (1,), _Reduced(np.dtype, ("f8", False, True), STRUCTURED), False,
                                          bytes(8)))}, protocol=2),
            "holds a dtype that is not a plain number"),
        "a helper's defaults changed by BUILD": (build_global("numpy", "dtype", (None, {"__defaults__": (1,)})),
                                                 "changes a Global after building it"),
        "an array built twice": (
            pickle.dumps({"W1": _Reduced(FROMBUFFER, (bytearray(8), np.dtype("f8"), (1,), "C"),
                                         (1, (1,), np.dtype("f8"), False, bytes(8)))}, protocol=5),
            "sets an array's contents twice"),
        "one buffer shared by many arrays": (shared_buffer_pickle(64, 1 << 20),
                                             "makes more array data than the file holds"),
        "more opcodes than a network has": (pickle.dumps({f"W{k}": None for k in range(40_000)}),
                                            "holds more than 65,536 pickle opcodes"),
        "a key of 10 MB": (pickle.dumps({b"k" * 10_000_000: weights["W1"]}), "has a key b'kkkkkk"),
        "an empty key": (pickle.dumps({"": weights["W1"]}), "has a key ''"),
        "a memo index of 16 million": (b"\x80\x02}r\x00\x00\x00\x01.", "uses memo index 16,777,216"),
        "two members of one name": (duplicate_members(weights["W1"]), "holds two members named 'W1.npy'"),
        "protocol-5 shape past its buffer": (pickle.dumps({"W1": _Buffered(bytearray(8), np.dtype("f8"), (2**27,),
                                                                            "C")}, protocol=5),
                                            "declares a (134217728,) float64 array (1,073,741,824 bytes) over 8"),
        "protocol-5 objects": (pickle.dumps({"W1": _Buffered(bytearray(8), np.dtype("O"), (1,), "C")}, protocol=5),
                               "holds a object array"),
        "latin-1 text that is not bytes": (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R.",
                                           "encodes str as 'utf-8'"),
        "object array": (pickle.dumps({"W1": np.array([None])}), "holds a object array"),
        "list, not dict": (pickle.dumps([weights["W1"]]), "expected a dict of NumPy arrays, got list"),
        "a dict of numbers": (pickle.dumps({"W1": 1.5}), "expected a dict of NumPy arrays, but 'W1' holds float"),
        "not a pickle": (b"<html>404</html>", "bad.npz: not a weights file: it starts with b'<html>40'"),
        "text that parses as opcodes": (b"junk\n", "not a weights file: it starts with b'junk\\n'"),
        "empty": (b"", "bad.npz: not a weights file: it is empty"),
    }


@pytest.mark.parametrize("case", list(weights_cases({"W1": np.zeros((2, 2), np.float32)})))
def test_bad_weights_files(tmp_path: Path, mnist_dir: Path, sample_weights, case: str) -> None:
    content, message = weights_cases(sample_weights)[case]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    result, peak = xpnet_cli(tmp_path, "infer", "--data-dir", str(mnist_dir), "--weights", str(bad))
    assert_one_line(result, peak, "infer", str(bad), message)
    assert len(result.stderr) < 400
    assert bad.read_bytes() == content


def zip_bomb(tmp_path: Path) -> Path:
    """A 300 KiB .npz whose member unpacks to 300 MiB: an honest header, a declared size beyond the cap."""
    member = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header = io.BytesIO()
    member["shape"] = ((300 << 20) // 8,)
    np.lib.format.write_array_header_1_0(header, member)
    path = tmp_path / "bomb.npz"
    with (zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("W1.npy", "w", force_zip64=True) as out):
        out.write(header.getvalue())
        block = bytes(1 << 20)
        for _ in range(300):
            out.write(block)
    return path


def lying_member(tmp_path: Path) -> Path:
    """An .npz whose member declares 1,000 floats but whose deflate stream unpacks to 64 MiB."""
    honest = io.BytesIO()
    np.save(honest, np.zeros(1000))
    header_and_data = honest.getvalue()
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("W1.npy", header_and_data + bytes(64 << 20))
    content = bytearray(path.read_bytes())
    declared = struct.pack("<I", len(header_and_data))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # the uncompressed size fields
        at = content.find(signature)
        content[at + offset : at + offset + 4] = declared
    path.write_bytes(bytes(content))
    return path


@pytest.mark.parametrize(("make", "message"), [
    (zip_bomb, "unpack to 314,572,928 bytes, more than the 128 MiB cap"),
    (lying_member, "BadZipFile"),
])
def test_zip_bombs(tmp_path: Path, mnist_dir: Path, make, message: str) -> None:
    bomb = make(tmp_path)
    assert bomb.stat().st_size < 1 << 20
    started = time.monotonic()
    result, peak = xpnet_cli(tmp_path, "infer", "--data-dir", str(mnist_dir), "--weights", str(bomb))
    assert_one_line(result, peak, "infer", str(bomb), message)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "oversized", "system file"])
def test_weights_that_are_not_plain_files(tmp_path: Path, mnist_dir: Path, kind: str) -> None:
    path = tmp_path / "w.pkl"
    if kind == "system file":  # regular by its mode, 0 bytes by its size, text when read
        path = Path("/proc/version")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        with open(path, "wb") as sparse:  # 300 MiB on paper, nothing on disk
            sparse.truncate(300 << 20)
    result, peak = xpnet_cli(tmp_path, "infer", "--data-dir", str(mnist_dir), "--weights", str(path), timeout=60)
    expected = {"oversized": "more than the 128 MiB that a weights file may hold",
                "system file": "0 bytes by its size, more when read: changed while being read, or not a file of data"
                }.get(kind, "not a regular file")
    assert_one_line(result, peak, "infer", str(path), expected)


# --- IDX files in a data directory ---------------------------------------------------------------------------


def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


def gzip_bomb(count: int, zeros: int) -> bytes:
    """A gzip file whose header declares ``count`` images and whose stream unpacks to ``zeros`` more bytes."""
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=1) as out:
        out.write(idx(0x803, (count, 28, 28), b""))
        block = bytes(1 << 20)
        for _ in range(zeros >> 20):
            out.write(block)
    return stream.getvalue()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: gzip_bomb(2**31, 256 << 20), "header declares 2147483648 images, not the file's 10000"),
    (lambda: gzip_bomb(10_000, 256 << 20), "or more"),
    (lambda: gzip.compress(idx(0x803, (0, 28, 28), b"")), "header declares 0 images, not the file's 10000"),
])
def test_bad_idx_files_in_a_data_dir(tmp_path: Path, mnist_dir: Path, weights_path: Path, make,
                                     message: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / IMAGES).write_bytes(make())
    (data_dir / LABELS).write_bytes((mnist_dir / LABELS).read_bytes())
    started = time.monotonic()
    result, peak = xpnet_cli(tmp_path, "infer", "--data-dir", str(data_dir), "--weights", str(weights_path))
    assert_one_line(result, peak, "infer", str(data_dir / IMAGES), message)
    assert time.monotonic() - started < 30


def test_a_fifo_in_the_data_dir(tmp_path: Path, mnist_dir: Path, weights_path: Path) -> None:
    os.mkfifo(tmp_path / IMAGES)
    result, peak = xpnet_cli(tmp_path, "infer", "--data-dir", str(tmp_path), "--weights", str(weights_path),
                             timeout=60)
    assert_one_line(result, peak, "infer", str(tmp_path / IMAGES), "not a regular file")


# --- downloads and the cache ---------------------------------------------------------------------------------


@pytest.fixture
def mirror(mnist_dir: Path, weights_path: Path) -> Iterator[Mirror]:
    files = {name: (mnist_dir / name).read_bytes() for name in (IMAGES, LABELS)}
    files["ch03/sample_weight.pkl"] = weights_path.read_bytes()
    server = Mirror(files)
    yield server
    server.close()


def through_mirrors(*urls: str, setup: str = "") -> str:
    """Python that points xpnet's MNIST mirrors (and the weights URL) at ``urls`` before running the CLI."""
    return (f"import xpnet; xpnet.set_config(mnist_mirrors={urls!r}, "
            f"weights_base_url={urls[-1]!r}, timeout_s=2.0); {setup}\n" + HARNESS)


def cli_with_mirrors(tmp_path: Path, code: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    hwm = tmp_path / "hwm.txt"
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "XPNET_TEST_HWM": str(hwm), "XPNET_CACHE_DIR": str(tmp_path)},
    )
    return result, int(hwm.read_text()) / 1024


def test_a_mirror_serving_zero_images_falls_back_to_the_next(tmp_path: Path, mirror: Mirror,
                                                             weights_path: Path) -> None:
    mirror.alternates[IMAGES] = gzip.compress(idx(0x803, (0, 28, 28), b""))
    result, _ = cli_with_mirrors(tmp_path, through_mirrors(mirror("alt"), mirror("good")), "infer", "--weights",
                                 str(weights_path))
    assert result.returncode == 0, result.stderr
    assert "Accuracy:0.9352" in result.stdout
    assert mirror.hits[f"/alt/{IMAGES}"] == 1 and mirror.hits[f"/good/{IMAGES}"] == 1


@pytest.mark.parametrize(("behaviour", "fault"), [
    ("endless", "the server sent more than"),
    ("encoded-bomb", "the server sent more than"),
    ("alt", "header declares 0 images"),
])
def test_every_mirror_failing_on_hostile_answers(tmp_path: Path, mirror: Mirror, weights_path: Path,
                                                 behaviour: str, fault: str) -> None:
    mirror.alternates[IMAGES] = gzip.compress(idx(0x803, (0, 28, 28), b""))
    started = time.monotonic()
    result, peak = cli_with_mirrors(tmp_path, through_mirrors(mirror(behaviour), mirror("404")), "infer",
                                    "--weights", str(weights_path))
    line = assert_one_line(result, peak, "infer", f"{mirror(behaviour)}{IMAGES}: {fault}",
                           f"{mirror('404')}{IMAGES}: HTTP 404")
    assert "Put t10k-images-idx3-ubyte.gz in a directory" in line
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["hwm.txt"]


def test_endless_weights_download_stops_at_its_cap(tmp_path: Path, mirror: Mirror, mnist_dir: Path) -> None:
    result, peak = cli_with_mirrors(tmp_path, through_mirrors(mirror("endless")), "infer", "--data-dir",
                                    str(mnist_dir))
    assert_one_line(result, peak, "infer", "sample_weight.pkl: the server sent more than 363,706 bytes")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["hwm.txt"]


def test_a_dripping_server_meets_the_deadline(tmp_path: Path, mirror: Mirror, mnist_dir: Path) -> None:
    """One byte every 0.1 s never trips a 2 s read timeout; the whole download's deadline ends it."""
    code = through_mirrors(mirror("drip"), setup="xpnet.set_config(deadline_s=3.0)")
    started = time.monotonic()
    result, peak = cli_with_mirrors(tmp_path, code, "infer", "--data-dir", str(mnist_dir))
    assert_one_line(result, peak, "infer", "sample_weight.pkl: not complete within 3 s")
    assert time.monotonic() - started < 15


def write_npy_header(path: Path, shape: tuple[int, ...], dtype: str = "|u1") -> None:
    with open(path, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})


DAMAGE = {
    "empty": lambda path: path.write_bytes(b""),
    "header claiming 10^12 elements": lambda path: write_npy_header(path, (10**12,)),
    "shape (0,)": lambda path: np.save(path, np.zeros(0, np.uint8)),
    "wrong dtype": lambda path: np.save(path, np.zeros(10000, np.int64)),
    "object array": lambda path: np.save(path, np.array([None] * 3), allow_pickle=True),
}


def replaced(make) -> object:
    """A damage that puts ``make(path)``'s thing where the cached file was."""
    def damage(path: Path) -> None:
        path.unlink()
        make(path)
    return damage


NOT_REGULAR = {
    "a FIFO": replaced(os.mkfifo),
    "a directory": replaced(lambda path: (path.mkdir(), (path / "inside").write_bytes(b"x"))),
    "a symlink to /dev/zero": replaced(lambda path: path.symlink_to("/dev/zero")),
    "a dangling symlink": replaced(lambda path: path.symlink_to(path.parent / "nowhere")),
    "a symlink loop": replaced(lambda path: path.symlink_to(path)),
}


@pytest.mark.parametrize("damage", [*DAMAGE, *NOT_REGULAR])
def test_a_damaged_cache_heals_itself(tmp_path: Path, mirror: Mirror, weights_path: Path, mnist_test,
                                      damage: str) -> None:
    code = through_mirrors(mirror("good"))
    first, _ = cli_with_mirrors(tmp_path, code, "infer", "--weights", str(weights_path))
    assert first.returncode == 0, first.stderr
    cached = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.npy"
    {**DAMAGE, **NOT_REGULAR}[damage](cached)
    healed, peak = cli_with_mirrors(tmp_path, code, "infer", "--weights", str(weights_path))
    assert healed.returncode == 0, healed.stderr
    assert "Accuracy:0.9352" in healed.stdout and peak < budget_mib()
    expected = (f"warning: {cached} in the cache is not a regular file" if damage in NOT_REGULAR
                else f"warning: damaged cache file {cached}: ")
    assert healed.stderr.startswith(expected)
    assert healed.stderr.count("\n") == 1 and "Traceback" not in healed.stderr
    assert cached.is_file() and not cached.is_symlink()
    np.testing.assert_array_equal(np.load(cached), mnist_test[1])
    again, _ = cli_with_mirrors(tmp_path, code, "infer", "--weights", str(weights_path))
    assert again.stderr == ""  # reported once: the copy now in place is good


@pytest.mark.parametrize("kind", ["a directory", "a FIFO"])
def test_book_weights_cache_and_stale_parts_of_any_kind_heal(tmp_path: Path, mirror: Mirror, mnist_dir: Path,
                                                             kind: str) -> None:
    cached = tmp_path / "book" / "ch03" / "sample_weight.pkl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    NOT_REGULAR[kind](cached)
    stale = cached.parent / ".sample_weight.pkl.old.part"
    stale.mkdir()
    os.utime(stale, (0, 0))
    result, peak = cli_with_mirrors(tmp_path, through_mirrors(mirror("good")), "infer", "--data-dir", str(mnist_dir))
    assert result.returncode == 0, result.stderr
    assert "Accuracy:0.9352" in result.stdout and peak < budget_mib()
    assert result.stderr.count("\n") == 1 and "not a regular file" in result.stderr
    assert cached.is_file() and not stale.exists()


def test_files_get_the_users_umask(tmp_path: Path, sample_weights) -> None:
    old = os.umask(0o027)
    try:
        xpnet.save_weights(tmp_path / "w.npz", sample_weights)
    finally:
        os.umask(old)
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o640


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path: Path, mnist_dir: Path) -> None:
    saved = tmp_path / "out" / "w.npz"
    saved.parent.mkdir()
    result, _ = xpnet_cli(tmp_path, "train", "--train-on-test", "200", "--epochs", "1", "--data-dir",
                          str(mnist_dir), "--save", str(saved), "--json", limit_file_bytes=100_000)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"xpnet train: error: {saved}: cannot write (File too large)"
    assert list(saved.parent.iterdir()) == []


# --- --images / --labels -------------------------------------------------------------------------------------


def images_labels_cases(n: int = 20) -> dict[str, tuple[object, object, str, str]]:
    """name -> (images, labels, the file named, the fault); arrays are saved to .npy, bytes written as they are."""
    pixels = np.zeros((n, 784), np.uint8)
    labels = np.zeros(n, np.uint8)
    return {
        "0-d images": (np.array(3, np.uint8), labels, "x", "holds a () uint8 array"),
        "no images": (np.zeros((0, 784), np.uint8), np.zeros(0, np.uint8), "x", "holds no images"),
        "an .npz": (npz_bytes({"x": pixels}), labels, "x", "x.npy: "),
        "infinite pixels": (np.full((n, 784), np.inf), labels, "x", "expected uint8 pixels"),
        "labels above 9": (pixels, np.full(n, 10, np.uint8), "t", "t holds 20 labels outside 0..9"),
        "negative labels": (pixels, np.full(n, -1, np.int8), "t", "t holds 20 labels outside 0..9"),
        "string labels": (pixels, np.array(["3"] * n), "t", "labels must be integers"),
        "boolean labels": (pixels, np.ones(n, bool), "t", "labels must be integers"),
        "one-hot of width 9": (pixels, np.eye(9)[labels], "t", "one-hot rows of width 9 but the network has 10"),
        "labels (n, 1)": (pixels, labels[:, None], "t", "one-hot rows of width 1 but the network has 10"),
        "too few labels": (pixels, labels[:5], "t", "expected (20,) labels"),
        "rows of 392 pixels": (pixels[:, :392], labels, "x", "expected uint8 pixels (n, 784)"),
        "images of 56 x 28": (np.zeros((n, 56, 28), np.uint8), labels, "x", "expected uint8 pixels (n, 784)"),
        **{f"one-hot rows of {name}": (pixels, rows, "t", f"t holds {n} rows that are not one-hot")
           for name, rows in not_one_hot(n).items()},
    }


def not_one_hot(n: int) -> dict[str, np.ndarray]:
    """(n, 10) label rows that name no class, one kind of fault each."""
    two_ones = np.eye(10)[np.arange(n) % 10]
    two_ones[np.arange(n), (np.arange(n) + 1) % 10] = 1
    return {"zeros": np.zeros((n, 10)), "sevens": np.full((n, 10), 7), "two ones": two_ones,
            "NaN": np.full((n, 10), np.nan), "-1": -np.eye(10, dtype=np.int8)[np.arange(n) % 10],
            "halves": np.full((n, 10), 0.1)}


@pytest.mark.parametrize("case", list(images_labels_cases()))
def test_bad_images_and_labels(tmp_path: Path, weights_path: Path, case: str) -> None:
    images, labels, named, fault = images_labels_cases()[case]
    paths = {"x": tmp_path / "x.npy", "t": tmp_path / "t.npy"}
    for path, content in zip(paths.values(), (images, labels), strict=True):
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            np.save(path, content)
    result, peak = xpnet_cli(tmp_path, "infer", "--images", str(paths["x"]), "--labels", str(paths["t"]),
                             "--weights", str(weights_path))
    assert_one_line(result, peak, "infer", str(paths[named]), fault)


def dense_file(tmp_path: Path, sizes: list[int], dtype: object = np.float32) -> Path:
    """A dense network of ``sizes`` (any, even empty layers) saved as ``.npz`` without xpnet's checks."""
    rng = np.random.default_rng(0)
    arrays = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        arrays[f"W{k}"] = rng.standard_normal((n_in, n_out)).astype(dtype)
        arrays[f"b{k}"] = np.zeros(n_out, dtype)
    path = tmp_path / "net.npz"
    np.savez(path, **arrays)
    return path


DENSE_FAULTS = {
    "12 outputs": ([784, 5, 12], np.float32, "a network from 784 inputs to 12 outputs; mlp takes 784 pixels"),
    "100 inputs": ([100, 50, 10], np.float32, "a network from 100 inputs to 10 outputs; mlp takes 784 pixels"),
    "a layer of no units": ([784, 0, 10], np.float32, "W1 has shape (784, 0): a layer needs at least one unit"),
    "float128": ([784, 5, 10], np.longdouble, "W1 has dtype float128: weights are float16, float32 or float64"),
    "beyond float32": ([784, 5, 10], np.float64, "holds values beyond float32's range"),
}
COMMANDS = {"infer": ["infer"], "infer on torch": ["infer", "--backend", "torch"], "export": ["export", "-o", "o.onnx"],
            "bench": ["bench"], "plot filters": ["plot", "filters", "-o", "p.png"],
            "plot confusion": ["plot", "confusion", "-o", "p.png"], "show": ["show", "--grid", "4", "-o", "p.png"]}


@pytest.mark.parametrize("fault", list(DENSE_FAULTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_dense_weights_that_do_not_fit_the_model(tmp_path: Path, mnist_dir: Path, command: str, fault: str) -> None:
    sizes, dtype, message = DENSE_FAULTS[fault]
    weights = dense_file(tmp_path, sizes, dtype)
    if fault == "beyond float32":
        with np.load(weights) as loaded:
            arrays = dict(loaded)
        arrays["W2"][0, 0] = 1e300
        np.savez(weights, **arrays)
    if command == "infer on torch":
        pytest.importorskip("torch")
    args = [arg if arg not in ("o.onnx", "p.png") else str(tmp_path / arg) for arg in COMMANDS[command]]
    data = [] if command == "export" else ["--data-dir", str(mnist_dir)]  # export reads no images
    result, peak = xpnet_cli(tmp_path, *args, *data, "--weights", str(weights))
    assert_one_line(result, peak, args[0], str(weights), message)
    assert not (tmp_path / "o.onnx").exists() and not (tmp_path / "p.png").exists()


@pytest.mark.parametrize(("settings", "remedy"), [
    (["--lr", "1e308"], "a smaller learning rate may help"),
    (["--optimizer", "sgd", "--weight-decay", "1e300"], "a smaller learning rate or weight decay may help"),
])
def test_a_diverging_run_ends_in_one_line(tmp_path: Path, mnist_dir: Path, settings: list[str], remedy: str) -> None:
    saved = tmp_path / "w.npz"
    result, peak = xpnet_cli(tmp_path, "train", "--train-on-test", "300", "--epochs", "2", *settings,
                             "--data-dir", str(mnist_dir), "--save", str(saved))
    assert_one_line(result, peak, "train", "training diverged in epoch 1", remedy)
    assert not saved.exists()


@pytest.mark.parametrize("layout", ["two layers", "relu"])
def test_bench_refuses_a_dense_network_the_chapters_loop_does_not_compute(tmp_path: Path, mnist_dir: Path,
                                                                           layout: str) -> None:
    weights = dense_file(tmp_path, (784, 30, 10) if layout == "two layers" else (784, 50, 100, 10), "float32")
    flags = ["--activation", "relu"] if layout == "relu" else []
    result, peak = xpnet_cli(tmp_path, "bench", "--tile", "1", "--repeats", "1", "--no-torch", "--weights",
                             str(weights), *flags, "--data-dir", str(mnist_dir))
    shape = "784-30-10 network (activation sigmoid)" if layout == "two layers" else "(activation relu)"
    assert_one_line(result, peak, "bench", str(weights), shape, "three sigmoid layers")
    result, peak = xpnet_cli(tmp_path, "bench", "--train", "--weights", str(weights), "--data-dir", str(mnist_dir))
    assert_one_line(result, peak, "bench", f"--weights {weights}: --train times an epoch from the same initial")


# --- arguments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "command", "message"), [
    (["show", "-o", "digit.jpg2"], "show", "digit.jpg2: matplotlib does not write 'jpg2' pictures; it writes"),
    (["show", "-o", "/dev/full"], "show", "/dev/full: there already, and not a regular file"),
    (["plot", "activations", "-o", "/etc/passwd/a.png"], "plot", "cannot write there (/etc/passwd is not a folder"),
    (["infer", "--backend", "torch", "--device", "meta"], "infer", "torch runs here on 'cpu' or 'cuda[:N]'"),
    (["infer", "--backend", "torch", "--device", "mps"], "infer", "torch runs here on 'cpu' or 'cuda[:N]'"),
    (["infer", "--backend", "dask", "--scheduler", "tcp://[:::1"], "infer", "cannot reach the dask scheduler"),
    (["infer", "--backend", "dask", "--batch-size", "20"], "infer", "with dask it is the chunk size, at least 1,000"),
    (["train", "--sizes", "784,60000,10"], "train", "more than the 8,000,000 this command trains"),
    (["train", "--sizes", "784,100000,10"], "train", "each from 1 to 65,536"),
    (["train", "--sizes", "784,10", "--batch-norm"], "train", "--batch-norm act on hidden layers; --sizes 784,10 has"),
    (["train", "--sizes", "784,10", "--dropout", "0.5"], "train", "--dropout and --batch-norm act on hidden layers"),
    (["bench", "--train", "--sizes", "784,100000,10"], "bench", "each from 1 to 65,536"),
    (["bench", "--sizes", "784,20,10"], "bench", "--sizes and --init shape the network that --train trains"),
    (["infer", "--model", "simple_convnet", "--activation", "relu"], "infer",
     "--activation is for dense networks such as --model mlp; simple_convnet has its own"),
    (["bench", "--train", "--model", "simple_convnet", "--init", "he"], "bench",
     "--sizes, --activation and --init are for dense networks such as --model mlp; simple_convnet is the book's"),
    (["export", "-o", "/dev/full"], "export", "/dev/full: there already, and not a regular file"),
    (["train", "--save", "/dev/full"], "train", "/dev/full: there already, and not a regular file"),
    (["bench", "--json-out", "/dev/full"], "bench", "/dev/full: there already, and not a regular file"),
    (["infer", "--model", "deep_convnet", "--batch-size", "16777216"], "infer",
     "--batch-size 16777216: deep_convnet in float32 takes about"),
    (["bench", "--batch-size", "16777216"], "bench", "GiB available: --batch-size at most"),
    (["bench", "--json-out", "/etc/passwd/b.json"], "bench", "cannot write there (/etc/passwd is not a folder"),
    (["train", "--save", "/etc/passwd/w.npz"], "train", "cannot write there (/etc/passwd is not a folder"),
    (["infer", "--dtype", "float16", "--backend", "array_api_strict"], "infer",
     "array_api_strict on array_api_strict.Device('CPU_DEVICE') has no float16"),
])
def test_arguments_out_of_range_get_one_line(tmp_path: Path, data: list[str], args: list[str], command: str,
                                             message: str) -> None:
    if "torch" in args:
        pytest.importorskip("torch", reason="optional backend torch not installed: pip install 'xpnet[torch]'")
    if "dask" in args:
        pytest.importorskip("distributed", reason="optional backend dask not installed: pip install 'xpnet[dask]'")
    extra = {"train": data[:2], "export": []}.get(command, data)
    result, peak = xpnet_cli(tmp_path, *args, *([] if args[:2] == ["plot", "activations"] else extra))
    assert_one_line(result, peak, command, message)
    assert not Path("/dev/full.png").exists() and not (ROOT / "digit.jpg2").exists()


@pytest.mark.parametrize(("args", "command", "message"), [
    (["infer", "--workers", "1000000"], "infer", "argument --workers: expected an integer from 1 to 256"),
    (["infer", "--batch-size", str(2**70)], "infer", "argument --batch-size: expected an integer from 1 to"),
    (["show", "--grid", "100000"], "show", "argument --grid: expected an integer from 1 to 400"),
    (["bench", "--tile", "1000000"], "bench", "argument --tile: expected an integer from 1 to 100"),
    (["train", "--seed", "-1"], "train", "argument --seed: expected an integer from 0 to 2**63 - 1"),
    (["train", "--lr", "nan"], "train", "argument --lr: expected a finite positive number, got 'nan'"),
    (["train", "--lr", "-0.1"], "train", "argument --lr: expected a finite positive number"),
])
def test_arguments_argparse_refuses(tmp_path: Path, args: list[str], command: str, message: str) -> None:
    result, peak = xpnet_cli(tmp_path, *args)
    assert_argparse(result, command, message)
    assert peak < budget_mib()


def test_an_output_without_a_suffix_is_written_as_named(tmp_path: Path, data: list[str]) -> None:
    out = tmp_path / "digit"
    result, _ = xpnet_cli(tmp_path, "show", "-o", str(out), *data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out}: ")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and list(tmp_path.glob("digit*")) == [out]


def test_library_arguments() -> None:
    with pytest.raises(xpnet.BackendError, match="a backend is named by a string"):
        xpnet.get_backend(None)  # type: ignore[arg-type]


def test_chapter_baseline_gives_one_line(tmp_path: Path, mnist_dir: Path, weights_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 784), np.uint8))
    (tmp_path / IMAGES).write_bytes(b"<html>gone</html>")
    for args, message in (
        (["--data-dir", str(tmp_path), "--weights", str(weights_path)], f"{tmp_path / IMAGES}: not gzip data"),
        (["--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "x.npy"), "--weights", str(weights_path)],
         "holds no images"),
        (["--data-dir", str(mnist_dir), "--weights", "/dev/zero"], "/dev/zero: not a regular file"),
        (["--images", str(tmp_path / "none.npy"), "--labels", str(tmp_path / "x.npy"), "--weights",
          str(weights_path)], "none.npy: cannot read (No such file or directory)"),
    ):
        result = subprocess.run(
            [sys.executable, "scripts/chapter_baseline.py", *args], capture_output=True, text=True, cwd=ROOT,
            check=False, timeout=120, env={**os.environ, "XPNET_CACHE_DIR": str(tmp_path / "cache")},
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("chapter_baseline.py: error: ")
        assert message in result.stderr


# --- fuzzing the readers of outside bytes --------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def mutated(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for at, value in edits:
        out[at % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


def reads_safely(path: Path, read) -> None:
    """``read(path)`` returns or raises DataError naming the file, with at most 16 MiB traced meanwhile."""
    tracemalloc.start()
    try:
        read(path)
    except xpnet.DataError as err:
        assert str(path) in str(err)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.1f} MiB traced"


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)


@FUZZ
@given(form=st.sampled_from(["pkl", "pkl-5", "npz", "npz-compressed"]), edits=EDITS,
       cut=st.none() | st.integers(0, 5000))
def test_fuzz_the_weights_loader(tmp_path: Path, sample_weights, form: str, edits, cut) -> None:
    small = {"W1": sample_weights["W1"][:4, :3].copy(), "b1": sample_weights["b1"][:3].copy()}  # contiguous:
    # protocol 5 writes each as one buffer
    if form.startswith("pkl"):
        original = pickle.dumps(small, protocol=5 if form == "pkl-5" else 2)
    else:
        original = npz_bytes(small, form.endswith("compressed"))
    path = tmp_path / f"fuzz.{form[:3]}"
    path.write_bytes(mutated(original, edits, cut))
    reads_safely(path, xpnet.load_weights)


@FUZZ
@given(opcodes=st.lists(st.sampled_from([op for op in pickletools.opcodes if op.proto <= 5]), max_size=12),
       args=st.lists(st.integers(0, 2**63), max_size=12))
def test_fuzz_pickle_opcodes(tmp_path: Path, opcodes, args) -> None:
    """Random opcode sequences with random (often huge) length fields: DataError, memory bounded."""
    body = bytearray(b"\x80\x05")
    for op, number in zip(opcodes, args + [0] * len(opcodes), strict=False):
        body += op.code.encode("latin-1")
        body += struct.pack("<Q", number)[: {1: 1, 2: 2, 4: 4, 8: 8}.get(getattr(op.arg, "n", 8), 8)]
    path = tmp_path / "ops.pkl"
    path.write_bytes(bytes(body) + b".")
    reads_safely(path, xpnet.load_weights)


@FUZZ
@given(edits=EDITS, cut=st.none() | st.integers(0, 200))
def test_fuzz_the_cache_reader(tmp_path: Path, edits, cut) -> None:
    from xpnet.datasets.mnist import _read_cached

    labels = np.arange(10000, dtype=np.uint8) % 10
    path = tmp_path / "t10k-labels-idx1-ubyte.npy"
    np.save(path, labels)
    path.write_bytes(mutated(path.read_bytes(), edits, cut))
    reads_safely(path, lambda p: _read_cached(p, LABELS, "labels"))


def test_abandoned_downloads_leave_nothing(isolated_cache: Path, mirror: Mirror,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """After the deadline, the download thread is abandoned: its file is gone and it writes no more."""
    xpnet.set_config(deadline_s=0.5)
    xpnet.set_config(mnist_mirrors=[mirror("drip")])
    with pytest.raises(xpnet.DataError, match=r"not complete within 0\.5 s"):
        load_array("test", "labels")
    time.sleep(0.5)  # the abandoned thread's next byte is refused, and nothing recreates the file
    assert [p for p in isolated_cache.rglob("*") if p.is_file()] == []


# --- pickles that try to change what they have built ----------------------------------------------------------

ALLOWED_GLOBALS = [("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                   ("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype")]
STATES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**40) | st.sampled_from(["<", ">", "|", "=", "f8", "O", "latin1"])
    | st.binary(max_size=16),
    lambda inner: (st.tuples(inner, inner) | st.lists(inner, min_size=4, max_size=9).map(tuple)
                   | st.dictionaries(st.sampled_from(["__defaults__", "__dict__", "__class__", "descr", "array",
                                                      "_function", "_loader", "budget"]), inner, max_size=3)),
    max_leaves=10,
)


def process_state() -> tuple[object, ...]:
    """What a pickle could have changed: the loader modules' functions and NumPy's float64 dtype."""
    functions = [value for module in (xpnet.io.weights, xpnet.io.pickles) for value in vars(module).values()
                 if callable(value)]
    functions += [member for cls in functions if isinstance(cls, type) for member in vars(cls).values()
                  if callable(member)]
    float64 = np.dtype("f8")
    return (tuple((getattr(f, "__defaults__", None), getattr(f, "__kwdefaults__", None),
                   dict(getattr(f, "__dict__", {}))) for f in functions),
            float64.names, float64.byteorder, float64.itemsize, float64.isbuiltin, np.zeros(2).sum())


@FUZZ
@given(target=st.sampled_from(ALLOWED_GLOBALS), state=STATES,
       built=st.sampled_from(["global", "dtype", "reconstructed array", "buffered array"]))
def test_fuzz_build_changes_nothing(tmp_path: Path, target: tuple[str, str], state: object, built: str) -> None:
    """A BUILD with any state, on a global itself or on what it built: DataError or plain arrays, and nothing in the
    process changed."""
    before = process_state()
    made = {"dtype": lambda: _Reduced(np.dtype, ("f8", False, True), state),
            "reconstructed array": lambda: _Reduced(RECONSTRUCT, (np.ndarray, (0,), b"b"), state),
            "buffered array": lambda: _Reduced(FROMBUFFER, (bytearray(8), np.dtype("f8"), (1,), "C"), state)}
    path = tmp_path / "build.pkl"
    path.write_bytes(build_global(*target, state) if built == "global" else pickle.dumps({"W1": made[built]()}))
    try:
        loaded = xpnet.load_weights(path, check=None)
    except xpnet.DataError as err:
        assert str(path) in str(err)
    else:
        assert all(type(value) is np.ndarray and value.dtype.kind == "f" for value in loaded.values())
    assert process_state() == before


def test_refused_pickles_change_nothing(tmp_path: Path, sample_weights) -> None:
    before = process_state()
    for content, _ in weights_cases(sample_weights).values():
        path = tmp_path / "bad.pkl"
        path.write_bytes(content)
        with pytest.raises(xpnet.DataError):
            xpnet.load_weights(path)
    assert process_state() == before


@pytest.mark.parametrize("kind", ["a FIFO", "a directory"])
@pytest.mark.parametrize("command", [["bench", "--json-out"], ["train", "--save"], ["export", "-o"]])
def test_outputs_that_are_not_files_are_refused_before_any_work(tmp_path: Path, data: list[str], kind: str,
                                                                command: list[str]) -> None:
    output = tmp_path / "out"
    output.write_bytes(b"")
    NOT_REGULAR[kind](output)
    started = time.monotonic()
    data = {"export": data[2:], "train": data[:2]}.get(command[0], data)  # export reads no images, train no weights
    result, peak = xpnet_cli(tmp_path, *command, str(output), *data, timeout=60)
    assert_one_line(result, peak, command[0], f"{output}: there already, and not a regular file")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("model", ["simple_convnet", "deep_convnet"])
def test_dask_convnets_keep_to_a_batch_of_memory(tmp_path: Path, mnist_dir: Path, model: str) -> None:
    """Each chunk's task scores its 1,000 images a CPU batch at a time: the whole pass stays in the budget."""
    pytest.importorskip("dask", reason="optional backend dask not installed: pip install 'xpnet[dask]'")
    result, peak = xpnet_cli(tmp_path, "infer", "--backend", "dask", "--model", model, "--data-dir", str(mnist_dir),
                             "--weights", str(SHARED_DATA / BOOK_FILES[model]), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] == BOOK_ACCURACY[model]
    assert peak < budget_mib(), f"{peak:.0f} MiB"


@FUZZ
@given(arrays=st.integers(1, 40), size=st.integers(1, 4096), protocol=st.sampled_from([2, 3, 4, 5]),
       shared=st.booleans())
def test_fuzz_memo_shared_arrays(tmp_path: Path, arrays: int, size: int, protocol: int, shared: bool) -> None:
    """Many keys that refer, through the pickle's memo, to one array (built once: it loads) or to one buffer
    that each key builds an array from (charged as if written out: it loads, each key with the values written,
    only while what is built stays within twice the file's size; otherwise one DataError). Memory stays
    bounded either way."""
    value = np.arange(size, dtype=np.float64)
    buffer = value.tobytes()
    weights = ({f"W{k}": value for k in range(arrays)} if shared
               else {f"W{k}": _Buffered(buffer, np.dtype("f8"), (size,), "C") for k in range(arrays)})
    data = pickle.dumps(weights, protocol=protocol)
    path = tmp_path / "memo.pkl"
    path.write_bytes(data)
    built = value.nbytes if shared else arrays * value.nbytes
    try:
        loaded = xpnet.load_weights(path, check=None)
    except xpnet.DataError as err:
        assert "makes more array data than the file holds" in str(err), err
        assert not shared and built > len(data)  # refused only when the arrays outweigh the file
    else:
        assert built <= 2 * len(data)
        assert sorted(loaded) == sorted(weights)
        for array in loaded.values():
            np.testing.assert_array_equal(array, value)
    reads_safely(path, lambda p: xpnet.load_weights(p, check=None))


@pytest.mark.slow
def test_the_largest_weights_file_accepted_costs_twice_its_size(tmp_path: Path, mnist_dir: Path) -> None:
    """A dense network just under the 128 MiB cap loads and scores: the file's bytes and its arrays while it is
    read, then the weights and their folded inference copy; with one small batch at a time the whole process
    peaks under the interpreter's own peak plus three times the file's size."""
    hidden = 41_000  # 784 x 41,000 float32 weights: 128.6 MB of the 134.2 MB cap
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npz"
    np.savez(path, W1=rng.standard_normal((784, hidden), dtype=np.float32) * 0.01, b1=np.zeros(hidden, np.float32),
             W2=rng.standard_normal((hidden, 10), dtype=np.float32) * 0.01, b2=np.zeros(10, np.float32))
    size_mib = path.stat().st_size / 2**20
    assert size_mib * 2**20 < xpnet.io.files.WEIGHTS_CAP
    result, peak = xpnet_cli(tmp_path, "infer", "--weights", str(path), "--data-dir", str(mnist_dir),
                             "--batch-size", "10", "--workers", "1", "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Accuracy:")
    assert peak < budget_mib() - MARGIN_MIB + 3 * size_mib, f"peak {peak:.0f} MiB for a {size_mib:.0f} MiB file"
