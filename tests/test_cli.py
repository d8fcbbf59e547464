"""The chapter's scripts and the xpnet command, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import xpnet

from conftest import ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_neuralnet_mnist_prints_the_books_accuracy(mnist_dir: Path, weights_path: Path) -> None:
    result = run("scripts/neuralnet_mnist.py", "--device", "cpu", "--data-dir", str(mnist_dir),
                 "--weights", str(weights_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Accuracy:0.9352" in lines
    workers = len(os.sched_getaffinity(0))
    assert f"10000 images, mlp in float32, on numpy (cpu), batch 500 x {workers} worker(s):" in result.stdout
    assert "images/s" in result.stdout


@pytest.mark.parametrize("backend", ["array_api_strict", "numpy"])
def test_infer_json(mnist_dir: Path, weights_path: Path, backend: str, mnist_test, sample_weights) -> None:
    result = run("-m", "xpnet", "infer", "--backend", backend, "--batch-size", "1000", "--workers", "3", "--json",
                 "--data-dir", str(mnist_dir), "--weights", str(weights_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["accuracy"] == 0.9352 and report["correct"] == 9352 and report["images"] == 10000
    assert report["backend"] == backend and report["batch_size"] == 1000 and report["workers"] == 3
    # each class's accuracy, from the book's forward pass (section 3.6.2) restated in NumPy
    images, labels = mnist_test
    w = sample_weights
    z1 = 1 / (1 + np.exp(-(images.reshape(-1, 784) / 255 @ w["W1"] + w["b1"])))
    z2 = 1 / (1 + np.exp(-(z1 @ w["W2"] + w["b2"])))
    predicted = np.argmax(z2 @ w["W3"] + w["b3"], axis=1)
    assert report["per_class"] == [
        {"class": k, "images": int(np.sum(labels == k)), "correct": int(np.sum((predicted == k) & (labels == k))),
         "accuracy": float(np.sum((predicted == k) & (labels == k)) / np.sum(labels == k))} for k in range(10)]


def test_infer_per_class_prints_a_table(mnist_dir: Path, weights_path: Path) -> None:
    result = run("-m", "xpnet", "infer", "--per-class", "--data-dir", str(mnist_dir), "--weights", str(weights_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Accuracy:0.9352", "class  images  correct  accuracy"]
    rows = [line.split() for line in lines[2:12]]
    assert [int(row[0]) for row in rows] == list(range(10))
    assert sum(int(row[1]) for row in rows) == 10000 and sum(int(row[2]) for row in rows) == 9352
    assert all(float(row[3]) == round(int(row[2]) / int(row[1]), 4) for row in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weights", "/nonexistent/w.pkl"], "/nonexistent/w.pkl: cannot read (No such file or directory)"),
        (["--backend", "tensorflow"],
         "unknown backend 'tensorflow': choose cpu, cuda[:N] or one of numpy, cupy, array_api_strict, torch, dask, "
         "jax"),
    ],
)
def test_bad_arguments_get_one_line(mnist_dir: Path, args: list[str], message: str) -> None:
    result = run("scripts/neuralnet_mnist.py", "--data-dir", str(mnist_dir), *args)
    assert result.returncode == 2
    assert result.stderr == f"xpnet infer: error: {message}\n"


def test_argparse_faults_get_its_usage_line_and_one_error_line(mnist_dir: Path) -> None:
    """The README's stated convention for what argparse itself rejects."""
    result = run("scripts/neuralnet_mnist.py", "--data-dir", str(mnist_dir), "--batch-size", "0")
    assert result.returncode == 2
    usage, *rest = result.stderr.split("\nxpnet infer: error: ")
    assert usage.startswith("usage: xpnet infer") and "Traceback" not in usage
    assert rest == ["argument --batch-size: expected an integer from 1 to 16,777,216, got '0'\n"]


def test_mnist_show_writes_a_digit(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "digit.png"
    result = run("scripts/mnist_show.py", "--data-dir", str(mnist_dir), "--index", "0", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "label 7" in result.stdout
    with Image.open(out) as image:
        assert image.size == (300, 330)
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # not blank


def test_plot_activations_writes_a_figure(tmp_path: Path) -> None:
    out = tmp_path / "act.png"
    result = run("scripts/plot_activations.py", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (1000, 320)
        assert len(np.unique(np.asarray(image.convert("L")))) > 10


def test_show_index_out_of_range(mnist_dir: Path) -> None:
    result = run("-m", "xpnet", "show", "--data-dir", str(mnist_dir), "--index", "10000")
    assert result.returncode == 2
    assert "--index 10000 is out of range" in result.stderr


def test_images_that_do_not_fit_the_network(tmp_path: Path, weights_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 100), np.uint8))
    np.save(tmp_path / "t.npy", np.zeros(10, np.uint8))
    result = run("-m", "xpnet", "infer", "--images", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "t.npy"),
                 "--weights", str(weights_path))
    assert result.returncode == 2
    expected = (f"{tmp_path / 'x.npy'}: holds a (10, 100) uint8 array; expected uint8 pixels (n, 784), (n, 28, 28) "
                "or (n, 1, 28, 28)")
    assert result.stderr == f"xpnet infer: error: {expected}\n"


def test_version() -> None:
    result = run("-m", "xpnet", "--version")
    assert result.returncode == 0 and result.stdout == f"xpnet {xpnet.__version__}\n"


@pytest.mark.parametrize("command", [["infer"], ["train"], ["plot", "filters"]])
def test_an_unknown_option_gets_the_commands_usage(command: list[str]) -> None:
    result = run("-m", "xpnet", *command, "--bogus")
    name = " ".join(command)
    assert result.returncode == 2 and result.stderr.startswith(f"usage: xpnet {name} ")
    assert result.stderr.endswith(f"xpnet {name}: error: unrecognized arguments: --bogus\n")


@pytest.mark.parametrize("device", ["gpu", "auto"])
def test_a_gpu_by_another_name_gets_a_hint(device: str) -> None:
    result = run("-m", "xpnet", "infer", "--device", device)
    assert result.returncode == 2
    assert result.stderr.endswith(f"not on {device!r} (an NVIDIA GPU is 'cuda' or 'cuda:N')\n")


def test_float16_on_the_cpu_is_warned_of_up_front(tmp_path: Path, weights_path: Path, mnist_test) -> None:
    images, labels = mnist_test
    np.save(tmp_path / "x.npy", images[:50].reshape(50, -1))
    np.save(tmp_path / "t.npy", labels[:50])
    result = run("-m", "xpnet", "infer", "--dtype", "float16", "--images", str(tmp_path / "x.npy"), "--labels",
                 str(tmp_path / "t.npy"), "--weights", str(weights_path), "--quiet")
    assert result.returncode == 0, result.stderr
    warning, = result.stderr.splitlines()
    assert warning.startswith("warning: float16 on the CPU has no fast matrix products (NumPy has no float16 BLAS)")
    assert "50 images will take about" in warning


def test_every_backend_is_listed_wherever_backends_are() -> None:
    from xpnet.backends import LIBRARIES
    from xpnet.cli import parser

    commands = parser()._subparsers._group_actions[0].choices  # argparse keeps its subcommands here
    listed = 0
    for name, command in commands.items():
        help_text = command.format_help()
        if "--backend" in help_text:
            listed += 1
            flat = " ".join(help_text.split())
            assert all(library in flat for library in LIBRARIES), (name, flat)
    assert listed >= 5


def test_a_chapter_script_states_its_own_default_model() -> None:
    result = run("scripts/misclassified_mnist.py", "--help")
    assert result.returncode == 0
    assert "else deep_convnet)" in " ".join(result.stdout.split())


def test_a_gpu_batch_is_checked_against_the_gpus_free_memory(monkeypatch) -> None:
    """On a GPU the estimate is held against the memory its library reports free (a stand-in library here,
    reporting 1 GiB): DeepConvNet's 0.2 MB or more an image cannot take 100,000 images a batch."""
    from dataclasses import replace

    from xpnet.backends import LIBRARIES, Backend
    from xpnet.cli._common import _check_batch_memory
    from xpnet.errors import XpnetError
    from xpnet.models import MODELS

    monkeypatch.setitem(LIBRARIES, "torch", replace(LIBRARIES["numpy"], name="torch",
                                                    free_memory=lambda backend: 1 << 30))
    gpu = Backend("torch", np, "cuda:0", batch_size=100_000)
    assert gpu.on_gpu and gpu.free_memory() == 1 << 30
    per_image = MODELS["deep_convnet"].bytes_per_image("float32")
    with pytest.raises(XpnetError, match=r"and this GPU has 1\.0 GiB available: --batch-size at most") as error:
        _check_batch_memory(MODELS["deep_convnet"], gpu, "float32")
    most = int(str(error.value).rsplit("at most ", 1)[1].split()[0].replace(",", ""))
    assert abs(most - (1 << 29) / per_image) < 0.02 * most  # half of what is free, by the memory an image
    _check_batch_memory(MODELS["deep_convnet"], replace(gpu, batch_size=most * 9 // 10), "float32")  # fits
    unknown = replace(LIBRARIES["torch"], free_memory=lambda backend: 1 / 0)
    monkeypatch.setitem(LIBRARIES, "torch", unknown)
    assert gpu.free_memory() is None  # a driver that cannot say: no estimate, no refusal
    _check_batch_memory(MODELS["deep_convnet"], gpu, "float32")


def test_a_reader_that_goes_away_ends_the_command_quietly(mnist_dir: Path, weights_path: Path) -> None:
    """``xpnet infer | head -1``: once the pipe's reader is gone, the command stops with SIGPIPE's status and
    says nothing (a closed pipe from the start makes it certain)."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "xpnet", "infer", "--per-class", "--data-dir", str(mnist_dir),
                                 "--weights", str(weights_path)], stdout=write, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, check=False)
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == ""
