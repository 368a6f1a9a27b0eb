"""Matrix decompositions: eigh, svd, qr, slogdet (several results each), eigvalsh, svdvals.

A node has one output, so a decomposition with several results packs them: each result is
flattened over its matrix axes and the pieces are concatenated along one last axis, in the
order NumPy returns them (`layout` gives the pieces' shapes). `wg.linalg.eigh` and friends
unpack them with views, and a rule unpacks its cotangent the same way, so the derivative of
one decomposition is computed from one factorization, whichever results are used.

The rules are the classical ones (Giles 2008; Townsend 2016 for the SVD), written with graph
ops so they differentiate again. Their domain: eigh needs distinct eigenvalues and svd
distinct nonzero singular values (the eigenvector and singular-vector derivatives divide by
their differences); qr needs full column rank and m >= n. eigvalsh and svdvals have rules
that stay finite at repeated values, so use them when only the values matter. The checker's
examples are matrices with well separated spectra.
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert.errors import NoDerivative
from wengert.ir.graph import TensorType, shape_text
from wengert.plugins.builtin.linalg import (
    factor_cost, full_rank_matrices, lower_symmetric, lower_symmetric_transpose, mT, spd_matrices, svd_cost,
)
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import float_result


# -- packing: results flattened over their matrix axes, concatenated along the last axis ---------
def layout(op: str, shape: tuple[int, ...], **attrs) -> list[tuple[int, ...]]:
    """The shapes (without the stack's batch axes) of the results `op` packs, for an input of
    `shape` (..., m, n)."""
    m, n = shape[-2:]
    k = min(m, n)
    if op == "eigh":
        return [(n,), (n, n)]
    if op == "svd":
        full = attrs.get("full_matrices", True)
        return [(m, m if full else k), (k,), (n if full else k, n)]
    if op == "qr":
        complete = attrs.get("mode", "reduced") == "complete"
        return [(m, m if complete else k), (m if complete else k, n)]
    if op == "slogdet":
        return [(), ()]
    raise ValueError(f"{op} packs no results")


def pack(parts, batch: tuple[int, ...]):
    """Symbolic results (each shaped batch + its own shape) packed along one last axis."""
    return wg.concatenate([wg.reshape(p, batch + (int(np.prod(p.shape[len(batch):])),)) for p in parts],
                          axis=-1)


def unpack(packed, shapes: list[tuple[int, ...]]) -> list:
    """The results of a packed value (symbolic, or a NumPy array), as views."""
    batch, parts, start = packed.shape[:-1], [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        parts.append(packed[..., start:start + size].reshape(batch + shape))
        start += size
    return parts


def _packed_infer(op: str):
    def infer(x: TensorType, **attrs) -> TensorType:
        if x.ndim < 2 or -1 in x.shape[-2:]:
            raise ShapeError(f"{op} needs (stacks of) matrices (..., m, n) of known size, "
                             f"got shape {shape_text(x.shape)}")
        if op in ("eigh", "slogdet") and x.shape[-1] != x.shape[-2]:
            raise ShapeError(f"{op} needs square matrices (..., n, n), got shape {shape_text(x.shape)}")
        if op == "qr" and attrs["mode"] not in ("reduced", "complete"):
            raise ShapeError(f"mode must be 'reduced' or 'complete', got {attrs['mode']!r}")
        size = sum(int(np.prod(s)) for s in layout(op, x.shape, **attrs))
        return TensorType(float_result(x), x.shape[:-2] + (size,))
    return infer


def _values_infer(op: str):
    """eigvalsh and svdvals: one value per row (or column) of each matrix."""
    def infer(x: TensorType) -> TensorType:
        if x.ndim < 2 or -1 in x.shape[-2:]:
            raise ShapeError(f"{op} needs (stacks of) matrices (..., m, n) of known size, "
                             f"got shape {shape_text(x.shape)}")
        if op == "eigvalsh" and x.shape[-1] != x.shape[-2]:
            raise ShapeError(f"{op} needs square matrices (..., n, n), got shape {shape_text(x.shape)}")
        return TensorType(float_result(x), x.shape[:-2] + (min(x.shape[-2:]),))
    return infer


def _packed_forward(routine):
    """The forward of a packing op: NumPy's results, flattened and concatenated."""
    def forward(x, **attrs):
        parts = routine(x, **attrs)
        batch = x.shape[:-2]
        return np.concatenate([np.reshape(p, batch + (-1,)) for p in parts], axis=-1)
    return forward


def _eye(n: int, like):
    return np.eye(n, dtype=like.dtype)


def _diagonal(x):
    """The diagonals of a stack of square matrices (their last two axes)."""
    return wg.sum(x * _eye(x.shape[-1], x), axis=-1)


def _diag_embed(v):
    """Stacks of diagonal matrices with diagonals `v`."""
    return wg.expand_dims(v, -2) * _eye(v.shape[-1], v)


def _gaps(values):
    """F with F_ij = 1 / (values_j - values_i) off the diagonal and 0 on it: it is inf where two
    values coincide, which is where the vectors' derivatives do not exist."""
    eye = _eye(values.shape[-1], values)
    return 1 / (wg.expand_dims(values, -2) - wg.expand_dims(values, -1) + eye) - eye


# -- eigh ------------------------------------------------------------------------------------
def _eigh(x):
    return np.linalg.eigh(x)


def _eigh_jvp(x_dot, ans, x):
    """dP = V^T S V for the symmetric tangent S eigh reads; d lambda = diag(dP), dV = V (F o dP)."""
    w, v = unpack(ans, layout("eigh", x.shape))
    p = wg.matmul(mT(v), wg.matmul(lower_symmetric(x_dot), v))
    return pack([_diagonal(p), wg.matmul(v, _gaps(w) * p)], x.shape[:-2])


def _eigh_vjp(g, ans, x):
    w, v = unpack(ans, layout("eigh", x.shape))
    gw, gv = unpack(g, layout("eigh", x.shape))
    p = _diag_embed(gw) + _gaps(w) * wg.matmul(mT(v), gv)
    return lower_symmetric_transpose(wg.matmul(v, wg.matmul(p, mT(v))))


def _eigenvectors(x):
    return unpack(wg.op("eigh", x), layout("eigh", x.shape))[1]


def _eigvalsh_jvp(x_dot, ans, x):
    """d lambda_i = v_i^T S v_i: finite even where eigenvalues repeat."""
    v = _eigenvectors(x)
    return wg.sum(v * wg.matmul(lower_symmetric(x_dot), v), axis=-2)


def _eigvalsh_vjp(g, ans, x):
    v = _eigenvectors(x)
    return lower_symmetric_transpose(wg.matmul(v * wg.expand_dims(g, -2), mT(v)))


# -- svd -------------------------------------------------------------------------------------
def _svd(x, full_matrices):
    return np.linalg.svd(x, full_matrices=full_matrices)


def _thin(x, full_matrices):
    """Derivatives exist for the thin SVD only: a full U or Vh has columns fixed by nothing."""
    m, n = x.shape[-2:]
    if full_matrices and m != n:
        raise NoDerivative("svd with full_matrices=True of a non-square matrix has no derivative "
                           "(its extra singular vectors are arbitrary); use full_matrices=False")


def _svd_jvp(x_dot, ans, x, full_matrices):
    """Townsend's rules with F_ij = 1 / (s_j^2 - s_i^2), as in JAX: dP = U^T dA V,
    ds = diag(dP), dU = U (F o (dP S + S dP^T)) (+ (I - U U^T) dA V / s when m > n), and
    dV likewise with dP^T."""
    _thin(x, full_matrices)
    u, s, vh = unpack(ans, layout("svd", x.shape, full_matrices=full_matrices))
    v, (m, n) = mT(vh), x.shape[-2:]
    p = wg.matmul(mT(u), wg.matmul(x_dot, v))
    f, row, col = _gaps(s * s), wg.expand_dims(s, -2), wg.expand_dims(s, -1)
    du = wg.matmul(u, f * (p * row + mT(p * row)))
    dv = wg.matmul(v, f * (col * p + mT(col * p)))
    if m > n:
        dav = wg.matmul(x_dot, v)
        du = du + (dav - wg.matmul(u, wg.matmul(mT(u), dav))) / row
    if n > m:
        dau = wg.matmul(mT(x_dot), u)
        dv = dv + (dau - wg.matmul(v, wg.matmul(vh, dau))) / row
    return pack([du, _diagonal(p), mT(dv)], x.shape[:-2])


def _svd_vjp(g, ans, x, full_matrices):
    """The transpose of _svd_jvp, step by step."""
    _thin(x, full_matrices)
    shapes = layout("svd", x.shape, full_matrices=full_matrices)
    (u, s, vh), (gu, gs, gvh) = unpack(ans, shapes), unpack(g, shapes)
    v, gv, (m, n) = mT(vh), mT(gvh), x.shape[-2:]
    f, row, col = _gaps(s * s), wg.expand_dims(s, -2), wg.expand_dims(s, -1)
    mu, mv = f * wg.matmul(mT(u), gu), f * wg.matmul(mT(v), gv)
    p = _diag_embed(gs) + row * (mu + mT(mu)) + col * (mv + mT(mv))
    ga = wg.matmul(u, wg.matmul(p, vh))
    if m > n:
        gu_s = gu / row
        ga = ga + wg.matmul(gu_s - wg.matmul(u, wg.matmul(mT(u), gu_s)), vh)
    if n > m:
        gv_s = gv / row
        ga = ga + wg.matmul(u, mT(gv_s - wg.matmul(v, wg.matmul(vh, gv_s))))
    return ga


def _singular_vectors(x):
    u, _, vh = unpack(wg.op("svd", x, full_matrices=False), layout("svd", x.shape, full_matrices=False))
    return u, vh


def _svdvals_jvp(x_dot, ans, x):
    """ds_i = u_i^T dA v_i: finite even where singular values repeat."""
    u, vh = _singular_vectors(x)
    return wg.sum(u * wg.matmul(x_dot, mT(vh)), axis=-2)


def _svdvals_vjp(g, ans, x):
    u, vh = _singular_vectors(x)
    return wg.matmul(u * wg.expand_dims(g, -2), vh)


# -- qr --------------------------------------------------------------------------------------
def _qr(x, mode):
    return np.linalg.qr(x, mode=mode)


def _tall(x, mode):
    m, n = x.shape[-2:]
    if m < n or (mode == "complete" and m != n):
        raise NoDerivative(f"qr of a {m} x {n} matrix has no derivative here: it needs m >= n "
                           f"(and mode='reduced' unless square)")


def _right_solve(b, r):
    """b R^-1, for the square R: solve(R^T, b^T)^T."""
    return mT(wg.solve(mT(r), mT(b)))


def _qr_jvp(x_dot, ans, x, mode):
    """X = dA R^-1, C = Q^T X, Omega = tril(C, -1) - tril(C, -1)^T (skew); dQ = Q (Omega - C)
    + X and dR = (C - Omega) R, as in JAX."""
    _tall(x, mode)
    q, r = unpack(ans, layout("qr", x.shape, mode=mode))
    b = _right_solve(x_dot, r)
    c = wg.matmul(mT(q), b)
    low = wg.tril(c, -1)
    omega = low - mT(low)
    return pack([wg.matmul(q, omega - c) + b, wg.matmul(c - omega, r)], x.shape[:-2])


def _qr_vjp(g, ans, x, mode):
    """The transpose of _qr_jvp, step by step."""
    _tall(x, mode)
    shapes = layout("qr", x.shape, mode=mode)
    (q, r), (gq, gr) = unpack(ans, shapes), unpack(g, shapes)
    omega = wg.matmul(mT(q), gq) - wg.matmul(gr, mT(r))
    c = wg.tril(omega - mT(omega), -1) - omega
    return mT(wg.solve(r, mT(gq + wg.matmul(q, c))))


# -- slogdet ---------------------------------------------------------------------------------
def _slogdet(x):
    return np.linalg.slogdet(x)


def _slogdet_jvp(x_dot, ans, x):
    """The sign is locally constant; d log|det x| = tr(x^-1 dx)."""
    d = wg.sum(mT(wg.inv(x)) * x_dot, axis=(-2, -1))
    return wg.pad(wg.expand_dims(d, -1), [(0, 0)] * (x.ndim - 2) + [(1, 0)])


def _slogdet_vjp(g, ans, x):
    return wg.expand_dims(g[..., 1], (-2, -1)) * mT(wg.inv(x))


# -- costs and examples ------------------------------------------------------------------------
def _eigh_cost(out: TensorType, x: TensorType, **attrs) -> Cost:
    """A symmetric eigendecomposition: about 9 n^3 flops with vectors, 4/3 n^3 without."""
    n = x.shape[-1]
    count = x.size // max(n * n, 1)
    per = 9 * n ** 3 if out.size > count * n else 4 * n ** 3 // 3
    return Cost(count * per + x.size, 2 * x.size * np.dtype(out.dtype).itemsize)


def _qr_cost(out: TensorType, x: TensorType, mode) -> Cost:
    """Householder QR and forming Q: about 4 m n^2 flops."""
    m, n = x.shape[-2:]
    count = x.size // max(m * n, 1)
    return Cost(count * 4 * m * n * min(m, n) + x.size, 2 * x.size * np.dtype(out.dtype).itemsize)


def _separated_symmetric(rng, *shape):
    """Random symmetric matrices with eigenvalues at least 1 apart."""
    n = shape[-1]
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    w = np.arange(n) * 1.5 - n / 2 + rng.uniform(0, 0.3, shape[:-2] + (n,))
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def _separated_singular(rng, *shape):
    """Random matrices with singular values 1, 2, 3, ... (times a little noise)."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, k)))
    v, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, k)))
    s = np.arange(1, k + 1) + rng.uniform(0, 0.3, shape[:-2] + (k,))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def _symmetric_examples(rng):
    return [Example((_separated_symmetric(rng, 3, 3),)), Example((_separated_symmetric(rng, 2, 4, 4),)),
            Example((spd_matrices(rng, 1, 1),))]


OPS = [
    OpDef("eigh", _packed_forward(_eigh), _packed_infer("eigh"), batched_forward=_packed_forward(_eigh),
          doc="eigenvalues (ascending) and eigenvectors of symmetric matrices, packed (..., n + n*n); "
              "reads the lower triangle; derivatives need distinct eigenvalues",
          jvp=(_eigh_jvp,), vjp=(_eigh_vjp,), cost=_eigh_cost, examples=_symmetric_examples),
    OpDef("eigvalsh", np.linalg.eigvalsh, _values_infer("eigvalsh"),
          batched_forward=np.linalg.eigvalsh, cost=_eigh_cost,
          doc="eigenvalues (ascending) of symmetric matrices; reads the lower triangle",
          jvp=(_eigvalsh_jvp,), vjp=(_eigvalsh_vjp,), examples=_symmetric_examples),
    OpDef("svd", _packed_forward(_svd), _packed_infer("svd"), batched_forward=_packed_forward(_svd),
          attrs=(Attr("full_matrices", "bool", True, "U and Vh square (true) or thin (false)"),),
          doc="singular value decomposition U, S, Vh, packed (..., m*ku + k + kv*n); derivatives "
              "need distinct nonzero singular values, and full_matrices false unless square",
          jvp=(_svd_jvp,), vjp=(_svd_vjp,), cost=svd_cost,
          examples=lambda rng: [Example((_separated_singular(rng, *s),), {"full_matrices": full})
                                for s, full in [((3, 3), True), ((4, 2), False), ((2, 4), False),
                                                ((2, 3, 2), False)]]),
    OpDef("svdvals", lambda x: np.linalg.svd(x, compute_uv=False), _values_infer("svdvals"),
          batched_forward=lambda x: np.linalg.svd(x, compute_uv=False), cost=svd_cost,
          doc="singular values (descending)", jvp=(_svdvals_jvp,), vjp=(_svdvals_vjp,),
          examples=lambda rng: [Example((_separated_singular(rng, *s),)) for s in [(3, 3), (4, 2), (2, 2, 3)]]),
    OpDef("qr", _packed_forward(_qr), _packed_infer("qr"), batched_forward=_packed_forward(_qr),
          attrs=(Attr("mode", "str", "reduced", "'reduced' (Q is m x k) or 'complete' (Q is m x m)"),),
          doc="QR decomposition Q, R, packed (..., m*kq + kq*n); derivatives need full column rank, m >= n",
          jvp=(_qr_jvp,), vjp=(_qr_vjp,), cost=_qr_cost,
          examples=lambda rng: [Example((full_rank_matrices(rng, *s),), {"mode": mode}) for s, mode in
                                [((3, 3), "reduced"), ((4, 2), "reduced"), ((3, 3), "complete"),
                                 ((2, 4, 3), "reduced")]]),
    OpDef("slogdet", _packed_forward(_slogdet), _packed_infer("slogdet"),
          batched_forward=_packed_forward(_slogdet),
          doc="sign and log |det| of square matrices, packed (..., 2); derivatives need x invertible",
          jvp=(_slogdet_jvp,), vjp=(_slogdet_vjp,), cost=factor_cost(2 / 3),
          examples=lambda rng: [Example((full_rank_matrices(rng, *s),)) for s in [(3, 3), (2, 2, 2)]]
          + [Example((-full_rank_matrices(rng, 3, 3),))]),
]
