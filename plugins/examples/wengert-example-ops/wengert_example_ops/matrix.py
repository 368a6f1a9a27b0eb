"""The matrix exponential: an op whose forward is a numeric routine, not a formula.

Its derivative at A along E (the Frechet derivative L(A, E)) is the top-right block of
expm([[A, E], [0, A]]) (Mathias, 1996). Written with graph ops, that makes expm's rules calls
to expm itself: the JVP is L(A, A_dot), the VJP L(A^T, G). Differentiating a rule again only
builds a larger block matrix, so second derivatives need no code of their own.
"""

from __future__ import annotations

import math

import numpy as np

import wengert as wg
from wengert import Example, OpDef, ShapeError, TensorType
from wengert.plugins.shapes import require_float, same_dim

PADE_DEGREE = 6
# Coefficients of the [6/6] Pade approximant: exp(A) ~ D(A)^-1 N(A), N(A) = sum c_k A^k, D(A) = N(-A).
PADE = [math.factorial(2 * PADE_DEGREE - k) * math.factorial(PADE_DEGREE)
        / (math.factorial(2 * PADE_DEGREE) * math.factorial(k) * math.factorial(PADE_DEGREE - k))
        for k in range(PADE_DEGREE + 1)]
# Scale A until its infinity-norm is at most this: [6/6] Pade is then accurate to float64 rounding.
THETA = 0.5


def expm(a): return wg.op("expm", a)


def expm_frechet(a, e):
    """L(A, E) = d/dt expm(A + tE) at t = 0, as a graph: the top-right block of
    expm([[A, E], [0, A]])."""
    n = a.shape[-1]
    top = wg.concatenate([a, e], axis=1)
    bottom = wg.pad(a, [(0, 0), (n, 0)])  # A with n zero columns in front: [0, A]
    return expm(wg.concatenate([top, bottom]))[:n, n:]


def _expm(a: np.ndarray) -> np.ndarray:
    """expm of each matrix of `a` (..., n, n) by scaling and squaring (Golub & Van Loan,
    Matrix Computations, alg. 11.3.1): Pade on A / 2**s, then squared s times. The whole stack
    shares one s, so the same routine serves as the batched forward."""
    norm = float(np.abs(a).sum(axis=-1).max(initial=0.0))
    s = math.ceil(math.log2(max(norm, THETA) / THETA))
    a = a / 2.0 ** s
    powers = [np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)]
    for _ in range(PADE_DEGREE):
        powers.append(powers[-1] @ a)
    even = sum(c * p for c, p in zip(PADE[0::2], powers[0::2]))
    odd = sum(c * p for c, p in zip(PADE[1::2], powers[1::2]))
    x = np.linalg.solve(even - odd, even + odd)
    for _ in range(s):
        x = x @ x
    return x


def _square_matrix(a: TensorType) -> TensorType:
    require_float(a)
    if a.ndim != 2 or not same_dim(*a.shape):
        raise ShapeError(f"needs a square matrix, got shape {a.shape}")
    return a


def _examples(rng):
    """Small norms (Pade alone), larger ones (scaled and squared), and a rotation generator."""
    return [Example((0.3 * rng.standard_normal((3, 3)),)),
            Example((rng.standard_normal((4, 4)),)),
            Example((np.array([[0.0, 2.0], [-2.0, 0.0]]) + 0.1 * rng.standard_normal((2, 2)),)),
            Example((rng.standard_normal((1, 1)),))]


OPS = [
    OpDef("expm", _expm, _square_matrix, batched_forward=_expm, examples=_examples,
          doc="matrix exponential e**A of a square matrix",
          jvp=(lambda a_dot, ans, a: expm_frechet(a, a_dot),),
          vjp=(lambda g, ans, a: expm_frechet(a.T, g),)),
]
