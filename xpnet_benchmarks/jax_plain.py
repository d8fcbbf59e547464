"""The same networks written the plain JAX way, one ``jax.jit`` of the whole pass: what xpnet on JAX is measured
against (``lax.conv_general_dilated``, ``lax.reduce_window``, ``jax.nn``), float32."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from xpnet.nn import Affine, Convolution, Dropout, Model, Pooling, Relu, Sigmoid


def jax_steps(net: Model) -> list[Callable]:
    """``net``'s layers as functions ``step(weights, a)`` of the weights under ``net``'s keys, in inference."""
    key_of = {id(value): key for key, value in net.params.items()}
    steps: list[Callable] = []
    for layer in net.layers.values():
        keys = [key_of[id(value)] for value in layer.params.values()]
        if isinstance(layer, Convolution):
            steps.append(lambda w, a, k=keys, s=layer.stride, p=layer.pad: lax.conv_general_dilated(
                a, w[k[0]], (s, s), [(p, p), (p, p)]) + w[k[1]][None, :, None, None])
        elif isinstance(layer, Pooling):
            steps.append(lambda w, a, layer=layer: lax.reduce_window(
                a, -jnp.inf, lax.max, (1, 1, layer.pool_h, layer.pool_w), (1, 1, layer.stride, layer.stride),
                [(0, 0), (0, 0), (layer.pad, layer.pad), (layer.pad, layer.pad)]))
        elif isinstance(layer, Relu):
            steps.append(lambda w, a: jax.nn.relu(a))
        elif isinstance(layer, Sigmoid):
            steps.append(lambda w, a: jax.nn.sigmoid(a))
        elif isinstance(layer, Affine):
            steps.append(lambda w, a, k=keys: a.reshape(a.shape[0], -1) @ w[k[0]] + w[k[1]])
        elif isinstance(layer, Dropout):
            steps.append(lambda w, a, keep=1.0 - layer.dropout_ratio: a * keep)
        else:
            raise TypeError(f"no JAX statement of {type(layer).__name__}")
    return steps


def jax_accuracy(net: Model, params: dict[str, np.ndarray]) -> Callable[[np.ndarray, np.ndarray, int], float]:
    """``score(images, labels, batch_size)``: the accuracy of ``net`` with the host ``params``, each batch of
    uint8 ``images`` scaled by 1/255 and classified by one jitted function, the count kept on the device."""
    steps = jax_steps(net)
    weights = {key: jnp.asarray(value, dtype=jnp.float32) for key, value in params.items()}

    @jax.jit
    def count(w: dict, images: jax.Array, labels: jax.Array) -> jax.Array:
        a = (images.astype(jnp.float32) / 255).reshape(images.shape[0], *net.input_shape)
        for step in steps:
            a = step(w, a)
        return jnp.sum(jnp.argmax(a, axis=1) == labels)

    def score(images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
        x, t = jnp.asarray(images), jnp.asarray(labels)
        correct = sum(count(weights, x[i : i + batch_size], t[i : i + batch_size])
                      for i in range(0, len(labels), batch_size))
        return int(correct) / len(labels)

    return score
