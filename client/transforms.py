"""JAX-style transforms: `wg.grad(f)(x)` is `client.grad(f, x)`, on an in-process client
unless a `client` is given."""

from __future__ import annotations

import functools
from typing import Callable

from wengert.client import Client


@functools.cache
def _local() -> Client:
    return Client.local()


def grad(f, *, argnums=None, wrt=None, client=None) -> Callable:
    """The gradient function of `f` (one scalar float output), like `jax.grad`."""
    return lambda *args: (client or _local()).grad(f, *args, argnums=argnums, wrt=wrt)


def value_and_grad(f, *, argnums=None, wrt=None, client=None) -> Callable:
    """A function returning `(f(*args), grad f(*args))`, like `jax.value_and_grad`."""
    return lambda *args: (client or _local()).value_and_grad(f, *args, argnums=argnums, wrt=wrt)


def jacobian(f, *, argnums=None, wrt=None, mode="auto", client=None) -> Callable:
    """The Jacobian function of `f`, like `jax.jacobian` (blocks shaped out_shape + in_shape)."""
    return lambda *args: (client or _local()).jacobian(f, *args, argnums=argnums, wrt=wrt, mode=mode)
