"""``common/multi_layer_net.py``: the book's ``MultiLayerNet``, on the chosen device."""

import numpy as np  # the book's module imports it, and its star import hands it on

from xpnet import train

from . import DTYPE, on_backend

MultiLayerNet = on_backend(train.MultiLayerNet, seed=np.random, dtype=DTYPE)
