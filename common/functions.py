"""``common/functions.py``: the book's activations and losses, from :mod:`xpnet.functions`."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet.functions import (  # noqa: F401
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
