"""MNIST loading from the shared test files, and the book's accuracy on every backend and batch size."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.datasets.mnist import load_array, load_mnist, load_split


def raw_idx(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_test_split_shapes_and_values(mnist_dir: Path) -> None:
    raw_images = raw_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    raw_labels = raw_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    x, t = load_split("test", data_dir=mnist_dir)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert t.shape == (10000,) and t.dtype == np.uint8
    # independent decoding: the IDX payload follows a 16-byte (images) / 8-byte (labels) header
    np.testing.assert_array_equal(x[1], np.frombuffer(raw_images[16 + 784 : 16 + 2 * 784], np.uint8) / np.float32(255))
    assert t[:5].tolist() == list(raw_labels[8:13]) == [7, 2, 1, 0, 4]
    assert x.min() >= 0.0 and x.max() == 1.0


def test_book_options(mnist_dir: Path) -> None:
    x, t = load_split("test", normalize=False, flatten=False, one_hot_label=True, data_dir=mnist_dir)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.uint8
    assert t.shape == (10000, 10) and t[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert t.dtype == np.float64 and (-t).min() == -1.0  # the book's one-hot labels: float64, so -t is -1, not 255


def test_data_dir_from_environment(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPNET_DATA_DIR", str(mnist_dir))
    assert load_array("test", "labels").shape == (10000,)


# SHA-256 of each file's decompressed content, as MNIST loaders pin them (../shared/data/README.md)
CONTENT_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}


@pytest.mark.slow
def test_load_mnist_reads_the_whole_training_split(mnist_dir: Path, tmp_path: Path) -> None:
    """Re-compressed copies are accepted by their content, and so are the uncompressed IDX files."""
    import gzip
    import hashlib

    raw = tmp_path / "raw"
    raw.mkdir()
    for name, digest in CONTENT_SHA256.items():
        content = gzip.decompress((mnist_dir / f"{name}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == digest
        (raw / name).write_bytes(content)
    for t10k in mnist_dir.glob("t10k-*"):
        (raw / t10k.name).write_bytes(t10k.read_bytes())
    for folder in (mnist_dir, raw):
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, data_dir=folder)
        assert t_test.shape == (10000,)
        assert x_train.shape == (60000, 784) and t_train.shape == (60000,) and x_test.shape == (10000, 784)
        content = gzip.decompress((mnist_dir / "train-labels-idx1-ubyte.gz").read_bytes())
        np.testing.assert_array_equal(t_train, np.frombuffer(content, np.uint8, offset=8))
        assert x_train.dtype == np.uint8 and int(x_train[0].sum()) == sum(
            gzip.decompress((mnist_dir / "train-images-idx3-ubyte.gz").read_bytes())[16 : 16 + 784])


@pytest.mark.parametrize("batch_size", [1, 100, 10000])
def test_book_accuracy_at_any_batch_size(batch_size: int, mnist_test, sample_weights) -> None:
    images, labels = mnist_test
    assert xpnet.accuracy(sample_weights, images, labels, batch_size) == 0.9352


@pytest.mark.parametrize(("batch_size", "workers"), [(500, 2), (333, 3), (10000, 2)])
def test_book_accuracy_with_workers(batch_size: int, workers: int, mnist_test,
                                    sample_weights) -> None:
    """Batches shared among threads: the same count, and every image reported to ``progress`` once."""
    images, labels = mnist_test
    network, x, t = sample_weights, images, labels
    done: list[int] = []
    assert xpnet.accuracy(network, x, t, batch_size, workers=workers, progress=done.append) == 0.9352
    assert sum(done) == 10000 and len(done) == -(-10000 // batch_size)


def test_a_failing_worker_stops_the_others(mnist_test, sample_weights) -> None:
    """An exception in one share (here from ``progress``, as a Ctrl-C in tqdm would be) ends the whole pass."""
    images, labels = mnist_test
    calls: list[int] = []

    def progress(size: int) -> None:
        calls.append(size)
        if len(calls) == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        xpnet.accuracy(sample_weights, images, labels, 10, workers=2, progress=progress)
    assert len(calls) < 100  # of 1,000 batches: the other worker stopped too


def test_book_accuracy_on_normalized_float32(mnist_dir: Path, sample_weights) -> None:
    x, t = load_split("test", data_dir=mnist_dir)
    assert xpnet.accuracy(sample_weights, x, t) == 0.9352
