"""Chapters 4 to 8 under the book's names: the networks that learn, the optimizers, the training loop.

The networks (:mod:`xpnet.models`) take the book's constructor arguments and
offer its ``predict``, ``loss``, ``accuracy``, ``numerical_gradient`` and
``gradient``; the optimizers are the book's with its default learning rates.
"""

from ..models import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet
from ..nn import Model
from .gradients import numerical_gradient
from .loop import fit, train_epoch
from .optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop
from .trainer import Trainer, shuffle_dataset, smooth_curve

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "DeepConvNet",
    "Model",
    "Momentum",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "SimpleConvNet",
    "Trainer",
    "TwoLayerNet",
    "fit",
    "numerical_gradient",
    "shuffle_dataset",
    "smooth_curve",
    "train_epoch",
]
