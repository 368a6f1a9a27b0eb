"""Derivatives built inside the graph being traced: what `wg.grad`, `wg.jvp`, `wg.vjp`,
`wg.jacfwd`/`wg.jacrev` and `wg.vmap` do when called in a function that is being traced.

The function is traced into a graph of its own, nested in the enclosing one (a value of the
enclosing graph that it uses becomes one more input, see `GraphBuilder.own`). Its JVP or VJP
graph is built by `wengert.autodiff.transform`, exactly as the engine builds it, and inlined
into the enclosing graph with `GraphBuilder.inline`, which shares the primal nodes between
inlinings. So the result is one graph, sent once, and differentiable again: a derivative with
respect to a captured value flows through the inlined derivative nodes.

A Jacobian inside a trace is one JVP (forward) or VJP (reverse) inlined per input (output)
element, and a vmap one inlining per example: the graph grows with that count, which suits
the small inputs of a physics-informed loss (derivatives with respect to a point's few
coordinates). At the top level the engine sweeps all directions in one batched run instead.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import wengert.numpy_api as wg
from wengert import tree
from wengert.batching import Split, axes_of
from wengert.autodiff.transform import COTANGENT, TANGENT, jvp_graph, prefix_for, vjp_graph
from wengert.errors import InvalidRequest
from wengert.ir.builder import GraphBuilder, Value, current_builder, detached, lift
from wengert.ir.graph import TensorType
from wengert.tracing import Traced, as_function


class Nested:
    """`f` traced nested in the graph being traced, with what to feed its inputs."""

    def __init__(self, f: Callable[..., Any], args: Sequence[Any], has_aux: bool = False):
        self.traced, self.feeds = as_function(f).inline(tuple(args), has_aux)
        self.graph = self.traced.graph
        self.builder: GraphBuilder = current_builder(self.feeds.values())

    def inline(self, graph, extra: dict[str, Value] | None = None) -> dict[str, Value]:
        return self.builder.inline(graph, {**self.feeds, **(extra or {})})

    def leaves_of(self, argnums: int | Sequence[int]) -> list[str]:
        numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        names = [n for i in numbers for n in self.traced.arg_names[i]]
        if not names:
            raise InvalidRequest(f"argnums {argnums} selects no arrays to differentiate")
        return names

    def pack(self, argnums: int | Sequence[int], by_name: dict[str, Any]) -> Any:
        if isinstance(argnums, int):
            return self.traced.argument(argnums, by_name)
        return tuple(self.traced.argument(i, by_name) for i in argnums)

    def result(self, values: dict[str, Value]) -> Any:
        return self.traced.result(values)

    def aux(self, values: dict[str, Value]) -> tuple:
        return (self.traced.aux_result(values),) if self.traced.aux is not None else ()

    def value(self, x: Any, t: TensorType, what: str) -> Value:
        """`x` as a value of type `t` in the enclosing graph (numbers take its dtype)."""
        v = lift(self.builder, x, [])
        if v.dtype != t.dtype and (v.weak or not isinstance(x, Value)):
            v = wg.cast(v, t.dtype)
        if v.type != t:
            raise InvalidRequest(f"{what} must be {t}, got {v.type}")
        return v


def _derivative(build: Callable[[], Any]):
    """A derivative graph built while a function is being traced, outside that trace."""
    with detached():
        return build()


def _loss(traced: Traced) -> str:
    types = [traced.graph.output_type(n) for n in traced.out_names]
    if len(types) != 1 or types[0].shape != () or not types[0].is_float:
        shown = ", ".join(f"{n}: {t}" for n, t in zip(traced.out_names, types))
        raise InvalidRequest(f"a gradient needs one scalar float output; the function has {shown}")
    return traced.out_names[0]


def value_and_grad(f, args: Sequence[Any], argnums: int | Sequence[int], has_aux: bool) -> tuple:
    """`(value, gradient)` (value `(value, aux)` with `has_aux`), built in the traced graph."""
    nested = Nested(f, args, has_aux)
    loss, wrt = _loss(nested.traced), nested.leaves_of(argnums)
    dgraph = _derivative(lambda: vjp_graph(nested.graph, wrt, seeds=[loss], unit_seeds=True,
                                           registry=nested.builder.registry))
    out = nested.inline(dgraph)
    prefix = prefix_for(nested.graph, COTANGENT)
    grads = nested.pack(argnums, {n: out[prefix + n] for n in wrt})
    value = (out[loss], nested.traced.aux_result(out)) if has_aux else out[loss]
    return value, grads


def jvp(f, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool) -> tuple:
    """`(out, out_tangent)` (and aux), built in the traced graph."""
    nested = Nested(f, primals, has_aux)
    traced, types = nested.traced, dict(nested.graph.inputs)
    given = {n: t for n, t in traced.like_arguments(tangents, "tangent") if t is not None and types[n].is_float}
    prefix = prefix_for(nested.graph, TANGENT)
    if given:
        dgraph = _derivative(lambda: jvp_graph(nested.graph, list(given), registry=nested.builder.registry))
        out = nested.inline(dgraph, {prefix + n: nested.value(t, types[n], f"the tangent of {n!r}")
                                     for n, t in given.items()})
    else:  # no direction: every tangent is zero
        out = nested.inline(nested.graph)
        out.update({prefix + n: wg.zeros_like(out[n]) for n in traced.out_names})
    tangent = traced.out.unflatten(out[prefix + n] for n in traced.out_names)
    return (nested.result(out), tangent) + nested.aux(out)


def vjp(f, primals: Sequence[Any], has_aux: bool) -> tuple:
    """`(out, vjp_fn)` (and aux) in the traced graph: `vjp_fn(cotangent)` gives one
    cotangent per primal (None for a non-float leaf)."""
    nested = Nested(f, primals, has_aux)
    traced, types = nested.traced, dict(nested.graph.inputs)
    values = nested.inline(nested.graph)
    wrt = [n for names in traced.arg_names for n in names if types[n].is_float]

    def vjp_fn(cotangent):
        try:
            cts = traced.out.flatten_up_to(cotangent, what="cotangent")
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        seeds = {n: c for n, c in zip(traced.out_names, cts) if c is not None}
        prefix = prefix_for(nested.graph, COTANGENT)
        if not seeds or not wrt:
            return tuple(None if s is None else s.unflatten(None for _ in names)
                         for s, names in zip(traced.args, traced.arg_names))
        dgraph = _derivative(lambda: vjp_graph(nested.graph, wrt, seeds=list(seeds),
                                               registry=nested.builder.registry))
        out = nested.inline(dgraph, {prefix + n: nested.value(c, nested.graph.output_type(n),
                                                              f"the cotangent of {n!r}")
                                     for n, c in seeds.items()})
        return tuple(None if s is None else s.unflatten(out.get(prefix + n) for n in names)
                     for s, names in zip(traced.args, traced.arg_names))

    return (nested.result(values), vjp_fn) + nested.aux(values)


def jacobian(f, args: Sequence[Any], argnums: int | Sequence[int], mode: str, has_aux: bool) -> Any:
    """The Jacobian blocks (and aux) built in the traced graph: one inlined JVP per input
    element ("forward") or VJP per output element ("reverse"; "auto": the fewer)."""
    nested = Nested(f, args, has_aux)
    graph, traced = nested.graph, nested.traced
    wrt = nested.leaves_of(argnums)
    outs = [n for n in traced.out_names if graph.output_type(n).is_float]
    values = nested.inline(graph)
    if mode == "auto":
        inputs = sum(graph.type_of(n).size for n in wrt)
        mode = "forward" if inputs <= sum(graph.output_type(n).size for n in outs) else "reverse"
    blocks = _forward(nested, wrt, outs) if mode == "forward" else _reverse(nested, wrt, outs)
    jac = traced.out.unflatten(
        nested.pack(argnums, {i: blocks[o, i] for i in wrt}) if o in outs else None
        for o in traced.out_names)
    return (jac,) + nested.aux(values) if has_aux else jac


def _basis(t: TensorType) -> list[np.ndarray]:
    return [np.eye(t.size, dtype=t.dtype)[k].reshape(t.shape) for k in range(t.size)]


def _assemble(pieces: list[Value], out: TensorType, inp: TensorType, axis: int) -> Value:
    """One block, shaped out_shape + in_shape, from one piece per input (output) element."""
    if not pieces:
        return wg.zeros(out.shape + inp.shape, dtype=out.dtype)
    return wg.reshape(wg.stack(pieces, axis=axis), out.shape + inp.shape)


def _forward(nested: Nested, wrt: list[str], outs: list[str]) -> dict[tuple[str, str], Value]:
    graph, blocks = nested.graph, {}
    prefix = prefix_for(graph, TANGENT)
    for i in wrt:
        t = graph.type_of(i)
        dgraph = _derivative(lambda: jvp_graph(graph, [i], registry=nested.builder.registry))
        columns = [nested.inline(dgraph, {prefix + i: nested.builder.constant(e)}) for e in _basis(t)]
        for o in outs:
            blocks[o, i] = _assemble([c[prefix + o] for c in columns], graph.output_type(o), t, -1)
    return blocks


def _reverse(nested: Nested, wrt: list[str], outs: list[str]) -> dict[tuple[str, str], Value]:
    graph, blocks = nested.graph, {}
    prefix = prefix_for(graph, COTANGENT)
    for o in outs:
        t = graph.output_type(o)
        dgraph = _derivative(lambda: vjp_graph(graph, wrt, seeds=[o], registry=nested.builder.registry))
        rows = [nested.inline(dgraph, {prefix + o: nested.builder.constant(e)}) for e in _basis(t)]
        for i in wrt:
            blocks[o, i] = _assemble([r[prefix + i] for r in rows], t, graph.type_of(i), 0)
    return blocks


def vmap(f, args: Sequence[Any], in_axes, out_axes) -> Any:
    """`f` mapped over an axis of `args` in the traced graph: one inlining per example,
    stacked along `out_axes`."""
    fn = as_function(f)
    split = Split.of(args, in_axes, fn.static_positions(len(args)))
    results = [fn(*split.example(lambda leaf, axis: _at(leaf, axis, b))) for b in range(split.size)]
    leaves, structure = tree.flatten(results[0])
    columns = [tree.leaves(r) for r in results]
    axes = axes_of(structure, out_axes, "out_axes")
    return structure.unflatten(leaf if axis is None else wg.stack([c[k] for c in columns], axis=axis)
                               for k, (leaf, axis) in enumerate(zip(leaves, axes)))


def _at(leaf: Any, axis: int, b: int) -> Any:
    """Example `b` of a leaf mapped along `axis`."""
    if not isinstance(leaf, Value):
        leaf = np.asarray(leaf)
    return leaf[(slice(None),) * (axis % leaf.ndim) + (b,)]
