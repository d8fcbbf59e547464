"""xpnet: the networks of "Deep Learning from Scratch" (chapters 3 to 8), written once for NumPy, CuPy and any
array-API backend.

Pick a backend with :func:`get_backend` (or just its namespace with
:func:`get_namespace`), move the weights and data there, and call the book's
functions and networks: they work on NumPy, CuPy, array-api-strict, PyTorch,
JAX and dask arrays alike, and return arrays of the input's library and device.
"""

from .backends import Backend, get_backend, get_namespace, to_device, to_numpy
from .config import config_context, get_config, set_config
from .errors import BackendError, DataError, DivergedError, XpnetError
from .functions import AND, NAND, OR, identity_function, perceptron, relu, sigmoid, softmax, step_function
from .io.weights import check_network, load_weights, save_weights
from .network import accuracy, classify, forward, init_network, logits, predict

__version__ = "0.2.0"

__all__ = [
    "AND",
    "NAND",
    "OR",
    "Backend",
    "BackendError",
    "DataError",
    "DivergedError",
    "XpnetError",
    "accuracy",
    "check_network",
    "classify",
    "config_context",
    "forward",
    "get_backend",
    "get_config",
    "get_namespace",
    "identity_function",
    "init_network",
    "load_weights",
    "logits",
    "perceptron",
    "predict",
    "relu",
    "save_weights",
    "set_config",
    "sigmoid",
    "softmax",
    "step_function",
    "to_device",
    "to_numpy",
]
