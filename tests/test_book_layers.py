"""The bench's restatement of the book's layers (``xpnet_benchmarks.book_layers``) computes what the book's
``common/layers.py`` computes: one training step of it and of xpnet's layers agree in float64, layer kind by
layer kind, so the bench's "the book's layers" row times the book's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.backends import get_backend, to_numpy
from xpnet.models import DeepConvNet, MultiLayerNet, SimpleConvNet
from xpnet.nn import Dropout
from xpnet.train import SGD, Adam
from xpnet_benchmarks.book_layers import BookAdam, BookSGD, book_gradient, book_layers, book_scores, col2im, im2col

NETWORKS = {
    "sigmoid": lambda: MultiLayerNet(12, [7, 5], 4, "sigmoid", 0.5, seed=1, dtype="float64"),
    "relu": lambda: MultiLayerNet(12, [7], 4, "relu", 0.5, seed=1, dtype="float64"),
    "convolution and pooling": lambda: SimpleConvNet((2, 9, 9), {"filter_num": 3, "filter_size": 3, "pad": 1,
                                                                 "stride": 2}, 6, 4, 0.5, seed=1, dtype="float64"),
}


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize(("optimizer", "book_optimizer"), [(SGD, BookSGD), (Adam, BookAdam)], ids=["sgd", "adam"])
def test_two_steps_of_the_book_layers_are_xpnets(kind: str, optimizer, book_optimizer) -> None:
    net = NETWORKS[kind]()
    optimizer, book_optimizer = optimizer(0.01), book_optimizer(0.01)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, *net.input_shape))
    t = rng.integers(0, 4, 5)
    params = {key: to_numpy(value).copy() for key, value in net.params.items()}
    layers = book_layers(net, params)
    np.testing.assert_allclose(book_scores(layers, x), to_numpy(net.predict(x)), rtol=1e-12, atol=1e-12)
    for _ in range(2):  # Adam's second step reads its first
        book_optimizer.update(params, book_gradient(layers, x, t))
        optimizer.update(net.params, net.gradient(x, t))
    for key, value in net.params.items():
        np.testing.assert_allclose(params[key], to_numpy(value), rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_book_dropout_keeps_its_mask_and_scales_in_inference() -> None:
    net = DeepConvNet(seed=0, backend=get_backend("cpu"), dtype="float64")
    params = {key: to_numpy(value) for key, value in net.params.items()}
    dropouts = [layer for layer in book_layers(net, params) if hasattr(layer, "dropout_ratio")]
    assert len(dropouts) == sum(isinstance(layer, Dropout) for layer in net.layers.values()) == 2
    x = np.ones((3, 50))
    np.testing.assert_array_equal(dropouts[0].forward(x, train=False), x * 0.5)
    kept = dropouts[0].forward(x, train=True)
    np.testing.assert_array_equal(dropouts[0].backward(np.ones_like(x)), kept)


def test_the_book_im2col_and_col2im_are_transposes() -> None:
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im adds each patch entry back where it was read."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    col = im2col(x, 3, 2, 2, 1)
    c = rng.standard_normal(col.shape)
    assert np.isclose(np.sum(col * c), np.sum(x * col2im(c, x.shape, 3, 2, 2, 1)))
