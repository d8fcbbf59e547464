"""The book's networks (:mod:`.mlp`, :mod:`.convnets`) and the registry that every command reads."""

from .convnets import DeepConvNet, SimpleConvNet
from .mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet, chapter3_network
from .registry import MODELS, ModelEntry, register

__all__ = [
    "MODELS",
    "DeepConvNet",
    "ModelEntry",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "SimpleConvNet",
    "TwoLayerNet",
    "chapter3_network",
    "register",
]
