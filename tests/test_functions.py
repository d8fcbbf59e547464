"""The chapter's activation functions, gates and losses on every backend and float dtype, against scalar math."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest

import xpnet
from xpnet import functions
from xpnet.functions import cross_entropy_error, sum_squared_error

from conftest import xp_assert_close

POINTS = [-1000.0, -90.0, -5.0, -0.5, 0.0, 1e-8, 0.5, 5.0, 90.0, 1000.0]


def exact_sigmoid(v: float) -> float:
    """1 / (1 + exp(-v)) in 50-digit decimal arithmetic, rounded once to float64: independent of xpnet."""
    with localcontext() as context:
        context.prec = 50
        return float(1 / (1 + (-Decimal(v)).exp()))


def test_activations_match_scalar_math(backend_dtype) -> None:
    backend, dtype = backend_dtype
    x = backend.asarray(np.array(POINTS), dtype=dtype)
    host = xpnet.to_numpy(x).tolist()  # the points as the dtype holds them
    cases = {
        xpnet.sigmoid: [exact_sigmoid(v) for v in host],
        xpnet.relu: [max(v, 0.0) for v in host],
        xpnet.identity_function: host,
    }
    tiny = float(backend.xp.finfo(dtype).smallest_normal)  # below it, subnormals carry fewer digits
    for function, expected in cases.items():
        xp_assert_close(function(x), expected, like=x, atol=tiny)
    int_dtype = backend.xp.__array_namespace_info__().default_dtypes(device=backend.device)["integral"]
    xp_assert_close(xpnet.step_function(x), [1 if v > 0 else 0 for v in host], like=x, dtype=int_dtype)


def test_sigmoid_is_accurate_in_both_tails(backend_dtype) -> None:
    """Within 4 ulp of a 50-digit reference wherever the true value is a normal float; never 0 there."""
    backend, dtype = backend_dtype
    xp = backend.xp
    finfo = xp.finfo(dtype)
    reach = 700.0 if finfo.bits == 64 else 87.0  # beyond, the true value leaves the normal floats
    x = backend.asarray(np.concatenate([np.linspace(-reach, reach, 2001), np.linspace(-5, 5, 1001)]), dtype=dtype)
    host = xpnet.to_numpy(x)
    expected = np.array([exact_sigmoid(v) for v in host.tolist()]).astype(host.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = xpnet.sigmoid(x)
    values = xpnet.to_numpy(y)
    assert y.dtype == dtype
    ulps = np.abs(values.astype(np.float64) - expected) / np.spacing(np.abs(expected)).astype(np.float64)
    assert ulps.max() <= 4, f"{ulps.max()} ulp at x = {host[ulps.argmax()]}"
    assert np.all(values > 0)
    assert np.log(values[0]) == pytest.approx(-reach, rel=1e-3)  # log(sigmoid(x)) is finite in the far tail


def test_nan_propagates_through_every_activation(backend_dtype) -> None:
    backend, dtype = backend_dtype
    x = backend.asarray(np.array([np.nan, 1.0]), dtype=dtype)
    for function in (xpnet.sigmoid, xpnet.relu, xpnet.identity_function, xpnet.softmax):
        values = xpnet.to_numpy(function(x))
        assert np.isnan(values[0]), function.__name__


def test_softmax_rows(backend_dtype) -> None:
    backend, dtype = backend_dtype
    rows = np.array([[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0], [-50.0, -50.0, -50.0]])
    x = backend.asarray(rows, dtype=dtype)
    host = xpnet.to_numpy(x).astype(float).tolist()
    expected = [[math.exp(v - max(r)) / sum(math.exp(u - max(r)) for u in r) for v in r] for r in host]
    xp_assert_close(xpnet.softmax(x), expected, like=x, atol=1e-300)


def test_mixed_float_dtypes_promote_as_the_standard_says(backend) -> None:
    """float32 x float64 gives float64 on every backend (torch's ``@`` alone would refuse)."""
    xp = backend.xp
    a = backend.asarray(np.array([[1.0, -2.0]]), dtype=xp.float32)
    w = backend.asarray(np.array([[0.5], [0.25]]), dtype=xp.float64)
    from xpnet.nn import Affine

    out = Affine(w, backend.asarray(np.array([1.0]), dtype=xp.float32)).forward(a)
    xp_assert_close(out, [[1.0]], like=w)
    assert xp.result_type(a, w) == xp.float64


def test_python_numbers_and_lists_give_numpy_results() -> None:
    """As with the book's functions: ``sigmoid(0.5)``, ``relu([-1, 2])``, ``step_function([...])``."""
    assert isinstance(xpnet.sigmoid(0.0), np.ndarray) and float(xpnet.sigmoid(0.0)) == 0.5
    np.testing.assert_array_equal(xpnet.relu([-1.0, 2.0]), [0.0, 2.0])
    np.testing.assert_array_equal(xpnet.step_function([-1.0, 0.0, 3]), [0, 0, 1])
    np.testing.assert_allclose(xpnet.softmax([0.0, 0.0]), [0.5, 0.5])
    np.testing.assert_allclose(xpnet.sigmoid([-1, 0, 1]), [exact_sigmoid(v) for v in (-1, 0, 1)], rtol=1e-15)


@pytest.mark.parametrize(
    ("gate", "truth"),
    [(xpnet.AND, [0, 0, 0, 1]), (xpnet.NAND, [1, 1, 1, 0]), (xpnet.OR, [0, 1, 1, 1])],
)
def test_gates(backend: xpnet.Backend, gate, truth: list[int]) -> None:
    inputs = backend.asarray(np.array([[0, 0], [1, 0], [0, 1], [1, 1]]))
    int_dtype = backend.xp.__array_namespace_info__().default_dtypes(device=backend.device)["integral"]
    xp_assert_close(gate(inputs), truth, like=inputs, dtype=int_dtype)


def test_perceptron_with_bias(backend: xpnet.Backend) -> None:
    x = backend.asarray(np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]]))
    # 0.1*1 + 0.2*2 + 0.3*3 = 1.4; 1.4 - 1.0 > 0 and -1.4 - 1.0 < 0
    assert xpnet.to_numpy(xpnet.perceptron(x, (0.1, 0.2, 0.3), -1.0)).tolist() == [1, 0]


# The book's example (section 4.2.1): the truth is "2"; one output says 2 with 0.6, the other 7.
RIGHT = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
WRONG = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]


def test_losses_match_the_book(backend_dtype) -> None:
    backend, dtype = backend_dtype
    t = backend.asarray(np.eye(10)[2], dtype=dtype)
    right, wrong = backend.asarray(np.array(RIGHT), dtype=dtype), backend.asarray(np.array(WRONG), dtype=dtype)
    rtol = 1e-6
    xp_assert_close(sum_squared_error(right, t), 0.0975, like=right, rtol=rtol)
    xp_assert_close(sum_squared_error(wrong, t), 0.5975, like=right, rtol=rtol)
    xp_assert_close(cross_entropy_error(right, t), 0.510825457099338, like=right, rtol=rtol)
    xp_assert_close(cross_entropy_error(wrong, t), 2.302584092994546, like=right, rtol=rtol)


def test_batched_losses_as_the_book_computes_them(backend: xpnet.Backend) -> None:
    """The book's sum_squared_error sums the batch; its cross_entropy_error averages it."""
    y = backend.asarray(np.array([RIGHT, WRONG]))
    labels = backend.asarray(np.array([2, 2]))
    xp_assert_close(cross_entropy_error(y, labels), (0.510825457099338 + 2.302584092994546) / 2, like=y, rtol=1e-6)
    xp_assert_close(sum_squared_error(y, labels), 0.0975 + 0.5975, like=y)
    xp_assert_close(sum_squared_error(y, backend.asarray(np.eye(10)[[2, 2]])), 0.0975 + 0.5975, like=y)


def test_targets_follow_the_books_size_rule(backend: xpnet.Backend) -> None:
    """As many numbers as the outputs: one-hot; one a row, in any shape (the book's (batch, 1) labels): classes."""
    y = backend.asarray(np.array([RIGHT, WRONG]))
    both = (0.510825457099338 + 2.302584092994546) / 2
    for t in (np.array([[2], [2]]), np.eye(10)[[2, 2]].reshape(-1)):
        xp_assert_close(cross_entropy_error(y, backend.asarray(t)), both, like=y, rtol=1e-6)
    with pytest.raises(ValueError, match=r"targets of shape \(3,\) fit neither outputs of shape \(2, 10\)"):
        cross_entropy_error(y, backend.asarray(np.array([2, 2, 2])))


def test_the_books_derivative_helpers(backend_dtype) -> None:
    """sigmoid_grad is (1 - s) s; relu_grad is 1 where x >= 0 (the book's, which counts 0 as positive)."""
    backend, dtype = backend_dtype
    x = backend.asarray(np.array(POINTS), dtype=dtype)
    host = xpnet.to_numpy(x).tolist()
    expected = [exact_sigmoid(v) * (1 - exact_sigmoid(v)) for v in host]
    eps = float(backend.xp.finfo(dtype).eps)  # 1 - s loses s's relative accuracy: its error is absolute
    xp_assert_close(functions.sigmoid_grad(x), expected, like=x, rtol=4 * eps, atol=4 * eps)
    xp_assert_close(functions.relu_grad(x), [1.0 if v >= 0 else 0.0 for v in host], like=x)
    even = backend.asarray(np.array([[0.0, 0.0]]), dtype=dtype)  # softmax 1/2 each: the loss is -log(1/2 + 1e-7)
    xp_assert_close(functions.softmax_loss(even, backend.asarray(np.array([1]))), -math.log(0.5 + 1e-7), like=x,
                    rtol=4 * eps)


def test_cross_entropy_never_takes_log_of_zero(backend: xpnet.Backend) -> None:
    y = backend.asarray(np.array([[1.0, 0.0]]))
    assert float(cross_entropy_error(y, backend.asarray(np.array([1])))) == pytest.approx(-np.log(1e-7))
