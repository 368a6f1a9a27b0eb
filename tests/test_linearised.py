"""Sweeps on the linearisation: the derivative graph split at its seeds (the primal evaluated
once per request, whatever the chunks), the directions each value can be nonzero in, and the
linear plans restricted to a chunk's directions. Results are compared bit for bit with the
derivative graph run whole, and with a reference made without any of this machinery."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
from test_sparsity import reference
from wengert.autodiff.transform import TANGENT, prefix_for
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.execution.plan import Plan
from wengert.jacobians import sweeps
from wengert.jacobians.linearised import linearise, restricted
from wengert.jacobians.sparsity import seed_supports
from wengert.plugins.registry import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from gradbench import BA  # noqa: E402

REGISTRY = default_registry()


def jvp_split(graph):
    prefix = prefix_for(graph, TANGENT)
    dgraph = Engine(REGISTRY).derivative_graph(graph, "jvp")
    seeds = frozenset(prefix + name for name in graph.input_names)
    return dgraph, seeds, linearise(dgraph, seeds, graph.output_names,
                                    tuple(prefix + name for name in graph.output_names))


def test_the_split_graphs_compute_what_the_derivative_graph_does_bit_for_bit():
    x = np.random.default_rng(0).uniform(-1, 1, 50)
    graph = wg.trace(lambda x: wg.sin(x) * wg.exp(x[::-1]) + wg.sum(x * x), x)
    dgraph, seeds, split = jvp_split(graph)
    depends = set(seeds) | {n.id for n in split.linear.nodes if n.inputs}
    assert not any(x in depends for node in split.primal.nodes for x in node.inputs)  # no seed reaches it
    assert split.residuals and set(split.residuals) <= {n.id for n in split.primal.nodes} | {"x"}
    tangents = {name: np.random.default_rng(1).standard_normal((3, 50)) for name in seeds}
    whole = Plan(dgraph, REGISTRY, seeds).run({"x": x, **tangents})
    found = Plan(split.primal, REGISTRY).run({"x": x})
    derivs = Plan(split.linear, REGISTRY, seeds).run({**split.feeds(found), **tangents})
    assert np.array_equal(found["y"], whole["y"])
    assert all(np.array_equal(derivs[name], whole[name]) for name in derivs)


def test_a_chunked_jacobian_evaluates_the_primal_once():
    x = np.random.default_rng(2).uniform(-1, 1, 60)
    graph = wg.trace(lambda x: wg.softmax(x) * 2.0 + wg.sin(x), x)
    whole = Engine(REGISTRY).jacobian(graph, {"x": x})
    engine = Engine(REGISTRY, limits=Limits(memory=60 * 60 * 8 + 8_000))
    price = engine.prepare_jacobian(graph, {"x": x}).price
    primal, sweeps_run = price.runs
    assert primal.times == 1 and primal.batch == 1 and "primal" in primal.what
    assert 1 < sweeps_run.times and sweeps_run.batch * sweeps_run.times >= 60
    chunked = engine.jacobian(graph, {"x": x})
    assert chunked.chunk < 60
    np.testing.assert_array_equal(chunked.blocks[("y", "x")], whole.blocks[("y", "x")])


def test_a_value_depends_on_the_directions_of_the_seed_elements_it_reads():
    x = np.zeros(6)
    graph = wg.trace(lambda x: {"a": x[:3] * 2.0, "b": wg.sum(x[3:]) + x[:1], "c": wg.stop_gradient(x[4:]) * 3.0}, x)
    out = dict(graph.outputs)
    masks = np.array([1, 2, 4, 8, 16, 32], np.uint64)  # element k seeded in direction k
    supports = seed_supports(graph, {"x": masks}, REGISTRY)
    assert supports[out["a"]] == 0b000111
    assert supports[out["b"]] == 0b111001
    assert supports[out["c"]] == 0b110000  # by value: a stop_gradient passes its operand on


def test_no_supports_when_a_seed_reaches_a_value_that_is_not_floating_point():
    graph = wg.trace(lambda x: wg.where(wg.greater(x, 0.0), x, 0.0), np.zeros(4))
    assert seed_supports(graph, {"x": np.ones(4, np.uint64)}, REGISTRY) is None


def test_restricting_drops_zero_terms_and_keeps_the_numbers():
    x = np.random.default_rng(3).uniform(-1, 1, (2, 8))
    graph = wg.trace(lambda a, b: {"s": wg.sin(a) + b * 3.0, "d": wg.sin(a) - b, "e": wg.exp(a) * 1.0},
                     x[0], x[1])
    dgraph, seeds, split = jvp_split(graph)
    prefix = prefix_for(graph, TANGENT)
    masks = {prefix + "a": np.full(8, 1, np.uint64), prefix + "b": np.full(8, 2, np.uint64)}
    supports = seed_supports(split.linear, masks, REGISTRY)
    zero = {node.id for node in split.linear.nodes if node.id in supports and not supports[node.id] & 2}
    lean = restricted(split.linear, zero)  # for directions seeding b alone
    assert len(lean.nodes) < len(split.linear.nodes)
    assert any(node.op == "neg" for node in lean.nodes)  # 0 - t becomes -t (and t + 0 is t)
    feeds = split.feeds(Plan(split.primal, REGISTRY).run({"a": x[0], "b": x[1]}))
    seeded = {prefix + "a": np.zeros((2, 8)), prefix + "b": np.random.default_rng(4).standard_normal((2, 8))}
    want = Plan(split.linear, REGISTRY, seeds).run({**feeds, **seeded})
    got = Plan(lean, REGISTRY, seeds).run({**feeds, **seeded})
    for name in want:
        np.testing.assert_array_equal(np.broadcast_to(got[name], want[name].shape), want[name])


@pytest.mark.parametrize("max_chunk", [1, 4])  # 4: small arrays, so the chunks share one batched plan
def test_bundle_adjustment_swept_by_restricted_plans_is_exact(max_chunk):
    problem = BA.random(n=4, m=30, p=120)
    graph = wg.trace(problem.objective, *problem.inputs)
    inputs = dict(zip(graph.input_names, problem.inputs))
    engine = Engine(REGISTRY)
    planned = sweeps.plan_sweep(engine, graph, None, None, hold="sparse", max_chunk=max_chunk)
    sizes = [len(plan.graph.nodes) for plan in planned.linear]
    assert planned.chunk == max_chunk
    if max_chunk == 1:  # rotation parameters need far more nodes than the weight (its residuals only)
        assert len(sizes) == planned.strategy.directions and sizes[-1] < sizes[0] / 5
        assert len(planned.runs) == 1 + planned.strategy.directions  # each direction priced by its own plan
    else:
        assert len(sizes) == 1 and planned.runs[1].times == -(-planned.strategy.directions // 4)
    result = sweeps.sweep(engine, graph, inputs, planned).collect("sparse")
    for name in graph.input_names:
        for output in graph.output_names:
            np.testing.assert_allclose(result.blocks[(output, name)].todense(),
                                       reference(engine, graph, inputs, name, output), rtol=1e-13, atol=1e-13)
