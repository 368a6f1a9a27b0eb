"""Sorting and searching: sort, argsort, argmax, argmin, searchsorted.

Only `sort` has a derivative: it permutes its input, so its tangent is the tangent permuted the
same way, `take_along_axis(x_dot, argsort(x))`, and its cotangent is `g` permuted back by the
inverse permutation, `argsort(argsort(x))`. Both are gathers of derivative values by integer
indices, so the rules differentiate again. Equal entries may be matched in any order (each
order gives a valid derivative); the rules use one order consistently. The rest return integer
indices.
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType, shape_text
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import normalize_axes, reduced

ORDER = (Attr("axis", "int", -1, "the axis sorted along"),
         Attr("descending", "bool", False, "largest first"),
         Attr("stable", "bool", True, "equal entries keep their order (argsort)"))


def _argsort(x, axis, descending, stable):
    """NumPy's argsort; descending stably is the reverse of the ascending order of the reversed
    entries, so equal entries still keep their order."""
    kind = "stable" if stable else None
    if not descending:
        return np.argsort(x, axis=axis, kind=kind)
    n = x.shape[axis]
    return n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind=kind), axis)


def _sort(x, axis, descending, stable):
    out = np.sort(x, axis=axis)
    return np.flip(out, axis) if descending else out


def _order_infer(dtype):
    def infer(x: TensorType, axis, **order) -> TensorType:
        if x.ndim == 0:
            raise ShapeError("needs an input of at least 1 dimension")
        normalize_axes((axis,), x.ndim)
        return TensorType(dtype or x.dtype, x.shape)
    return infer


def _order_batched(forward):
    return lambda x, axis, **order: forward(x, axis % (x.ndim - 1) + 1, **order)


def _sort_cost(out: TensorType, x: TensorType, axis, **order) -> Cost:
    """n log n comparisons for each of the lines sorted."""
    n = max(x.shape[axis], 2)
    return Cost(int(x.size * np.log2(n)) + out.size, x.size * 8)


def _permutation(x, axis, descending):
    """The indices that sort x (as the forward does): any consistent order of ties will do for the
    derivative, so the quicker unstable argsort is used."""
    return wg.argsort(x, axis=axis, descending=descending, stable=False)


def _sort_jvp(x_dot, ans, x, axis, descending, stable):
    return wg.take_along_axis(x_dot, _permutation(x, axis, descending), axis=axis)


def _sort_vjp(g, ans, x, axis, descending, stable):
    """g permuted back: gathered by the inverse permutation (the argsort of the permutation)."""
    inverse = wg.argsort(_permutation(x, axis, descending), axis=axis, stable=False)
    return wg.take_along_axis(g, inverse, axis=axis)


def _order_examples(rng):
    ties = rng.integers(0, 3, size=(3, 5))
    return [Example((rng.standard_normal(6),)),
            Example((rng.standard_normal((3, 4)),), {"axis": 0, "descending": True}),
            Example((rng.standard_normal((2, 3, 4)),), {"axis": 1}),
            Example((ties,), {"descending": True}), Example((ties,), {"stable": False})]


def _arg_extreme(forward):
    """argmax / argmin over one axis (None: the flattened input), NumPy's keepdims."""
    def run(x, axis, keepdims):
        if axis is None:
            out = forward(x.reshape(-1))
            return np.asarray(out).reshape((1,) * x.ndim if keepdims else ())
        return np.asarray(forward(x, axis=axis[0], keepdims=keepdims))

    def batched(x, axis, keepdims):
        if axis is None:
            out = forward(x.reshape(x.shape[0], -1), axis=1)
            return out.reshape((x.shape[0],) + (1,) * (x.ndim - 1) * keepdims)
        return forward(x, axis=normalize_axes(axis, x.ndim - 1)[0] + 1, keepdims=keepdims)
    return run, batched


def _arg_extreme_infer(x: TensorType, axis, keepdims) -> TensorType:
    if axis is not None and len(axis) != 1:
        raise ShapeError(f"axis must be one axis or None, got {shape_text(axis)}")
    if x.size == 0:
        raise ShapeError("attempt to get the position of an extremum of an empty sequence")
    return TensorType("int64", reduced(x, axis, keepdims).shape)


def _arg_extreme_op(name: str, forward, doc: str) -> OpDef:
    run, batched = _arg_extreme(forward)
    return OpDef(name, run, _arg_extreme_infer, jvp=(None,), vjp=(None,), batched_forward=batched,
                 attrs=(Attr("axis", "axes", None, "the axis searched (left out: the flattened input)"),
                        Attr("keepdims", "bool", False, "keep the searched axis with size 1")),
                 doc=doc + "; the first one on ties; int64, no derivative",
                 examples=lambda rng: [Example((rng.standard_normal((3, 4)),), attrs) for attrs in
                                       [{}, {"axis": 1}, {"axis": 0, "keepdims": True},
                                        {"keepdims": True}]])


def _searchsorted_infer(sorted_: TensorType, values: TensorType, side) -> TensorType:
    if sorted_.ndim != 1:
        raise ShapeError(f"the sorted input must be 1-dimensional, got shape {shape_text(sorted_.shape)}")
    if side not in ("left", "right"):
        raise ShapeError(f"side must be 'left' or 'right', got {side!r}")
    return TensorType("int64", values.shape)


def _searchsorted_batched(sorted_, values, side):
    if sorted_.shape[0] == 1:
        return np.searchsorted(sorted_[0], values, side=side)
    values = np.broadcast_to(values, (sorted_.shape[0],) + values.shape[1:])
    return np.stack([np.searchsorted(s, v, side=side) for s, v in zip(sorted_, values)])


OPS = [
    OpDef("sort", _sort, _order_infer(None), attrs=ORDER, cost=_sort_cost,
          doc="entries sorted along an axis; the derivative permutes like the entries",
          jvp=(_sort_jvp,), vjp=(_sort_vjp,), batched_forward=_order_batched(_sort),
          examples=lambda rng: _order_examples(rng)[:3]),
    OpDef("argsort", _argsort, _order_infer("int64"), attrs=ORDER, cost=_sort_cost,
          doc="the indices that sort along an axis; int64, no derivative",
          jvp=(None,), vjp=(None,), batched_forward=_order_batched(_argsort),
          examples=_order_examples),
    _arg_extreme_op("argmax", np.argmax, "the index of the maximum"),
    _arg_extreme_op("argmin", np.argmin, "the index of the minimum"),
    OpDef("searchsorted", lambda s, v, side: np.asarray(np.searchsorted(s, v, side=side)),
          _searchsorted_infer, arity=2, jvp=(None, None), vjp=(None, None),
          attrs=(Attr("side", "str", "left", "'left': the first fitting index, 'right': the last"),),
          cost=lambda out, s, v, side: Cost(int(v.size * np.log2(max(s.size, 2))) + out.size),
          batched_forward=_searchsorted_batched,
          doc="where each value would be inserted into a sorted 1-D input; int64, no derivative",
          examples=lambda rng: [Example((np.sort(rng.standard_normal(6)), rng.standard_normal((3, 2)))),
                                Example((np.array([0.0, 1.0, 1.0, 2.0]), np.array([1.0, 0.5, 3.0])),
                                        {"side": "right"})]),
]
