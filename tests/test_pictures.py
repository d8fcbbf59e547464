"""Each picture rendered for real: it opens, has its size, is not blank and shows what it should."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT


def xpnet_cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xpnet", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, **kwargs)


def pixels(path: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as image:
        assert image.size == size
        rgb = np.asarray(image.convert("RGB")).astype(int)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10  # not blank
    return rgb


def red_pixels(rgb: np.ndarray) -> int:
    """Pixels of matplotlib's tab:red (214, 39, 40), give or take antialiasing."""
    return int(((rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).sum())


@pytest.fixture
def data_args(mnist_dir: Path, weights_path: Path) -> list[str]:
    return ["--data-dir", str(mnist_dir), "--weights", str(weights_path)]


def test_grid_marks_wrong_predictions_in_red(tmp_path: Path, data_args: list[str]) -> None:
    # test images 0-7 are all predicted right by the book's weights; 8 is a 5 taken for a 6
    right, mixed = tmp_path / "right.png", tmp_path / "mixed.png"
    assert xpnet_cli("show", "--grid", "8", "-o", str(right), *data_args).returncode == 0
    result = xpnet_cli("show", "--grid", "9", "-o", str(mixed), *data_args)
    assert result.returncode == 0, result.stderr
    assert "9 test images, 1 predicted wrong" in result.stdout
    assert red_pixels(pixels(right, (375, 450))) == 0
    assert red_pixels(pixels(mixed, (375, 450))) > 100


def test_misclassified_shows_only_errors(tmp_path: Path, data_args: list[str]) -> None:
    out = tmp_path / "wrong.png"
    result = xpnet_cli("show", "--misclassified", "--grid", "4", "-o", str(out), *data_args)
    assert result.returncode == 0, result.stderr
    assert "4 of the 648 test images predicted wrong" in result.stdout  # the book's 0.9352 of 10,000 right
    assert red_pixels(pixels(out, (250, 300))) > 400


def test_confusion_matrix(tmp_path: Path, data_args: list[str]) -> None:
    out = tmp_path / "figures" / "confusion.png"  # a folder not there yet is made, as for every file written
    result = xpnet_cli("plot", "confusion", "-o", str(out), *data_args)
    assert result.returncode == 0, result.stderr
    assert "accuracy 0.9352" in result.stdout
    pixels(out, (640, 560))


def test_a_negative_index_counts_from_the_end(tmp_path: Path, data_args: list[str], mnist_test) -> None:
    _, labels = mnist_test
    last, counted = tmp_path / "last.png", tmp_path / "counted.png"
    result = xpnet_cli("show", "--index", "-1", "-o", str(last), *data_args)
    assert result.returncode == 0, result.stderr
    assert f"test image {len(labels) - 1}, label {labels[-1]}" in result.stdout
    assert xpnet_cli("show", "--index", str(len(labels) - 1), "-o", str(counted), *data_args).returncode == 0
    np.testing.assert_array_equal(np.asarray(Image.open(last)),
                                  np.asarray(Image.open(counted)))
    result = xpnet_cli("plot", "probs", "--index", "-1", "-o", str(tmp_path / "probs.png"), *data_args)
    assert result.returncode == 0, result.stderr
    assert f"test image {len(labels) - 1}, label {labels[-1]}, predicted" in result.stdout


def test_probabilities_of_one_digit(tmp_path: Path, data_args: list[str]) -> None:
    out = tmp_path / "probs.png"
    result = xpnet_cli("plot", "probs", "--index", "8", "-o", str(out), *data_args)
    assert result.returncode == 0, result.stderr
    assert "test image 8, label 5, predicted 6" in result.stdout
    assert red_pixels(pixels(out, (700, 300))) > 1000  # the wrong winner's bar


def test_plotting_without_matplotlib_says_what_to_install(tmp_path: Path, data_args: list[str]) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('blocked for this test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    result = xpnet_cli("plot", "confusion", "-o", str(tmp_path / "c.png"), *data_args, env=env)
    assert result.returncode == 2
    assert result.stderr == "xpnet plot: error: plotting needs matplotlib: pip install 'xpnet[plot]'\n"


def run_on_a_terminal(*args: str) -> str:
    """Run xpnet with stderr on a pseudo-terminal, as a user's shell would; returns what it drew there."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm sizes its bar by it
    process = subprocess.Popen([sys.executable, "-m", "xpnet", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=secondary)
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0
    return drawn.decode(errors="replace")


def test_progress_bar_on_a_terminal_only(data_args: list[str]) -> None:
    assert "img/s" in run_on_a_terminal("infer", "--batch-size", "500", *data_args)
    assert run_on_a_terminal("infer", "--batch-size", "500", "--quiet", *data_args) == ""
    piped = xpnet_cli("infer", "--batch-size", "500", *data_args)
    assert piped.returncode == 0 and piped.stderr == ""
