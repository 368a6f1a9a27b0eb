"""JAX's function transforms under JAX's names and signatures: `wg.grad(f)(x)`,
`wg.jvp(f, primals, tangents)`, `wg.vmap(wg.grad(f), in_axes=(None, 0))(w, xs)`, ...

Called on arrays, a transformed function runs on a client: the one given as `client=`, else
the one set with `with wg.default_client(client):`, else an in-process `wg.Client.local()`.
Called inside a function being traced (on symbolic values), it builds its derivative into
the graph being traced instead (`wengert.autodiff.inline`), so transforms compose and nest:
`wg.grad(lambda x: wg.grad(f)(x) ** 2)`, a loss holding the derivatives of a network with
respect to its input, a gradient step inside an objective. Either way the result is what JAX
gives for the same call, with the same structure.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Callable, Iterator, Sequence

from wengert import tree
from wengert.autodiff import inline
from wengert.ir.builder import is_tracing

_default: contextvars.ContextVar = contextvars.ContextVar("wengert_client", default=None)


@functools.cache
def _local():
    from wengert.client import Client

    return Client.local()


@contextlib.contextmanager
def default_client(client) -> Iterator[Any]:
    """Run the transforms (and `wg.function` calls) inside the block on `client`:
    `with wg.default_client(wg.Client("host:50051")): wg.grad(f)(x)`."""
    token = _default.set(client)
    try:
        yield client
    finally:
        _default.reset(token)


def current_client(client=None):
    """`client`, else the one `default_client` set, else the in-process client."""
    return client or _default.get() or _local()


def _tracing(*trees: Any) -> bool:
    return is_tracing(tree.leaves(trees))


def _transformed(f: Callable, name: str, run: Callable[..., Any]) -> Callable[..., Any]:
    functools.update_wrapper(run, f, updated=())
    run.__name__ = run.__qualname__ = f"{name}({getattr(f, '__name__', 'f')})"
    return run


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
         client=None) -> Callable:
    """The gradient of `f` (one scalar float output) with respect to the arguments `argnums`,
    like `jax.grad`; with `has_aux` (`f` returns `(output, aux)`), `(gradient, aux)`."""
    def gradient(*args):
        if _tracing(args):
            value, grads = inline.value_and_grad(f, args, argnums, has_aux)
            return (grads, value[1]) if has_aux else grads
        return current_client(client).grad(f, *args, argnums=argnums, has_aux=has_aux)
    return _transformed(f, "grad", gradient)


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
                   client=None) -> Callable:
    """A function returning `(f(*args), gradient)`, like `jax.value_and_grad` (with
    `has_aux`: `((value, aux), gradient)`)."""
    def both(*args):
        if _tracing(args):
            return inline.value_and_grad(f, args, argnums, has_aux)
        return current_client(client).value_and_grad(f, *args, argnums=argnums, has_aux=has_aux)
    return _transformed(f, "value_and_grad", both)


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False, *,
        client=None) -> tuple:
    """`(f(*primals), J·tangents)` (and the aux with `has_aux`), like `jax.jvp`: `primals` a
    tuple of arguments, `tangents` of their structure (None: zero)."""
    if _tracing(primals, tangents):
        return inline.jvp(f, tuple(primals), tuple(tangents), has_aux)
    return current_client(client).jvp(f, tuple(primals), tuple(tangents), has_aux=has_aux)


def vjp(f: Callable, *primals: Any, has_aux: bool = False, client=None) -> tuple:
    """`(f(*primals), vjp_fn)` (and the aux with `has_aux`), like `jax.vjp`: `vjp_fn(ct)`,
    with `ct` of the output's structure, gives a tuple of one cotangent per primal."""
    if _tracing(primals):
        return inline.vjp(f, primals, has_aux)
    runner = current_client(client)
    values = runner.evaluate(f, *primals)
    out, aux = values if has_aux else (values, None)

    def vjp_fn(cotangent):
        return runner.vjp(f, primals, cotangent, argnums=tuple(range(len(primals))), has_aux=has_aux)[1]
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
           client=None) -> Callable:
    """The Jacobian of `f` by forward mode (one JVP per input element), like `jax.jacfwd`:
    the output's structure holding, at each leaf, the argument's structure of blocks shaped
    `out_shape + in_shape`; with `has_aux`, `(jacobian, aux)`."""
    return _jacobian(f, argnums, has_aux, client, "forward", "jacfwd")


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
           client=None) -> Callable:
    """The Jacobian of `f` by reverse mode (one VJP per output element), like `jax.jacrev`;
    shaped as `jacfwd`'s."""
    return _jacobian(f, argnums, has_aux, client, "reverse", "jacrev")


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
             client=None) -> Callable:
    """The Jacobian of `f` in the mode needing fewer sweeps (`jax.jacobian` is `jacrev`; the
    numbers are the same), shaped as `jacfwd`'s. At the top level a sparse Jacobian is swept
    one colour at a time."""
    return _jacobian(f, argnums, has_aux, client, "auto", "jacobian")


def _jacobian(f, argnums, has_aux, client, mode: str, name: str) -> Callable:
    def jacobian(*args):
        if _tracing(args):
            return inline.jacobian(f, args, argnums, mode, has_aux)
        return current_client(client).jacobian(f, *args, argnums=argnums, mode=mode, has_aux=has_aux)
    return _transformed(f, name, jacobian)


def hessian(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *,
            client=None) -> Callable:
    """The Hessian of `f` (one scalar float output), like `jax.hessian`: forward over reverse,
    nested as the argument's structure twice; with `has_aux`, `(hessian, aux)`."""
    def second(*args):
        if _tracing(args):
            return inline.jacobian(jacrev(f, argnums, has_aux), args, argnums, "forward", has_aux)
        return current_client(client).hessian(f, *args, argnums=argnums, has_aux=has_aux)
    return _transformed(f, "hessian", second)


def hvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], *, client=None) -> Any:
    """The Hessian-vector product H·v of `f` (one scalar float output) at `primals` along
    `tangents` (the structure of `primals`; None: no direction): `jvp(grad(f), primals,
    tangents)[1]` with the gradient taken over every argument. The result has the first
    argument's structure, or a tuple of the arguments' for several."""
    primals, tangents = tuple(primals), tuple(tangents)
    if _tracing(primals, tangents):
        products = inline.jvp(grad(f, tuple(range(len(primals)))), primals, tangents, False)[1]
        return products[0] if len(primals) == 1 else products
    return current_client(client).hvp(f, primals, tangents)


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0, *, client=None) -> Callable:
    """`f` mapped over an axis of its arguments, like `jax.vmap`: `in_axes` an int or None
    for all arguments, or a tuple with one entry (int, None or a tree of them) per argument;
    `out_axes` likewise for the result. At the top level `f` is traced on one example and run
    over the whole batch in one vectorized sweep, so `wg.vmap(wg.grad(loss), in_axes=(None,
    0))(w, xs)` gives per-example gradients in one request."""
    def mapped(*args):
        if _tracing(args):
            return inline.vmap(f, args, in_axes, out_axes)
        return current_client(client).vmap(f, *args, in_axes=in_axes, out_axes=out_axes)
    return _transformed(f, "vmap", mapped)
