"""Hessian, Hvp, DerivativeGraph and sparse Jacobians through a real server (raw generated
stubs), each equal to the in-process engine's answer."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import wengert as wg
from test_hessian import rosenbrock
from test_sparsity import tridiagonal
from wengert.execution.engine import Engine
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_from_proto, graph_to_proto, tensor_from_proto, tensor_to_proto

ENGINE = Engine()


def tensors(**arrays) -> dict:
    return {name: tensor_to_proto(np.asarray(a)) for name, a in arrays.items()}


def dense(sparse: pb.SparseTensor) -> np.ndarray:
    out = np.zeros(tuple(sparse.shape))
    out[tuple(tensor_from_proto(sparse.indices).T)] = tensor_from_proto(sparse.values)
    return out


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


X = np.array([1.2, 0.7, -0.3, 2.0, 0.1])
ROSENBROCK = wg.trace(rosenbrock, X)


@pytest.mark.parametrize("format", [pb.FORMAT_DENSE, pb.FORMAT_SPARSE])
def test_hessian_rpc_equals_the_engine(stub, format):
    response = stub.Hessian(pb.HessianRequest(graph=graph_to_proto(ROSENBROCK), inputs=tensors(x=X),
                                              format=format))
    expected = ENGINE.hessian(ROSENBROCK, {"x": X})
    (block,) = response.blocks
    assert (block.row, block.column) == ("x", "x")
    got = tensor_from_proto(block.hessian) if format == pb.FORMAT_DENSE else dense(block.sparse)
    np.testing.assert_array_equal(got, expected.blocks[("x", "x")])
    assert float(tensor_from_proto(response.value)) == float(expected.value)
    np.testing.assert_array_equal(tensor_from_proto(response.gradient["x"]), expected.gradient["x"])
    assert (response.sweep.sweeps, response.sweep.nnz, response.sweep.chunk) == (3, 13, 3)


def test_hvp_rpc_batched(stub):
    directions = np.random.default_rng(0).standard_normal((4, 5))
    response = stub.Hvp(pb.HvpRequest(graph=graph_to_proto(ROSENBROCK), inputs=tensors(x=X),
                                      directions=tensors(x=directions), batched=True))
    hessian = ENGINE.hessian(ROSENBROCK, {"x": X}).blocks[("x", "x")]
    np.testing.assert_allclose(tensor_from_proto(response.products["x"]), directions @ hessian, rtol=1e-13)


def test_hessian_of_a_non_scalar_output_is_invalid(stub):
    graph = graph_to_proto(wg.trace(lambda x: x * x, X))
    with pytest.raises(grpc.RpcError) as info:
        stub.Hessian(pb.HessianRequest(graph=graph, inputs=tensors(x=X)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be a float scalar" in info.value.details()


@pytest.mark.parametrize("kind, inputs, outputs", [
    (pb.DERIVATIVE_KIND_JVP, ("x", "tangent:x"), ("y", "tangent:y")),
    (pb.DERIVATIVE_KIND_VJP, ("x", "cotangent:y"), ("y", "cotangent:x")),
    (pb.DERIVATIVE_KIND_GRADIENT, ("x",), ("y", "cotangent:x"))])
def test_derivative_graph_is_returned_and_held_under_an_id(stub, kind, inputs, outputs):
    response = stub.DerivativeGraph(pb.DerivativeGraphRequest(graph=graph_to_proto(ROSENBROCK), kind=kind))
    derivative = graph_from_proto(response.graph)
    assert (derivative.input_names, derivative.output_names) == (inputs, outputs)
    feeds = {name: np.ones(5) if name.endswith("x") else np.float64(1.0) for name in inputs}
    request = pb.EvaluateRequest(graph_id=response.derivative_graph_id, inputs=tensors(**feeds))
    by_id = stub.Evaluate(request)
    expected = ENGINE.evaluate(derivative, feeds)
    for name in outputs:
        np.testing.assert_array_equal(tensor_from_proto(by_id.outputs[name]), expected[name])


def test_the_gradient_graph_differentiates_again_on_the_server(stub):
    gradient = stub.DerivativeGraph(pb.DerivativeGraphRequest(graph=graph_to_proto(ROSENBROCK),
                                                              kind=pb.DERIVATIVE_KIND_GRADIENT))
    response = stub.Jacobian(pb.JacobianRequest(graph_id=gradient.derivative_graph_id, inputs=tensors(x=X),
                                                outputs=["cotangent:x"]))
    np.testing.assert_allclose(tensor_from_proto(response.blocks[0].jacobian),
                               ENGINE.hessian(ROSENBROCK, {"x": X}).blocks[("x", "x")], rtol=1e-14)


def test_sparse_jacobian_rpc_reports_the_sweeps(stub):
    x = np.linspace(-1, 1, 50)
    graph = wg.trace(tridiagonal, x)
    response = stub.Jacobian(pb.JacobianRequest(graph=graph_to_proto(graph), inputs=tensors(x=x),
                                                format=pb.FORMAT_SPARSE))
    assert (response.sweep.sweeps, response.sweep.nnz) == (3, 148)
    expected = ENGINE.jacobian(graph, {"x": x}).blocks[("y", "x")]
    np.testing.assert_array_equal(dense(response.blocks[0].sparse), expected)


def test_a_sparse_jacobian_is_not_held_to_the_dense_size_limit(stub):
    x = np.linspace(-1, 1, 5000)  # 25,000,000 entries dense: over the default limit of 4,194,304
    graph = graph_to_proto(wg.trace(lambda x: wg.sin(x) * x, x))
    with pytest.raises(grpc.RpcError) as info:
        stub.Jacobian(pb.JacobianRequest(graph=graph, inputs=tensors(x=x)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    response = stub.Jacobian(pb.JacobianRequest(graph=graph, inputs=tensors(x=x), format=pb.FORMAT_SPARSE))
    assert (response.sweep.sweeps, response.sweep.nnz) == (1, 5000)
    np.testing.assert_allclose(tensor_from_proto(response.blocks[0].sparse.values), np.cos(x) * x + np.sin(x),
                               rtol=1e-15)
