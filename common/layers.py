"""``common/layers.py``: the book's layers, from :mod:`xpnet.nn`, each keeping what backward needs on every
forward pass, as the book's do."""

from xpnet import nn

from . import as_the_book_calls

Relu = as_the_book_calls(nn.Relu)
Sigmoid = as_the_book_calls(nn.Sigmoid)
Affine = as_the_book_calls(nn.Affine)
Convolution = as_the_book_calls(nn.Convolution)
Pooling = as_the_book_calls(nn.Pooling)
Dropout = as_the_book_calls(nn.Dropout)
BatchNormalization = as_the_book_calls(nn.BatchNormalization)
SoftmaxWithLoss = nn.SoftmaxWithLoss
