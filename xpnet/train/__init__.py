"""Chapters 4 to 8 under the book's names: the networks that learn, the optimizers, the training loop.

The networks (:mod:`xpnet.models`) take the book's constructor arguments and
offer its ``predict``, ``loss``, ``accuracy``, ``numerical_gradient`` and
``gradient``; the optimizers are the book's with its default learning rates.
"""

from ..models import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet
from ..nn import Model
from .gradients import numerical_gradient
from .loop import fit, train_epoch
from .optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RMSprop

__all__ = ["OPTIMIZERS", "SGD", "AdaGrad", "Adam", "DeepConvNet", "Model", "Momentum",
           "MultiLayerNet", "Nesterov", "Optimizer", "RMSprop", "SimpleConvNet", "TwoLayerNet", "fit",
           "numerical_gradient", "train_epoch"]
