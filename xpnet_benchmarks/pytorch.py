"""The same networks written the usual PyTorch way, float32: what xpnet is measured against on PyTorch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch's own convention

from xpnet.nn import Affine, Convolution, Dropout, Model, Pooling, Relu, Sigmoid


def torch_accuracy(network: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, batch_size: int, device: str) -> float:
    """The same network written the usual PyTorch way: float32 tensors, addmm, ``torch.inference_mode``."""
    target = torch.device(device)
    w = {key: torch.from_numpy(value).to(target) for key, value in network.items()}
    with torch.inference_mode():
        inputs, labels = torch.from_numpy(x).to(target), torch.from_numpy(t).to(target)
        correct = torch.zeros((), dtype=torch.int64, device=target)
        for i in range(0, len(inputs), batch_size):
            h = torch.sigmoid(torch.addmm(w["b1"], inputs[i : i + batch_size], w["W1"]))
            h = torch.sigmoid(torch.addmm(w["b2"], h, w["W2"]))
            scores = torch.addmm(w["b3"], h, w["W3"])
            correct += (scores.argmax(dim=1) == labels[i : i + batch_size]).sum()
        return correct.item() / len(inputs)


def torch_steps(net: Model, w: dict[str, torch.Tensor], train: bool = False) -> list[Callable]:
    """``net``'s layers written the usual PyTorch way (``conv2d``, ``max_pool2d``, ``addmm``), on the tensors
    ``w`` under ``net``'s keys; in training, dropout draws its mask as the book's does (no rescaling)."""
    key_of = {id(value): key for key, value in net.params.items()}
    steps: list[Callable] = []
    for layer in net.layers.values():
        keys = [key_of[id(value)] for value in layer.params.values()]
        if isinstance(layer, Convolution):
            steps.append(lambda a, k=keys, s=layer.stride, p=layer.pad: F.conv2d(a, w[k[0]], w[k[1]], s, p))
        elif isinstance(layer, Pooling):
            steps.append(lambda a, layer=layer: F.max_pool2d(a, (layer.pool_h, layer.pool_w), layer.stride, layer.pad))
        elif isinstance(layer, Relu):
            steps.append(F.relu)
        elif isinstance(layer, Sigmoid):
            steps.append(torch.sigmoid)
        elif isinstance(layer, Affine):
            steps.append(lambda a, k=keys: torch.addmm(w[k[1]], a.flatten(1), w[k[0]]))
        elif isinstance(layer, Dropout) and train:
            steps.append(lambda a, ratio=layer.dropout_ratio: a * (torch.rand_like(a) > ratio))
        elif isinstance(layer, Dropout):
            steps.append(lambda a, keep=1.0 - layer.dropout_ratio: a * keep)
        else:
            raise TypeError(f"no PyTorch statement of {type(layer).__name__}")
    return steps


def torch_convnet_accuracy(net: Model, params: dict[str, np.ndarray], floats: np.ndarray, labels: np.ndarray,
                           batch_size: int, device: str) -> float:
    """The same ConvNet written the usual PyTorch way: float32 ``conv2d``, ``max_pool2d``, ``addmm``."""
    target = torch.device(device)
    steps = torch_steps(net, {key: torch.from_numpy(value.astype(np.float32)).to(target)
                              for key, value in params.items()})
    with torch.inference_mode():
        inputs = torch.from_numpy(floats.reshape(-1, *net.input_shape)).to(target)
        targets = torch.from_numpy(labels.astype(np.int64)).to(target)
        correct = torch.zeros((), dtype=torch.int64, device=target)
        for i in range(0, len(inputs), batch_size):
            a = inputs[i : i + batch_size]
            for step in steps:
                a = step(a)
            correct += (a.argmax(dim=1) == targets[i : i + batch_size]).sum()
        return correct.item() / len(inputs)


def trainer(net: Model, initial: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray, optimizer: str,
            lr: float, batch_size: int = 100) -> Callable[[], float]:
    """One epoch of ``net`` from ``initial`` weights, written the usual PyTorch way: float32, autograd,
    ``cross_entropy``, ``torch.optim``'s ``SGD`` or ``Adam``. ``images``: (n, 784) uint8, normalized per batch."""
    params = {key: torch.from_numpy(value.astype(np.float32)).requires_grad_() for key, value in initial.items()}
    steps = torch_steps(net, params, train=True)
    optimize = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer](params.values(), lr=lr)
    x, t = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    rng = np.random.default_rng(0)

    def epoch() -> float:
        total = torch.zeros(())
        order = torch.from_numpy(rng.permutation(len(t)))
        for start in range(0, len(t), batch_size):
            rows = order[start : start + batch_size]
            a = (x[rows].float() / 255).reshape(-1, *net.input_shape)
            for step in steps:
                a = step(a)
            loss = F.cross_entropy(a, t[rows])
            optimize.zero_grad()
            loss.backward()
            optimize.step()
            total += loss.detach() * len(rows)
        return total.item() / len(t)

    return epoch
