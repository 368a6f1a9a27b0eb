"""Sampling ops: explicit keys, counter-based streams, and the `Sampler` record that makes an
op a stochastic node.

A key is an int64[2] tensor `(seed, stream)`. A sampling op's output is a deterministic
function of its key, its parameters and its shape: the uniforms behind it come from NumPy's
Philox generator (a counter-based generator) keyed by `seed`, at the counter block that
`stream` and the output's size give, so a request is reproducible to the bit. Sample number i
of an expectation runs with stream i: the streams of one seed are consecutive counter blocks,
so a whole batch of streams is one Philox call, and each stream is the same numbers whether it
is drawn alone or in a batch. `fold_in(key, data)` derives an independent key (a new seed, the
same stream), which is how one graph draws from several keys (`wg.random.split`).

A plugin adds a distribution with `sampling_op` (the sampler: key and parameters in, a sample
out, with pathwise rules in the parameters when it has them) and an ordinary op for its log
density; the `Sampler` record on the sampling op names the log density, says whether the
sample is reparameterised, and what the checker needs (`wengert.plugins.distribution_checker`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import batch_lift, broadcast_shapes, float_result

KEY_TYPE = TensorType("int64", (2,))
DOMAINS = ("real", "positive", "unit", "interval", "simplex", "finite")
MAX_SUPPORT = 4096  # values an enumerated node (or all of them together) may take
_MASK = (1 << 64) - 1
_FOLD_COUNTER = np.array([0, 0, 0, 1], dtype=np.uint64)  # keeps fold_in's draws apart from samples'


@dataclass(frozen=True)
class Sampler:
    """What makes an op a sampling op (`OpDef.sampler`).

    `log_prob` names the op of the log density, called as `log_prob(value, *params)`: one
    number per element (per event, for distributions over vectors). `reparameterized` says the
    sampling op has pathwise rules in its parameters, so the pathwise estimator may go through
    it; otherwise its rules are None and only the score function applies. `domain` is where
    values live: "real", "positive", "unit" (0..1), "interval" (between the first two
    parameters), "simplex" (the last axis sums to 1) or "finite", whose
    `support(value_type, *param_types)` lists every value an output of that type can take,
    shaped (count,) + value shape (enumeration sums over them).
    `check_params` are parameter settings (one draw's parameters each) on which the checker
    tests that the log density normalises and that samples follow it.
    """

    log_prob: str
    reparameterized: bool
    domain: str
    check_params: tuple[tuple[Any, ...], ...]
    support: Callable[..., np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise TypeError(f"sampler domain must be one of {DOMAINS}, got {self.domain!r}")
        if (self.domain == "finite") != (self.support is not None):
            raise TypeError("a sampler has a support exactly when its domain is 'finite'")
        if not self.check_params:
            raise TypeError("a sampler needs check_params for the checker")


# -- keys and streams ----------------------------------------------------------------------
def key_array(seed: int, stream: int = 0) -> np.ndarray:
    """The key (seed, stream) as an int64[2] array; any Python ints, taken modulo 2**64."""
    return np.array([seed & _MASK, stream & _MASK], dtype=np.uint64).view(np.int64)


def sample_keys(seed: int, count: int) -> np.ndarray:
    """Keys (seed, 0), ..., (seed, count - 1): one stream per sample, shaped (count, 2)."""
    keys = np.empty((count, 2), dtype=np.int64)
    keys[:, 0] = key_array(seed)[0]
    keys[:, 1] = np.arange(count)
    return keys


def fold_in(keys: np.ndarray, data: int) -> np.ndarray:
    """Keys (..., 2) with each seed replaced by a hash of (seed, data), streams kept."""
    keys = np.asarray(keys, dtype=np.int64)
    seeds = keys[..., 0]
    unique, inverse = np.unique(seeds, return_inverse=True)
    hashed = np.array([_hash(int(s), data) for s in unique.view(np.uint64)], dtype=np.uint64)
    out = keys.copy()
    out[..., 0] = hashed.view(np.int64)[inverse].reshape(seeds.shape)
    return out


def _hash(seed: int, data: int) -> int:
    words = np.array([seed & _MASK, data & _MASK], dtype=np.uint64)
    return np.random.Philox(key=words, counter=_FOLD_COUNTER).random_raw()


def uniforms(keys: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform doubles in (0, 1) of `shape` for each key of `keys` (..., 2): shaped
    keys.shape[:-1] + shape. Stream s of a seed starts at Philox counter block s * m, where m
    blocks of four 64-bit words cover one draw; consecutive streams are one call."""
    keys = np.asarray(keys, dtype=np.int64)
    flat = keys.reshape(-1, 2)
    count = math.prod(shape)
    blocks = max(1, -(-count // 4))
    raw = np.empty((len(flat), blocks * 4), dtype=np.uint64)
    seeds, streams = flat[:, 0], flat[:, 1].view(np.uint64)
    for seed in np.unique(seeds):
        rows = np.flatnonzero(seeds == seed)
        mine = streams[rows]
        low, high = int(mine.min()), int(mine.max())
        if high - low + 1 <= 2 * len(rows) + 8:  # dense enough: one call for the whole range
            span = _raw(int(seed), low * blocks, (high - low + 1) * blocks * 4)
            raw[rows] = span.reshape(-1, blocks * 4)[(mine - np.uint64(low)).astype(np.intp)]
        else:
            for stream in np.unique(mine):
                raw[rows[mine == stream]] = _raw(int(seed), int(stream) * blocks, blocks * 4)
    doubles = ((raw[:, :count] >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return doubles.reshape(keys.shape[:-1] + tuple(shape))


def _raw(seed: int, start: int, count: int) -> np.ndarray:
    counter = np.array([start & _MASK, (start >> 64) & _MASK, 0, 0], dtype=np.uint64)
    return np.random.Philox(key=seed & _MASK, counter=counter).random_raw(count)


# -- sampling ops ----------------------------------------------------------------------------
Draw = Callable[..., np.ndarray]  # draw(uniform, *params) -> sample; uniform(data=None) -> (0, 1)


def elementwise_value(shape: tuple[int, ...], *params: TensorType) -> TensorType:
    """The value type of a distribution over numbers: `shape` broadcast with the parameters."""
    return TensorType(float_result(*params), broadcast_shapes(tuple(shape), *(p.shape for p in params)))


def check_key(key: TensorType) -> None:
    if key != KEY_TYPE:
        raise ShapeError(f"the key must be {KEY_TYPE} (a wg.random key), got {key}")


def sampling_op(name: str, draw: Draw, sampler: Sampler, *, params: Sequence[str], doc: str,
                examples: Callable[[np.random.Generator], list[Example]],
                value_type: Callable[..., TensorType] = elementwise_value,
                jvp: tuple | None = None, vjp: tuple | None = None,
                extra_axes: Sequence[int] = (), work: int = 20) -> OpDef:
    """The op `name(key, *params, shape=())` drawing from `draw`.

    `draw(uniform, *params)` maps uniforms to a sample: `uniform()` gives one uniform per
    element of the output (from the op's key), `uniform(j)` as many from `fold_in(key, j)`;
    its parameters and uniforms may carry a leading batch axis, aligned by the engine.
    `value_type(shape, *param_types)` is the output's type. `jvp`/`vjp` are the pathwise rules
    in the parameters (None for a sampler that is not reparameterised); `extra_axes[i]` counts
    the trailing axes of parameter i that the output does not have (a categorical's logits: 1).
    `work` is the operations one element of the output costs.
    """
    extra = tuple(extra_axes) or (0,) * len(params)
    if sampler.reparameterized != (jvp is not None and vjp is not None):
        raise TypeError(f"sampling op {name!r}: a reparameterised sampler has pathwise rules (jvp and vjp), "
                        "and only such a sampler has them")

    def infer(key: TensorType, *types: TensorType, shape) -> TensorType:
        check_key(key)
        return value_type(shape, *types)

    def forward(key, *args, shape):
        out = value_type(shape, *(TensorType.of(np.asarray(a)) for a in args))
        floats = [np.asarray(a, dtype=np.float64) for a in args]
        sample = draw(lambda data=None: uniforms(key if data is None else fold_in(key, data), out.shape), *floats)
        return np.broadcast_to(sample, out.shape).astype(out.dtype)

    def batched_forward(keys, *args, shape):
        out = value_type(shape, *(TensorType.of(np.asarray(a)[0]) for a in args))
        floats = [batch_lift(np.asarray(a, dtype=np.float64), 1 + out.ndim + e) for a, e in zip(args, extra)]
        sample = draw(lambda data=None: uniforms(keys if data is None else fold_in(keys, data), out.shape), *floats)
        size = max([len(keys)] + [len(a) for a in args])
        return np.broadcast_to(sample, (size,) + out.shape).astype(out.dtype)

    none = (None,) * len(params)  # not reparameterised: no derivative flows through the sample
    return OpDef(name=name, forward=forward, infer=infer, arity=1 + len(params), doc=doc,
                 attrs=(Attr("shape", "ints", (), "sample shape, broadcast with the parameters'"),),
                 jvp=(None, *(jvp or none)), vjp=(None, *(vjp or none)),  # the key has no derivative
                 batched_forward=batched_forward, examples=examples, sampler=sampler,
                 cost=lambda out, *inputs, **attrs: Cost(work * max(out.size, 1)))


def product_support(values: Sequence[Any], value: TensorType) -> np.ndarray:
    """Every array of type `value` whose elements are drawn from `values`: (count,) + shape."""
    count = len(values) ** max(value.size, 0)
    if count > MAX_SUPPORT:
        raise ShapeError(f"a {value} value has {len(values)}**{value.size} possible values, more than "
                         f"{MAX_SUPPORT} to enumerate")
    rows = np.array(list(itertools.product(values, repeat=value.size)), dtype=value.dtype)
    return rows.reshape((count,) + value.shape)
