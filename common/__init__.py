"""The book's ``common`` package in a checkout, as ``dataset/`` is: ``from common.layers import *`` and the rest,
served by xpnet, so that the book's chapter scripts run unchanged (``sys.path.append(os.pardir)``).

The device is chosen outside the script: ``XPNET_BACKEND`` (``numpy``, ``torch``, ``jax``, ...) and
``XPNET_DEVICE`` (``cpu``, ``cuda``, ...) set where the networks of :mod:`common.multi_layer_net`,
:mod:`common.multi_layer_net_extend` and the chapters' own networks built from them are placed; the data
the scripts load stay NumPy arrays, and each batch goes to the device as the network takes it.
"""

import os

import xpnet

BACKEND = xpnet.get_backend(os.environ.get("XPNET_BACKEND", "numpy"), os.environ.get("XPNET_DEVICE") or None)


def on_backend(cls: type) -> type:
    """``cls`` with ``backend`` defaulting to the chosen one."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: N807 - a constructor for the subclass
        kwargs.setdefault("backend", BACKEND)
        cls.__init__(self, *args, **kwargs)

    return type(cls.__name__, (cls,), {"__init__": __init__, "__doc__": cls.__doc__})


def as_the_book_calls(cls: type) -> type:
    """``cls`` whose ``forward(x, train_flg=True)`` keeps what backward needs, as the book's layers always do."""

    def forward(self, x, train_flg=True):
        return cls.forward(self, x, train_flg)

    return type(cls.__name__, (cls,), {"forward": forward, "__doc__": cls.__doc__})
