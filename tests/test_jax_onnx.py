"""Write once, compile and export: JAX as a backend, and every network exported to ONNX from the same code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.models import MODELS

from conftest import BOOK_ACCURACY, ROOT
from conftest import book_file as weights_of


def need(*modules: str) -> None:
    for module in modules:
        extra = "jax" if module == "jax" else "onnx"
        pytest.importorskip(module, reason=f"{module} is not installed: pip install 'xpnet[{extra}]'")


def xpnet_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "error", "-m", "xpnet", *args], capture_output=True, text=True,
                          cwd=ROOT, check=False, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("x64", ["0", "1"])
def test_infer_on_jax_prints_the_books_accuracy(mnist_dir: Path, x64: str) -> None:
    """JAX's 64-bit mode off (its default: 32-bit integers) and on; warnings are errors, so none is raised."""
    need("jax")
    result = xpnet_cli("infer", "--backend", "jax", "--data-dir", str(mnist_dir), "--weights",
                       str(weights_of("mlp")), env={"JAX_ENABLE_X64": x64})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Accuracy:0.9352" and result.stderr == ""
    timing = re.search(r": (\d+\.\d+) s \((\d+\.\d+) s of it compiling\), ", result.stdout.splitlines()[1])
    assert timing and 0 < float(timing[2]) <= float(timing[1]), result.stdout  # the first batch pays for it


def test_float64_without_jaxs_64_bit_mode_is_one_line(mnist_dir: Path) -> None:
    need("jax")
    result = xpnet_cli("infer", "--backend", "jax", "--dtype", "float64", "--data-dir", str(mnist_dir),
                       env={"JAX_ENABLE_X64": "0"})
    assert result.returncode == 2
    assert result.stderr == ("xpnet infer: error: jax on cpu:0 has no float64 (turn on JAX's 64-bit mode: "
                             "JAX_ENABLE_X64=1)\n")


def test_a_float64_file_on_jax_without_64_bit_mode_names_both_ways_out(tmp_path: Path, mnist_dir: Path) -> None:
    need("jax")
    saved = tmp_path / "w.npz"
    weights = {key: value.astype(np.float64) for key, value in xpnet.load_weights(weights_of("mlp")).items()}
    xpnet.io.weights.save_weights(saved, weights, about={"model": "mlp", "dtype": "float64"})
    env = {"JAX_ENABLE_X64": "0"}
    result = xpnet_cli("infer", "--backend", "jax", "--weights", str(saved), "--data-dir", str(mnist_dir), env=env)
    assert result.returncode == 2 and result.stderr == (
        "xpnet infer: error: jax on cpu:0 has no float64 (turn on JAX's 64-bit mode: JAX_ENABLE_X64=1); "
        f"{saved} was trained in float64 (--dtype float32 scores it in float32)\n")
    result = xpnet_cli("infer", "--backend", "jax", "--weights", str(saved), "--data-dir", str(mnist_dir), "--dtype",
                       "float32", env=env)
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "Accuracy:0.9352", result.stderr


@pytest.mark.slow
def test_jax_equals_numpy(mnist_test) -> None:
    """The same scores and classes on JAX as on NumPy, for every model; the ConvNets at the book's accuracy."""
    need("jax")
    images, labels = mnist_test
    jax_backend, numpy_backend = xpnet.get_backend("jax"), xpnet.get_backend("cpu")
    for name, model in MODELS.items():
        on_jax = model.load(jax_backend, weights_of(name))
        on_numpy = model.load(numpy_backend, weights_of(name))
        x = images[:200]
        np.testing.assert_allclose(xpnet.to_numpy(xpnet.predict(on_jax, jax_backend.asarray(x))),
                                   xpnet.predict(on_numpy, x), atol=2e-6, err_msg=name)
        if name != "deep_convnet":  # the test set on DeepConvNet takes JAX half a minute to compile and run here
            score = xpnet.accuracy(on_jax, jax_backend.asarray(images), jax_backend.asarray(labels),
                                   model.batch_size(jax_backend))
            assert abs(score - BOOK_ACCURACY[name]) <= 0.0005, name


def test_jax_compiles_each_batch_shape_once_and_never_uses_stale_weights(mnist_test) -> None:
    need("jax")
    images, labels = mnist_test
    backend = xpnet.get_backend("jax")
    host = xpnet.load_weights(weights_of("mlp"))
    weights = backend.asarrays(host)
    x, t = backend.asarray(images), backend.asarray(labels)
    assert xpnet.accuracy(weights, x, t, 1000) == 0.9352
    zeroed = dict(weights, W3=weights["W3"] * 0)  # every image's scores are b3: the class is argmax(b3)
    assert xpnet.accuracy(zeroed, x, t, 1000) == float(np.mean(labels == np.argmax(host["b3"])))
    assert xpnet.accuracy(weights, x, t, 1000) == 0.9352


def test_jax_compiles_one_pass_for_every_batch_the_short_last_one_too(mnist_test, monkeypatch) -> None:
    """Every batch has one shape (scoring takes each from the whole arrays, the last one's rows past the end
    counted nowhere; predictions pad the last batch): one compilation a pass; fewer samples than a batch are
    one batch of their own size."""
    need("jax")
    from xpnet import scoring

    traced: list[tuple[str, int]] = []

    def counted(name: str):
        original = getattr(scoring, name)

        def counting(*args, **kwargs):
            traced.append((name, kwargs.get("size", args[2].shape[0])))  # (network, weights, images, ...): a trace
            return original(*args, **kwargs)

        return counting

    for name in ("_bound_count", "_bound_result"):
        monkeypatch.setattr(scoring, name, counted(name))
    images, labels = mnist_test
    x, t = images[:1050], labels[:1050]
    weights = xpnet.load_weights(weights_of("mlp"))
    a = x / 255.0  # the book's forward, in float64
    for k in (1, 2):
        a = 1 / (1 + np.exp(-(a @ weights[f"W{k}"] + weights[f"b{k}"])))
    expected = np.argmax(a @ weights["W3"] + weights["b3"], axis=1)
    backend = xpnet.get_backend("jax")
    network = MODELS["mlp"].load(backend, weights_of("mlp"))
    result = scoring.score(network, backend.asarray(x), backend.asarray(t), 100)
    assert (result.images, result.correct) == (1050, int(np.sum(expected == t)))
    assert result.class_images == tuple(int(np.sum(t == k)) for k in range(10))
    assert result.class_correct == tuple(int(np.sum((expected == t) & (t == k))) for k in range(10))
    np.testing.assert_array_equal(scoring.predicted_labels(network, backend.asarray(x), 100), expected)
    np.testing.assert_array_equal(scoring.predicted_labels(network, backend.asarray(x[:3]), 100), expected[:3])
    assert traced == [("_bound_count", 100), ("_bound_result", 100), ("_bound_result", 3)]


@pytest.mark.slow
def test_training_on_jax() -> None:
    """Immutable arrays: parameters are rebound, the numerical gradient never writes; backprop agrees with it."""
    need("jax")
    import jax

    from xpnet.train import SGD, MultiLayerNet, SimpleConvNet

    with jax.enable_x64(True):
        backend = xpnet.get_backend("jax")
        rng = np.random.default_rng(0)
        for net, shape in ((MultiLayerNet(6, [5], 3, seed=0, backend=backend, dtype="float64"), (4, 6)),
                           (SimpleConvNet((1, 6, 6), {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1},
                                          hidden_size=4, output_size=3, weight_init_std=0.5, seed=0, backend=backend,
                                          dtype="float64"),  # large weights: no unit near a ReLU kink
                            (2, 1, 6, 6))):
            x, t = backend.asarray(rng.standard_normal(shape)), backend.asarray(np.array([0, 2, 1, 2][: shape[0]]))
            grads, numerical = net.gradient(x, t), net.numerical_gradient(x, t)
            on_numpy = net.to("cpu").gradient(xpnet.to_numpy(x), xpnet.to_numpy(t))
            net.to(backend)
            for key in grads:
                np.testing.assert_allclose(xpnet.to_numpy(grads[key]), on_numpy[key], rtol=1e-10, atol=1e-12)
                np.testing.assert_allclose(xpnet.to_numpy(grads[key]), xpnet.to_numpy(numerical[key]), rtol=5e-3,
                                           atol=1e-4)
            before = float(net.loss(x, t))
            for _ in range(20):
                SGD(0.1).update(net.params, net.gradient(x, t))
            assert float(net.loss(x, t)) < before


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name == "deep_convnet" else [])
                                  for name in MODELS])
def test_exported_models_score_as_xpnet(tmp_path: Path, mnist_test, name: str) -> None:
    """ONNX Runtime on the exported graph: the model's accuracy exactly, probabilities within 1e-6 of xpnet's."""
    need("ndonnx", "onnx", "onnxruntime")
    import onnx
    import onnxruntime

    from xpnet.export import onnx_model, save_onnx

    images, labels = mnist_test
    model = MODELS[name]
    network = model.load(xpnet.get_backend("array_api_strict:device1"), weights_of(name))  # weights on any backend
    path = tmp_path / f"{name}.onnx"
    save_onnx(onnx_model(model, network), path)
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # a dynamic batch axis
    probabilities, predicted = onnxruntime.InferenceSession(str(path)).run(None, {"images": images})
    assert float(np.mean(predicted == labels)) == BOOK_ACCURACY[name]
    host = model.load(xpnet.get_backend("cpu"), weights_of(name))
    np.testing.assert_allclose(probabilities[:500], xpnet.predict(host, images[:500]), atol=1e-6)


def test_export_command_and_the_readme_snippet(tmp_path: Path, mnist_dir: Path) -> None:
    """``xpnet export -o m.onnx``, then the README's three lines of ONNX Runtime, as a user runs them."""
    need("ndonnx", "onnx", "onnxruntime")
    exported = subprocess.run([sys.executable, "-m", "xpnet", "export", "-o", "m.onnx", "--weights",
                               str(weights_of("mlp"))], capture_output=True, text=True, cwd=tmp_path, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert exported.returncode == 0, exported.stderr
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("```python\nimport onnxruntime")[1].split("```")[0]
    scored = subprocess.run([sys.executable, "-c", "import onnxruntime" + snippet], capture_output=True, text=True,
                            cwd=tmp_path, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "XPNET_DATA_DIR": str(mnist_dir)})
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.strip() == "Accuracy: 0.9352"


@pytest.mark.slow
def test_export_with_float_input(tmp_path: Path, mnist_test) -> None:
    need("ndonnx", "onnx", "onnxruntime")
    import onnxruntime

    out = tmp_path / "f.onnx"
    result = subprocess.run([sys.executable, "-m", "xpnet", "export", "--model", "simple_convnet", "--input",
                             "float32", "--weights", str(weights_of("simple_convnet")), "-o", str(out)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    images, labels = mnist_test
    (predicted,) = onnxruntime.InferenceSession(str(out)).run(["label"], {"images": images / np.float32(255)})
    assert float(np.mean(predicted == labels)) == 0.989


def test_bench_has_the_jax_and_onnx_rows(tmp_path: Path, mnist_dir: Path) -> None:
    need("jax", "ndonnx", "onnx", "onnxruntime")
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--tile", "1", "--repeats", "1", "--no-torch", "--data-dir",
         str(mnist_dir), "--weights", str(weights_of("mlp")), "--json-out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["accuracy"]["JAX (jit)"] == report["accuracy"]["ONNX Runtime"] == 0.9352
    assert {"JAX (jit)", "ONNX Runtime"} <= set(report["methods"])


def test_a_compiled_pass_scores_with_the_running_statistics_of_the_moment() -> None:
    """Batch normalization's running statistics are arguments of JAX's compiled passes, like the weights: a pass
    compiled before training scores with the statistics that training left, not with those it saw then."""
    need("jax")
    from xpnet.scoring import predicted_labels, probabilities
    from xpnet.train import MultiLayerNetExtend

    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((40, 6)).astype(np.float32), rng.integers(0, 3, 40)
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=1, backend="jax")
    images = net.backend.asarray(x)
    probabilities(net, images)  # compiled here, with no statistics yet
    predicted_labels(net, images)
    for _ in range(3):
        net.gradient(x, t)
    arrays = {key: np.asarray(value, dtype=np.float64) for key, value in net.arrays.items()}
    a = x @ arrays["W1"] + arrays["b1"]  # the book's inference formulas, restated
    hidden = np.maximum(arrays["gamma1"] * (a - arrays["running_mean1"]) / np.sqrt(arrays["running_var1"] + 10e-7)
                        + arrays["beta1"], 0)
    scores = hidden @ arrays["W2"] + arrays["b2"]
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities(net, images), expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-4, atol=1e-6)
    assert net.accuracy(images, net.backend.asarray(t)) == np.mean(np.argmax(scores, axis=1) == t)
