"""ONNX export from xpnet's own forward code: ndonnx arrays are symbolic, so running the network records a graph.

No second, ONNX-only definition of any network exists: :func:`onnx_model`
calls the same ``predict``/``logits`` that inference runs (for chapter 3's
network, its folded tanh layers), on an ``ndonnx.argument`` with a
dynamic batch axis.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .backend import get_backend, to_numpy
from .download import save_atomically
from .errors import BackendError
from .functions import softmax
from .models import Model
from .network import Classifier, Network, logits

INPUTS = ("uint8", "float32")
_INSTALL = "pip install 'xpnet[onnx]'"


def onnx_model(model: Model, network: Network | Classifier, *, input_dtype: str = "uint8") -> Any:
    """The ONNX model (an ``onnx.ModelProto``, checked with ``onnx.checker``) of ``network``, a ``model``.

    Input ``images``: (N, 784) ``uint8`` pixels (scaled by 1/255 inside the
    graph) or ``float32`` in [0, 1]; outputs ``probabilities`` (N, 10) float
    and ``label`` (N,) int64, the predicted class. ``network``'s arrays may
    be on any backend; they become the graph's constants.
    """
    if input_dtype not in INPUTS:
        raise ValueError(f"input_dtype must be one of {INPUTS}, got {input_dtype!r}")
    try:
        import ndonnx
        import onnx
    except ImportError as err:
        raise BackendError(f"export needs ndonnx and onnx ({err}): {_INSTALL}") from None
    host = {key: to_numpy(value) for key, value in (network if model.fused else network.params).items()}
    constants = {key: ndonnx.asarray(value) for key, value in host.items()}
    if model.fused:
        traced = constants
    else:
        traced = model.network(get_backend("cpu"), dtype=host["W1"].dtype.name)
        traced.params = constants
    images = ndonnx.argument(shape=("N", 784), dtype=getattr(ndonnx, input_dtype))
    scores = logits(traced, images)
    proto = ndonnx.build({"images": images},
                         {"probabilities": softmax(scores), "label": ndonnx.argmax(scores, axis=1)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(proto: Any, path: str | os.PathLike[str]) -> None:
    """Write ``proto`` to ``path``, whole or not at all."""
    save_atomically(Path(path), lambda temporary: temporary.write_bytes(proto.SerializeToString()))
