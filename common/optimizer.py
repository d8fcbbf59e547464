"""``common/optimizer.py``: the book's optimizers, from :mod:`xpnet.train`."""

from xpnet.train import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop  # noqa: F401
