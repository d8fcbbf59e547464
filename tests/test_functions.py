"""The chapter's activation functions and gates on every backend, against scalar math."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import xpnet

from conftest import assert_same_place

POINTS = [-1000.0, -90.0, -5.0, -0.5, 0.0, 1e-8, 0.5, 5.0, 90.0, 1000.0]


def reference_sigmoid(v: float) -> float:
    """Written independently of xpnet, in the exp form that is exact for v >= 0 and v < 0."""
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def test_activations_match_scalar_math(backend: xpnet.Backend) -> None:
    x = backend.asarray(np.array(POINTS))
    cases = {
        xpnet.step_function: [1 if v > 0 else 0 for v in POINTS],
        xpnet.sigmoid: [reference_sigmoid(v) for v in POINTS],
        xpnet.relu: [max(v, 0.0) for v in POINTS],
        xpnet.identity_function: POINTS,
    }
    for function, expected in cases.items():
        y = function(x)
        assert_same_place(y, x)
        np.testing.assert_allclose(xpnet.to_numpy(y), expected, rtol=1e-12, atol=1e-15, err_msg=function.__name__)


def test_step_function_returns_integers(backend: xpnet.Backend) -> None:
    y = xpnet.step_function(backend.asarray(np.array([-1.0, 2.0])))
    assert backend.xp.isdtype(y.dtype, "integral")


def test_sigmoid_keeps_float32_without_warnings(backend: xpnet.Backend) -> None:
    x = backend.asarray(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = xpnet.sigmoid(x)
        values = xpnet.to_numpy(y)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(values, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_softmax_of_large_values(backend: xpnet.Backend) -> None:
    y = xpnet.softmax(backend.asarray(np.array([1010.0, 1000.0, 990.0])))
    assert_same_place(y, y)
    np.testing.assert_allclose(xpnet.to_numpy(y), [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)


def test_softmax_batch_rows(backend: xpnet.Backend) -> None:
    rows = np.array([[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0], [-50.0, -50.0, -50.0]])
    x = backend.asarray(rows)
    y = xpnet.softmax(x)
    assert_same_place(y, x)
    expected = [[math.exp(v - max(r)) / sum(math.exp(u - max(r)) for u in r) for v in r] for r in rows.tolist()]
    np.testing.assert_allclose(xpnet.to_numpy(y), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("gate", "truth"),
    [(xpnet.AND, [0, 0, 0, 1]), (xpnet.NAND, [1, 1, 1, 0]), (xpnet.OR, [0, 1, 1, 1])],
)
def test_gates(backend: xpnet.Backend, gate, truth: list[int]) -> None:
    inputs = backend.asarray(np.array([[0, 0], [1, 0], [0, 1], [1, 1]]))
    y = gate(inputs)
    assert_same_place(y, inputs)
    assert xpnet.to_numpy(y).tolist() == truth


def test_perceptron_with_bias(backend: xpnet.Backend) -> None:
    x = backend.asarray(np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]]))
    # 0.1*1 + 0.2*2 + 0.3*3 = 1.4; 1.4 - 1.0 > 0 and -1.4 - 1.0 < 0
    assert xpnet.to_numpy(xpnet.perceptron(x, (0.1, 0.2, 0.3), -1.0)).tolist() == [1, 0]
