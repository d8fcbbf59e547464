"""The toy network, predict/classify/accuracy and their input checks, on every backend."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

import xpnet
from xpnet import scoring
from xpnet.network import as_model

from conftest import assert_same_place, xp_assert_close

BOOK_TOY_OUTPUT = [0.31682708, 0.69627909]  # section 3.4.3, printed to 8 digits


def test_toy_network_gives_the_books_output(backend: xpnet.Backend) -> None:
    network = xpnet.init_network(backend)
    default_float = backend.xp.__array_namespace_info__().default_dtypes(device=backend.device)["real floating"]
    assert network["W1"].dtype == default_float  # float32 on torch, float64 on the others
    y = xpnet.forward(network, backend.asarray(np.array([1.0, 0.5])))
    xp_assert_close(y, BOOK_TOY_OUTPUT, like=network["W1"], rtol=1e-7)
    batch = xpnet.forward(network, backend.asarray(np.array([[1.0, 0.5], [1.0, 0.5]])))
    xp_assert_close(batch, [BOOK_TOY_OUTPUT] * 2, like=network["W1"], rtol=1e-7)


def small_network() -> dict[str, np.ndarray]:
    """A 3-2-3 network whose output is easy to compute by hand in Python."""
    return {
        "W1": np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.0]]),
        "b1": np.array([0.0, 0.5]),
        "W2": np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 2.0]]),
        "b2": np.array([0.1, 0.0, -0.1]),
    }


def by_hand(network: dict[str, np.ndarray], row: list[float]) -> list[float]:
    """Sigmoid hidden layer, then softmax, in plain Python floats."""
    w1, b1, w2, b2 = (network[k].tolist() for k in ("W1", "b1", "W2", "b2"))
    hidden = [1 / (1 + math.exp(-(sum(r * w1[i][j] for i, r in enumerate(row)) + b1[j]))) for j in range(2)]
    scores = [sum(h * w2[i][j] for i, h in enumerate(hidden)) + b2[j] for j in range(3)]
    total = sum(math.exp(s) for s in scores)
    return [math.exp(s) / total for s in scores]


ROWS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.1, 1.0], [-1.0, 2.0, 0.5]])


def test_predict_and_classify_match_hand_computation(backend_dtype) -> None:
    backend, dtype = backend_dtype
    network = {key: backend.asarray(value, dtype=dtype) for key, value in small_network().items()}
    x = backend.asarray(ROWS, dtype=dtype)
    probabilities = xpnet.predict(network, x)
    expected = [by_hand(small_network(), row) for row in ROWS.tolist()]
    xp_assert_close(probabilities, expected, like=x, rtol=1e-12 if x.dtype == backend.xp.float64 else 1e-5)
    labels = xpnet.classify(network, x)
    assert_same_place(labels, x)
    assert xpnet.to_numpy(labels).tolist() == [int(np.argmax(p)) for p in expected]


def test_mixed_dtypes_take_the_networks_result_type(backend: xpnet.Backend) -> None:
    """W float32 with b float64 works (a float64 network), and a float32 batch takes the network's dtype."""
    xp = backend.xp
    network = {key: backend.asarray(value, dtype=xp.float32 if key.startswith("W") else xp.float64)
               for key, value in small_network().items()}
    x = backend.asarray(ROWS, dtype=xp.float32)
    expected = [by_hand(small_network(), row) for row in ROWS.tolist()]
    xp_assert_close(xpnet.predict(network, x), expected, like=network["b1"], rtol=1e-6)
    float32_network = {key: backend.asarray(value, dtype=xp.float32) for key, value in small_network().items()}
    xp_assert_close(xpnet.predict(float32_network, backend.asarray(ROWS, dtype=xp.float64)), expected,
                    like=float32_network["W1"], rtol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 4, 100])
def test_accuracy_counts_hits(backend: xpnet.Backend, batch_size: int) -> None:
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.1, 1.0], [-1.0, 2.0, 0.5]])
    truth = [int(np.argmax(by_hand(small_network(), row))) for row in rows.tolist()]
    labels = np.array([truth[0], (truth[1] + 1) % 3, truth[2], truth[3]])  # one wrong of four
    network = backend.asarrays(small_network())
    score = xpnet.accuracy(network, backend.asarray(rows), backend.asarray(labels), batch_size)
    assert score == 0.75
    one_hot = np.eye(3)[labels]
    assert xpnet.accuracy(network, backend.asarray(rows), backend.asarray(one_hot), batch_size) == 0.75


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_score_counts_each_class(backend: xpnet.Backend, batch_size: int) -> None:
    """Class k's accuracy is #(predicted k and labelled k) / #(labelled k), recomputed here from the hand-computed
    outputs; a class with no sample has none."""
    rows = np.concatenate([ROWS, ROWS[:1]])
    truth = [int(np.argmax(by_hand(small_network(), row))) for row in rows.tolist()]
    labels = np.array([truth[0], (truth[1] + 1) % 3, truth[2], truth[3], (truth[4] + 2) % 3])
    expected_images = [int(np.sum(labels == k)) for k in range(3)]
    expected_correct = [sum(1 for p, t in zip(truth, labels, strict=True) if p == t == k) for k in range(3)]
    network = as_model(backend.asarrays(small_network()))
    for targets in (labels, np.eye(3)[labels]):
        result = scoring.score(network, backend.asarray(rows), backend.asarray(targets), batch_size)
        assert (result.correct, result.images) == (sum(expected_correct), 5)
        assert list(result.class_images) == expected_images and list(result.class_correct) == expected_correct
        pairs = zip(expected_correct, expected_images, strict=True)
        assert result.class_accuracy == tuple(c / n if n else None for c, n in pairs)
        assert result.accuracy == sum(expected_correct) / 5


def test_uint8_pixels_are_scaled(backend: xpnet.Backend) -> None:
    network = backend.asarrays(small_network())
    pixels = np.array([[255, 0, 51]], dtype=np.uint8)
    y = xpnet.predict(network, backend.asarray(pixels))
    np.testing.assert_allclose(xpnet.to_numpy(y), [by_hand(small_network(), [1.0, 0.0, 0.2])], rtol=1e-12)


BAD_INPUTS = [
    (np.zeros((2, 4)), ValueError, "x has 4 features per sample but W1 expects 3"),
    (np.zeros((2, 3, 1)), ValueError, r"x has shape \(2, 3, 1\)"),
    (np.zeros((0, 3)), ValueError, "x is empty"),
    (np.zeros((2, 3), dtype=np.int32), TypeError, "x has dtype .*int32"),
    (np.zeros((2, 3), dtype=bool), TypeError, "x has dtype .*bool"),
]


@pytest.mark.parametrize(("rows", "error", "message"), BAD_INPUTS)
def test_bad_inputs_are_named(backend: xpnet.Backend, rows: np.ndarray, error: type, message: str) -> None:
    network = backend.asarrays(small_network())
    with pytest.raises(error, match=message):
        xpnet.predict(network, backend.asarray(rows))


def test_accuracy_argument_checks(backend: xpnet.Backend) -> None:
    b = backend
    network = b.asarrays(small_network())
    x = b.asarray(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="t has shape"):
        xpnet.accuracy(network, x, b.asarray(np.zeros(3, dtype=np.int64)))
    for size in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            xpnet.accuracy(network, x, b.asarray(np.zeros(4, dtype=np.int64)), size)
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            xpnet.accuracy(network, x, b.asarray(np.zeros(4, dtype=np.int64)), workers=size)
    with pytest.raises(ValueError, match="x is empty"):
        xpnet.accuracy(network, b.asarray(np.zeros((0, 3))), b.asarray(np.zeros(0, dtype=np.int64)))


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_nan_input_propagates_in_predict_and_is_refused_by_accuracy(backend: xpnet.Backend,
                                                                    activation: str) -> None:
    b = backend
    network = b.asarrays(small_network())
    x = b.asarray(np.array([[np.nan, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    probabilities = xpnet.to_numpy(xpnet.predict(network, x, activation))
    assert np.isnan(probabilities[0]).all() and np.isfinite(probabilities[1]).all()
    with pytest.raises(ValueError, match="1 of 2 samples score NaN"):
        xpnet.accuracy(network, x, b.asarray(np.array([0, 0])), activation=activation)


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (np.array([0, 1, 2, 3]), ValueError, r"t holds 1 labels outside 0\.\.2"),
        (np.array([0, -1, 2, 1]), ValueError, r"t holds 1 labels outside 0\.\.2"),
        (np.array([0.0, 1.0, 2.0, 1.0]), TypeError, "labels must be integers"),
        (np.array([True, False, True, False]), TypeError, "labels must be integers"),
        (np.eye(4)[[0, 1, 2, 1]], ValueError, "one-hot rows of width 4 but the network has 3 outputs"),
        (np.zeros((4, 1), dtype=np.int64), ValueError, "one-hot rows of width 1 but the network has 3 outputs"),
        (np.zeros((4, 3)), ValueError, "t holds 4 rows that are not one-hot"),
        (np.full((4, 3), 7, dtype=np.int64), ValueError, "t holds 4 rows that are not one-hot"),
        (np.eye(3)[[0, 1, 2, 1]] + np.eye(3)[[1, 2, 0, 1]], ValueError, "t holds 4 rows that are not one-hot"),
        (np.where(np.eye(3)[[0, 1, 2, 1]] == 1, np.nan, 0.0), ValueError, "t holds 4 rows that are not one-hot"),
        (-np.eye(3, dtype=np.int64)[[0, 1, 2, 1]], ValueError, "t holds 4 rows that are not one-hot"),
    ],
)
def test_labels_that_do_not_fit_the_outputs_are_refused(backend: xpnet.Backend, labels: np.ndarray,
                                                        error: type, message: str) -> None:
    b = backend
    with pytest.raises(error, match=message):
        xpnet.accuracy(b.asarrays(small_network()), b.asarray(ROWS), b.asarray(labels))


def test_numpy_integers_are_integers() -> None:
    network, labels = small_network(), np.array([0, 1, 2, 1])
    assert xpnet.accuracy(network, ROWS, labels, np.int64(2), workers=np.int32(2)) == xpnet.accuracy(network, ROWS,
                                                                                                      labels, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda n: n.pop("b2"), "network lacks b2"),
        (lambda n: n.update(W2=np.zeros((3, 3))), "W2 has 3 rows but W1 has 2 columns"),
        (lambda n: n.update(b1=np.zeros(3)), "b1 has length 3 but W1 has 2 columns"),
        (lambda n: n.update(W1=n["W1"].astype(np.int64)), "W1 has dtype int64"),
        (lambda n: n.update(b2=np.array([0.0, np.inf, 0.0])), "b2 holds NaN or infinite"),
        (lambda n: n.update(W1=np.zeros(3)), r"W1 has shape \(3,\)"),
        (lambda n: n.update({1: np.zeros(3)}), "network has a key 1 that is not a string"),
    ],
)
def test_check_network_names_the_key(change, message: str) -> None:
    network = small_network()
    change(network)
    with pytest.raises(ValueError, match=message):
        xpnet.check_network(network)


def test_a_weights_dict_of_more_than_dense_layers_is_refused() -> None:
    """Chapter 3's functions build a dense network from W1..Wn and b1..bn: weights that hold more (batch
    normalization's gamma, beta and running statistics) would be scored without them."""
    network = small_network() | {"gamma1": np.ones(2), "beta1": np.zeros(2)}
    with pytest.raises(ValueError, match=r"the weights hold beta1 beside W1\.\.W2 and b1\.\.b2"):
        xpnet.predict(network, np.zeros((1, 3)))


def test_workers_take_the_next_batch_as_they_finish_one() -> None:
    # the batch that starts at 0 is slow (a worker slowed down on a shared machine): the other worker takes
    # every other batch meanwhile, instead of waiting for its fixed share to come round
    from xpnet.scoring import _eager_tally

    done_by: dict[int, int] = {}

    def batch_counts(start: int) -> np.ndarray:
        if start == 0:
            time.sleep(0.5)
        done_by[start] = threading.get_ident()
        return np.array([start, 0, 0])

    tally = _eager_tally(batch_counts, range(0, 10), 2, "cpu", None)
    assert tally.tolist() == [sum(range(10)), 0, 0]
    slow = done_by[0]
    assert [start for start, thread in done_by.items() if thread == slow] == [0]


def test_a_worker_that_finds_no_batch_left_adds_nothing() -> None:
    from xpnet.scoring import _eager_tally

    assert _eager_tally(lambda start: np.array([3, 0, 0]), range(0, 1), 2, "cpu", None).tolist() == [3, 0, 0]


@pytest.mark.parametrize("chunk_batch", [1, 3, 4, 50])
def test_chunks_scored_in_smaller_batches_give_the_same_accuracy(chunk_batch: int) -> None:
    pytest.importorskip("dask", reason="optional backend dask not installed: pip install 'xpnet[dask]'")
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((37, 3)), rng.integers(0, 3, 37)
    expected = float(np.mean(np.argmax(xpnet.predict(small_network(), x), axis=1) == t))
    dask = xpnet.get_backend("dask")
    model = as_model(dask.asarrays(small_network()))
    assert scoring.accuracy(model, dask.asarray(x), dask.asarray(t), 10, chunk_batch=chunk_batch) == expected


@pytest.mark.parametrize("make", [
    lambda: xpnet.models.MultiLayerNetExtend(784, [20, 20], 10, use_dropout=True, use_batchnorm=True, seed=0),
    lambda: xpnet.models.SimpleConvNet(seed=0),
    lambda: xpnet.models.DeepConvNet(seed=0),
], ids=["dense, batch norm and dropout", "SimpleConvNet", "DeepConvNet"])
def test_a_batch_of_the_networks_dtype_is_read_as_it_is_and_never_written(make) -> None:
    net = make()
    rng = np.random.default_rng(0)
    x = rng.random((6, 784)).astype(net.dtype)
    t = rng.integers(0, 10, 6)
    before = x.copy()
    x.flags.writeable = False  # any layer that wrote into its input would raise here
    net.loss(x, t)
    net.gradient(x, t)
    np.testing.assert_array_equal(x, before)
    first = next(iter(net.layers.values()))
    read = getattr(first, "x", None)
    if read is not None:  # the first layer keeps its input for backward: the caller's own rows, no copy
        assert np.shares_memory(read, x)
