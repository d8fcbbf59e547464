"""Chapters 4 and 5: losses against the book's numbers, gradient checks, and training that learns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.train import (
    OPTIMIZERS,
    MultiLayerNet,
    cross_entropy_error,
    fit,
    numerical_gradient,
    sum_squared_error,
)

from conftest import ROOT, assert_same_place

# The book's example (section 4.2.1): the truth is "2"; one output says 2 with 0.6, the other 7.
RIGHT = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]


def test_losses_match_the_book(backend: xpnet.Backend) -> None:
    t = backend.asarray(np.eye(10)[2])
    right, wrong = backend.asarray(np.array(RIGHT)), backend.asarray(np.array(WRONG))
    assert float(sum_squared_error(right, t)) == pytest.approx(0.0975)
    assert float(sum_squared_error(wrong, t)) == pytest.approx(0.5975)
    assert float(cross_entropy_error(right, t)) == pytest.approx(0.510825457099338, rel=1e-6)
    assert float(cross_entropy_error(wrong, t)) == pytest.approx(2.302584092994546, rel=1e-6)


def test_batched_losses_take_indices_and_average(backend: xpnet.Backend) -> None:
    y = backend.asarray(np.array([RIGHT, WRONG]))
    labels = backend.asarray(np.array([2, 2]))
    loss = cross_entropy_error(y, labels)
    assert_same_place(loss, y)
    assert float(loss) == pytest.approx((0.510825457099338 + 2.302584092994546) / 2, rel=1e-6)
    assert float(sum_squared_error(y, labels)) == pytest.approx((0.0975 + 0.5975) / 2)


def test_cross_entropy_never_takes_log_of_zero(required_backend: xpnet.Backend) -> None:
    y = required_backend.asarray(np.array([[1.0, 0.0]]))
    assert float(cross_entropy_error(y, required_backend.asarray(np.array([1])))) == pytest.approx(-np.log(1e-7))


def test_numerical_gradient_of_a_square(required_backend: xpnet.Backend) -> None:
    xp = required_backend.xp
    x = required_backend.asarray(np.array([3.0, 4.0]))
    grad = numerical_gradient(lambda v: xp.sum(v**2), x)
    assert_same_place(grad, x)
    np.testing.assert_allclose(xpnet.to_numpy(grad), [6.0, 8.0], rtol=1e-7)  # the book's (6, 8)
    np.testing.assert_array_equal(xpnet.to_numpy(x), [3.0, 4.0])  # restored


@pytest.mark.parametrize(("activation", "init"), [("sigmoid", "xavier"), ("relu", "he")])
def test_backpropagation_agrees_with_the_numerical_gradient(
    backend: xpnet.Backend, activation: str, init: str
) -> None:
    if backend.name == "dask":
        pytest.skip("dask arrays cannot be assigned to element by element, as the numerical gradient needs")
    net = MultiLayerNet([6, 5, 4, 3], activation, init, seed=1, backend=backend, dtype="float64")
    rng = np.random.default_rng(2)
    x = backend.asarray(rng.standard_normal((4, 6)))
    t = backend.asarray(np.array([0, 2, 1, 2]))
    _, grads = net.gradient(x, t)
    numerical = net.numerical_gradient(x, t)
    assert set(grads) == set(numerical) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for key, value in grads.items():
        assert_same_place(value, x)
        np.testing.assert_allclose(xpnet.to_numpy(value), xpnet.to_numpy(numerical[key]), atol=1e-7, err_msg=key)


@pytest.mark.parametrize("spec", ["numpy", "array_api_strict:device1"])
def test_training_on_8000_test_images_reaches_90_percent_on_the_other_2000(spec: str, mnist_test) -> None:
    """This machine has only MNIST's test split: train on its first 8,000 images, test on the last 2,000."""
    backend = xpnet.get_backend(spec)
    images, labels = (backend.asarray(a) for a in mnist_test)
    train, test = (images[:8000, ...], labels[:8000]), (images[8000:, ...], labels[8000:])
    net = MultiLayerNet([784, 50, 100, 10], seed=0, backend=backend)
    history = list(fit(net, train, test, epochs=3, optimizer=OPTIMIZERS["adam"](), seed=0))
    assert history[-1]["test_accuracy"] >= 0.90
    assert history[0]["loss"] > history[-1]["loss"]


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_each_optimizer_learns(name: str, mnist_test) -> None:
    images, labels = mnist_test
    net = MultiLayerNet([784, 30, 10], seed=3)
    before = net.accuracy(images[8000:], labels[8000:])
    history = list(fit(net, (images[:4000], labels[:4000]), (images[8000:], labels[8000:]), epochs=2,
                       optimizer=OPTIMIZERS[name](), seed=3))
    assert before < 0.2 and history[-1]["test_accuracy"] > 0.6


def test_trained_weights_run_through_infer(tmp_path: Path, mnist_dir: Path) -> None:
    saved = tmp_path / "trained.npz"
    trained = subprocess.run(
        [sys.executable, "scripts/train_neuralnet.py", "--train-on-test", "8000", "--epochs", "2", "--json",
         "--data-dir", str(mnist_dir), "--save", str(saved)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert trained.returncode == 0, trained.stderr
    last = json.loads(trained.stdout.splitlines()[-1])
    assert last["epoch"] == 2 and last["test_accuracy"] >= 0.9
    assert f"xpnet infer --weights {saved}" in trained.stderr
    scored = subprocess.run(
        [sys.executable, "-m", "xpnet", "infer", "--weights", str(saved), "--data-dir", str(mnist_dir), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert scored.returncode == 0, scored.stderr
    # infer scores all 10,000 test images: the 8,000 trained on and the 2,000 held out
    expected = round(last["train_accuracy"] * 8000) + round(last["test_accuracy"] * 2000)
    assert json.loads(scored.stdout)["correct"] == expected
