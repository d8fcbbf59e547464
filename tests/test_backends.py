"""The same code on every backend: the chapter's functions, the toy network and the book's accuracy.

numpy, array-api-strict (on the CPU and on its GPU stand-in device1), dask
(threaded, and on a 2-worker dask.distributed LocalCluster), PyTorch on the
CPU, and CuPy where a GPU is visible.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from array_api_compat import is_lazy_array

import xpnet
from xpnet.models import MODELS

from conftest import BACKENDS, ROOT, assert_same_place, open_backend

SPECS = [*BACKENDS, "dask+cluster"]


@pytest.fixture(params=SPECS)
def any_backend(request: pytest.FixtureRequest) -> Iterator[xpnet.Backend]:
    if request.param != "dask+cluster":
        yield open_backend(request.param)
        return
    import dask

    client = request.getfixturevalue("dask_cluster")
    before = sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())
    with dask.config.set(scheduler=client.get):
        yield open_backend("dask")
    assert sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values()) > before


def test_functions(any_backend: xpnet.Backend) -> None:
    x = any_backend.asarray(np.array([[-3.0, 0.0, 2.0], [1010.0, 1000.0, 990.0]]))
    expected = {
        xpnet.step_function: [[0, 0, 1], [1, 1, 1]],
        xpnet.relu: [[0.0, 0.0, 2.0], [1010.0, 1000.0, 990.0]],
        xpnet.sigmoid: [[1 / (1 + np.exp(3.0)), 0.5, 1 / (1 + np.exp(-2.0))], [1.0, 1.0, 1.0]],
        xpnet.softmax: [
            np.exp([-5.0, -2.0, 0.0]) / np.exp([-5.0, -2.0, 0.0]).sum(),
            [9.99954600e-01, 4.53978686e-05, 2.06106005e-09],
        ],
    }
    for function, values in expected.items():
        y = function(x)
        assert_same_place(y, x)
        np.testing.assert_allclose(xpnet.to_numpy(y), values, rtol=1e-6, err_msg=function.__name__)


def test_toy_network(any_backend: xpnet.Backend) -> None:
    y = xpnet.forward(xpnet.init_network(any_backend), any_backend.asarray(np.array([1.0, 0.5])))
    np.testing.assert_allclose(xpnet.to_numpy(y), [0.31682708, 0.69627909], rtol=1e-7)


def test_book_accuracy(any_backend: xpnet.Backend, mnist_test, sample_weights) -> None:
    images, labels = mnist_test
    network = any_backend.asarrays(sample_weights)
    x, t = any_backend.asarray(images), any_backend.asarray(labels)
    assert xpnet.accuracy(network, x, t, MODELS["mlp"].batch_size(any_backend)) == 0.9352


def test_dask_builds_lazily(mnist_test, sample_weights) -> None:
    backend = open_backend("dask")
    x = backend.asarray(mnist_test[0])
    assert x.numblocks == (1, 1) and x.chunks[0] == (10000,)
    probabilities = xpnet.predict(backend.asarrays(sample_weights), x)
    assert is_lazy_array(probabilities) and probabilities.shape == (10000, 10)
    assert xpnet.get_backend("dask", batch_size=2500).asarray(mnist_test[0]).chunks[0] == (2500,) * 4


def test_cli_on_a_dask_scheduler(dask_cluster, mnist_dir: Path, weights_path: Path) -> None:
    address = dask_cluster.scheduler.address
    executed = dask_cluster.run(lambda dask_worker: dask_worker.state.executed_count)
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--backend", "dask", "--scheduler", address, "--batch-size", "2500",
         "--data-dir", str(mnist_dir), "--weights", str(weights_path), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] == 0.9352
    assert json.loads(result.stdout)["workers"] == 2  # the cluster's, not this process's
    after = dask_cluster.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(after.values()) > sum(executed.values())  # the work ran on the cluster's workers


def test_scheduler_needs_dask(mnist_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--scheduler", "tcp://127.0.0.1:1", "--data-dir", str(mnist_dir)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 2 and "--scheduler needs --backend dask" in result.stderr


@pytest.mark.slow
def test_out_of_core_dask_never_holds_the_whole_set(tmp_path: Path, mnist_test, weights_path: Path) -> None:
    """1,000,000 images (784 MB of uint8 .npy on disk) scored with a peak RSS far below their size."""
    images, labels = mnist_test
    copies = 100
    on_disk = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(copies * 10000, 784))
    for k in range(copies):
        on_disk[k * 10000 : (k + 1) * 10000] = images
    on_disk.flush()
    del on_disk
    np.save(tmp_path / "t.npy", np.tile(labels, copies))
    code = (
        "import sys; from xpnet.cli import main; "
        f"status = main(['infer', '--backend', 'dask', '--images', r'{tmp_path / 'x.npy'}', "
        f"'--labels', r'{tmp_path / 't.npy'}', '--weights', r'{weights_path}', '--json']); "
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent, which wrote the file
        "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0]); "
        "sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    report, peak_kib = result.stdout.splitlines()
    assert json.loads(report)["accuracy"] == 0.9352 and json.loads(report)["images"] == 1_000_000
    set_mib = copies * 10000 * 784 / 2**20
    assert int(peak_kib) / 1024 < set_mib / 2, f"peak RSS {int(peak_kib) / 1024:.0f} MiB for a {set_mib:.0f} MiB set"


def test_dask_progress_follows_computed_chunks(mnist_test, sample_weights) -> None:
    """Each batch is reported once its chunk has been computed, not while the graph is built."""
    backend = open_backend("dask")
    computed: list[int] = []

    def record(block: np.ndarray) -> np.ndarray:
        computed.append(len(block))
        return block

    images, labels = mnist_test
    x = xpnet.get_backend(backend, batch_size=1000).asarray(images).map_blocks(record, dtype=images.dtype)
    t = xpnet.get_backend(backend, batch_size=1000).asarray(labels)
    reports: list[tuple[int, int]] = []
    score = xpnet.accuracy(backend.asarrays(sample_weights), x, t, 1000,
                           progress=lambda size: reports.append((size, len(computed))))
    assert score == 0.9352
    assert [size for size, _ in reports] == [1000] * 10
    assert all(chunks_done >= k + 1 for k, (_, chunks_done) in enumerate(reports)), reports


def test_dask_progress_on_a_cluster(dask_cluster, mnist_test, sample_weights) -> None:
    import distributed

    backend = open_backend("dask")
    images, labels = mnist_test
    sizes: list[int] = []
    with distributed.Client(dask_cluster.scheduler.address, set_as_default=True):
        score = xpnet.accuracy(backend.asarrays(sample_weights), backend.asarray(images), backend.asarray(labels),
                               3000, progress=sizes.append)
    assert score == 0.9352 and sorted(sizes) == [1000, 3000, 3000, 3000]


@pytest.mark.gpu
def test_worker_threads_run_on_the_chosen_gpu(mnist_test, sample_weights) -> None:
    """CuPy's current GPU is per thread: each worker must score on cuda:N, not on GPU 0."""
    cupy = pytest.importorskip("cupy")
    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA GPUs")
    backend = xpnet.get_backend("cuda:1")
    used: set[int] = set()
    images, labels = mnist_test
    score = xpnet.accuracy(backend.asarrays(sample_weights), backend.asarray(images), backend.asarray(labels), 1000,
                           workers=2, progress=lambda _: used.add(cupy.cuda.Device().id))
    assert score == 0.9352 and used == {1}
