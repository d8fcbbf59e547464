"""The same networks written the usual PyTorch way, float32: what xpnet is measured against on PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch's own convention

from xpnet.nn import Affine, Convolution, Dropout, Pooling, Relu


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


def torch_convnet_accuracy(layers: dict[str, Any], params: dict[str, np.ndarray], floats: np.ndarray,
                           labels: np.ndarray, batch_size: int, device: str) -> float:
    """The same ConvNet written the usual PyTorch way: float32 ``conv2d``, ``max_pool2d``, ``linear``."""
    target = torch.device(device)
    w = {key: torch.from_numpy(value.astype(np.float32)).to(target) for key, value in params.items()}
    numbers = iter(range(1, len(params) // 2 + 1))
    steps = []
    for layer in layers.values():
        if isinstance(layer, Convolution):
            k = next(numbers)
            steps.append(lambda a, k=k, s=layer.stride, p=layer.pad: F.conv2d(a, w[f"W{k}"], w[f"b{k}"], s, p))
        elif isinstance(layer, Pooling):
            steps.append(lambda a, layer=layer: F.max_pool2d(a, (layer.pool_h, layer.pool_w), layer.stride, layer.pad))
        elif isinstance(layer, Relu):
            steps.append(F.relu)
        elif isinstance(layer, Affine):
            k = next(numbers)
            steps.append(lambda a, k=k: torch.addmm(w[f"b{k}"], a.flatten(1), w[f"W{k}"]))
        elif isinstance(layer, Dropout):
            steps.append(lambda a, keep=1.0 - layer.dropout_ratio: a * keep)
    with torch.inference_mode():
        inputs = torch.from_numpy(floats.reshape(-1, 1, 28, 28)).to(target)
        targets = torch.from_numpy(labels.astype(np.int64)).to(target)
        correct = torch.zeros((), dtype=torch.int64, device=target)
        for i in range(0, len(inputs), batch_size):
            a = inputs[i : i + batch_size]
            for step in steps:
                a = step(a)
            correct += (a.argmax(dim=1) == targets[i : i + batch_size]).sum()
        return correct.item() / len(inputs)


def trainer(initial: dict[str, np.ndarray], images: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
    """One epoch of the same network and SGD, written the usual PyTorch way (autograd, cross_entropy)."""
    params = {key: torch.from_numpy(value.copy()).requires_grad_() for key, value in initial.items()}
    x, t = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    rng = np.random.default_rng(0)

    def epoch() -> float:
        total = torch.zeros(())
        order = torch.from_numpy(rng.permutation(len(t)))
        for start in range(0, len(t), 100):
            rows = order[start : start + 100]
            h = torch.sigmoid(torch.addmm(params["b1"], x[rows].float() / 255, params["W1"]))
            h = torch.sigmoid(torch.addmm(params["b2"], h, params["W2"]))
            loss = torch.nn.functional.cross_entropy(torch.addmm(params["b3"], h, params["W3"]), t[rows])
            loss.backward()
            with torch.no_grad():
                for value in params.values():
                    value -= 0.1 * value.grad
                    value.grad = None
                total += loss * len(rows)
        return total.item() / len(t)

    return epoch


