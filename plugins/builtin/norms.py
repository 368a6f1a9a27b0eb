"""The builtin norms, one stanza each: what steepest descent becomes under them.

The lp norms measure all parameters together as one flat vector (so `l2` is exactly gradient
descent on all of them). The spectral norm measures each parameter as a matrix and takes the
max over parameters: the spectral norm of the block-diagonal matrix they form. `product` lets
each parameter have its own norm. Read `wengert.plugins.normdef` for the three functions.
"""

from __future__ import annotations

import math

import numpy as np

from wengert.plugins.normdef import Blocks, NormDef, product


def _flat(blocks: Blocks) -> np.ndarray:
    return np.concatenate([np.ravel(b) for b in blocks]) if len(blocks) else np.zeros(0)


def _unflat(flat: np.ndarray, like: Blocks) -> list[np.ndarray]:
    ends = np.cumsum([np.size(b) for b in like])
    return [part.reshape(np.shape(b)) for part, b in zip(np.split(flat, ends[:-1]), like)]


# -- l2: self-dual, dualize(g) = g / ||g||, so the step -lr * ||g|| * g / ||g|| is -lr * g ----
def _l2(w: Blocks) -> float:
    return float(np.linalg.norm(_flat(w)))


def _l2_dualize(g: Blocks) -> list[np.ndarray]:
    length = _l2(g) or 1.0  # a zero gradient dualizes to zero
    return [np.asarray(b) / length for b in g]


L2 = NormDef("l2", norm=_l2, dual_norm=_l2, dualize=_l2_dualize,
             doc="Euclidean norm: steepest descent is plain gradient descent")


# -- l1: the dual is l-inf; the unit step moves only the largest gradient component -------------
def _l1_dualize(g: Blocks) -> list[np.ndarray]:
    flat = _flat(g)
    step = np.zeros_like(flat)
    if flat.size:
        i = np.argmax(np.abs(flat))
        step[i] = np.sign(flat[i])
    return _unflat(step, g)


L1 = NormDef("l1", norm=lambda w: float(np.abs(_flat(w)).sum()),
             dual_norm=lambda g: float(np.abs(_flat(g)).max(initial=0.0)), dualize=_l1_dualize,
             doc="l1 norm: a coordinate step on the largest gradient component (ties: the first)")


# -- l-inf: the dual is l1; the unit step is the gradient's sign ---------------------------------
LINF = NormDef("linf", norm=lambda w: float(np.abs(_flat(w)).max(initial=0.0)),
               dual_norm=lambda g: float(np.abs(_flat(g)).sum()),
               dualize=lambda g: [np.sign(b) for b in g],
               doc="l-infinity norm: sign descent")


# -- spectral: the dual is the nuclear norm; the unit step is U V^T from the SVD -----------------
def _matrix(x: np.ndarray) -> np.ndarray:
    """A parameter as a matrix: a vector is a column, a scalar 1x1, more axes fold into columns."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], math.prod(x.shape[1:])) if x.ndim else x.reshape(1, 1)


def _singular_values(x: np.ndarray) -> np.ndarray:
    return np.linalg.svd(_matrix(x), compute_uv=False)


def _orthogonalized(g: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(_matrix(g), full_matrices=False)
    return (u @ vt).reshape(np.shape(g)) if np.any(g) else np.zeros_like(g)


_ONE_MATRIX = NormDef("spectral", norm=lambda w: float(_singular_values(*w).max(initial=0.0)),
                      dual_norm=lambda g: float(_singular_values(*g).sum()),
                      dualize=lambda g: [_orthogonalized(*g)])
SPECTRAL = product(_ONE_MATRIX, name="spectral",
                   doc="spectral norm of each parameter as a matrix, max over parameters: "
                       "orthogonalized updates U V^T")


# -- product: each parameter its own norm, combined by max ---------------------------------------
PRODUCT = product(L2, name="product",
                  doc="each parameter its own norm (l2 unless chosen per parameter), combined by "
                      "max: every parameter moves the same distance")

NORMS = [L2, L1, LINF, SPECTRAL, PRODUCT]
