"""The wheel as a user installs it: ``xpnet`` and its benchmarks (``xpnet_benchmarks``), leaving the books'
``dataset`` alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

from conftest import ROOT

BOOK_SCRIPT = """\
# as the books' chapter scripts begin: their own repository's folder, appended at the END of sys.path
import os, sys
sys.path.append(os.pardir)
from dataset.mnist import load_mnist
from dataset import spiral
import xpnet
print(load_mnist(), spiral.load_data(), os.path.dirname(xpnet.__file__))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "xpnet"  # a copy, so that the build writes nothing into the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    return next(out.glob("xpnet-*.whl"))


@pytest.mark.slow
def test_the_wheel_installs_only_xpnet_and_book_scripts_keep_their_dataset(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    before = {p.name for p in site.iterdir()}
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr
    new = {p.name for p in site.iterdir()} - before
    assert {name for name in new if not name.endswith(".dist-info")} == {"xpnet", "xpnet_benchmarks"}
    # xpnet's dependencies, from the environment running these tests, behind the fresh environment's own
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    book = tmp_path / "deep-learning-from-scratch"
    (book / "dataset").mkdir(parents=True)
    (book / "dataset" / "__init__.py").write_text("")
    (book / "dataset" / "mnist.py").write_text("def load_mnist():\n    return 'the book loader'\n")
    (book / "dataset" / "spiral.py").write_text("def load_data():\n    return 'the spiral'\n")
    (book / "ch03").mkdir()
    (book / "ch03" / "neuralnet_mnist.py").write_text(textwrap.dedent(BOOK_SCRIPT))
    result = subprocess.run([str(python), "neuralnet_mnist.py"], cwd=book / "ch03", capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["the", "book", "loader", "the", "spiral", str(site / "xpnet")]


def test_a_checkout_keeps_the_books_import_path() -> None:
    """From a checkout, ``sys.path.append(os.pardir)`` then ``from dataset.mnist import load_mnist``, as in the book."""
    code = ("import os, sys; sys.path.append(os.pardir); from dataset.mnist import load_mnist; "
            "print(load_mnist.__module__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "scripts", capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "xpnet.datasets.mnist"
