"""NumPy-named graph functions: `wg.sin(x)`, `wg.sum(x, axis=0)`, `wg.matmul(a, b)`, ...

Each records one node (numbers and arrays become constants). The same functions write the
derivative rules of the builtin ops, and NumPy's own functions dispatch here through the
NumPy protocol (`np.sin(x)` on a symbolic value records a `sin` node).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wengert.indexing import getitem
from wengert.ir.builder import Value, apply
from wengert.ir.graph import dtype_name

# The graph functions; the NumPy-protocol hooks (array_ufunc, array_function) stay out.
__all__ = [
    "op",
    # elementwise
    "neg", "add", "sub", "mul", "div", "power", "exp", "log", "log1p", "expm1", "sqrt",
    "square", "reciprocal", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
    "arctan", "arctan2", "abs", "sign", "sigmoid", "relu", "softplus", "maximum", "minimum",
    "where", "stop_gradient", "cast", "less", "less_equal", "greater", "greater_equal",
    "equal", "not_equal",
    # reductions
    "sum", "mean", "prod", "max", "min", "logsumexp", "softmax", "log_softmax",
    # linear algebra
    "matmul", "dot", "solve", "inv", "det", "cholesky",
    # shapes
    "transpose", "reshape", "broadcast_to", "expand_dims", "squeeze", "concatenate", "stack",
    "flip", "take", "scatter_slice", "scatter_add", "pad", "getitem",
]


def op(name: str, *args: Any, **attrs: Any) -> Value:
    """Apply any op the registry knows, plugin ops included: `wg.op("huber", x, delta=1.0)`."""
    return apply(name, *args, **attrs)


# -- elementwise ----------------------------------------------------------------------------
def neg(x): return apply("neg", x)
def add(x, y): return apply("add", x, y)
def sub(x, y): return apply("sub", x, y)
def mul(x, y): return apply("mul", x, y)
def div(x, y): return apply("div", x, y)
def power(x, y): return apply("pow", x, y)
def exp(x): return apply("exp", x)
def log(x): return apply("log", x)
def log1p(x): return apply("log1p", x)
def expm1(x): return apply("expm1", x)
def sqrt(x): return apply("sqrt", x)
def square(x): return apply("square", x)
def reciprocal(x): return apply("reciprocal", x)
def sin(x): return apply("sin", x)
def cos(x): return apply("cos", x)
def tan(x): return apply("tan", x)
def sinh(x): return apply("sinh", x)
def cosh(x): return apply("cosh", x)
def tanh(x): return apply("tanh", x)
def arcsin(x): return apply("arcsin", x)
def arccos(x): return apply("arccos", x)
def arctan(x): return apply("arctan", x)
def arctan2(y, x): return apply("arctan2", y, x)
def abs(x): return apply("abs", x)  # noqa: A001 - NumPy's name
def sign(x): return apply("sign", x)
def sigmoid(x): return apply("sigmoid", x)
def relu(x): return apply("relu", x)
def softplus(x): return apply("softplus", x)
def maximum(x, y): return apply("maximum", x, y)
def minimum(x, y): return apply("minimum", x, y)
def where(cond, x, y): return apply("where", cond, x, y)
def stop_gradient(x): return apply("stop_gradient", x)
def cast(x, dtype): return apply("cast", x, dtype=dtype_name(dtype))
def less(x, y): return apply("less", x, y)
def less_equal(x, y): return apply("less_equal", x, y)
def greater(x, y): return apply("greater", x, y)
def greater_equal(x, y): return apply("greater_equal", x, y)
def equal(x, y): return apply("equal", x, y)
def not_equal(x, y): return apply("not_equal", x, y)


# -- reductions -----------------------------------------------------------------------------
def sum(x, axis=None, keepdims=False): return apply("sum", x, axis=axis, keepdims=keepdims)  # noqa: A001
def mean(x, axis=None, keepdims=False): return apply("mean", x, axis=axis, keepdims=keepdims)
def prod(x, axis=None, keepdims=False): return apply("prod", x, axis=axis, keepdims=keepdims)
def max(x, axis=None, keepdims=False): return apply("max", x, axis=axis, keepdims=keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return apply("min", x, axis=axis, keepdims=keepdims)  # noqa: A001
def logsumexp(x, axis=None, keepdims=False): return apply("logsumexp", x, axis=axis, keepdims=keepdims)
def softmax(x, axis=-1): return apply("softmax", x, axis=axis)
def log_softmax(x, axis=-1): return apply("log_softmax", x, axis=axis)


# -- linear algebra -------------------------------------------------------------------------
def matmul(a, b): return apply("matmul", a, b)
def dot(a, b): return apply("dot", a, b)
def solve(a, b): return apply("solve", a, b)
def inv(a): return apply("inv", a)
def det(a): return apply("det", a)
def cholesky(a): return apply("cholesky", a)


# -- shapes ---------------------------------------------------------------------------------
def transpose(x, axes=None): return apply("transpose", x, axes=axes)
def reshape(x, shape): return apply("reshape", x, shape=_shape(shape))
def broadcast_to(x, shape): return apply("broadcast_to", x, shape=_shape(shape))
def expand_dims(x, axis): return apply("expand_dims", x, axis=axis)
def squeeze(x, axis=None): return apply("squeeze", x, axis=axis)
def concatenate(xs, axis=0): return apply("concatenate", *xs, axis=axis)
def stack(xs, axis=0): return apply("stack", *xs, axis=axis)
def flip(x, axis=None): return apply("flip", x, axis=axis)
def take(x, indices, axis=0): return apply("take", x, _indices(indices), axis=axis)


# The transposes of `slice` and `take` (their VJPs), as ops of their own.
def scatter_slice(x, shape, starts, stops, steps):
    """Zeros of `shape` with `x` written into the slice (normalized bounds, one per axis)."""
    return apply("scatter_slice", x, shape=_shape(shape), starts=starts, stops=stops, steps=steps)


def scatter_add(updates, indices, axis, size):
    """Zeros with `updates` added at `indices` along `axis`, which has length `size`."""
    return apply("scatter_add", updates, _indices(indices), axis=axis, size=size)


def pad(x, pad_width, constant_values=0.0):
    """NumPy's `pad` in constant mode; `pad_width` as ((before, after), ...) per axis."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (np.ndim(x) if not isinstance(x, Value) else x.ndim, 2))
    return apply("pad", x, pad_width=widths.reshape(-1).tolist(), constant_value=float(constant_values))


def _shape(shape) -> list[int]:
    return [int(shape)] if np.ndim(shape) == 0 else [int(d) for d in shape]


def _indices(indices):
    if isinstance(indices, Value):
        return indices
    return np.asarray(indices, dtype=np.int64)


# -- the NumPy protocol ----------------------------------------------------------------------
_UFUNCS = {
    "negative": neg, "add": add, "subtract": sub, "multiply": mul, "true_divide": div,
    "divide": div, "power": power, "exp": exp, "log": log, "log1p": log1p, "expm1": expm1,
    "sqrt": sqrt, "square": square, "reciprocal": reciprocal, "sin": sin, "cos": cos,
    "tan": tan, "sinh": sinh, "cosh": cosh, "tanh": tanh, "arcsin": arcsin,
    "arccos": arccos, "arctan": arctan, "arctan2": arctan2, "absolute": abs, "sign": sign,
    "maximum": maximum, "minimum": minimum, "less": less, "less_equal": less_equal,
    "greater": greater, "greater_equal": greater_equal, "equal": equal,
    "not_equal": not_equal, "matmul": matmul,
}


def array_ufunc(ufunc, method, *inputs, **kwargs):
    fn = _UFUNCS.get(ufunc.__name__)
    if method != "__call__" or fn is None or kwargs:
        return NotImplemented
    return fn(*inputs)


_FUNCTIONS = {
    "sum", "mean", "prod", "max", "min", "amax", "amin", "dot", "matmul", "transpose",
    "reshape", "broadcast_to", "expand_dims", "squeeze", "concatenate", "stack", "flip",
    "take", "pad", "where", "maximum", "minimum", "abs", "exp", "log", "sin", "cos", "tanh",
}


def array_function(func, args, kwargs):
    name = {"amax": "max", "amin": "min"}.get(func.__name__, func.__name__)
    if func.__name__ not in _FUNCTIONS:
        return NotImplemented
    return globals()[name](*args, **kwargs)
