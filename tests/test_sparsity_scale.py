"""Sparse Jacobians of real problems' shapes (GradBench's bundle adjustment and hand tracking,
bench/gradbench.py): exact against dense references, with few colours; colourings that stay
valid when hashes collide; cheaper colourings when a budget is hit, said in the result and on
the wire."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
from test_sparsity import reference, tridiagonal
from wengert.execution.engine import Engine
from wengert.jacobians import colouring, sparsity
from wengert.plugins.registry import default_registry
from wengert.transport.wire import graph_to_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from gradbench import BA, HT  # noqa: E402

REGISTRY = default_registry()
BA_OPTIMUM = 15  # GradBench's count for ba: 11 camera + 3 point parameters + a weight (2x: the target)


def dense_reference(engine, graph, inputs):
    return {(o, i): reference(engine, graph, inputs, i, o) for o in graph.output_names for i in graph.input_names}


def assert_blocks_equal(result, expected):
    assert set(result.blocks) == set(expected)
    for key, block in result.blocks.items():
        np.testing.assert_allclose(block.todense(), expected[key], rtol=1e-13, atol=1e-13, err_msg=str(key))


def structurally_orthogonal(pattern, found) -> bool:
    """No row holds two columns of one colour."""
    colours = found.seeds[pattern.cols]
    keys = pattern.rows * found.count + colours
    return np.unique(keys).size == keys.size


def test_the_bundle_adjustment_jacobian_is_exact_with_at_most_the_optimal_colours():
    problem = BA.random(n=4, m=30, p=120)
    graph = wg.trace(problem.objective, *problem.inputs)
    inputs = dict(zip(graph.input_names, problem.inputs))
    engine = Engine()
    result = engine.jacobian(graph, inputs, format="sparse")
    assert result.pattern_found and result.mode == "forward"
    # two reprojection rows of 14 entries (10 of the camera's parameters: one principal point
    # coordinate each), a weight row of one
    assert result.nnz == 29 * 120
    assert result.sweeps <= BA_OPTIMUM
    assert_blocks_equal(result, dense_reference(engine, graph, inputs))


def test_a_larger_bundle_adjustment_pattern_is_coloured_validly_and_near_optimally():
    problem = BA.random(n=49, m=2000, p=20000)
    graph = wg.trace(problem.objective, *problem.inputs)
    pattern = sparsity.jacobian_pattern(graph, graph.input_names, graph.output_names, REGISTRY)
    assert pattern.nnz == 29 * 20000
    found = colouring.columns(pattern)
    assert found.count <= BA_OPTIMUM and found.note == ""
    assert structurally_orthogonal(pattern, found)


def test_a_bundle_adjustment_pattern_is_coloured_cyclically_within_each_input():
    problem = BA.random(n=49, m=2000, p=20000)
    graph = wg.trace(problem.objective, *problem.inputs)
    pattern = sparsity.jacobian_pattern(graph, graph.input_names, graph.output_names, REGISTRY)
    starts = np.cumsum([0] + [a.size for a in problem.inputs[:-1]]).tolist()
    found = colouring.columns(pattern, list(zip(graph.input_names, starts)))
    assert (found.count, found.method) == (BA_OPTIMUM, "cyclic")  # within one colour in eight of 14
    assert found.note == "column mod k within each input: 11 (cams), 3 (points), 1 (weights)"
    assert structurally_orthogonal(pattern, found)


def test_where_no_cyclic_colouring_works_within_the_inputs_the_greedy_one_is_used():
    rows = np.repeat(np.arange(19), 2)
    cols = np.stack([np.zeros(19, int), np.arange(1, 20)], axis=1).ravel()  # column 0 with each other one
    pattern = sparsity.Pattern(rows, cols, (19, 30))
    found = colouring.columns(pattern, [("a", 0), ("b", 20)])  # j mod k repeats 0 in row k, for every k
    assert (found.count, found.method) == (2, "largest-first") and structurally_orthogonal(pattern, found)


@pytest.mark.parametrize("complicated", [True, False])
def test_the_hand_tracking_jacobian_is_exact_with_at_most_twice_the_fewest_colours(complicated):
    problem = HT.random(40, complicated=complicated, vertices=60, triangles=100)
    graph = wg.trace(problem.objective, *problem.inputs)
    inputs = dict(zip(graph.input_names, problem.inputs))
    engine = Engine()
    result = engine.jacobian(graph, inputs, format="sparse")
    pattern = sparsity.jacobian_pattern(graph, graph.input_names, graph.output_names, REGISTRY)
    assert result.pattern_found and result.nnz == pattern.nnz
    assert result.sweeps <= 2 * colouring.min_colours(pattern)[0]
    assert_blocks_equal(result, dense_reference(engine, graph, inputs))


def test_colourings_stay_valid_when_every_hash_collides(monkeypatch):
    rng = np.random.default_rng(3)
    dense = rng.random((60, 40)) < 0.1
    dense[np.arange(0, 60, 2)] = dense[np.arange(1, 60, 2)]  # repeated rows, as a residual's
    rows, cols = np.nonzero(dense)
    pattern = sparsity.Pattern(rows, cols, dense.shape)
    honest = colouring.columns(pattern)
    # every row and every column hashed alike: taken for one another, then caught by the check
    monkeypatch.setattr(colouring, "_mix", lambda values: np.zeros(np.shape(values), np.uint64))
    monkeypatch.setattr(colouring, "_digests", lambda seg, members, size: np.zeros(size, np.uint64))
    collided = colouring.columns(pattern)
    assert structurally_orthogonal(pattern, collided) and structurally_orthogonal(pattern, honest)
    assert collided.count == honest.count


def test_a_colouring_past_its_mask_budget_gives_the_rest_a_colour_each_and_says_so(monkeypatch):
    x = np.random.default_rng(6).uniform(-1, 1, 300)
    graph = wg.trace(lambda x: wg.concatenate([wg.reshape(wg.sum(x[:100]), (1,)), x[1:] * x[:-1]]), x)
    monkeypatch.setattr(colouring, "CYCLIC_TRIES", 0)  # (column mod 100 would do)
    monkeypatch.setattr(colouring, "MAX_MASK_BYTES", 1)  # 64 colours fit, 65 do not
    engine = Engine()
    result = engine.jacobian(graph, {"x": x}, mode="forward", format="sparse")  # (reverse: 4 colours)
    assert result.colouring == "largest-first" and "colour masks reached 1 bytes" in result.note
    assert 100 < result.sweeps < 300  # the first row needs 100; the greedy colouring alone finds 100
    np.testing.assert_allclose(result.blocks[("y", "x")].todense(), reference(engine, graph, {"x": x}, "x", "y"),
                               rtol=1e-14)


def test_a_hessian_past_the_star_colouring_budget_keeps_its_hubs_apart_and_says_so(monkeypatch):
    x = np.random.default_rng(7).uniform(-1, 1, 40)
    graph = wg.trace(lambda x: wg.sum(x * x) * x[0] + wg.sum(wg.sin(x)), x)  # an arrowhead
    monkeypatch.setattr(colouring, "CYCLIC_TRIES", 0)
    monkeypatch.setattr(colouring, "MAX_STAR_WORK", 0)
    engine = Engine()
    result = engine.hessian(graph, {"x": x}, format="sparse")
    assert result.colouring == "hubs-apart" and "greedy star colouring would visit" in result.note
    assert result.sweeps == 2
    np.testing.assert_allclose(result.blocks[("x", "x")].todense(), engine.hessian(graph, {"x": x}).blocks[("x", "x")],
                               rtol=1e-13)


# -- on the wire ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def request(f, x, format=pb.FORMAT_SPARSE) -> pb.JacobianRequest:
    return pb.JacobianRequest(graph=graph_to_proto(wg.trace(f, x)), inputs={"x": tensor_to_proto(x)}, format=format)


def test_the_response_says_how_the_directions_were_chosen(stub):
    x = np.linspace(-1, 1, 30)
    sweep = stub.Jacobian(request(tridiagonal, x)).sweep
    assert (sweep.sweeps, sweep.colouring, sweep.pattern_found, sweep.note) == (3, pb.COLOURING_CYCLIC, True,
                                                                                "column mod 3")
    header = next(iter(stub.JacobianStream(request(tridiagonal, x)))).header
    assert (header.sweep.colouring, header.sweep.pattern_found) == (pb.COLOURING_CYCLIC, True)
    full = stub.Jacobian(request(lambda x: x * wg.sum(x), x)).sweep
    assert (full.sweeps, full.colouring, full.pattern_found) == (30, pb.COLOURING_BASIS, False)
    assert "the pattern is full" in full.note
