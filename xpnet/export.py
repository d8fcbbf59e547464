"""ONNX export from xpnet's own forward code: ndonnx arrays are symbolic, so running the network records a graph.

No second, ONNX-only definition of any network exists: :func:`onnx_model`
calls the same ``predict`` that inference runs (for chapter 3's network, its
folded tanh layers), on an ``ndonnx.argument`` with a dynamic batch axis.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .backends import to_numpy
from .errors import BackendError
from .functions import softmax
from .io.download import save_atomically
from .models import ModelEntry
from .nn import Model

INPUTS = ("uint8", "float32")
_INSTALL = "pip install 'xpnet[onnx]'"


def onnx_model(model: ModelEntry, network: Model, *, input_dtype: str = "uint8") -> Any:
    """The ONNX model (an ``onnx.ModelProto``, checked with ``onnx.checker``) of ``network``, a ``model``.

    Input ``images``: (N, features) ``uint8`` pixels (scaled by 1/255 inside
    the graph) or ``float32`` in [0, 1]; outputs ``probabilities`` (N,
    classes) float and ``label`` (N,) int64, the predicted class.
    ``network``'s arrays may be on any backend; they become the graph's constants.
    """
    if input_dtype not in INPUTS:
        raise ValueError(f"input_dtype must be one of {INPUTS}, got {input_dtype!r}")
    if not isinstance(network, Model):
        raise TypeError(f"expected a network (an xpnet.nn.Model), got {type(network).__name__}")
    try:
        import ndonnx
        import onnx
    except ImportError as err:
        raise BackendError(f"export needs ndonnx and onnx ({err}): {_INSTALL}") from None
    host = {key: to_numpy(value) for key, value in network.arrays.items()}
    traced = network.bound({key: ndonnx.asarray(value) for key, value in host.items()})
    images = ndonnx.argument(shape=("N", model.features), dtype=getattr(ndonnx, input_dtype))
    scores = traced.predict(images)
    proto = ndonnx.build({"images": images},
                         {"probabilities": softmax(scores), "label": ndonnx.argmax(scores, axis=1)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(proto: Any, path: str | os.PathLike[str]) -> None:
    """Write ``proto`` to ``path``, whole or not at all."""
    save_atomically(Path(path), lambda temporary: temporary.write_bytes(proto.SerializeToString()))
