"""Chapters 4 and 5: losses against the book's numbers, gradient checks, and training that learns."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.nn import Pooling
from xpnet.train import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    MultiLayerNet,
    MultiLayerNetExtend,
    Nesterov,
    RMSprop,
    SimpleConvNet,
    TwoLayerNet,
    fit,
    numerical_gradient,
    train_epoch,
)

from conftest import ROOT, xp_assert_close


def test_numerical_gradient_of_a_square_never_writes_its_input(eager_backend: xpnet.Backend) -> None:
    xp = eager_backend.xp
    x = eager_backend.asarray(np.array([3.0, 4.0]))
    grad = numerical_gradient(lambda v: xp.sum(v**2), x)
    xp_assert_close(grad, [6.0, 8.0], like=x, rtol=1e-7)  # the book's (6, 8)
    frozen = np.array([[3.0, 4.0]])
    frozen.flags.writeable = False  # as immutable as a JAX array: any write raises
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), frozen), [[6.0, 8.0]], rtol=1e-7)


def test_the_books_idiom_is_refused_where_arrays_cannot_change(eager_backend: xpnet.Backend) -> None:
    """The book's ``numerical_gradient(lambda W: net.loss(x, t), net.params['W2'])``: its function reads the network,
    not its argument. Where the array can be changed in place it is the book's gradient; where it cannot, each
    probe is a new array that the function never sees, and the answer would be zeros: a ValueError instead."""
    net = TwoLayerNet(6, 4, 3, seed=0, backend=eager_backend, dtype="float64")
    x, t = small_batch(eager_backend)
    w2 = net.params["W2"]
    if xpnet.backends.is_writable(w2):
        xp_assert_close(numerical_gradient(lambda w: net.loss(x, t), w2), xpnet.to_numpy(net.gradient(x, t)["W2"]),
                        like=w2, atol=1e-8)
    else:
        with pytest.raises(ValueError, match="does not compute from x"):
            numerical_gradient(lambda w: net.loss(x, t), w2)
    frozen = xpnet.to_numpy(w2).copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"net\.numerical_gradient"):
        numerical_gradient(lambda w: float(xpnet.to_numpy(net.loss(x, t))), frozen)
    # a function that reads only its last two elements, and not their common shift: after eight flat probes it
    # is asked again, with each element moved by its own amount, and goes on
    last = np.arange(10.0)
    last.flags.writeable = False
    expected = np.zeros(10)
    expected[8:] = [-2.0, 2.0]  # d/dv of (v9 - v8)^2 at v8 = 8, v9 = 9: -2(v9 - v8), 2(v9 - v8)
    np.testing.assert_allclose(numerical_gradient(lambda v: (v[9] - v[8]) ** 2, last), expected, atol=1e-8)


def small_batch(backend: xpnet.Backend) -> tuple[object, object]:
    rng = np.random.default_rng(2)
    return backend.asarray(rng.standard_normal((4, 6))), backend.asarray(np.array([0, 2, 1, 2]))


@pytest.mark.parametrize(("activation", "init", "decay"), [("sigmoid", "xavier", 0), ("relu", "he", 0.1)])
def test_backpropagation_agrees_with_the_numerical_gradient(
    eager_backend: xpnet.Backend, activation: str, init: str, decay: float
) -> None:
    backend = eager_backend
    net = MultiLayerNet(6, [5, 4], 3, activation, init, decay, seed=1, backend=backend, dtype="float64")
    x, t = small_batch(backend)
    grads = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    assert set(grads) == set(numerical) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for key, value in grads.items():
        xp_assert_close(value, xpnet.to_numpy(numerical[key]), like=x, atol=1e-6)


def test_uint8_pixels_are_scaled_in_loss_and_gradient(eager_backend: xpnet.Backend) -> None:
    b = eager_backend
    net = MultiLayerNet(6, [5], 3, seed=0, backend=b, dtype="float64")
    pixels = np.random.default_rng(0).integers(0, 256, (4, 6), dtype=np.uint8)
    t = b.asarray(np.array([0, 2, 1, 2]))
    scaled = float(net.loss(b.asarray(pixels / 255), t))
    assert float(net.loss(b.asarray(pixels), t)) == pytest.approx(scaled, rel=1e-12)
    assert scaled < 3  # about log(3) for a fresh network, not the 13 that unscaled pixels give
    xp_assert_close(net.gradient(b.asarray(pixels), t)["W1"], xpnet.to_numpy(net.gradient(b.asarray(pixels / 255),
                                                                                           t)["W1"]),
                    like=net.params["W1"], rtol=1e-12)


def test_params_write_through_to_the_layers(eager_backend: xpnet.Backend) -> None:
    b = eager_backend
    net = MultiLayerNet(6, [5], 3, seed=0, dtype="float64")
    x, t = small_batch(b)
    net.params = b.asarrays(dict(net.params))  # rebinding moves every layer with it
    assert net.layers["Affine1"].W is net.params["W1"]
    before = float(net.loss(x, t))
    net.params["W2"] = net.params["W2"] * 0  # scores all equal: the loss is log(3)
    assert float(net.loss(x, t)) == pytest.approx(np.log(3), rel=1e-6) != before
    with pytest.raises(KeyError, match="'W9' is not a parameter"):
        net.params["W9"] = net.params["W1"]
    with pytest.raises(KeyError, match="expected the parameters"):
        net.params = {"W1": net.params["W1"]}


def test_a_network_moves_whole(eager_backend: xpnet.Backend, tmp_path: Path) -> None:
    net = TwoLayerNet(6, 5, 3, seed=0, dtype="float64")
    x, _t = small_batch(xpnet.get_backend("cpu"))
    expected = xpnet.to_numpy(net.predict(x))
    moved = net.to(eager_backend)
    x_there = eager_backend.asarray(xpnet.to_numpy(x))
    xp_assert_close(moved.predict(x_there), expected, like=x_there, atol=1e-12)
    xpnet.save_weights(tmp_path / "w.npz", moved.params)  # arrays from any backend
    assert xpnet.load_weights(tmp_path / "w.npz").keys() == {"W1", "b1", "W2", "b2"}


def test_optimizers_have_the_books_defaults_and_steps() -> None:
    """One step of each from the same start, against the book's update rules written out here."""
    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    eps = 1e-7
    expected = {
        SGD(): w - 0.01 * g,
        Momentum(): w + (-0.01 * g),
        Nesterov(): w - 1.9 * 0.01 * g,  # the velocity before the first step is zero
        AdaGrad(): w - 0.01 * g / (np.sqrt(g * g) + eps),
        RMSprop(): w - 0.01 * g / (np.sqrt(0.01 * g * g) + eps),
        Adam(): w - 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * g) / (np.sqrt(0.001 * g * g) + eps),
    }
    for optimizer, after in expected.items():
        start = w.copy()
        params = {"W1": start}
        optimizer.update(params, {"W1": g})
        np.testing.assert_allclose(params["W1"], after, rtol=1e-12, err_msg=type(optimizer).__name__)
        assert params["W1"] is start  # in place, as the book's: the layers holding the array see the step


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_steps_in_parts_of_the_rows_as_it_steps_whole(eager_backend: xpnet.Backend, name: str) -> None:
    """Copies of an optimizer over disjoint rows of every parameter (views), stepped one after another, then
    joined, leave the parameters and the state where the whole optimizer's steps do: the update is elementwise.
    Parts need the optimizer's arrays, made by its first step, and arrays that can be changed in place."""
    from array_api_compat import is_writeable_array

    rng = np.random.default_rng(2)
    start = {"W1": rng.standard_normal((5, 3)), "b1": rng.standard_normal(3), "W2": rng.standard_normal((1, 4))}
    steps = [{key: rng.standard_normal(value.shape) for key, value in start.items()} for _ in range(4)]
    results = []
    for count in (1, 2, 3):
        optimizer = OPTIMIZERS[name](lr=0.05)
        params = {key: eager_backend.asarray(value.copy()) for key, value in start.items()}
        pickers = [functools.partial(_rows, index=i, count=count) for i in range(count)]
        for k, grads in enumerate(steps):
            grads = {key: eager_backend.asarray(value) for key, value in grads.items()}
            parts = [optimizer.part(rows, params) for rows in pickers]
            if (k == 0 and optimizer.slots) or not is_writeable_array(params["W1"]):
                assert parts == [None] * count
                optimizer.update(params, grads)
                continue
            for part, rows in zip(parts, pickers, strict=True):
                part.update({key: rows(value) for key, value in params.items()},
                            {key: rows(value) for key, value in grads.items()})
            optimizer.join(parts)
        results.append(({key: xpnet.to_numpy(value) for key, value in params.items()},
                        {key: np.asarray(value if isinstance(value, int) else xpnet.to_numpy(value))
                         for key, value in optimizer.state().items()}))
    for params, state in results[1:]:
        for key, value in results[0][0].items():
            np.testing.assert_array_equal(params[key], value, err_msg=key)
        assert state.keys() == results[0][1].keys()
        for key, value in results[0][1].items():
            np.testing.assert_array_equal(state[key], value, err_msg=key)


def _rows(array: np.ndarray, index: int, count: int) -> np.ndarray:
    return array[array.shape[0] * index // count : array.shape[0] * (index + 1) // count, ...]


@pytest.mark.parametrize("name", ["momentum", "adagrad", "adam"])
def test_an_optimizers_state_goes_out_and_comes_in_as_copies(name: str) -> None:
    """Its arrays change in place as it steps, as the book's do; what :meth:`state` gave and what
    :meth:`load_state` took do not."""
    params, grads = {"W1": np.ones(3)}, {"W1": np.full(3, 0.5)}
    optimizer = OPTIMIZERS[name](lr=0.1)
    optimizer.update(params, grads)
    given = optimizer.state()
    before = {key: np.copy(value) for key, value in given.items()}
    loaded = {key: np.copy(value) for key, value in given.items()}
    other = OPTIMIZERS[name](lr=0.1)
    other.load_state(loaded)
    for stepping in (optimizer, other):
        stepping.update(params, grads)
    for key, value in before.items():
        np.testing.assert_array_equal(given[key], value, err_msg=key)
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    assert any(not np.array_equal(optimizer.state()[key], value) for key, value in before.items())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_goes_on_from_its_saved_state(eager_backend: xpnet.Backend, name: str) -> None:
    """Three steps, the state taken (as a checkpoint keeps it, on the host) and loaded into a new optimizer: its
    next two steps are the ones the first optimizer takes."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((3, 2)) for _ in range(5)]
    going_on, start = OPTIMIZERS[name](lr=0.05), rng.standard_normal((3, 2))
    params = {"W1": eager_backend.asarray(start.copy())}
    for g in grads[:3]:
        going_on.update(params, {"W1": eager_backend.asarray(g)})
    saved = {key: np.asarray(value if isinstance(value, int) else xpnet.to_numpy(value))
             for key, value in going_on.state().items()}
    resumed, copy = OPTIMIZERS[name](lr=0.05), {"W1": eager_backend.asarray(xpnet.to_numpy(params["W1"]).copy())}
    resumed.load_state({key: value if value.ndim == 0 else eager_backend.asarray(value)
                        for key, value in saved.items()})
    for g in grads[3:]:
        going_on.update(params, {"W1": eager_backend.asarray(g)})
        resumed.update(copy, {"W1": eager_backend.asarray(g)})
    np.testing.assert_allclose(xpnet.to_numpy(copy["W1"]), xpnet.to_numpy(params["W1"]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"keeps no 'w\.W1'"):
        resumed.load_state({"w.W1": saved.get("v.W1", 0.0)})


def test_the_books_chapter_5_loop_runs_unchanged(eager_backend: xpnet.Backend, dtype: str, mnist_test) -> None:
    """ch05/train_neuralnet.py as a reader types it; only the arrays come from ``backend``, the network in
    float32 or float64."""
    backend = eager_backend
    xp = backend.xp
    images, labels = mnist_test
    x_train, t_train = backend.asarray(images[:1000] / 255.0), backend.asarray(np.eye(10)[labels[:1000]])

    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, backend=backend, seed=0, dtype=dtype)

    iters_num = 60
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    train_loss_list = []

    for i in range(iters_num):
        batch_mask = xp.asarray(np.random.default_rng(i).choice(train_size, batch_size), device=backend.device)
        x_batch = xp.take(x_train, batch_mask, axis=0)
        t_batch = xp.take(t_train, batch_mask, axis=0)

        grad = network.gradient(x_batch, t_batch)

        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]

        loss = network.loss(x_batch, t_batch)
        train_loss_list.append(float(loss))

    assert train_loss_list[-1] < train_loss_list[0] < 2.4
    assert network.accuracy(x_train, t_train) > 0.5
    # the gradient the loop used is the true one: backpropagation against central differences (ch05/gradient_check.py)
    small = TwoLayerNet(input_size=6, hidden_size=4, output_size=3, backend=backend, seed=1, dtype="float64")
    x, t = small_batch(backend)
    grad_backprop = small.gradient(x, t)
    grad_numerical = small.numerical_gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        diff = np.mean(np.abs(xpnet.to_numpy(grad_backprop[key]) - xpnet.to_numpy(grad_numerical[key])))
        assert diff < 1e-6, key  # the book prints 1e-10 .. 1e-7 for its check


def test_training_refuses_dask(mnist_test) -> None:
    backend = pytest.importorskip("dask") and xpnet.get_backend("dask")
    net = MultiLayerNet(784, [10], 10, seed=0, backend="cpu")
    x, t = backend.asarray(mnist_test[0][:100]), backend.asarray(mnist_test[1][:100])
    with pytest.raises(xpnet.BackendError, match="training needs an eager backend"):
        train_epoch(net, x, t, SGD(), np.random.default_rng(0))


def test_training_runs_with_one_blas_thread(mnist_test) -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    before, seen = blas_threads(), []
    net = MultiLayerNet(784, [10], 10, seed=0)
    train_epoch(net, mnist_test[0][:300], mnist_test[1][:300], SGD(), np.random.default_rng(0),
                progress=lambda _: seen.append(blas_threads()))
    assert seen == [{1}] * 3 and blas_threads() == before


@pytest.mark.parametrize("spec", ["numpy", "array_api_strict:device1"])
def test_training_on_8000_test_images_reaches_90_percent_on_the_other_2000(spec: str, mnist_test) -> None:
    """This machine has only MNIST's test split: train on its first 8,000 images, test on the last 2,000."""
    backend = xpnet.get_backend(spec)
    images, labels = (backend.asarray(a) for a in mnist_test)
    train, test = (images[:8000, ...], labels[:8000]), (images[8000:, ...], labels[8000:])
    net = MultiLayerNet(784, [50, 100], 10, "sigmoid", "xavier", seed=0, backend=backend, dtype="float32")
    history = list(fit(net, train, test, epochs=3, optimizer=OPTIMIZERS["adam"](lr=0.005), seed=0))
    assert history[-1]["test_accuracy"] >= 0.90
    assert history[0]["loss"] > history[-1]["loss"]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_learns(name: str, mnist_test) -> None:
    from xpnet.cli.train import TRAIN_LR

    images, labels = mnist_test
    net = MultiLayerNet(784, [30], 10, "sigmoid", "xavier", seed=3, dtype="float32")
    before = net.accuracy(images[8000:], labels[8000:])
    history = list(fit(net, (images[:4000], labels[:4000]), (images[8000:], labels[8000:]), epochs=2,
                       optimizer=OPTIMIZERS[name](lr=TRAIN_LR[name]), seed=3))
    assert before < 0.2 and history[-1]["test_accuracy"] > 0.6


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_compiled_step_trains_as_the_eager_loop_does(name: str, mnist_test) -> None:
    """On JAX an epoch runs as one compiled function a step (weights and the optimizer's state as arguments),
    compiled once a run for each batch shape; it takes the steps the eager loop takes on NumPy from the same
    start, on the same batches (two epochs, so that the optimizer's state goes from one epoch to the next)."""
    from xpnet.backends.runtime import compiles
    from xpnet.train.loop import _traceable

    pytest.importorskip("jax", reason="optional backend jax not installed: pip install 'xpnet[jax]'")
    from jax import monitoring

    compilations: list[str] = []  # JAX's, from here on

    def note(event: str, _: float, **__: object) -> None:
        if event.endswith("backend_compile_duration"):
            compilations.append(event)

    monitoring.register_event_duration_secs_listener(note)
    images, labels = mnist_test
    results = {}
    for spec in ("numpy", "jax"):
        backend = xpnet.get_backend(spec)
        net = MultiLayerNet(784, [30, 20], 10, "sigmoid", "xavier", weight_decay_lambda=0.01, seed=5,
                            dtype="float32", backend=backend)
        assert _traceable(net) and compiles(backend.asarray(images[:1])) == (spec == "jax")
        optimizer, rng = OPTIMIZERS[name](lr=0.05 if name != "adam" else 0.005), np.random.default_rng(1)
        x, t = backend.asarray(images[:1000]), backend.asarray(labels[:1000])
        losses = [train_epoch(net, x, t, optimizer, rng, batch_size=96)]  # a last batch of 40
        compiled_in_the_first = len(compilations)
        losses.append(train_epoch(net, x, t, optimizer, rng, batch_size=96))
        assert len(compilations) == compiled_in_the_first, "the second epoch compiled its step again"
        results[spec] = losses, {key: xpnet.to_numpy(value) for key, value in net.params.items()}
    np.testing.assert_allclose(results["jax"][0], results["numpy"][0], rtol=1e-4)
    for key, value in results["numpy"][1].items():
        np.testing.assert_allclose(results["jax"][1][key], value, rtol=2e-3, atol=2e-4, err_msg=key)


@pytest.mark.parametrize("model", ["simple_convnet", "deep_convnet"])
def test_numpy_takes_a_convnet_batch_in_parts_one_a_core_to_the_same_step(model: str, mnist_test, monkeypatch) -> None:
    """On NumPy a network with convolutions takes each batch in parts, one a core, of at least 25 images; the parts'
    gradients and losses, weighted by their shares, add up to the whole batch's, and dropout draws each part's rows
    of the whole batch's mask, so that an epoch ends where the one-part epoch does (float64, to rounding)."""
    from xpnet.models import MODELS
    from xpnet.train import loop

    images, labels = mnist_test[0][:230], mnist_test[1][:230]  # batches of 100, 100 and 30
    build = MODELS[model].build
    seen: list[int] = []
    gradient = xpnet.nn.Model.gradient
    monkeypatch.setattr(xpnet.nn.Model, "gradient", lambda self, x, t: seen.append(x.shape[0]) or gradient(self, x, t))
    results = {}
    for cores in (1, 2, 3):
        monkeypatch.setattr(loop, "cpu_count", lambda cores=cores: cores)
        net = build(seed=0, dtype="float64")
        seen.clear()
        loss = train_epoch(net, images, labels, Adam(), np.random.default_rng(0))
        results[cores] = loss, {key: xpnet.to_numpy(value) for key, value in net.params.items()}, sorted(seen)
    assert results[1][2] == [30, 100, 100]
    assert results[2][2] == [30, *[50] * 4]
    assert results[3][2] == [30, 33, 33, 33, 33, 34, 34]
    for cores in (2, 3):
        assert results[cores][0] == pytest.approx(results[1][0], rel=1e-12)
        for key, value in results[1][1].items():
            np.testing.assert_allclose(results[cores][1][key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_a_batch_is_taken_whole_where_parts_cannot_compute_as_it_would(monkeypatch) -> None:
    """A dense network (small products), another library than NumPy, NumPy's global generator (it cannot skip
    ahead), batch normalization (statistics of the whole batch)."""
    from xpnet.train import loop

    monkeypatch.setattr(loop, "cpu_count", lambda: 2)
    assert loop._cores(SimpleConvNet(seed=0)) == 2
    assert loop._cores(MultiLayerNet(784, [10], 10, seed=0)) == 1
    assert loop._cores(SimpleConvNet(seed=0, backend="array_api_strict")) == 1
    assert MultiLayerNetExtend(784, [10], 10, use_dropout=True, seed=np.random).part(0, 1) is None
    assert MultiLayerNetExtend(784, [10], 10, use_batchnorm=True, seed=0).part(0, 1) is None
    assert MultiLayerNetExtend(784, [10], 10, use_dropout=True, seed=0).part(0, 1) is not None


def test_layers_with_random_draws_or_running_statistics_are_not_compiled() -> None:
    from xpnet.train.loop import _traceable

    assert not _traceable(MultiLayerNetExtend(784, [10], 10, use_dropout=True, seed=0))
    assert not _traceable(MultiLayerNetExtend(784, [10], 10, use_batchnorm=True, seed=0))
    assert _traceable(MultiLayerNetExtend(784, [10], 10, seed=0))


def train_and_score(tmp_path: Path, mnist_dir: Path, model: str) -> dict[str, float]:
    """``xpnet train --model MODEL --train-on-test 8000 --epochs 2``, then ``xpnet infer`` on what it saved."""
    saved = tmp_path / f"{model}.npz"
    trained = subprocess.run(
        [sys.executable, "scripts/train_neuralnet.py", "--model", model, "--train-on-test", "8000", "--epochs", "2",
         "--json", "--data-dir", str(mnist_dir), "--save", str(saved)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert trained.returncode == 0, trained.stderr
    last = json.loads(trained.stdout.splitlines()[-1])
    assert last["epoch"] == 2
    assert f"xpnet infer --weights {saved} (its first 8000 test images were trained on" in trained.stderr
    scored = subprocess.run(  # the file says which model it holds
        [sys.executable, "-m", "xpnet", "infer", "--weights", str(saved), "--data-dir",
         str(mnist_dir), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert scored.returncode == 0, scored.stderr
    # infer scores all 10,000 test images: the 8,000 trained on and the 2,000 held out
    expected = round(last["train_accuracy"] * 8000) + round(last["test_accuracy"] * 2000)
    assert json.loads(scored.stdout)["correct"] == expected
    return last


@pytest.mark.slow
def test_simple_convnet_beats_chapter_3_on_the_same_split(tmp_path: Path, mnist_dir: Path) -> None:
    """Trained the same way (Adam, batch 100, seed 0, 2 epochs), weights round-tripped through infer."""
    mlp = train_and_score(tmp_path, mnist_dir, "mlp")
    convnet = train_and_score(tmp_path, mnist_dir, "simple_convnet")
    assert mlp["test_accuracy"] >= 0.9
    assert convnet["test_accuracy"] > mlp["test_accuracy"]


@pytest.mark.parametrize("pad", [0, 1])
def test_inference_rectifies_after_pooling_to_the_bit(pad: int) -> None:
    """predict runs a ReLU that precedes a max pooling after it: same scores, NaN and padding zeros included."""
    network = SimpleConvNet(conv_param={"filter_num": 4, "filter_size": 3}, hidden_size=6, seed=0,
                            dtype="float64")
    network.layers["Pool1"] = Pooling(2, 2, stride=2, pad=pad)
    if pad:  # 13 x 13 pooled windows: the next layer is rebuilt for them
        network.layers["Affine1"].W = network.backend.asarray(np.ones((4 * 14 * 14, 6)) / 100)
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28))
    x[0, 0, 5:9, 5:9] = np.nan
    book_order = x
    for layer in network.layers.values():
        book_order = layer.forward(book_order)
    assert np.isnan(book_order[0]).all() and not np.isnan(book_order[1:]).any()
    np.testing.assert_array_equal(network.predict(x), book_order)
