"""Downloads against a real HTTP server on 127.0.0.1: fallback, failures, and a cache that never lies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import xpnet
import xpnet.datasets.mnist
import xpnet.io.download
import xpnet.io.weights
from xpnet.datasets.mnist import load_array

from conftest import ROOT
from mirror import Mirror

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


@pytest.fixture
def mirror(mnist_dir: Path, weights_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    files = {name: (mnist_dir / name).read_bytes() for name in (IMAGES, LABELS)}
    files["ch03/sample_weight.pkl"] = weights_path.read_bytes()
    server = Mirror(files)
    xpnet.set_config(timeout_s=0.5)
    yield server
    server.close()


def use_mirrors(monkeypatch: pytest.MonkeyPatch, mirror: Mirror, *behaviours: str) -> None:
    xpnet.set_config(mnist_mirrors=[mirror(b) for b in behaviours])


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_fallback_to_the_second_mirror(mirror: Mirror, monkeypatch, isolated_cache: Path, mnist_test) -> None:
    use_mirrors(monkeypatch, mirror, "403", "good")
    labels = load_array("test", "labels")
    np.testing.assert_array_equal(labels, mnist_test[1])
    assert mirror.hits == {f"/403/{LABELS}": 1, f"/good/{LABELS}": 1}
    assert cache_files(isolated_cache) == ["t10k-labels-idx1-ubyte.npy"]
    # the second load comes from the cache, with no request
    np.testing.assert_array_equal(load_array("test", "labels"), mnist_test[1])
    assert sum(mirror.hits.values()) == 2


def test_parts_left_by_killed_downloads_are_cleared(mirror: Mirror, monkeypatch, isolated_cache: Path,
                                                   mnist_test) -> None:
    """A SIGKILLed download leaves its .part file: the next fetch of that file deletes it once it is an hour old."""
    use_mirrors(monkeypatch, mirror, "good")
    directory = isolated_cache / "mnist"
    directory.mkdir(parents=True)
    stale, fresh = directory / f".{LABELS}.dead.part", directory / f".{LABELS}.live.part"
    stale.write_bytes(b"half a download")
    fresh.write_bytes(b"a download in progress")
    hour_ago = time.time() - 3601
    os.utime(stale, (hour_ago, hour_ago))
    np.testing.assert_array_equal(load_array("test", "labels"), mnist_test[1])
    assert not stale.exists() and fresh.exists()


def test_every_mirror_failing_is_one_message(mirror: Mirror, monkeypatch, isolated_cache: Path) -> None:
    behaviours = ("403", "404", "html", "truncated", "stall")
    use_mirrors(monkeypatch, mirror, *behaviours)
    with pytest.raises(xpnet.DataError) as caught:
        load_array("test", "images")
    message = str(caught.value)
    assert "\n" not in message
    reasons = {
        "403": "HTTP 403 Forbidden",
        "404": "HTTP 404 Not Found",
        "html": "not gzip data (starts with b'<!DOCTYPE html>",
        "truncated": "truncated gzip stream",
        "stall": "no answer within 0.5 s",
    }
    for behaviour, reason in reasons.items():
        assert f"{mirror(behaviour)}{IMAGES}: " in message
        assert reason in message.split(f"{mirror(behaviour)}{IMAGES}: ")[1].split("; ")[0], behaviour
    assert f"Put {IMAGES} in a directory and pass it as --data-dir" in message
    assert cache_files(isolated_cache) == []  # nothing a later run could take for good


def test_damaged_cache_is_reported_and_replaced(mirror: Mirror, monkeypatch, isolated_cache: Path, capsys) -> None:
    use_mirrors(monkeypatch, mirror, "good")
    good = load_array("test", "labels")
    cached = isolated_cache / "mnist" / "t10k-labels-idx1-ubyte.npy"
    damaged = good.copy()
    damaged[123] = (damaged[123] + 1) % 10
    np.save(cached, damaged)
    np.testing.assert_array_equal(load_array("test", "labels"), good)
    assert f"warning: damaged cache file {cached}: fails its check" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(cached), good)
    assert mirror.hits[f"/good/{LABELS}"] == 2


def test_damaged_cache_is_never_used_when_no_mirror_answers(mirror: Mirror, monkeypatch, isolated_cache: Path) -> None:
    use_mirrors(monkeypatch, mirror, "good")
    load_array("test", "labels")
    cached = isolated_cache / "mnist" / "t10k-labels-idx1-ubyte.npy"
    cached.write_bytes(cached.read_bytes()[:-10])
    use_mirrors(monkeypatch, mirror, "404")
    with pytest.raises(xpnet.DataError, match="download failed"):
        load_array("test", "labels")


def test_two_processes_share_an_empty_cache(mirror: Mirror, isolated_cache: Path, mnist_test) -> None:
    code = (
        "import sys, xpnet, xpnet.datasets.mnist as m; "
        f"xpnet.set_config(mnist_mirrors=['{mirror('good')}']); "
        "x = m.load_array('test', 'images'); print(x.shape, int(x.sum()))"
    )
    env = {**__import__("os").environ, "XPNET_CACHE_DIR": str(isolated_cache), "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    outputs = [run.communicate(timeout=60)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    expected = f"(10000, 28, 28) {int(mnist_test[0].sum())}"
    assert outputs == [expected, expected]
    assert cache_files(isolated_cache) == ["t10k-images-idx3-ubyte.npy"]
    np.testing.assert_array_equal(
        np.load(isolated_cache / "mnist" / "t10k-images-idx3-ubyte.npy").reshape(10000, 784), mnist_test[0]
    )


def test_book_weights_download_and_check(mirror: Mirror, monkeypatch, isolated_cache: Path, sample_weights) -> None:
    xpnet.set_config(weights_base_url=mirror("good"))
    np.testing.assert_array_equal(xpnet.load_weights()["W2"], sample_weights["W2"])
    assert cache_files(isolated_cache) == ["sample_weight.pkl"]
    assert mirror.hits == {"/good/ch03/sample_weight.pkl": 1}
    xpnet.set_config(weights_base_url=mirror("html"))
    (isolated_cache / "book" / "ch03" / "sample_weight.pkl").unlink()
    with pytest.raises(xpnet.DataError, match=r"SHA-256 [0-9a-f]{64} is not the book's ch03/sample_weight\.pkl"):
        xpnet.load_weights()
    assert cache_files(isolated_cache) == []


def test_cli_download_failure_is_one_line(mirror: Mirror, isolated_cache: Path, weights_path: Path) -> None:
    code = (
        "import sys, xpnet; from xpnet.cli import main; "
        f"xpnet.set_config(mnist_mirrors=['{mirror('html')}']); sys.exit(main(sys.argv[1:]))"
    )
    env = {**__import__("os").environ, "XPNET_CACHE_DIR": str(isolated_cache), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, "infer", "--weights", str(weights_path)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not gzip data" in result.stderr and IMAGES in result.stderr
    assert cache_files(isolated_cache) == []


def test_a_cache_folder_that_cannot_be_made_is_one_line(tmp_path: Path, monkeypatch, mnist_dir: Path, capsys) -> None:
    """$XPNET_CACHE_DIR naming a file: the command names the folder it could not make and the variable."""
    from xpnet.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("XPNET_CACHE_DIR", str(blocker))
    assert main(["infer", "--data-dir", str(mnist_dir)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"xpnet infer: error: cannot make the folder {blocker / 'book' / 'ch03'} to download into")
    assert f"$XPNET_CACHE_DIR ({blocker}) must be a folder this user can write in" in error
    assert blocker.read_bytes() == b""
