"""Loops and branches that stay loops and branches in the graph: `wg.scan`, `wg.fori_loop`,
`wg.while_loop`, `wg.cond`, `wg.switch` (JAX's signatures) and `wg.checkpoint`.

Each traces its Python function(s) once into a body graph and records one node; a Python loop
still unrolls. Carries, xs and outputs are pytrees of arrays (`wengert.tree`). A body may
use values of the graphs around it (a weight matrix, say): they become operands of the node.
The derivatives are loops too (see docs/control-flow.md); `wg.checkpointing` chooses how reverse
mode keeps a loop's states.
"""

from __future__ import annotations

import numbers
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from wengert.errors import InvalidGraph
from wengert.ir.builder import GraphBuilder, Value, current_builder, lift
from wengert.ir.graph import Graph, TensorType
from wengert.loops.bodies import relayout
from wengert.loops.checkpointing import checkpointing
from wengert.loops.constructs import layout
from wengert.loops.layout import unpack
from wengert.tree import flatten

__all__ = ["scan", "fori_loop", "while_loop", "cond", "switch", "checkpoint", "checkpointing"]


def _outer(what: str, *trees: Any) -> GraphBuilder:
    leaves = [x for tree in trees for x in flatten(tree)[0]]
    builder = current_builder(leaves)
    if builder is None:
        raise InvalidGraph(f"wg.{what}: no graph is being built; call it inside a traced function "
                           f"(wg.trace, a client method) or on symbolic values")
    return builder


def _operand(builder: GraphBuilder, x: Any) -> Value:
    """`x` as a value of `builder`'s graph (captured from an enclosing one, or a constant)."""
    return builder.own(x) if isinstance(x, Value) else lift(builder, x)


# -- bodies ----------------------------------------------------------------------------------------
class _Body:
    """A Python function traced into a body graph inside `outer`'s graph: its declared inputs
    first, then the values of enclosing graphs it uses, which the node receives as operands."""

    def __init__(self, outer: GraphBuilder):
        self.builder = GraphBuilder(outer.registry, parent=outer)

    def inputs(self, name: str, types: Sequence[TensorType]) -> list[Value]:
        return [self.builder.input(f"{name}{k}", t) for k, t in enumerate(types)]

    def call(self, fn: Callable, *args: Any) -> Any:
        with self.builder:
            return fn(*args)

    def outputs(self, leaves: Sequence[Any], types: Sequence[TensorType | None]) -> list[Value]:
        """Returned leaves as values of the body; numbers and arrays typed like `types` where
        given (a carry's type), else weakly."""
        out = []
        for leaf, t in zip(leaves, types):
            if isinstance(leaf, Value):
                out.append(self.builder.own(leaf))
            elif t is not None and isinstance(leaf, (numbers.Number, np.ndarray, np.generic)) \
                    and _broadcasts(np.shape(leaf), t.shape):
                out.append(self.builder.constant(np.broadcast_to(np.asarray(leaf, t.dtype), t.shape)))
            else:  # as it is: the node's shape rule names a mismatch
                out.append(lift(self.builder, leaf))
        return out

    def graph(self, outputs: Sequence[Value]) -> Graph:
        return self.builder.build({f"out{k}": v for k, v in enumerate(outputs)})

    def captures(self) -> list[Value]:
        return [outer for outer, _ in self.builder.captures]


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _shared(bodies: Sequence[_Body], graphs: Sequence[Graph], fixed: int) -> tuple[list[Graph], list[Value]]:
    """Bodies that share operands (a while loop's condition and body, a switch's branches),
    each given every body's captured values as inputs after its first `fixed`, in one order;
    it ignores those it does not use. Returns the graphs and those values."""
    key = lambda v: (id(v.builder), v.id)  # noqa: E731
    operands: dict[tuple, Value] = {}
    for body in bodies:
        for value in body.captures():
            operands.setdefault(key(value), value)
    names = {k: f"captured_{j}" for j, k in enumerate(operands)}
    out = []
    for body, graph in zip(bodies, graphs):
        own = {key(v): name for v, (name, _) in zip(body.captures(), graph.inputs[fixed:])}
        graph = _renamed(graph, {own[k]: names[k] for k in own})
        unused = [(names[k], v.type) for k, v in operands.items() if k not in own]
        out.append(relayout(graph, list(graph.input_names[:fixed]) + list(names.values()),
                            graph.output_names, extra=unused))
    return out, list(operands.values())


def _renamed(graph: Graph, names: dict[str, str]) -> Graph:
    """`graph` with inputs renamed (captured inputs get names shared across bodies)."""
    if not names:
        return graph
    rename = lambda x: names.get(x, x)  # noqa: E731
    return Graph(tuple((rename(n), t) for n, t in graph.inputs),
                 tuple(replace(node, inputs=tuple(rename(x) for x in node.inputs)) for node in graph.nodes),
                 tuple((n, rename(v)) for n, v in graph.outputs))


def _results(builder: GraphBuilder, op: str, operands: Sequence[Value], attrs: dict) -> list[Value]:
    """Record the node; its packed result unpacked into one value per result."""
    node = builder.add(op, operands, attrs)
    norm = dict(builder.node_of(node).attrs)
    return unpack(node, layout(op, norm, len(operands)).result_types([v.type for v in operands]))


def _carry_check(what: str, init_structure, out_structure) -> None:
    if init_structure != out_structure:
        raise InvalidGraph(f"wg.{what}: the body returns a carry of another structure than the initial "
                           f"one ({out_structure} vs {init_structure})")


# -- the functions ---------------------------------------------------------------------------------
def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None, reverse: bool = False):
    """Like `jax.lax.scan`: `f(carry, x) -> (carry, y)` over the leading axis of `xs` (or
    `length` steps with x None), returning `(final carry, stacked ys)`. Recorded as one `scan`
    node however many steps it runs; its VJP is a reverse scan (see docs/control-flow.md)."""
    outer = _outer("scan", init, xs)
    carry_leaves, carry_s = flatten(init)
    x_leaves, x_s = flatten(xs)
    carries = [_operand(outer, c) for c in carry_leaves]
    scanned = [_operand(outer, x) for x in x_leaves]
    lengths = {x.shape[0] if x.shape else None for x in scanned}
    if None in lengths or len(lengths) > 1 or (length is not None and lengths and lengths != {length}):
        raise InvalidGraph(f"wg.scan: xs need one common leading axis"
                           f"{f' of length {length}' if length is not None else ''}; "
                           f"got shapes {[x.shape for x in scanned]}")
    if not scanned and length is None:
        raise InvalidGraph("wg.scan: give xs or a length")
    steps = int(length if length is not None else lengths.pop())
    body = _Body(outer)
    c_in = body.inputs("carry", [c.type for c in carries])
    x_in = body.inputs("x", [TensorType(x.dtype, x.shape[1:]) for x in scanned])
    result = body.call(f, carry_s.unflatten(c_in), x_s.unflatten(x_in))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise InvalidGraph("wg.scan: the body must return a pair (carry, y)")
    new_leaves, new_s = flatten(result[0])
    _carry_check("scan", carry_s, new_s)
    y_leaves, y_s = flatten(result[1])
    graph = body.graph(body.outputs(new_leaves, [c.type for c in carries])
                       + body.outputs(y_leaves, [None] * len(y_leaves)))
    parts = _results(outer, "scan", carries + scanned + body.captures(),
                     {"body": graph, "length": steps, "reverse": reverse, "num_carry": len(carries),
                      "num_xs": len(scanned)})
    return carry_s.unflatten(parts[:len(carries)]), y_s.unflatten(parts[len(carries):])


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val: Any):
    """Like `jax.lax.fori_loop`: `body_fun(i, val) -> val` for i = lower .. upper - 1, with
    bounds known when tracing (for a data-dependent count use `while_loop`)."""
    if isinstance(lower, Value) or isinstance(upper, Value):
        raise InvalidGraph("wg.fori_loop: the bounds must be known when tracing (Python ints); "
                           "for a data-dependent count use wg.while_loop with max_steps")
    outer = _outer("fori_loop", init_val)
    leaves, structure = flatten(init_val)
    carries = [_operand(outer, c) for c in leaves]
    body = _Body(outer)
    (i,) = body.inputs("i", [TensorType("int64", ())])
    result = body.call(body_fun, i, structure.unflatten(body.inputs("carry", [c.type for c in carries])))
    new_leaves, new_s = flatten(result)
    _carry_check("fori_loop", structure, new_s)
    graph = body.graph(body.outputs(new_leaves, [c.type for c in carries]))
    parts = _results(outer, "fori_loop", carries + body.captures(),
                     {"body": graph, "lower": int(lower), "upper": max(int(upper), int(lower)),
                      "num_carry": len(carries)})
    return structure.unflatten(parts)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any, *, max_steps: int):
    """Like `jax.lax.while_loop`: `body_fun(val) -> val` while `cond_fun(val)` holds, but at
    most `max_steps` times (required: it bounds the price, and makes reverse mode possible
    through the steps actually taken; see docs/control-flow.md)."""
    outer = _outer("while_loop", init_val)
    leaves, structure = flatten(init_val)
    carries = [_operand(outer, c) for c in leaves]
    test, step = _Body(outer), _Body(outer)
    flag = test.call(cond_fun, structure.unflatten(test.inputs("carry", [c.type for c in carries])))
    flag = test.outputs(flatten(flag)[0], [TensorType("bool", ())])
    if len(flag) != 1 or flag[0].type != TensorType("bool", ()):
        raise InvalidGraph(f"wg.while_loop: the condition must return one bool scalar, got "
                           f"{', '.join(str(v.type) for v in flag)}")
    result = step.call(body_fun, structure.unflatten(step.inputs("carry", [c.type for c in carries])))
    new_leaves, new_s = flatten(result)
    _carry_check("while_loop", structure, new_s)
    graphs, captured = _shared([test, step], [test.graph(flag), step.graph(step.outputs(
        new_leaves, [c.type for c in carries]))], len(carries))
    parts = _results(outer, "while_loop", carries + captured,
                     {"cond": graphs[0], "body": graphs[1], "max_steps": int(max_steps),
                      "num_carry": len(carries)})
    return structure.unflatten(parts)


def switch(index: Any, branches: Sequence[Callable], *operands: Any):
    """Like `jax.lax.switch`: `branches[index](*operands)`, the index clamped to the branches.
    Every branch returns the same structure and types; only the chosen one runs, and only it
    is differentiated. A Python int index simply calls its branch."""
    if not branches:
        raise InvalidGraph("wg.switch: give at least one branch")
    if not isinstance(index, Value):
        return branches[min(max(int(index), 0), len(branches) - 1)](*operands)
    return _branching("switch", index, list(branches), operands)


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any):
    """Like `jax.lax.cond`: `true_fun(*operands)` if `pred` else `false_fun(*operands)`, where
    `pred` is a bool scalar (a number is compared with zero). A Python bool simply calls its
    branch."""
    if not isinstance(pred, Value):
        return true_fun(*operands) if pred else false_fun(*operands)
    return _branching("cond", pred if pred.dtype == "bool" else pred != 0, [false_fun, true_fun], operands)


def _branching(op: str, chooser: Value, functions: list[Callable], operands: Sequence[Any]):
    outer = _outer(op, chooser, operands)
    if chooser.shape != () or (op == "switch" and chooser.dtype not in ("int64", "int32")):
        raise InvalidGraph(f"wg.{op}: the {'index' if op == 'switch' else 'predicate'} must be a scalar "
                           f"({'an integer' if op == 'switch' else 'bool'}), got {chooser.type}")
    leaves, structure = flatten(tuple(operands))
    values = [_operand(outer, x) for x in leaves]
    bodies = [_Body(outer) for _ in functions]
    results = [flatten(body.call(fn, *structure.unflatten(body.inputs("operand", [v.type for v in values]))))
               for body, fn in zip(bodies, functions)]
    if any(s != results[0][1] for _, s in results):
        raise InvalidGraph(f"wg.{op}: every branch must return the same structure "
                           f"({', '.join(repr(s) for _, s in results)})")
    # A number one branch returns takes the type of another branch's array in its place.
    types = [next((leaves[k].type for leaves, _ in results if isinstance(leaves[k], Value)), None)
             for k in range(len(results[0][0]))]
    graphs = [body.graph(body.outputs(leaves, types)) for body, (leaves, _) in zip(bodies, results)]
    graphs, captured = _shared(bodies, graphs, len(values))
    attrs = ({"branches": tuple(graphs)} if op == "switch"
             else {"false_branch": graphs[0], "true_branch": graphs[1]})
    parts = _results(outer, op, [_operand(outer, chooser)] + values + captured, attrs)
    return results[0][1].unflatten(parts)


def checkpoint(fun: Callable) -> Callable:
    """Like `jax.checkpoint` (remat): `fun` recorded as one `checkpoint` node, whose reverse
    mode recomputes `fun`'s intermediate values from its arguments instead of keeping them
    from the forward pass: less memory for one more evaluation of `fun`."""
    def remat(*args):
        outer = _outer("checkpoint", args)
        leaves, structure = flatten(tuple(args))
        values = [_operand(outer, x) for x in leaves]
        body = _Body(outer)
        result = body.call(fun, *structure.unflatten(body.inputs("arg", [v.type for v in values])))
        out_leaves, out_s = flatten(result)
        graph = body.graph(body.outputs(out_leaves, [None] * len(out_leaves)))
        return out_s.unflatten(_results(outer, "checkpoint", values + body.captures(), {"body": graph}))
    remat.__name__ = getattr(fun, "__name__", "remat")
    remat.__doc__ = fun.__doc__
    return remat
