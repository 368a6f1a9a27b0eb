"""NumPy-named graph functions: `wg.sin(x)`, `wg.sum(x, axis=0)`, `wg.matmul(a, b)`, ...

Every function of the Python array API standard (2023.12) is here under its standard name and
signature, most also under NumPy's name (`wg.acos` is `wg.arccos`); the `linalg` extension is
`wg.linalg` (wengert.linalg). A function records one node, or a few for one composed of
others (`var`, `tile`, `roll`, ...); numbers and arrays become constants. The same functions
write the derivative rules of the builtin ops, and NumPy's own functions reach them through
the NumPy protocol (wengert.numpy_protocol: `np.sin(x)` on a symbolic value records a node).

Creation functions (`zeros`, `arange`, ...) return NumPy arrays, which become constants where
they are used; the `*_like` functions of a symbolic value return a symbolic value. Functions
whose output's shape depends on data (`nonzero`, `unique_*`) raise `DataDependentShape`.
Complex dtypes do not exist in wengert, so `conj` and `real` return their input and `imag`
zeros.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from wengert.errors import DataDependentShape
from wengert.indexing import getitem
from wengert.ir.builder import Value, apply, lift
from wengert.ir.graph import DTYPES, dtype_name

# The graph functions; the NumPy-protocol hooks stay out.
__all__ = [
    "op",
    # elementwise
    "neg", "negative", "positive", "add", "sub", "subtract", "mul", "multiply", "div", "divide",
    "power", "pow", "floor_divide", "remainder", "exp", "log", "log1p", "expm1", "log2", "log10",
    "logaddexp", "sqrt", "square", "reciprocal", "hypot", "sin", "cos", "tan", "sinh", "cosh",
    "tanh", "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "asin",
    "acos", "atan", "atan2", "asinh", "acosh", "atanh", "abs", "sign", "copysign", "signbit",
    "sigmoid", "relu", "softplus", "maximum", "minimum", "clip", "where", "stop_gradient", "cast",
    "astype", "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite", "conj", "real",
    "imag", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift",
    # reductions and statistics
    "sum", "mean", "prod", "max", "min", "var", "std", "all", "any", "logsumexp", "softmax",
    "log_softmax", "cumulative_sum",
    # searching and sorting
    "argmax", "argmin", "searchsorted", "sort", "argsort", "nonzero",
    # sets
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
    # linear algebra (the rest is wg.linalg)
    "matmul", "dot", "solve", "inv", "det", "cholesky", "tril", "triu",
    # shapes
    "transpose", "permute_dims", "reshape", "broadcast_to", "broadcast_arrays", "expand_dims",
    "squeeze", "concatenate", "concat", "stack", "unstack", "flip", "moveaxis", "roll", "repeat",
    "tile", "take", "take_along_axis", "scatter_slice", "scatter_add", "pad", "getitem",
    # creation
    "arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like",
    "linspace", "meshgrid", "ones", "ones_like", "zeros", "zeros_like",
    # data types
    "can_cast", "finfo", "iinfo", "isdtype", "result_type", "__array_namespace_info__",
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
def floor_divide(x, y): return apply("floor_divide", x, y)
def remainder(x, y): return apply("remainder", x, y)
def exp(x): return apply("exp", x)
def log(x): return apply("log", x)
def log1p(x): return apply("log1p", x)
def expm1(x): return apply("expm1", x)
def log2(x): return apply("log2", x)
def log10(x): return apply("log10", x)
def logaddexp(x, y): return apply("logaddexp", x, y)
def sqrt(x): return apply("sqrt", x)
def square(x): return apply("square", x)
def reciprocal(x): return apply("reciprocal", x)
def hypot(x, y): return apply("hypot", x, y)
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
def arcsinh(x): return apply("arcsinh", x)
def arccosh(x): return apply("arccosh", x)
def arctanh(x): return apply("arctanh", x)
def abs(x): return apply("abs", x)  # noqa: A001 - NumPy's name
def sign(x): return apply("sign", x)
def signbit(x): return apply("signbit", x)
def sigmoid(x): return apply("sigmoid", x)
def relu(x): return apply("relu", x)
def softplus(x): return apply("softplus", x)
def maximum(x, y): return apply("maximum", x, y)
def minimum(x, y): return apply("minimum", x, y)
def where(cond, x, y): return apply("where", cond, x, y)
def stop_gradient(x): return apply("stop_gradient", x)
def cast(x, dtype): return apply("cast", x, dtype=dtype_name(dtype))
def floor(x): return apply("floor", x)
def ceil(x): return apply("ceil", x)
def trunc(x): return apply("trunc", x)
def round(x): return apply("round", x)  # noqa: A001 - the standard's name
def isnan(x): return apply("isnan", x)
def isinf(x): return apply("isinf", x)
def isfinite(x): return apply("isfinite", x)
def less(x, y): return apply("less", x, y)
def less_equal(x, y): return apply("less_equal", x, y)
def greater(x, y): return apply("greater", x, y)
def greater_equal(x, y): return apply("greater_equal", x, y)
def equal(x, y): return apply("equal", x, y)
def not_equal(x, y): return apply("not_equal", x, y)
def logical_and(x, y): return apply("logical_and", x, y)
def logical_or(x, y): return apply("logical_or", x, y)
def logical_xor(x, y): return apply("logical_xor", x, y)
def logical_not(x): return apply("logical_not", x)
def bitwise_and(x, y): return apply("bitwise_and", x, y)
def bitwise_or(x, y): return apply("bitwise_or", x, y)
def bitwise_xor(x, y): return apply("bitwise_xor", x, y)
def bitwise_invert(x): return apply("bitwise_invert", x)
def bitwise_left_shift(x, y): return apply("bitwise_left_shift", x, y)
def bitwise_right_shift(x, y): return apply("bitwise_right_shift", x, y)


# The standard's names for the functions above.
negative, subtract, multiply, divide, pow = neg, sub, mul, div, power  # noqa: A001
asin, acos, atan, atan2, asinh, acosh, atanh = arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh


def positive(x):
    """+x: x itself."""
    return x


def astype(x, dtype, /, *, copy=True, device=None):
    """x converted to `dtype` (a node only when the dtype changes)."""
    return x if _dtype_of(x) == dtype_name(dtype) else cast(x, dtype)


def clip(x, /, min=None, max=None):  # noqa: A002 - the standard's names
    """x limited to [min, max] (either may be None, a number or an array), of x's dtype. Where
    x equals a bound the derivative goes to x."""
    if min is None and max is None:
        return x
    kind = np.dtype(_dtype_of(x))
    low, high = (np.iinfo(kind).min, np.iinfo(kind).max) if kind.kind in "iu" else (-math.inf, math.inf)
    return apply("clip", x, low if min is None else min, high if max is None else max)


def copysign(x1, x2):
    """|x1| with the sign of x2 (its sign bit: -0.0 counts as negative), a float."""
    magnitude = abs(_floating(x1))
    return where(signbit(x2), -magnitude, magnitude)


def conj(x):
    """The complex conjugate: x itself, as wengert's dtypes are real."""
    return x


def real(x):
    """The real part: x itself, as wengert's dtypes are real."""
    return x


def imag(x):
    """The imaginary part: zeros, as wengert's dtypes are real."""
    return zeros_like(x)


# -- reductions and statistics ----------------------------------------------------------------
def sum(x, axis=None, keepdims=False, *, dtype=None):  # noqa: A001
    return apply("sum", _accumulated(x, dtype), axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False, *, dtype=None):
    return apply("prod", _accumulated(x, dtype), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False): return apply("mean", x, axis=axis, keepdims=keepdims)
def max(x, axis=None, keepdims=False): return apply("max", x, axis=axis, keepdims=keepdims)  # noqa: A001
def min(x, axis=None, keepdims=False): return apply("min", x, axis=axis, keepdims=keepdims)  # noqa: A001
def all(x, axis=None, keepdims=False): return apply("all", x, axis=axis, keepdims=keepdims)  # noqa: A001
def any(x, axis=None, keepdims=False): return apply("any", x, axis=axis, keepdims=keepdims)  # noqa: A001
def logsumexp(x, axis=None, keepdims=False): return apply("logsumexp", x, axis=axis, keepdims=keepdims)
def softmax(x, axis=-1): return apply("softmax", x, axis=axis)
def log_softmax(x, axis=-1): return apply("log_softmax", x, axis=axis)


def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    """The variance over axes: the mean squared deviation, dividing by N - correction (1 gives
    the unbiased estimate; NumPy calls it ddof)."""
    x = _floating(x)
    count = int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)], dtype=np.int64))
    deviation = x - mean(x, axis, keepdims=True)
    return sum(deviation * deviation, axis, keepdims) / (count - correction)


def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    """The standard deviation, sqrt(var); its derivative is infinite where the variance is 0."""
    return sqrt(var(x, axis=axis, correction=correction, keepdims=keepdims))


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """Running sums along `axis` (optional for 1-D x), starting with 0 when `include_initial`."""
    if axis is None:
        if _ndim(x) != 1:
            raise ValueError(f"cumulative_sum needs an axis for an input of {_ndim(x)} dimensions")
        axis = 0
    return apply("cumulative_sum", _accumulated(x, dtype), axis=axis, include_initial=include_initial)


# -- searching and sorting ---------------------------------------------------------------------
def argmax(x, /, *, axis=None, keepdims=False): return apply("argmax", x, axis=axis, keepdims=keepdims)
def argmin(x, /, *, axis=None, keepdims=False): return apply("argmin", x, axis=axis, keepdims=keepdims)


def sort(x, /, *, axis=-1, descending=False, stable=True):
    """x sorted along `axis`; derivatives follow the entries (ties keep their order)."""
    return apply("sort", x, axis=axis, descending=descending, stable=stable)


def argsort(x, /, *, axis=-1, descending=False, stable=True):
    return apply("argsort", x, axis=axis, descending=descending, stable=stable)


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    """Where the entries of x2 would go into the sorted 1-D x1 (ordered by `sorter` if given)."""
    if sorter is not None:
        x1 = take(x1, sorter, axis=0)
    return apply("searchsorted", x1, x2, side=side)


def nonzero(x, /):
    raise data_dependent("nonzero", "wg.where(x != 0, x, 0), which keeps the shape")


# -- sets: every one has a data-dependent shape --------------------------------------------------
def unique_all(x, /): raise data_dependent("unique_all")
def unique_counts(x, /): raise data_dependent("unique_counts")
def unique_inverse(x, /): raise data_dependent("unique_inverse")
def unique_values(x, /): raise data_dependent("unique_values")


def data_dependent(name: str, instead: str = "") -> DataDependentShape:
    """The refusal of function `name`, whose result's shape would depend on data."""
    return DataDependentShape(
        f"{name}: its result's shape depends on the values of its input, and a wengert graph has "
        f"static shapes; compute it with NumPy on concrete arrays before tracing"
        + (f", or use {instead}" if instead else ""))


# -- linear algebra (the rest is wg.linalg) ------------------------------------------------------
def matmul(a, b): return apply("matmul", a, b)
def dot(a, b): return apply("dot", a, b)
def solve(a, b): return apply("solve", a, b)
def inv(a): return apply("inv", a)
def det(a): return apply("det", a)
def cholesky(a): return apply("cholesky", a)
def tril(x, /, k=0): return apply("tril", x, k=k)
def triu(x, /, k=0): return apply("triu", x, k=k)


# -- shapes ---------------------------------------------------------------------------------
def transpose(x, axes=None): return apply("transpose", x, axes=axes)
def permute_dims(x, /, axes): return apply("transpose", x, axes=axes)
def reshape(x, shape, *, copy=None): return apply("reshape", x, shape=_shape(shape))
def broadcast_to(x, shape): return apply("broadcast_to", x, shape=_shape(shape))
def expand_dims(x, axis=0): return apply("expand_dims", x, axis=axis)
def squeeze(x, axis=None): return apply("squeeze", x, axis=axis)
def concatenate(xs, axis=0): return apply("concatenate", *xs, axis=axis)
def stack(xs, axis=0): return apply("stack", *xs, axis=axis)
def flip(x, axis=None): return apply("flip", x, axis=axis)
def take(x, indices, axis=0): return apply("take", x, _indices(indices), axis=axis)


def concat(arrays, /, *, axis=0):
    """The arrays joined along `axis`; None joins them flattened."""
    if axis is None:
        return concatenate([reshape(a, -1) for a in arrays])
    return concatenate(arrays, axis)


def unstack(x, /, *, axis=0):
    """The slices of x along `axis`, as a tuple."""
    ax = axis % x.ndim
    return tuple(x[(slice(None),) * ax + (i,)] for i in range(x.shape[ax]))


def broadcast_arrays(*arrays):
    """The arrays broadcast to their common shape (views, recorded only where a shape grows)."""
    shape = np.broadcast_shapes(*(_shape_of(a) for a in arrays))
    return [a if _shape_of(a) == shape else broadcast_to(a, shape) for a in arrays]


def moveaxis(x, source, destination, /):
    """x with the axes `source` moved to positions `destination` (ints or sequences of them)."""
    ndim = x.ndim
    source = [s % ndim for s in np.atleast_1d(source).tolist()]
    destination = [d % ndim for d in np.atleast_1d(destination).tolist()]
    if len(source) != len(destination):
        raise ValueError("moveaxis needs as many destinations as sources")
    order = [a for a in range(ndim) if a not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return x if order == list(range(ndim)) else transpose(x, order)


def roll(x, /, shift, *, axis=None):
    """Entries shifted by `shift` along `axis` (None: along the flattened x), wrapping around:
    two slices joined, so the derivative is slices too."""
    if axis is None:
        return reshape(roll(reshape(x, -1), shift, axis=0), x.shape)
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
    for s, a in zip(shifts.tolist(), axes.tolist()):
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            head = (slice(None),) * (a % x.ndim)
            x = concatenate([x[head + (slice(n - s, None),)], x[head + (slice(0, n - s),)]], a)
    return x


def repeat(x, repeats, /, *, axis=None):
    """Each entry repeated `repeats` times (an int, or one count per entry, known at trace
    time) along `axis` (None: the flattened x)."""
    if isinstance(repeats, Value):
        raise data_dependent("repeat with symbolic repeats", "counts known when tracing (an int or a NumPy array)")
    if axis is None:
        x, axis = reshape(x, -1), 0
    n = x.shape[axis]
    return take(x, np.repeat(np.arange(n), repeats), axis=axis)


def tile(x, repetitions, /):
    """x repeated along each axis: one broadcast of x with an axis before each of its own."""
    reps = tuple(int(r) for r in np.atleast_1d(repetitions))
    ndim = builtins.max(len(reps), x.ndim)
    reps = (1,) * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
    spread = reshape(x, [d for s in shape for d in (1, s)])
    spread = broadcast_to(spread, [d for r, s in zip(reps, shape) for d in (r, s)])
    return reshape(spread, [r * s for r, s in zip(reps, shape)])


def take_along_axis(x, indices, /, *, axis=-1):
    """x[..., indices[..., i, ...], ...] along `axis`, the other axes matched (broadcast) with
    indices': one `take` of x's entries."""
    ax = axis % x.ndim
    key = tuple(indices if a == ax else np.arange(n).reshape((-1,) + (1,) * (x.ndim - a - 1))
                for a, n in enumerate(x.shape))
    return getitem(x, key)


# The transposes of `slice` and `take` (their VJPs), as ops of their own.
def scatter_slice(x, shape, starts, stops, steps):
    """Zeros of `shape` with `x` written into the slice (normalized bounds, one per axis)."""
    return apply("scatter_slice", x, shape=_shape(shape), starts=starts, stops=stops, steps=steps)


def scatter_add(updates, indices, axis, size):
    """Zeros with `updates` added at `indices` along `axis`, which has length `size`."""
    return apply("scatter_add", updates, _indices(indices), axis=axis, size=size)


def pad(x, pad_width, constant_values=0.0):
    """NumPy's `pad` in constant mode; `pad_width` as ((before, after), ...) per axis."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (_ndim(x), 2))
    return apply("pad", x, pad_width=widths.reshape(-1).tolist(), constant_value=float(constant_values))


# -- creation: constants, and constants shaped like a symbolic value ------------------------------
def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
    return np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype)


def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """A symbolic value as it is (converted to `dtype`), anything else as a NumPy array."""
    if isinstance(obj, Value):
        return obj if dtype is None else astype(obj, dtype)
    return np.array(obj, dtype=dtype, copy=True) if copy else np.asarray(obj, dtype=dtype)


def empty(shape, *, dtype=None, device=None):
    """Zeros: an empty array's entries are unspecified, and a graph's constants must not vary."""
    return np.zeros(shape, dtype=dtype)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    return np.eye(n_rows, n_cols, k=k, dtype=dtype)


def from_dlpack(x, /, *, device=None, copy=None):
    return np.from_dlpack(x)


def full(shape, fill_value, *, dtype=None, device=None):
    return np.full(shape, fill_value, dtype=dtype)


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True):
    return np.linspace(start, stop, num, dtype=dtype, endpoint=endpoint)


def ones(shape, *, dtype=None, device=None):
    return np.ones(shape, dtype=dtype)


def zeros(shape, *, dtype=None, device=None):
    return np.zeros(shape, dtype=dtype)


def full_like(x, /, fill_value, *, dtype=None, device=None):
    """`fill_value` everywhere, shaped like x: for a symbolic x one constant broadcast to its
    shape (the graph stays small, and no derivative flows from x)."""
    if not isinstance(x, Value):
        return np.full_like(x, fill_value, dtype=dtype)
    value = np.asarray(fill_value, dtype=dtype_name(dtype if dtype is not None else x.dtype))
    return broadcast_to(lift(x.builder, value), x.shape)


def empty_like(x, /, *, dtype=None, device=None): return full_like(x, 0, dtype=dtype)
def ones_like(x, /, *, dtype=None, device=None): return full_like(x, 1, dtype=dtype)
def zeros_like(x, /, *, dtype=None, device=None): return full_like(x, 0, dtype=dtype)


def meshgrid(*arrays, indexing="xy"):
    """Coordinate grids from 1-D arrays, as broadcasts of each ('xy': the first two axes
    swapped, as in NumPy)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"indexing must be 'xy' or 'ij', got {indexing!r}")
    sizes = [_shape_of(a)[0] for a in arrays]
    axes = list(range(len(arrays)))
    if indexing == "xy" and len(arrays) > 1:
        axes[0], axes[1] = 1, 0
    shape = [sizes[axes.index(a)] for a in range(len(arrays))]
    return [broadcast_to(reshape(a, [-1 if b == ax else 1 for b in range(len(arrays))]), shape)
            for a, ax in zip(arrays, axes)]


# -- data types --------------------------------------------------------------------------------
_KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
          "real floating": "f", "complex floating": "c", "numeric": "iufc"}


def can_cast(from_, to, /):
    return bool(np.can_cast(np.dtype(_dtype_of(from_)), np.dtype(to)))


def finfo(type, /):  # noqa: A002 - the standard's name
    return np.finfo(np.dtype(_dtype_of(type)))


def iinfo(type, /):  # noqa: A002
    return np.iinfo(np.dtype(_dtype_of(type)))


def isdtype(dtype, kind):
    """Whether `dtype` is of `kind`: a dtype, a kind name ('real floating', 'integral', ...) or
    a tuple of them."""
    dtype = np.dtype(dtype)
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"unknown dtype kind {kind!r}; use one of {', '.join(_KINDS)}")
        return dtype.kind in _KINDS[kind]
    return dtype == np.dtype(kind)


def result_type(*arrays_and_dtypes):
    return np.result_type(*(np.dtype(a.dtype) if isinstance(a, Value) else a for a in arrays_and_dtypes))


class NamespaceInfo:
    """What `__array_namespace_info__()` reports: wengert's capabilities, device and dtypes."""

    def capabilities(self) -> dict:
        return {"boolean indexing": False, "data-dependent shapes": False}

    def default_device(self) -> str:
        return "cpu"

    def devices(self) -> list[str]:
        return ["cpu"]

    def default_dtypes(self, *, device=None) -> dict:
        return {"real floating": np.dtype("float64"), "complex floating": None,
                "integral": np.dtype("int64"), "indexing": np.dtype("int64")}

    def dtypes(self, *, device=None, kind=None) -> dict:
        return {name: dtype for name, dtype in DTYPES.items() if kind is None or isdtype(dtype, kind)}


def __array_namespace_info__() -> NamespaceInfo:
    """The array API's inspection entry point."""
    return NamespaceInfo()


# -- helpers ----------------------------------------------------------------------------------
def _shape(shape) -> list[int]:
    if type(shape) is tuple or type(shape) is list:  # the usual case, checked first: np.ndim is slow
        return [int(d) for d in shape]
    return [int(shape)] if np.ndim(shape) == 0 else [int(d) for d in shape]


def _indices(indices):
    if isinstance(indices, Value):
        return indices
    return np.asarray(indices, dtype=np.int64)


def _dtype_of(x) -> str:
    """The wengert dtype name of a value, array or dtype."""
    if isinstance(x, Value):
        return x.dtype
    return dtype_name(x.dtype if isinstance(x, (np.ndarray, np.generic)) else x)


def _shape_of(x) -> tuple[int, ...]:
    return x.shape if isinstance(x, Value) else np.shape(x)


def _ndim(x) -> int:
    return len(_shape_of(x))


def _axes(axis, ndim: int) -> list[int]:
    if axis is None:
        return list(range(ndim))
    return [a % ndim for a in np.atleast_1d(axis).tolist()]


def _floating(x):
    """x, converted to float64 unless it is a float already (statistics of integers)."""
    return x if np.dtype(_dtype_of(x)).kind == "f" else cast(x, "float64")


def _accumulated(x, dtype):
    """x in the dtype a sum or product accumulates in (`dtype`, if given)."""
    return x if dtype is None else astype(x, dtype)
