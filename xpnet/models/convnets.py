"""The book's convolutional networks: chapter 7's ``SimpleConvNet`` and chapter 8's ``DeepConvNet``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backends import Backend
from ..nn import Affine, Convolution, Dropout, Model, Pooling, Relu, Seed


class SimpleConvNet(Model):
    """The book's chapter-7 network: conv -> ReLU -> 2x2 max pool -> Affine -> ReLU -> Affine -> softmax.

    Arguments as the book's; the parameters are ``W1`` (filters), ``W2``, ``W3`` and their biases.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param: Mapping[str, int] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        *,
        seed: Seed = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        conv = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1} | dict(conv_param or {})
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = tuple(input_dim)
        channels, size = input_dim[0], input_dim[1]
        filters, filter_size = conv["filter_num"], conv["filter_size"]
        conv_out = (size - filter_size + 2 * conv["pad"]) // conv["stride"] + 1
        pooled = filters * (conv_out // 2) ** 2
        shape = (filters, channels, filter_size, filter_size)
        std = weight_init_std
        self.add("Conv1", Convolution(self.noise(shape, std), self.zeros(filters), conv["stride"], conv["pad"]), 1)
        self.add("Relu1", Relu())
        self.add("Pool1", Pooling(pool_h=2, pool_w=2, stride=2))
        self.add("Affine1", Affine(self.noise((pooled, hidden_size), std), self.zeros(hidden_size)), 2)
        self.add("Relu2", Relu())
        self.add("Affine2", Affine(self.noise((hidden_size, output_size), std), self.zeros(output_size)), 3)


DEEP_CONVOLUTIONS = (  # the book's conv_param_1 .. conv_param_6
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(Model):
    """The book's chapter-8 network: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters), a 2x2 max pool
    after every second, Affine 50 -> ReLU -> Dropout -> Affine 10 -> Dropout; He initial weights.

    Arguments as the book's (``conv_param_1`` .. ``conv_param_6``); parameters ``W1`` .. ``W8``.
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (1, 28, 28),
        conv_param_1: Mapping[str, int] = DEEP_CONVOLUTIONS[0],
        conv_param_2: Mapping[str, int] = DEEP_CONVOLUTIONS[1],
        conv_param_3: Mapping[str, int] = DEEP_CONVOLUTIONS[2],
        conv_param_4: Mapping[str, int] = DEEP_CONVOLUTIONS[3],
        conv_param_5: Mapping[str, int] = DEEP_CONVOLUTIONS[4],
        conv_param_6: Mapping[str, int] = DEEP_CONVOLUTIONS[5],
        hidden_size: int = 50,
        output_size: int = 10,
        *,
        seed: Seed = None,
        backend: Backend | str = "cpu",
        dtype: Any = None,
    ) -> None:
        super().__init__(seed=seed, backend=backend, dtype=dtype)
        self.input_shape = tuple(input_dim)
        channels, size = input_dim[0], input_dim[1]
        convolutions = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        for k, conv in enumerate(convolutions, start=1):
            fn, fs = conv["filter_num"], conv["filter_size"]
            filters = self.noise((fn, channels, fs, fs), math.sqrt(2.0 / (channels * fs * fs)))
            self.add(f"Conv{k}", Convolution(filters, self.zeros(fn), conv["stride"], conv["pad"]), k)
            self.add(f"Relu{k}", Relu())
            size = (size - fs + 2 * conv["pad"]) // conv["stride"] + 1
            channels = fn
            if k % 2 == 0:
                self.add(f"Pool{k // 2}", Pooling(pool_h=2, pool_w=2, stride=2))
                size //= 2
        flat = channels * size * size
        self.add("Affine7", Affine(self.noise((flat, hidden_size), math.sqrt(2.0 / flat)), self.zeros(hidden_size)), 7)
        self.add("Relu7", Relu())
        self.add("Dropout1", Dropout(0.5, seed=seed))
        scale = math.sqrt(2.0 / hidden_size)
        self.add("Affine8", Affine(self.noise((hidden_size, output_size), scale), self.zeros(output_size)), 8)
        self.add("Dropout2", Dropout(0.5, seed=seed if seed is None or seed is np.random else seed + 1))
