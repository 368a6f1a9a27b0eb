"""Special functions the distributions need: log-gamma, polygamma, and the derivatives of the
regularised incomplete gamma function in its shape, which give the gamma sampler its pathwise
derivative (implicit reparameterisation).

A gamma sample x = P^-1(a, u) solves P(a, x) = u at fixed uniform u, so dx/da = -dP/da / p(x; a)
(Figurnov et al. 2018), with p the gamma density. `gammainc_ratio(a, x, order=k)` is
R_k = (d/da)^k P(a, x) / p(x; a): the family closes under differentiation,

    dR_k/da = R_(k+1) - R_k * d(ln p)/da,      dR_k/dx = (d/da)^k p / p - R_k * d(ln p)/dx,

and (d/da)^k p / p is a complete Bell polynomial in the derivatives of ln p = (a-1) ln x - x -
lgamma(a), which are polygammas. So its rules are graph ops and every order is checked.
R_k is computed in Taylor arithmetic in a, from P's power series when x < a + 1 and
from the continued fraction of Q = 1 - P otherwise, both scaled by 1/p before summing: no
cancellation in either tail.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

import wengert as wg
from wengert.ir.graph import TensorType
from wengert.plugins.builtin.elementwise import in_float
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import floating

_EPS = 1e-17
_MAX_TERMS = 20_000  # terms of the series or continued fraction: x near a needs about 9 sqrt(a)


# -- Taylor arithmetic in a: a jet is [c_0, ..., c_K] with c_k = (d/da)^k f / k! ---------------
def _mul(p: list, q: list) -> list:
    return [sum(p[j] * q[k - j] for j in range(k + 1)) for k in range(len(p))]


def _exp(p: list) -> list:
    out = [np.exp(p[0])]
    for k in range(1, len(p)):
        out.append(sum(j * p[j] * out[k - j] for j in range(1, k + 1)) / k)
    return out


def _div(p: list, q: list) -> list:
    out = []
    for k in range(len(p)):
        out.append((p[k] - sum(q[j] * out[k - j] for j in range(1, k + 1))) / q[0])
    return out


def _log_density_jet(a: np.ndarray, x: np.ndarray, shift: np.ndarray, order: int) -> list:
    """The jet of a ln x - lgamma(a + shift) in a, less its value at `shift` = 0 of ln p: the
    scaled prefactor of the series (shift 1) or of the continued fraction (shift 0)."""
    logx = np.log(x)
    jet = [logx - np.log(a) if shift else logx, logx - special.digamma(a + shift)]
    jet += [-special.polygamma(k - 1, a + shift) / math.factorial(k) for k in range(2, order + 1)]
    return jet


def _series(a: np.ndarray, x: np.ndarray, order: int) -> tuple[list, np.ndarray]:
    """P / p as a jet: x^a e^-x / Gamma(a+1) * sum_n prod_(j<=n) x / (a + j), over p; and
    which elements converged within _MAX_TERMS terms."""
    term = [np.ones_like(a)] + [np.zeros_like(a)] * order
    total = list(term)
    for n in range(1, _MAX_TERMS):
        inverse = [(-1.0) ** k / (a + n) ** (k + 1) for k in range(order + 1)]
        term = [c * x for c in _mul(term, inverse)]
        total = [t + c for t, c in zip(total, term)]
        converged = np.abs(term[0]) <= _EPS * np.abs(total[0])
        if n > np.max(x - a) and converged.all():
            break
    return _mul(_exp(_log_density_jet(a, x, 1, order)), total), converged


def _continued_fraction(a: np.ndarray, x: np.ndarray, order: int) -> tuple[list, np.ndarray]:
    """Q / p as a jet: x^a e^-x / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))), over
    p, by the Wallis recurrences (rescaled at every step so nothing overflows); and which
    elements converged within _MAX_TERMS terms."""
    zero = [np.zeros_like(a)] * (order + 1)
    unit = lambda value, slope: [value, slope] + [np.zeros_like(a)] * (order - 1)  # noqa: E731
    a_prev, a_cur = unit(np.ones_like(a), np.zeros_like(a)), zero
    b_prev, b_cur = zero, unit(np.ones_like(a), np.zeros_like(a))
    previous, converged = None, np.zeros(a.shape, bool)
    for n in range(1, _MAX_TERMS):
        numerator = unit(np.ones_like(a), np.zeros_like(a)) if n == 1 else unit(
            -(n - 1) * (n - 1 - a), np.full_like(a, n - 1.0))
        denominator = unit(x + 2 * n - 1 - a, -np.ones_like(a))
        a_next = [s + t for s, t in zip(_mul(denominator, a_cur), _mul(numerator, a_prev))]
        b_next = [s + t for s, t in zip(_mul(denominator, b_cur), _mul(numerator, b_prev))]
        scale = 1.0 / b_next[0]
        a_prev, a_cur = [c * scale for c in a_cur], [c * scale for c in a_next]
        b_prev, b_cur = [c * scale for c in b_cur], [c * scale for c in b_next]
        if n % 4 == 0:
            fraction = _div(a_cur, b_cur)
            scale = 1e-12 * np.abs(fraction[0])  # a coefficient near zero converges in absolute terms
            if previous is not None:
                converged = np.logical_and.reduce([np.abs(f - g) <= 1e-15 * np.abs(f) + scale
                                                   for f, g in zip(fraction, previous)])
                if converged.all():
                    break
            previous = fraction
    return _mul(_exp(_log_density_jet(a, x, 0, order)), _div(a_cur, b_cur)), converged


def gammainc_ratio(a: np.ndarray, x: np.ndarray, order: int) -> np.ndarray:
    """(d/da)^order P(a, x) / p(x; a), for finite a > 0, x > 0 and order >= 1; NaN elsewhere,
    and where the series or the continued fraction has not converged in _MAX_TERMS terms (x
    near a larger than about 1e6)."""
    a, x = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(x, dtype=np.float64))
    out = np.full(a.shape, np.nan)
    valid = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)  # inf or NaN would never converge
    series = valid & (x < a + 1)
    upper = valid & ~series
    for where, expansion, sign in ((series, _series, 1.0), (upper, _continued_fraction, -1.0)):
        if where.any():
            jet, converged = expansion(a[where], x[where], order)
            out[where] = np.where(converged, sign * jet[order] * math.factorial(order), np.nan)
    return out


# -- the rules, as graph ops -------------------------------------------------------------------
def _log_density_derivatives(a, x, count: int) -> list:
    """(d/da)^j ln p(x; a) for j = 1..count: ln x - digamma(a), then -polygamma(j - 1, a)."""
    return [wg.log(x) - wg.op("polygamma", a, n=0)] + [-wg.op("polygamma", a, n=j - 1)
                                                       for j in range(2, count + 1)]


def density_derivative_ratio(a, x, order: int):
    """(d/da)^order p(x; a) / p(x; a): the complete Bell polynomial of the log density's
    derivatives, B_(n+1) = sum_i C(n, i) B_(n-i) g_(i+1)."""
    g = _log_density_derivatives(a, x, order)
    bell = [None]  # B_0 = 1, kept symbolic as None so no constant is multiplied in
    for n in range(order):
        terms = [g[i] if bell[n - i] is None else math.comb(n, i) * bell[n - i] * g[i] for i in range(n + 1)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        bell.append(total)
    return bell[order]


def _ratio_da(ans, a, x, order):
    return wg.op("gammainc_ratio", a, x, order=order + 1) - ans * (wg.log(x) - wg.op("polygamma", a, n=0))


def _ratio_dx(ans, a, x, order):
    return density_derivative_ratio(a, x, order) - ans * ((a - 1) / x - 1)


def _polygamma_infer(x: TensorType, n: int) -> TensorType:
    if n < 0:
        raise ShapeError(f"n must be non-negative, got {n}")
    return floating(x)


MAX_RATIO_ORDER = 64  # the x-derivative of order k is a graph of about k^2 / 2 nodes


def _ratio_infer(a: TensorType, x: TensorType, order: int) -> TensorType:
    if not 1 <= order <= MAX_RATIO_ORDER:
        raise ShapeError(f"order must be from 1 to {MAX_RATIO_ORDER} (its x-derivative is a graph of "
                         f"about order^2 / 2 nodes), got {order}")
    return floating(a, x)


def _ratio_examples(rng):
    cases = []
    for order in (1, 2):
        for shape in ((), (3, 4)):
            a, x = rng.uniform(0.4, 4.0, size=shape), rng.uniform(0.2, 6.0, size=shape)
            cases.append(Example((a, x), {"order": order}))
    return cases


def _polygamma_examples(rng):
    return [Example((rng.uniform(0.3, 3.0, size=s),), {"n": n}) for n in (0, 1, 2) for s in ((), (3, 4))]


OPS = [
    OpDef("lgamma", in_float(lambda x: special.gammaln(x).astype(x.dtype)), floating, elementwise=True,
          domain=(0.3, 3.0), doc="ln |Gamma(x)|; derivative digamma(x)",
          jvp=(lambda x_dot, ans, x: x_dot * wg.op("polygamma", x, n=0),),
          vjp=(lambda g, ans, x: g * wg.op("polygamma", x, n=0),)),
    OpDef("polygamma", in_float(lambda x, n: special.polygamma(n, x).astype(x.dtype)), _polygamma_infer,
          attrs=(Attr("n", "int", doc="the derivative's order: 0 is digamma, 1 trigamma, ..."),),
          elementwise=True, examples=_polygamma_examples,
          doc="polygamma(x, n) = (d/dx)^(n+1) ln Gamma(x); n=0 is digamma",
          jvp=(lambda x_dot, ans, x, n: x_dot * wg.op("polygamma", x, n=n + 1),),
          vjp=(lambda g, ans, x, n: g * wg.op("polygamma", x, n=n + 1),)),
    OpDef("gammainc_ratio", lambda a, x, order: gammainc_ratio(a, x, order).astype(np.result_type(a, x, 0.0)),
          _ratio_infer, arity=2, elementwise=True, examples=_ratio_examples,
          attrs=(Attr("order", "int", 1, "k: the derivative in the shape a"),),
          # priced for the most terms: each is (order + 1)^2 products of jets, each a NumPy call
          cost=lambda out, a, x, order: Cost(_MAX_TERMS * (order + 1) ** 2 * (1_000 + 4 * out.size)),
          doc="(d/da)^k P(a, x) / p(x; a), P the regularised lower incomplete gamma function and p the "
              "gamma density: minus the pathwise derivative of a gamma sample is R_1",
          jvp=(lambda a_dot, ans, a, x, order: a_dot * _ratio_da(ans, a, x, order),
               lambda x_dot, ans, a, x, order: x_dot * _ratio_dx(ans, a, x, order)),
          vjp=(lambda g, ans, a, x, order: g * _ratio_da(ans, a, x, order),
               lambda g, ans, a, x, order: g * _ratio_dx(ans, a, x, order))),
]
