"""``common/multi_layer_net_extend.py``: the book's ``MultiLayerNetExtend``, on the chosen device."""

import numpy as np  # the book's module imports it, and its star import hands it on

from xpnet import train

from . import DTYPE, on_backend

MultiLayerNetExtend = on_backend(train.MultiLayerNetExtend, seed=np.random, dtype=DTYPE)
