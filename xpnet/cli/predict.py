"""``xpnet predict``: the digit in each of your own pictures (PNG, JPEG, ``.npy``, ``.npz``) in MNIST's form."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from ..digits import to_mnist
from ..errors import XpnetError
from ..io.images import ARRAYS, PICTURES, read_digits
from ..scoring import probabilities
from ._common import add_backend_args, add_model_arg, add_weights_args, load_network, model_backend

TOP = 3  # probabilities printed for each picture


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    predict = commands.add_parser("predict", help="the digit in each of your own pictures, with its top-3 "
                                  "probabilities")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help=f"pictures ({', '.join(PICTURES)}), arrays ({', '.join(ARRAYS)}: uint8 or floats in "
                         "[0, 1], one picture (h, w) or many (n, h, w), (n, 784)) or folders of them")
    add_backend_args(predict)
    add_model_arg(predict)
    add_weights_args(predict)
    predict.add_argument("--json", action="store_true", help="print the result as one JSON object")
    predict.set_defaults(run=run)
    return [predict]


def run(args: argparse.Namespace) -> int:
    names, digits = [], []
    for name, picture in read_digits(args.paths):
        try:
            digits.append(to_mnist(picture))
        except ValueError as err:
            raise XpnetError(f"{name}: {err}") from None
        names.append(name)
    model, backend = model_backend(args)
    network = load_network(args, model, backend, len(digits))
    shares = probabilities(network, backend.asarray(np.stack(digits).reshape(len(digits), -1)), backend.batch_size,
                           workers=backend.workers)
    predictions = [{"source": name, "digit": int(np.argmax(share)),
                    "top": [{"digit": int(k), "probability": float(share[k])} for k in np.argsort(-share)[:TOP]],
                    "probabilities": [float(p) for p in share]} for name, share in zip(names, shares, strict=True)]
    if args.json:
        print(json.dumps({"model": model.name, "backend": backend.name, "device": str(backend.device),
                          "predictions": predictions}))
        return 0
    for prediction in predictions:
        top = ", ".join(f"{guess['digit']} {guess['probability']:.1%}" for guess in prediction["top"])
        print(f"{prediction['source']}: {prediction['digit']}  ({top})")
    return 0
