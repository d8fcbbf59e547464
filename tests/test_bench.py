"""The benchmark as a smoke test: every method runs and agrees on the book's accuracy (no speed asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT


@pytest.mark.parametrize("backend", ["numpy", pytest.param("array_api_strict:device1", marks=pytest.mark.slow)])
def test_bench_smoke(tmp_path: Path, mnist_dir: Path, weights_path: Path, backend: str) -> None:
    out = tmp_path / "bench.json"
    name, _, device = backend.partition(":")
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--backend", name, "--device", device or "cpu", "--tile", "1",
         "--repeats", "1", "--data-dir", str(mnist_dir), "--weights", str(weights_path), "--json-out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == 10000
    assert {"xpnet", "chapter loop", "BLAS floor"} <= set(report["methods"])
    assert ("xpnet on NumPy" in report["methods"]) == (name != "numpy")  # another CPU library beside NumPy
    assert set(report["accuracy"].values()) == {0.9352}
    for name in report["methods"]:
        assert name in result.stdout
        assert report["methods"][name]["images_per_s"] > 0


def test_bench_json_prints_the_report(mnist_dir: Path, weights_path: Path) -> None:
    """--json means what it means on every command: one JSON object on stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "bench", "--tile", "1", "--repeats", "1", "--no-torch", "--json",
         "--data-dir", str(mnist_dir), "--weights", str(weights_path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 10000 and set(report["accuracy"].values()) == {0.9352}


@pytest.mark.parametrize(("model", "images", "recipe"), [
    ("mlp", 10_000, "sgd (lr 0.1)"),
    *(pytest.param(model, 1_000, "adam (lr 0.001)", marks=pytest.mark.slow) for model in ("simple_convnet",
                                                                                        "deep_convnet"))])
def test_bench_train_times_xpnet_the_book_and_pytorch(tmp_path: Path, mnist_dir: Path, model: str, images: int,
                                                      recipe: str) -> None:
    out = tmp_path / "train.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--train", "--model", model, "--repeats", "1", "--data-dir",
         str(mnist_dir), "--json-out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == images and report["model"] == model
    assert {"xpnet", "the book's layers"} <= set(report["methods"])
    assert all(method["images_per_s"] > 0 for method in report["methods"].values())
    shape = " (784-50-100-10, sigmoid)" if model == "mlp" else ""  # chapter 3's network, as bench trains it
    assert f"training {model}{shape}: one epoch of {recipe} over {images:,} images, batch 100" in result.stdout


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_bench_train_takes_a_dense_networks_shape(tmp_path: Path, mnist_dir: Path, backend: str) -> None:
    """Chapter 5's network (784-50-10 with ReLU) as ``train`` shapes it: the report names it and counts its
    products, forward and backward: 3 x 2 x (784 x 50 + 50 x 10) per image. On another library's CPU, xpnet on
    NumPy is timed in the same run."""
    pytest.importorskip(backend, reason=f"optional backend {backend} not installed: pip install 'xpnet[{backend}]'")
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--train", "--sizes", "784,50,10", "--activation", "relu", "--repeats",
         "1", "--no-torch", "--backend", backend, "--data-dir", str(mnist_dir), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sizes"] == [784, 50, 10] and report["activation"] == "relu" and report["backend"] == backend
    assert report["flops_per_image"] == 3 * 2 * (784 * 50 + 50 * 10)
    assert set(report["methods"]) == {"xpnet", "the book's layers"} | ({"xpnet on NumPy"} if backend != "numpy"
                                                                        else set())


@pytest.mark.slow
def test_bench_sweep_smoke(tmp_path: Path, mnist_dir: Path, weights_path: Path) -> None:
    """The GPU report's sweep over 10^3 .. 10^6 images, run here on the CPU to prove the code path."""
    out = tmp_path / "sweep.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--sweep", "--no-torch", "--tile", "1", "--repeats", "1",
         "--data-dir", str(mnist_dir), "--weights", str(weights_path), "--json-out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    sweep = json.loads(out.read_text())["sweep"]
    assert [row["images"] for row in sweep] == [10**3, 10**4, 10**5, 10**6]
    for row in sweep:
        assert row["input_GB_per_s"] == pytest.approx(row["images"] * 784 / row["seconds"] / 1e9)


@pytest.mark.parametrize("source", ["data-dir", "npy"])
def test_chapter_baseline_gets_the_books_accuracy(tmp_path: Path, mnist_dir: Path, weights_path: Path, mnist_test,
                                                  source: str) -> None:
    """The chapter's approach that the README's memory table measures, from the .gz files or from .npy files."""
    if source == "npy":
        images, labels = mnist_test
        np.save(tmp_path / "x.npy", images.reshape(-1, 28, 28))
        np.save(tmp_path / "t.npy", labels)
        data = ["--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "t.npy")]
    else:
        data = ["--data-dir", str(mnist_dir)]
    result = subprocess.run([sys.executable, "scripts/chapter_baseline.py", *data, "--weights", str(weights_path)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Accuracy:0.9352"]


@pytest.mark.slow
def test_convnet_bench_smoke(tmp_path: Path, mnist_dir: Path) -> None:
    """xpnet, the book's layers (and PyTorch when installed) on 1,000 images, with GFLOP/s from the layer shapes."""
    out = tmp_path / "conv.json"
    params = Path(mnist_dir).parent / "ch07" / "params.pkl"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--model", "simple_convnet", "--repeats", "1", "--data-dir",
         str(mnist_dir), "--weights", str(params), "--json-out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    # conv 30 x 5x5 over 24x24 positions, Affine 4320 x 100, Affine 100 x 10: two flops per multiply-add
    assert report["flops_per_image"] == 2 * (24 * 24 * 25 * 30 + 4320 * 100 + 100 * 10)
    assert {"xpnet", "the book's layers"} <= set(report["methods"]) and report["images"] == 1000
    assert len(set(report["accuracy"].values())) == 1  # the same 1,000 images, the same answers
    assert report["sgemm_peak_gflops"] > 0 and "of SGEMM" in result.stdout


def test_the_speed_up_is_the_median_of_the_rounds_ratios(monkeypatch) -> None:
    """A machine that slows down for one round: each round's ratio compares runs seconds apart."""
    from xpnet_benchmarks import timing

    monkeypatch.setattr(timing, "SETTLE_S", 0)
    seconds = iter([1.0, 2.0, 10.0, 12.0, 1.1, 2.4])  # xpnet, other; three rounds, the second one slow
    monkeypatch.setattr(timing, "timed", lambda one_pass: next(seconds))
    result = timing.interleaved({"xpnet": lambda: None, "other": lambda: None}, repeats=3, images=1000)
    assert result["other"]["rounds"] == [2.0, 12.0, 2.4]
    assert result["other"]["seconds"] == 2.4 and result["xpnet"]["seconds"] == 1.1  # the medians
    # the rounds' ratios 2.0, 1.2 and 2.4 / 1.1: their median, 2.0, where the medians' ratio is 2.18
    assert result["other"]["xpnet_is"] == 2.0 and result["xpnet"]["xpnet_is"] == 1.0


def test_each_timed_pass_follows_an_untimed_one(monkeypatch) -> None:
    """After the settling pause a method runs once untimed, then once timed: only the second one counts."""
    from xpnet_benchmarks import timing

    monkeypatch.setattr(timing, "SETTLE_S", 0)
    calls: list[str] = []

    def slow_first(name: str):  # the untimed run of each pair is the slow one, as a machine waking up
        def one_pass() -> None:
            calls.append(name)
            if calls.count(name) % 2 == 1:
                time.sleep(0.05)

        return one_pass

    result = timing.interleaved({"a": slow_first("a"), "b": slow_first("b")}, repeats=3, images=1000)
    assert calls == ["a", "a", "b", "b"] * 3
    assert all(method["seconds"] < 0.025 for method in result.values()), result
