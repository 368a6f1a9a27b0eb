"""Reductions: sum, mean, prod, max, min, logsumexp, softmax, log_softmax.

sum and mean are linear: the tangent is reduced the same way, and g is copied back over the
reduced axes. The others have partials w = d ans / d x shaped like x (softmax weights for
logsumexp, 1/count on the ties for max and min, the product of the other entries for prod):
their JVP is sum(x_dot * w) and their VJP g * w, with w a graph of `ans` and `x`, so the rules
differentiate again. softmax and log_softmax keep the shape and normalize along one axis.
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Attr, Example, OpDef
from wengert.plugins.shapes import batched_axes, float_result, normalize_axes, reduced

AXES = (Attr("axis", "axes", None, "axes to reduce (None: all)"),
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
    """(jvp, vjp) of a reduction whose partials d ans / d x are `weight(ans, x, axis, keepdims)`."""
    return ((lambda x_dot, ans, x, axis, keepdims:
             wg.sum(x_dot * weight(ans, x, axis, keepdims), axis, keepdims)),
            (lambda g, ans, x, axis, keepdims:
             _expand(g, x, axis, keepdims) * weight(ans, x, axis, keepdims)))


def reduction(name, forward, rules, doc, dtype=lambda t: t.dtype, examples=None) -> OpDef:
    """A reduction over `axis` (None: all) with NumPy's `keepdims`; `dtype(input type)`."""
    def infer(x: TensorType, axis, keepdims) -> TensorType:
        return TensorType(dtype(x), reduced(x, axis, keepdims).shape)

    jvp, vjp = rules
    return OpDef(
        name, lambda x, axis, keepdims: np.asarray(forward(x, axis=axis, keepdims=keepdims)), infer,
        jvp=(jvp,), vjp=(vjp,), attrs=AXES, doc=doc, examples=examples or _reduction_examples,
        batched_forward=lambda x, axis, keepdims: forward(
            x, axis=batched_axes(axis, x.ndim - 1), keepdims=keepdims))


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


def _integer_sum(t: TensorType) -> str:
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
              "product over axes; derivatives exact at zeros (see _prod_partials)",
              dtype=_integer_sum, examples=_prod_examples),
    reduction("max", np.max, weighted(_tie_weights),
              "maximum over axes; tied maxima split the derivative evenly"),
    reduction("min", np.min, weighted(_tie_weights),
              "minimum over axes; tied minima split the derivative evenly"),
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
]
