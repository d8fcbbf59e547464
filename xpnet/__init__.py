"""xpnet: the neural network of "Deep Learning from Scratch", chapter 3, on any array-API backend.

Pick a backend with :func:`get_backend` (or just its namespace with
:func:`get_namespace`), move the weights and data there, and call the
chapter's functions: they work on NumPy, CuPy, array-api-strict, PyTorch and
dask arrays alike, and return arrays of the input's library and device.
"""

from .backend import Backend, get_backend, get_namespace, to_device, to_numpy
from .errors import BackendError, DataError, XpnetError
from .functions import AND, NAND, OR, identity_function, perceptron, relu, sigmoid, softmax, step_function
from .network import accuracy, check_network, classify, forward, init_network, logits, predict
from .weights import load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    "AND",
    "NAND",
    "OR",
    "Backend",
    "BackendError",
    "DataError",
    "XpnetError",
    "accuracy",
    "check_network",
    "classify",
    "forward",
    "get_backend",
    "get_namespace",
    "identity_function",
    "init_network",
    "load_weights",
    "logits",
    "perceptron",
    "predict",
    "relu",
    "save_weights",
    "sigmoid",
    "softmax",
    "step_function",
    "to_device",
    "to_numpy",
]
