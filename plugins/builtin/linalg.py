"""Linear algebra: matmul, dot, solve, inv, det, cholesky, pinv, tril, triu (NumPy semantics,
stacks broadcast). The factorizations with several results (eigh, svd, qr, slogdet) are in
decompositions.py.

Rules are matrix identities written with graph ops (`mT` transposes the last two axes), so
they differentiate again. A 1-D operand of matmul or solve is lifted to a matrix (a row on the
left, a column on the right), the matrix rule applied, and the lifted axis dropped again.
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType, shape_text
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import (
    batch_lift, broadcast_shapes, float_arrays, float_result, result_dtype, same_dim,
)


def mT(x):
    """`x` with its last two axes swapped (a stack of transposed matrices)."""
    return wg.transpose(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


def _batch(a: tuple[int, ...], b: tuple[int, ...], what: str) -> tuple[int, ...]:
    try:
        return broadcast_shapes(a, b)
    except ShapeError:
        raise ShapeError(f"{what}: batch dimensions {shape_text(a)} and {shape_text(b)} do not broadcast") from None


def _matmul_infer(a: TensorType, b: TensorType) -> TensorType:
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs operands of at least 1 dimension, got shapes {shape_text(a.shape)} "
                         f"and {shape_text(b.shape)}")
    if not same_dim(a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]):
        raise ShapeError(f"shapes {shape_text(a.shape)} and {shape_text(b.shape)} cannot be multiplied")
    batch = _batch(a.shape[:-2], b.shape[:-2],
                   f"shapes {shape_text(a.shape)} and {shape_text(b.shape)} cannot be multiplied")
    return TensorType(result_dtype(a, b), batch + a.shape[-2:-1] + b.shape[-1:] * (b.ndim > 1))


def _matmul_vjp(g, a, b, argnum):
    """Cotangent of matmul operand `argnum`: G B^T for a, A^T G for b, with 1-D operands lifted."""
    if b.ndim == 1:
        g = wg.expand_dims(g, -1)
    if a.ndim == 1:
        g = wg.expand_dims(g, -2)
    if argnum == 0:
        da = wg.matmul(g, mT(b) if b.ndim > 1 else wg.expand_dims(b, 0))
        return da if a.ndim > 1 else wg.squeeze(da, -2)
    db = wg.matmul(mT(a) if a.ndim > 1 else wg.expand_dims(a, 1), g)
    return db if b.ndim > 1 else wg.squeeze(db, -1)


def _matmul_batched(a, b):
    """matmul over the batch axis. When one operand is a single matrix shared by the whole
    batch (the common case in a Jacobian sweep: W @ x_dot), the batch folds into the other
    operand's rows or columns, so it is one large matrix product instead of B small ones."""
    if a.shape[0] == 1 and a.ndim == 3 and b.ndim in (2, 3):
        return _shared_left(a[0], b)
    if b.shape[0] == 1 and b.ndim == 3 and a.ndim in (2, 3):
        return _shared_right(a, b[0])
    a2 = a[:, None, :] if a.ndim == 2 else a  # a 1-D operand becomes a row, b's a column
    b2 = b[..., None] if b.ndim == 2 else b
    ndim = max(a2.ndim, b2.ndim)
    out = np.matmul(batch_lift(a2, ndim), batch_lift(b2, ndim))
    out = out if a.ndim > 2 else out[..., 0, :]
    return out if b.ndim > 2 else out[..., 0]


def _shared_left(m, b):
    """m @ b[k] for every k: b holds vectors (B, K) or matrices (B, K, N)."""
    if b.ndim == 2:
        return b @ m.T
    batch, k, n = b.shape
    return (m @ b.transpose(1, 0, 2).reshape(k, batch * n)).reshape(m.shape[0], batch, n).transpose(1, 0, 2)


def _shared_right(a, m):
    """a[k] @ m for every k: a holds vectors (B, K) or matrices (B, M, K)."""
    if a.ndim == 2:
        return a @ m
    batch, rows, k = a.shape
    return (a.reshape(batch * rows, k) @ m).reshape(batch, rows, m.shape[1])


def _dot_infer(a: TensorType, b: TensorType) -> TensorType:
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(f"dot takes operands of at most 2 dimensions, got shapes {shape_text(a.shape)} and "
                         f"{shape_text(b.shape)}; use matmul for stacks")
    if a.ndim == 0 or b.ndim == 0:
        return TensorType(result_dtype(a, b), a.shape or b.shape)
    return _matmul_infer(a, b)


def _dot_vjp(g, ans, a, b, argnum):
    if a.ndim == 0 or b.ndim == 0:
        return g * (b if argnum == 0 else a)
    return _matmul_vjp(g, a, b, argnum)


def _dot_batched(a, b):
    if a.ndim == 1 or b.ndim == 1:  # a scalar operand: dot is a product
        ndim = max(a.ndim, b.ndim)
        return batch_lift(a, ndim) * batch_lift(b, ndim)
    return _matmul_batched(a, b)


def _square(x: TensorType, what: str) -> None:
    if x.ndim < 2 or not same_dim(x.shape[-1], x.shape[-2]):
        raise ShapeError(f"{what} needs square matrices (..., n, n), got shape {shape_text(x.shape)}")


def _square_infer(what: str, reduce: bool = False):
    """Shape rule of a function of square matrices: same shape (or the batch shape), float."""
    def infer(x: TensorType) -> TensorType:
        _square(x, what)
        return TensorType(float_result(x), x.shape[:-2] if reduce else x.shape)
    return infer


def _solve_infer(a: TensorType, b: TensorType) -> TensorType:
    _square(a, "solve")
    rows = b.shape[0] if b.ndim == 1 else b.shape[-2] if b.ndim > 1 else None
    if rows is None or not same_dim(a.shape[-1], rows):
        raise ShapeError(f"solve: shapes {shape_text(a.shape)} and {shape_text(b.shape)} are incompatible "
                         f"(b needs {a.shape[-1]} rows)")
    if b.ndim == 1:
        return TensorType(float_result(a, b), a.shape[:-1])
    batch = _batch(a.shape[:-2], b.shape[:-2],
                   f"solve: shapes {shape_text(a.shape)} and {shape_text(b.shape)} are incompatible")
    return TensorType(float_result(a, b), batch + b.shape[-2:])


def _col(v, b):
    """`v` (shaped like b or the answer) as a stack of matrices: a vector b becomes a column."""
    return wg.expand_dims(v, -1) if b.ndim == 1 else v


def _uncol(v, b):
    return wg.squeeze(v, -1) if b.ndim == 1 else v


def _solve(a, b):
    return np.linalg.solve(*float_arrays(a, b))  # LAPACK would take float32 with bool as float64


def _solve_batched(a, b):
    a, b = float_arrays(a, b)
    vector = b.ndim == 2
    b = b[..., None] if vector else b
    ndim = max(a.ndim, b.ndim)
    out = np.linalg.solve(batch_lift(a, ndim), batch_lift(b, ndim))
    return out[..., 0] if vector else out


def _det_vjp(g, ans, x):
    """d det(x) = det(x) tr(x^-1 dx), so the cotangent is g det(x) x^-T (x must be invertible)."""
    return wg.expand_dims(g * ans, (-2, -1)) * mT(wg.inv(x))


def _phi(x):
    """The lower triangle of (stacks of) `x` with the diagonal halved."""
    n = x.shape[-1]
    return x * (np.tril(np.ones((n, n)), -1) + np.eye(n) / 2).astype(x.dtype)


def lower_symmetric(x_dot):
    """The symmetric matrix a routine reading only the lower triangle of x sees when x moves by
    x_dot (cholesky, eigh): tril(x_dot) + tril(x_dot, -1)^T."""
    return wg.tril(x_dot) + mT(wg.tril(x_dot, -1))


def lower_symmetric_transpose(c):
    """The transpose of `lower_symmetric`, mapping a cotangent of the symmetric matrix back
    onto the lower triangle: tril(c) + tril(c^T, -1)."""
    return wg.tril(c) + wg.tril(mT(c), -1)


def _cholesky_jvp(x_dot, ans, x):
    """L_dot = L Phi(L^-1 S L^-T), S the symmetric tangent NumPy's cholesky sees: it reads the
    lower triangle of x only (`lower_symmetric`)."""
    s = lower_symmetric(x_dot)
    return wg.matmul(ans, _phi(wg.solve(ans, mT(wg.solve(ans, s)))))


def _cholesky_vjp(g, ans, x):
    """The transpose of _cholesky_jvp: Z = L^-T Phi(L^T g) L^-1, folded onto the lower triangle
    (`lower_symmetric_transpose`), which for a symmetric Z is Phi(Z + Z^T)."""
    lt = mT(ans)
    z = wg.solve(lt, mT(wg.solve(lt, mT(_phi(wg.matmul(lt, g))))))
    return _phi(z + mT(z))


# -- costs: floating-point operations of the LAPACK/BLAS routine, and its copies of the input --
def _product_cost(out: TensorType, a: TensorType, b: TensorType) -> Cost:
    """A multiply-add per output element and term of the contracted axis."""
    k = a.shape[-1] if a.ndim and b.ndim else 1
    return Cost(2 * out.size * k)


def _triangle_infer(x: TensorType, k) -> TensorType:
    if x.ndim < 2:
        raise ShapeError(f"needs (stacks of) matrices (..., m, n), got shape {shape_text(x.shape)}")
    return x


def _pinv_vjp(g, ans, x, rtol):
    """The transpose of _pinv_jvp: -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)."""
    p, a, gt = ans, x, mT(g)
    pt = mT(p)
    left = wg.matmul(gt, wg.matmul(p, pt))
    right = wg.matmul(wg.matmul(pt, p), gt)
    return (-wg.matmul(wg.matmul(pt, g), pt) + left - wg.matmul(a, wg.matmul(p, left))
            + right - wg.matmul(wg.matmul(right, p), a))


def _pinv_jvp(x_dot, ans, x, rtol):
    """dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P (Golub and Pereyra), the
    derivative where the rank of A does not change nearby."""
    p, a, dt = ans, x, mT(x_dot)
    pt = mT(p)
    first = wg.matmul(wg.matmul(p, pt), dt - wg.matmul(wg.matmul(dt, a), p))
    second = wg.matmul(dt - wg.matmul(wg.matmul(p, a), dt), wg.matmul(pt, p))
    return -wg.matmul(wg.matmul(p, x_dot), p) + first + second


def _pinv_infer(x: TensorType, rtol) -> TensorType:
    if x.ndim < 2:
        raise ShapeError(f"pinv needs (stacks of) matrices (..., m, n), got shape {shape_text(x.shape)}")
    return TensorType(float_result(x), x.shape[:-2] + x.shape[-1:] + x.shape[-2:-1])


def _pinv(x, rtol):
    # as float even when empty: NumPy gives an empty integer matrix back as it came
    return np.linalg.pinv(x, rtol).astype(np.result_type(x, 0.0), copy=False)


def svd_cost(out: TensorType, x: TensorType, **attrs) -> Cost:
    """A singular value decomposition of each m x n matrix: about 4 m n min(m, n) + 8 min^3 flops."""
    m, n = x.shape[-2:]
    k = min(m, n)
    count = x.size // max(m * n, 1)
    return Cost(count * (4 * m * n * k + 8 * k ** 3) + x.size, 3 * x.size * np.dtype(out.dtype).itemsize)


def factor_cost(flops_per_n3: float):
    """A factorization of each n x n matrix of x (LU, Cholesky, ...): flops_per_n3 * n^3 each,
    working on a copy of x."""
    def cost(out: TensorType, x: TensorType) -> Cost:
        n = x.shape[-1]
        count = x.size // max(n * n, 1)
        return Cost(int(flops_per_n3 * count * n ** 3) + x.size, x.size * np.dtype(x.dtype).itemsize)
    return cost


def _solve_cost(out: TensorType, a: TensorType, b: TensorType) -> Cost:
    """LU of a (2/3 n^3) and a forward and back substitution (2 n^2) per right-hand side."""
    n = a.shape[-1]
    count = max(out.size // max(n, 1), 1)  # right-hand sides over the whole stack
    matrices = a.size // max(n * n, 1)
    item = np.dtype(out.dtype).itemsize
    return Cost(int(2 / 3 * matrices * n ** 3) + 2 * n * n * count, (a.size + b.size) * item)


def _matrices(rng, *shapes):
    """Random matrices, well conditioned (a multiple of the identity added)."""
    return tuple(rng.standard_normal(s) + 3 * np.eye(s[-1]) for s in shapes)


def full_rank_matrices(rng, *shape):
    """Random matrices of full rank, well conditioned: the identity added to the leading block."""
    a = rng.standard_normal(shape)
    k = min(shape[-2:])
    a[..., :k, :k] += 3 * np.eye(k)
    return a


def spd_matrices(rng, *shape):
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


OPS = [
    OpDef("matmul", np.matmul, _matmul_infer, arity=2,
          doc="matrix product with NumPy's rules: 1-D operands and broadcast batch dimensions",
          jvp=(lambda a_dot, ans, a, b: wg.matmul(a_dot, b), lambda b_dot, ans, a, b: wg.matmul(a, b_dot)),
          vjp=(lambda g, ans, a, b: _matmul_vjp(g, a, b, 0), lambda g, ans, a, b: _matmul_vjp(g, a, b, 1)),
          batched_forward=_matmul_batched, cost=_product_cost,
          examples=lambda rng: [Example((rng.standard_normal(s), rng.standard_normal(t))) for s, t in [
              ((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
              ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3))]]),
    OpDef("dot", np.dot, _dot_infer, arity=2,
          doc="NumPy dot for operands of at most 2 dimensions (a 0-d operand multiplies)",
          jvp=(lambda a_dot, ans, a, b: wg.dot(a_dot, b), lambda b_dot, ans, a, b: wg.dot(a, b_dot)),
          vjp=(lambda g, ans, a, b: _dot_vjp(g, ans, a, b, 0), lambda g, ans, a, b: _dot_vjp(g, ans, a, b, 1)),
          batched_forward=_dot_batched, cost=_product_cost,
          examples=lambda rng: [Example((rng.standard_normal(s), rng.standard_normal(t))) for s, t in [
              ((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((), (2, 3)), ((3,), ())]]),
    OpDef("solve", _solve, _solve_infer, arity=2,
          doc="x with a x = b (matrix product), for b a vector or a stack of matrices; a must be invertible",
          jvp=(lambda a_dot, ans, a, b: -_uncol(wg.solve(a, wg.matmul(a_dot, _col(ans, b))), b),
               lambda b_dot, ans, a, b: wg.solve(a, b_dot)),
          vjp=(lambda g, ans, a, b: -wg.matmul(wg.solve(mT(a), _col(g, b)), mT(_col(ans, b))),
               lambda g, ans, a, b: _uncol(wg.solve(mT(a), _col(g, b)), b)),
          batched_forward=_solve_batched, cost=_solve_cost,
          examples=lambda rng: [Example(_matrices(rng, (3, 3)) + (rng.standard_normal(s),))
                                for s in [(3,), (3, 2), (2, 3, 1)]]
          + [Example(_matrices(rng, (2, 3, 3)) + (rng.standard_normal(3),))]),
    OpDef("inv", np.linalg.inv, _square_infer("inv"),
          doc="matrix inverse (of each matrix in a stack); undefined for singular matrices",
          jvp=(lambda x_dot, ans, x: -wg.matmul(wg.matmul(ans, x_dot), ans),),
          vjp=(lambda g, ans, x: -wg.matmul(wg.matmul(mT(ans), g), mT(ans)),),
          batched_forward=np.linalg.inv, cost=factor_cost(2.0),
          examples=lambda rng: [Example(_matrices(rng, (3, 3))), Example(_matrices(rng, (2, 2, 2)))]),
    OpDef("det", np.linalg.det, _square_infer("det", reduce=True),
          doc="determinant (of each matrix in a stack); derivative rules need x invertible",
          jvp=(lambda x_dot, ans, x: ans * wg.sum(mT(wg.inv(x)) * x_dot, axis=(-2, -1)),),
          vjp=(_det_vjp,), batched_forward=np.linalg.det, cost=factor_cost(2 / 3),
          examples=lambda rng: [Example(_matrices(rng, (3, 3))), Example(_matrices(rng, (2, 2, 2)))]),
    OpDef("cholesky", np.linalg.cholesky, _square_infer("cholesky"),
          doc="lower Cholesky factor L (L L^T = x) of a positive definite x; reads x's lower triangle",
          jvp=(_cholesky_jvp,), vjp=(_cholesky_vjp,), batched_forward=np.linalg.cholesky,
          cost=factor_cost(1 / 3),
          examples=lambda rng: [Example((spd_matrices(rng, 3, 3),)), Example((spd_matrices(rng, 2, 2, 2),))]),
    OpDef("pinv", _pinv, _pinv_infer, batched_forward=_pinv, cost=svd_cost,
          attrs=(Attr("rtol", "float", doc="singular values below rtol * the largest count as zero "
                      "(wg.linalg.pinv's default: max(m, n) * eps)"),),
          doc="Moore-Penrose pseudo-inverse (of each matrix in a stack); derivative where the rank "
              "is locally constant (full rank in the examples)",
          jvp=(_pinv_jvp,), vjp=(_pinv_vjp,),
          examples=lambda rng: [Example((full_rank_matrices(rng, *s),), {"rtol": 1e-10})
                                for s in [(3, 3), (4, 2), (2, 4), (2, 3, 2)]]),
    OpDef("tril", lambda x, k: np.tril(x, k), _triangle_infer, attrs=(Attr("k", "int", 0, "the diagonal "
          "kept last: 0 main, > 0 above, < 0 below"),), doc="the lower triangle, zeros above diagonal k",
          jvp=(lambda x_dot, ans, x, k: wg.tril(x_dot, k),), vjp=(lambda g, ans, x, k: wg.tril(g, k),),
          batched_forward=lambda x, k: np.tril(x, k),
          examples=lambda rng: [Example((rng.standard_normal(s),), {"k": k}) for s, k in
                                [((3, 3), 0), ((3, 4), -1), ((2, 4, 3), 1)]]),
    OpDef("triu", lambda x, k: np.triu(x, k), _triangle_infer, attrs=(Attr("k", "int", 0, "the diagonal "
          "kept first: 0 main, > 0 above, < 0 below"),), doc="the upper triangle, zeros below diagonal k",
          jvp=(lambda x_dot, ans, x, k: wg.triu(x_dot, k),), vjp=(lambda g, ans, x, k: wg.triu(g, k),),
          batched_forward=lambda x, k: np.triu(x, k),
          examples=lambda rng: [Example((rng.standard_normal(s),), {"k": k}) for s, k in
                                [((3, 3), 0), ((3, 4), -1), ((2, 4, 3), 1)]]),
]
