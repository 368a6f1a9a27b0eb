"""Elementwise ops: arithmetic, transcendental functions, activations, comparisons.

Each op is one stanza: name, NumPy forward, and the derivative. A unary op is declared by its
derivative factor f'(x) (as a graph, from `ans` = f(x) and `x`); the engine multiplies tangents
and cotangents by it. Non-differentiable points take the one-sided value JAX and PyTorch use:
abs'(0) = 0, relu'(0) = 0, and maximum/minimum split the derivative evenly on ties.
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Attr, Example, OpDef, ShapeError
from wengert.plugins.shapes import arithmetic, broadcasting, comparison, float_arrays, floating, same_as_first


def in_float(forward):
    """`forward` computed on its inputs converted to the float dtype `floating` promises (its
    attributes passed on as they are). On inputs all of one float dtype that is `forward`
    itself, which compiled plans then call directly (`ufunc_on_floats`, see
    wengert.execution.steps)."""
    def run(*arrays, **attrs):
        return forward(*float_arrays(*arrays), **attrs)
    run.ufunc_on_floats = forward
    return run


def of_bools_as(dtype: str, forward):
    """`forward` of two inputs, whose NumPy version gives int8 for two bools, giving `dtype`
    for them as the shape rule says (the values fit)."""
    def run(x, y):
        out = np.asarray(forward(x, y))
        return out.astype(dtype) if x.dtype == y.dtype == np.bool_ else out
    return run


def unary(name: str, forward, derivative, doc: str, infer=floating, domain=(-2.0, 2.0)) -> OpDef:
    """An elementwise op whose derivative is `derivative(ans, x)`, a graph of f'(x).
    `domain` is where the checker samples inputs (inside the op's real domain)."""
    return OpDef(
        name=name,
        forward=in_float(forward) if infer is floating else forward,
        infer=infer,
        jvp=(lambda x_dot, ans, x: x_dot * derivative(ans, x),),
        vjp=(lambda g, ans, x: g * derivative(ans, x),),
        elementwise=True,
        doc=doc,
        domain=domain,
    )


def linear(name: str, forward, arity: int, jvp, vjp, doc: str, infer=broadcasting) -> OpDef:
    """An elementwise op linear in its inputs: its rules need no primal values."""
    return OpDef(name=name, forward=forward, infer=infer, arity=arity, jvp=jvp, vjp=vjp,
                 elementwise=True, doc=doc)


def _sigmoid(x):
    """1 / (1 + e^-x), and e^x / (1 + e^x) for x < 0, both from e^-|x|: one exponential that
    cannot overflow (no error state to switch, which cost more than the arithmetic)."""
    e = np.exp(-np.abs(x))
    d = 1 + e
    return np.where(x >= 0, 1 / d, e / d).astype(x.dtype, copy=False)


def _tie_weight(x, y, pick_x):
    """1 where `pick_x` holds strictly, 1/2 on ties, 0 elsewhere: maximum/minimum's derivative."""
    return wg.where(pick_x, 1.0, wg.where(x == y, 0.5, 0.0))


def _power(x, y):
    """x ** y. NumPy raises a negative base to a power on a slow path, 20-30x its time for a
    positive one; (-a) ** n is a ** n with the sign of (-1) ** n, so a negative base is raised
    as |x| on the fast path (within 1 ulp of np.power; -0.0, infinities and NaNs as C99's pow
    treats them)."""
    negative = np.signbit(x)
    if np.result_type(x, y).kind != "f" or not negative.any():
        return np.power(x, y)
    whole = y == np.trunc(y)  # +-inf count: (-a) ** inf = a ** inf
    out = np.asarray(np.power(np.abs(x), y))
    np.multiply(out, np.where(negative & whole & (np.remainder(y, 2) == 1), -1.0, 1.0), out=out)
    if not np.all(whole):  # a finite negative base to a fractional (or NaN) power has no real value
        out = np.where((x < 0) & np.isfinite(x) & ~whole, np.nan, out).astype(out.dtype, copy=False)
    return out


def _pow_dy(ans, x):
    """d(x**y)/dy = x**y ln x, taken as 0 where x <= 0 (where ln x is undefined)."""
    return wg.where(x > 0, ans * wg.log(wg.where(x > 0, x, 1.0)), 0.0)


def _dtype(name: str) -> str:
    """A dtype attribute: "float64", ..., or the contract's enum name, "DTYPE_FLOAT64", ..."""
    dtype = name[len("DTYPE_"):].lower() if name.startswith("DTYPE_") else name
    if dtype not in ("float64", "float32", "int64", "int32", "bool"):
        raise ShapeError(f"cannot cast to unknown dtype {name!r} (use float64, float32, int64, int32 or "
                         "bool, or DTYPE_FLOAT64, ...)")
    return dtype


def _cast_infer(x: TensorType, dtype: str) -> TensorType:
    return TensorType(_dtype(dtype), x.shape)


def _where_infer(cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    if cond.dtype != "bool":
        raise ShapeError(f"condition must be bool, got {cond.dtype}")
    return TensorType(broadcasting(x, y).dtype, broadcasting(cond, x, y).shape)


def _where_examples(rng):
    shapes = [((3,), (3,), (3,)), ((3, 4), (4,), ()), ((1, 4), (3, 1), (3, 4))]
    return [Example((rng.normal(size=c) > 0, rng.normal(size=x), rng.normal(size=y)))
            for c, x, y in shapes]


def _clip_infer(x: TensorType, low: TensorType, high: TensorType) -> TensorType:
    return TensorType(x.dtype, broadcasting(x, low, high).shape)


def _clip_examples(rng):
    """Points inside and on both sides of the bounds, away from ties (where the derivative jumps)."""
    x = rng.uniform(-2.0, 2.0, size=(3, 4))
    return [Example((x, np.float64(-0.5), np.float64(0.7))),
            Example((x, rng.uniform(-1.0, -0.1, size=(4,)), rng.uniform(0.1, 1.0, size=(3, 1)))),
            Example((rng.uniform(-2.0, 2.0, size=(5,)), np.float64(-np.inf), np.float64(0.3)))]


def _comparison(name: str, forward) -> OpDef:
    return OpDef(name=name, forward=forward, infer=comparison, arity=2, jvp=(None, None),
                 vjp=(None, None), elementwise=True, doc=f"{name}(x, y), elementwise; bool, no derivative")


OPS = [
    # -- arithmetic ------------------------------------------------------------------------
    linear("neg", np.negative, 1, (lambda x_dot, ans, x: -x_dot,), (lambda g, ans, x: -g,),
           "-x", infer=arithmetic),
    linear("add", np.add, 2, (lambda x_dot, ans, x, y: x_dot, lambda y_dot, ans, x, y: y_dot),
           (lambda g, ans, x, y: g, lambda g, ans, x, y: g), "x + y", infer=arithmetic),
    linear("sub", np.subtract, 2, (lambda x_dot, ans, x, y: x_dot, lambda y_dot, ans, x, y: -y_dot),
           (lambda g, ans, x, y: g, lambda g, ans, x, y: -g), "x - y", infer=arithmetic),
    OpDef("mul", np.multiply, arithmetic, arity=2, elementwise=True, doc="x * y",
          jvp=(lambda x_dot, ans, x, y: x_dot * y, lambda y_dot, ans, x, y: x * y_dot),
          vjp=(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)),
    OpDef("div", in_float(np.true_divide), floating, arity=2, elementwise=True, doc="x / y (true division)",
          domain=(0.3, 2.0),
          jvp=(lambda x_dot, ans, x, y: x_dot / y, lambda y_dot, ans, x, y: -(y_dot * ans) / y),
          vjp=(lambda g, ans, x, y: g / y, lambda g, ans, x, y: -(g * ans) / y)),
    OpDef("remainder", of_bools_as("bool", np.remainder), broadcasting, arity=2, elementwise=True,
          domain=(0.3, 2.0),
          doc="x mod y with the sign of y (NumPy's %); d/dy = -floor(x / y)",
          jvp=(lambda x_dot, ans, x, y: x_dot, lambda y_dot, ans, x, y: -(y_dot * wg.floor_divide(x, y))),
          vjp=(lambda g, ans, x, y: g, lambda g, ans, x, y: -(g * wg.floor_divide(x, y)))),
    OpDef("hypot", in_float(np.hypot), floating, arity=2, elementwise=True,
          doc="sqrt(x**2 + y**2) without overflow; derivative undefined at (0, 0)",
          jvp=(lambda x_dot, ans, x, y: x_dot * x / ans, lambda y_dot, ans, x, y: y_dot * y / ans),
          vjp=(lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans)),
    OpDef("logaddexp", in_float(np.logaddexp), floating, arity=2, elementwise=True,
          doc="ln(e**x + e**y), computed stably",
          jvp=(lambda x_dot, ans, x, y: x_dot * wg.exp(x - ans), lambda y_dot, ans, x, y: y_dot * wg.exp(y - ans)),
          vjp=(lambda g, ans, x, y: g * wg.exp(x - ans), lambda g, ans, x, y: g * wg.exp(y - ans))),
    OpDef("pow", _power, arithmetic, arity=2, elementwise=True, domain=(0.2, 2.0),
          doc="x ** y; d/dy is taken as 0 where x <= 0",
          jvp=(lambda x_dot, ans, x, y: x_dot * (y * x ** (y - 1)),
               lambda y_dot, ans, x, y: y_dot * _pow_dy(ans, x)),
          vjp=(lambda g, ans, x, y: g * (y * x ** (y - 1)),
               lambda g, ans, x, y: g * _pow_dy(ans, x))),
    OpDef("log", in_float(np.log), floating, elementwise=True, doc="natural logarithm ln x", domain=(0.2, 2.0),
          jvp=(lambda x_dot, ans, x: x_dot / x,), vjp=(lambda g, ans, x: g / x,)),
    OpDef("log2", in_float(np.log2), floating, elementwise=True, doc="base-2 logarithm", domain=(0.2, 2.0),
          jvp=(lambda x_dot, ans, x: x_dot / (x * np.log(2)),), vjp=(lambda g, ans, x: g / (x * np.log(2)),)),
    OpDef("log10", in_float(np.log10), floating, elementwise=True, doc="base-10 logarithm", domain=(0.2, 2.0),
          jvp=(lambda x_dot, ans, x: x_dot / (x * np.log(10)),), vjp=(lambda g, ans, x: g / (x * np.log(10)),)),
    unary("exp", np.exp, lambda ans, x: ans, "e ** x"),
    unary("log1p", np.log1p, lambda ans, x: 1 / (1 + x), "ln(1 + x), accurate near 0", domain=(-0.5, 2.0)),
    unary("expm1", np.expm1, lambda ans, x: ans + 1, "e ** x - 1, accurate near 0"),
    unary("sqrt", np.sqrt, lambda ans, x: 0.5 / ans, "square root", domain=(0.2, 2.0)),
    unary("square", np.square, lambda ans, x: 2 * x, "x * x"),
    unary("reciprocal", np.reciprocal, lambda ans, x: -(ans * ans), "1 / x", domain=(0.3, 2.0)),
    # -- trigonometric and hyperbolic --------------------------------------------------------
    unary("sin", np.sin, lambda ans, x: wg.cos(x), "sine"),
    unary("cos", np.cos, lambda ans, x: -wg.sin(x), "cosine"),
    unary("tan", np.tan, lambda ans, x: 1 + ans * ans, "tangent", domain=(-1.2, 1.2)),
    unary("sinh", np.sinh, lambda ans, x: wg.cosh(x), "hyperbolic sine"),
    unary("cosh", np.cosh, lambda ans, x: wg.sinh(x), "hyperbolic cosine"),
    unary("tanh", np.tanh, lambda ans, x: 1 - ans * ans, "hyperbolic tangent"),
    unary("arcsin", np.arcsin, lambda ans, x: 1 / wg.sqrt(1 - x * x), "inverse sine", domain=(-0.9, 0.9)),
    unary("arccos", np.arccos, lambda ans, x: -1 / wg.sqrt(1 - x * x), "inverse cosine", domain=(-0.9, 0.9)),
    unary("arctan", np.arctan, lambda ans, x: 1 / (1 + x * x), "inverse tangent"),
    unary("arcsinh", np.arcsinh, lambda ans, x: 1 / wg.sqrt(x * x + 1), "inverse hyperbolic sine"),
    unary("arccosh", np.arccosh, lambda ans, x: 1 / wg.sqrt(x * x - 1), "inverse hyperbolic cosine",
          domain=(1.2, 3.0)),
    unary("arctanh", np.arctanh, lambda ans, x: 1 / (1 - x * x), "inverse hyperbolic tangent",
          domain=(-0.9, 0.9)),
    OpDef("arctan2", in_float(np.arctan2), floating, arity=2, elementwise=True,
          doc="arctan2(y, x): the angle of the point (x, y)",
          jvp=(lambda y_dot, ans, y, x: y_dot * x / (x * x + y * y),
               lambda x_dot, ans, y, x: -(x_dot * y) / (x * x + y * y)),
          vjp=(lambda g, ans, y, x: g * x / (x * x + y * y),
               lambda g, ans, y, x: -(g * y) / (x * x + y * y))),
    # -- piecewise and activations -----------------------------------------------------------
    unary("abs", np.abs, lambda ans, x: wg.sign(x), "|x|; derivative 0 at 0", infer=same_as_first),
    OpDef("sign", np.sign, same_as_first, jvp=(None,), vjp=(None,), elementwise=True,
          doc="-1, 0 or 1; derivative 0 everywhere (undefined at 0)"),
    unary("sigmoid", _sigmoid, lambda ans, x: ans * (1 - ans), "1 / (1 + e ** -x)"),
    OpDef("relu", lambda x: np.maximum(x, 0).astype(x.dtype), same_as_first, elementwise=True,
          doc="max(x, 0); derivative 0 at 0",
          jvp=(lambda x_dot, ans, x: wg.where(x > 0, x_dot, 0.0),),
          vjp=(lambda g, ans, x: wg.where(x > 0, g, 0.0),)),
    unary("softplus", lambda x: np.logaddexp(x, 0).astype(x.dtype), lambda ans, x: wg.sigmoid(x),
          "ln(1 + e ** x)"),
    OpDef("maximum", np.maximum, broadcasting, arity=2, elementwise=True,
          doc="elementwise max; ties split the derivative evenly",
          jvp=(lambda x_dot, ans, x, y: x_dot * _tie_weight(x, y, x > y),
               lambda y_dot, ans, x, y: y_dot * _tie_weight(y, x, y > x)),
          vjp=(lambda g, ans, x, y: g * _tie_weight(x, y, x > y),
               lambda g, ans, x, y: g * _tie_weight(y, x, y > x))),
    OpDef("minimum", np.minimum, broadcasting, arity=2, elementwise=True,
          doc="elementwise min; ties split the derivative evenly",
          jvp=(lambda x_dot, ans, x, y: x_dot * _tie_weight(x, y, x < y),
               lambda y_dot, ans, x, y: y_dot * _tie_weight(y, x, y < x)),
          vjp=(lambda g, ans, x, y: g * _tie_weight(x, y, x < y),
               lambda g, ans, x, y: g * _tie_weight(y, x, y < x))),
    OpDef("clip", lambda x, low, high: np.clip(x, low, high).astype(x.dtype, copy=False), _clip_infer, arity=3,
          elementwise=True, examples=_clip_examples,
          doc="clip(x, low, high) = min(max(x, low), high), of x's dtype; x wins ties with a bound",
          jvp=(lambda x_dot, ans, x, lo, hi: wg.where(ans == x, x_dot, 0.0),
               lambda lo_dot, ans, x, lo, hi: wg.where(ans == x, 0.0, wg.where(ans == lo, lo_dot, 0.0)),
               lambda hi_dot, ans, x, lo, hi: wg.where((ans == x) | (ans == lo), 0.0, hi_dot)),
          vjp=(lambda g, ans, x, lo, hi: wg.where(ans == x, g, 0.0),
               lambda g, ans, x, lo, hi: wg.where(ans == x, 0.0, wg.where(ans == lo, g, 0.0)),
               lambda g, ans, x, lo, hi: wg.where((ans == x) | (ans == lo), 0.0, g))),
    OpDef("where", np.where, _where_infer, arity=3, elementwise=True,
          doc="where(cond, x, y): x where cond holds, else y", examples=_where_examples,
          jvp=(None, lambda x_dot, ans, c, x, y: wg.where(c, x_dot, 0.0),
               lambda y_dot, ans, c, x, y: wg.where(c, 0.0, y_dot)),
          vjp=(None, lambda g, ans, c, x, y: wg.where(c, g, 0.0),
               lambda g, ans, c, x, y: wg.where(c, 0.0, g))),
    # -- no derivative -------------------------------------------------------------------------
    OpDef("stop_gradient", lambda x: x, same_as_first, jvp=(None,), vjp=(None,), view=True,
          elementwise=True,
          doc="identity whose derivative is zero: blocks derivatives from flowing through"),
    OpDef("cast", lambda x, dtype: x.astype(_dtype(dtype)), _cast_infer,
          attrs=(Attr("dtype", "str", doc="the dtype to convert to: float64, float32, int64, int32 or bool "
                                          "(or DTYPE_FLOAT64, ...)"),),
          elementwise=True, doc="convert to `dtype`; derivatives flow between float dtypes only",
          examples=lambda rng: [Example((rng.normal(size=s),), {"dtype": "float64"}) for s in [(), (3, 4)]],
          jvp=(lambda x_dot, ans, x, dtype: wg.cast(x_dot, dtype) if ans.type.is_float else None,),
          vjp=(lambda g, ans, x, dtype: wg.cast(g, x.dtype) if x.type.is_float else None,)),
    _comparison("less", np.less),
    _comparison("less_equal", np.less_equal),
    _comparison("greater", np.greater),
    _comparison("greater_equal", np.greater_equal),
    _comparison("equal", np.equal),
    _comparison("not_equal", np.not_equal),
]
