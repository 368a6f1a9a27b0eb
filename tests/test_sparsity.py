"""Sparse Jacobians: structural patterns, colourings, compressed sweeps. Every compressed result
is compared with a reference computed without any of that machinery: the identity pushed
through one batched JVP."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.jacobians import colouring, sparsity
from wengert.execution.engine import Engine
from wengert.plugins.opdef import OpDef
from wengert.plugins.registry import default_registry
from wengert.plugins.shapes import same_as_first

REGISTRY = default_registry()


def reference(engine, graph, inputs, wrt, output):
    """d output / d wrt from a batched JVP over the identity: no pattern, no colours."""
    x = inputs[wrt]
    basis = np.eye(x.size).reshape((x.size,) + x.shape)
    _, tangents = engine.jvp(graph, inputs, {wrt: basis}, batched=True)
    t = tangents[output]
    return np.moveaxis(t.reshape((x.size,) + t.shape[1:]), 0, -1).reshape(t.shape[1:] + x.shape)


def shifted(x, k):
    """x moved k places along its axis (zeros shifted in): y_i = x_(i-k)."""
    return wg.pad(x[:-k], [(k, 0)]) if k > 0 else wg.pad(x[-k:], [(0, -k)])


def tridiagonal(x):
    return shifted(x, 1) - 2 * x + shifted(x, -1) + wg.sin(x)


def banded(x):  # half-bandwidth 2
    return wg.exp(shifted(x, 2)) * shifted(x, -1) + shifted(x, 1) * x + wg.cos(shifted(x, -2))


def block_diagonal(x):
    blocks = wg.reshape(x, (5, 4))
    return wg.reshape(wg.tanh(blocks @ np.arange(16.0).reshape(4, 4) / 10) + wg.softmax(blocks), (20,))


def row_arrow(x):  # y_0 = sum x, y_i = x_i^2: a full first row
    return wg.concatenate([wg.reshape(wg.sum(x), (1,)), x[1:] * x[1:]])


def column_arrow(x):  # y_i = x_i * x_0: a full first column
    return x * x[0]


def arrowhead(x):  # both
    return wg.concatenate([wg.reshape(wg.sum(x * x), (1,)), x[1:] * x[0]])


MAPS = {"tridiagonal": (tridiagonal, 1), "banded": (banded, 2)}


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("n", [9, 200])
def test_banded_maps_need_at_most_bandwidth_plus_one_colours(engine, name, n):
    fn, half = MAPS[name]
    x = np.random.default_rng(0).uniform(-1, 1, n)
    graph = wg.trace(fn, x)
    result = engine.jacobian(graph, {"x": x})
    assert result.sweeps <= 2 * half + 1  # the full bandwidth 2b, plus one
    rows, cols = np.nonzero(np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= half)
    assert result.nnz == rows.size
    expected = reference(engine, graph, {"x": x}, "x", "y")
    np.testing.assert_allclose(result.blocks[("y", "x")], expected, rtol=1e-14)


def test_block_diagonal_map_needs_one_colour_per_block_column(engine):
    x = np.random.default_rng(1).uniform(-1, 1, 20)
    graph = wg.trace(block_diagonal, x)
    result = engine.jacobian(graph, {"x": x}, format="sparse")
    assert result.sweeps == 4 and result.nnz == 5 * 16
    expected = reference(engine, graph, {"x": x}, "x", "y")
    np.testing.assert_allclose(result.blocks[("y", "x")].todense(), expected, rtol=1e-14)


@pytest.mark.parametrize("fn, mode, sweeps", [(row_arrow, "reverse", 2), (column_arrow, "forward", 2),
                                              (arrowhead, "forward", 30)])
def test_arrowhead_maps_pick_the_mode_with_fewer_colours(engine, fn, mode, sweeps):
    x = np.random.default_rng(2).uniform(-1, 1, 30)
    graph = wg.trace(fn, x)
    expected = reference(engine, graph, {"x": x}, "x", "y")
    auto = engine.jacobian(graph, {"x": x})
    assert (auto.mode, auto.sweeps) == (mode, sweeps)
    np.testing.assert_allclose(auto.blocks[("y", "x")], expected, rtol=1e-14)
    for forced in ("forward", "reverse"):  # the other mode is just as right, only slower
        result = engine.jacobian(graph, {"x": x}, mode=forced, format="sparse")
        assert result.mode == forced
        np.testing.assert_allclose(result.blocks[("y", "x")].todense(), expected, rtol=1e-14)


def test_diagonal_jacobian_is_one_sweep_dense_or_sparse(engine):
    x = np.random.default_rng(3).uniform(-1, 1, 1000)
    graph = wg.trace(lambda x: wg.sin(x) * x + wg.exp(-x * x), x)
    dense = engine.jacobian(graph, {"x": x})
    sparse = engine.jacobian(graph, {"x": x}, format="sparse")
    assert dense.sweeps == sparse.sweeps == 1 and sparse.nnz == 1000
    expected = np.diag(np.cos(x) * x + np.sin(x) - 2 * x * np.exp(-x * x))
    np.testing.assert_allclose(dense.blocks[("y", "x")], expected, rtol=1e-14)
    block = sparse.blocks[("y", "x")]
    np.testing.assert_array_equal(block.indices, np.stack([np.arange(1000)] * 2, axis=1))
    np.testing.assert_allclose(block.values, np.diag(expected), rtol=1e-14)


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
def test_blocks_of_several_inputs_and_outputs(engine, mode):
    rng = np.random.default_rng(4)
    inputs = {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal(3), "k": np.array(2)}
    graph = wg.trace(lambda a, b, k: {"p": a * b, "q": wg.sum(a, axis=0) + wg.sin(b), "r": b * k},
                     *inputs.values())
    dense = engine.jacobian(graph, inputs, wrt=["a", "b"], mode=mode)
    sparse = engine.jacobian(graph, inputs, wrt=["a", "b"], mode=mode, format="sparse")
    for out in ("p", "q", "r"):
        for wrt in ("a", "b"):
            expected = reference(engine, graph, inputs, wrt, out)
            np.testing.assert_allclose(dense.blocks[(out, wrt)], expected, rtol=1e-14)
            np.testing.assert_allclose(sparse.blocks[(out, wrt)].todense(), expected, rtol=1e-14)
            assert sparse.blocks[(out, wrt)].indices.shape[1] == len(expected.shape)
    assert sparse.blocks[("r", "a")].values.size == 0  # r does not depend on a at all


# -- patterns, op by op --------------------------------------------------------------------------
PATTERN_CASES = {
    "broadcasting": (lambda x, y: x * y + wg.sin(y), [(3, 1), (4,)]),
    "reduction over an axis": (lambda x, y: wg.logsumexp(x, axis=1) * wg.sum(y), [(3, 4), (2,)]),
    "softmax": (lambda x, y: wg.softmax(x, axis=0) + y, [(3, 4), (4,)]),
    "matmul": (lambda x, y: wg.tanh(x @ y), [(3, 4), (4, 2)]),
    "matrix-vector": (lambda x, y: x @ y, [(3, 4), (4,)]),
    "stacked matmul": (lambda x, y: x @ y, [(2, 3, 4), (4, 2)]),
    "transpose, reshape, flip": (lambda x, y: wg.flip(wg.reshape(x.T, (2, 6)), 1) * y, [(3, 4), (2, 1)]),
    "take with constant indices": (lambda x, y: wg.take(x, [2, 0, 2], axis=1) * y, [(3, 4), (3,)]),
    "concatenate and stack": (lambda x, y: wg.stack([wg.concatenate([x[0], y]), wg.concatenate([y, x[1]])]),
                              [(2, 3), (3,)]),
    "slice with steps": (lambda x, y: x[::2, 1:] * y[1:], [(5, 4), (4,)]),
    "triangles": (lambda x, y: wg.tril(x, 1) + wg.triu(x * y, 2), [(3, 4), (4,)]),
    "linear algebra (dense)": (lambda x, y: wg.solve(x + 3 * np.eye(3), y), [(3, 3), (3,)]),
}
# Piecewise ops depend structurally on every branch: their pattern holds entries that are zero
# at a given point (max's non-maximal entries, where's branch not taken).
SUPERSET_CASES = {
    "max over an axis": (lambda x, y: wg.max(x, axis=1) * wg.sum(y), [(3, 4), (2,)]),
    "where": (lambda x, y: wg.where(x > 0, x * x, wg.exp(y)), [(3, 4), (4,)]),
}


@pytest.mark.parametrize("name", [*PATTERN_CASES, *SUPERSET_CASES])
def test_pattern_covers_the_numeric_jacobian(engine, name):
    """The structural pattern never misses a nonzero of the Jacobian (and, but for piecewise
    ops, is exactly its structure at a generic point); sweeping it gives the Jacobian."""
    fn, shapes = PATTERN_CASES.get(name) or SUPERSET_CASES[name]
    rng = np.random.default_rng(5)
    inputs = {k: rng.uniform(0.5, 1.5, s) * rng.choice([-1, 1], s) for k, s in zip("xy", shapes)}
    graph = wg.trace(fn, *inputs.values())
    result = engine.jacobian(graph, inputs, format="sparse")
    for wrt in "xy":
        expected = reference(engine, graph, inputs, wrt, "y")
        got = result.blocks[("y", wrt)]
        np.testing.assert_allclose(got.todense(), expected, rtol=1e-13, atol=1e-15)
        found = np.zeros(expected.shape, bool)
        found[tuple(got.indices.T)] = True
        assert (found | (expected == 0)).all(), "a nonzero is missing from the pattern"
        if name in PATTERN_CASES:
            np.testing.assert_array_equal(found, expected != 0)


def test_an_op_without_a_sparsity_rule_is_taken_as_dense():
    mystery = OpDef("mystery", lambda x: np.cumsum(x), same_as_first,  # cumsum, unknown to sparsity
                    jvp=(lambda x_dot, ans, x: wg.op("mystery", x_dot),),
                    vjp=(lambda g, ans, x: wg.flip(wg.op("mystery", wg.flip(g))),))
    registry = REGISTRY.with_ops([mystery])
    graph = wg.trace(lambda x: wg.op("mystery", x) * x, np.zeros(4), registry=registry)
    # cumsum is lower triangular, but nothing says so: dense is safe, and a full pattern is no use
    with pytest.raises(sparsity.NoPattern, match="the pattern is full"):
        sparsity.jacobian_pattern(graph, ["x"], ["y"], registry, useful_only=True)
    engine = Engine(registry)
    x = np.arange(1.0, 5.0)
    result = engine.jacobian(graph, {"x": x})
    assert (result.sweeps, result.nnz, result.pattern_found, result.colouring) == (4, 16, False, "basis")
    assert "full" in result.note
    np.testing.assert_allclose(result.blocks[("y", "x")],
                               np.tril(np.ones((4, 4))) * x[:, None] + np.diag(np.cumsum(x)))


def test_patterns_too_large_to_track_fall_back_to_dense_sweeps_and_say_so():
    x = np.random.default_rng(6).uniform(-1, 1, 30)
    graph = wg.trace(tridiagonal, x)
    with pytest.raises(sparsity.NoPattern, match="memory budget of 1000 bytes"):
        sparsity.jacobian_pattern(graph, ["x"], ["y"], REGISTRY, budget=1000)
    result = Engine().jacobian(graph, {"x": x}, format="sparse")
    assert (result.sweeps, result.nnz, result.pattern_found) == (3, 88, True)
    engine = Engine()
    engine.memory_budget = 1000  # what sweeps and patterns may use, with no limit on requests
    small = engine.jacobian(graph, {"x": x}, format="sparse")
    assert (small.sweeps, small.nnz, small.pattern_found, small.colouring) == (30, 900, False, "basis")
    assert "memory budget of 1000 bytes" in small.note
    expected = reference(engine, graph, {"x": x}, "x", "y")
    np.testing.assert_allclose(small.blocks[("y", "x")].todense(), expected)


# -- colourings ------------------------------------------------------------------------------------
def random_pattern(rng, m, n, density):
    dense = rng.random((m, n)) < density
    rows, cols = np.nonzero(dense)
    return sparsity.Pattern(rows, cols, (m, n)), dense


@pytest.mark.parametrize("seed", range(5))
def test_column_and_row_colourings_are_structurally_orthogonal(seed):
    rng = np.random.default_rng(seed)
    pattern, dense = random_pattern(rng, 40, 30, 0.08)
    values = rng.standard_normal(pattern.nnz)
    full = np.zeros(dense.shape)
    full[pattern.rows, pattern.cols] = values
    for found, forward in ((colouring.columns(pattern), True), (colouring.rows(pattern), False)):
        members_of = np.eye(found.count)[found.seeds]  # column (row) -> its colour
        overlap = (dense.astype(int) @ members_of) if forward else (members_of.T @ dense.astype(int))
        assert overlap.max() <= 1, "two members of a colour share a row (column)"
        swept = (full @ members_of).T if forward else members_of.T @ full
        np.testing.assert_array_equal(swept[found.colour, found.position], values)


@pytest.mark.parametrize("seed", range(5))
def test_star_colouring_recovers_a_symmetric_matrix(seed):
    rng = np.random.default_rng(seed)
    _, dense = random_pattern(rng, 40, 40, 0.06)
    symmetric = dense | dense.T | np.eye(40, dtype=bool)
    rows, cols = np.nonzero(symmetric)
    pattern = sparsity.Pattern(rows, cols, (40, 40))
    found = colouring.star(pattern)
    assert found.count <= colouring.columns(pattern).count
    h = np.zeros((40, 40))
    h[rows, cols] = rng.standard_normal(rows.size)
    h = h + h.T
    swept = (h @ np.eye(found.count)[found.seeds]).T
    np.testing.assert_allclose(swept[found.colour, found.position], h[rows, cols], rtol=1e-14)


def test_star_colouring_of_an_arrowhead_needs_two_colours():
    n = 50
    first = np.arange(n) == 0
    rows, cols = np.nonzero(np.eye(n, dtype=bool) | first[:, None] | first[None, :])
    pattern = sparsity.Pattern(rows, cols, (n, n))
    assert colouring.star(pattern).count == 2
    assert colouring.columns(pattern).count == n
