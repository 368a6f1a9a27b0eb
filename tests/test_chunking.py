"""The memory budget: a sweep's peak is estimated from its plan, directions run in chunks when
over budget (same answer, chunk size reported), and an impossible request is refused with the
numbers. Also the streamed form of a Jacobian, piece by piece."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.jacobians.chunking import chunk_size
from wengert.errors import LimitExceeded
from wengert.plugins.registry import default_registry
from test_sparsity import tridiagonal
from wengert.jacobians.sweeps import Entries

REGISTRY = default_registry()


def softmax_map(x):
    """A dense Jacobian (diag(s) - s s^T) from a tiny graph."""
    return wg.softmax(x) * 2.0 + wg.sin(x)


def test_a_sweep_profile_counts_batched_values_per_direction(engine):
    graph = wg.trace(lambda x: wg.sin(x) * x, np.zeros(100))
    plan = engine.plan(engine.derivative_graph(graph, "jvp"), frozenset({"tangent:x"}))
    cost = engine.profile(plan)
    # By hand (800 bytes a value): x, sin x, y = sin x · x, cos x, cos x · x and the factor
    # cos x · x + sin x are unbatched, at most 4000 bytes of them alive at once, plus 800 of
    # scratch for the op running; the tangent seed and the output tangent (seed × factor) are
    # 800 bytes per direction each, plus that last op's 800 of scratch per direction.
    assert cost.per_direction.max() == 800 + 800 + 800
    assert cost.peak(1) == 4000 + 800 + 800
    assert cost.peak(10) == 2400 + 10 * 2400  # the last step: x, y, factor; seed, result, scratch


def test_byte_counts_past_int64_are_refused_not_wrapped(engine):
    graph = wg.trace(lambda x: wg.sum(wg.broadcast_to(x, (2**62, 2))), np.zeros(2))
    with pytest.raises(LimitExceeded, match="limit exceeded"):
        Engine(REGISTRY, limits=Limits(memory=1 << 30, work=10**12)).jacobian(graph, {"x": np.zeros(2)},
                                                                                format="sparse")


def test_chunk_size_fits_the_budget_or_takes_one_direction(engine):
    graph = wg.trace(softmax_map, np.zeros(50))
    plan = engine.plan(engine.derivative_graph(graph, "jvp"), frozenset({"tangent:x"}))
    cost = engine.profile(plan)
    assert chunk_size(cost, 50, held=0, budget=1 << 30) == 50
    budget = cost.peak(7)
    chunk = chunk_size(cost, 50, held=0, budget=budget)
    assert 7 <= chunk < 50 and cost.peak(chunk) <= budget < cost.peak(chunk + 1)
    assert chunk_size(cost, 50, held=100, budget=1000) == 1  # pricing then says it does not fit


@pytest.mark.parametrize("fn, mode, format", [
    (softmax_map, "forward", "dense"), (softmax_map, "reverse", "dense"), (softmax_map, "auto", "sparse"),
    (tridiagonal, "forward", "dense"), (tridiagonal, "reverse", "sparse")])
def test_over_budget_jacobians_are_chunked_with_the_same_result(fn, mode, format):
    x = np.random.default_rng(0).uniform(-1, 1, 60)
    graph = wg.trace(fn, x)
    whole = Engine(REGISTRY).jacobian(graph, {"x": x}, mode=mode, format=format)
    held = 60 * 60 * 8 if format == "dense" else whole.nnz * (8 + 16)  # the result: values (+ indices)
    small = Engine(REGISTRY, limits=Limits(memory=held + 5_000))
    chunked = small.jacobian(graph, {"x": x}, mode=mode, format=format)
    assert whole.chunk == whole.sweeps and 1 <= chunked.chunk < chunked.sweeps
    got, want = chunked.blocks[("y", "x")], whole.blocks[("y", "x")]
    if format == "sparse":
        got, want = got.todense(), want.todense()
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_chunks_fill_every_block_of_several_inputs_and_outputs(mode):
    rng = np.random.default_rng(2)
    inputs = {"a": rng.uniform(-1, 1, (6, 5)), "b": rng.uniform(-1, 1, 5)}
    graph = wg.trace(lambda a, b: {"p": wg.softmax(a * b), "q": wg.exp(b) * wg.sum(a, axis=0)},
                     *inputs.values())
    whole = Engine(REGISTRY).jacobian(graph, inputs, mode=mode, format="sparse")
    chunked = Engine(REGISTRY, limits=Limits(memory=16_000)).jacobian(graph, inputs, mode=mode, format="sparse")
    assert chunked.chunk < chunked.sweeps == whole.sweeps
    for key, block in whole.blocks.items():
        np.testing.assert_array_equal(chunked.blocks[key].todense(), block.todense())


def test_a_result_larger_than_the_budget_is_refused_with_the_numbers():
    graph = wg.trace(softmax_map, np.zeros(200))
    engine = Engine(REGISTRY, limits=Limits(memory=200_000))  # the dense result alone is 320,000 bytes
    with pytest.raises(LimitExceeded, match=r"memory limit exceeded: node '\w+' \(\w+\): \d+ bytes at the "
                                            r"peak in forward sweeps of 1 direction\(s\), with 320000 bytes "
                                            r"of the result held, over the limit of 200000 \(raise it with "
                                            r"Limits\(memory=...\)\)") as info:
        engine.jacobian(graph, {"x": np.ones(200)})
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert (info.value.limit, info.value.allowed, info.value.flag) == ("memory", 200_000, "Limits(memory=...)")
    assert info.value.requested > 320_000 and info.value.node


@pytest.mark.parametrize("fn", [softmax_map, tridiagonal])
def test_a_streamed_jacobian_comes_in_pieces_that_assemble_to_the_whole(engine, fn):
    x = np.random.default_rng(1).uniform(-1, 1, 40)
    graph = wg.trace(fn, x)
    whole = engine.jacobian(graph, {"x": x}).blocks[("y", "x")]
    stream = engine.jacobian_stream(graph, {"x": x}, max_chunk=7)
    assert stream.chunk == min(7, stream.strategy.directions)
    np.testing.assert_allclose(stream.values["y"], engine.evaluate(graph, {"x": x})["y"])
    pieces = list(stream.pieces)
    assert len(pieces) == -(-stream.strategy.directions // stream.chunk)
    flat = np.zeros((40, 40))
    for piece in pieces:
        piece.write(flat, stream.strategy.mode)
    np.testing.assert_allclose(flat, whole, rtol=1e-15)


def test_a_streamed_jacobian_sends_only_its_structural_nonzeros(engine):
    def arrowhead(x):  # no colouring helps (a full row and column): n sweeps, 3n - 2 nonzeros
        return wg.concatenate([wg.reshape(wg.sum(x * x), (1,)), x[1:] * x[0]])

    x = np.random.default_rng(3).uniform(-1, 1, 40)
    stream = engine.jacobian_stream(wg.trace(arrowhead, x), {"x": x}, max_chunk=7)
    pieces = list(stream.pieces)
    assert stream.strategy.directions == 40
    assert all(isinstance(p, Entries) for p in pieces) and sum(len(p.values) for p in pieces) == 3 * 40 - 2
