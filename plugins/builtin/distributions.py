"""Distributions: sampling ops (a key and parameters in, a sample out) and their log densities.

Each distribution is two stanzas: the sampler, built by `sampling_op` from a `draw` that maps
uniforms to a sample (inverse CDFs, so a sample is a smooth function of its parameters at a
fixed key), with its pathwise rules when it is reparameterised; and the log density, an
ordinary op with rules in the value and the parameters. The gamma family (gamma, beta,
dirichlet) is reparameterised implicitly: dx/da = -R_1(a, x) (`special.gammainc_ratio`), and
beta and dirichlet draw their gammas from the same keys their rules draw them again from.
Bernoulli and categorical are not reparameterised: only the score function (or enumeration)
differentiates their expectations. `random_fold_in` derives keys.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

import wengert as wg
from wengert.ir.graph import TensorType
from wengert.plugins.builtin.elementwise import in_float
from wengert.plugins.opdef import Attr, Example, OpDef, ShapeError
from wengert.plugins.sampling import (KEY_TYPE, Sampler, check_key, elementwise_value, fold_in, key_array,
                                      product_support, sampling_op)
from wengert.plugins.shapes import batch_lift, broadcast_shapes, floating, float_result

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# -- shapes ------------------------------------------------------------------------------------
def _event_value(shape, *params: TensorType) -> TensorType:
    """A distribution over vectors (the last axis of its first parameter): batch shape from
    `shape` and the parameters' leading axes, then the event axis."""
    first = params[0]
    if first.ndim < 1:
        raise ShapeError(f"needs a parameter vector (the last axis is the event), got {first}")
    batch = broadcast_shapes(tuple(shape), first.shape[:-1], *(p.shape for p in params[1:]))
    return TensorType(float_result(*params), batch + first.shape[-1:])


def _index_value(shape, logits: TensorType) -> TensorType:
    if logits.ndim < 1 or not logits.is_float:
        raise ShapeError(f"needs float logits with the categories on the last axis, got {logits}")
    return TensorType("int64", broadcast_shapes(tuple(shape), logits.shape[:-1]))


def _event_log_prob_type(value: TensorType, *params: TensorType) -> TensorType:
    """One log density per event: the broadcast shape without the event axis."""
    first = params[0]
    if value.ndim < 1 or first.ndim < 1 or value.shape[-1] != first.shape[-1]:
        raise ShapeError(f"needs values and a parameter vector with the same last (event) axis, got {value} "
                         f"and {first}")
    shape = broadcast_shapes(value.shape, first.shape)
    return TensorType(float_result(value, *params), broadcast_shapes(shape[:-1], *(p.shape for p in params[1:])))


def _categorical_log_prob_type(value: TensorType, logits: TensorType) -> TensorType:
    if value.is_float or not logits.is_float or logits.ndim < 1:
        raise ShapeError(f"needs integer values and float logits, got {value} and {logits}")
    return TensorType(logits.dtype, broadcast_shapes(value.shape, logits.shape[:-1]))


def _fold_in_infer(key: TensorType, data: int) -> TensorType:
    check_key(key)
    return KEY_TYPE


def _lifted(*arrays: np.ndarray, extra: tuple[int, ...]) -> list[np.ndarray]:
    """Batched arrays (batch axis first) padded so their own axes right-align, `extra[i]` being
    how many more trailing axes array i has than the rest."""
    core = max(a.ndim - 1 - e for a, e in zip(arrays, extra))
    return [batch_lift(a, 1 + core + e) for a, e in zip(arrays, extra)]


# -- pathwise rules of the gamma family ----------------------------------------------------------
def _gamma_draw(key, concentration, shape):
    """The standard gamma sample the sampler of `key` drew (drawn again, identically)."""
    return wg.op("random_gamma", key, concentration, wg.ones_like(concentration), shape=shape)


def _dsample(concentration, sample):
    """d sample / d concentration of a standard gamma sample: -R_1."""
    return -wg.op("gammainc_ratio", concentration, sample, order=1)


def _beta_jvp(which: int):
    def rule(t_dot, ans, key, a, b, shape):
        conc = (a, b)[which]
        x = _gamma_draw(wg.op("random_fold_in", key, data=which), conc, ans.shape)
        sign = 1.0 if which == 0 else -1.0
        return t_dot * (sign * ans * (1 - ans) * _dsample(conc, x) / x)
    return rule


def _dirichlet_factors(ans, key, alpha):
    x = _gamma_draw(key, alpha, ans.shape)
    return _dsample(alpha, x), wg.sum(x, axis=-1, keepdims=True)


def _dirichlet_jvp(a_dot, ans, key, alpha, shape):
    dx, total = _dirichlet_factors(ans, key, alpha)
    moved = a_dot * dx
    return (moved - ans * wg.sum(moved, axis=-1, keepdims=True)) / total


def _dirichlet_vjp(g, ans, key, alpha, shape):
    dx, total = _dirichlet_factors(ans, key, alpha)
    return dx * (g - wg.sum(g * ans, axis=-1, keepdims=True)) / total


def _relaxed_temperature_factor(ans, tau):
    log_y = wg.log(ans)
    return -(ans * (log_y - wg.sum(ans * log_y, axis=-1, keepdims=True))) / wg.expand_dims(tau, -1)


def _dirichlet_dalpha(x, alpha):
    """d ln Dirichlet(x; alpha) / d alpha: ln x - digamma(alpha) + digamma(sum alpha)."""
    total = wg.expand_dims(wg.op("polygamma", wg.sum(alpha, axis=-1), n=0), -1)
    return wg.log(x) - wg.op("polygamma", alpha, n=0) + total


def _relaxed_dy(y, logits, tau):
    weights = _relaxed_weights(y, logits, tau)
    tau = wg.expand_dims(tau, -1)
    return (y.shape[-1] * tau * weights - tau - 1) / y


def _relaxed_dtau(y, logits, tau):
    log_y = wg.log(y)
    k = y.shape[-1]
    return (k - 1) / tau - wg.sum(log_y, axis=-1) + k * wg.sum(_relaxed_weights(y, logits, tau) * log_y, axis=-1)


# -- draws ---------------------------------------------------------------------------------------
def _beta_draw(uniform, a, b):
    x, y = special.gammaincinv(a, uniform(0)), special.gammaincinv(b, uniform(1))
    return x / (x + y)


def _dirichlet_draw(uniform, alpha):
    x = special.gammaincinv(alpha, uniform())
    return x / np.sum(x, axis=-1, keepdims=True)


def _categorical_draw(uniform, logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(shifted, axis=-1)
    index = np.sum(uniform()[..., None] * cdf[..., -1:] > cdf, axis=-1)
    return np.minimum(index, logits.shape[-1] - 1)


def _relaxed_draw(uniform, logits, tau):
    gumbel = -np.log(-np.log(uniform()))
    scores = (logits + gumbel) / tau[..., None]
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


# -- log densities ---------------------------------------------------------------------------
def _dirichlet_log_prob(x, alpha):
    return (np.sum(special.xlogy(alpha - 1, x), axis=-1) - np.sum(special.gammaln(alpha), axis=-1)
            + special.gammaln(np.sum(alpha, axis=-1)))


def _categorical_log_prob(x, logits):
    shape = np.broadcast_shapes(x.shape, logits.shape[:-1])
    normalised = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    index = np.broadcast_to(x, shape)[..., None]
    picked = np.take_along_axis(np.broadcast_to(normalised, shape + logits.shape[-1:]), index, axis=-1)
    return picked[..., 0]


def _relaxed_scores(y, logits, tau):
    return logits - tau[..., None] * np.log(y)


def _relaxed_log_prob(y, logits, tau):
    k = y.shape[-1]
    tau = np.asarray(tau)
    out = (special.gammaln(k) + (k - 1) * np.log(tau) + np.sum(logits - (tau[..., None] + 1) * np.log(y), axis=-1)
           - k * special.logsumexp(_relaxed_scores(y, logits, tau), axis=-1))
    return out.astype(np.result_type(y, logits, tau))


def _relaxed_weights(y, logits, tau):
    """softmax over the event of logits - tau ln y, as graph ops."""
    return wg.softmax(logits - wg.expand_dims(tau, -1) * wg.log(y), axis=-1)


def _one_hot(x, logits):
    return wg.cast(wg.equal(wg.expand_dims(x, -1), np.arange(logits.shape[-1])), logits.dtype)


# -- examples for the checker --------------------------------------------------------------------
def _key(rng) -> np.ndarray:
    return key_array(int(rng.integers(0, 2**62)), int(rng.integers(0, 1000)))


def _examples(*draws, shape=()):
    """Examples of a sampler: its parameters from `draws` (rng, param shape) -> array, on scalar
    parameters, on (3,) parameters with a (2, 3) sample, and on (3, 4) parameters."""
    def examples(rng):
        cases = [((), {}), ((3,), {"shape": (2, 3)}), ((3, 4), {})]
        return [Example((_key(rng), *(d(rng, s) for d in draws)), attrs) for s, attrs in cases]
    return examples


def _event_examples(*draws):
    """Examples of a sampler over vectors of 3: one vector, a (2,) batch, and a (2, 2) sample."""
    def examples(rng):
        cases = [((3,), {}), ((2, 3), {}), ((3,), {"shape": (2, 2)})]
        return [Example((_key(rng), *(d(rng, s) for d in draws)), attrs) for s, attrs in cases]
    return examples


def _log_prob_examples(value, *draws, shapes=((), (3, 4))):
    def examples(rng):
        return [Example((value(rng, s), *(d(rng, s) for d in draws))) for s in shapes]
    return examples


def _between(low, high):
    return lambda rng, shape: rng.uniform(low, high, size=shape)


def _simplex(rng, shape):
    x = rng.uniform(0.2, 1.0, size=shape)
    return x / x.sum(axis=-1, keepdims=True)


_REAL, _POSITIVE = _between(-1.5, 1.5), _between(0.5, 2.0)


# -- the ops -------------------------------------------------------------------------------------
OPS = [
    OpDef("random_fold_in", lambda key, data: fold_in(key, data), _fold_in_infer,
          attrs=(Attr("data", "int", doc="what to fold into the key's seed"),),
          batched_forward=lambda keys, data: fold_in(keys, data), jvp=(None,), vjp=(None,),
          examples=lambda rng: [Example((_key(rng),), {"data": 3})],
          doc="a new key from `key` and an integer: an independent seed, the same stream (wg.random.split)"),

    sampling_op("random_normal", lambda u, loc, scale: loc + scale * special.ndtri(u()),
                Sampler("normal_log_prob", True, "real", ((0.0, 1.0), (1.5, 0.4))),
                params=("loc", "scale"), examples=_examples(_REAL, _POSITIVE),
                jvp=(lambda t, ans, key, loc, scale, shape: t,
                     lambda t, ans, key, loc, scale, shape: t * ((ans - loc) / scale)),
                vjp=(lambda g, ans, key, loc, scale, shape: g,
                     lambda g, ans, key, loc, scale, shape: g * ((ans - loc) / scale)),
                doc="a normal sample loc + scale * z, z = Phi^-1(u); reparameterised"),
    OpDef("normal_log_prob",
          in_float(lambda x, loc, scale: -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - _LOG_SQRT_2PI),
          floating, arity=3, elementwise=True, examples=_log_prob_examples(_REAL, _REAL, _POSITIVE),
          doc="ln N(x; loc, scale^2)",
          jvp=(lambda t, ans, x, loc, scale: t * (-(x - loc) / scale**2),
               lambda t, ans, x, loc, scale: t * ((x - loc) / scale**2),
               lambda t, ans, x, loc, scale: t * ((((x - loc) / scale) ** 2 - 1) / scale)),
          vjp=(lambda g, ans, x, loc, scale: g * (-(x - loc) / scale**2),
               lambda g, ans, x, loc, scale: g * ((x - loc) / scale**2),
               lambda g, ans, x, loc, scale: g * ((((x - loc) / scale) ** 2 - 1) / scale))),

    sampling_op("random_lognormal", lambda u, loc, scale: np.exp(loc + scale * special.ndtri(u())),
                Sampler("lognormal_log_prob", True, "positive", ((0.0, 0.5), (-0.5, 1.0))),
                params=("loc", "scale"), examples=_examples(_REAL, _between(0.3, 1.0)),
                jvp=(lambda t, ans, key, loc, scale, shape: t * ans,
                     lambda t, ans, key, loc, scale, shape: t * (ans * (wg.log(ans) - loc) / scale)),
                vjp=(lambda g, ans, key, loc, scale, shape: g * ans,
                     lambda g, ans, key, loc, scale, shape: g * (ans * (wg.log(ans) - loc) / scale)),
                doc="exp of a normal sample (loc, scale are the log's); reparameterised"),
    OpDef("lognormal_log_prob",
          in_float(lambda x, loc, scale: -0.5 * ((np.log(x) - loc) / scale) ** 2 - np.log(scale * x) - _LOG_SQRT_2PI),
          floating, arity=3, elementwise=True, examples=_log_prob_examples(_POSITIVE, _REAL, _POSITIVE),
          doc="ln of the log-normal density at x > 0",
          jvp=(lambda t, ans, x, loc, scale: t * (-((wg.log(x) - loc) / scale**2 + 1) / x),
               lambda t, ans, x, loc, scale: t * ((wg.log(x) - loc) / scale**2),
               lambda t, ans, x, loc, scale: t * ((((wg.log(x) - loc) / scale) ** 2 - 1) / scale)),
          vjp=(lambda g, ans, x, loc, scale: g * (-((wg.log(x) - loc) / scale**2 + 1) / x),
               lambda g, ans, x, loc, scale: g * ((wg.log(x) - loc) / scale**2),
               lambda g, ans, x, loc, scale: g * ((((wg.log(x) - loc) / scale) ** 2 - 1) / scale))),

    sampling_op("random_uniform", lambda u, low, high: low + (high - low) * u(),
                Sampler("uniform_log_prob", True, "interval", ((0.0, 1.0), (-2.0, 0.5))),
                params=("low", "high"), examples=_examples(_between(-1.5, -0.5), _between(0.5, 1.5)),
                jvp=(lambda t, ans, key, low, high, shape: t * ((high - ans) / (high - low)),
                     lambda t, ans, key, low, high, shape: t * ((ans - low) / (high - low))),
                vjp=(lambda g, ans, key, low, high, shape: g * ((high - ans) / (high - low)),
                     lambda g, ans, key, low, high, shape: g * ((ans - low) / (high - low))),
                doc="a uniform sample on [low, high]; reparameterised"),
    OpDef("uniform_log_prob",
          in_float(lambda x, low, high: np.where((low <= x) & (x <= high), -np.log(high - low), -np.inf)),
          floating, arity=3, elementwise=True, doc="-ln(high - low) inside [low, high], -inf outside",
          examples=_log_prob_examples(_between(-0.4, 0.4), _between(-1.5, -0.5), _between(0.5, 1.5)),
          jvp=(None, lambda t, ans, x, low, high: t / (high - low), lambda t, ans, x, low, high: -t / (high - low)),
          vjp=(None, lambda g, ans, x, low, high: g / (high - low), lambda g, ans, x, low, high: -g / (high - low))),

    sampling_op("random_exponential", lambda u, rate: -np.log(u()) / rate,
                Sampler("exponential_log_prob", True, "positive", ((1.0,), (3.0,))),
                params=("rate",), examples=_examples(_POSITIVE),
                jvp=(lambda t, ans, key, rate, shape: -(t * ans) / rate,),
                vjp=(lambda g, ans, key, rate, shape: -(g * ans) / rate,),
                doc="an exponential sample -ln(u) / rate; reparameterised"),
    OpDef("exponential_log_prob", in_float(lambda x, rate: np.where(x >= 0, np.log(rate) - rate * x, -np.inf)),
          floating, arity=2, elementwise=True, examples=_log_prob_examples(_POSITIVE, _POSITIVE),
          doc="ln(rate) - rate * x for x >= 0, -inf below",
          jvp=(lambda t, ans, x, rate: -(t * rate), lambda t, ans, x, rate: t * (1 / rate - x)),
          vjp=(lambda g, ans, x, rate: -(g * rate), lambda g, ans, x, rate: g * (1 / rate - x))),

    sampling_op("random_gamma", lambda u, alpha, rate: special.gammaincinv(alpha, u()) / rate,
                Sampler("gamma_log_prob", True, "positive", ((0.5, 1.0), (3.0, 2.0))),
                params=("concentration", "rate"), examples=_examples(_between(0.5, 3.0), _POSITIVE), work=400,
                jvp=(lambda t, ans, key, alpha, rate, shape: t * (_dsample(alpha, ans * rate) / rate),
                     lambda t, ans, key, alpha, rate, shape: -(t * ans) / rate),
                vjp=(lambda g, ans, key, alpha, rate, shape: g * (_dsample(alpha, ans * rate) / rate),
                     lambda g, ans, key, alpha, rate, shape: -(g * ans) / rate),
                doc="a gamma sample P^-1(concentration, u) / rate; reparameterised implicitly"),
    OpDef("gamma_log_prob",
          in_float(lambda x, a, b: special.xlogy(a, b) + special.xlogy(a - 1, x) - b * x - special.gammaln(a)),
          floating, arity=3, elementwise=True,
          examples=_log_prob_examples(_POSITIVE, _between(0.5, 3.0), _POSITIVE),
          doc="ln Gamma(x; concentration, rate)",
          jvp=(lambda t, ans, x, a, b: t * ((a - 1) / x - b),
               lambda t, ans, x, a, b: t * (wg.log(b) + wg.log(x) - wg.op("polygamma", a, n=0)),
               lambda t, ans, x, a, b: t * (a / b - x)),
          vjp=(lambda g, ans, x, a, b: g * ((a - 1) / x - b),
               lambda g, ans, x, a, b: g * (wg.log(b) + wg.log(x) - wg.op("polygamma", a, n=0)),
               lambda g, ans, x, a, b: g * (a / b - x))),

    sampling_op("random_beta", _beta_draw,
                Sampler("beta_log_prob", True, "unit", ((2.0, 3.0), (0.7, 0.7))),
                params=("a", "b"), examples=_examples(_between(0.5, 3.0), _between(0.5, 3.0)), work=800,
                jvp=(_beta_jvp(0), _beta_jvp(1)),
                vjp=(_beta_jvp(0), _beta_jvp(1)),
                doc="a beta sample X / (X + Y), X and Y standard gamma samples of keys fold_in(key, 0) "
                    "and fold_in(key, 1); reparameterised implicitly"),
    OpDef("beta_log_prob",
          in_float(lambda x, a, b: special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)),
          floating, arity=3, elementwise=True,
          examples=_log_prob_examples(_between(0.1, 0.9), _between(0.5, 3.0), _between(0.5, 3.0)),
          doc="ln Beta(x; a, b)",
          jvp=(lambda t, ans, x, a, b: t * ((a - 1) / x - (b - 1) / (1 - x)),
               lambda t, ans, x, a, b: t * (wg.log(x) - wg.op("polygamma", a, n=0) + wg.op("polygamma", a + b, n=0)),
               lambda t, ans, x, a, b: t * (wg.log1p(-x) - wg.op("polygamma", b, n=0)
                                            + wg.op("polygamma", a + b, n=0))),
          vjp=(lambda g, ans, x, a, b: g * ((a - 1) / x - (b - 1) / (1 - x)),
               lambda g, ans, x, a, b: g * (wg.log(x) - wg.op("polygamma", a, n=0) + wg.op("polygamma", a + b, n=0)),
               lambda g, ans, x, a, b: g * (wg.log1p(-x) - wg.op("polygamma", b, n=0)
                                            + wg.op("polygamma", a + b, n=0)))),

    sampling_op("random_dirichlet", _dirichlet_draw,
                Sampler("dirichlet_log_prob", True, "simplex", ((np.array([1.5, 2.0, 3.0]),),)),
                params=("concentration",), value_type=_event_value, work=400,
                examples=_event_examples(_between(0.5, 3.0)), jvp=(_dirichlet_jvp,), vjp=(_dirichlet_vjp,),
                doc="a Dirichlet sample X / sum(X) over the last axis, X standard gamma samples; "
                    "reparameterised implicitly"),
    OpDef("dirichlet_log_prob", in_float(_dirichlet_log_prob), _event_log_prob_type, arity=2,
          batched_forward=in_float(lambda x, alpha: _dirichlet_log_prob(*_lifted(x, alpha, extra=(0, 0)))),
          examples=_log_prob_examples(_simplex, _between(0.5, 3.0), shapes=((3,), (2, 3))),
          doc="ln Dirichlet(x; concentration), one per vector (the last axis)",
          jvp=(lambda t, ans, x, alpha: wg.sum(t * (alpha - 1) / x, axis=-1),
               lambda t, ans, x, alpha: wg.sum(t * _dirichlet_dalpha(x, alpha), axis=-1)),
          vjp=(lambda g, ans, x, alpha: wg.expand_dims(g, -1) * ((alpha - 1) / x),
               lambda g, ans, x, alpha: wg.expand_dims(g, -1) * _dirichlet_dalpha(x, alpha))),

    sampling_op("random_bernoulli", lambda u, p: (u() < p).astype(np.float64),
                Sampler("bernoulli_log_prob", False, "finite", ((0.3,),),
                        support=lambda value, p: product_support((0.0, 1.0), value)),
                params=("p",), examples=_examples(_between(0.2, 0.8)),
                doc="1.0 with probability p, else 0.0; not reparameterised"),
    OpDef("bernoulli_log_prob", in_float(lambda x, p: special.xlogy(x, p) + special.xlog1py(1 - x, -p)), floating,
          arity=2, elementwise=True, examples=_log_prob_examples(_between(0.0, 1.0), _between(0.2, 0.8)),
          doc="x ln p + (1 - x) ln(1 - p)",
          jvp=(lambda t, ans, x, p: t * (wg.log(p) - wg.log1p(-p)),
               lambda t, ans, x, p: t * (x / p - (1 - x) / (1 - p))),
          vjp=(lambda g, ans, x, p: g * (wg.log(p) - wg.log1p(-p)),
               lambda g, ans, x, p: g * (x / p - (1 - x) / (1 - p)))),

    sampling_op("random_categorical", _categorical_draw,
                Sampler("categorical_log_prob", False, "finite", ((np.array([0.1, -0.4, 1.2]),),),
                        support=lambda value, logits: product_support(range(logits.shape[-1]), value)),
                params=("logits",), value_type=_index_value, extra_axes=(1,),
                examples=_event_examples(_REAL),
                doc="an index k with probability softmax(logits)[k] (the last axis); not reparameterised"),
    OpDef("categorical_log_prob", _categorical_log_prob, _categorical_log_prob_type, arity=2,
          batched_forward=lambda x, logits: _categorical_log_prob(*_lifted(x, logits, extra=(0, 1))),
          examples=lambda rng: [Example((rng.integers(0, 3, size=s), rng.normal(size=s + (3,)))) for s in ((), (2, 4))],
          doc="log_softmax(logits)[x]: the log probability of index x",
          jvp=(None, lambda t, ans, x, logits: wg.sum(t * (_one_hot(x, logits) - wg.softmax(logits, axis=-1)), axis=-1)),
          vjp=(None, lambda g, ans, x, logits: wg.expand_dims(g, -1) * (_one_hot(x, logits) - wg.softmax(logits, axis=-1)))),

    sampling_op("random_relaxed_categorical", _relaxed_draw,
                Sampler("relaxed_categorical_log_prob", True, "simplex",
                        ((np.array([0.2, -0.5, 1.0]), 1.5), (np.array([0.0, 0.0, 0.0]), 2.0))),
                params=("logits", "temperature"), value_type=_event_value, extra_axes=(0, -1),
                examples=lambda rng: [Example((_key(rng), rng.normal(size=s), rng.uniform(0.5, 2.0, size=t)), attrs)
                                      for s, t, attrs in [((3,), (), {}), ((2, 3), (2,), {}), ((3,), (), {"shape": (2,)})]],
                jvp=(lambda t, ans, key, logits, tau, shape:
                     ans * (t - wg.sum(ans * t, axis=-1, keepdims=True)) / wg.expand_dims(tau, -1),
                     lambda t, ans, key, logits, tau, shape: wg.expand_dims(t, -1) * _relaxed_temperature_factor(ans, tau)),
                vjp=(lambda g, ans, key, logits, tau, shape:
                     ans * (g - wg.sum(ans * g, axis=-1, keepdims=True)) / wg.expand_dims(tau, -1),
                     lambda g, ans, key, logits, tau, shape: wg.sum(g * _relaxed_temperature_factor(ans, tau), axis=-1)),
                doc="a relaxed one-hot sample softmax((logits + Gumbel noise) / temperature) (Gumbel-softmax, "
                    "concrete); reparameterised"),
    OpDef("relaxed_categorical_log_prob", in_float(_relaxed_log_prob), _event_log_prob_type, arity=3,
          batched_forward=in_float(lambda y, logits, tau: _relaxed_log_prob(*_lifted(y, logits, tau,
                                                                                       extra=(0, 0, -1)))),
          examples=lambda rng: [Example((_simplex(rng, s), rng.normal(size=s), rng.uniform(0.5, 2.0, size=t)))
                                for s, t in [((3,), ()), ((2, 3), (2,))]],
          doc="ln of the concrete density of y on the simplex (Maddison et al. 2017), one per vector",
          jvp=(lambda t, ans, y, logits, tau: wg.sum(t * _relaxed_dy(y, logits, tau), axis=-1),
               lambda t, ans, y, logits, tau: wg.sum(t * (1 - y.shape[-1] * _relaxed_weights(y, logits, tau)), axis=-1),
               lambda t, ans, y, logits, tau: t * _relaxed_dtau(y, logits, tau)),
          vjp=(lambda g, ans, y, logits, tau: wg.expand_dims(g, -1) * _relaxed_dy(y, logits, tau),
               lambda g, ans, y, logits, tau: wg.expand_dims(g, -1) * (1 - y.shape[-1] * _relaxed_weights(y, logits, tau)),
               lambda g, ans, y, logits, tau: g * _relaxed_dtau(y, logits, tau))),
]
