"""Gradients of expectations (issue 16): the ELBO gradient of a Bayesian logistic regression
from 10,000 samples, against one deterministic gradient of the same model on a 10,000-row
batch, and against JAX (`jax.random`, vmap, jit) and NumPyro (`Trace_ELBO`, vectorised
particles) doing the same pathwise estimator, when installed (`pip install ".[bench]"`).
All measured in this run. Run: python bench/bench_expectations.py

The model: 100 labelled points with 5 features, w ~ N(0, I), q(w) = N(m, diag(exp(2 rho))),
ELBO = E_q[ln p(y | X, w) + ln p(w) - ln q(w)]. The deterministic reference is the same
arithmetic with the 10,000 noise draws given as a data batch (w_i = m + exp(rho) e_i for the
rows e_i): the batch axis should make a sample as cheap as a row [target <= 2x].
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available, median_seconds, row  # noqa: E402

SAMPLES, ROWS, FEATURES = 10_000, 100, 5
RNG = np.random.default_rng(0)
X = np.column_stack([np.ones(ROWS), RNG.normal(size=(ROWS, FEATURES - 1))])
Y = (RNG.random(ROWS) < 1 / (1 + np.exp(-X @ RNG.normal(size=FEATURES)))).astype(float)
M, RHO = 0.1 * RNG.normal(size=FEATURES), np.full(FEATURES, -1.0)


def negative_elbo(m, rho, X, y, key):
    s = wg.exp(rho)
    w = wg.random.normal(key, m, s)
    logits = X @ w
    log_lik = wg.sum(y * logits - wg.softplus(logits))
    log_prior = wg.sum(wg.random.normal.log_prob(w, 0.0, 1.0))
    return wg.sum(wg.random.normal.log_prob(w, m, s)) - log_lik - log_prior


def negative_elbo_rows(m, rho, X, y, noise):
    """The same estimate with the noise as a (samples, features) data batch: deterministic."""
    s = wg.exp(rho)
    w = m + s * noise
    logits = w @ X.T
    log_lik = wg.sum(y * logits - wg.softplus(logits), axis=1)
    log_prior = wg.sum(wg.random.normal.log_prob(w, 0.0, 1.0), axis=1)
    log_q = wg.sum(wg.random.normal.log_prob(w, m, s), axis=1)
    return wg.mean(log_q - log_lik - log_prior)


def main() -> None:
    client = wg.Client.local()
    graph = wg.trace(negative_elbo, M, RHO, X, Y, wg.random.key(0))
    params, data = {"m": M, "rho": RHO}, {"X": X, "y": Y}
    estimate = client.expectation_grad(graph, params, data, samples=SAMPLES, key=0)
    noise = RNG.normal(size=(SAMPLES, FEATURES))
    rows = wg.trace(negative_elbo_rows, M, RHO, X, Y, noise)
    value, grad = client.value_and_grad(rows, {**params, **data, "noise": noise}, wrt=["m", "rho"])
    for name in params:  # the two estimate the same gradient, from different noise
        assert np.all(np.abs(estimate.gradient[name] - grad[name]) < 6 * estimate.gradient_error[name] + 1e-9)

    t_rows = median_seconds(lambda: client.value_and_grad(rows, {**params, **data, "noise": noise},
                                                          wrt=["m", "rho"]), repeat=7)
    t_pathwise = median_seconds(lambda: client.expectation_grad(graph, params, data, samples=SAMPLES, key=0),
                                repeat=7)
    t_score = median_seconds(lambda: client.expectation_grad(graph, params, data, samples=SAMPLES, key=0,
                                                             estimator="score_function",
                                                             baseline="leave_one_out"), repeat=7)
    print(f"ELBO gradient of a Bayesian logistic regression ({ROWS} rows, {FEATURES} features), "
          f"{SAMPLES} samples")
    print(row(f"deterministic gradient, {SAMPLES}-row batch (reference)", t_rows))
    print(row("expectation_grad, pathwise  [target <= 2x]", t_pathwise, t_rows))
    print(row("expectation_grad, score function + leave-one-out", t_score, t_rows))
    print(f"  standard errors of dL/dm (pathwise): {np.round(estimate.gradient_error['m'], 4)}")
    if available("jax"):
        print(row("JAX: jax.random + vmap + grad, jit", jax_pathwise(), t_rows))
    if available("numpyro"):
        print(row("NumPyro: Trace_ELBO, vectorised particles, jit", numpyro_pathwise(), t_rows))


def jax_pathwise() -> float:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def negative_elbo_jax(params, key):
        m, rho = params
        s = jnp.exp(rho)
        w = m + s * jax.random.normal(key, (SAMPLES, FEATURES))
        logits = w @ X.T
        log_lik = jnp.sum(Y * logits - jax.nn.softplus(logits), axis=1)
        log_prior = jnp.sum(jax.scipy.stats.norm.logpdf(w), axis=1)
        log_q = jnp.sum(jax.scipy.stats.norm.logpdf(w, m, s), axis=1)
        return jnp.mean(log_q - log_lik - log_prior)

    step = jax.jit(jax.value_and_grad(negative_elbo_jax))
    params, key = (jnp.asarray(M), jnp.asarray(RHO)), jax.random.PRNGKey(0)
    return median_seconds(lambda: jax.block_until_ready(step(params, key)), repeat=7)


def numpyro_pathwise() -> float:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import Trace_ELBO

    jax.config.update("jax_enable_x64", True)

    def model(X, y):
        w = numpyro.sample("w", dist.Normal(jnp.zeros(FEATURES), 1.0).to_event(1))
        numpyro.sample("y", dist.Bernoulli(logits=X @ w), obs=y)

    def guide(X, y):
        m = numpyro.param("m", jnp.zeros(FEATURES))
        rho = numpyro.param("rho", jnp.zeros(FEATURES))
        numpyro.sample("w", dist.Normal(m, jnp.exp(rho)).to_event(1))

    elbo = Trace_ELBO(num_particles=SAMPLES, vectorize_particles=True)
    step = jax.jit(jax.value_and_grad(lambda params, key: elbo.loss(key, params, model, guide, X, Y)))
    params, key = {"m": jnp.asarray(M), "rho": jnp.asarray(RHO)}, jax.random.PRNGKey(0)
    return median_seconds(lambda: jax.block_until_ready(step(params, key)), repeat=7)


if __name__ == "__main__":
    main()
