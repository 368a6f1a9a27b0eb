"""The client SDK on the notes' worked example, run twice: in-process (`Client.local()`) and
against a real server subprocess. Every test holds for both, so local and remote agree."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from conftest import WORKED_GRADIENT, WORKED_VALUE, worked_example

X1, X2 = 2.0, 5.0
DX2 = WORKED_GRADIENT[1]  # d f / d x2 = x1 - cos x2 = 1.716


def pair(x, y):
    """Two named outputs, to exercise dict results."""
    return {"s": x + y, "p": x * y}


def dense(x, w):
    """A vector function of a vector and a matrix, with broadcasting."""
    return wg.tanh(w @ x + 1.0)


# -- evaluate ----------------------------------------------------------------------------
def test_evaluate_function_graph_positional_and_dict_agree(client, worked_graph):
    results = [
        client.evaluate(worked_example, X1, X2),
        client.evaluate(worked_graph, X1, X2),
        client.evaluate(worked_graph, {"x1": X1, "x2": X2}),
        client.evaluate(worked_graph, 2, 5),  # Python ints take the declared float64
    ]
    for y in results:
        assert isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == ()
        assert y == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert round(float(results[0]), 3) == 11.652


def test_several_outputs_come_back_by_name(client):
    assert client.evaluate(pair, 2.0, 3.0) == {"s": 5.0, "p": 6.0}
    assert client.evaluate(pair, 2.0, 3.0, outputs="p") == 6.0
    assert client.evaluate(pair, 2.0, 3.0, outputs=["p"]) == {"p": 6.0}


# -- forward and reverse mode ------------------------------------------------------------
def test_jvp_with_x1_dot_1_is_5_5(client, worked_graph):
    y, y_dot = client.jvp(worked_example, (X1, X2), (1.0, None))
    assert y == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert y_dot == pytest.approx(5.5, abs=1e-15)
    _, by_name = client.jvp(worked_graph, {"x1": X1, "x2": X2}, {"x2": 1.0})
    assert by_name == pytest.approx(DX2, abs=1e-15)


def test_batched_jvp_pushes_the_identity_through_at_once(client):
    _, rows = client.jvp(worked_example, (X1, X2), (np.array([1.0, 0.0]), np.array([0.0, 1.0])),
                         batched=True)
    np.testing.assert_allclose(rows, [5.5, DX2], rtol=1e-15)


def test_vjp_gives_the_gradient_shaped_by_argnums_or_wrt(client):
    y, grads = client.vjp(worked_example, (X1, X2), 1.0, argnums=(0, 1))
    assert y == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert grads == pytest.approx((5.5, DX2), abs=1e-15)
    _, only_x1 = client.vjp(worked_example, (X1, X2), 1.0)  # argnums=0, as in JAX
    assert only_x1 == pytest.approx(5.5, abs=1e-15)
    _, named = client.vjp(worked_example, (X1, X2), 2.0, wrt=["x2"])
    assert named == {"x2": pytest.approx(2 * DX2, abs=1e-15)}


def test_batched_vjp_takes_one_cotangent_per_row(client):
    _, g = client.vjp(worked_example, (X1, X2), np.array([1.0, -2.0]), argnums=1, batched=True)
    np.testing.assert_allclose(g, [DX2, -2 * DX2], rtol=1e-15)


# -- gradients and Jacobians ---------------------------------------------------------------
def test_grad_and_value_and_grad_like_jax(client, worked_graph):
    assert client.grad(worked_example, X1, X2) == pytest.approx(5.5, abs=1e-15)
    assert client.grad(worked_graph, X1, X2, argnums=(0, 1)) == pytest.approx((5.5, DX2), abs=1e-15)
    value, grad = client.value_and_grad(worked_example, X1, X2, wrt="x2")
    assert value == pytest.approx(WORKED_VALUE, abs=1e-15)
    assert round(float(grad), 3) == 1.716


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_jacobian_of_the_worked_example_in_every_mode(client, mode):
    blocks = client.jacobian(worked_example, X1, X2, argnums=(0, 1), mode=mode)
    assert blocks == pytest.approx((5.5, DX2), abs=1e-15)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_blocks_are_out_shape_plus_in_shape(client, mode):
    x, w = np.array([0.1, -0.2, 0.3]), np.arange(6.0).reshape(2, 3) / 10
    d = 1 - np.tanh(w @ x + 1) ** 2
    dx, dw = client.jacobian(dense, x, w, argnums=(0, 1), mode=mode)
    np.testing.assert_allclose(dx, d[:, None] * w, rtol=1e-14)
    assert dw.shape == (2, 2, 3)
    np.testing.assert_allclose(dw, np.einsum("i,ij,k->ijk", d, np.eye(2), x), rtol=1e-14, atol=1e-16)
    single = client.jacobian(dense, x, w, mode=mode)  # one input, one output: the array itself
    np.testing.assert_allclose(single, dx, rtol=1e-14)
    by_output = client.jacobian(pair, 2.0, 3.0, wrt=["x"], mode=mode)
    assert by_output == {"s": {"x": 1.0}, "p": {"x": 3.0}}


# -- traces --------------------------------------------------------------------------------
SECTION_2_4 = """\
Forward primal trace    Forward tangent trace
v-1 = x1 = 2            v̇-1 = 1
v0 = x2 = 5             v̇0 = 0
v1 = ln v-1 = 0.6931    v̇1 = 0.5
v2 = v-1 × v0 = 10      v̇2 = 5
v3 = sin v0 = -0.9589   v̇3 = 0
v4 = v1 + v2 = 10.69    v̇4 = 5.5
v5 = v4 - v3 = 11.65    v̇5 = 5.5
y = v5 = 11.65          ẏ = 5.5"""


def test_forward_trace_is_the_table_of_section_2_4(client):
    trace = client.trace(worked_example, X1, X2, tangents=(1.0, 0.0))
    assert str(trace) == SECTION_2_4
    table = {r.label: (round(float(r.value), 3), round(float(r.derivative), 3)) for r in trace.rows}
    assert table == {"v-1": (2.0, 1.0), "v0": (5.0, 0.0), "v1": (0.693, 0.5), "v2": (10.0, 5.0),
                     "v3": (-0.959, 0.0), "v4": (10.693, 5.5), "v5": (11.652, 5.5)}
    assert [(r.op, r.inputs) for r in trace.rows][2:4] == [("log", ("v-1",)), ("mul", ("v-1", "v0"))]
    assert trace.outputs == {"y": "v5"}


def test_reverse_trace_has_the_adjoints_of_section_2_6(client):
    trace = client.trace(worked_example, X1, X2, mode="reverse")  # seeded with y-bar = 1
    adjoints = {r.label: round(float(r.derivative), 3) for r in trace.rows}
    assert adjoints == {"v5": 1.0, "v4": 1.0, "v3": -1.0, "v2": 1.0, "v1": 1.0,
                        "v0": 1.716, "v-1": 5.5}
    assert str(trace).splitlines()[1:3] == ["v-1 = x1 = 2            v̄-1 = 5.5",
                                            "v0 = x2 = 5             v̄0 = 1.716"]


def test_primal_trace_is_the_table_of_section_2_1(client):
    trace = client.trace(worked_example, X1, X2)
    assert all(r.derivative is None for r in trace.rows)
    assert str(trace).splitlines()[2] == "v1 = ln v-1 = 0.6931"
    assert str(trace).endswith("y = v5 = 11.65")


# -- the catalogue and errors ----------------------------------------------------------------
def test_list_ops_describes_the_builtin_ops(client):
    ops = {op.name: op for op in client.list_ops()}
    assert ops["sin"] == wg.OpInfo("sin", "builtin", "1", 1, (), ops["sin"].doc, True, True)
    assert "axis" in ops["sum"].attrs and ops["concatenate"].arity is None


def test_request_errors_have_the_same_class_either_way(client, worked_graph):
    with pytest.raises(wg.InvalidTensor, match="x1"):
        client.evaluate(worked_graph, np.float32(2.0), 5.0)  # arrays keep their dtype
    with pytest.raises(wg.InvalidRequest, match="2 input"):
        client.evaluate(worked_graph, 2.0)
    with pytest.raises(wg.InvalidRequest, match="one scalar float output"):
        client.grad(pair, 2.0, 3.0)
    with pytest.raises(wg.InvalidRequest, match="unknown mode"):
        client.jacobian(worked_example, X1, X2, mode="sideways")


# -- local and remote agree to the bit -------------------------------------------------------
def test_local_and_remote_results_are_identical(server):
    x, w = np.linspace(-1, 1, 4), np.random.default_rng(0).normal(size=(3, 4))
    calls = [
        lambda c: c.evaluate(dense, x, w),
        lambda c: c.jvp(dense, (x, w), (np.ones(4), None)),
        lambda c: c.vjp(dense, (x, w), np.arange(3.0), argnums=(0, 1)),
        lambda c: c.jacobian(dense, x, w, argnums=(0, 1), mode="reverse"),
        lambda c: c.value_and_grad(lambda x, w: wg.sum(dense(x, w)), x, w, wrt=["w"]),
    ]
    with wg.Client.local() as local, wg.Client(server.target) as remote:
        for call in calls:
            a, b = call(local), call(remote)
            np.testing.assert_equal(a, b)
        np.testing.assert_equal([r.value for r in local.trace(dense, x, w).rows],
                                [r.value for r in remote.trace(dense, x, w).rows])
