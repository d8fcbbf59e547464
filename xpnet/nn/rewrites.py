"""A network's layers rewritten by what they declare (see :mod:`.base`): the order training and inference run
them in, and the inference pass's folds. The same scores, less work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backends import array_namespace
from .base import Layer
from .layers import Affine, Tanh

Array = Any


def commuted(layers: Mapping[str, Layer]) -> tuple[list[str], list[Layer]]:
    """The layers' names and layers, each monotone elementwise layer (ReLU) just before a max pooling moved
    after it. The two commute exactly (NaN and padding zeros included), and the pooling leaves fewer values
    to rectify; in training the gradients are the same too: a window whose maximum the ReLU zeroes sends
    nothing back either way, and one whose maximum is positive sends it to the same first maximum."""
    names, ordered = list(layers), list(layers.values())
    for k in range(len(ordered) - 1):
        if ordered[k].monotone and ordered[k + 1].commutes_with_monotone:
            ordered[k], ordered[k + 1] = ordered[k + 1], ordered[k]
            names[k], names[k + 1] = names[k + 1], names[k]
    return names, ordered


def for_inference(layers: Mapping[str, Layer], pixels: bool) -> tuple[list[str], list[Layer], bool]:
    """The layers' names and layers for inference, and whether the first took in the pixels' 1/255:

    - A monotone elementwise layer (ReLU) just before a max pooling runs after it (as in training,
      see :func:`commuted`).
    - A layer of the form ``shift + outer * tanh(inner * a)`` (the sigmoid, whose ``a`` is
      ``tanh(a / 2) / 2 + 1/2``) between two affine layers becomes a ``tanh``: ``inner`` moves into the
      affine layer before it, ``outer`` and ``shift`` into the one after (W * outer, and b + shift times
      W's column sums). A hidden layer then costs one product, one bias add and one tanh.
    - With ``pixels`` (uint8 input), a first affine layer takes in the 1/255 that scales them.
    """
    names, ordered = commuted(layers)
    folds = [0 < k < len(ordered) - 1 and ordered[k].tanh_form is not None and ordered[k - 1].affine
             and ordered[k + 1].affine for k in range(len(ordered))]
    pixels = pixels and bool(ordered) and ordered[0].affine
    if not (pixels or any(folds)):
        return names, ordered, False
    rewritten: list[Layer] = []
    for k, layer in enumerate(ordered):
        if folds[k]:
            rewritten.append(Tanh())
            continue
        if not layer.affine:
            rewritten.append(layer)
            continue
        w, b = layer.W, layer.b
        if k == 0 and pixels:
            w = w * (1 / 255)
        if k > 0 and folds[k - 1]:
            _, outer, shift = ordered[k - 1].tanh_form
            w, b = w * outer, b + shift * array_namespace(w).sum(w, axis=0)
        if k < len(ordered) - 1 and folds[k + 1]:
            inner = ordered[k + 1].tanh_form[0]
            w, b = w * inner, b * inner
        rewritten.append(Affine(w, b))
    return names, rewritten, pixels
