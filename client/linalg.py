"""`wg.linalg`: the array API's linear-algebra extension on symbolic values, plus `einsum`.

Every function of the extension (2023.12) is here with the standard's signature, and NumPy's
`norm` for `np.linalg.norm`. The decompositions are ops whose one output packs their results
(see wengert.plugins.builtin.decompositions); the functions here unpack them into the named
tuples the standard specifies (`eigh(x).eigenvectors`), as views. Their derivatives need
separated spectra: use `eigvalsh` / `svdvals` when only the values matter. The rest is built
from other ops: `einsum` (which `tensordot` and `vecdot` use), norms, `diagonal`, `cross`, ...
"""

from __future__ import annotations

import math
import string
from typing import NamedTuple

import numpy as np

from wengert.ir.graph import shape_text
from wengert import numpy_api as wg
from wengert.ir.builder import Value, apply
from wengert.numpy_api import cholesky as _cholesky
from wengert.numpy_api import det, inv, matmul, solve

__all__ = [
    "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
    "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve",
    "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm", "norm", "einsum",
    "EighResult", "QRResult", "SlogdetResult", "SVDResult",
]

LETTERS = string.ascii_letters


class EighResult(NamedTuple):
    eigenvalues: Value
    eigenvectors: Value


class QRResult(NamedTuple):
    Q: Value
    R: Value


class SlogdetResult(NamedTuple):
    sign: Value
    logabsdet: Value


class SVDResult(NamedTuple):
    U: Value
    S: Value
    Vh: Value


def _unpacked(op: str, x, **attrs) -> list[Value]:
    from wengert.plugins.builtin.decompositions import layout, unpack

    return unpack(apply(op, x, **attrs), layout(op, x.shape, **attrs))


# -- decompositions ----------------------------------------------------------------------------
def eigh(x, /) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (the lower triangle is
    read). Derivatives need distinct eigenvalues."""
    return EighResult(*_unpacked("eigh", x))


def eigvalsh(x, /):
    """Eigenvalues (ascending) of symmetric matrices; their derivative stays finite where
    eigenvalues repeat."""
    return apply("eigvalsh", x)


def svd(x, /, *, full_matrices=True) -> SVDResult:
    """U, S, Vh with x = U diag(S) Vh. Derivatives need distinct nonzero singular values, and
    full_matrices=False for a non-square x."""
    return SVDResult(*_unpacked("svd", x, full_matrices=full_matrices))


def svdvals(x, /):
    """Singular values (descending); their derivative stays finite where they repeat."""
    return apply("svdvals", x)


def qr(x, /, *, mode="reduced") -> QRResult:
    """Q, R with x = Q R. Derivatives need full column rank and m >= n."""
    return QRResult(*_unpacked("qr", x, mode=mode))


def slogdet(x, /) -> SlogdetResult:
    """The sign and the log of the absolute value of the determinant, without overflow."""
    return SlogdetResult(*_unpacked("slogdet", x))


def cholesky(x, /, *, upper=False):
    """The Cholesky factor of positive definite x: lower L (L L^T = x), or upper U = L^T."""
    factor = _cholesky(x)
    return matrix_transpose(factor) if upper else factor


def pinv(x, /, *, rtol=None):
    """The Moore-Penrose pseudo-inverse; singular values below rtol * the largest (default
    max(m, n) * eps) count as zero. Derivatives where the rank does not change nearby."""
    if rtol is None:
        rtol = max(x.shape[-2:]) * np.finfo(np.dtype(x.dtype) if x.type.is_float else np.float64).eps
    return apply("pinv", x, rtol=rtol)


def matrix_rank(x, /, *, rtol=None):
    """The number of singular values above rtol * the largest (default max(m, n) * eps)."""
    s = svdvals(x)
    if rtol is None:
        rtol = max(x.shape[-2:]) * np.finfo(np.dtype(s.dtype)).eps
    return wg.sum(s > s[..., :1] * rtol, axis=-1)


def matrix_power(x, n, /):
    """x multiplied by itself n times (n < 0: of its inverse; n = 0: the identity), by squaring."""
    if n == 0:
        return wg.broadcast_to(np.eye(x.shape[-1], dtype=np.dtype(x.dtype)), x.shape)
    if n < 0:
        x, n = inv(x), -n
    result, square = None, x
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    return result


# -- products ------------------------------------------------------------------------------------
def einsum(subscripts, /, *operands):
    """Einstein summation as NumPy's einsum: implicit or explicit output, '...' broadcasting.
    An `einsum` node, differentiable in every operand; three or more operands become a chain
    of pairwise einsum nodes in NumPy's greedy order, whose derivatives share intermediates."""
    from wengert.plugins.builtin.einsum import contraction_path

    canonical, operands = _canonical(subscripts, list(operands))
    shapes = tuple(tuple(np.shape(x)) if not isinstance(x, Value) else x.shape for x in operands)
    if len(operands) < 3 or any(-1 in s for s in shapes):
        return apply("einsum", *operands, subscripts=canonical)
    inputs, out = canonical.split("->")
    live = list(zip(operands, inputs.split(",")))
    for step in contraction_path(canonical, shapes)[1:]:
        picked = [live[i] for i in step]
        for i in sorted(step, reverse=True):
            del live[i]
        needed = set(out + "".join(t for _, t in live))
        letters = "".join(dict.fromkeys(c for _, t in picked for c in t if c in needed))
        term = ",".join(t for _, t in picked) + "->" + letters
        live.append((apply("einsum", *(x for x, _ in picked), subscripts=term), letters))
    (result, letters), = live
    return result if letters == out else apply("einsum", result, subscripts=f"{letters}->{out}")


def tensordot(x1, x2, /, *, axes=2):
    """The sum of products over `axes` (an int: the last axes of x1 with the first of x2; or
    two sequences of axes), as one einsum."""
    n1, n2 = x1.ndim, x2.ndim
    if isinstance(axes, int):
        first, second = list(range(n1 - axes, n1)), list(range(axes))
    else:
        first, second = ([a % n for a in np.atleast_1d(ax).tolist()] for ax, n in zip(axes, (n1, n2)))
    left = LETTERS[:n1]
    fresh = iter(LETTERS[n1:])
    right = "".join(left[first[second.index(a)]] if a in second else next(fresh) for a in range(n2))
    out = "".join(left[a] for a in range(n1) if a not in first) + "".join(
        right[a] for a in range(n2) if a not in second)
    return einsum(f"{left},{right}->{out}", x1, x2)


def vecdot(x1, x2, /, *, axis=-1):
    """The dot products of x1 and x2 along `axis` (other axes broadcast), as one einsum."""
    x1, x2 = (wg.moveaxis(x, axis, -1) if axis != -1 else x for x in (x1, x2))
    return einsum("...i,...i->...", x1, x2)


def outer(x1, x2, /):
    """The outer product of two vectors."""
    return wg.expand_dims(x1, -1) * x2


def matrix_transpose(x, /):
    """x with its last two axes swapped."""
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got shape {shape_text(x.shape)}")
    return wg.transpose(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


def cross(x1, x2, /, *, axis=-1):
    """The cross product of 3-vectors along `axis` (other axes broadcast)."""
    def turned(x, order):
        return wg.take(x, order, axis=axis)

    first, second = [1, 2, 0], [2, 0, 1]
    return turned(x1, first) * turned(x2, second) - turned(x1, second) * turned(x2, first)


# -- diagonals -------------------------------------------------------------------------------------
def diagonal(x, /, *, offset=0):
    """The diagonal `offset` (> 0 above the main one) of each matrix: a strided slice of the
    flattened matrix, so a view."""
    n, m = x.shape[-2:]
    length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    start = offset if offset >= 0 else -offset * m
    flat = wg.reshape(x, x.shape[:-2] + (n * m,))
    stop = start + (length - 1) * (m + 1) + 1 if length else start
    return flat[..., start:stop:m + 1]


def trace(x, /, *, offset=0, dtype=None):
    """The sum of the diagonal `offset` of each matrix."""
    return wg.sum(diagonal(x, offset=offset), axis=-1, dtype=dtype)


# -- norms ---------------------------------------------------------------------------------------
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The `ord`-norm over `axis` (None: all): (sum |x|**ord)**(1/ord), inf the largest |x|,
    -inf the smallest, 0 the count of nonzeros. Its derivative at a zero vector is 0."""
    return apply("vector_norm", x, axis=axis, keepdims=keepdims, ord=float(ord))


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """A norm of each matrix: 'fro', 'nuc' (the sum of singular values), 2 / -2 (the largest /
    smallest singular value), 1 / -1 (largest / smallest column sum of |x|), inf / -inf (rows)."""
    if ord == "fro":
        out = vector_norm(x, axis=(-2, -1))
    elif ord == "nuc":
        out = wg.sum(svdvals(x), axis=-1)
    elif ord in (2, -2):
        out = svdvals(x)[..., 0 if ord == 2 else -1]
    elif ord in (1, -1, math.inf, -math.inf):
        sums = wg.sum(wg.abs(x), axis=-2 if abs(ord) == 1 else -1)
        out = wg.max(sums, axis=-1) if ord > 0 else wg.min(sums, axis=-1)
    else:
        raise ValueError(f"invalid matrix norm order {ord!r}; use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
    return wg.expand_dims(out, (-2, -1)) if keepdims else out


def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's `np.linalg.norm`: a vector norm over one axis (or all of them, with ord None),
    a matrix norm over two."""
    if axis is None:
        if ord is None:
            return vector_norm(x, keepdims=keepdims)
        axis = tuple(range(x.ndim))
        if x.ndim not in (1, 2):
            raise ValueError("norm with an ord needs a 1-D or 2-D input, or an axis")
    axes = tuple(a % x.ndim for a in np.atleast_1d(axis).tolist())
    if len(axes) == 1:
        return vector_norm(x, axis=axes, keepdims=keepdims, ord=2 if ord is None else ord)
    if len(axes) != 2:
        raise ValueError(f"norm is over one or two axes, got {axis}")
    out = matrix_norm(wg.moveaxis(x, axes, (-2, -1)), ord="fro" if ord is None else ord)
    return wg.expand_dims(out, axes) if keepdims else out


# -- einsum subscripts -------------------------------------------------------------------------
def _canonical(subscripts: str, operands: list) -> tuple[str, list]:
    """NumPy's subscripts in the op's canonical form: '...' given letters (aligned from the
    right, a size-1 axis broadcast against a larger one squeezed out of its operand) and the
    implicit output made explicit (broadcast axes, then the letters used once, sorted)."""
    inputs, arrow, out = subscripts.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(terms)} operand(s), "
                         f"got {len(operands)}")
    shapes = [tuple(x.shape) if isinstance(x, Value) else np.shape(x) for x in operands]
    spare = [c for c in LETTERS if c not in subscripts]
    spans = [len(s) - len(t.replace("...", "")) if "..." in t else 0 for t, s in zip(terms, shapes)]
    width = max(spans, default=0)
    broadcast = np.broadcast_shapes(*(s[t.index("..."):t.index("...") + k]
                                      for t, s, k in zip(terms, shapes, spans) if "..." in t))
    letters = "".join(spare[:width])
    for i, (t, s, k) in enumerate(zip(terms, shapes, spans)):
        if "..." not in t:
            continue
        start = t.index("...")
        own = letters[width - k:]
        squeezed = [start + j for j, d in enumerate(s[start:start + k]) if d != broadcast[width - k + j]]
        if squeezed:
            operands[i] = (wg.squeeze(operands[i], tuple(squeezed)) if isinstance(operands[i], Value)
                           else np.squeeze(operands[i], tuple(squeezed)))
        kept = "".join(c for j, c in enumerate(own) if start + j not in squeezed)
        terms[i] = t.replace("...", kept)
    if arrow:
        out = out.replace("...", letters)
    else:
        named = "".join(terms)
        out = letters + "".join(sorted(c for c in set(named) - set(letters) if named.count(c) == 1))
    return ",".join(terms) + "->" + out, operands

