"""Layers and the one kind of network: :mod:`.base` (the layer protocol), :mod:`.layers`,
:mod:`.model` and :mod:`.params`."""

from .base import Layer, Seed
from .layers import (
    ACTIVATIONS,
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from .model import Model
from .params import Params

__all__ = [
    "ACTIVATIONS",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "Layer",
    "Model",
    "Params",
    "Pooling",
    "Relu",
    "Seed",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]
