"""The benchmark as a smoke test: every method runs and agrees on the book's accuracy (no speed asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict:device1"])
def test_bench_smoke(tmp_path: Path, mnist_dir: Path, weights_path: Path, backend: str) -> None:
    out = tmp_path / "bench.json"
    name, _, device = backend.partition(":")
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--backend", name, "--device", device or "cpu", "--tile", "1",
         "--repeats", "1", "--data-dir", str(mnist_dir), "--weights", str(weights_path), "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == 10000
    assert {"xpnet", "chapter loop", "BLAS floor"} <= set(report["methods"])
    assert set(report["accuracy"].values()) == {0.9352}
    for name in report["methods"]:
        assert name in result.stdout
        assert report["methods"][name]["images_per_s"] > 0


def test_bench_train_smoke(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "train.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--train", "--repeats", "1", "--data-dir", str(mnist_dir),
         "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == 10000 and report["methods"]["xpnet"]["images_per_s"] > 0
    assert "training: one SGD epoch over 10,000 images" in result.stdout
