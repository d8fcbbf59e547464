"""``common/functions.py``: the book's activations and losses, from :mod:`xpnet.functions`."""

from xpnet.functions import (  # noqa: F401
    cross_entropy_error,
    identity_function,
    relu,
    sigmoid,
    softmax,
    step_function,
    sum_squared_error,
)
