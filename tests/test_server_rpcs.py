"""Every RPC of a real server, through raw generated stubs, on the notes' worked example
f(x1, x2) = ln x1 + x1·x2 − sin x2 at (2, 5) (§2.1 primal trace, §2.4 forward, §2.6 reverse)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import wengert as wg
from conftest import WORKED_GRADIENT, WORKED_POINT, WORKED_VALUE, worked_example
from wengert.execution.engine import Engine
from wengert.plugins.registry import default_registry
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto


def point(**values) -> dict:
    return {name: tensor_to_proto(np.float64(v)) for name, v in values.items()}


@pytest.fixture(scope="module")
def graph():
    return graph_to_proto(wg.trace(worked_example, 2.0, 5.0))


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


@pytest.fixture(scope="module")
def graph_id(stub, graph):
    return stub.Evaluate(pb.EvaluateRequest(graph=graph, inputs=point(**WORKED_POINT))).graph_id


def value(tensor) -> float:
    return float(tensor_from_proto(tensor))


def test_evaluate_gives_11_652_and_a_graph_id(stub, graph):
    response = stub.Evaluate(pb.EvaluateRequest(graph=graph, inputs=point(**WORKED_POINT)))
    assert value(response.outputs["y"]) == WORKED_VALUE
    assert round(value(response.outputs["y"]), 3) == 11.652
    assert len(response.graph_id) == 64


def test_a_graph_id_stands_for_the_graph(stub, graph, graph_id):
    by_id = stub.Evaluate(pb.EvaluateRequest(graph_id=graph_id, inputs=point(x1=1.0, x2=0.5)))
    in_full = stub.Evaluate(pb.EvaluateRequest(graph=graph, inputs=point(x1=1.0, x2=0.5)))
    assert by_id.graph_id == in_full.graph_id == graph_id
    assert value(by_id.outputs["y"]) == value(in_full.outputs["y"]) == np.log(1.0) + 0.5 - np.sin(0.5)


def test_jvp_with_x1_dot_1_gives_5_5(stub, graph_id):
    response = stub.Jvp(pb.JvpRequest(graph_id=graph_id, inputs=point(**WORKED_POINT),
                                      tangents=point(x1=1.0, x2=0.0)))
    assert response.graph_id == graph_id
    assert value(response.outputs["y"]) == WORKED_VALUE
    assert value(response.tangents["y"]) == 5.5


def test_batched_jvp_gives_the_gradient_as_two_directions(stub, graph_id):
    tangents = {"x1": tensor_to_proto(np.array([1.0, 0.0])), "x2": tensor_to_proto(np.array([0.0, 1.0]))}
    response = stub.Jvp(pb.JvpRequest(graph_id=graph_id, inputs=point(**WORKED_POINT), tangents=tangents,
                                      batched=True))
    np.testing.assert_array_equal(tensor_from_proto(response.tangents["y"]), WORKED_GRADIENT)


def test_vjp_gives_the_gradient(stub, graph_id):
    response = stub.Vjp(pb.VjpRequest(graph_id=graph_id, inputs=point(**WORKED_POINT), cotangents=point(y=1.0)))
    assert value(response.outputs["y"]) == WORKED_VALUE
    assert (value(response.cotangents["x1"]), value(response.cotangents["x2"])) == WORKED_GRADIENT
    assert round(value(response.cotangents["x2"]), 3) == 1.716


def test_vjp_wrt_selects_inputs(stub, graph_id):
    response = stub.Vjp(pb.VjpRequest(graph_id=graph_id, inputs=point(**WORKED_POINT), cotangents=point(y=2.0),
                                      wrt=["x2"]))
    assert list(response.cotangents) == ["x2"]
    assert value(response.cotangents["x2"]) == 2 * WORKED_GRADIENT[1]


@pytest.mark.parametrize("mode, used", [(pb.MODE_FORWARD, pb.MODE_FORWARD), (pb.MODE_REVERSE, pb.MODE_REVERSE),
                                        (pb.MODE_AUTO, pb.MODE_REVERSE)])  # 2 inputs > 1 output
def test_jacobian_in_every_mode(stub, graph_id, mode, used):
    response = stub.Jacobian(pb.JacobianRequest(graph_id=graph_id, inputs=point(**WORKED_POINT), mode=mode))
    assert response.mode == used
    assert [(b.output, b.input) for b in response.blocks] == [("y", "x1"), ("y", "x2")]
    assert tuple(value(b.jacobian) for b in response.blocks) == pytest.approx(WORKED_GRADIENT, abs=1e-15)
    assert value(response.outputs["y"]) == WORKED_VALUE


def test_jacobian_blocks_are_output_major_with_out_shape_plus_in_shape(stub):
    def f(x, w):
        return {"a": wg.tanh(w @ x), "b": wg.sum(x * x)}

    graph = graph_to_proto(wg.trace(f, np.zeros(3), np.zeros((2, 3))))
    x, w = np.array([0.1, 0.2, 0.3]), np.arange(6.0).reshape(2, 3) / 10
    inputs = {"x": tensor_to_proto(x), "w": tensor_to_proto(w)}
    expected = Engine(default_registry()).jacobian(wg.trace(f, x, w), {"x": x, "w": w})
    for mode in (pb.MODE_FORWARD, pb.MODE_REVERSE):
        response = stub.Jacobian(pb.JacobianRequest(graph=graph, inputs=inputs, mode=mode))
        assert [(b.output, b.input) for b in response.blocks] == [("a", "x"), ("a", "w"), ("b", "x"), ("b", "w")]
        for block in response.blocks:
            got = tensor_from_proto(block.jacobian)
            np.testing.assert_allclose(got, expected.blocks[block.output, block.input], rtol=1e-14)
        assert tensor_from_proto(response.blocks[1].jacobian).shape == (2, 2, 3)


def test_large_tensors_are_spliced_into_responses_exactly(stub):
    """Tensors of 64 KiB or more go into a response as their own bytes after the message's
    (server/calls.py `Spliced`); small ones in the message: the client reads one map either way."""
    def f(x, s):
        return {"big": wg.sin(x) * s, "total": wg.sum(x) * s, "flag": x > 0}

    x, s = np.linspace(-1, 1, 20_000).reshape(100, 200), 1.5
    graph = graph_to_proto(wg.trace(f, x, s))
    inputs = {"x": tensor_to_proto(x), "s": tensor_to_proto(np.float64(s))}
    values = stub.Evaluate(pb.EvaluateRequest(graph=graph, inputs=inputs)).outputs
    np.testing.assert_array_equal(tensor_from_proto(values["big"]), np.sin(x) * s)
    np.testing.assert_array_equal(tensor_from_proto(values["flag"]), x > 0)
    assert float(tensor_from_proto(values["total"])) == pytest.approx(np.sum(x) * s, abs=1e-12)
    seeds = {"big": tensor_to_proto(np.ones_like(x)), "total": tensor_to_proto(np.float64(0.0))}
    response = stub.Vjp(pb.VjpRequest(graph=graph, inputs=inputs, cotangents=seeds, outputs=["big", "total"]))
    assert sorted(response.outputs) == ["big", "total"]
    np.testing.assert_array_equal(tensor_from_proto(response.cotangents["x"]), np.cos(x) * s)
    assert float(tensor_from_proto(response.cotangents["s"])) == pytest.approx(np.sum(np.sin(x)), rel=1e-12)


def test_trace_primal_rows_match_section_2_1(stub, graph_id):
    response = stub.Trace(pb.TraceRequest(graph_id=graph_id, inputs=point(**WORKED_POINT)))
    rows = [(r.label, r.id, r.op, list(r.inputs), round(value(r.value), 3)) for r in response.rows]
    assert rows == [("v-1", "x1", "", [], 2.0), ("v0", "x2", "", [], 5.0),
                    ("v1", rows[2][1], "log", ["v-1"], 0.693), ("v2", rows[3][1], "mul", ["v-1", "v0"], 10.0),
                    ("v3", rows[4][1], "sin", ["v0"], -0.959), ("v4", rows[5][1], "add", ["v1", "v2"], 10.693),
                    ("v5", rows[6][1], "sub", ["v4", "v3"], 11.652)]
    assert dict(response.output_labels) == {"y": "v5"}
    assert not any(r.HasField("tangent") or r.HasField("adjoint") for r in response.rows)
    assert "v1 = ln v-1 = 0.6931" in response.text


def test_trace_forward_tangents_match_section_2_4(stub, graph_id):
    response = stub.Trace(pb.TraceRequest(graph_id=graph_id, inputs=point(**WORKED_POINT),
                                          mode=pb.TRACE_MODE_FORWARD, tangents=point(x1=1.0, x2=0.0)))
    table = {r.label: (round(value(r.value), 3), round(value(r.tangent), 3)) for r in response.rows}
    assert table == {"v-1": (2.0, 1.0), "v0": (5.0, 0.0), "v1": (0.693, 0.5), "v2": (10.0, 5.0),
                     "v3": (-0.959, 0.0), "v4": (10.693, 5.5), "v5": (11.652, 5.5)}
    assert "v\u03075 = 5.5" in response.text


def test_trace_reverse_adjoints_match_section_2_6(stub, graph_id):
    response = stub.Trace(pb.TraceRequest(graph_id=graph_id, inputs=point(**WORKED_POINT),
                                          mode=pb.TRACE_MODE_REVERSE, cotangents=point(y=1.0)))
    adjoints = {r.label: round(value(r.adjoint), 3) for r in response.rows}
    assert adjoints == {"v5": 1.0, "v4": 1.0, "v3": -1.0, "v2": 1.0, "v1": 1.0, "v0": 1.716, "v-1": 5.5}
    assert not any(r.HasField("tangent") for r in response.rows)


def test_trace_reports_attributes_with_defaults(stub):
    graph = graph_to_proto(wg.trace(lambda x: wg.sum(x, axis=0), np.ones((2, 3))))
    response = stub.Trace(pb.TraceRequest(graph=graph, inputs={"x": tensor_to_proto(np.ones((2, 3)))}))
    attrs = response.rows[-1].attrs
    assert list(attrs["axis"].ints.values) == [0] and attrs["keepdims"].b is False


def test_list_ops_reports_every_op_and_plugin(stub):
    response = stub.ListOps(pb.ListOpsRequest())
    registry = default_registry()
    assert [op.name for op in response.ops] == registry.names()
    sin = next(op for op in response.ops if op.name == "sin")
    assert (sin.plugin, sin.arity, sin.has_jvp, sin.has_vjp) == ("builtin", 1, True, True)
    total = next(op for op in response.ops if op.name == "sum")
    assert [(a.name, a.kind, a.required) for a in total.attrs] == [
        ("axis", pb.ATTR_KIND_AXES, False), ("keepdims", pb.ATTR_KIND_BOOL, False)]
    assert total.attrs[1].default_value.b is False and not total.attrs[0].HasField("default_value")
    assert next(op for op in response.ops if op.name == "concatenate").arity == -1
    builtin = next(p for p in response.plugins if p.name == "builtin")
    assert builtin.loaded and set(builtin.ops) == set(registry.names())


def test_reflection_lists_every_service(server):
    with server.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {"wengert.v1.DifferentiationService", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_health_reports_serving(server):
    assert server.health() == "SERVING"


def test_request_log_has_one_line_per_call_with_its_details(stub, graph_id, server):
    stub.Jacobian(pb.JacobianRequest(graph_id=graph_id, inputs=point(**WORKED_POINT), mode=pb.MODE_FORWARD))
    line = server.wait_for_log(rf"rpc method=Jacobian code=OK ms=[\d.]+ graph={graph_id[:12]} "
                               r"in_bytes=\d+ in_elements=2 mode=MODE_FORWARD")
    assert line


def test_unknown_rpc_is_unimplemented(server):
    with server.channel() as channel:
        call = channel.unary_unary("/wengert.v1.DifferentiationService/Nope")
        with pytest.raises(grpc.RpcError) as err:
            call(b"")
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
