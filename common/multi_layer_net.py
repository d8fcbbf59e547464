"""``common/multi_layer_net.py``: the book's ``MultiLayerNet``, on the chosen device."""

from xpnet import train

from . import on_backend

MultiLayerNet = on_backend(train.MultiLayerNet)
