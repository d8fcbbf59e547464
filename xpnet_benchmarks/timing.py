"""Timing shared by the benchmarks: interleaved repetitions, this machine's SGEMM peak, a network's FLOPs."""

from __future__ import annotations

import importlib.util
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from xpnet.nn import Affine, Convolution

SETTLE_S = 0.3


def flops_per_image(net: Any) -> int:
    """Multiply-adds times two of one image's forward pass: the convolutions' and the affine layers' products,
    as the book's layers compute them (none for the outputs that xpnet's grid computes and drops)."""
    flops = 0
    x = np.zeros((1, *net.input_shape), dtype=np.float32)
    for layer in net.layers.values():
        x = layer.forward(x)
        if isinstance(layer, Convolution):  # each output value: one filter's C * FH * FW products
            flops += 2 * math.prod(x.shape[1:]) * math.prod(layer.W.shape[1:])
        elif isinstance(layer, Affine):
            flops += 2 * layer.W.shape[0] * layer.W.shape[1]
    return flops


def sgemm_peak(size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-product speed in GFLOP/s: the best of ``repeats`` 2048^3 products."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    a @ a  # warm-up
    return 2 * size**3 / min(timed(lambda: a @ a) for _ in range(repeats)) / 1e9


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def interleaved(passes: dict[str, Callable[[], object]], repeats: int, images: int) -> dict[str, dict[str, Any]]:
    """Run every pass ``repeats`` times, interleaved, each after a settling pause and an untimed run of its own;
    median seconds and images/s, each round's seconds, and ``xpnet_is``: how many times faster the first pass
    (xpnet) ran than this one, the median of the rounds' ratios. Each ratio compares two runs seconds apart, so
    a machine whose speed drifts from minute to minute (a VM's) moves it less than the ratio of the medians."""
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(repeats):
        for name, one_pass in passes.items():
            time.sleep(SETTLE_S)
            one_pass()
            times[name].append(timed(one_pass))
    first = times[next(iter(passes))]
    return {name: {"seconds": statistics.median(seconds), "images_per_s": images / statistics.median(seconds),
                   "rounds": seconds, "xpnet_is": statistics.median(b / a for a, b in zip(first, seconds, strict=True))}
            for name, seconds in times.items()}


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
