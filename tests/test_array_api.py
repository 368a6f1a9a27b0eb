"""The Python array API standard (2023.12) on symbolic values.

`STANDARD` lists every function of the standard and of its `linalg` extension, from the
specification. Each has a case in `CASES` (values against NumPy on random inputs, and, where
the function is differentiable, its traced graph through the derivative checker: JVP against
central differences, VJP against JVP, batched against stacked) or in `METADATA` (functions of
dtypes and the namespace), or it is one of `REFUSED`, whose result's shape depends on data,
and must raise `DataDependentShape` naming it. `test_coverage_of_the_standard` counts them
and leaves the count in the test summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import wengert as wg
from conftest import SUMMARY
from wengert.execution.engine import Engine
from wengert.plugins.checker import check_graph
from wengert.plugins.registry import default_registry

# -- the standard, 2023.12 (https://data-apis.org/array-api/2023.12/API_specification) ---------
STANDARD = {
    "creation": ["arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full",
                 "full_like", "linspace", "meshgrid", "ones", "ones_like", "tril", "triu", "zeros",
                 "zeros_like"],
    "data type": ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"],
    "elementwise": [
        "abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and",
        "bitwise_left_shift", "bitwise_invert", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
        "ceil", "clip", "conj", "copysign", "cos", "cosh", "divide", "equal", "exp", "expm1",
        "floor", "floor_divide", "greater", "greater_equal", "hypot", "imag", "isfinite", "isinf",
        "isnan", "less", "less_equal", "log", "log1p", "log2", "log10", "logaddexp", "logical_and",
        "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "multiply", "negative",
        "not_equal", "positive", "pow", "real", "remainder", "round", "sign", "signbit", "sin",
        "sinh", "square", "sqrt", "subtract", "tan", "tanh", "trunc"],
    "indexing": ["take"],
    "inspection": ["__array_namespace_info__"],
    "linear algebra": ["matmul", "matrix_transpose", "tensordot", "vecdot"],
    "manipulation": ["broadcast_arrays", "broadcast_to", "concat", "expand_dims", "flip", "moveaxis",
                     "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile", "unstack"],
    "searching": ["argmax", "argmin", "nonzero", "searchsorted", "where"],
    "set": ["unique_all", "unique_counts", "unique_inverse", "unique_values"],
    "sorting": ["argsort", "sort"],
    "statistical": ["cumulative_sum", "max", "mean", "min", "prod", "std", "sum", "var"],
    "utility": ["all", "any"],
    "linalg extension": [f"linalg.{name}" for name in [
        "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
        "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve",
        "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm"]],
    "beyond the standard": ["einsum"],
}
REFUSED = {"nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values"}


# -- inputs ------------------------------------------------------------------------------------
def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def uniform(low, high, *shape):
    return lambda rng: rng.uniform(low, high, size=shape)


def ints(low, high, *shape):
    return lambda rng: rng.integers(low, high, size=shape)


def bools(*shape):
    return lambda rng: rng.integers(0, 2, size=shape).astype(bool)


def halves(*shape):
    """Multiples of 1/2, so rounding meets its ties and comparisons their equal entries."""
    return lambda rng: rng.integers(-6, 7, size=shape) / 2.0


def special(*shape):
    """Normal numbers with a NaN, infinities and a -0.0 among them."""
    def make(rng):
        x = rng.standard_normal(shape).reshape(-1)
        x[:4] = [np.nan, np.inf, -np.inf, -0.0]
        return x.reshape(shape)
    return make


def fixed(value):
    return lambda rng: np.asarray(value)


def invertible(*shape):
    return lambda rng: rng.standard_normal(shape) + 3 * np.eye(shape[-1])


def spd(*shape):
    def make(rng):
        a = rng.standard_normal(shape)
        return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
    return make


def separated(*shape):
    """Matrices with distinct singular values 1, 2, 3, ... (plus noise), or symmetric ones
    (square shapes) with eigenvalues 1.5 apart: where eigh and svd are differentiable."""
    def make(rng):
        m, n = shape[-2:]
        k = min(m, n)
        u, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, k)))
        v = u if m == n else np.linalg.qr(rng.standard_normal(shape[:-2] + (n, k)))[0]
        s = np.arange(1, k + 1) * 1.5 - k + rng.uniform(0, 0.3, size=k)
        return (u * s) @ np.swapaxes(v, -1, -2)
    return make


# -- the cases ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """`function` of the standard: `fn` traced (wengert), `reference` on arrays (NumPy),
    `inputs` made from an rng, `grad` whether its derivatives are checked, `numpy` the same call
    through NumPy's protocol where NumPy has the function (None: it has not)."""

    function: str
    fn: Callable
    reference: Callable
    inputs: tuple
    grad: bool = True
    numpy: Callable | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.function + (f"[{self.label}]" if self.label else "")


def same(function, reference, *inputs, grad=True, label="", numpy=True):
    """A case whose NumPy function, called on symbolic values, is the reference itself."""
    fn = _lookup(function)
    return Case(function, fn, reference, inputs, grad, reference if numpy else None, label)


def case(function, fn, reference, *inputs, grad=True, numpy=None, label=""):
    return Case(function, fn, reference, inputs, grad, numpy, label)


def _lookup(function: str):
    module, _, name = function.rpartition(".")
    return getattr(wg.linalg if module else wg, name)


UNARY = [  # (standard name, NumPy function, inputs)
    ("abs", np.abs, normal(3, 4)), ("acos", np.arccos, uniform(-0.9, 0.9, 5)),
    ("acosh", np.arccosh, uniform(1.2, 3.0, 5)), ("asin", np.arcsin, uniform(-0.9, 0.9, 5)),
    ("asinh", np.arcsinh, normal(5)), ("atan", np.arctan, normal(5)),
    ("atanh", np.arctanh, uniform(-0.9, 0.9, 5)), ("cos", np.cos, normal(3, 4)),
    ("cosh", np.cosh, normal(5)), ("exp", np.exp, normal(3, 4)), ("expm1", np.expm1, normal(5)),
    ("log", np.log, uniform(0.2, 3.0, 5)), ("log1p", np.log1p, uniform(-0.5, 2.0, 5)),
    ("log2", np.log2, uniform(0.2, 3.0, 5)), ("log10", np.log10, uniform(0.2, 3.0, 5)),
    ("negative", np.negative, normal(5)), ("positive", np.positive, normal(5)),
    ("sign", np.sign, normal(5)), ("sin", np.sin, normal(3, 4)), ("sinh", np.sinh, normal(5)),
    ("sqrt", np.sqrt, uniform(0.2, 3.0, 5)), ("square", np.square, normal(5)),
    ("tan", np.tan, uniform(-1.2, 1.2, 5)), ("tanh", np.tanh, normal(5)),
    ("conj", np.conj, normal(5)), ("real", np.real, normal(5)), ("imag", np.imag, normal(5)),
]
BINARY = [  # (standard name, NumPy function, inputs)
    ("add", np.add, normal(3, 4), normal(4)), ("subtract", np.subtract, normal(3, 4), normal(3, 1)),
    ("multiply", np.multiply, normal(3, 4), normal(4)),
    ("divide", np.divide, normal(3, 4), uniform(0.5, 2.0, 4)),
    ("pow", np.power, uniform(0.3, 2.0, 3, 4), normal(4)), ("atan2", np.arctan2, normal(5), normal(5)),
    ("hypot", np.hypot, normal(3, 4), normal(4)), ("logaddexp", np.logaddexp, normal(3, 4), normal(4)),
    ("maximum", np.maximum, normal(3, 4), normal(4)), ("minimum", np.minimum, normal(3, 4), normal(4)),
    ("copysign", np.copysign, normal(3, 4), normal(4)),
    ("remainder", np.remainder, normal(3, 4), uniform(0.5, 2.0, 4)),
]
NO_DERIVATIVE = [  # (standard name, NumPy function, inputs): values only
    ("ceil", np.ceil, halves(3, 4)), ("floor", np.floor, halves(3, 4)), ("round", np.round, halves(3, 4)),
    ("trunc", np.trunc, halves(3, 4)), ("isfinite", np.isfinite, special(3, 4)),
    ("isinf", np.isinf, special(3, 4)), ("isnan", np.isnan, special(3, 4)),
    ("signbit", np.signbit, special(3, 4)), ("floor_divide", np.floor_divide, normal(3, 4), uniform(0.5, 2.0, 4)),
    ("equal", np.equal, halves(3, 4), halves(4)), ("not_equal", np.not_equal, halves(3, 4), halves(4)),
    ("less", np.less, halves(3, 4), halves(4)), ("less_equal", np.less_equal, halves(3, 4), halves(4)),
    ("greater", np.greater, halves(3, 4), halves(4)),
    ("greater_equal", np.greater_equal, halves(3, 4), halves(4)),
    ("logical_and", np.logical_and, bools(3, 4), bools(4)), ("logical_or", np.logical_or, bools(3, 4), bools(4)),
    ("logical_xor", np.logical_xor, bools(3, 4), bools(4)), ("logical_not", np.logical_not, bools(3, 4)),
    ("bitwise_and", np.bitwise_and, ints(-9, 9, 3, 4), ints(-9, 9, 4)),
    ("bitwise_or", np.bitwise_or, ints(-9, 9, 3, 4), ints(-9, 9, 4)),
    ("bitwise_xor", np.bitwise_xor, bools(3, 4), bools(4)), ("bitwise_invert", np.invert, ints(-9, 9, 5)),
    ("bitwise_left_shift", np.left_shift, ints(-9, 9, 3, 4), ints(0, 5, 4)),
    ("bitwise_right_shift", np.right_shift, ints(-99, 99, 3, 4), ints(0, 5, 4)),
]

la = wg.linalg
CASES = [same(name, ref, x) for name, ref, x in UNARY]
CASES += [same(name, ref, x, y) for name, ref, x, y in BINARY]
CASES += [same(name, ref, *xs, grad=False) for name, ref, *xs in NO_DERIVATIVE]
CASES += [same("round", np.round, ints(-9, 9, 5), grad=False, label="int"),
          same("copysign", np.copysign, normal(3, 4), special(4), grad=False, label="special"),
          same("floor", np.floor, ints(-9, 9, 5), grad=False, label="int", numpy=False)]
CASES += [
    # -- elementwise with arguments
    case("clip", lambda x: wg.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), normal(3, 4),
         numpy=lambda x: np.clip(x, -0.5, 0.7)),
    case("clip", lambda x, lo, hi: wg.clip(x, lo, hi), np.clip, normal(3, 4), uniform(-1, -0.1, 4),
         uniform(0.1, 1, 3, 1), numpy=np.clip, label="arrays"),
    case("clip", lambda x: wg.clip(x, max=0.3), lambda x: np.minimum(x, 0.3), normal(5), label="max only"),
    case("clip", lambda x: wg.clip(x, min=-2), lambda x: np.maximum(x, -2), ints(-5, 5, 5), grad=False,
         label="int"),
    # -- creation
    case("arange", lambda x: x + wg.arange(4.0), lambda x: x + np.arange(4.0), normal(3, 4)),
    case("asarray", lambda x: wg.asarray(x, dtype="float32"), lambda x: x.astype(np.float32), normal(4),
         grad=False),
    case("asarray", lambda x: x * wg.asarray([1.0, 2.0, 3.0]), lambda x: x * np.array([1.0, 2.0, 3.0]),
         normal(3), label="list"),
    case("empty", lambda x: x + wg.empty((2, 3)), lambda x: x + np.zeros((2, 3)), normal(3)),
    case("eye", lambda x: x @ wg.eye(3, 4, k=1), lambda x: x @ np.eye(3, 4, k=1), normal(2, 3)),
    case("from_dlpack", lambda x: x + wg.from_dlpack(np.arange(3.0)), lambda x: x + np.arange(3.0), normal(3)),
    case("full", lambda x: x * wg.full((2, 1), 2.5), lambda x: x * np.full((2, 1), 2.5), normal(3)),
    case("linspace", lambda x: x * wg.linspace(0.0, 1.0, 5), lambda x: x * np.linspace(0.0, 1.0, 5), normal(5)),
    case("ones", lambda x: x - wg.ones(3, dtype="float64"), lambda x: x - np.ones(3), normal(3)),
    case("zeros", lambda x: x + wg.zeros((2, 3)), lambda x: x + np.zeros((2, 3)), normal(3)),
    case("empty_like", lambda x: wg.empty_like(x), np.zeros_like, normal(3, 4)),
    case("full_like", lambda x: wg.full_like(x, 2.5), lambda x: np.full_like(x, 2.5), normal(3, 4),
         numpy=lambda x: np.full_like(x, 2.5)),
    case("ones_like", lambda x: wg.ones_like(x, dtype="int32"), lambda x: np.ones_like(x, dtype=np.int32),
         normal(3, 4), numpy=lambda x: np.ones_like(x, dtype=np.int32)),
    case("zeros_like", wg.zeros_like, np.zeros_like, normal(3, 4), numpy=np.zeros_like),
    case("meshgrid", lambda x, y: tuple(wg.meshgrid(x, y)), lambda x, y: tuple(np.meshgrid(x, y)),
         normal(3), normal(4), numpy=lambda x, y: tuple(np.meshgrid(x, y))),
    case("meshgrid", lambda x, y, z: tuple(wg.meshgrid(x, y, z, indexing="ij")),
         lambda x, y, z: tuple(np.meshgrid(x, y, z, indexing="ij")), normal(3), normal(4), normal(2), label="ij"),
    case("tril", lambda x: wg.tril(x, k=-1), lambda x: np.tril(x, -1), normal(2, 3, 4),
         numpy=lambda x: np.tril(x, -1)),
    case("triu", wg.triu, np.triu, normal(4, 3), numpy=np.triu),
    # -- data types
    case("astype", lambda x: wg.astype(x, "float32"), lambda x: x.astype(np.float32), normal(3, 4),
         grad=False, numpy=lambda x: np.astype(x, np.float32)),
    case("astype", lambda x: wg.astype(x, "float64"), lambda x: x.astype(np.float64), ints(-5, 5, 3),
         grad=False, label="int to float"),
    # -- indexing and linear algebra
    case("take", lambda x: wg.take(x, [2, 0, 2], axis=1), lambda x: np.take(x, [2, 0, 2], axis=1),
         normal(3, 4), numpy=lambda x: np.take(x, [2, 0, 2], axis=1)),
    case("matmul", wg.matmul, np.matmul, normal(2, 3, 4), normal(4, 2), numpy=np.matmul),
    case("matrix_transpose", wg.matrix_transpose, lambda x: np.swapaxes(x, -1, -2), normal(2, 3, 4)),
    case("tensordot", lambda a, b: wg.tensordot(a, b, axes=2), lambda a, b: np.tensordot(a, b, 2),
         normal(2, 3, 4), normal(3, 4, 5), numpy=lambda a, b: np.tensordot(a, b, 2)),
    case("tensordot", lambda a, b: wg.tensordot(a, b, axes=([0, -1], [2, 0])),
         lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), normal(2, 3, 4), normal(4, 5, 2), label="axes"),
    case("vecdot", wg.vecdot, lambda a, b: np.sum(a * b, -1), normal(3, 4), normal(4)),
    # -- manipulation
    case("broadcast_arrays", lambda x, y: tuple(wg.broadcast_arrays(x, y)),
         lambda x, y: tuple(np.broadcast_arrays(x, y)), normal(3, 1), normal(4),
         numpy=lambda x, y: tuple(np.broadcast_arrays(x, y))),
    case("broadcast_to", lambda x: wg.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
         normal(3, 1), numpy=lambda x: np.broadcast_to(x, (2, 3, 4))),
    case("concat", lambda x, y: wg.concat([x, y], axis=1), lambda x, y: np.concatenate([x, y], 1),
         normal(2, 3), normal(2, 2), numpy=lambda x, y: np.concatenate([x, y], axis=1)),
    case("concat", lambda x, y: wg.concat([x, y], axis=None), lambda x, y: np.concatenate([x, y], None),
         normal(2, 3), normal(4), numpy=lambda x, y: np.concatenate([x, y], axis=None), label="flat"),
    case("expand_dims", lambda x: wg.expand_dims(x, axis=-1), lambda x: np.expand_dims(x, -1), normal(3, 4),
         numpy=lambda x: np.expand_dims(x, -1)),
    case("flip", lambda x: wg.flip(x, axis=1), lambda x: np.flip(x, 1), normal(3, 4),
         numpy=lambda x: np.flip(x, 1)),
    case("moveaxis", lambda x: wg.moveaxis(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)),
         normal(2, 3, 4), numpy=lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    case("permute_dims", lambda x: wg.permute_dims(x, (2, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)),
         normal(2, 3, 4), numpy=lambda x: np.transpose(x, (2, 0, 1))),
    case("repeat", lambda x: wg.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), normal(3, 4),
         numpy=lambda x: np.repeat(x, 2, axis=1)),
    case("repeat", lambda x: wg.repeat(x, np.array([1, 0, 3])), lambda x: np.repeat(x, [1, 0, 3]), normal(3),
         label="counts"),
    case("reshape", lambda x: wg.reshape(x, (4, -1)), lambda x: np.reshape(x, (4, -1)), normal(2, 3, 4),
         numpy=lambda x: np.reshape(x, (4, -1))),
    case("roll", lambda x: wg.roll(x, 2), lambda x: np.roll(x, 2), normal(3, 4), numpy=lambda x: np.roll(x, 2)),
    case("roll", lambda x: wg.roll(x, (1, -1), axis=(0, 1)), lambda x: np.roll(x, (1, -1), axis=(0, 1)),
         normal(3, 4), label="axes"),
    case("squeeze", lambda x: wg.squeeze(x, axis=1), lambda x: np.squeeze(x, 1), normal(3, 1, 4),
         numpy=lambda x: np.squeeze(x, 1)),
    case("stack", lambda x, y: wg.stack([x, y], axis=1), lambda x, y: np.stack([x, y], 1), normal(3, 4),
         normal(3, 4), numpy=lambda x, y: np.stack([x, y], axis=1)),
    case("tile", lambda x: wg.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), normal(3, 4),
         numpy=lambda x: np.tile(x, (2, 1, 3))),
    case("unstack", lambda x: wg.unstack(x, axis=1), lambda x: tuple(np.moveaxis(x, 1, 0)), normal(2, 3)),
    # -- searching and sorting
    case("argmax", lambda x: wg.argmax(x, axis=1), lambda x: np.argmax(x, 1), normal(3, 4), grad=False,
         numpy=lambda x: np.argmax(x, axis=1)),
    case("argmin", lambda x: wg.argmin(x, keepdims=True), lambda x: np.argmin(x, keepdims=True), normal(3, 4),
         grad=False, numpy=lambda x: np.argmin(x, keepdims=True)),
    case("searchsorted", lambda s, v: wg.searchsorted(s, v, side="right"),
         lambda s, v: np.searchsorted(s, v, side="right"), fixed([0.0, 1.0, 1.0, 2.5]), halves(3, 2),
         grad=False, numpy=lambda s, v: np.searchsorted(s, v, side="right")),
    case("where", lambda c, x, y: wg.where(c, x, y), np.where, bools(3, 4), normal(4), normal(3, 1),
         numpy=np.where),
    case("argsort", lambda x: wg.argsort(x, axis=0, descending=True),
         lambda x: np.argsort(-x, axis=0, kind="stable"), halves(3, 4), grad=False),
    case("argsort", wg.argsort, lambda x: np.argsort(x, kind="stable"), halves(3, 4), grad=False,
         numpy=np.argsort, label="ties"),
    case("sort", lambda x: wg.sort(x, axis=0), lambda x: np.sort(x, 0), normal(3, 4),
         numpy=lambda x: np.sort(x, axis=0)),
    case("sort", lambda x: wg.sort(x, descending=True), lambda x: -np.sort(-x), normal(2, 5), label="descending"),
    # -- statistics
    case("cumulative_sum", lambda x: wg.cumulative_sum(x, axis=1, include_initial=True),
         lambda x: np.concatenate([np.zeros((3, 1)), np.cumsum(x, 1)], 1), normal(3, 4)),
    case("cumulative_sum", wg.cumulative_sum, np.cumsum, normal(5), numpy=np.cumsum, label="1-D"),
    case("max", lambda x: wg.max(x, axis=1), lambda x: np.max(x, 1), normal(3, 4), numpy=lambda x: np.max(x, 1)),
    case("min", lambda x: wg.min(x, axis=0, keepdims=True), lambda x: np.min(x, 0, keepdims=True), normal(3, 4),
         numpy=lambda x: np.min(x, 0, keepdims=True)),
    case("mean", lambda x: wg.mean(x, axis=(0, 2)), lambda x: np.mean(x, (0, 2)), normal(2, 3, 4),
         numpy=lambda x: np.mean(x, axis=(0, 2))),
    case("prod", lambda x: wg.prod(x, axis=1), lambda x: np.prod(x, 1), normal(3, 4), numpy=lambda x: np.prod(x, 1)),
    case("sum", lambda x: wg.sum(x, dtype="float64"), lambda x: np.sum(x, dtype=np.float64), ints(-5, 5, 3, 4),
         grad=False, numpy=lambda x: np.sum(x, dtype=np.float64)),
    case("sum", lambda x: wg.sum(x, axis=-1), lambda x: np.sum(x, -1), normal(3, 4), label="float"),
    case("std", lambda x: wg.std(x, axis=0, correction=1), lambda x: np.std(x, 0, ddof=1), normal(5, 3),
         numpy=lambda x: np.std(x, axis=0, ddof=1)),
    case("var", lambda x: wg.var(x, keepdims=True), lambda x: np.var(x, keepdims=True), normal(3, 4),
         numpy=lambda x: np.var(x, keepdims=True)),
    case("all", lambda x: wg.all(x, axis=1), lambda x: np.all(x, 1), bools(3, 4), grad=False,
         numpy=lambda x: np.all(x, axis=1)),
    case("any", lambda x: wg.any(x), lambda x: np.any(x), halves(3, 4), grad=False, numpy=np.any),
    # -- the linalg extension
    case("linalg.cholesky", lambda x: la.cholesky(x, upper=True), lambda x: np.linalg.cholesky(x).T, spd(3, 3),
         numpy=lambda x: np.linalg.cholesky(x).T),
    case("linalg.cross", la.cross, np.cross, normal(4, 3), normal(3), numpy=np.cross),
    case("linalg.cross", lambda a, b: la.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0),
         normal(3, 2), normal(3, 2), label="axis"),
    case("linalg.det", la.det, np.linalg.det, invertible(2, 3, 3), numpy=np.linalg.det),
    case("linalg.diagonal", lambda x: la.diagonal(x, offset=1),
         lambda x: np.diagonal(x, 1, -2, -1), normal(2, 3, 4), numpy=lambda x: np.linalg.diagonal(x, offset=1)),
    case("linalg.diagonal", lambda x: la.diagonal(x, offset=-2), lambda x: np.diagonal(x, -2), normal(4, 3),
         label="below"),
    case("linalg.eigh", lambda x: tuple(la.eigh(x)), lambda x: tuple(np.linalg.eigh(x)), separated(3, 3),
         numpy=lambda x: tuple(np.linalg.eigh(x))),
    case("linalg.eigvalsh", la.eigvalsh, np.linalg.eigvalsh, separated(2, 4, 4), numpy=np.linalg.eigvalsh),
    case("linalg.inv", la.inv, np.linalg.inv, invertible(3, 3), numpy=np.linalg.inv),
    case("linalg.matmul", la.matmul, np.matmul, normal(4), normal(4, 2)),
    *[case("linalg.matrix_norm", lambda x, o=o: la.matrix_norm(x, ord=o), lambda x, o=o: np.linalg.norm(x, o, (-2, -1)),
           separated(3, 4), label=str(o), numpy=lambda x, o=o: np.linalg.norm(x, ord=o, axis=(-2, -1)))
      for o in ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf]],
    case("linalg.matrix_norm", lambda x: la.matrix_norm(x, keepdims=True),
         lambda x: np.linalg.norm(x, axis=(-2, -1), keepdims=True), normal(2, 3, 3), label="keepdims"),
    case("linalg.matrix_power", lambda x: la.matrix_power(x, 3), lambda x: np.linalg.matrix_power(x, 3),
         normal(3, 3), numpy=lambda x: np.linalg.matrix_power(x, 3)),
    case("linalg.matrix_power", lambda x: la.matrix_power(x, -2), lambda x: np.linalg.matrix_power(x, -2),
         invertible(3, 3), label="-2"),
    case("linalg.matrix_power", lambda x: la.matrix_power(x, 0), lambda x: np.linalg.matrix_power(x, 0),
         normal(2, 3, 3), label="0"),
    case("linalg.matrix_rank", la.matrix_rank, np.linalg.matrix_rank,
         fixed([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]]), grad=False, numpy=np.linalg.matrix_rank),
    case("linalg.matrix_transpose", la.matrix_transpose, lambda x: np.swapaxes(x, -1, -2), normal(2, 3, 4)),
    case("linalg.outer", la.outer, np.outer, normal(3), normal(4), numpy=np.outer),
    case("linalg.pinv", la.pinv, np.linalg.pinv, separated(4, 3), numpy=np.linalg.pinv),
    case("linalg.qr", lambda x: tuple(la.qr(x)), lambda x: tuple(np.linalg.qr(x)), separated(4, 3),
         numpy=lambda x: tuple(np.linalg.qr(x))),
    case("linalg.qr", lambda x: tuple(la.qr(x, mode="complete")), lambda x: tuple(np.linalg.qr(x, "complete")),
         normal(4, 3), grad=False, label="complete"),
    case("linalg.slogdet", lambda x: tuple(la.slogdet(x)), lambda x: tuple(np.linalg.slogdet(x)),
         invertible(2, 3, 3), numpy=lambda x: tuple(np.linalg.slogdet(x))),
    case("linalg.solve", la.solve, np.linalg.solve, invertible(3, 3), normal(3, 2), numpy=np.linalg.solve),
    case("linalg.svd", lambda x: tuple(la.svd(x, full_matrices=False)),
         lambda x: tuple(np.linalg.svd(x, full_matrices=False)), separated(4, 3),
         numpy=lambda x: tuple(np.linalg.svd(x, full_matrices=False))),
    case("linalg.svd", lambda x: tuple(la.svd(x)), lambda x: tuple(np.linalg.svd(x)), separated(2, 3, 3),
         label="square"),
    case("linalg.svd", lambda x: tuple(la.svd(x)), lambda x: tuple(np.linalg.svd(x)), separated(3, 4),
         grad=False, label="full"),
    case("linalg.svdvals", la.svdvals, lambda x: np.linalg.svd(x, compute_uv=False), separated(3, 5),
         numpy=lambda x: np.linalg.svd(x, compute_uv=False)),
    case("linalg.tensordot", lambda a, b: la.tensordot(a, b, axes=1), lambda a, b: np.tensordot(a, b, 1),
         normal(2, 3), normal(3, 4)),
    case("linalg.trace", lambda x: la.trace(x, offset=-1), lambda x: np.trace(x, -1, -2, -1), normal(2, 4, 3),
         numpy=lambda x: np.trace(x, -1, axis1=-2, axis2=-1)),
    case("linalg.vecdot", lambda a, b: la.vecdot(a, b, axis=0), lambda a, b: np.sum(a * b, 0), normal(3, 4),
         normal(3, 1), numpy=lambda a, b: np.linalg.vecdot(a, b, axis=0)),
    *[case("linalg.vector_norm", lambda x, o=o, a=a: la.vector_norm(x, axis=a, ord=o),
           lambda x, o=o, a=a: _vector_norm(x, o, a), normal(3, 4), grad=o != 0, label=f"{o}, axis {a}",
           numpy=lambda x, o=o, a=a: np.linalg.vector_norm(x, axis=a, ord=o))
      for o, a in [(2, None), (1, 1), (math.inf, 0), (-math.inf, 1), (3, (0, 1)), (0.5, 1), (0, 1)]],
    # -- einsum, beyond the standard
    *[case("einsum", lambda *xs, s=s: wg.einsum(s, *xs), lambda *xs, s=s: np.einsum(s, *xs),
           *(normal(*shape) for shape in shapes), label=s, numpy=lambda *xs, s=s: np.einsum(s, *xs))
      for s, shapes in [
          ("ij,jk->ik", [(3, 4), (4, 2)]), ("ij,jk", [(3, 4), (4, 2)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]),
          ("ij->", [(3, 4)]), ("i,j->ij", [(3,), (4,)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
          ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("...ij,...j->...i", [(2, 3, 4), (4,)]),
          ("...i,...i", [(2, 1, 4), (3, 4)]), ("ba,ab", [(3, 4), (4, 3)]), ("iij,j->i", [(3, 3, 2), (2,)])]],
]


def _vector_norm(x, ord, axis):
    """NumPy's vector norm over any axes (np.linalg.norm takes at most two)."""
    a = np.abs(x)
    if ord == 0:
        return np.sum(a != 0, axis=axis).astype(float)
    if math.isinf(ord):
        return np.max(a, axis=axis) if ord > 0 else np.min(a, axis=axis)
    return np.sum(a ** ord, axis=axis) ** (1 / ord)


ENGINE = Engine(default_registry())


def _inputs(c: Case, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(make(rng)) for make in c.inputs]


def _outputs(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _evaluate(fn, inputs) -> tuple:
    graph = wg.trace(fn, *inputs)
    out = ENGINE.evaluate(graph, dict(zip(graph.input_names, inputs)))
    return tuple(out[name] for name in graph.output_names)


def _assert_matches(got: tuple, want: tuple) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype or (g.dtype.kind == w.dtype.kind == "i"), (g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_values_match_numpy(c):
    inputs = _inputs(c)
    _assert_matches(_evaluate(c.fn, inputs), _outputs(c.reference(*inputs)))


@pytest.mark.parametrize("c", [c for c in CASES if c.numpy is not None], ids=lambda c: c.id)
def test_numpy_functions_on_symbolic_values_build_the_same_graph(c):
    """np.<function>(x) on symbolic x records nodes through NumPy's protocols."""
    inputs = _inputs(c)
    _assert_matches(_evaluate(c.numpy, inputs), _outputs(c.reference(*inputs)))


@pytest.mark.parametrize("c", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_derivatives_pass_the_checker(c):
    inputs = _inputs(c)
    graph = wg.trace(c.fn, *inputs)
    problems = check_graph(ENGINE, graph, dict(zip(graph.input_names, inputs)), np.random.default_rng(1))
    assert not problems, problems


@pytest.mark.parametrize("function", sorted(REFUSED))
def test_data_dependent_shapes_are_refused_by_name(function):
    with pytest.raises(wg.DataDependentShape, match=f"{function}: its result's shape depends on the values"):
        wg.trace(lambda x: getattr(wg, function)(x), np.arange(4.0))


# -- functions of dtypes and of the namespace ----------------------------------------------------
def _metadata_checks(x, i):
    """Each returns (function, got, want), for symbolic float64 x and int32 i."""
    info = wg.__array_namespace_info__()
    return [
        ("can_cast", (wg.can_cast(i, "float64"), wg.can_cast(x, "int32"), wg.can_cast("float32", x.dtype)),
         (True, False, True)),
        ("finfo", (wg.finfo(x).eps, wg.finfo("float32").max), (np.finfo(np.float64).eps, np.finfo(np.float32).max)),
        ("iinfo", (wg.iinfo(i).max, wg.iinfo("int64").min), (np.iinfo(np.int32).max, np.iinfo(np.int64).min)),
        ("isdtype", (wg.isdtype(x.dtype, "real floating"), wg.isdtype(i.dtype, ("bool", "integral")),
                     wg.isdtype(i.dtype, "real floating"), wg.isdtype("float32", np.float32)),
         (True, True, False, True)),
        ("result_type", (wg.result_type(x, i), wg.result_type(i, "int64")), (np.float64, np.int64)),
        ("__array_namespace_info__",
         (info.capabilities()["data-dependent shapes"], info.default_dtypes()["real floating"],
          sorted(info.dtypes(kind="integral")), info.devices()),
         (False, np.float64, ["int32", "int64"], ["cpu"])),
    ]


METADATA = [name for name, _, _ in _metadata_checks(np.zeros(1), np.zeros(1, np.int32))]


def test_dtype_and_namespace_functions_answer_for_symbolic_values():
    def check(x, i):
        for function, got, want in _metadata_checks(x, i):
            assert got == want, function
        return x
    wg.trace(check, np.zeros(3), np.zeros(3, np.int32))


# -- coverage -----------------------------------------------------------------------------------
def test_coverage_of_the_standard(request):
    listed = [name for names in STANDARD.values() for name in names]
    covered = {c.function for c in CASES} | set(METADATA)
    refused = [name for name in listed if name in REFUSED]
    missing = [name for name in listed if name not in covered and name not in REFUSED]
    assert not missing, f"functions of the standard without a case: {missing}"
    assert not covered - set(listed), f"cases for functions not in the list: {covered - set(listed)}"
    standard = [name for name in listed if name != "einsum"]
    request.config.stash[SUMMARY].append(
        f"array API 2023.12: {len(standard) - len(refused)}/{len(standard)} functions covered "
        f"(+ einsum); refused for data-dependent shapes: {', '.join(refused)}")
