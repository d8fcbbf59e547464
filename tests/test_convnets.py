"""Chapters 7 and 8: the book's pretrained ConvNets at the book's accuracies, the registry, CLI, pictures."""

from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import xpnet
import xpnet.io.weights
from xpnet.models import MODELS
from xpnet_benchmarks.references import book_convnet_scores

from conftest import BOOK_ACCURACY, BOOK_FILES, ROOT, SHARED_DATA, book_file
from mirror import Mirror

BOOK = {name: (BOOK_ACCURACY[name], BOOK_FILES[name]) for name in ("simple_convnet", "deep_convnet")}


@pytest.fixture(scope="module", params=list(BOOK))
def convnet(request: pytest.FixtureRequest) -> tuple[str, float, Path]:
    return request.param, BOOK_ACCURACY[request.param], book_file(request.param)


@pytest.mark.parametrize("name", ["simple_convnet", pytest.param("deep_convnet", marks=pytest.mark.slow)])
def test_the_books_accuracy_in_float64(name: str, backend: xpnet.Backend, mnist_test) -> None:
    """Once per backend, at the model's batch for it (DeepConvNet on NumPy: the CLI test below)."""
    expected, path = BOOK_ACCURACY[name], book_file(name)
    model = MODELS[name]
    network = model.load(backend, path, "float64")
    images, labels = mnist_test
    score = xpnet.accuracy(network, backend.asarray(images), backend.asarray(labels), model.batch_size(backend),
                           workers=backend.workers)
    assert score == expected


def test_float32_within_five_images_in_ten_thousand(convnet, mnist_test) -> None:
    name, expected, path = convnet
    backend = xpnet.get_backend("cpu")
    images, labels = mnist_test
    network = MODELS[name].load(backend, path)
    assert network.dtype == np.float32
    assert abs(xpnet.accuracy(network, images, labels, 32, workers=backend.workers) - expected) <= 0.0005


@pytest.mark.slow
def test_half_precision_as_the_books_experiment(mnist_test) -> None:
    """ch08/half_float_network.py: parameters and input in float16 (on 500 images: NumPy's float16 is slow)."""
    _, path = BOOK["deep_convnet"]
    backend = xpnet.get_backend("cpu")
    images, labels = mnist_test[0][:500], mnist_test[1][:500]
    half = MODELS["deep_convnet"].load(backend, SHARED_DATA / path, "float16")
    assert half.dtype == np.float16 and half.predict(images[:2]).dtype == np.float16
    full = MODELS["deep_convnet"].load(backend, SHARED_DATA / path, "float64")
    assert abs(xpnet.accuracy(half, images, labels, 100) - xpnet.accuracy(full, images, labels, 100)) <= 0.002


def test_a_convnet_predicts_like_its_layers(convnet, mnist_test) -> None:
    """predict on flat uint8 rows equals the book's layer-by-layer pass on (N, 1, 28, 28) floats, to the bit
    (predict rectifies after pooling, not before)."""
    name, _, path = convnet
    network = MODELS[name].load(xpnet.get_backend("cpu"), path, "float64")
    pixels = mnist_test[0][:5]
    a = pixels.reshape(5, 1, 28, 28) / 255.0
    for layer in network.layers.values():
        a = layer.forward(a)
    np.testing.assert_array_equal(network.predict(pixels), a)


def test_weights_never_seen_classify_as_the_books_layers_do(convnet, mnist_test, tmp_path: Path) -> None:
    """The book's weights with noise added (a file no test has seen), saved as the book's save_params does:
    ``xpnet infer`` in float64 classifies 1,000 images exactly as the book's layers restated independently
    (xpnet_benchmarks.references.book_convnet_scores, whose predictions serve as the labels) do."""
    name, _, path = convnet
    with open(path, "rb") as f:
        params = pickle.load(f)
    rng = np.random.default_rng(7)
    params = {key: value + rng.standard_normal(value.shape) * 0.2 * value.std() for key, value in params.items()}
    weights = tmp_path / "params.pkl"
    with open(weights, "wb") as f:
        pickle.dump(params, f)
    images = mnist_test[0][:1000]
    structure = MODELS[name].network(xpnet.get_backend("cpu"), dtype="float64")
    scores = np.concat([book_convnet_scores(structure, params, images[i : i + 100].reshape(-1, 1, 28, 28) / 255.0)
                        for i in range(0, 1000, 100)])
    predicted = np.argmax(scores, axis=1)
    assert np.mean(predicted == mnist_test[1][:1000]) > 0.9  # still a classifier: ten classes predicted
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "t.npy", predicted)
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--model", name, "--dtype", "float64", "--weights", str(weights),
         "--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "t.npy"), "--json", "--quiet"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] == 1.0


def test_the_cli_prints_the_books_accuracy(mnist_dir: Path) -> None:
    _, path = BOOK["deep_convnet"]
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--model", "deep_convnet", "--dtype", "float64", "--data-dir",
         str(mnist_dir), "--weights", str(SHARED_DATA / path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Accuracy:0.9935"
    assert "deep_convnet in float64" in result.stdout


def test_the_cli_on_device1(mnist_dir: Path) -> None:
    _, path = BOOK["simple_convnet"]
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--model", "simple_convnet", "--dtype", "float64", "--backend",
         "array_api_strict", "--device", "device1", "--data-dir", str(mnist_dir), "--weights",
         str(SHARED_DATA / path), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["accuracy"] == 0.989 and report["model"] == "simple_convnet" and report["dtype"] == "float64"


def test_weights_of_another_model_are_refused(mnist_dir: Path, weights_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--model", "simple_convnet", "--data-dir", str(mnist_dir),
         "--weights", str(weights_path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (f"xpnet infer: error: {weights_path}: not chapter 7's SimpleConvNet's weights: W1 has "
                             "shape (784, 50), not this network's (30, 1, 5, 5)\n")


def test_default_downloads_are_pinned_to_the_books_commit(convnet, isolated_cache: Path) -> None:
    """The URL names the 2016 commit; a file that is not the pinned one (master's retrained) is refused."""
    name, _, path = convnet
    book = MODELS[name].weights
    assert book.url.startswith("https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/"
                               "0dda3d1715e2431b76eb4089b60881948853ba2a/")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == book.sha256 and path.stat().st_size == book.size
    retrained = path.read_bytes() + b"\n"  # other bytes, as master's retrained files are
    server = Mirror({book.path: path.read_bytes()})
    try:
        original = xpnet.get_config().weights_base_url
        xpnet.set_config(weights_base_url=server("good"))
        network = MODELS[name].load(xpnet.get_backend("cpu"))
        original_w1 = xpnet.load_weights(path, check=None)["W1"]
        np.testing.assert_array_equal(network.params["W1"], original_w1.astype(np.float32))
        assert server.hits == {f"/good/{book.path}": 1}
        (isolated_cache / "book" / book.path).unlink()
        server.files[book.path] = retrained
        with pytest.raises(xpnet.DataError, match=f"is not the book's {book.path}"):
            MODELS[name].load(xpnet.get_backend("cpu"))
    finally:
        xpnet.set_config(weights_base_url=original)
        server.close()


def test_filters_picture(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "filters.png"
    _, path = BOOK["simple_convnet"]
    result = subprocess.run(
        [sys.executable, "scripts/visualize_filter.py", "--model", "simple_convnet", "--weights",
         str(SHARED_DATA / path), "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "30 first-layer filters of simple_convnet, random and learned" in result.stdout
    with Image.open(out) as image:
        assert image.size == (1000, 500)
        grey = np.asarray(image.convert("L"))
    left, right = grey[:, :500], grey[:, 500:]
    assert left.std() > 10 and right.std() > 10 and not np.array_equal(left, right)


def test_misclassified_by_deep_convnet(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "wrong.png"
    _, path = BOOK["deep_convnet"]
    result = subprocess.run(
        [sys.executable, "scripts/misclassified_mnist.py", "--model", "deep_convnet", "--weights",
         str(SHARED_DATA / path), "--data-dir", str(mnist_dir), "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "16 of the 65 test images predicted wrong" in result.stdout  # the book's 0.9935 of 10,000 right
    assert out.stat().st_size > 10_000
