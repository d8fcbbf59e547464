"""Weights files: the book's pickle, .npz round trips, and pickles that must not run."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet


def test_book_weights_have_the_books_shapes(sample_weights: dict[str, np.ndarray]) -> None:
    shapes = {key: value.shape for key, value in sample_weights.items()}
    assert shapes == {"W1": (784, 50), "b1": (50,), "W2": (50, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}
    assert all(value.dtype == np.float32 for value in sample_weights.values())


def test_npz_round_trip(tmp_path: Path, sample_weights: dict[str, np.ndarray]) -> None:
    path = tmp_path / "weights.npz"
    xpnet.save_weights(path, sample_weights)
    loaded = xpnet.load_weights(path)
    assert loaded.keys() == sample_weights.keys()
    for key, value in sample_weights.items():
        np.testing.assert_array_equal(loaded[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]  # no temporary left behind


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_load_the_same_arrays(tmp_path: Path, sample_weights, protocol: int) -> None:
    """The book's ``save_params`` is ``pickle.dump`` at Python's default protocol: 3 when the book's files were
    written, 4 from Python 3.8, 5 from 3.14. Protocol 5 writes a Fortran-ordered array another way."""
    network = dict(sample_weights, W2=np.asfortranarray(sample_weights["W2"]), b3=sample_weights["b3"].astype(">f8"))
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(network, protocol=protocol))
    loaded = xpnet.load_weights(path)
    assert loaded.keys() == network.keys()
    for key, value in network.items():
        # the byte order survives in protocol 5 only, in NumPy's own unpickling too
        assert loaded[key].dtype.newbyteorder("=") == value.dtype.newbyteorder("=") and loaded[key].flags.writeable
        np.testing.assert_array_equal(loaded[key], value)


def test_a_protocol_5_pickle_gives_the_books_accuracy(tmp_path: Path, mnist_dir: Path, sample_weights) -> None:
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(sample_weights, protocol=5))
    result = subprocess.run([sys.executable, "-m", "xpnet", "infer", "--data-dir", str(mnist_dir), "--weights",
                             str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Accuracy:0.9352" in result.stdout.splitlines()


def test_weights_from_the_environment(monkeypatch: pytest.MonkeyPatch, weights_path: Path) -> None:
    monkeypatch.setenv("XPNET_WEIGHTS", str(weights_path))
    assert xpnet.load_weights()["W1"].shape == (784, 50)


class _Payload:
    """Unpickling this calls os.system: a weights file must never get that far."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.zeros((2, 2)), "b1": _Payload(marker)}))
    with pytest.raises(xpnet.DataError, match=r"evil\.pkl: not a weights file .*(posix|nt)\.system"):
        xpnet.load_weights(path)
    assert not marker.exists()


def test_npz_with_object_arrays_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, W1=np.array([{"a": 1}], dtype=object), b1=np.zeros(1))
    with pytest.raises(xpnet.DataError, match=r"objects\.npz: holds Python objects"):
        xpnet.load_weights(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda n: n.pop("b3"), "network lacks b3"),
        (lambda n: n.update(W2=np.zeros((49, 100), np.float32)), "W2 has 49 rows but W1 has 50 columns"),
        (lambda n: n.update(W3=n["W3"].astype(np.int32)), "W3 has dtype int32"),
        (lambda n: n["b2"].__setitem__(7, np.nan), "b2 holds NaN or infinite values"),
    ],
)
def test_bad_weights_files_name_the_key(tmp_path: Path, sample_weights, change, message: str) -> None:
    network = {key: value.copy() for key, value in sample_weights.items()}
    change(network)
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(network))
    with pytest.raises(xpnet.DataError, match=rf"bad\.pkl: {message}"):
        xpnet.load_weights(path)


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"<html>404</html>", pickle.dumps([1, 2])])
def test_garbage_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pkl"
    path.write_bytes(content)
    with pytest.raises(xpnet.DataError, match=r"garbage\.pkl: "):
        xpnet.load_weights(path)


def test_save_refuses_a_broken_network_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.npz"
    with pytest.raises(xpnet.DataError, match="network lacks b1"):
        xpnet.save_weights(path, {"W1": np.zeros((2, 2))})
    assert list(tmp_path.iterdir()) == []
