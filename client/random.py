"""`wg.random`: sampling with explicit keys, inside traced functions.

    def f(params, key):
        z = wg.random.normal(key, params["mu"], params["sigma"])   # a stochastic node
        return z ** 2

    client.expectation_grad(f, {"mu": 1.0, "sigma": 0.5}, samples=1000, key=0)

A key is an int64[2] value (seed, stream). A sample is a deterministic function of its key,
its parameters and its shape, so the same key gives the same sample, and two draws need two
keys: `k1, k2 = wg.random.split(key)`. Each distribution is a function drawing a sample
(`shape` is broadcast with the parameters' shapes) with a `log_prob(value, *params)` beside
it; `wg.random.key(seed)` makes a concrete key for evaluating such a graph directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wengert.numpy_api import op
from wengert.plugins.sampling import key_array


def key(seed: int, stream: int = 0) -> np.ndarray:
    """A concrete key: the int64[2] array (seed, stream)."""
    return key_array(seed, stream)


def fold_in(key, data: int):
    """A key derived from `key` and the integer `data`, independent of it."""
    return op("random_fold_in", key, data=data)


def split(key, count: int = 2) -> list:
    """`count` independent keys derived from `key`."""
    return [fold_in(key, i) for i in range(count)]


class Distribution:
    """A sampling op and its log density under one name: `normal(key, loc, scale)` draws,
    `normal.log_prob(x, loc, scale)` is ln p(x)."""

    def __init__(self, sampler: str, log_prob: str, params: tuple[str, ...], defaults: tuple[Any, ...] = (),
                 doc: str = ""):
        self.sampler, self.log_prob_op, self.params = sampler, log_prob, params
        self.defaults = defaults
        self.__doc__ = doc
        self.__name__ = sampler.removeprefix("random_")

    def __call__(self, key, *params, shape: tuple[int, ...] = ()):
        return op(self.sampler, key, *self._complete(params), shape=tuple(shape))

    def log_prob(self, value, *params):
        """ln p(value) under this distribution with `params` (one number per element, or per
        vector for distributions over vectors)."""
        return op(self.log_prob_op, value, *self._complete(params))

    def _complete(self, params: tuple) -> tuple:
        missing = len(self.params) - len(params)
        if missing < 0 or missing > len(self.defaults):
            raise TypeError(f"{self.__name__} takes parameters {', '.join(self.params)}, got {len(params)}")
        return params + self.defaults[len(self.defaults) - missing:]

    def __repr__(self) -> str:
        return f"wg.random.{self.__name__}(key, {', '.join(self.params)}, shape=())"


normal = Distribution("random_normal", "normal_log_prob", ("loc", "scale"), (0.0, 1.0),
                      "A normal sample with mean `loc` and standard deviation `scale` (pathwise).")
lognormal = Distribution("random_lognormal", "lognormal_log_prob", ("loc", "scale"), (0.0, 1.0),
                         "exp of a normal sample; `loc` and `scale` are its logarithm's (pathwise).")
uniform = Distribution("random_uniform", "uniform_log_prob", ("low", "high"), (0.0, 1.0),
                       "A uniform sample on [low, high] (pathwise).")
exponential = Distribution("random_exponential", "exponential_log_prob", ("rate",), (1.0,),
                           "An exponential sample of mean 1 / rate (pathwise).")
gamma = Distribution("random_gamma", "gamma_log_prob", ("concentration", "rate"), (1.0,),
                     "A gamma sample (pathwise, by implicit reparameterisation).")
beta = Distribution("random_beta", "beta_log_prob", ("a", "b"), (),
                    "A beta sample on (0, 1) (pathwise, by implicit reparameterisation).")
dirichlet = Distribution("random_dirichlet", "dirichlet_log_prob", ("concentration",), (),
                         "A Dirichlet sample over the last axis of `concentration` (pathwise).")
bernoulli = Distribution("random_bernoulli", "bernoulli_log_prob", ("p",), (),
                         "1.0 with probability p, else 0.0 (score function or enumeration only).")
categorical = Distribution("random_categorical", "categorical_log_prob", ("logits",), (),
                           "An index k with probability softmax(logits)[k] over the last axis (score "
                           "function or enumeration only).")
relaxed_categorical = Distribution("random_relaxed_categorical", "relaxed_categorical_log_prob",
                                   ("logits", "temperature"), (),
                                   "A relaxed one-hot vector, softmax((logits + Gumbel) / temperature) "
                                   "(Gumbel-softmax; pathwise).")

__all__ = ["Distribution", "bernoulli", "beta", "categorical", "dirichlet", "exponential", "fold_in", "gamma",
           "key", "lognormal", "normal", "relaxed_categorical", "split", "uniform"]
