"""Chapters 4 to 6 as the book computes them: batch normalization, the extended network, Nesterov, the Trainer,
numerical gradients by the book's idiom, and the book's ``common`` package in a checkout."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.nn import BatchNormalization
from xpnet.train import MultiLayerNetExtend, Nesterov, Trainer, TwoLayerNet, numerical_gradient, smooth_curve

from conftest import ROOT, xp_assert_close


def test_batch_normalization_as_the_paper_writes_it(backend_dtype) -> None:
    """Training: (x - batch mean) / sqrt(batch var + 1e-6), scaled and shifted; the running statistics move by
    1 - momentum; inference uses them."""
    backend, dtype = backend_dtype
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.standard_normal((8, 5)) * 3 + 1, rng.standard_normal(5), rng.standard_normal(5)
    layer = BatchNormalization(backend.asarray(gamma, dtype=dtype), backend.asarray(beta, dtype=dtype))
    xb = backend.asarray(x, dtype=dtype)
    host = xpnet.to_numpy(xb).astype(float)
    mean, var = host.mean(axis=0), host.var(axis=0)
    tolerance = 1e-12 if dtype == backend.xp.float64 else 1e-5
    xp_assert_close(layer.forward(xb, train=True), gamma * (host - mean) / np.sqrt(var + 1e-6) + beta, like=xb,
                    rtol=tolerance, atol=tolerance)
    running_mean, running_var = 0.1 * mean, 0.1 * var
    xp_assert_close(layer.forward(xb), gamma * (host - running_mean) / np.sqrt(running_var + 1e-6) + beta, like=xb,
                    rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("dropout", "batchnorm"), [(False, True), (True, True), (False, False)])
def test_the_extended_network_agrees_with_its_numerical_gradient(eager_backend, dropout: bool,
                                                                 batchnorm: bool) -> None:
    """ch06/batch_norm_gradient_check.py: backpropagation against central differences, float64."""
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=batchnorm, use_dropout=dropout, weight_decay_lambda=0.1,
                              seed=3, backend=eager_backend, dtype="float64")
    rng = np.random.default_rng(1)
    x, t = eager_backend.asarray(rng.standard_normal((4, 6))), eager_backend.asarray(np.array([0, 2, 1, 2]))
    expected = {"W1", "b1", "W2", "b2", "W3", "b3"} | ({"gamma1", "beta1", "gamma2", "beta2"} if batchnorm else set())
    assert set(net.params) == expected
    if dropout:  # the same mask in every pass: the layers' generators restarted before each
        for layer in net.layers.values():
            if hasattr(layer, "_rng"):
                layer._rng = np.random.default_rng(7)
        rngs = [layer for layer in net.layers.values() if hasattr(layer, "_rng")]
        state = [layer._rng.bit_generator.state for layer in rngs]

        def reset() -> None:
            for layer, saved in zip(rngs, state, strict=True):
                layer._rng.bit_generator.state = saved
    else:
        def reset() -> None:
            pass
    reset()
    grads = net.gradient(x, t)
    numerical = {}
    for key in net.params:
        def loss(probe: object, key: str = key) -> object:  # a function of the probe: JAX's arrays are new ones
            reset()
            saved, net.params[key] = net.params[key], probe
            try:
                return net.loss(x, t, train_flg=True)
            finally:
                net.params[key] = saved

        numerical[key] = numerical_gradient(loss, net.params[key])
    for key in expected:
        np.testing.assert_allclose(xpnet.to_numpy(grads[key]), xpnet.to_numpy(numerical[key]), atol=1e-6,
                                   err_msg=key)


def test_nesterov_takes_the_books_steps() -> None:
    """Two steps of the book's update: W += m^2 v - (1 + m) lr g, then v = m v - lr g (v before the step)."""
    w, grads = np.array([1.0, -2.0]), [np.array([0.5, 0.25]), np.array([-0.125, 1.0])]
    lr, m = 0.01, 0.9
    expected, v = w.copy(), np.zeros(2)
    for g in grads:
        expected = expected + m * m * v - (1 + m) * lr * g
        v = m * v - lr * g
    params = {"W": w}
    optimizer = Nesterov(lr, m)
    for g in grads:
        optimizer.update(params, {"W": g})
    np.testing.assert_allclose(params["W"], expected, rtol=1e-15)
    assert params["W"] is w  # in place: layers holding the array see each step


def test_optimizers_take_python_numbers() -> None:
    """ch06/optimizer_compare_naive.py keeps its parameters as floats."""
    from xpnet.train import OPTIMIZERS

    for name, optimizer in OPTIMIZERS.items():
        params = {"x": -7.0, "y": 2.0}
        optimizer(lr=0.1).update(params, {"x": -0.7, "y": 4.0})
        assert float(params["x"]) > -7.0 and float(params["y"]) < 2.0, name


def test_the_books_gradient_idiom_reads_the_network(eager_backend) -> None:
    """``numerical_gradient(lambda W: net.loss(x, t), net.params['W1'])``: the function ignores its argument,
    so the parameter itself must move (where the library lets it)."""
    backend = eager_backend
    net = TwoLayerNet(4, 3, 2, seed=0, backend=backend, dtype="float64")
    x, t = backend.asarray(np.random.default_rng(0).standard_normal((3, 4))), backend.asarray(np.array([0, 1, 1]))
    before = xpnet.to_numpy(net.params["W1"]).copy()
    if xpnet.backends.is_writable(net.params["W1"]):
        def loss(w: object) -> object:  # the book's idiom: the parameter itself moves
            return net.loss(x, t)
    else:
        def loss(w: object) -> object:  # arrays that cannot change in place: a function of W, as documented
            return net.bound({**net.params, "W1": w}).loss(x, t)
    grad = numerical_gradient(loss, net.params["W1"])
    np.testing.assert_allclose(xpnet.to_numpy(grad), xpnet.to_numpy(net.gradient(x, t)["W1"]), atol=1e-7)
    np.testing.assert_array_equal(xpnet.to_numpy(net.params["W1"]), before)  # put back


def test_a_network_takes_the_books_numpy_batches(backend) -> None:
    """The book's loop feeds NumPy batches (and lists): a network elsewhere moves them to its device."""
    net = TwoLayerNet(4, 3, 2, seed=0, backend=backend, dtype="float64")
    x, t = np.random.default_rng(0).standard_normal((3, 4)), np.array([0, 1, 1])
    grads = net.gradient(x, t)
    assert xpnet.backends.array_namespace(grads["W1"]) is backend.xp
    assert 0 <= net.accuracy(x, t) <= 1 and float(net.loss(x.tolist(), t.tolist())) > 0


def test_the_trainer_keeps_the_books_lists(mnist_test) -> None:
    images, labels = mnist_test
    x, t = images[:600] / 255.0, labels[:600]
    np.random.seed(0)
    net = MultiLayerNetExtend(784, [20], 10, use_batchnorm=True, seed=0)
    trainer = Trainer(net, x[:500], t[:500], x[500:], t[500:], epochs=3, mini_batch_size=100, optimizer="Adam",
                      optimizer_param={"lr": 0.01}, verbose=False)
    trainer.train()
    assert len(trainer.train_loss_list) == 15 and len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3
    assert trainer.train_loss_list[-1] < trainer.train_loss_list[0] and trainer.train_acc_list[-1] > 0.5


def test_smooth_curve_keeps_the_length() -> None:
    """The book's window: a Kaiser window of 11 points, beta 2, normalised; a constant stays constant."""
    assert np.allclose(smooth_curve([2.0] * 30), 2.0) and len(smooth_curve(list(range(30)))) == 30


BOOK_STYLE = """
import os, sys
sys.path.append(os.pardir)
import numpy as np
from collections import OrderedDict
from common.layers import Affine, Relu, SoftmaxWithLoss, Convolution
from common.gradient import numerical_gradient
from common.multi_layer_net import MultiLayerNet
from common.optimizer import SGD

# ch05/two_layer_net.py, abridged: the book's own network class on common's layers
class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {'W1': weight_init_std * np.random.randn(input_size, hidden_size), 'b1': np.zeros(hidden_size),
                       'W2': weight_init_std * np.random.randn(hidden_size, output_size), 'b2': np.zeros(output_size)}
        self.layers = OrderedDict()
        self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
        self.lastLayer = SoftmaxWithLoss()
    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x
    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)
    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)
        return {key: numerical_gradient(loss_W, self.params[key]) for key in ('W1', 'b1', 'W2', 'b2')}
    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {'W1': self.layers['Affine1'].dW, 'b1': self.layers['Affine1'].db,
                'W2': self.layers['Affine2'].dW, 'b2': self.layers['Affine2'].db}

np.random.seed(0)
x, t = np.random.rand(3, 784), np.eye(10)[[1, 2, 3]]
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
grad_numerical = network.numerical_gradient(x[:, :784], t)  # ch05/gradient_check.py
grad_backprop = network.gradient(x, t)
print(max(np.average(np.abs(grad_backprop[key] - grad_numerical[key])) for key in grad_numerical))
before = network.loss(x, t)
optimizer = SGD(lr=0.5)
for _ in range(20):
    optimizer.update(network.params, network.gradient(x, t))  # updates the arrays the layers hold
print(float(network.loss(x, t)) < float(before))
print(Convolution(np.ones((1, 1, 2, 2)), 0).forward(np.ones((1, 1, 3, 3))).sum())  # ch07/apply_filter.py's bias
net = MultiLayerNet(input_size=784, hidden_size_list=[20], output_size=10)
print(type(net.params['W1']).__module__.split('.')[0])
print(net.loss(x, t))  # ch06/optimizer_compare_mnist.py prints key + ":" + str(loss)
"""


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_the_books_own_network_classes_run_on_common(backend: str) -> None:
    """A book-style script in a folder beside ``common/``, unchanged, the device chosen outside it."""
    result = subprocess.run([sys.executable, "-c", BOOK_STYLE], cwd=ROOT / "scripts", capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin", "XPNET_BACKEND": backend})
    assert result.returncode == 0, result.stderr
    difference, learned, filtered, library, loss = result.stdout.split()
    assert float(difference) < 1e-6  # the book prints 1e-13 .. 1e-7
    assert learned == "True" and float(filtered) == 16.0
    assert library == backend
    assert 2.0 < float(loss) < 2.5  # a bare number, as the book prints it: about ln(10) for small initial weights


BOOK_TRAINER = """
import os, sys
sys.path.append(os.pardir)
import numpy as np
from collections import OrderedDict
from common.layers import Convolution, Relu, Pooling, Affine, SoftmaxWithLoss, BatchNormalization
from common.trainer import Trainer

# ch07/simple_convnet.py, abridged, with chapter 6's batch normalization: the book's own class, its arrays
# NumPy's, trained by the book's Trainer
class SimpleConvNet:
    def __init__(self):
        self.params = {'W1': 0.1 * np.random.randn(4, 1, 3, 3), 'b1': np.zeros(4),
                       'gamma1': np.ones(4 * 8 * 8), 'beta1': np.zeros(4 * 8 * 8),
                       'W2': 0.1 * np.random.randn(4 * 4 * 4, 10), 'b2': np.zeros(10)}
        self.layers = OrderedDict()
        self.layers['Conv1'] = Convolution(self.params['W1'], self.params['b1'], 1, 1)
        self.layers['BatchNorm1'] = BatchNormalization(self.params['gamma1'], self.params['beta1'])
        self.layers['Relu1'] = Relu()
        self.layers['Pool1'] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = Affine(self.params['W2'], self.params['b2'])
        self.last_layer = SoftmaxWithLoss()
        self.seen = set()
    def predict(self, x, train_flg=False):
        for layer in self.layers.values():
            x = layer.forward(x, train_flg)
        return x
    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x, True), t)
    def accuracy(self, x, t):
        return np.sum(np.argmax(self.predict(x), axis=1) == t) / float(x.shape[0])
    def gradient(self, x, t):
        self.seen.add(type(self.layers['Conv1'].W).__module__.split('.')[0])
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {'W1': self.layers['Conv1'].dW, 'b1': self.layers['Conv1'].db,
                'gamma1': self.layers['BatchNorm1'].dgamma, 'beta1': self.layers['BatchNorm1'].dbeta,
                'W2': self.layers['Affine1'].dW, 'b2': self.layers['Affine1'].db}

np.random.seed(0)
t = np.random.randint(0, 2, 300)
x = np.random.rand(300, 1, 8, 8).astype(np.float32)
x[t == 1, :, :4, :] += 0.5  # class 1: the top half brighter
network = SimpleConvNet()
trainer = Trainer(network, x[:200], t[:200], x[200:], t[200:], epochs=6, mini_batch_size=20, optimizer='Adam',
                  optimizer_param={'lr': 0.01}, verbose=False)
trainer.train()
print(','.join(str(float(v)) for v in trainer.train_acc_list + trainer.test_acc_list + trainer.train_loss_list[-1:]))
print(','.join(sorted(network.seen)), type(network.params['W1']).__module__,
      network.layers['Conv1'].W is network.params['W1'] and network.layers['Affine1'].b is network.params['b2'],
      type(network.layers['BatchNorm1'].running_mean).__module__, network.accuracy(x[200:], t[200:]))
"""


@pytest.mark.parametrize("backend", ["array_api_strict:device1", "torch"])
def test_the_books_trainer_takes_its_own_network_classes_to_the_device(backend: str) -> None:
    """A book network class, unchanged, trained by ``common``'s Trainer on the chosen device: the same steps as
    on NumPy, and its parameters and running statistics NumPy arrays again afterwards (the parameters still the
    ones its layers hold), so that the class goes on scoring on the host."""
    if backend == "torch":
        pytest.importorskip("torch")
    runs = {}
    for chosen in ("numpy", backend):
        result = subprocess.run([sys.executable, "-c", BOOK_TRAINER], cwd=ROOT / "scripts", capture_output=True,
                                text=True, check=False, env={"PATH": "/usr/bin:/bin", "XPNET_BACKEND": chosen})
        assert result.returncode == 0, result.stderr
        runs[chosen] = result.stdout.split()
    scores, during, after, shared, statistics, scored = runs[backend]
    on_numpy = [float(v) for v in runs["numpy"][0].split(",")]
    np.testing.assert_allclose([float(v) for v in scores.split(",")], on_numpy, rtol=1e-9)
    assert on_numpy[11] > 0.8  # the test accuracy at the last epoch's start: it learned
    assert during == backend.split(":")[0] and after == "numpy" and shared == "True" and statistics == "numpy"
    assert float(scored) == float(runs["numpy"][-1])


BOOK_DRAWS = """
import os, sys
sys.path.append(os.pardir)
import numpy as np
from common.multi_layer_net import MultiLayerNet
from common.layers import Dropout

np.random.seed(3)
net = MultiLayerNet(input_size=4, hidden_size_list=[3], output_size=2, weight_init_std=0.5)
np.random.seed(3)  # the book's __init_weight: scale * np.random.randn(n_in, n_out), layer by layer
print(np.array_equal(net.params['W1'], 0.5 * np.random.randn(4, 3)),
      np.array_equal(net.params['W2'], 0.5 * np.random.randn(3, 2)))
np.random.seed(5)
x = np.random.rand(6, 5) + 1
dropped = Dropout(0.3).forward(x)
np.random.seed(5)
np.random.rand(6, 5)
print(np.array_equal(dropped, x * (np.random.rand(6, 5) > 0.3)))  # the book's Dropout: rand(*x.shape) > ratio
"""


def test_common_draws_weights_and_masks_as_the_book_does() -> None:
    """From NumPy's global generator, in the book's order: a script's ``np.random.seed`` gives the book's run."""
    result = subprocess.run([sys.executable, "-c", BOOK_DRAWS], cwd=ROOT / "scripts", capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]


BOOK_GRADIENT_CHECK = """
import os, sys
sys.path.append(os.pardir)
import numpy as np
from common.multi_layer_net_extend import MultiLayerNetExtend

np.random.seed(0)  # ch06/batch_norm_gradient_check.py, on two images and a smaller network
network = MultiLayerNetExtend(input_size=20, hidden_size_list=[10, 10], output_size=10, use_batchnorm=True)
x, t = np.random.rand(2, 20), np.eye(10)[[3, 4]]
grad_backprop = network.gradient(x, t)
grad_numerical = network.numerical_gradient(x, t)
differences = [np.average(np.abs(np.asarray(grad_backprop[k]) - np.asarray(grad_numerical[k]))) for k in grad_numerical]
print(str(network.params['W1'].dtype).rpartition('.')[2], float(max(differences)))
"""


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_common_computes_in_the_books_float64_on_every_backend(backend: str) -> None:
    """PyTorch's and JAX's default float is float32, in which the book's gradient check (central differences of
    step 1e-4) is four hundred times further off; ``common`` makes its networks in float64 unless ``XPNET_DTYPE``
    says otherwise."""
    if backend != "numpy":
        pytest.importorskip(backend)
    printed = {}
    for dtype in ("", "float32"):
        result = subprocess.run([sys.executable, "-c", BOOK_GRADIENT_CHECK], cwd=ROOT / "scripts", text=True,
                                capture_output=True, check=False,
                                env={"PATH": "/usr/bin:/bin", "XPNET_BACKEND": backend, "XPNET_DTYPE": dtype})
        assert result.returncode == 0, result.stderr
        printed[dtype] = result.stdout.split()
    assert printed[""][0] == "float64" and float(printed[""][1]) < 1e-4  # 4e-6 in float64, 2e-3 in float32
    assert printed["float32"][0] == "float32" and float(printed["float32"][1]) > 1e-4


BOOK_IDIOMS = """
import os, sys
sys.path.append(os.pardir)
import warnings
from common.optimizer import *  # the book's star import hands numpy on as np
from common.functions import *
from common.gradient import numerical_gradient
from common.multi_layer_net_extend import MultiLayerNetExtend

# ch04/two_layer_net.py's backward pass, written with the book's functions
np.random.seed(0)
x, t = np.random.rand(3, 4), np.eye(3)[[0, 1, 2]]
W1, b1, W2, b2 = np.random.randn(4, 5), np.zeros(5), np.random.randn(5, 3), np.zeros(3)
def loss(W):
    return cross_entropy_error(softmax(sigmoid(x @ W1 + b1) @ W2 + b2), t)
a1 = x @ W1 + b1
dy = (softmax(sigmoid(a1) @ W2 + b2) - t) / 3
dW1 = x.T @ (sigmoid_grad(a1) * (dy @ W2.T))
print(np.abs(dW1 - numerical_gradient(loss, W1)).max())

# ch07/gradient_check.py's labels: one class index in a (batch, 1) array
y = np.array([[0.1, 0.7, 0.2]])
print(cross_entropy_error(y, np.array([[1]])), -np.log(0.7 + 1e-7))

# ch06/batch_norm_test.py scores a network that diverged
net = MultiLayerNetExtend(input_size=4, hidden_size_list=[5], output_size=3)
net.params['W1'][...] = np.nan
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    print(net.accuracy(x, t), caught[0].category.__name__)
"""


def test_the_books_idioms_run_on_common() -> None:
    """What chapters 4, 6 and 7 take from ``common``: numpy by star import, ``sigmoid_grad``, (batch, 1) labels,
    the accuracy of a network that diverged (every sample misclassified, and a warning)."""
    result = subprocess.run([sys.executable, "-c", BOOK_IDIOMS], cwd=ROOT / "scripts", capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    gradient_error, cross_entropy, expected, accuracy, warning = result.stdout.split()
    assert float(gradient_error) < 1e-6  # central differences of step 1e-4; a wrong derivative is off by 1e-2
    assert float(cross_entropy) == pytest.approx(float(expected), rel=1e-12)
    assert float(accuracy) == 0.0 and warning == "RuntimeWarning"


def test_a_trained_network_is_scored_as_trained(tmp_path, mnist_dir, capsys) -> None:
    """The saved file says which model, activation and dtype it holds: ``xpnet infer --weights FILE`` needs
    nothing more, and a file of another model is never written over."""
    from xpnet.cli import main

    saved = tmp_path / "relu.npz"
    assert main(["train", "--sizes", "784,30,10", "--activation", "relu", "--init", "he", "--epochs", "1",
                 "--train-on-test", "2000", "--data-dir", str(mnist_dir), "--save", str(saved), "--json",
                 "--quiet"]) == 0
    trained = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1]
    assert main(["infer", "--weights", str(saved), "--data-dir", str(mnist_dir), "--json", "--quiet"]) == 0
    scored = capsys.readouterr().out
    import json

    test_accuracy = json.loads(trained)["test_accuracy"]  # on test images 2000..9999
    whole = json.loads(scored)["accuracy"]  # on all 10,000, 2,000 of them seen in training
    assert abs(whole - test_accuracy) < 0.05 and whole > 0.8
    assert main(["infer", "--model", "simple_convnet", "--weights", str(saved), "--data-dir", str(mnist_dir)]) == 2
    assert "holds mlp weights (as xpnet train recorded), not simple_convnet's" in capsys.readouterr().err
    assert main(["train", "--model", "simple_convnet", "--epochs", "1", "--train-on-test", "100", "--data-dir",
                 str(mnist_dir), "--save", str(saved)]) == 2
    assert "there already, holding mlp weights" in capsys.readouterr().err


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_training_holds_out_checkpoints_and_resumes(tmp_path, mnist_dir, capsys, optimizer: str) -> None:
    """--validation holds images out; the file is written after every epoch; --resume goes on from it, with the
    optimizer, learning rate and state saved with the weights, and two epochs then one more walk the batches,
    and take the steps, that three epochs do."""
    import json

    from xpnet.cli import main
    from xpnet.cli.train import TRAIN_LR

    common = ["train", "--sizes", "784,20,10", "--train-on-test", "1500", "--validation", "500", "--data-dir",
              str(mnist_dir), "--json", "--quiet", "--seed", "4"]
    recipe = ["--optimizer", optimizer, "--lr", str(TRAIN_LR[optimizer] / 2)]  # not the default rate
    whole, parts = tmp_path / "whole.npz", tmp_path / "parts.npz"
    assert main([*common, *recipe, "--epochs", "3", "--save", str(whole)]) == 0
    printed = capsys.readouterr()
    three = [json.loads(line) for line in printed.out.splitlines()]
    assert [epoch["epoch"] for epoch in three] == [1, 2, 3] and all("validation_accuracy" in e for e in three)
    assert "its first 1500 test images were trained on or held out (500 for validation)" in printed.err
    assert main([*common, *recipe, "--epochs", "2", "--save", str(parts)]) == 0
    capsys.readouterr()
    assert xpnet.io.weights.read_about(parts)["epoch"] == 2
    assert main([*common, "--epochs", "3", "--save", str(parts), "--resume"]) == 0  # the run's own optimizer and rate
    printed = capsys.readouterr()
    assert "starts with no state" not in printed.err
    resumed = [json.loads(line) for line in printed.out.splitlines()]
    assert [epoch["epoch"] for epoch in resumed] == [3]
    assert resumed[0]["train_accuracy"] == three[2]["train_accuracy"]
    assert set(xpnet.load_weights(whole)) == {"W1", "b1", "W2", "b2"}  # the optimizer's state is not weights
    for key, value in xpnet.load_weights(whole).items():
        np.testing.assert_allclose(xpnet.load_weights(parts)[key], value, rtol=1e-6, atol=1e-7)


def test_resuming_keeps_the_runs_own_images_and_order(tmp_path, mnist_dir, capsys) -> None:
    """--resume takes the seed, batch size, --validation and --train-on-test that the file records, and the
    network's sizes, activation and initial scale, so that the flags need not be given again; one given that
    differs, or a run already as long as asked, changes nothing."""
    import json

    from xpnet.cli import main

    run = ["--train-on-test", "1500", "--validation", "500", "--seed", "4", "--batch-size", "50"]
    common = ["train", "--sizes", "784,20,10", "--data-dir", str(mnist_dir), "--json", "--quiet"]
    whole, parts = tmp_path / "whole.npz", tmp_path / "parts.npz"
    assert main([*common, *run, "--epochs", "3", "--save", str(whole)]) == 0
    three = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main([*common, *run, "--epochs", "2", "--save", str(parts)]) == 0
    capsys.readouterr()
    written = parts.read_bytes()
    for flag, value in (("--validation", "400"), ("--seed", "5"), ("--batch-size", "100"), ("--train-on-test", "9")):
        assert main([*common, "--epochs", "3", "--save", str(parts), "--resume", flag, value]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"error: {flag} {value}: {parts} was trained with {flag} " in error
    for flag, value in (("--sizes", "784,30,10"), ("--activation", "relu"), ("--init", "he")):  # the network's own
        assert main([*common, "--epochs", "3", "--save", str(parts), "--resume", flag, value]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"error: {flag} {value}: {parts} holds a network of {flag} " in error
    assert main([*common, "--epochs", "2", "--save", str(parts), "--resume"]) == 0
    assert f"{parts} holds epoch 2 already: nothing to train" in capsys.readouterr().err
    assert parts.read_bytes() == written
    assert main([*common, "--epochs", "3", "--save", str(parts), "--resume"]) == 0
    resumed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [epoch["epoch"] for epoch in resumed] == [3]
    assert resumed[0]["validation_accuracy"] == three[2]["validation_accuracy"]
    assert resumed[0]["train_accuracy"] == three[2]["train_accuracy"]


def test_weight_decay_is_trained_recorded_and_resumed(tmp_path, mnist_dir, capsys) -> None:
    """--weight-decay adds lambda * W to each weight's gradient: the weights end smaller than without it, the
    file records it, and --resume goes on with it (two epochs, then one resumed, equal three in one run)."""
    from xpnet.cli import main

    common = ["train", "--sizes", "784,20,10", "--optimizer", "sgd", "--train-on-test", "1000", "--data-dir",
              str(mnist_dir), "--quiet", "--seed", "3"]
    plain, whole, parts = tmp_path / "plain.npz", tmp_path / "whole.npz", tmp_path / "parts.npz"
    assert main([*common, "--epochs", "3", "--save", str(plain)]) == 0
    assert main([*common, "--epochs", "3", "--weight-decay", "0.5", "--save", str(whole)]) == 0
    assert main([*common, "--epochs", "2", "--weight-decay", "0.5", "--save", str(parts)]) == 0
    assert xpnet.io.weights.read_about(parts)["weight_decay"] == 0.5
    assert xpnet.io.weights.read_about(plain)["weight_decay"] == 0
    capsys.readouterr()
    assert main([*common, "--epochs", "3", "--weight-decay", "0.1", "--save", str(parts), "--resume"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"--weight-decay 0.1: {parts} was trained with --weight-decay 0.5" in error
    assert main([*common, "--epochs", "3", "--save", str(parts), "--resume"]) == 0
    decayed, undecayed = xpnet.load_weights(whole), xpnet.load_weights(plain)
    for key in ("W1", "W2"):
        assert np.sum(decayed[key] ** 2) < 0.8 * np.sum(undecayed[key] ** 2)
    for key, value in decayed.items():
        np.testing.assert_allclose(xpnet.load_weights(parts)[key], value, rtol=1e-6, atol=1e-7)
    capsys.readouterr()
    assert main(["train", "--model", "simple_convnet", "--weight-decay", "0.1", "--train-on-test", "100",
                 "--data-dir", str(mnist_dir), "--save", str(tmp_path / "c.npz")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--weight-decay is for dense networks" in error


def test_a_network_trained_in_float64_is_saved_resumed_and_scored_in_float64(tmp_path, mnist_dir, capsys) -> None:
    import json

    from xpnet.cli import main
    from xpnet.datasets.mnist import load_array

    saved = tmp_path / "w.npz"
    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(saved)]
    assert main([*common, "--epochs", "1", "--dtype", "float64"]) == 0
    assert {value.dtype for value in xpnet.load_weights(saved).values()} == {np.dtype("float64")}
    capsys.readouterr()
    assert main([*common, "--epochs", "2", "--resume", "--dtype", "float32"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"--dtype float32: {saved} holds a network of --dtype float64" in error
    assert main([*common, "--epochs", "2", "--resume"]) == 0
    assert {value.dtype for value in xpnet.load_weights(saved).values()} == {np.dtype("float64")}
    capsys.readouterr()
    weights = xpnet.load_weights(saved)  # the saved network's classes, restated in float64
    hidden = 1 / (1 + np.exp(-(load_array("test", "images", mnist_dir).reshape(-1, 784) / 255 @ weights["W1"]
                               + weights["b1"])))
    expected = np.mean(np.argmax(hidden @ weights["W2"] + weights["b2"], axis=1)
                       == load_array("test", "labels", mnist_dir))
    assert main(["infer", "--weights", str(saved), "--data-dir", str(mnist_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["accuracy"] == expected


@pytest.mark.parametrize("run", [[4], {"seed": -1}, {"batch_size": 2.5}, {"validation": True}, {"seed": "0"}])
def test_a_damaged_record_of_the_run_is_one_line(tmp_path, mnist_dir, capsys, run: object) -> None:
    from xpnet.cli import main

    saved = tmp_path / "w.npz"
    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(saved)]
    assert main([*common, "--epochs", "1"]) == 0
    params = xpnet.load_weights(saved)
    about = xpnet.io.weights.read_about(saved) | {"run": run}
    xpnet.io.weights.save_weights(saved, params, about=about)
    capsys.readouterr()
    assert main([*common, "--epochs", "2", "--resume"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"xpnet train: error: {saved}: its record says run settings")


@pytest.mark.parametrize("record", [{"dropout": 1.5}, {"dropout": "0.2"}, {"batch_norm": 1}, {"activation": "tanh"},
                                    {"activation": 3}, {"activation": None}, {"init": "bogus"}, {"weight_decay": -1},
                                    {"model": ["mlp"]}, {"epoch": True}, {"dtype": "float16"}, {"lr": -1.0},
                                    {"optimizer": 5}, {"model": "simple_convnet"}, {"model": None}])
def test_a_damaged_record_of_the_network_is_one_line(tmp_path, mnist_dir, capsys, record: dict) -> None:
    """Every field of a file's record is checked where a command reads it, whichever fields the command uses:
    infer refuses the file, and so does train, to resume it or to write over it."""
    from xpnet.cli import main

    saved = tmp_path / "w.npz"
    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(saved)]
    assert main([*common, "--epochs", "1"]) == 0
    xpnet.io.weights.save_weights(saved, xpnet.load_weights(saved), about=xpnet.io.weights.read_about(saved) | record)
    before = saved.read_bytes()
    capsys.readouterr()
    (key, value), = record.items()
    label = {"init": "--init", "weight_decay": "--weight-decay", "dropout": "--dropout", "batch_norm": "--batch-norm",
             "activation": "--activation", "lr": "learning rate"}.get(key, key)
    said = f"its record says {label} {value!r}, not "
    if value == "simple_convnet":  # a dense network's fields under a ConvNet
        said = "its record says --activation 'sigmoid' for model simple_convnet, which takes no such option"
    for command in (["infer", "--weights", str(saved), "--data-dir", str(mnist_dir)],
                    [*common, "--epochs", "2", "--resume"], [*common, "--epochs", "2"]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1
        assert error.startswith(f"xpnet {command[0]}: error: {saved}: {said}")
    assert saved.read_bytes() == before


def test_a_record_that_does_not_fit_its_arrays_is_one_line(tmp_path, mnist_dir, capsys) -> None:
    """A record of batch normalization over a file without its arrays: infer and --resume name the file and the
    arrays that are missing, and leave the file as it was."""
    from xpnet.cli import main

    saved = tmp_path / "w.npz"
    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(saved)]
    assert main([*common, "--epochs", "1"]) == 0
    about = xpnet.io.weights.read_about(saved) | {"batch_norm": True}
    xpnet.io.weights.save_weights(saved, xpnet.load_weights(saved), about=about)
    before = saved.read_bytes()
    capsys.readouterr()
    for command, said in ((["infer", "--weights", str(saved), "--data-dir", str(mnist_dir)],
                           "not a 784-20-10 network's weights: expected the parameters"),
                          ([*common, "--epochs", "2", "--resume"], "not the network its record describes")):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith(f"xpnet {command[0]}: error: {saved}: {said}")
        assert "beta1" in error and "gamma1" in error
    assert saved.read_bytes() == before


def test_resuming_with_another_optimizer_says_it_starts_afresh(tmp_path, mnist_dir, capsys) -> None:
    from xpnet.cli import main

    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(tmp_path / "w.npz")]
    assert main([*common, "--epochs", "1", "--optimizer", "adam"]) == 0
    capsys.readouterr()
    assert main([*common, "--epochs", "2", "--optimizer", "momentum", "--resume"]) == 0
    assert ("w.npz was trained with adam (lr 0.005); momentum (lr 0.05) starts with no state of its own"
            in capsys.readouterr().err)


@pytest.mark.parametrize(("member", "value", "message"), [
    ("optimizer.m.W1", np.zeros((3, 3)), "the optimizer's m.W1 does not fit the network's W1"),
    ("optimizer.v.W9", np.zeros(10), "the optimizer's v.W9 does not fit the network's W9"),
    ("optimizer.m.b1", np.full(20, np.nan), "the optimizer's m.b1 does not fit"),
    ("optimizer.iter", np.array(-1), "the optimizer's iter is not a step count"),
    ("optimizer.iter", np.array(1e300), "the optimizer's iter is not a step count"),
    ("optimizer.w.W1", np.zeros((784, 20)), "Adam keeps no 'w.W1'"),
])
def test_a_damaged_optimizer_state_is_one_line(tmp_path, mnist_dir, capsys, member: str, value: np.ndarray,
                                               message: str) -> None:
    import zipfile

    from xpnet.cli import main

    common = ["train", "--sizes", "784,20,10", "--train-on-test", "500", "--data-dir", str(mnist_dir), "--quiet",
              "--save", str(tmp_path / "w.npz")]
    assert main([*common, "--epochs", "1"]) == 0
    with zipfile.ZipFile(tmp_path / "w.npz") as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name != f"{member}.npy"}
    buffer = io.BytesIO()
    np.save(buffer, value)
    members[f"{member}.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    capsys.readouterr()
    assert main([*common, "--epochs", "2", "--resume"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and error.startswith("xpnet train: error: --resume: ")


def test_training_curves_are_plotted_from_the_json_log(tmp_path, mnist_dir, capsys) -> None:
    from PIL import Image

    from xpnet.cli import main

    assert main(["train", "--sizes", "784,20,10", "--train-on-test", "1000", "--epochs", "2", "--data-dir",
                 str(mnist_dir), "--json", "--quiet", "--save", str(tmp_path / "w.npz")]) == 0
    log = tmp_path / "log.jsonl"
    log.write_text(capsys.readouterr().out)
    assert main(["plot", "curves", str(log), "-o", str(tmp_path / "curves.png")]) == 0
    assert "2 epochs" in capsys.readouterr().out
    assert Image.open(tmp_path / "curves.png").size == (1000, 360)
    lines = log.read_text().splitlines()
    # each damaged log: one line naming the file, the line and the fault; no picture
    for damaged, message in ((f"{lines[0]}\nnot json\n", "line 2 is not JSON"),
                             (lines[0].replace('"loss": ', '"loss": "x", "was": '), "line 1: loss 'x', not a finite"),
                             (lines[0].replace('"loss": ', '"loss": NaN, "was": '), "line 1: loss nan, not a finite"),
                             (lines[0].replace('"test_accuracy": ', '"test_accuracy": 2, "was": '),
                              "line 1: test_accuracy 2, not a number from 0 to 1"),
                             (f"{lines[1]}\n{lines[0]}\n", "line 2: epoch 1 after epoch 2"),
                             ("[1, 2]\n", "holds no epoch of xpnet train --json")):
        log.write_text(damaged)
        assert main(["plot", "curves", str(log), "-o", str(tmp_path / "c.png")]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith(f"xpnet plot: error: {log}: ") and message in error
        assert not (tmp_path / "c.png").exists()
    log.write_text(lines[0] + "\n")
    assert main(["plot", "curves", str(log), "-o", str(tmp_path / "c.png")]) == 0
    assert "1 epoch\n" in capsys.readouterr().out


def reproduce(chapter: str, mnist_dir, *args: str) -> list[dict]:
    result = subprocess.run([sys.executable, "scripts/reproduce_book.py", chapter, "--data-dir", str(mnist_dir),
                             *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    import json

    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(("args", "fault"), [
    (["--backend", "foo"], "unknown backend 'foo'"),
    (["--data-dir", "{data}"], "train-images-idx3-ubyte.gz: not gzip data (starts with b'garbage"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
])
def test_reproduce_book_refuses_in_one_line(tmp_path, args: list[str], fault: str) -> None:
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"garbage")
    args = [arg.format(data=tmp_path) for arg in args]
    result = subprocess.run([sys.executable, "scripts/reproduce_book.py", "ch5", *args], capture_output=True,
                            text=True, cwd=ROOT, check=False, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert fault in result.stderr.splitlines()[-1] and result.stderr.splitlines()[-1].startswith("reproduce_book.py: ")


@pytest.mark.slow
def test_chapter_6_batch_normalization_as_the_book_shows_it(tmp_path, mnist_dir) -> None:
    """The book's figure 6-19: from small initial weights, the network with batch normalization learns and the
    one without does not (its training accuracy stays near a tenth); the figure is drawn."""
    rows = reproduce("ch6-batchnorm", mnist_dir, "--plot", str(tmp_path / "bn.png"))
    last = {row["weight_scale"]: row for row in rows if row.get("epoch") == 19}
    for scale in (0.01, 0.001):
        assert last[scale]["batch normalization"] > 0.8 and last[scale]["none"] < 0.2
    from PIL import Image

    assert Image.open(tmp_path / "bn.png").size == (2000, 380)


@pytest.mark.slow
def test_chapter_6_initial_weights_as_the_book_shows_them(mnist_dir) -> None:
    """The book's figure 6-15: from weights of std 0.01 a 5-layer ReLU network does not learn in 2,000 steps,
    from Xavier's it does, and from He's faster."""
    rows = reproduce("ch6-init", mnist_dir)
    final = next(row for row in rows if row.get("iteration") == 1999)
    assert final["std=0.01"] > 2.2  # ln 10 = 2.30: no better than guessing
    assert final["He"] < final["Xavier"] < 0.5


@pytest.mark.slow
def test_chapter_7_as_the_readme_runs_it(mnist_dir) -> None:
    """The README's ``reproduce_book.py ch7 --backend torch --dtype float32``, one epoch of the 20: SimpleConvNet
    on all 60,000 training images, past 0.96 on the 10,000 test images (the book's run: about 0.97 after one)."""
    pytest.importorskip("torch")
    rows = reproduce("ch7", mnist_dir, "--backend", "torch", "--dtype", "float32", "--epochs", "1")
    final = next(row["final_test_acc"] for row in rows if "final_test_acc" in row)
    assert rows[0]["epoch"] == 1 and final > 0.96 and rows[-1]["chapter"] == "ch7"


def test_dropout_and_batch_norm_are_trained_recorded_and_scored_as_trained(tmp_path, mnist_dir, capsys) -> None:
    """--dropout and --batch-norm build chapter 6's extended network; its file records them and holds the running
    statistics, so that infer and export score the network as trained: the same accuracy as the book's inference
    formulas restated here, in float64, from the file's arrays."""
    import json

    from xpnet.cli import main
    from xpnet.datasets.mnist import load_array

    saved = tmp_path / "w.npz"
    common = ["train", "--sizes", "784,20,10", "--activation", "relu", "--init", "he", "--train-on-test", "1000",
              "--dtype", "float64", "--data-dir", str(mnist_dir), "--quiet", "--save", str(saved)]
    assert main([*common, "--epochs", "2", "--dropout", "0.3", "--batch-norm"]) == 0
    about = xpnet.io.weights.read_about(saved)
    assert about["dropout"] == 0.3 and about["batch_norm"] is True and about["activation"] == "relu"
    arrays = xpnet.load_weights(saved)
    assert set(arrays) == {"W1", "b1", "gamma1", "beta1", "running_mean1", "running_var1", "W2", "b2"}
    assert np.all(arrays["running_var1"] > 0)
    images = load_array("test", "images", mnist_dir).reshape(-1, 784) / 255
    a = images @ arrays["W1"] + arrays["b1"]
    normalized = arrays["gamma1"] * (a - arrays["running_mean1"]) / np.sqrt(arrays["running_var1"] + 10e-7)
    hidden = np.maximum(normalized + arrays["beta1"], 0) * (1 - 0.3)  # the book's dropout in inference
    predicted = np.argmax(hidden @ arrays["W2"] + arrays["b2"], axis=1)
    expected = np.mean(predicted == load_array("test", "labels", mnist_dir))
    capsys.readouterr()
    assert main(["infer", "--weights", str(saved), "--data-dir", str(mnist_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == expected
    assert main([*common, "--epochs", "3", "--resume", "--dropout", "0.5"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"--dropout 0.5: {saved} was trained with --dropout 0.3" in error
    assert main(["train", "--model", "simple_convnet", "--batch-norm", "--train-on-test", "100", "--data-dir",
                 str(mnist_dir), "--save", str(tmp_path / "c.npz")]) == 2
    assert "--batch-norm is for dense networks" in capsys.readouterr().err
    for module in ("ndonnx", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install 'xpnet[onnx]'")
    import onnxruntime

    capsys.readouterr()
    assert main(["export", "--weights", str(saved), "-o", str(tmp_path / "w.onnx")]) == 0
    assert "a 784-20-10 network (relu, dropout 0.3, batch normalization)" in capsys.readouterr().out
    pixels = load_array("test", "images", mnist_dir).reshape(-1, 784)
    (labels,) = onnxruntime.InferenceSession(str(tmp_path / "w.onnx")).run(["label"], {"images": pixels})
    assert np.mean(labels != predicted) <= 2e-4  # the graph's own order of operations may move an image or two


def test_a_batch_normalized_run_resumes_with_its_running_statistics(tmp_path, mnist_dir) -> None:
    """Two epochs and then one more, resumed from the file, end where three epochs end: the weights, and the
    running statistics that the file keeps beside them."""
    from xpnet.cli import main

    common = ["train", "--sizes", "784,20,10", "--batch-norm", "--train-on-test", "1500", "--data-dir",
              str(mnist_dir), "--quiet"]
    whole, parts = tmp_path / "whole.npz", tmp_path / "parts.npz"
    assert main([*common, "--epochs", "3", "--save", str(whole)]) == 0
    assert main([*common, "--epochs", "2", "--save", str(parts)]) == 0
    assert main([*common, "--epochs", "3", "--save", str(parts), "--resume"]) == 0
    resumed, expected = xpnet.load_weights(parts), xpnet.load_weights(whole)
    assert set(resumed) == set(expected) and {"running_mean1", "running_var1"} <= set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_batch_normalizations_running_statistics_are_saved_with_the_parameters(tmp_path) -> None:
    """The running statistics are state that outlives a batch: save_params keeps them beside the parameters,
    load_params restores them, and reset_state forgets them."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((8, 6)), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    net = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=1)
    assert net.state == {}
    net.gradient(x, t)  # one training pass: the running statistics move 0.1 of the way to the batch's
    mean = x @ net.params["W1"] + net.params["b1"]
    np.testing.assert_allclose(net.state["running_mean1"], 0.1 * mean.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(net.state["running_var1"], 0.1 * mean.var(axis=0), rtol=1e-12)
    net.save_params(str(tmp_path / "p.pkl"))
    other = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, seed=2)
    other.load_params(str(tmp_path / "p.pkl"))
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    scores = net.predict(x)
    moved = net.to("array_api_strict:device1")  # the state moves with the parameters: no mixing of devices
    xp_assert_close(moved.predict(x), scores, like=moved.params["W1"], rtol=1e-12)
    other.reset_state()
    assert other.state == {}
    with pytest.raises(KeyError, match="expected the parameters"):  # a network without batch normalization
        MultiLayerNetExtend(6, [5], 3, seed=2).load_params(str(tmp_path / "p.pkl"))
