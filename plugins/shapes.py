"""Shape and dtype rules shared by many ops (NumPy semantics; -1 is an open dimension)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from wengert.ir.graph import TensorType, shape_text
from wengert.plugins.opdef import ShapeError


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of `shapes`, where -1 (open) matches anything."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        known = dims - {1, -1}
        if len(known) > 1:
            shown = " and ".join(shape_text(s) for s in shapes)
            raise ShapeError(f"shapes {shown} cannot be broadcast together")
        out.append(known.pop() if known else (-1 if -1 in dims else 1))
    return tuple(out)


def result_dtype(*types: TensorType) -> str:
    return np.result_type(*(np.dtype(t.dtype) for t in types)).name


def same_as_first(x: TensorType, *rest: TensorType, **attrs) -> TensorType:
    """The output is shaped and typed like the first input."""
    return x


def broadcasting(*types: TensorType, **attrs) -> TensorType:
    """Elementwise op on broadcast inputs, dtype promoted as NumPy does."""
    return TensorType(result_dtype(*types), broadcast_shapes(*(t.shape for t in types)))


def arithmetic(*types: TensorType, **attrs) -> TensorType:
    """Elementwise arithmetic: `broadcasting`, but operands that are all bool are refused: on
    bools, + and * would be logic (use logical_or / logical_and, or cast to a number first)."""
    if all(t.dtype == "bool" for t in types):
        raise ShapeError("arithmetic needs numbers, got bool operands (use a logical op, or cast)")
    return broadcasting(*types)


def floating(*types: TensorType, **attrs) -> TensorType:
    """Elementwise math: like `broadcasting`, but integer and bool inputs give float64."""
    t = broadcasting(*types)
    return t if t.is_float else TensorType("float64", t.shape)


def comparison(x: TensorType, y: TensorType, **attrs) -> TensorType:
    return TensorType("bool", broadcast_shapes(x.shape, y.shape))


def normalize_axes(axis: Iterable[int] | None, ndim: int) -> tuple[int, ...]:
    """Axes as sorted non-negative ints (None means all); ShapeError when out of range."""
    if axis is None:
        return tuple(range(ndim))
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of bounds for {ndim} dimension(s)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {shape_text(axis)}")
    return tuple(sorted(out))


def reduced(x: TensorType, axis=None, keepdims: bool = False, **attrs) -> TensorType:
    """The type of a reduction of `x` over `axis` (None: all axes)."""
    axes = normalize_axes(axis, x.ndim)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else tuple(
        d for i, d in enumerate(x.shape) if i not in axes
    )
    return TensorType(x.dtype, shape)


def require_float(*types: TensorType) -> None:
    for t in types:
        if not t.is_float:
            raise ShapeError(f"needs a floating-point input, got {t.dtype}")


def same_dim(a: int, b: int) -> bool:
    """Two dimensions agree: equal, or either one open (-1)."""
    return a == b or -1 in (a, b)


def float_result(*types: TensorType) -> str:
    """The dtype of a float-valued op (linear algebra, mean, ...): integers and bools give float64."""
    return _floating(np.result_type(*(np.dtype(t.dtype) for t in types)))


def float_arrays(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays converted to the dtype `float_result` (and `floating`) gives their types: what
    a float-valued forward computes in. Left alone, NumPy computes bools in float16, some
    routines keep integers (`np.reciprocal`), and LAPACK takes a float32-bool mix as float64."""
    first = getattr(arrays[0], "dtype", None) if arrays else None
    if first in _FLOATS and all(type(a) is np.ndarray and a.dtype == first for a in arrays):
        return list(arrays)  # the common case, already in its float dtype: nothing to convert
    dtype = _floating(np.result_type(*(np.asarray(a).dtype for a in arrays)))
    return [np.asarray(a).astype(dtype, copy=False) for a in arrays]


_FLOATS = frozenset({np.dtype("float32"), np.dtype("float64")})


def _floating(dtype: np.dtype) -> str:
    return dtype.name if dtype.name in ("float32", "float64") else "float64"


# -- batching: helpers for `batched_forward`, whose arrays carry one leading batch axis --------
def batched_axes(axis: Iterable[int] | None, ndim: int) -> tuple[int, ...]:
    """`axis` of an unbatched operand of `ndim` dimensions, as axes of its batched array."""
    return tuple(a + 1 for a in normalize_axes(axis, ndim))


def batch_lift(x: np.ndarray, ndim: int) -> np.ndarray:
    """Batched `x` with size-1 axes inserted after the batch axis up to `ndim` dimensions, so
    its own axes broadcast right-aligned against another batched array's."""
    return x.reshape(x.shape[:1] + (1,) * (ndim - x.ndim) + x.shape[1:])


def broadcast_batch(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays with their batch axes (of size B or 1) broadcast to the common size B."""
    size = max(a.shape[0] for a in arrays)
    return [np.broadcast_to(a, (size,) + a.shape[1:]) for a in arrays]
