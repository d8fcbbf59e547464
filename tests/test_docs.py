"""Every shell command in the README and in docs/ runs, as written, and prints what the text after it shows.

The ``sh`` blocks of each page run in order, in one fresh folder (so a file one command writes is there for
the next), with this environment's ``xpnet`` and ``python`` first on PATH and the shared data named by
the environment variables the README offers for working offline. A ``text`` block right after an ``sh``
block holds lines that the block's output must hold (whitespace aside): ``...`` stands for any lines, a
line ending in ``...`` for any line that begins with the rest. The ``python`` blocks of a page run after
its ``sh`` blocks, in the same folder. What cannot run here is listed in ``NOT_RUN`` with the reason, and
each entry must still be in the pages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SHARED_DATA, book_file

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
README_MAIN, README_TESTS = (
    "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/xpnet infer --device cpu",
    '''python3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/python -m pytest -m "not slow"''',
)
NOT_RUN = {
    README_MAIN: "installs into a new environment: test_the_main_command_on_a_fresh_copy runs it",
    README_TESTS: "the test command itself: CI runs it verbatim (test_ci_runs_the_readme_test_command)",
    "xpnet infer --model deep_convnet --device cuda": "needs a CUDA GPU: scripts/gpu_check.sh runs it there",
    "xpnet serve": "serves until stopped: tests/test_serve.py starts it, asks it and stops it",
    "python scripts/reproduce_book.py ch7 --backend torch --dtype float32":
        "20 epochs, minutes: tests/test_book_training.py runs it for one epoch",
}
PYTHON_NOT_RUN = {"docs/training.md": "a fragment of the book's loop (x_batch, t_batch and learning_rate are the "
                  "reader's)"}


def blocks(page: Path) -> list[tuple[str, str, str | None]]:
    """``(language, body, expected)`` of each fenced block; ``expected``: the ``text`` block right after it."""
    text = page.read_text()
    found = list(FENCE.finditer(text))
    result = []
    for i, match in enumerate(found):
        following = found[i + 1] if i + 1 < len(found) else None
        adjacent = following is not None and following.group(1) == "text" and not text[
            match.end() : following.start()].strip()
        result.append((match.group(1), match.group(2), following.group(2) if adjacent else None))
    return result


def commands(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def check_output(expected: str, output: str) -> None:
    lines = [" ".join(line.split()) for line in output.splitlines()]
    for want in (" ".join(line.split()) for line in expected.splitlines()):
        if want == "...":
            continue
        if want.endswith("..."):
            assert any(line.startswith(want[:-3].rstrip()) for line in lines), (want, output)
        else:
            assert want in lines, (want, output)


@pytest.fixture
def page_env(tmp_path: Path, mnist_test) -> tuple[Path, dict[str, str]]:
    """A fresh folder holding my_digit.png (test digit 0, a 7, drawn dark on light, 10x), and the environment."""
    images, _ = mnist_test
    Image.fromarray(255 - np.kron(images[0].reshape(28, 28), np.ones((10, 10), np.uint8))).save(
        tmp_path / "my_digit.png")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "XPNET_DATA_DIR": str(SHARED_DATA / "mnist"),
        "XPNET_WEIGHTS": str(book_file("mlp")),
        "XPNET_WEIGHTS_SIMPLE_CONVNET": str(book_file("simple_convnet")),
        "XPNET_WEIGHTS_DEEP_CONVNET": str(book_file("deep_convnet")),
        "PYTHONPATH": str(ROOT),  # scripts/ as a checkout has them
    }
    return tmp_path, env


def test_every_page_has_commands_and_every_exception_is_there() -> None:
    everything = "\n".join(body for page in PAGES for _, body, _ in blocks(page))
    for command in NOT_RUN:
        assert command in everything, f"NOT_RUN lists {command!r}, which no page shows any more"
    assert any(language == "sh" for language, _, _ in blocks(ROOT / "README.md"))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_commands_of_a_page_run_as_written(page: Path, page_env: tuple[Path, dict[str, str]]) -> None:
    folder, env = page_env
    ran = 0
    for language, body, expected in blocks(page):
        if language != "sh":
            continue
        output = []
        for command in commands(body):
            if command in NOT_RUN:
                continue
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=folder, env=env,
                                    capture_output=True, text=True, check=False, timeout=600)
            assert result.returncode == 0, f"{page.name}: {command}\n{result.stderr}"
            assert "Traceback" not in result.stderr, f"{page.name}: {command}\n{result.stderr}"
            output.append(result.stdout)
            ran += 1
        if expected is not None:
            check_output(expected, "".join(output))
    relative = str(page.relative_to(ROOT))
    for language, body, _ in blocks(page):
        if language == "python" and relative not in PYTHON_NOT_RUN:
            result = subprocess.run([sys.executable, "-c", body], cwd=folder, env=env, capture_output=True,
                                    text=True, check=False, timeout=600)
            assert result.returncode == 0, f"{page.name}:\n{body}\n{result.stderr}"
            ran += 1
    has_code = any(language in ("sh", "python") for language, _, _ in blocks(page))
    assert ran or not has_code or relative in PYTHON_NOT_RUN


def test_ci_runs_the_readme_test_command() -> None:
    assert README_TESTS in (ROOT / "README.md").read_text()
    assert README_TESTS in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.slow
def test_the_main_command_on_a_fresh_copy(tmp_path: Path) -> None:
    """The README's first command, verbatim, in a copy of the repository: a new environment, the install from the
    registry, the book's accuracy (offline here: the data and weights come from the shared folder)."""
    assert README_MAIN in (ROOT / "README.md").read_text()
    copy = tmp_path / "xpnet"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                              ".hypothesis"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(XPNET_DATA_DIR=str(SHARED_DATA / "mnist"), XPNET_WEIGHTS=str(book_file("mlp")))
    result = subprocess.run(["bash", "-c", README_MAIN], cwd=copy, env=env, capture_output=True, text=True,
                            check=False, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Accuracy:0.9352"
