"""``common/multi_layer_net_extend.py``: the book's ``MultiLayerNetExtend``, on the chosen device."""

from xpnet import train

from . import on_backend

MultiLayerNetExtend = on_backend(train.MultiLayerNetExtend)
