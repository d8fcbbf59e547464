"""``common/util.py``: the book's helpers, from xpnet."""

from xpnet.kernels import col2im, im2col  # noqa: F401
from xpnet.train import shuffle_dataset, smooth_curve  # noqa: F401


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    return (input_size + 2 * pad - filter_size) / stride + 1
