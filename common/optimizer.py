"""``common/optimizer.py``: the book's optimizers, from :mod:`xpnet.train`."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet.train import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop  # noqa: F401
