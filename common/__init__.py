"""The book's ``common`` package in a checkout, as ``dataset/`` is: ``from common.layers import *`` and the rest,
served by xpnet, so that the book's chapter scripts run unchanged (``sys.path.append(os.pardir)``).

The device is chosen outside the script: ``XPNET_BACKEND`` (``numpy``, ``torch``, ``jax``, ...) and
``XPNET_DEVICE`` (``cpu``, ``cuda``, ...) set where the networks of :mod:`common.multi_layer_net`,
:mod:`common.multi_layer_net_extend` and the chapters' own networks built from them are placed, and
``XPNET_DTYPE`` their float: float64 unless set, as the book computes on every backend (its gradient checks
need it; PyTorch's and JAX's own default is float32), ``float32`` for speed on a GPU. The data
the scripts load stay NumPy arrays, and each batch goes to the device as the network takes it.
:class:`common.trainer.Trainer` takes the book's own network classes (``ch07/simple_convnet.py``, built from
NumPy arrays) to that device while it trains them, and hands their parameters back as NumPy arrays.

Weights and dropout masks are drawn from NumPy's global generator, as the book's are, so that a script's
``np.random.seed`` fixes them. A chapter script owns its process, as xpnet's commands do, and the C library
keeps freed memory for reuse there (:func:`xpnet.backends.runtime.reuse_freed_memory`): a ConvNet's step
allocates arrays of the same large sizes at every batch.
"""

import os

import xpnet
from xpnet.backends.runtime import reuse_freed_memory

BACKEND = xpnet.get_backend(os.environ.get("XPNET_BACKEND", "numpy"), os.environ.get("XPNET_DEVICE") or None)
DTYPE = os.environ.get("XPNET_DTYPE") or "float64"
if BACKEND.name == "jax" and DTYPE == "float64":  # JAX makes float32 of float64 unless told; a script owns its process
    import jax

    jax.config.update("jax_enable_x64", True)
reuse_freed_memory()


def with_defaults(cls: type, **defaults: object) -> dict:
    """A constructor for a subclass of ``cls`` that fills in the keyword arguments of ``defaults`` not given."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: N807 - a constructor for the subclass
        cls.__init__(self, *args, **{**defaults, **kwargs})

    return {"__init__": __init__, "__doc__": cls.__doc__}


def on_backend(cls: type, **defaults: object) -> type:
    """``cls`` with ``backend`` defaulting to the chosen one (and the other ``defaults``), whose ``loss`` is a
    Python float, as the book's NumPy scalar is: the scripts print it (a PyTorch or array-api-strict 0-d array
    would print as ``tensor(2.30)`` or ``Array(2.30, ...)``). Its ``gradient`` keeps the loss on the device."""

    def loss(self, *args, **kwargs):
        return float(cls.loss(self, *args, **kwargs))

    return type(cls.__name__, (cls,), {**with_defaults(cls, backend=BACKEND, **defaults), "loss": loss})


def as_the_book_calls(cls: type, **defaults: object) -> type:
    """``cls`` whose ``forward(x, train_flg=True)`` keeps what backward needs, as the book's layers always do (and
    whose constructor takes ``defaults``)."""

    def forward(self, x, train_flg=True):
        return cls.forward(self, x, train_flg)

    return type(cls.__name__, (cls,), {**with_defaults(cls, **defaults), "forward": forward})
