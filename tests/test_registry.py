"""The registry is the one place a model is named: a model registered here is inferred, exported and benched by
the commands, and a network that is no longer used is freed on every backend."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.cli import main
from xpnet.models import MODELS, ModelEntry, register
from xpnet.nn import Affine, Model, Relu
from xpnet.train import TwoLayerNet


class TinyNet(Model):
    """A 784-16-10 network with a ReLU: what a new model's own module would hold."""

    def __init__(self, *, seed: int | None = None, backend: xpnet.Backend | str = "cpu", dtype: object = None) -> None:
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = (784,)
        self.add("Affine1", Affine(self.noise((784, 16), 0.1), self.noise((16,), 0.1)), 1)
        self.add("Relu1", Relu())
        self.add("Affine2", Affine(self.noise((16, 10), 0.5), self.noise((10,), 0.1)), 2)


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """TinyNet registered (for this test only) and its weights saved as the book's ``save_params`` does."""
    register(ModelEntry("tiny", "a 784-16-10 test network", TinyNet, (784,), 10, weights=None,
                        batch={"cpu": 250, "gpu": 1000, "chunks": 1000}))
    path = tmp_path / "tiny.pkl"
    TinyNet(seed=3, dtype="float64").save_params(str(path))
    yield path
    del MODELS["tiny"]


def restated_labels(weights: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """The network's argmax restated: relu(x W1 + b1) W2 + b2, x = pixels / 255, float64."""
    hidden = np.maximum(images / 255.0 @ weights["W1"] + weights["b1"], 0)
    return np.argmax(hidden @ weights["W2"] + weights["b2"], axis=1)


def test_a_registered_model_is_inferred_exported_and_benched(tiny: Path, mnist_dir: Path, mnist_test, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    images, labels = mnist_test
    weights = xpnet.load_weights(tiny, check=None)
    expected = float(np.mean(restated_labels(weights, images) == labels))
    assert 0.05 < expected < 0.95  # random weights: neither trivial nor learned

    assert main(["infer", "--model", "tiny", "--weights", str(tiny), "--dtype", "float64", "--data-dir",
                 str(mnist_dir), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == expected

    onnxruntime = pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "tiny.onnx"
    assert main(["export", "--model", "tiny", "--weights", str(tiny), "--dtype", "float64", "-o", str(onnx_path)]) == 0
    assert "(N, 784)" in capsys.readouterr().out
    session = onnxruntime.InferenceSession(onnx_path.read_bytes())
    np.testing.assert_array_equal(session.run(["label"], {"images": images[:500]})[0],
                                  restated_labels(weights, images[:500]))

    report = tmp_path / "bench.json"
    assert main(["bench", "--model", "tiny", "--weights", str(tiny), "--data-dir", str(mnist_dir), "--repeats", "1",
                 "--no-torch", "--json-out", str(report), "--quiet"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert json.loads(report.read_text())["flops_per_image"] == 2 * (784 * 16 + 16 * 10)


def test_a_model_without_published_weights_asks_for_them(tiny: Path, mnist_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", "--model", "tiny", "--data-dir", str(mnist_dir)]) == 2
    assert "tiny has no published weights: give a weights file (--weights)" in capsys.readouterr().err


def test_a_scored_network_is_freed(backend: xpnet.Backend, mnist_test) -> None:
    """Compiled copies of the pass (JAX's jit) go with the network: nothing in xpnet keeps a scored network."""
    images, labels = mnist_test
    net = TwoLayerNet(784, 20, 10, seed=0, backend=backend)
    xpnet.accuracy(net, backend.asarray(images[:300]), backend.asarray(labels[:300]), 100)
    freed = weakref.ref(net)
    del net
    gc.collect()
    assert freed() is None


def test_each_kind_of_backend_takes_its_own_batch(backend: xpnet.Backend) -> None:
    """A library that spreads each call over the cores with threads of its own (PyTorch, JAX on the CPU) is given
    the model's ``pool`` batch, ``cpu``'s where the model names none; NumPy, whose workers take a batch a core, and
    array-api-strict the ``cpu`` batch; GPUs and dask their own."""
    mlp, tiny = MODELS["mlp"], ModelEntry("tiny", "a test network", TinyNet, (784,), 10, weights=None,
                                          batch={"cpu": 250, "gpu": 1000, "chunks": 3000})
    kind = ("chunks" if backend.name == "dask" else "gpu" if backend.on_gpu
            else "pool" if backend.name in ("torch", "jax") else "cpu")
    assert backend.kind == kind
    assert mlp.batch_size(backend) == mlp.batch[kind]
    assert tiny.batch_size(backend) == tiny.batch["cpu" if kind == "pool" else kind]
    assert mlp.batch_size(xpnet.get_backend(backend, batch_size=7)) == 7
