"""A distribution added by a plugin exactly as the builtins are: the Laplace distribution's
sampler (`sampling_op`, with pathwise rules) and its log density (an ordinary op)."""

import numpy as np

import wengert as wg
from wengert import Example, OpDef, hookimpl
from wengert.plugins.sampling import Sampler, key_array, sampling_op
from wengert.plugins.shapes import float_arrays, floating


def _draw(uniform, loc, scale):
    centred = uniform() - 0.5
    return loc - scale * np.sign(centred) * np.log1p(-2 * np.abs(centred))


def _log_density(x, loc, scale):
    return -np.log(2 * scale) - np.abs(x - loc) / scale


def _examples(rng):
    return [Example((key_array(int(rng.integers(1 << 40))), rng.normal(size=s), rng.uniform(0.5, 2, size=s)))
            for s in [(), (3,)]]


SAMPLER = sampling_op(
    "laplace_sample", _draw, Sampler("laplace_log_prob", True, "real", ((0.0, 1.0), (1.0, 0.3))),
    params=("loc", "scale"), examples=_examples, doc="a Laplace sample, by its inverse CDF",
    jvp=(lambda t, ans, key, loc, scale, shape: t, lambda t, ans, key, loc, scale, shape: t * ((ans - loc) / scale)),
    vjp=(lambda g, ans, key, loc, scale, shape: g, lambda g, ans, key, loc, scale, shape: g * ((ans - loc) / scale)))

LOG_PROB = OpDef(
    "laplace_log_prob", lambda *args: _log_density(*float_arrays(*args)), floating, arity=3,
    elementwise=True, doc="ln of the Laplace density",
    examples=lambda rng: [Example((rng.normal(size=(4,)) + 2.0, rng.normal(size=(4,)) - 2.0, rng.uniform(0.5, 2, (4,))))],
    jvp=(lambda t, ans, x, loc, scale: t * (-wg.sign(x - loc) / scale),
         lambda t, ans, x, loc, scale: t * (wg.sign(x - loc) / scale),
         lambda t, ans, x, loc, scale: t * (wg.abs(x - loc) / scale**2 - 1 / scale)),
    vjp=(lambda g, ans, x, loc, scale: g * (-wg.sign(x - loc) / scale),
         lambda g, ans, x, loc, scale: g * (wg.sign(x - loc) / scale),
         lambda g, ans, x, loc, scale: g * (wg.abs(x - loc) / scale**2 - 1 / scale)))


@hookimpl
def wengert_ops():
    return [SAMPLER, LOG_PROB]
