"""``common/gradient.py``: the book's numerical gradient, from :mod:`xpnet.train`."""

from xpnet.train import numerical_gradient  # noqa: F401
