"""``from dataset.mnist import load_mnist`` in a checkout, as in the book: hands on :mod:`xpnet.datasets.mnist`."""

from xpnet.datasets.mnist import *  # noqa: F403
from xpnet.datasets.mnist import __all__  # noqa: F401
