"""``common/gradient.py``: the book's numerical gradient, from :mod:`xpnet.train`."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet.train import numerical_gradient  # noqa: F401
