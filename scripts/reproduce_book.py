"""Reproduce the book's training results on all of MNIST, one chapter at a time, on any backend.

    python scripts/reproduce_book.py ch5                  # TwoLayerNet 784-50-10, SGD 0.1, 10,000 iterations
    python scripts/reproduce_book.py ch6-optimizers       # SGD, Momentum, AdaGrad, Adam on a 5-layer net
    python scripts/reproduce_book.py ch7 --epochs 20      # SimpleConvNet, Adam 0.001 (the book: 20 epochs)
    python scripts/reproduce_book.py ch8 --epochs 20      # DeepConvNet, Adam 0.001 (the book: 20 epochs)

``--backend``/``--device`` choose where the networks run (``--device cuda`` for a GPU); the data are the book's
(``load_mnist``, normalized), read from ``--data-dir`` or the cache. Each line printed is one JSON object:
per epoch the training and test accuracy (for ch7 and ch8 as the book's ``Trainer`` records them: on 1,000
images, after the epoch's first step), then the final test accuracy on all 10,000 test images and the seconds
taken.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import xpnet
from xpnet.datasets.mnist import load_mnist
from xpnet.train import SGD, AdaGrad, Adam, DeepConvNet, Momentum, MultiLayerNet, SimpleConvNet, Trainer, TwoLayerNet


def report(**values: object) -> None:
    print(json.dumps(values), flush=True)


def chapter_5(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> None:
    """ch05/train_neuralnet.py: batches drawn with np.random.choice, an accuracy each epoch (600 iterations)."""
    (x_train, t_train), (x_test, t_test) = data
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=args.seed, backend=backend)
    iters_num, train_size, batch_size, learning_rate = 10000, x_train.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)
        grad = network.gradient(x_train[batch_mask], t_train[batch_mask])
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        if i % iter_per_epoch == 0:
            report(iteration=i, train_acc=network.accuracy(x_train, t_train), test_acc=network.accuracy(x_test, t_test))
    report(final_test_acc=network.accuracy(x_test, t_test))


def chapter_6_optimizers(data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> None:
    """ch06/optimizer_compare_mnist.py: a 784-100-100-100-100-10 ReLU network per optimizer, 2,000 iterations."""
    (x_train, t_train), _ = data
    optimizers = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
    networks = {name: MultiLayerNet(784, [100, 100, 100, 100], 10, seed=args.seed, backend=backend)
                for name in optimizers}
    losses: dict[str, list[float]] = {name: [] for name in optimizers}
    for i in range(2000):
        batch_mask = np.random.choice(x_train.shape[0], 128)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for name, optimizer in optimizers.items():
            optimizer.update(networks[name].params, networks[name].gradient(x_batch, t_batch))
            losses[name].append(float(networks[name].loss(x_batch, t_batch)))
        if i % 500 == 0 or i == 1999:
            report(iteration=i, **{name: values[-1] for name, values in losses.items()})


def convnet(network_class: type, data: tuple, backend: xpnet.Backend, args: argparse.Namespace) -> None:
    """ch07/train_convnet.py and ch08/train_deepnet.py: the book's Trainer, Adam 0.001, batch 100, the epoch's
    accuracies on 1,000 images."""
    (x_train, t_train), (x_test, t_test) = data
    network = network_class(seed=args.seed, backend=backend, dtype=args.dtype)
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


CHAPTERS = {
    "ch5": chapter_5,
    "ch6-optimizers": chapter_6_optimizers,
    "ch7": lambda *a: convnet(SimpleConvNet, *a),
    "ch8": lambda *a: convnet(DeepConvNet, *a),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", choices=tuple(CHAPTERS))
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="the networks' dtype (default: the backend's default float)")
    parser.add_argument("--epochs", type=int, default=20, help="ch7 and ch8 (default 20, the book's)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and NumPy's global generator")
    parser.add_argument("--data-dir", help="directory holding the MNIST files (default $XPNET_DATA_DIR)")
    args = parser.parse_args()
    np.random.seed(args.seed)
    backend = xpnet.get_backend(args.backend, args.device)
    flat = args.chapter in ("ch5", "ch6-optimizers")
    data = load_mnist(normalize=True, flatten=flat, one_hot_label=args.chapter == "ch5", data_dir=args.data_dir)
    start = time.perf_counter()
    CHAPTERS[args.chapter](data, backend, args)
    report(chapter=args.chapter, backend=str(backend), seconds=time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
