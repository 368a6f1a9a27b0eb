"""The control-flow ops of the graph contract, each described once by its layout (`Spec`):

    scan(carries, xs, consts; body, length, reverse, num_carry, num_xs)
        body (carries, x slices, consts) -> (carries, ys); result: final carries, stacked ys
    fori_loop(carries, consts; body, lower, upper, num_carry)
        body (i, carries, consts) -> carries, for i = lower .. upper-1; result: final carries
    while_loop(carries, consts; cond, body, max_steps, num_carry)
        body while cond (carries, consts) -> bool holds, at most max_steps times
    cond(pred, operands; true_branch, false_branch) / switch(index, operands; branches)
        the chosen branch (operands) -> outputs; every branch returns the same types
    checkpoint(operands; body)
        body (operands) -> outputs, whose derivatives recompute it instead of storing it
    adjoint_scan(states, xs, consts, adjoints, per-step seeds; forward, backward, cond, ...)
        a loop's reverse sweep (see `wengert.loops.checkpointing`)

`check` is every op's shape rule: it types each body once against the node's operands (carry
types must come back unchanged), naming the body's input or output, and the body node, at fault.
"""

from __future__ import annotations

from typing import Any, Sequence

from wengert.ir.graph import Graph, TensorType
from wengert.loops.layout import (CARRY, CONST, FLAG, INDEX, OUT, PRED, XS, Body, Layout, Spec, form,
                                  packed_type)
from wengert.plugins.opdef import ShapeError


def _rest(count: int, *used: int) -> int:
    rest = count - sum(used)
    if rest < 0 or min(used, default=0) < 0:
        raise ShapeError(f"the group sizes {list(used)} do not fit the node's {count} operand(s)")
    return rest


SCAN = Spec(
    operands=lambda a, count: [("C", CARRY, a["num_carry"]), ("X", XS, a["num_xs"]),
                               ("K", CONST, _rest(count, a["num_carry"], a["num_xs"]))],
    bodies=lambda a: [Body("body", ("C", "X", "K"), ("C", "Y"))],
    results=("C", "Y"), stacked=("Y",), length=lambda a: a["length"],
    sized=lambda a, s: {**a, "num_carry": s["C"], "num_xs": s["X"]})

FORI_LOOP = Spec(
    operands=lambda a, count: [("C", CARRY, a["num_carry"]), ("K", CONST, _rest(count, a["num_carry"]))],
    bodies=lambda a: [Body("body", (INDEX, "C", "K"), ("C",))],
    results=("C",), length=lambda a: a["upper"] - a["lower"],
    sized=lambda a, s: {**a, "num_carry": s["C"]})

WHILE_LOOP = Spec(
    operands=lambda a, count: [("C", CARRY, a["num_carry"]), ("K", CONST, _rest(count, a["num_carry"]))],
    bodies=lambda a: [Body("cond", ("C", "K"), (FLAG,)), Body("body", ("C", "K"), ("C",))],
    results=("C",), length=lambda a: a["max_steps"],
    sized=lambda a, s: {**a, "num_carry": s["C"]})

SWITCH = Spec(
    operands=lambda a, count: [("I", PRED, 1), ("O", CONST, _rest(count, 1))],
    bodies=lambda a: [Body("branches", ("O",), ("R",), item=j) for j in range(len(a["branches"] or ()))],
    results=("R",), sized=lambda a, s: a)

COND = Spec(  # the branch is `branches[int(pred)]`: false first, as switch orders them
    operands=SWITCH.operands,
    bodies=lambda a: [Body("false_branch", ("O",), ("R",)), Body("true_branch", ("O",), ("R",))],
    results=("R",), sized=lambda a, s: a)

CHECKPOINT = Spec(
    operands=lambda a, count: [("O", CONST, count)],
    bodies=lambda a: [Body("body", ("O",), ("R",))],
    results=("R",), sized=lambda a, s: a)


def _adjoint_bodies(a: dict) -> list[Body]:
    index = (INDEX,) if a["indexed"] else ()
    bodies = [Body("forward", index + ("P", "X", "K"), ("P",)),
              Body("backward", index + ("A", "P", "X", "K", "G"), ("A", "Z"))]
    return bodies + ([Body("cond", ("P", "K"), (FLAG,))] if a["cond"] is not None else [])


ADJOINT_SCAN = Spec(
    operands=lambda a, count: [("P", CARRY, a["num_state"]), ("X", XS, a["num_xs"]),
                               ("K", CONST, a["num_consts"]), ("A", CARRY, a["num_adjoint"]),
                               ("G", XS, _rest(count, a["num_state"], a["num_xs"], a["num_consts"],
                                               a["num_adjoint"]))],
    bodies=_adjoint_bodies, results=("A", "Z"), stacked=("Z",), length=lambda a: a["length"],
    sized=lambda a, s: {**a, "num_state": s["P"], "num_xs": s["X"], "num_consts": s["K"],
                        "num_adjoint": s["A"]})

SPECS = {"scan": SCAN, "fori_loop": FORI_LOOP, "while_loop": WHILE_LOOP, "switch": SWITCH, "cond": COND,
         "checkpoint": CHECKPOINT, "adjoint_scan": ADJOINT_SCAN}


def layout(op: str, attrs: dict[str, Any], count: int) -> Layout:
    """The layout of a node of control-flow op `op` with `attrs` and `count` operands."""
    return form(SPECS[op], attrs, count)


# -- the shape rule ------------------------------------------------------------------------------
def check(op: str, types: Sequence[TensorType], attrs: dict[str, Any]) -> TensorType:
    """Type every body once against the node's operands; the packed result's type."""
    lay = layout(op, attrs, len(types))
    if lay.length < 0:
        raise ShapeError(f"the number of steps must be >= 0, got {lay.length}")
    if op == "adjoint_scan" and (attrs["checkpoint"] not in ("all", "every_k", "binomial")
                                 or min(attrs["every"], attrs["snapshots"]) < 0):
        raise ShapeError(f"checkpoint must be all, every_k or binomial with every, snapshots >= 0; got "
                         f"{attrs['checkpoint']!r}, {attrs['every']}, {attrs['snapshots']}")
    by_group = lay.split(list(types))
    for t in types:
        if not t.is_concrete:
            raise ShapeError(f"control flow needs operands of known shape, got {t}")
    for g in lay.operands:
        for k, t in enumerate(by_group[g.name]):
            if g.role == XS and (not t.shape or t.shape[0] != lay.length):
                raise ShapeError(f"{_member(g.name, k)} is {t}: it must have a leading axis of the "
                                 f"{lay.length} steps")
            if g.role == PRED:
                wanted = "bool" if op == "cond" else "an integer"
                if t.shape != () or (t.dtype != "bool" if op == "cond" else t.dtype not in ("int64", "int32")):
                    raise ShapeError(f"the {'predicate' if op == 'cond' else 'branch index'} must be "
                                     f"{wanted} scalar, got {t}")
    returned: dict[str, list[TensorType]] = {}
    for body in lay.bodies:
        _check_body(lay, body, by_group, returned)
    return packed_type(lay.result_types(types))


def _check_body(lay: Layout, body: Body, by_group: dict[str, list[TensorType]],
                returned: dict[str, list[TensorType]]) -> None:
    graph = body.graph(lay.attrs)
    where = body.attr + ("" if body.item is None else f"[{body.item}]")
    if not isinstance(graph, Graph):
        raise ShapeError(f"attribute {where!r} must be a graph")
    slots = lay.positions(body.inputs)
    if len(graph.inputs) != len(slots):
        raise ShapeError(f"{where} takes {len(graph.inputs)} input(s); the node gives it {len(slots)} "
                         f"({', '.join(_names(lay, body.inputs))})")
    for (name, t), (group, k) in zip(graph.inputs, slots):
        wanted = _slot_type(lay, group, k, by_group)
        if t != wanted:
            raise ShapeError(f"{where} input {name!r} is {t}, but the node gives it {wanted} "
                             f"({_member(group, k)}{' at each step' if lay.role(group) == XS else ''})")
    outs = lay.positions(body.outputs)
    if len(graph.outputs) != len(outs):
        raise ShapeError(f"{where} returns {len(graph.outputs)} output(s); the node expects {len(outs)} "
                         f"({', '.join(_names(lay, body.outputs))})")
    for (name, vid), (group, k) in zip(graph.outputs, outs):
        got = graph.type_of(vid)
        if group == FLAG:
            wanted = TensorType("bool", ())
        elif lay.role(group) == OUT:
            seen = returned.setdefault(group, [])
            if len(seen) <= k:
                seen.append(got)
                continue
            wanted = seen[k]
        else:
            wanted = by_group[group][k]
        if got != wanted:
            at = f" = node {vid!r} ({_op_of(graph, vid)})" if vid not in graph.input_names else ""
            raise ShapeError(f"{where} output {name!r}{at} is {got}, but {_member(group, k)} is {wanted}"
                             + (": carries keep their type from step to step" if lay.role(group) == CARRY else "")
                             + (": every branch returns the same types" if lay.role(group) == OUT else ""))
    for t in (graph.type_of(vid) for _, vid in graph.outputs):
        if not t.is_concrete:
            raise ShapeError(f"{where} returns a value of unknown shape {t}")


def _slot_type(lay: Layout, group: str, k: int, by_group) -> TensorType:
    if group == INDEX:
        return TensorType("int64", ())
    t = by_group[group][k]
    return TensorType(t.dtype, t.shape[1:]) if lay.role(group) == XS else t


def _op_of(graph: Graph, vid: str) -> str:
    return next(node.op for node in graph.nodes if node.id == vid)


_NOUNS = {"C": "carry", "X": "xs", "K": "operand", "O": "operand", "P": "state", "A": "adjoint",
          "G": "per-step seed", "Y": "per-step output", "R": "output", "Z": "per-step result"}


def _member(group: str, k: int) -> str:
    if group == FLAG:
        return "the condition"
    if group == INDEX:
        return "the step index"
    return f"{_NOUNS.get(group, group)} {k}"


def _names(lay: Layout, groups: Sequence[str]) -> list[str]:
    return [_member(g, 0) if g in (INDEX, FLAG) else f"{max(lay.size(g), 0)} x {_NOUNS.get(g, g)}"
            for g in groups]
