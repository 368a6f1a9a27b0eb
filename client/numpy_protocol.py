"""NumPy's own functions on symbolic values: `np.sin(x)`, `np.linalg.det(x)`, `np.add.reduce(x)`.

A `Value` implements NumPy's `__array_ufunc__` and `__array_function__`, so NumPy hands these
calls here, and each records the nodes its wengert function records. Most NumPy functions map
to the wengert function of the same name; an adapter bridges NumPy's signature where it
differs from the array API's (`np.var(ddof=)`, `np.cumsum(axis=None)`, `np.trace(axis1=)`,
`np.linalg.eigh(UPLO=)`, ...). Arguments NumPy has and wengert lacks (`out=`, `where=`, ...)
are refused by name. A NumPy function wengert does not offer raises `UnsupportedFunction`
naming it and, where one exists, the wengert way to get the same; one whose result's shape
depends on data (`np.nonzero`, `np.unique`) raises `DataDependentShape`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from wengert import linalg as la
from wengert import numpy_api as wg
from wengert.errors import UnsupportedFunction
from wengert.ir.builder import Value

UFUNCS: dict[str, Callable] = {
    "negative": wg.neg, "positive": wg.positive, "add": wg.add, "subtract": wg.sub,
    "multiply": wg.mul, "true_divide": wg.div, "divide": wg.div, "floor_divide": wg.floor_divide,
    "remainder": wg.remainder, "power": wg.power, "exp": wg.exp, "expm1": wg.expm1, "log": wg.log,
    "log2": wg.log2, "log10": wg.log10, "log1p": wg.log1p, "logaddexp": wg.logaddexp,
    "sqrt": wg.sqrt, "square": wg.square, "reciprocal": wg.reciprocal, "hypot": wg.hypot,
    "sin": wg.sin, "cos": wg.cos, "tan": wg.tan, "arcsin": wg.arcsin, "arccos": wg.arccos,
    "arctan": wg.arctan, "arctan2": wg.arctan2, "sinh": wg.sinh, "cosh": wg.cosh, "tanh": wg.tanh,
    "arcsinh": wg.arcsinh, "arccosh": wg.arccosh, "arctanh": wg.arctanh, "absolute": wg.abs,
    "fabs": wg.abs, "sign": wg.sign, "copysign": wg.copysign, "signbit": wg.signbit,
    "floor": wg.floor, "ceil": wg.ceil, "trunc": wg.trunc, "rint": wg.round, "isnan": wg.isnan,
    "isinf": wg.isinf, "isfinite": wg.isfinite, "conjugate": wg.conj, "maximum": wg.maximum,
    "minimum": wg.minimum, "less": wg.less, "less_equal": wg.less_equal, "greater": wg.greater,
    "greater_equal": wg.greater_equal, "equal": wg.equal, "not_equal": wg.not_equal,
    "logical_and": wg.logical_and, "logical_or": wg.logical_or, "logical_xor": wg.logical_xor,
    "logical_not": wg.logical_not, "bitwise_and": wg.bitwise_and, "bitwise_or": wg.bitwise_or,
    "bitwise_xor": wg.bitwise_xor, "invert": wg.bitwise_invert, "left_shift": wg.bitwise_left_shift,
    "right_shift": wg.bitwise_right_shift, "matmul": wg.matmul,
    "vecdot": lambda x1, x2, axis=-1: la.vecdot(x1, x2, axis=axis),
}
# ufunc.reduce: the reduction each one is (and add.accumulate is cumulative_sum).
REDUCE = {"add": wg.sum, "multiply": wg.prod, "maximum": wg.max, "minimum": wg.min,
          "logical_and": wg.all, "logical_or": wg.any}


def array_ufunc(ufunc, method: str, *inputs, **kwargs):
    name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method == "__call__" and ufunc.__name__ in UFUNCS:
        _refuse_arguments(name, kwargs, allowed=("axis",) if ufunc.__name__ == "vecdot" else ())
        return UFUNCS[ufunc.__name__](*inputs, **kwargs)
    if method == "reduce" and ufunc.__name__ in REDUCE:
        return _reduce(name, REDUCE[ufunc.__name__], *inputs, **kwargs)
    if method == "accumulate" and ufunc.__name__ == "add":
        x, axis = inputs[0], kwargs.pop("axis", 0)
        _refuse_arguments(name, kwargs, allowed=("dtype",))
        return wg.cumulative_sum(x, axis=axis, dtype=kwargs.get("dtype"))
    raise _unsupported(name)


def _reduce(name, reduction, x, axis=0, dtype=None, out=None, keepdims=False, **rest):
    _refuse_arguments(name, {"out": out, **rest})
    return reduction(wg.astype(x, dtype) if dtype is not None else x, axis, keepdims)


def array_function(func, args, kwargs):
    name = f"{func.__module__}.{func.__name__}"
    adapter = FUNCTIONS.get(name)
    if adapter is None:
        raise _unsupported(name)
    return adapter(*args, **kwargs)


# -- adapters: NumPy's signatures onto the graph functions --------------------------------------
def _refuse_arguments(name: str, given: dict, allowed: tuple[str, ...] = ()) -> None:
    """NumPy arguments wengert has no use for, when given a value (out=, where=, order=, ...)."""
    refused = sorted(k for k, v in given.items() if k not in allowed and v is not None)
    if refused:
        why = ("symbolic values are immutable: use the returned value" if "out" in refused else
               "wengert does not offer it")
        raise UnsupportedFunction(f"{name}: argument(s) {', '.join(refused)} not supported on "
                                  f"symbolic values ({why})")


def _reduction(reduction, *, has_dtype=True):
    """np.sum / np.max / np.all style: (a, axis, [dtype,] out, keepdims, initial, where)."""
    names = (["dtype"] if has_dtype else []) + ["out", "keepdims", "initial", "where"]

    def adapter(a, axis=None, *args, **kwargs):
        given = dict(zip(names, args), **kwargs)
        keepdims = bool(given.pop("keepdims", False))
        dtype = given.pop("dtype", None)
        _refuse_arguments(f"numpy.{reduction.__name__}", given)
        x = wg.astype(a, dtype) if dtype is not None else a
        return reduction(x, axis, keepdims)
    return adapter


def _moments(function):
    """np.var / np.std: ddof (or correction) is the array API's correction."""
    def adapter(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
                correction=None):
        _refuse_arguments(f"numpy.{function.__name__}", {"out": out, "where": where, "mean": mean})
        x = wg.astype(a, dtype) if dtype is not None else a
        return function(x, axis=axis, correction=ddof if correction is None else correction,
                        keepdims=keepdims)
    return adapter


def _flattened(a, axis):
    """NumPy's axis=None: the flattened input along axis 0."""
    return (wg.reshape(a, -1), 0) if axis is None else (a, axis)


def _cumsum(a, axis=None, dtype=None, out=None):
    _refuse_arguments("numpy.cumsum", {"out": out})
    x, axis = _flattened(a, axis)
    return wg.cumulative_sum(x, axis=axis, dtype=dtype)


def _cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    _refuse_arguments("numpy.cumulative_sum", {"out": out})
    return wg.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)


def _arg_extreme(function):
    def adapter(a, axis=None, out=None, *, keepdims=False):
        _refuse_arguments(f"numpy.{function.__name__}", {"out": out})
        return function(a, axis=axis, keepdims=keepdims)
    return adapter


def _ordering(function):
    """np.sort / np.argsort: axis None sorts the flattened input; any kind is done stably."""
    def adapter(a, axis=-1, kind=None, order=None, *, stable=None):
        _refuse_arguments(f"numpy.{function.__name__}", {"order": order})
        x, axis = _flattened(a, axis)
        return function(x, axis=axis)
    return adapter


def _where(condition, x=None, y=None):
    if x is None and y is None:
        raise wg.data_dependent("numpy.where with one argument", "wg.where(condition, x, y)")
    return wg.where(condition, x, y)


def _refused(name: str, instead: str):
    """The adapter of a function whose result's shape depends on data: it raises."""
    def refuse(*args, **kwargs):
        raise wg.data_dependent(name, instead)
    return refuse


def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):  # noqa: A002
    _refuse_arguments("numpy.clip", {"out": out, **kwargs})
    return wg.clip(a, a_min if a_min is not None else min, a_max if a_max is not None else max)


def _round(a, decimals=0, out=None):
    _refuse_arguments("numpy.round", {"out": out})
    if decimals == 0:
        return wg.round(a)
    scale = 10.0 ** decimals
    return wg.round(a * scale) / scale


def _moved(a, axis1, axis2):
    """a with axes axis1 and axis2 last, where the array API's matrix functions look."""
    return wg.moveaxis(a, (axis1, axis2), (-2, -1))


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _refuse_arguments("numpy.trace", {"out": out})
    return la.trace(_moved(a, axis1, axis2), offset=offset, dtype=dtype)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    return la.diagonal(_moved(a, axis1, axis2), offset=offset)


def _outer(a, b, out=None):
    _refuse_arguments("numpy.outer", {"out": out})
    return la.outer(wg.reshape(a, -1), wg.reshape(b, -1))


def _einsum(*operands, out=None, optimize=None, dtype=None, order=None, casting=None):
    _refuse_arguments("numpy.einsum", {"out": out, "dtype": dtype, "order": order, "casting": casting})
    if not isinstance(operands[0], str):
        raise UnsupportedFunction("numpy.einsum: give the subscripts as a string (the sublist form "
                                  "is not supported)")
    return la.einsum(*operands)


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is None and (axisa, axisb, axisc) != (-1, -1, -1):
        raise UnsupportedFunction("numpy.cross: separate axisa, axisb, axisc are not supported; "
                                  "use axis")
    return la.cross(a, b, axis=-1 if axis is None else axis)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise UnsupportedFunction(f"numpy.reshape: order={order!r} is not supported (C order only)")
    return wg.reshape(a, shape if shape is not None else newshape)


def _take(a, indices, axis=None, out=None, mode=None):
    _refuse_arguments("numpy.take", {"out": out, "mode": mode})
    x, axis = _flattened(a, axis)
    return wg.take(x, indices, axis=axis)


def _pad(array, pad_width, mode="constant", constant_values=0.0):
    if mode != "constant" or np.ndim(constant_values):
        raise UnsupportedFunction("numpy.pad: only mode='constant' with one constant value is supported")
    return wg.pad(array, pad_width, constant_values)


def _like(function):
    def adapter(a, *args, dtype=None, order=None, subok=None, shape=None, device=None):
        _refuse_arguments(f"numpy.{function.__name__}", {"order": order if order != "K" else None,
                                                          "shape": shape})
        return function(a, *args, dtype=dtype)
    return adapter


def _linalg_eigh(a, UPLO="L"):  # noqa: N803 - NumPy's name
    return la.eigh(a if UPLO == "L" else la.matrix_transpose(a))


def _linalg_eigvalsh(a, UPLO="L"):  # noqa: N803
    return la.eigvalsh(a if UPLO == "L" else la.matrix_transpose(a))


def _linalg_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    return la.svd(a, full_matrices=full_matrices) if compute_uv else la.svdvals(a)


def _linalg_qr(a, mode="reduced"):
    if mode == "r":
        return la.qr(a).R
    if mode not in ("reduced", "complete"):
        raise UnsupportedFunction(f"numpy.linalg.qr: mode={mode!r} is not supported; use "
                                  f"'reduced', 'complete' or 'r'")
    return la.qr(a, mode=mode)


def _linalg_pinv(a, rcond=None, hermitian=False, *, rtol=None):
    return la.pinv(a, rtol=rcond if rcond is not None else rtol)


def _linalg_matrix_rank(A, tol=None, hermitian=False, *, rtol=None):  # noqa: N803
    if tol is None:
        return la.matrix_rank(A, rtol=rtol)
    return wg.sum(la.svdvals(A) > tol, axis=-1)


def _multi_dot(arrays, *, out=None):
    _refuse_arguments("numpy.linalg.multi_dot", {"out": out})
    result = arrays[0]
    for a in arrays[1:]:
        result = wg.matmul(result, a)
    return result


def _swapaxes(a, axis1, axis2):
    order = list(range(a.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return wg.transpose(a, order)


def _joined(function):
    """np.concatenate / np.stack: (arrays, axis, out, dtype, casting)."""
    def adapter(arrays, axis=0, out=None, *, dtype=None, casting=None):
        _refuse_arguments(f"numpy.{function.__name__}", {"out": out, "dtype": dtype})
        return function(arrays, axis=axis)
    return adapter


def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if sparse:
        raise UnsupportedFunction("numpy.meshgrid: sparse=True is not supported; broadcasting "
                                  "does the same")
    return wg.meshgrid(*xi, indexing=indexing)


def _shape(a):
    return tuple(a.shape)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # reductions and statistics
    "numpy.sum": _reduction(wg.sum), "numpy.prod": _reduction(wg.prod),
    "numpy.mean": _reduction(wg.mean), "numpy.max": _reduction(wg.max, has_dtype=False),
    "numpy.amax": _reduction(wg.max, has_dtype=False), "numpy.min": _reduction(wg.min, has_dtype=False),
    "numpy.amin": _reduction(wg.min, has_dtype=False), "numpy.all": _reduction(wg.all, has_dtype=False),
    "numpy.any": _reduction(wg.any, has_dtype=False), "numpy.var": _moments(wg.var),
    "numpy.std": _moments(wg.std), "numpy.cumsum": _cumsum, "numpy.cumulative_sum": _cumulative_sum,
    # searching and sorting
    "numpy.argmax": _arg_extreme(wg.argmax), "numpy.argmin": _arg_extreme(wg.argmin),
    "numpy.sort": _ordering(wg.sort), "numpy.argsort": _ordering(wg.argsort),
    "numpy.searchsorted": lambda a, v, side="left", sorter=None: wg.searchsorted(a, v, side=side, sorter=sorter),
    "numpy.where": _where,
    **{f"numpy.{name}": _refused(f"numpy.{name}", instead) for name, instead in [
        ("nonzero", "wg.where(x != 0, x, 0), which keeps the shape"), ("argwhere", ""),
        ("flatnonzero", ""), ("unique", ""), ("unique_values", ""), ("unique_counts", ""),
        ("unique_inverse", ""), ("unique_all", ""), ("compress", "wg.where with a mask"),
        ("extract", "wg.where with a mask"), ("trim_zeros", ""), ("intersect1d", ""), ("union1d", ""),
        ("setdiff1d", ""), ("setxor1d", "")]},
    # elementwise functions that are not ufuncs
    "numpy.clip": _clip, "numpy.round": _round, "numpy.around": _round, "numpy.real": wg.real,
    "numpy.imag": wg.imag, "numpy.astype": lambda x, dtype, /, *, copy=True, device=None: wg.astype(x, dtype),
    # linear algebra
    "numpy.dot": wg.dot, "numpy.outer": _outer, "numpy.tensordot": lambda a, b, axes=2: la.tensordot(a, b, axes=axes),
    "numpy.einsum": _einsum, "numpy.cross": _cross, "numpy.trace": _trace, "numpy.diagonal": _diagonal,
    "numpy.tril": lambda m, k=0: wg.tril(m, k=k), "numpy.triu": lambda m, k=0: wg.triu(m, k=k),
    "numpy.matrix_transpose": la.matrix_transpose,
    "numpy.linalg.norm": la.norm, "numpy.linalg.inv": wg.inv, "numpy.linalg.det": wg.det,
    "numpy.linalg.solve": wg.solve, "numpy.linalg.cholesky": la.cholesky, "numpy.linalg.eigh": _linalg_eigh,
    "numpy.linalg.eigvalsh": _linalg_eigvalsh, "numpy.linalg.svd": _linalg_svd,
    "numpy.linalg.svdvals": la.svdvals, "numpy.linalg.qr": _linalg_qr, "numpy.linalg.slogdet": la.slogdet,
    "numpy.linalg.pinv": _linalg_pinv, "numpy.linalg.matrix_rank": _linalg_matrix_rank,
    "numpy.linalg.matrix_power": la.matrix_power, "numpy.linalg.matrix_norm": la.matrix_norm,
    "numpy.linalg.vector_norm": la.vector_norm, "numpy.linalg.vecdot": la.vecdot,
    "numpy.linalg.cross": la.cross, "numpy.linalg.outer": la.outer, "numpy.linalg.diagonal": la.diagonal,
    "numpy.linalg.trace": la.trace, "numpy.linalg.matrix_transpose": la.matrix_transpose,
    "numpy.linalg.matmul": wg.matmul, "numpy.linalg.tensordot": la.tensordot,
    "numpy.linalg.multi_dot": _multi_dot,
    # shapes
    "numpy.transpose": lambda a, axes=None: wg.transpose(a, axes),
    "numpy.permute_dims": lambda a, axes=None: wg.transpose(a, axes),
    "numpy.moveaxis": wg.moveaxis, "numpy.swapaxes": _swapaxes,
    "numpy.reshape": _reshape, "numpy.ravel": lambda a, order="C": _reshape(a, -1, order),
    "numpy.broadcast_to": lambda array, shape, subok=False: wg.broadcast_to(array, shape),
    "numpy.broadcast_arrays": lambda *args, subok=False: wg.broadcast_arrays(*args),
    "numpy.expand_dims": wg.expand_dims, "numpy.squeeze": lambda a, axis=None: wg.squeeze(a, axis),
    "numpy.concatenate": _joined(wg.concat), "numpy.concat": _joined(wg.concat),
    "numpy.stack": _joined(wg.stack),
    "numpy.unstack": wg.unstack, "numpy.flip": lambda m, axis=None: wg.flip(m, axis),
    "numpy.roll": lambda a, shift, axis=None: wg.roll(a, shift, axis=axis),
    "numpy.repeat": lambda a, repeats, axis=None: wg.repeat(a, repeats, axis=axis),
    "numpy.tile": wg.tile, "numpy.take": _take, "numpy.pad": _pad,
    "numpy.take_along_axis": lambda arr, indices, axis=-1: wg.take_along_axis(arr, indices, axis=axis),
    "numpy.meshgrid": _meshgrid,
    # creation from a symbolic value, and what it is
    "numpy.zeros_like": _like(wg.zeros_like), "numpy.ones_like": _like(wg.ones_like),
    "numpy.empty_like": _like(wg.empty_like), "numpy.full_like": _like(wg.full_like),
    "numpy.copy": lambda a, order="K", subok=False: a, "numpy.shape": _shape,
    "numpy.ndim": lambda a: a.ndim, "numpy.size": lambda a, axis=None: a.size if axis is None else a.shape[axis],
    "numpy.result_type": wg.result_type, "numpy.can_cast": lambda from_, to, casting="safe": wg.can_cast(from_, to),
}


# -- what to use instead ---------------------------------------------------------------------
EQUIVALENTS = {
    "numpy.fmax": "wg.maximum (which propagates NaN)",
    "numpy.fmin": "wg.minimum (which propagates NaN)",
    "numpy.fmod": "wg.remainder (which takes the divisor's sign)",
    "numpy.exp2": "2.0 ** x",
    "numpy.cbrt": "wg.sign(x) * wg.abs(x) ** (1 / 3)",
    "numpy.deg2rad": "x * (np.pi / 180)", "numpy.radians": "x * (np.pi / 180)",
    "numpy.rad2deg": "x * (180 / np.pi)", "numpy.degrees": "x * (180 / np.pi)",
    "numpy.hstack": "wg.concat(xs, axis=-1)",
    "numpy.vstack": "wg.concat(xs, axis=0) (wg.stack for vectors)",
    "numpy.column_stack": "wg.stack(xs, axis=-1)",
    "numpy.cumprod": "wg.exp(wg.cumulative_sum(wg.log(x), axis=...)) for positive x",
    "numpy.diff": "x[1:] - x[:-1]",
    "numpy.average": "wg.sum(w * x) / wg.sum(w)",
    "numpy.median": "wg.sort and indexing the middle",
    "numpy.quantile": "wg.sort and indexing", "numpy.percentile": "wg.sort and indexing",
    "numpy.ptp": "wg.max(x) - wg.min(x)",
    "numpy.isclose": "wg.abs(a - b) <= atol + rtol * wg.abs(b)",
    "numpy.allclose": "wg.all(wg.abs(a - b) <= atol + rtol * wg.abs(b))",
    "numpy.nansum": "wg.sum(wg.where(wg.isnan(x), 0.0, x))",
    "numpy.nanmean": "wg.sum(wg.where(wg.isnan(x), 0.0, x)) / wg.sum(~wg.isnan(x))",
    "numpy.inner": "wg.linalg.vecdot (vectors) or wg.linalg.tensordot",
    "numpy.vdot": "wg.sum(a * b)",
    "numpy.kron": "wg.einsum('ij,kl->ikjl', a, b) reshaped",
    "numpy.partition": "wg.sort", "numpy.argpartition": "wg.argsort",
    "numpy.atleast_1d": "wg.reshape", "numpy.atleast_2d": "wg.reshape",
    "numpy.linalg.eig": "wg.linalg.eigh, for symmetric matrices",
    "numpy.linalg.eigvals": "wg.linalg.eigvalsh, for symmetric matrices",
    "numpy.linalg.lstsq": "wg.linalg.pinv(a) @ b",
    "numpy.linalg.cond": "wg.linalg.matrix_norm(x) * wg.linalg.matrix_norm(wg.linalg.inv(x))",
    "numpy.add.outer": "wg.linalg.outer, or broadcasting with wg.expand_dims",
    "numpy.multiply.outer": "wg.linalg.outer, or broadcasting with wg.expand_dims",
    "numpy.multiply.accumulate": "wg.exp(wg.cumulative_sum(wg.log(x), axis=...)) for positive x",
}


def _unsupported(name: str) -> UnsupportedFunction:
    instead = EQUIVALENTS.get(name)
    message = f"{name} is not offered by wengert on symbolic values"
    if instead is None:
        return UnsupportedFunction(message + " (it offers the array API standard: the functions of "
                                             "wengert.numpy_api.__all__ and wengert.linalg.__all__)")
    return UnsupportedFunction(f"{message}; use {instead}")
