"""``xpnet export``: a network as an ONNX model, traced from xpnet's own forward code."""

from __future__ import annotations

import argparse
from typing import Any

from ..backends import get_backend
from ..export import INPUTS, onnx_model, save_onnx
from ..io.download import check_writable
from ..io.weights import dense_layers
from ._common import add_model_arg, chosen_model


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    export = commands.add_parser("export", help="write a network as an ONNX model, traced from xpnet's own code")
    add_model_arg(export)
    export.add_argument("--dtype", choices=("float32", "float64"),
                        help="the network's dtype (default: the one a weights file of xpnet train records, "
                        "else float32)")
    export.add_argument("--weights", help="weights .pkl or .npz (default: the book's for the model)")
    export.add_argument("--input", choices=INPUTS, default="uint8",
                        help="the model's input: uint8 pixels, scaled inside the graph (default), or float32 in [0, 1]")
    export.add_argument("--output", "-o", default="model.onnx", help="the .onnx file to write (default model.onnx)")
    export.set_defaults(run=run)
    return [export]


def run(args: argparse.Namespace) -> int:
    check_writable(args.output)
    model = chosen_model(args)
    network = model.load(get_backend("cpu"), args.weights, args.dtype, **args.layers_recorded)
    save_onnx(onnx_model(model, network, input_dtype=args.input), args.output)
    title = model.title
    if model.dense:  # its sizes are the weights' own
        layers = dense_layers(network.params)
        recorded = {"activation": "sigmoid", **args.layers_recorded}
        kind = [recorded["activation"], *([f"dropout {recorded['dropout']}"] if recorded.get("dropout") else []),
                *(["batch normalization"] if recorded.get("batch_norm") else [])]
        sizes = "-".join(str(n) for n in [model.features, *(w.shape[1] for w, _ in layers)])
        title = f"a {sizes} network ({', '.join(kind)})"
    print(f"wrote {args.output}: {title}, input 'images' {args.input} (N, {model.features}), outputs "
          f"'probabilities' (N, {model.classes}) and 'label' (N,)")
    return 0
