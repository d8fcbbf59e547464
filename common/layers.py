"""``common/layers.py``: the book's layers, from :mod:`xpnet.nn`, each keeping what backward needs on every
forward pass, as the book's do."""

import numpy as np  # the book's module imports it, and its star import hands it on

from xpnet import nn

from . import as_the_book_calls
from .functions import *  # noqa: F403 - as the book's module has them
from .util import col2im, im2col  # noqa: F401

Relu = as_the_book_calls(nn.Relu)
Sigmoid = as_the_book_calls(nn.Sigmoid)
Affine = as_the_book_calls(nn.Affine)
Convolution = as_the_book_calls(nn.Convolution)
Pooling = as_the_book_calls(nn.Pooling)
Dropout = as_the_book_calls(nn.Dropout, seed=np.random)
BatchNormalization = as_the_book_calls(nn.BatchNormalization)
SoftmaxWithLoss = nn.SoftmaxWithLoss
