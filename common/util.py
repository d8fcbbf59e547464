"""``common/util.py``: the book's helpers, from xpnet."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet.kernels import col2im, im2col  # noqa: F401
from xpnet.train import shuffle_dataset, smooth_curve  # noqa: F401


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) / stride + 1
