"""JAX's own convolution and max pooling (``lax.conv_general_dilated``, ``lax.reduce_window``) for JAX arrays
on an accelerator, with gradients from ``jax.vjp``; each geometry compiled once.

Precision is the highest, so that a GPU's TF32 products do not change the
book's scores. The book pads a pooling window with zeros: a padded pooling
is given its zeros here and then pooled without padding. JAX's gradient of a
window's maximum goes to its first maximum, as the book's ``argmax``. ``jax``
is imported on the first call, never by ``import xpnet``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from array_api_compat import device, is_jax_array

Array = Any


def on_accelerator(x: Array) -> bool:
    """Whether ``x`` is a JAX array away from the CPU (an array being traced: where JAX places arrays)."""
    if not is_jax_array(x):
        return False
    import jax

    where = device(x)
    return (where.platform if where is not None else jax.default_backend()) != "cpu"


def _convolve(stride: int, pad: int) -> Callable[[Array, Array, Array], Array]:
    from jax import lax

    def convolve(x: Array, w: Array, b: Array) -> Array:
        out = lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2, precision=lax.Precision.HIGHEST)
        return out + b[None, :, None, None]

    return convolve


@functools.cache
def _conv_forward(stride: int, pad: int) -> Callable[..., Array]:
    import jax

    return jax.jit(_convolve(stride, pad))


@functools.cache
def _conv_backward(stride: int, pad: int, input_grad: bool) -> Callable[..., tuple[Array | None, Array, Array]]:
    import jax

    convolve = _convolve(stride, pad)

    def backward(x: Array, w: Array, b: Array, dout: Array) -> tuple[Array | None, Array, Array]:
        if input_grad:
            return jax.vjp(convolve, x, w, b)[1](dout)
        return None, *jax.vjp(lambda w, b: convolve(x, w, b), w, b)[1](dout)

    return jax.jit(backward)


def conv_forward(x: Array, w: Array, b: Array, stride: int, pad: int) -> Array:
    return _conv_forward(stride, pad)(x, w, b)


def conv_backward(x: Array, w: Array, b: Array, stride: int, pad: int, dout: Array,
                  input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    return _conv_backward(stride, pad, input_grad)(x, w, b, dout)


def _pool(pool_h: int, pool_w: int, stride: int, pad: int) -> Callable[[Array], Array]:
    import jax.numpy as jnp
    from jax import lax

    def pool(x: Array) -> Array:
        padded = jnp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
        return lax.reduce_window(padded, -jnp.inf, lax.max, (1, 1, pool_h, pool_w), (1, 1, stride, stride), "VALID")

    return pool


@functools.cache
def _pool_forward(pool_h: int, pool_w: int, stride: int, pad: int) -> Callable[[Array], Array]:
    import jax

    return jax.jit(_pool(pool_h, pool_w, stride, pad))


@functools.cache
def _pool_backward(pool_h: int, pool_w: int, stride: int, pad: int) -> Callable[[Array, Array], Array]:
    import jax

    pool = _pool(pool_h, pool_w, stride, pad)
    return jax.jit(lambda x, dout: jax.vjp(pool, x)[1](dout)[0])


def pool_forward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int) -> Array:
    return _pool_forward(pool_h, pool_w, stride, pad)(x)


def pool_backward(x: Array, pool_h: int, pool_w: int, stride: int, pad: int, dout: Array,
                  out: Array | None = None) -> Array:
    return _pool_backward(pool_h, pool_w, stride, pad)(x, dout)
