"""Backend selection, transfers, and that a CPU run never imports the GPU or heavy libraries."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.backends import array_namespace

from conftest import ROOT


@pytest.mark.parametrize(
    ("spec", "name"),
    [("cpu", "numpy"), ("numpy", "numpy"), ("array_api_strict", "array_api_strict")],
)
def test_specs_name_libraries(spec: str, name: str) -> None:
    backend = xpnet.get_backend(spec)
    assert backend.name == name
    assert xpnet.get_namespace(spec) is backend.xp


def test_numpy_scores_on_every_core_by_default() -> None:
    assert xpnet.get_backend("cpu").workers == len(os.sched_getaffinity(0))
    assert xpnet.get_backend("cpu", workers=3, batch_size=7).workers == 3
    assert xpnet.get_backend(xpnet.get_backend("cpu"), workers=1).workers == 1
    assert xpnet.get_backend("array_api_strict").workers == 1


def test_parallel_map_runs_each_call_with_one_blas_thread() -> None:
    from threadpoolctl import threadpool_info

    from xpnet.backends.runtime import parallel_map

    def blas_threads(_: int) -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    before = blas_threads(0)
    assert before, "NumPy's BLAS should be visible to threadpoolctl"
    with parallel_map(2) as map_:
        inside = list(map_(blas_threads, range(4)))
        assert list(map_(lambda k: k * k, range(5))) == [0, 1, 4, 9, 16]  # in call order
    assert inside == [{1}] * 4
    assert blas_threads(0) == before
    import threading

    both = threading.Barrier(2, timeout=10)

    def meet(_: int) -> threading.Thread:
        both.wait()  # each call waits for the other: they run at once, or time out
        return threading.current_thread()

    with parallel_map(2) as map_:
        threads = list(map_(meet, range(2)))
        assert threads[0] is threading.current_thread() and threads[1] is not threads[0]  # the caller takes a share
        # more calls than workers: each thread takes the next as it finishes one, so they still pair up
        assert len(set(map_(meet, range(6)))) == 2

    def fail(k: int) -> int:
        if k == 1:
            raise ZeroDivisionError(k)
        return k

    with parallel_map(2) as map_, pytest.raises(ZeroDivisionError):
        list(map_(fail, range(8)))
    with parallel_map(1) as map_:
        assert map_ is map


def test_overlapping_accuracy_calls_leave_blas_as_it_was(mnist_test, sample_weights) -> None:
    """A enters, B enters, A leaves (B must still run single-threaded), B leaves: BLAS is back as it was."""
    import threading

    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    images, labels = mnist_test
    before = blas_threads()
    a_running, b_running, a_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_b_after_a: list[set[int]] = []
    scores_b: list[float] = []

    def progress_a(_: int) -> None:
        a_running.set()
        assert b_running.wait(30)

    def progress_b(_: int) -> None:
        b_running.set()
        if a_done.wait(30) and not seen_by_b_after_a:
            seen_by_b_after_a.append(blas_threads())

    def run_b() -> None:
        assert a_running.wait(30)
        scores_b.append(xpnet.accuracy(sample_weights, images, labels, 1000, workers=2, progress=progress_b))

    b = threading.Thread(target=run_b)
    b.start()
    assert xpnet.accuracy(sample_weights, images, labels, 1000, workers=2, progress=progress_a) == 0.9352
    a_done.set()
    b.join(60)
    assert scores_b == [0.9352] and seen_by_b_after_a == [{1}]
    assert blas_threads() == before


def test_strict_device1_is_kept_apart_from_the_cpu() -> None:
    """The CPU stand-in for a GPU refuses what CuPy refuses, so the tests on it mean something."""
    gpu_like = xpnet.get_backend("array_api_strict:device1")
    cpu = xpnet.get_backend("array_api_strict")
    a = gpu_like.asarray(np.ones(3))
    with pytest.raises(ValueError):
        a + cpu.asarray(np.ones(3))
    with pytest.raises(RuntimeError):
        np.asarray(a)


def test_namespaces_found_once_still_refuse_mixed_libraries(backend: xpnet.Backend) -> None:
    """The namespace of a type is remembered (layers ask per call); a call that mixes libraries still fails."""
    x = backend.asarray(np.ones(3))
    first = array_namespace(x)
    assert array_namespace(x, backend.asarray(np.zeros(2))) is first is backend.xp
    if backend.name != "numpy":
        with pytest.raises(TypeError):
            array_namespace(x, np.ones(3))


def test_round_trip_through_each_backend(backend: xpnet.Backend) -> None:
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    moved = xpnet.to_device(host, backend)
    assert xpnet.to_numpy(moved).dtype == np.float32
    np.testing.assert_array_equal(xpnet.to_numpy(moved), host)


@pytest.mark.parametrize(
    ("spec", "device", "message"),
    [
        ("tensorflow", None, "unknown backend 'tensorflow'"),
        ("numpy", "tpu", "numpy runs on the cpu only"),
        ("cpu", "device1", "'device1' is array_api_strict's: --backend array_api_strict;"),
        ("array_api_strict", "device9", "array_api_strict:"),
        ("cupy", "x", "cupy needs a GPU number"),
        ("torch:cpu", "cuda", "device given twice"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, device: str | None, message: str) -> None:
    with pytest.raises(xpnet.BackendError, match=message):
        xpnet.get_backend(spec, device)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)


def test_cuda_without_cupy_or_gpu_is_one_clear_line() -> None:
    probe = run_python("import importlib.util as u; print(u.find_spec('cupy') is not None)")
    if probe.stdout.strip() == "True":
        pytest.skip("CuPy is installed here; the missing-CuPy message cannot be produced")
    result = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--device", "cuda"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "cupy is not installed" in result.stderr and "xpnet[cuda12]" in result.stderr
    assert "Traceback" not in result.stderr


def test_cpu_run_imports_no_heavy_library(mnist_dir, weights_path) -> None:
    code = (
        "import sys, json; from xpnet.cli import main; "
        f"main(['infer', '--data-dir', r'{mnist_dir}', '--weights', r'{weights_path}', '--json']); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert json.loads(lines[0])["accuracy"] == 0.9352
    modules = set(json.loads(lines[-1]))
    loaded = {name.split(".")[0] for name in modules}
    assert not loaded & {"cupy", "torch", "dask", "distributed", "matplotlib", "pooch", "requests", "tqdm"}
    assert {"numpy", "array_api_compat"} <= loaded
    # NumPy serves as its own namespace: its array_api_compat wrapper and what that drags in stay out
    assert not modules & {"array_api_compat.numpy", "numpy.typing", "numpy.f2py", "numpy.testing"}


def test_help_imports_no_heavy_library() -> None:
    result = run_python(
        "import sys; from xpnet.cli import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'cupy','torch','dask','matplotlib','pooch'}))"
    )
    assert result.stdout.strip().endswith("[]"), result.stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_command_reuses_freed_memory_instead_of_faulting_it_in_again() -> None:
    # the page faults of later passes over the same batches: each batch's arrays come back from the heap,
    # not fresh from the kernel. Sixteen idle threads hold arenas of their own, as JAX's thread pool does:
    # each pass's new worker threads would then get new arenas (without the settings: about 500 a batch)
    result = run_python(
        "import resource, threading, numpy as np\n"
        "from xpnet.backends import get_backend\n"
        "from xpnet.models import MODELS\n"
        "from xpnet.network import accuracy\n"
        "from xpnet.backends.runtime import reuse_freed_memory\n"
        "assert reuse_freed_memory()\n"
        "done = threading.Event()\n"
        "def idle(): bytearray(1 << 16); done.wait()\n"
        "for _ in range(16): threading.Thread(target=idle, daemon=True).start()\n"
        "net = MODELS['simple_convnet'].network(get_backend('cpu'), seed=0, dtype='float32')\n"
        "x = np.random.default_rng(0).integers(0, 256, (1000, 784), dtype=np.uint8)\n"
        "t = np.zeros(1000, np.int64)\n"
        "accuracy(net, x, t, 100, workers=2)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): accuracy(net, x, t, 100, workers=2)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)"
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 100, f"{result.stdout.strip()} page faults a batch"


def test_convnet_commands_ask_for_freed_memory_to_be_reused(monkeypatch, capsys) -> None:
    import xpnet.models.registry

    calls = []
    monkeypatch.setattr(xpnet.models.registry, "reuse_freed_memory", lambda: calls.append(True))
    from xpnet.cli import main

    for model in ("mlp", "simple_convnet", "deep_convnet"):  # each refused once the arguments are read
        assert main(["infer", "--model", model, "--images", "x.npy"]) == 2
    assert len(calls) == 2


def test_training_a_convnet_asks_for_freed_memory_to_be_reused(monkeypatch, tmp_path, capsys) -> None:
    """xpnet train as infer: a ConvNet's step allocates arrays of the same large sizes at every batch (without the
    setting SimpleConvNet trained at about half the speed on a 2-core VM)."""
    import xpnet.models.registry

    calls = []
    monkeypatch.setattr(xpnet.models.registry, "reuse_freed_memory", lambda: calls.append(True))
    from xpnet.cli import main

    for model in ("mlp", "simple_convnet"):  # each refused where the backend is looked up, after the setting
        assert main(["train", "--model", model, "--backend", "no-such-library", "--save", str(tmp_path / "w.npz")]) == 2
    assert len(calls) == 1
