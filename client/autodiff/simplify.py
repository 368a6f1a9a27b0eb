"""Algebraic simplification of derivative graphs, applied as each node is recorded.

Derivative values (tangents and cotangents) are linear in the directions and are the large
values of a derivative graph: in a Jacobian sweep each one carries a batch axis. So besides
dropping neutral elements, the rewrites move work off them onto primal values: a chain of
scalings of one derivative value, `((d * a) * b) + d * c`, collapses into a single scaling
`d * (a * b + c)` whose factor is computed once, without the batch axis. For an elementwise
function this turns a forward-mode Jacobian into one batched multiply.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wengert.ir.builder import GraphBuilder, Value

COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "equal", "not_equal"})
# op -> (neutral value on the left or None, neutral value on the right)
NEUTRAL = {"add": (0, 0), "sub": (None, 0), "mul": (1, 1), "div": (None, 1)}
SCALINGS = frozenset({"neg", "mul", "add", "sub"})  # the ops that collapse chains of scalings
REWRITTEN = SCALINGS | NEUTRAL.keys()  # the ops `rewrite` may rewrite


def memo_key(op_name: str, input_ids: tuple[str, ...], attrs: tuple) -> tuple:
    """The key under which identical nodes are shared; commutative inputs in canonical order."""
    if op_name in COMMUTATIVE and input_ids[0] > input_ids[1]:
        input_ids = input_ids[::-1]
    return (op_name, input_ids, attrs)


def rewrite(b: GraphBuilder, op_name: str, inputs: tuple[Value, ...], out_type) -> Value | None:
    """A value equal to `op_name(*inputs)` built more cheaply, or None to record it as is.
    (Only an input that is a constant or derived can make one: `b` asks only then.)"""
    found = _drop_neutral(b, op_name, inputs, out_type)
    if found is None:  # not `or`: a Value has no truth value
        found = _collapse_scalings(b, op_name, inputs)
    return found if found is not None and found.type == out_type else None


def _drop_neutral(b, op_name, inputs, out_type):
    if op_name not in NEUTRAL:
        return None
    (x, y), (left, right) = inputs, NEUTRAL[op_name]
    constants = b.constants  # a constant is the cheap test, so it comes first
    if left is not None and x.id in constants and b.is_constant(x, left) and y.type == out_type:
        return y
    if y.id in constants and b.is_constant(y, right) and x.type == out_type:
        return x
    return None


def _collapse_scalings(b, op_name, inputs):
    if op_name not in SCALINGS:
        return None
    derived = [v.id in b.derived for v in inputs]
    if not any(derived):
        return None
    wg = _api()
    if op_name == "neg" and derived[0]:
        base, scale = _scaled(b, inputs[0])
        return None if scale is None else wg.mul(base, wg.neg(scale))
    if op_name == "mul" and sum(derived) == 1:
        d, p = inputs if derived[0] else inputs[::-1]
        base, scale = _scaled(b, d)
        return None if scale is None else wg.mul(base, wg.mul(scale, p))
    if op_name in ("add", "sub") and all(derived):
        (base_x, scale_x), (base_y, scale_y) = _scaled(b, inputs[0]), _scaled(b, inputs[1])
        if base_x.id != base_y.id or (scale_x is None and scale_y is None):
            return None
        one = b.number(1, base_x.dtype)  # the constant 1, shared (kept by the builder)
        combine = wg.add if op_name == "add" else wg.sub
        return wg.mul(base_x, combine(_or(scale_x, one), _or(scale_y, one)))
    return None


@functools.cache
def _api():
    from wengert import numpy_api  # it records through the builder, which imports this module

    return numpy_api


def _scaled(b, v):
    """(base, scale) when `v` is `base * scale` with only `base` derived, else (v, None)."""
    node = b.node_of(v)
    if node is not None and node.op == "mul":
        x, y = node.inputs
        if (x in b.derived) != (y in b.derived):
            return (b.value(x), b.value(y)) if x in b.derived else (b.value(y), b.value(x))
    return v, None


def _or(value, default):
    return default if value is None else value
