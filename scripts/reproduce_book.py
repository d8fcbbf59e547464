"""Reproduce the book's training results on all of MNIST, one chapter at a time, on any backend.

    python scripts/reproduce_book.py ch5                  # TwoLayerNet 784-50-10, SGD 0.1, 10,000 iterations
    python scripts/reproduce_book.py ch6-optimizers       # SGD, Momentum, AdaGrad, Adam on a 5-layer net
    python scripts/reproduce_book.py ch6-init             # weights of std 0.01, Xavier's and He's
    python scripts/reproduce_book.py ch6-batchnorm        # batch normalization against none, 1,000 images
    python scripts/reproduce_book.py ch6-overfit          # 300 images: overfitting, weight decay, dropout
    python scripts/reproduce_book.py ch7 --epochs 20      # SimpleConvNet, Adam 0.001 (the book: 20 epochs)
    python scripts/reproduce_book.py ch8 --epochs 20      # DeepConvNet, Adam 0.001 (the book: 20 epochs)

``--backend``/``--device`` choose where the networks run (``--device cuda`` for a GPU); the data are the book's
(``load_mnist``, normalized), read from ``--data-dir`` or the cache. Each line printed is one JSON object:
per epoch the training and test accuracy (for ch7 and ch8 as the book's ``Trainer`` records them: on 1,000
images, after the epoch's first step), then the final test accuracy on all 10,000 test images and the seconds
taken. ``--plot PNG`` draws the chapter's figure from what was measured (the book's curves, with
``smooth_curve`` for losses per iteration).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import xpnet
from xpnet.cli._common import positive_int
from xpnet.datasets.mnist import load_mnist
from xpnet.models import MODELS, ModelEntry
from xpnet.plots import output_format, save_series
from xpnet.train import (
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    MultiLayerNet,
    MultiLayerNetExtend,
    Trainer,
    TwoLayerNet,
    smooth_curve,
)

Panel = tuple[str, str, str, dict[str, tuple[list[float], list[float]]]]  # a figure's panel, as save_series takes


def report(**values: object) -> None:
    """One JSON line; NaN (a diverged network's accuracy) as null."""
    print(json.dumps({key: None if value != value else value for key, value in values.items()}), flush=True)


def _per_epoch(lists: dict[str, list[float]]) -> dict[str, tuple[list[float], list[float]]]:
    return {name: (list(range(len(values))), values) for name, values in lists.items()}


def _smoothed(lists: dict[str, list[float]]) -> dict[str, tuple[list[float], list[float]]]:
    return {name: (list(range(len(values))), list(smooth_curve(values))) for name, values in lists.items()}


def _losses_per_iteration(networks: dict, optimizers: dict, x_train: np.ndarray, t_train: np.ndarray,
                          iterations: int = 2000, batch_size: int = 128) -> dict[str, list[float]]:
    """The loop of the book's optimizer_compare_mnist.py and weight_init_compare.py: each network trained on the
    same batches, its loss recorded at every iteration and reported every 500."""
    losses: dict[str, list[float]] = {name: [] for name in networks}
    for i in range(iterations):
        batch_mask = np.random.choice(x_train.shape[0], batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for name, network in networks.items():
            optimizers[name].update(network.params, network.gradient(x_batch, t_batch))
            losses[name].append(float(network.loss(x_batch, t_batch)))
        if i % 500 == 0 or i == iterations - 1:
            report(iteration=i, **{name: values[-1] for name, values in losses.items()})
    return losses


def chapter_5(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch05/train_neuralnet.py: batches drawn with np.random.choice, an accuracy each epoch (600 iterations)."""
    (x_train, t_train), (x_test, t_test) = data
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=args.seed, backend=backend)
    iters_num, train_size, batch_size, learning_rate = 10000, x_train.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    accuracies: dict[str, list[float]] = {"train": [], "test": []}
    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)
        grad = network.gradient(x_train[batch_mask], t_train[batch_mask])
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        if i % iter_per_epoch == 0:
            accuracies["train"].append(network.accuracy(x_train, t_train))
            accuracies["test"].append(network.accuracy(x_test, t_test))
            report(iteration=i, train_acc=accuracies["train"][-1], test_acc=accuracies["test"][-1])
    report(final_test_acc=network.accuracy(x_test, t_test))
    return [("TwoLayerNet 784-50-10, SGD 0.1", "epoch", "accuracy", _per_epoch(accuracies))]


def chapter_6_optimizers(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch06/optimizer_compare_mnist.py: a 784-100-100-100-100-10 ReLU network per optimizer, 2,000 iterations."""
    (x_train, t_train), _ = data
    optimizers = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
    networks = {name: MultiLayerNet(784, [100, 100, 100, 100], 10, seed=args.seed, backend=backend)
                for name in optimizers}
    losses = _losses_per_iteration(networks, optimizers, x_train, t_train)
    return [("optimizers, 5-layer ReLU network", "iteration", "loss (smoothed)", _smoothed(losses))]


def chapter_6_init(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch06/weight_init_compare.py: the same 5-layer ReLU network from weights of std 0.01, Xavier's and He's,
    SGD 0.01, 2,000 iterations of 128 images."""
    (x_train, t_train), _ = data
    scales = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
    networks = {name: MultiLayerNet(784, [100, 100, 100, 100], 10, weight_init_std=scale, seed=args.seed,
                                    backend=backend) for name, scale in scales.items()}
    losses = _losses_per_iteration(networks, {name: SGD(lr=0.01) for name in networks}, x_train, t_train)
    return [("initial weights, 5-layer ReLU network", "iteration", "loss (smoothed)", _smoothed(losses))]


def chapter_6_batchnorm(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch06/batch_norm_test.py: 1,000 training images, a 784-100x5-10 network with and without batch
    normalization from the same weight scale, SGD 0.01, batch 100, 20 epochs; the training accuracy per
    epoch, for four of the book's weight scales."""
    (x_train, t_train), _ = data
    x_train, t_train = x_train[:1000], t_train[:1000]
    panels = []
    for scale in (1.0, 0.1, 0.01, 0.001):
        networks = {name: MultiLayerNetExtend(784, [100] * 5, 10, weight_init_std=scale, use_batchnorm=batchnorm,
                                              seed=args.seed, backend=backend)
                    for name, batchnorm in (("batch normalization", True), ("none", False))}
        optimizers = {name: SGD(lr=0.01) for name in networks}
        accuracies: dict[str, list[float]] = {name: [] for name in networks}
        np.seterr(over="ignore", invalid="ignore")  # at weight scale 1, the network without it diverges
        for i in range(20 * 10):  # 20 epochs of 10 batches
            batch_mask = np.random.choice(1000, 100)
            for name, network in networks.items():
                optimizers[name].update(network.params, network.gradient(x_train[batch_mask], t_train[batch_mask]))
            if i % 10 == 0:
                for name, network in networks.items():
                    accuracies[name].append(_accuracy_or_nan(network, x_train, t_train))
                report(weight_scale=scale, epoch=i // 10, **{name: values[-1] for name, values in accuracies.items()})
        panels.append((f"weight scale {scale}", "epoch", "training accuracy", _per_epoch(accuracies)))
    return panels


def _accuracy_or_nan(network: MultiLayerNet, x: np.ndarray, t: np.ndarray) -> float:
    """The accuracy, or NaN for a network that has diverged: the book's argmax counts NaN scores as class 0,
    xpnet refuses to score them, so its curve stops there."""
    try:
        return network.accuracy(x, t)
    except ValueError:
        return float("nan")


def chapter_6_overfit(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch06/overfit_weight_decay.py and overfit_dropout.py: 300 training images, a 784-100x6-10 ReLU network,
    SGD 0.01, batch 100: plain and with weight decay 0.1 for 201 epochs, with dropout 0.2 for 301 (the book's
    Trainer); the training and test accuracy per epoch."""
    (x_train, t_train), (x_test, t_test) = data
    x_train, t_train = x_train[:300], t_train[:300]
    panels = []
    for title, network, epochs in (
        ("no regularization", MultiLayerNet(784, [100] * 6, 10, seed=args.seed, backend=backend), 201),
        ("weight decay 0.1", MultiLayerNet(784, [100] * 6, 10, weight_decay_lambda=0.1, seed=args.seed,
                                           backend=backend), 201),
        ("dropout 0.2", MultiLayerNetExtend(784, [100] * 6, 10, use_dropout=True, dropout_ration=0.2, seed=args.seed,
                                            backend=backend), 301),
    ):
        trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=epochs, mini_batch_size=100,
                          optimizer="sgd", optimizer_param={"lr": 0.01}, verbose=False)
        for _ in range(epochs):
            for _ in range(int(trainer.iter_per_epoch)):
                trainer.train_step()
        report(recipe=title, final_train_acc=trainer.train_acc_list[-1], final_test_acc=trainer.test_acc_list[-1],
               gap=trainer.train_acc_list[-1] - trainer.test_acc_list[-1])
        panels.append((title, "epoch", "accuracy", _per_epoch({"train": trainer.train_acc_list,
                                                               "test": trainer.test_acc_list})))
    return panels


def convnet(model: ModelEntry, data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> list[Panel]:
    """ch07/train_convnet.py and ch08/train_deepnet.py: the book's Trainer, Adam 0.001, batch 100, the epoch's
    accuracies on 1,000 images."""
    (x_train, t_train), (x_test, t_test) = data
    model.claim_memory()  # the script owns its process: the ConvNets' arrays are reused, not remapped
    network = model.build(seed=args.seed, backend=backend, dtype=args.dtype)
    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=args.epochs, mini_batch_size=100,
                      optimizer="Adam", optimizer_param={"lr": 0.001}, evaluate_sample_num_per_epoch=1000,
                      verbose=False)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        for _ in range(int(trainer.iter_per_epoch)):
            trainer.train_step()
        report(epoch=epoch + 1, seconds=time.perf_counter() - start, train_acc=trainer.train_acc_list[-1],
               test_acc=trainer.test_acc_list[-1], loss=trainer.train_loss_list[-1])
    report(final_test_acc=network.accuracy(x_test, t_test))
    accuracies = {"train": trainer.train_acc_list, "test": trainer.test_acc_list}
    return [(f"{type(network).__name__}, Adam 0.001", "epoch", "accuracy (1,000 images)", _per_epoch(accuracies))]


CHAPTERS = {
    "ch5": chapter_5,
    "ch6-optimizers": chapter_6_optimizers,
    "ch6-init": chapter_6_init,
    "ch6-batchnorm": chapter_6_batchnorm,
    "ch6-overfit": chapter_6_overfit,
    "ch7": lambda *a: convnet(MODELS["simple_convnet"], *a),
    "ch8": lambda *a: convnet(MODELS["deep_convnet"], *a),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("``--backend``")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", choices=tuple(CHAPTERS), help="the recipe to rerun (see the list above)")
    parser.add_argument("--backend", default="numpy", help="numpy, torch, jax, array_api_strict, ... (default numpy)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N, or the backend's own (default cpu)")
    parser.add_argument("--dtype", default=None, help="the networks' dtype (default: the backend's default float)")
    parser.add_argument("--epochs", type=positive_int, default=20, help="ch7 and ch8 (default 20, the book's)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and NumPy's global generator")
    parser.add_argument("--data-dir", help="directory holding the MNIST files (default $XPNET_DATA_DIR)")
    parser.add_argument("--plot", metavar="PNG", help="draw the chapter's figure from the run to PNG")
    args = parser.parse_args()
    if args.plot:
        output_format(args.plot)  # a name matplotlib cannot write is refused before the run, not after
    np.random.seed(args.seed)
    try:  # what the user can fix (a backend, the data) ends the run in one line, as xpnet's commands do
        backend = xpnet.get_backend(args.backend, args.device)
        flat = args.chapter.startswith(("ch5", "ch6"))
        data = load_mnist(normalize=True, flatten=flat, one_hot_label=args.chapter == "ch5", data_dir=args.data_dir)
    except (xpnet.XpnetError, OSError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    start = time.perf_counter()
    panels = CHAPTERS[args.chapter](data, backend, args)
    report(chapter=args.chapter, backend=str(backend), seconds=time.perf_counter() - start)
    if args.plot:
        save_series(panels, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
