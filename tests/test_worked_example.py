"""The notes' worked example, through every path of the in-process core (§2.1, §2.4, §2.6)."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.autodiff.transform import jvp_graph, vjp_graph
from conftest import WORKED_GRADIENT, WORKED_POINT, WORKED_VALUE

NOTES_PRIMAL_TRACE = """\
v-1 = x1
v0 = x2
v1 = ln v-1
v2 = v-1 × v0
v3 = sin v0
v4 = v1 + v2
v5 = v4 - v3
y = v5"""


def test_value_is_11_652(engine, worked_graph):
    y = engine.evaluate(worked_graph, WORKED_POINT)["y"]
    assert y == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert round(float(y), 3) == 11.652


def test_wengert_list_matches_the_notes(worked_graph):
    assert str(worked_graph) == NOTES_PRIMAL_TRACE


def test_forward_tangent_trace_with_x1_dot_1(engine, worked_graph):
    _, tangents = engine.jvp(worked_graph, WORKED_POINT, {"x1": 1.0, "x2": 0.0})
    assert tangents["y"] == pytest.approx(5.5, abs=1e-15)


def test_reverse_adjoint_trace_gives_the_gradient(engine, worked_graph):
    _, grads = engine.vjp(worked_graph, WORKED_POINT, {"y": 1.0})
    assert grads["x1"] == pytest.approx(WORKED_GRADIENT[0], abs=1e-15)
    assert grads["x2"] == pytest.approx(WORKED_GRADIENT[1], abs=1e-15)
    assert round(float(grads["x2"]), 3) == 1.716


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_in_every_mode(engine, worked_graph, mode):
    result = engine.jacobian(worked_graph, WORKED_POINT, mode=mode)
    assert result.mode == ("reverse" if mode == "auto" else mode)  # n=2 inputs > m=1 output
    assert result.blocks[("y", "x1")] == pytest.approx(5.5, abs=1e-15)
    assert result.blocks[("y", "x2")] == pytest.approx(WORKED_GRADIENT[1], abs=1e-15)
    assert result.blocks[("y", "x1")].shape == ()


def test_forward_trace_table_matches_section_2_4(engine, worked_graph):
    rows = engine.trace(worked_graph, WORKED_POINT, mode="forward", seeds={"x1": 1.0, "x2": 0.0})
    table = {r.label: (round(float(r.value), 3), round(float(r.derivative), 3)) for r in rows}
    assert table == {
        "v-1": (2.0, 1.0), "v0": (5.0, 0.0), "v1": (0.693, 0.5), "v2": (10.0, 5.0),
        "v3": (-0.959, 0.0), "v4": (10.693, 5.5), "v5": (11.652, 5.5),
    }


def test_reverse_trace_table_matches_section_2_6(engine, worked_graph):
    rows = engine.trace(worked_graph, WORKED_POINT, mode="reverse")
    adjoints = {r.label: round(float(r.derivative), 3) for r in rows}
    assert adjoints == {"v5": 1.0, "v4": 1.0, "v3": -1.0, "v2": 1.0, "v1": 1.0,
                        "v0": 1.716, "v-1": 5.5}


def test_printed_trace_shows_values_like_the_notes(engine, worked_graph):
    rows = engine.trace(worked_graph, WORKED_POINT)
    text = wg.wengert_list(worked_graph, {r.id: r.value for r in rows})
    assert "v1 = ln v-1 = 0.6931" in text
    assert text.endswith("y = v5 = 11.65")


def test_derivative_graphs_are_graphs(worked_graph):
    vjp = vjp_graph(worked_graph)
    assert vjp.input_names == ("x1", "x2", "cotangent:y")
    assert vjp.output_names == ("y", "cotangent:x1", "cotangent:x2")
    jvp = jvp_graph(worked_graph)
    assert jvp.input_names == ("x1", "x2", "tangent:x1", "tangent:x2")
    assert jvp.output_names == ("y", "tangent:y")


def test_gradient_by_forward_over_reverse_derivative_graph(engine, worked_graph):
    """The VJP graph is an ordinary graph: differentiating it again gives the Hessian."""
    vjp = engine.derivative_graph(worked_graph, "vjp")
    feeds = {**WORKED_POINT, "cotangent:y": np.float64(1.0)}
    hessian = engine.jacobian(vjp, feeds, wrt=["x1", "x2"], outputs=["cotangent:x1", "cotangent:x2"])
    h = np.array([[hessian.blocks[(f"cotangent:{a}", b)] for b in ("x1", "x2")] for a in ("x1", "x2")])
    expected = np.array([[-1 / 4, 1.0], [1.0, np.sin(5.0)]])
    np.testing.assert_allclose(h, expected, rtol=1e-14)
