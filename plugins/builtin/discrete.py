"""Ops with no derivative: rounding, floating-point predicates, logical and bitwise ops.

Rounding is piecewise constant, so its derivative is zero wherever it exists: `jvp=(None,)`
says so, and no tangent flows through. The others return bools or integers, which carry no
derivative at all. Logical ops take any dtype (nonzero is True) and return bools; bitwise ops
take bools and integers, as in NumPy.
"""

from __future__ import annotations

import numpy as np

from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Example, OpDef, ShapeError
from wengert.plugins.builtin.elementwise import of_bools_as
from wengert.plugins.shapes import broadcast_shapes, broadcasting, comparison, same_as_first


def _rounding(name: str, forward, doc: str) -> OpDef:
    """Round to an integral value, keeping the dtype (integers and bools pass through)."""
    return OpDef(name, lambda x: forward(x).astype(x.dtype), same_as_first, jvp=(None,), vjp=(None,),
                 elementwise=True, doc=doc + "; derivative 0")


def _predicate_infer(x: TensorType) -> TensorType:
    return TensorType("bool", x.shape)


def _special_values(rng):
    x = rng.standard_normal((3, 4))
    x[0, 1], x[1, 2], x[2, 0], x[2, 3] = np.nan, np.inf, -np.inf, -0.0
    return [Example((x,)), Example((rng.integers(-3, 3, size=5),))]


def _predicate(name: str, forward, doc: str) -> OpDef:
    return OpDef(name, forward, _predicate_infer, jvp=(None,), vjp=(None,), elementwise=True,
                 examples=_special_values, doc=doc + "; bool, no derivative")


def _logical_examples(arity: int):
    def examples(rng):
        bools = [Example(tuple(rng.integers(0, 2, size=s).astype(bool) for s in shapes))
                 for shapes in ([(4,)] * arity, [(3, 4), (4,)][:arity])]
        return bools + [Example(tuple(rng.standard_normal(3).round() for _ in range(arity)))]
    return examples


def _logical(name: str, forward, arity: int) -> OpDef:
    infer = comparison if arity == 2 else _predicate_infer
    return OpDef(name, forward, infer, arity=arity, jvp=(None,) * arity, vjp=(None,) * arity,
                 elementwise=True, examples=_logical_examples(arity),
                 doc=f"{name}, elementwise; any nonzero value counts as true; gives bool; no derivative")


def _integral(*types: TensorType, **attrs) -> TensorType:
    """Bitwise ops: bool and integer inputs, promoted as NumPy does."""
    if any(t.is_float for t in types):
        raise ShapeError(f"needs integer or bool inputs, got {', '.join(t.dtype for t in types)}")
    return broadcasting(*types)


def _shift_infer(x: TensorType, y: TensorType) -> TensorType:
    if x.dtype == "bool" or y.dtype == "bool":
        raise ShapeError("shifts need integer inputs")
    return _integral(x, y)


def _bitwise_examples(arity: int, shift: bool = False):
    def examples(rng):
        low, high = (0, 5) if shift else (-8, 8)
        ints = [Example(tuple(rng.integers(low, high, size=s) for s in [(3, 4), (4,)][:arity]))]
        if shift:
            return ints + [Example((rng.integers(-9, 9, size=4).astype(np.int32), np.int32(2)))]
        return ints + [Example(tuple(rng.integers(0, 2, size=4).astype(bool) for _ in range(arity)))]
    return examples


def _bitwise(name: str, forward, arity: int = 2, infer=_integral, shift: bool = False) -> OpDef:
    return OpDef(name, lambda *xs: np.asarray(forward(*xs)), infer, arity=arity,
                 jvp=(None,) * arity, vjp=(None,) * arity, elementwise=True,
                 examples=_bitwise_examples(arity, shift),
                 doc=f"{name}, elementwise, of bools and integers; no derivative")


def _floor_divide_infer(x: TensorType, y: TensorType) -> TensorType:
    t = broadcasting(x, y)
    return TensorType("int64" if t.dtype == "bool" else t.dtype, broadcast_shapes(x.shape, y.shape))


OPS = [
    # -- rounding: piecewise constant ----------------------------------------------------------
    _rounding("floor", np.floor, "the largest integer <= x"),
    _rounding("ceil", np.ceil, "the smallest integer >= x"),
    _rounding("trunc", np.trunc, "x rounded towards 0"),
    _rounding("round", np.round, "x rounded to the nearest integer, halves to even"),
    OpDef("floor_divide", of_bools_as("int64", np.floor_divide), _floor_divide_infer, arity=2,
          jvp=(None, None), vjp=(None, None), elementwise=True, domain=(0.3, 2.0),
          doc="floor(x / y) (NumPy's //), of the promoted dtype; derivative 0"),
    # -- floating-point predicates -------------------------------------------------------------
    _predicate("isnan", np.isnan, "x is NaN"),
    _predicate("isinf", np.isinf, "x is +inf or -inf"),
    _predicate("isfinite", np.isfinite, "x is neither infinite nor NaN"),
    _predicate("signbit", np.signbit, "the sign bit of x is set (x < 0, or -0.0)"),
    # -- logical --------------------------------------------------------------------------------
    _logical("logical_and", np.logical_and, 2),
    _logical("logical_or", np.logical_or, 2),
    _logical("logical_xor", np.logical_xor, 2),
    _logical("logical_not", np.logical_not, 1),
    # -- bitwise --------------------------------------------------------------------------------
    _bitwise("bitwise_and", np.bitwise_and),
    _bitwise("bitwise_or", np.bitwise_or),
    _bitwise("bitwise_xor", np.bitwise_xor),
    _bitwise("bitwise_invert", np.invert, arity=1, infer=_integral),
    _bitwise("bitwise_left_shift", np.left_shift, infer=_shift_infer, shift=True),
    _bitwise("bitwise_right_shift", np.right_shift, infer=_shift_infer, shift=True),
]
