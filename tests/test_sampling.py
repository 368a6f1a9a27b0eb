"""Sampling ops: a sample is a deterministic function of key, parameters and shape; streams of
a batch are the same numbers drawn alone; derived keys are independent; shapes broadcast."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.sampling import fold_in, key_array, sample_keys, uniforms

DRAWS = {  # a function of (key, x) drawing from each builtin, x a float parameter vector of 3
    "normal": lambda key, x: wg.random.normal(key, x, 0.5),
    "lognormal": lambda key, x: wg.random.lognormal(key, x, 0.5),
    "uniform": lambda key, x: wg.random.uniform(key, x, x + 1.0),
    "exponential": lambda key, x: wg.random.exponential(key, wg.exp(x)),
    "gamma": lambda key, x: wg.random.gamma(key, wg.exp(x), 2.0),
    "beta": lambda key, x: wg.random.beta(key, wg.exp(x), 1.5),
    "dirichlet": lambda key, x: wg.random.dirichlet(key, wg.exp(x)),
    "bernoulli": lambda key, x: wg.random.bernoulli(key, wg.sigmoid(x)),
    "categorical": lambda key, x: wg.random.categorical(key, x),
    "relaxed_categorical": lambda key, x: wg.random.relaxed_categorical(key, x, 0.7),
}
X = np.array([0.1, -0.4, 0.8])


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.mark.parametrize("name", DRAWS)
def test_a_batch_of_streams_is_the_same_numbers_drawn_one_by_one(engine, name):
    graph = wg.trace(DRAWS[name], wg.random.key(0), X)
    batch = engine.plan(graph, frozenset({"key"})).run({"key": sample_keys(12, 6), "x": X})["y"]
    alone = [engine.evaluate(graph, {"key": key_array(12, i), "x": X})["y"] for i in range(6)]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(batch, alone))
    if name not in ("bernoulli", "categorical"):  # a few values only: repeats are expected
        assert len({a.tobytes() for a in alone}) == 6  # six streams, six different samples
    shuffled = np.array([key_array(12, i) for i in (5, 0, 3, 900, 3)])
    picked = engine.plan(graph, frozenset({"key"})).run({"key": shuffled, "x": X})["y"]
    expected = [alone[5], alone[0], alone[3], engine.evaluate(graph, {"key": key_array(12, 900), "x": X})["y"],
                alone[3]]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(picked, expected))


def test_keys_are_reproducible_and_derived_keys_independent():
    key = key_array(7, 3)
    assert uniforms(key, (5,)).tobytes() == uniforms(key.copy(), (5,)).tobytes()
    u = uniforms(key, (4000,))
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 4 * (12 * 4000) ** -0.5
    derived = fold_in(key, 1)
    assert derived[1] == key[1] and derived[0] != key[0]
    assert fold_in(key, 2)[0] != derived[0] and fold_in(key, 1).tobytes() == derived.tobytes()
    assert abs(np.corrcoef(u, uniforms(derived, (4000,)))[0, 1]) < 4 / np.sqrt(4000)


def test_split_gives_distinct_keys(engine):
    graph = wg.trace(lambda key: wg.stack(wg.random.split(key, 3)), wg.random.key(0))
    keys = engine.evaluate(graph, {"key": key_array(1)})["y"]
    assert len({tuple(k) for k in keys}) == 3 and all(k[1] == 0 for k in keys)


@pytest.mark.parametrize("draw, shape, dtype", [
    (lambda key, x: wg.random.normal(key, x, 1.0, shape=(2, 3)), (2, 3), "float64"),
    (lambda key, x: wg.random.normal(key, 0.0, 1.0, shape=(4,)), (4,), "float64"),
    (lambda key, x: wg.random.categorical(key, x, shape=(5,)), (5,), "int64"),
    (lambda key, x: wg.random.dirichlet(key, wg.exp(x), shape=(2,)), (2, 3), "float64"),
    (lambda key, x: wg.random.gamma(key, wg.exp(wg.astype(x, "float32")), shape=(2, 3)), (2, 3), "float32"),
])
def test_sample_shapes_broadcast_the_shape_with_the_parameters(engine, draw, shape, dtype):
    graph = wg.trace(draw, wg.random.key(0), X)
    assert graph.output_type("y") == wg.TensorType(dtype, shape)
    assert engine.evaluate(graph, {"key": key_array(0), "x": X})["y"].shape == shape


def test_a_key_must_be_a_key():
    with pytest.raises(wg.InvalidGraph, match=r"the key must be int64\[2\]"):
        wg.trace(lambda mu: wg.random.normal(np.array([1, 2, 3]), mu), 0.0)
