"""The distribution checks the derivative checker adds for a sampling op (`OpDef.sampler`).

For each of the sampler's `check_params` it draws `DRAWS` samples at a fixed key and checks
that the log density normalises and that the samples follow it:

* numbers ("real", "positive", "unit", "interval"): the density integrates to 1 within 1e-6
  (adaptive quadrature, split at the samples' quantiles), and a Kolmogorov-Smirnov test of the
  samples against the density's CDF (integrated from the density) gives a p-value of at least
  `P_VALUE`;
* "finite": the probabilities of the support sum to 1 within 1e-9, and a chi-square test of the
  samples' counts gives a p-value of at least `P_VALUE`;
* "simplex": the integral over the simplex, by Monte Carlo with uniform points, is 1 within 5
  standard errors, and the samples' first and second moments agree with the density's (the same
  Monte Carlo) within 5 standard errors. Uniform points estimate these integrals with a finite
  variance only for a square-integrable density: choose `check_params` that make it one (a
  concrete distribution's temperature above 1, a Dirichlet's concentrations at least 1/2).

The third check of a distribution, pathwise derivatives against finite differences of the
sampler at a fixed key, is the ordinary op check: the key is an integer input, held fixed while
the parameters move. Everything is seeded, so a check passes or fails the same way every time;
a correct sampler fails a test at level 1e-4 for one seed in ten thousand.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from scipy import integrate, stats

from wengert.ir.graph import TensorType
from wengert.plugins.opdef import OpDef
from wengert.plugins.sampling import key_array

DRAWS = 4000
SIMPLEX_POINTS = 200_000
P_VALUE = 1e-4
_GAUSS = np.polynomial.legendre.leggauss(16)
_BOUNDS = {"real": (-np.inf, np.inf), "positive": (0.0, np.inf), "unit": (0.0, 1.0)}

Problem = tuple[str, float, str]  # (check, how far off, detail), as `check_graph` reports


def check_distribution(op: OpDef, registry, seed: int = 0) -> list[Problem]:
    """The distribution checks of sampling op `op`; [] when all pass."""
    sampler = op.sampler
    if sampler.log_prob not in registry:
        return [("distribution: log density", math.inf, f"log_prob op {sampler.log_prob!r} is not registered")]
    log_prob = registry.get(sampler.log_prob)
    problems = []
    for k, params in enumerate(sampler.check_params):
        params = tuple(np.asarray(p, dtype=np.float64) for p in params)
        samples = op.forward(key_array(seed + k, 0), *params, shape=(DRAWS,))
        density = lambda x, params=params: log_prob.forward(np.asarray(x), *params)  # noqa: E731
        where = f"parameters {tuple(p.tolist() for p in params)}"
        checks = {"finite": _finite, "simplex": _simplex}.get(sampler.domain, _numbers)
        for check, worst, detail in checks(sampler, density, samples, params, seed + k):
            problems.append((f"distribution: {check}", worst, f"{where}: {detail}"))
    return problems


def _numbers(sampler, density, samples, params, seed) -> Iterator[Problem]:
    low, high = (params[0].item(), params[1].item()) if sampler.domain == "interval" else _BOUNDS[sampler.domain]
    pdf = lambda x: _density(density, x)  # noqa: E731
    cuts = [low, *np.quantile(samples, [0.001, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999]), high]
    total = math.fsum(integrate.quad(pdf, a, b, limit=200)[0] for a, b in zip(cuts, cuts[1:]) if b > a)
    if abs(total - 1) > 1e-6:
        yield "log density normalises", abs(total - 1) / 1e-6, f"integral {total:.9g}, tolerance 1e-6"
    ordered = np.sort(samples)
    nodes, weights = _GAUSS
    left, right = ordered[:-1, None], ordered[1:, None]
    pieces = ((right - left) / 2 * pdf((right - left) / 2 * nodes + (right + left) / 2) * weights).sum(axis=1)
    start = integrate.quad(pdf, low, ordered[0], limit=200)[0] if ordered[0] > low else 0.0
    cdf = start + np.concatenate([[0.0], np.cumsum(pieces)])
    result = stats.ks_1samp(ordered, lambda x: np.interp(x, ordered, cdf), method="exact")
    if result.pvalue < P_VALUE:
        yield ("samples follow the log density (Kolmogorov-Smirnov)", P_VALUE / max(result.pvalue, 1e-300),
               f"D = {result.statistic:.4g}, p = {result.pvalue:.3g} < {P_VALUE:g}")


def _density(density, x) -> np.ndarray:
    """exp(log density) at `x`; far in a tail, where the log density's terms overflow (inf -
    inf), the density is 0."""
    with np.errstate(all="ignore"):
        value = np.exp(density(x))
    return np.where(np.isnan(value) & ~np.isfinite(np.asarray(x)), 0.0, value)


def _finite(sampler, density, samples, params, seed) -> Iterator[Problem]:
    value = TensorType.of(np.asarray(samples[0]))
    support = sampler.support(value, *(TensorType.of(p) for p in params))
    probabilities = np.exp(density(support)).reshape(len(support), -1).prod(axis=1)
    total = math.fsum(probabilities)
    if abs(total - 1) > 1e-9:
        yield "log density normalises", abs(total - 1) / 1e-9, f"probabilities sum to {total:.12g}"
    flat = support.reshape(len(support), -1)
    drawn = np.asarray(samples).reshape(len(samples), -1)
    counts = np.array([np.sum(np.all(drawn == row, axis=1)) for row in flat])
    if counts.sum() != len(samples):
        yield "samples lie in the support", math.inf, f"{len(samples) - counts.sum()} samples are not in it"
        return
    result = stats.chisquare(counts, probabilities / total * len(samples))
    if result.pvalue < P_VALUE:
        yield ("samples follow the log density (chi-square)", P_VALUE / max(result.pvalue, 1e-300),
               f"counts {counts.tolist()}, p = {result.pvalue:.3g} < {P_VALUE:g}")


def _simplex(sampler, density, samples, params, seed) -> Iterator[Problem]:
    k = samples.shape[-1]
    rng = np.random.default_rng(seed)
    points = rng.exponential(size=(SIMPLEX_POINTS, k))
    points /= points.sum(axis=1, keepdims=True)  # uniform on the simplex, whose volume is 1/(k-1)!
    weights = np.exp(density(points)) / math.factorial(k - 1)
    total, error = weights.mean(), weights.std() / math.sqrt(len(weights))
    if abs(total - 1) > 5 * error:
        yield ("log density normalises (Monte Carlo)", abs(total - 1) / (5 * error),
               f"integral {total:.5g} +- {error:.2g}, tolerance 5 standard errors")
    for power in (1, 2):
        expected = (points**power * weights[:, None]).mean(axis=0)
        expected_error = (points**power * weights[:, None]).std(axis=0) / math.sqrt(len(points))
        drawn = samples**power
        found, found_error = drawn.mean(axis=0), drawn.std(axis=0) / math.sqrt(len(drawn))
        allowed = 5 * np.hypot(expected_error, found_error)
        worst = float(np.max(np.abs(found - expected) / allowed))
        if worst > 1:
            yield (f"samples follow the log density (moment {power})", worst,
                   f"sample moments {np.round(found, 4).tolist()}, density's {np.round(expected, 4).tolist()}")
