"""Shared fixtures: the real data in ../shared/data and one fixture per array backend.

The real-data fixtures fail, never skip, when the data are missing: CI must
not pass without having checked the book's accuracy.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import numpy as np
import pytest
from PIL import Image

import xpnet

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XPNET_TEST_DATA", ROOT.parent / "shared" / "data"))

# The one backend table (as array-api-extra's ``Backend`` enum): every numerical test takes its backend, and so
# its namespace and device, from here, crossed with the float dtypes. The first three must be there in CI; the
# others skip with a reason when their library is absent; the GPU ones run only where a CUDA GPU is visible.
REQUIRED = ["numpy", "array_api_strict", "array_api_strict:device1"]
OPTIONAL = ["torch", "jax", "dask"]
GPU = ["cuda", "torch:cuda", "jax:cuda", "dask:cuda"]
BACKENDS = [*REQUIRED, *OPTIONAL, *(pytest.param(spec, marks=pytest.mark.gpu) for spec in GPU)]
EAGER = [spec for spec in BACKENDS if not str(getattr(spec, "values", [spec])[0]).startswith("dask")]
FLOAT_DTYPES = ("float32", "float64")

# hypothesis keeps no example database: nothing is written into the checkout
hypothesis.settings.register_profile("xpnet", database=None)
hypothesis.settings.load_profile("xpnet")

if importlib.util.find_spec("jax") is not None:  # float64 on JAX, as on every other backend
    import jax

    jax.config.update("jax_enable_x64", True)


def open_backend(spec: str) -> xpnet.Backend:
    """The backend for ``spec``; an optional one that is not installed skips the test."""
    try:
        return xpnet.get_backend(spec)
    except xpnet.BackendError as err:
        if spec in REQUIRED:
            raise
        pytest.skip(f"optional backend {spec} not available: {err}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> xpnet.Backend:
    return open_backend(request.param)


@pytest.fixture(params=EAGER)
def eager_backend(request: pytest.FixtureRequest) -> xpnet.Backend:
    """The backends that compute as they go (training refuses dask's growing graphs)."""
    return open_backend(request.param)


@pytest.fixture
def xp(backend: xpnet.Backend) -> object:
    return backend.xp


@pytest.fixture
def device(backend: xpnet.Backend) -> object:
    return backend.device


@pytest.fixture(params=FLOAT_DTYPES)
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend_dtype(backend: xpnet.Backend, dtype: str) -> tuple[xpnet.Backend, object]:
    """A backend and one of its floating dtypes (the dtype object of its namespace)."""
    return backend, getattr(backend.xp, dtype)


def xp_assert_close(actual: object, desired: object, *, like: object, dtype: object = None,
                    rtol: float | None = None, atol: float = 0.0) -> None:
    """Namespace, device, dtype and values in one check, as SciPy's ``xp_assert_close``.

    ``like``: an array whose namespace and device ``actual`` must have (its
    dtype too, unless ``dtype`` is given). ``rtol`` defaults to a few units in
    the last place of the dtype. ``desired``: host values computed independently.
    """
    from array_api_compat import device

    from xpnet.backends import array_namespace

    xp = array_namespace(like)
    assert array_namespace(actual) is xp, f"namespace {array_namespace(actual).__name__}, expected {xp.__name__}"
    assert device(actual) == device(like), f"device {device(actual)}, expected {device(like)}"
    expected_dtype = like.dtype if dtype is None else dtype
    assert actual.dtype == expected_dtype, f"dtype {actual.dtype}, expected {expected_dtype}"
    if rtol is None:
        rtol = 4 * float(xp.finfo(actual.dtype).eps) if xp.isdtype(actual.dtype, "real floating") else 0.0
    np.testing.assert_allclose(xpnet.to_numpy(actual), desired, rtol=rtol, atol=atol)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    path = SHARED_DATA / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"MNIST test files not found in {path} (set XPNET_TEST_DATA to the shared data directory)")
    return path


# The book's test accuracies with its pretrained files, computed independently (../shared/data/README.md).
BOOK_ACCURACY = {"mlp": 0.9352, "simple_convnet": 0.9890, "deep_convnet": 0.9935}
BOOK_FILES = {"mlp": "sample_weight.pkl", "simple_convnet": "ch07/params.pkl",
              "deep_convnet": "ch08/deep_convnet_params.pkl"}


def book_file(model: str) -> Path:
    """The shared copy of the book's pretrained file for ``model``; fails (never skips) when it is missing."""
    path = SHARED_DATA / BOOK_FILES[model]
    if not path.exists():
        pytest.fail(f"{path} not found (set XPNET_TEST_DATA to the shared data directory)")
    return path


@pytest.fixture(scope="session")
def weights_path() -> Path:
    path = SHARED_DATA / "sample_weight.pkl"
    if not path.exists():
        pytest.fail(f"{path} not found (set XPNET_TEST_DATA to the shared data directory)")
    return path


@pytest.fixture(scope="session")
def mnist_test(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as uint8 (10000, 784) and their labels (10000,)."""
    from xpnet.datasets.mnist import load_split

    return load_split("test", normalize=False, data_dir=mnist_dir)


@pytest.fixture(scope="session")
def sample_weights(weights_path: Path) -> dict[str, np.ndarray]:
    return xpnet.load_weights(weights_path)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets an empty cache and no data or weights from the environment."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XPNET_CACHE_DIR", str(cache))
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    for variable in ("XPNET_WEIGHTS", "XPNET_WEIGHTS_SIMPLE_CONVNET", "XPNET_WEIGHTS_DEEP_CONVNET"):
        monkeypatch.delenv(variable, raising=False)
    with xpnet.config_context():  # settings a test changes end with it
        yield cache


def assert_same_place(result: object, like: object) -> None:
    """``result`` is an array of the same namespace and on the same device as ``like``."""
    from array_api_compat import device

    from xpnet.backends import array_namespace

    assert array_namespace(result) is array_namespace(like)
    assert device(result) == device(like)


@pytest.fixture(scope="session")
def dask_cluster():
    """A dask.distributed LocalCluster of 2 worker processes on 127.0.0.1, and a client of it."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def encoded(picture: np.ndarray, kind: str = "PNG", **options: object) -> bytes:
    """``picture`` (uint8 (h, w)) as the bytes of a ``kind`` file."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, kind, **options)
    return buffer.getvalue()


def claiming(height: int, width: int) -> bytes:
    """A JPEG of 16 x 16 pixels whose header claims ``height`` x ``width``."""
    data = bytearray(encoded(np.zeros((16, 16), np.uint8), "JPEG"))
    frame = data.find(b"\xff\xc0") + 5  # the baseline frame's height, then width, two bytes each
    data[frame : frame + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
