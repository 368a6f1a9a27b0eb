"""Reductions: sum, mean, prod, max, min, all, any, logsumexp, vector_norm, softmax,
log_softmax, cumulative_sum.

sum and mean are linear: the tangent is reduced the same way, and g is copied back over the
reduced axes. The others have partials w = d ans / d x shaped like x (softmax weights for
logsumexp, 1/count on the ties for max and min, the product of the other entries for prod):
their JVP is sum(x_dot * w) and their VJP g * w, with w a graph of `ans` and `x`, so the rules
differentiate again. softmax and log_softmax keep the shape and normalize along one axis;
cumulative_sum is linear, and its transpose sums in reverse. all and any have no derivative.
"""

from __future__ import annotations

import math

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Attr, Example, OpDef, ShapeError
from wengert.plugins.shapes import batched_axes, float_result, normalize_axes, reduced

AXES = (Attr("axis", "axes", None, "axes to reduce (left out: all of them)"),
        Attr("keepdims", "bool", False, "keep the reduced axes with size 1"))


def _expand(g, x, axis, keepdims):
    """`g`, shaped like a reduction of `x`, with the reduced axes back as size-1 axes."""
    axes = normalize_axes(axis, x.ndim)
    return g if keepdims or not axes else wg.expand_dims(g, axes)


def _spread(g, x, axis, keepdims):
    """The cotangent of `x` from a reduction's cotangent `g`: g copied over the reduced axes."""
    return wg.broadcast_to(_expand(g, x, axis, keepdims), x.shape)


def _count(x, axis) -> int:
    return int(np.prod([x.shape[a] for a in normalize_axes(axis, x.ndim)]))


def weighted(weight):
    """(jvp, vjp) of a reduction whose partials d ans / d x are `weight(ans, x, axis, keepdims)`
    (and any further attributes)."""
    return ((lambda x_dot, ans, x, axis, keepdims, **more:
             wg.sum(x_dot * weight(ans, x, axis, keepdims, **more), axis, keepdims)),
            (lambda g, ans, x, axis, keepdims, **more:
             _expand(g, x, axis, keepdims) * weight(ans, x, axis, keepdims, **more)))


def reduction(name, forward, rules, doc, dtype=lambda t: t.dtype, examples=None, attrs=()) -> OpDef:
    """A reduction over `axis` (None: all) with NumPy's `keepdims`; `dtype(input type)`.
    `attrs` are further attributes, passed on to `forward` and the rules."""
    def infer(x: TensorType, axis, keepdims, **more) -> TensorType:
        return TensorType(dtype(x, **more), reduced(x, axis, keepdims).shape)

    jvp, vjp = rules
    return OpDef(
        name, lambda x, axis, keepdims, **more: np.asarray(forward(x, axis=axis, keepdims=keepdims, **more)),
        infer, jvp=(jvp,), vjp=(vjp,), attrs=AXES + attrs, doc=doc,
        examples=examples or _reduction_examples,
        batched_forward=lambda x, axis, keepdims, **more: forward(
            x, axis=batched_axes(axis, x.ndim - 1), keepdims=keepdims, **more))


def _reduction_examples(rng):
    x = rng.standard_normal((3, 4))
    return [Example((rng.standard_normal(5),)), Example((x,), {"axis": 0}),
            Example((x,), {"axis": -1, "keepdims": True}),
            Example((rng.standard_normal((2, 3, 4)),), {"axis": (0, 2)}),
            Example((rng.standard_normal((2, 3)),), {"keepdims": True})]


def _prod_examples(rng):
    with_zero = rng.standard_normal((3, 4))
    with_zero[1, 2] = 0.0
    return _reduction_examples(rng) + [Example((with_zero,), {"axis": 1})]


def _integer_sum(t: TensorType, **attrs) -> str:
    """NumPy's sum and prod of bool and int32 give the platform integer, int64."""
    return t.dtype if t.is_float else "int64"


def _prod_partials(ans, x, axis, keepdims):
    """d prod / d x_i = the product of the others, exact at zeros (no division by them): in a
    group with one zero only that entry's partial is nonzero, with two or more all are zero.
    Second derivatives are exact too, except in groups with two or more zeros."""
    zero = x == 0
    nonzero = wg.where(zero, 1.0, x)
    rest = wg.prod(nonzero, axis, keepdims=True)  # product of the nonzero entries
    zeros = wg.sum(wg.cast(zero, x.dtype), axis, keepdims=True)
    lone_zero = wg.sum(wg.where(zero, x, 0.0), axis, keepdims=True)  # 0, carrying its tangent
    others = rest / nonzero
    return wg.where(zeros == 0, others,
                    wg.where(zeros == 1, wg.where(zero, rest, lone_zero * others), 0.0))


def _tie_weights(ans, x, axis, keepdims):
    """1/count on the entries equal to the extremum, 0 elsewhere: ties share the derivative."""
    hit = wg.cast(x == _expand(ans, x, axis, keepdims), x.dtype)
    return hit / wg.sum(hit, axis, keepdims=True)


def _float(x):
    return x if x.dtype.kind == "f" else x.astype(np.float64)


# -- vector_norm: (sum |x|**ord)**(1/ord), with ord inf / -inf the max / min of |x|, ord 0 the count
def _vector_norm(x, axis, keepdims, ord):
    x = _float(x)
    if ord == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    a = np.abs(x)
    if ord == math.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(a.dtype)
    if ord == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1 / ord)


def _norm_partials(ans, x, axis, keepdims, ord):
    """d norm / d x: sign(x) (|x| / norm)**(ord - 1), with a zero vector's partials 0 (the
    subgradient JAX and PyTorch pick); for ord +-inf the ties of the extremum share it. The
    guard against a zero norm works on the norms, not on the (larger) input."""
    if math.isinf(ord):
        return wg.sign(x) * _tie_weights(ans, wg.abs(x), axis, keepdims)
    if ord == 1:
        return wg.sign(x)
    inverse = _expand(wg.where(ans == 0, 0.0, 1 / wg.where(ans == 0, 1.0, ans)), x, axis, keepdims)
    if ord == 2:
        return x * inverse
    return wg.sign(x) * (wg.abs(x) * inverse) ** (ord - 1)


def _norm_rules():
    """The weighted rules, except for ord 0 (a count: no derivative)."""
    jvp, vjp = weighted(_norm_partials)
    return ((lambda x_dot, ans, x, ord, **axes: None if ord == 0 else jvp(x_dot, ans, x, ord=ord, **axes)),
            (lambda g, ans, x, ord, **axes: None if ord == 0 else vjp(g, ans, x, ord=ord, **axes)))


def _norm_examples(rng):
    x = rng.standard_normal((3, 4))
    return [Example((x,), {"ord": p, "axis": a}) for p, a in
            [(2.0, None), (2.0, 1), (1.0, 0), (math.inf, 1), (-math.inf, None), (3.0, (0, 1)),
             (0.5, 1), (0.0, 1)]] + [Example((x,), {"axis": -1, "keepdims": True})]


def _norm_type(t: TensorType, ord) -> str:
    if math.isnan(ord):
        raise ShapeError("ord must be a number, got nan")
    return float_result(t)


# -- cumulative_sum -----------------------------------------------------------------------------
def _cumulative_sum(x, axis, include_initial):
    out = np.cumsum(x, axis=axis, dtype=np.dtype(_integer_sum(TensorType.of(x))))
    if not include_initial:
        return out
    pad = [(0, 0)] * x.ndim
    pad[axis] = (1, 0)
    return np.pad(out, pad)


def _cumulative_sum_infer(x: TensorType, axis, include_initial) -> TensorType:
    if x.ndim == 0:
        raise ShapeError("cumulative_sum needs an input of at least 1 dimension")
    ax = normalize_axes((axis,), x.ndim)[0]
    grown = -1 if x.shape[ax] == -1 else x.shape[ax] + include_initial
    return TensorType(_integer_sum(x), x.shape[:ax] + (grown,) + x.shape[ax + 1:])


def _cumulative_sum_vjp(g, ans, x, axis, include_initial):
    """Each x_i reaches every output from its own on (one later with the initial 0): the
    cotangent is g summed in reverse."""
    ax = axis % x.ndim
    if include_initial:
        g = g[(slice(None),) * ax + (slice(1, None),)]
    return wg.flip(wg.cumulative_sum(wg.flip(g, ax), axis=ax), ax)


def _logsumexp(x, axis, keepdims):
    x = _float(x)
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    out = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax(x, axis):
    e = np.exp(_float(x) - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    return _float(x) - _logsumexp(x, axis=(axis,), keepdims=True)


def _along_infer(x: TensorType, axis) -> TensorType:
    normalize_axes((axis,), x.ndim)
    return TensorType(float_result(x), x.shape)


def along(name, forward, jvp, vjp, doc) -> OpDef:
    """A normalization along one axis: output shaped like the input, float."""
    return OpDef(name, forward, _along_infer, jvp=(jvp,), vjp=(vjp,), doc=doc,
                 attrs=(Attr("axis", "int", -1, "the axis normalized over"),),
                 examples=lambda rng: [Example((rng.standard_normal((3, 4)),)),
                                       Example((rng.standard_normal((3, 4)),), {"axis": 0}),
                                       Example((rng.standard_normal(5),))],
                 batched_forward=lambda x, axis: forward(x, axis % (x.ndim - 1) + 1))


OPS = [
    reduction("sum", np.sum, (
        lambda x_dot, ans, x, axis, keepdims: wg.sum(x_dot, axis, keepdims),
        lambda g, ans, x, axis, keepdims: _spread(g, x, axis, keepdims),
    ), "sum over axes (bool and integers sum to int64)", dtype=_integer_sum),
    reduction("mean", np.mean, (
        lambda x_dot, ans, x, axis, keepdims: wg.mean(x_dot, axis, keepdims),
        lambda g, ans, x, axis, keepdims: _spread(g, x, axis, keepdims) / _count(x, axis),
    ), "arithmetic mean over axes", dtype=float_result),
    reduction("prod", np.prod, weighted(_prod_partials),
              "product over axes; its derivative d/dx_i is the product of the other entries, exact where entries are zero",
              dtype=_integer_sum, examples=_prod_examples),
    reduction("max", np.max, weighted(_tie_weights),
              "maximum over axes; tied maxima split the derivative evenly"),
    reduction("min", np.min, weighted(_tie_weights),
              "minimum over axes; tied minima split the derivative evenly"),
    reduction("all", np.all, (None, None), "every entry is nonzero, over axes; bool, no derivative",
              dtype=lambda t: "bool"),
    reduction("any", np.any, (None, None), "some entry is nonzero, over axes; bool, no derivative",
              dtype=lambda t: "bool"),
    reduction("vector_norm", _vector_norm, _norm_rules(),
              "the vector `ord`-norm over axes (inf: max |x|, 0: the count of nonzeros, no "
              "derivative); a zero vector's derivative is 0", dtype=_norm_type,
              examples=_norm_examples, attrs=(Attr("ord", "float", 2.0, "the norm's order"),)),
    reduction("logsumexp", _logsumexp,
              weighted(lambda ans, x, axis, keepdims: wg.exp(x - _expand(ans, x, axis, keepdims))),
              "log(sum(exp(x))) over axes, computed stably", dtype=float_result),
    along("softmax", _softmax,
          lambda x_dot, ans, x, axis: ans * (x_dot - wg.sum(ans * x_dot, axis, keepdims=True)),
          lambda g, ans, x, axis: ans * (g - wg.sum(g * ans, axis, keepdims=True)),
          "exp(x) / sum(exp(x)) along axis, computed stably"),
    along("log_softmax", _log_softmax,
          lambda x_dot, ans, x, axis: x_dot - wg.sum(wg.exp(ans) * x_dot, axis, keepdims=True),
          lambda g, ans, x, axis: g - wg.exp(ans) * wg.sum(g, axis, keepdims=True),
          "x - logsumexp(x) along axis, computed stably"),
    OpDef("cumulative_sum", _cumulative_sum, _cumulative_sum_infer,
          attrs=(Attr("axis", "int", doc="the axis summed along"),
                 Attr("include_initial", "bool", False, "start with the empty sum, 0")),
          doc="running sums along an axis (bool and integers sum to int64)",
          jvp=(lambda x_dot, ans, x, **attrs: wg.cumulative_sum(x_dot, **attrs),),
          vjp=(_cumulative_sum_vjp,),
          batched_forward=lambda x, axis, include_initial: _cumulative_sum(
              x, axis % (x.ndim - 1) + 1, include_initial),
          examples=lambda rng: [Example((rng.standard_normal(5),), {"axis": 0}),
                                Example((rng.standard_normal((3, 4)),), {"axis": 1, "include_initial": True}),
                                Example((rng.standard_normal((2, 3, 2)),), {"axis": -3})]),
]
