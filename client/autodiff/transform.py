"""Forward and reverse mode as graph transformations: `jvp_graph(G)` and `vjp_graph(G)` are
new graphs, built by replaying G and calling each op's rules, which are themselves written
with graph ops. So a derivative graph can be cached, printed, sent, and differentiated again.

Naming: tangent inputs and outputs are `tangent:<name>`, cotangent inputs (seeds on outputs)
and outputs (on inputs) are `cotangent:<name>`. When the graph already uses that prefix (a
derivative graph differentiated again the same way) the prefix is numbered: `cotangent2:`. With `intermediates=True` every value's
tangent or adjoint is an output too, named by its id (this is how `Trace` shows the tables).

Broadcasting is handled here and only here: a tangent is broadcast up to its node's shape,
and a cotangent flowing back along an edge is summed down to the input's shape.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

import wengert.numpy_api as wg
from wengert.ir.builder import GraphBuilder, Value, pausing_collector
from wengert.errors import InvalidRequest, NoDerivative, WengertError, node_error
from wengert.ir.graph import Graph, Node, TensorType

TANGENT = "tangent:"
COTANGENT = "cotangent:"


def prefix_for(graph: Graph, base: str) -> str:
    """`base`, numbered if the graph already has names starting with it (see module doc)."""
    names = set(graph.input_names) | set(graph.output_names)
    prefix, k = base, 1
    while any(n.startswith(prefix) for n in names):
        k += 1
        prefix = f"{base[:-1]}{k}:"
    return prefix


def float_inputs(graph: Graph) -> list[str]:
    return [name for name, t in graph.inputs if t.is_float]


def check_wrt(graph: Graph, wrt: Iterable[str] | None) -> list[str]:
    """The inputs to differentiate with respect to (default: every float input)."""
    if wrt is None or not list(wrt):
        return float_inputs(graph)
    types = dict(graph.inputs)
    wrt = list(wrt)
    for name in wrt:
        if name not in types:
            raise InvalidRequest(f"wrt names {name!r}, which is not an input of the graph")
        if not types[name].is_float:
            raise InvalidRequest(f"cannot differentiate with respect to {name!r} of dtype {types[name].dtype}")
    if len(set(wrt)) != len(wrt):
        raise InvalidRequest(f"wrt lists an input twice: {wrt}")
    return wrt


def check_outputs(graph: Graph, outputs: Iterable[str] | None) -> list[str]:
    """The outputs a request is about (default: all of them)."""
    if outputs is None or not list(outputs):
        return list(graph.output_names)
    outputs = list(outputs)
    for name in outputs:
        if name not in graph.output_names:
            raise InvalidRequest(f"{name!r} is not an output of the graph")
    return outputs


def scalar_output(graph: Graph, name: str | None, what: str = "output") -> str:
    """The float scalar output a gradient, Hessian or loss is of: `name`, or the graph's only
    output when `name` is empty."""
    if not name:
        if len(graph.outputs) != 1:
            raise InvalidRequest(f"name the {what}: the graph has outputs "
                                 f"{', '.join(map(repr, graph.output_names))}")
        name = graph.output_names[0]
    if name not in graph.output_names:
        raise InvalidRequest(f"{what} {name!r} is not an output of the graph "
                             f"(it has {', '.join(map(repr, graph.output_names))})")
    t = graph.output_type(name)
    if not (t.is_float and t.size == 1):
        raise InvalidRequest(f"{what} {name!r} must be a float scalar (any shape with one element), got {t}")
    return name


def _replay(graph: Graph, builder: GraphBuilder) -> dict[str, Value]:
    """Record the primal graph in `builder`; returns id -> value."""
    env = {name: builder.input(name, t) for name, t in graph.inputs}
    for node in graph.nodes:
        env[node.id] = builder.replay(node, tuple([env[i] for i in node.inputs]))
    return env


def _or_zeros(value: Value | None, t: TensorType, builder: GraphBuilder) -> Value:
    """`value`, or zeros of type `t` where no derivative flowed."""
    if value is not None:
        return value
    zero = builder.constant(np.zeros((), dtype=t.dtype))
    return zero if not t.shape else wg.broadcast_to(zero, t.shape)


def _fit(value: Value, t: TensorType, *, reduce: bool) -> Value:
    """`value` made into type `t`: cast, and broadcast up (tangents) or summed down (cotangents)."""
    if value.type is t:  # the usual case, asked first: types of one graph are mostly shared
        return value
    if value.dtype != t.dtype:
        value = wg.cast(value, t.dtype)
    if value.shape == t.shape:
        return value
    if not reduce:
        return wg.broadcast_to(value, t.shape)
    lead = value.ndim - t.ndim
    axes = list(range(lead)) + [
        lead + i for i, d in enumerate(t.shape) if d == 1 and value.shape[lead + i] != 1
    ]
    return wg.reshape(wg.sum(value, axis=axes, keepdims=True), t.shape)


def _rule(node: Node, graph_op, kind: str, argnum: int):
    if getattr(graph_op, kind) is None:
        mode = "forward-mode (JVP)" if kind == "jvp" else "reverse-mode (VJP)"
        raise node_error(NoDerivative, node.id, node.op, f"op has no {mode} derivative rule")
    return graph_op.rule(kind, argnum)


def _term(rule, node: Node, kind: str, *values: Value) -> Value | None:
    """The derivative term `rule` builds from `values` (the seed, the answer, the primals).
    Some rules need concrete shapes (cholesky's masks are n x n constants): one failing on open
    (-1) dimensions is UNIMPLEMENTED for this graph until the shapes are known, not a bug."""
    try:
        return rule(*values, **node.attr_dict)
    except WengertError as exc:
        if exc.node and (exc.node == node.id or exc.op != node.op):  # names the node at fault already
            raise
        # about no node, or about the node of this op the rule was recording (polygamma's n + 1):
        # the node the client sent is the one to name
        error = node_error(type(exc), node.id, node.op, f"its {kind} rule: {getattr(exc, 'detail', '') or exc}")
        error.__dict__.update({k: v for k, v in exc.__dict__.items() if k not in ("node", "op", "detail")})
        raise error from exc
    except Exception as exc:
        if all(v.type.is_concrete for v in values):
            raise
        raise node_error(NoDerivative, node.id, node.op,
                         f"its {kind} rule cannot be built with open (-1) dimensions "
                         f"({type(exc).__name__}: {exc}); ask with concrete shapes") from exc


def _accumulate(total: Value | None, term: Value | None) -> Value | None:
    if term is None:
        return total
    return term if total is None else total + term


@pausing_collector
def jvp_graph(graph: Graph, wrt: Sequence[str] | None = None, *, intermediates: bool = False,
              registry=None) -> Graph:
    """The graph of (outputs, output tangents) as a function of (inputs, input tangents)."""
    wrt = check_wrt(graph, wrt)
    prefix = prefix_for(graph, TANGENT)
    b = GraphBuilder(registry, simplify=True)
    env = _replay(graph, b)
    tangent: dict[str, Value | None] = {name: None for name in graph.input_names}
    for name in wrt:
        tangent[name] = b.input(prefix + name, dict(graph.inputs)[name], derived=True)
    for node in graph.nodes:
        ans = env[node.id]
        flowing = [(i, tangent[x]) for i, x in enumerate(node.inputs) if tangent[x] is not None]
        total = None
        if flowing and ans.type.is_float:
            op = b.registry.get(node.op)
            primals = [env[x] for x in node.inputs]
            if op.joint_jvp is not None:  # one rule for every input (a loop: one loop)
                primal, total = op.joint_jvp([tangent[x] for x in node.inputs], ans, *primals, **node.attr_dict)
                if primal is not None:  # the rule recomputed the value: later nodes use that
                    env[node.id] = primal
                total = None if total is None else _fit(total, ans.type, reduce=False)
                flowing = []
            for i, x_dot in flowing:
                rule = _rule(node, op, "jvp", i)
                term = _term(rule, node, "jvp", x_dot, ans, *primals) if rule is not None else None
                total = _accumulate(total, None if term is None else _fit(term, ans.type, reduce=False))
        tangent[node.id] = total
    outputs = {name: env[vid] for name, vid in graph.outputs}
    if intermediates:
        for vid, t in graph.types.items():
            if t.is_float:
                outputs[prefix + vid] = _or_zeros(tangent[vid], t, b)
    else:
        for name, vid in graph.outputs:
            outputs[prefix + name] = _or_zeros(tangent[vid], graph.types[vid], b)
    return b.build(outputs)


@pausing_collector
def vjp_graph(graph: Graph, wrt: Sequence[str] | None = None, *, seeds: Sequence[str] | None = None,
              intermediates: bool = False, unit_seeds: bool = False, registry=None) -> Graph:
    """The graph of (outputs, input cotangents) as a function of (inputs, output cotangents).

    `seeds` names the outputs that receive a cotangent input (default: all). With `unit_seeds`
    the seeds are constant ones instead of inputs: for scalar outputs, the gradient graph."""
    wrt = check_wrt(graph, wrt)
    seeds = check_outputs(graph, seeds)
    for name in seeds if unit_seeds else ():
        if graph.output_type(name).size != 1:
            raise InvalidRequest(f"a gradient needs a scalar output; {name!r} is {graph.output_type(name)}")
    prefix = prefix_for(graph, COTANGENT)
    b = GraphBuilder(registry, simplify=True)
    env = _replay(graph, b)
    active = set(wrt)
    for node in graph.nodes:
        if any(x in active for x in node.inputs) and node.type.is_float:
            active.add(node.id)
    adjoint: dict[str, Value | None] = {}
    for name in seeds:
        vid = dict(graph.outputs)[name]
        t = graph.types[vid]
        seed = (b.constant(np.ones(t.shape, t.dtype)) if unit_seeds
                else b.input(prefix + name, t, derived=True))
        if vid in active:
            adjoint[vid] = _accumulate(adjoint.get(vid), seed)
    for node in reversed(graph.nodes):
        g = adjoint.get(node.id)
        if g is None:
            continue
        op = b.registry.get(node.op)
        primals = [env[x] for x in node.inputs]
        joint = None
        if op.joint_vjp is not None:  # every input's cotangent from one rule (a loop: one loop)
            joint = op.joint_vjp(g, env[node.id], *primals, needed=tuple(x in active for x in node.inputs),
                                 **node.attr_dict)
        for i, x in enumerate(node.inputs):
            if x not in active:
                continue
            if joint is not None:
                term = joint[i]
            else:
                rule = _rule(node, op, "vjp", i)
                term = _term(rule, node, "vjp", g, env[node.id], *primals) if rule is not None else None
            if term is not None:
                adjoint[x] = _accumulate(adjoint.get(x), _fit(term, primals[i].type, reduce=True))
    outputs = {name: env[vid] for name, vid in graph.outputs}
    types = graph.types
    names = [vid for vid in types if vid in active] if intermediates else wrt
    for vid in names:
        outputs[prefix + vid] = _or_zeros(adjoint.get(vid), types[vid], b)
    return b.build(outputs)
