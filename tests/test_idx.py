"""Malformed MNIST files: one error line naming the file and the fault; the reader fuzzed with hypothesis."""

from __future__ import annotations

import gzip
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpnet
import xpnet.datasets.mnist
from xpnet.datasets.mnist import load_split, read_idx_gz

from conftest import ROOT

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """IDX bytes built by hand from the format's description (big-endian 32-bit header words)."""
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


@pytest.fixture(scope="module")
def real(mnist_dir: Path) -> dict[str, bytes]:
    return {name: gzip.decompress((mnist_dir / name).read_bytes()) for name in (IMAGES, LABELS)}


def labels_with(real: dict[str, bytes], **change: object) -> bytes:
    raw = real[LABELS]
    magic, count, payload = change.get("magic", 0x801), change.get("count", 10000), change.get("payload", raw[8:])
    return gzip.compress(idx(magic, (count,), payload))  # type: ignore[arg-type]


def swapped(raw: bytes) -> bytes:
    payload = bytearray(raw[8:])
    payload[0], payload[1] = payload[1], payload[0]
    return bytes(payload)


FAULTS = {
    "html": (lambda real: b"<!DOCTYPE html><html>Service Unavailable</html>", "not gzip data"),
    "truncated gzip": (lambda real: gzip.compress(real[LABELS])[:3000], "truncated gzip stream"),
    "wrong magic": (lambda real: labels_with(real, magic=0x803), "wrong IDX magic number 0x00000803"),
    "header too long": (lambda real: labels_with(real, count=10001), "header declares 10001 labels, not the file's"),
    "header too short": (lambda real: labels_with(real, count=9999), "header declares 9999 labels, not the file's"),
    "zero labels": (lambda real: labels_with(real, count=0, payload=b""), "header declares 0 labels, not the file's"),
    "label above 9": (lambda real: labels_with(real, payload=b"\x0c" + real[LABELS][9:]), "label value 12 is above 9"),
    "checksum": (lambda real: labels_with(real, payload=swapped(real[LABELS])), "checksum mismatch (content SHA-256"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_malformed_labels_are_named(fault: str, real, tmp_path: Path, mnist_dir: Path, weights_path: Path,
                                    isolated_cache: Path) -> None:
    make, message = FAULTS[fault]
    (tmp_path / IMAGES).write_bytes((mnist_dir / IMAGES).read_bytes())
    bad = make(real)
    (tmp_path / LABELS).write_bytes(bad)
    with pytest.raises(xpnet.DataError) as caught:
        load_split("test", data_dir=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / LABELS}: ")
    assert message in str(caught.value)
    result = subprocess.run(
        [sys.executable, "scripts/neuralnet_mnist.py", "--data-dir", str(tmp_path), "--weights", str(weights_path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={"PATH": "", "XPNET_CACHE_DIR": str(isolated_cache), "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"xpnet infer: error: {tmp_path / LABELS}: ") and message in result.stderr
    assert (tmp_path / LABELS).read_bytes() == bad  # left as it was
    assert list(isolated_cache.rglob("*.npy")) == []


def test_image_and_label_counts_must_agree(real, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Self-consistent files that no checksum or known count knows (as from an unknown mirror), of different lengths."""
    monkeypatch.setattr(xpnet.datasets.mnist, "RAW_SHA256", {})
    monkeypatch.setattr(xpnet.datasets.mnist, "GZ_MD5", {})
    monkeypatch.setattr(xpnet.datasets.mnist, "COUNTS", {})
    (tmp_path / IMAGES).write_bytes(gzip.compress(real[IMAGES]))
    (tmp_path / LABELS).write_bytes(labels_with(real, count=9999, payload=real[LABELS][8:-1]))
    with pytest.raises(xpnet.DataError, match="MNIST test: 10000 images but 9999 labels"):
        load_split("test", data_dir=tmp_path)


@pytest.mark.parametrize(("name", "message"), [
    ("t10k-images-idx3-ubyte.gz", "header declares 2147483648 images, not the file's 10000"),
    ("unknown-images.gz", "header declares 2147483648 images: expected 1 to 70,000"),
])
def test_huge_header_in_a_small_file_allocates_little(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(idx(0x803, (2**31, 28, 28), bytes(60))))
    assert path.stat().st_size < 100
    tracemalloc.start()
    with pytest.raises(xpnet.DataError, match=message):
        read_idx_gz(path, "images")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * 2**20


FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=2000), compress=st.booleans())
def test_random_bytes_raise_only_data_error(tmp_path: Path, data: bytes, compress: bool) -> None:
    path = tmp_path / "random-idx-ubyte.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    for kind in ("images", "labels"):
        try:
            array = read_idx_gz(path, kind)
        except xpnet.DataError as err:
            assert str(err).startswith(str(path))
        else:
            assert array.dtype == np.uint8


@FUZZ
@given(
    header=st.binary(min_size=8, max_size=8),
    position=st.integers(0, 7),
    keep=st.integers(0, 10000),
    checked=st.booleans(),
)
def test_mutated_real_headers(tmp_path: Path, real, header: bytes, position: int, keep: int, checked: bool) -> None:
    """Real label data behind a damaged header: the right labels, or DataError, never anything else."""
    raw = real[LABELS]
    mutated = raw[:position] + header[position:] if position % 2 else header[:position] + raw[position:8]
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(mutated + raw[8 : 8 + keep]))
    try:
        labels = read_idx_gz(path, "labels", LABELS if checked else None)
    except xpnet.DataError as err:
        assert str(err).startswith(str(path))
    else:
        count = int.from_bytes(mutated[4:8], "big")
        assert mutated[:4] == raw[:4] and count == keep
        np.testing.assert_array_equal(labels, np.frombuffer(raw[8 : 8 + keep], np.uint8))
        if checked:
            assert keep == 10000
