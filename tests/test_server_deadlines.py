"""Deadlines and cancellation stop a computation between nodes, on the server, not just for
the client; the server keeps serving afterwards."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from wengert.testing import start_server
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import tensor_from_proto, tensor_to_proto

def matmul_chain(size: int, links: int) -> graph_pb2.Graph:
    """v_k = v_{k-1} @ w, `links` times, for `size` x `size` matrices."""
    graph = graph_pb2.Graph()
    square = tensor_pb2.TensorType(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[size, size])
    graph.inputs.add(name="x", type=square)
    graph.inputs.add(name="w", type=square)
    previous = "x"
    for k in range(1, links + 1):
        graph.nodes.add(id=f"v{k}", op="matmul", inputs=[previous, "w"])
        previous = f"v{k}"
    graph.outputs.add(name="y", value=previous)
    return graph


def matrices(n: int) -> dict:
    w = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))[0]  # orthogonal: values stay finite
    return {"x": tensor_to_proto(np.eye(n)), "w": tensor_to_proto(w)}


@pytest.fixture(scope="module")
def server():
    """A server whose work limit admits the slow request below (10^11 operations)."""
    with start_server("--max-work", "1e12") as running:
        yield running


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


@pytest.fixture(scope="module")
def slow_request():
    """A request whose computation takes seconds: 400 products of 512 x 512 matrices."""
    return pb.EvaluateRequest(graph=matmul_chain(512, 400), inputs=matrices(512))


def test_the_chain_computes_what_it_says(stub):
    response = stub.Evaluate(pb.EvaluateRequest(graph=matmul_chain(3, 4), inputs=matrices(3)))
    w = tensor_from_proto(matrices(3)["w"])
    np.testing.assert_allclose(tensor_from_proto(response.outputs["y"]), np.linalg.matrix_power(w, 4), atol=1e-12)


def server_time_ms(server, code: str) -> float:
    return float(server.wait_for_log(rf"rpc method=Evaluate code={code} ms=([\d.]+)").group(1))


def test_deadline_expires_mid_computation(stub, server, slow_request):
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        stub.Evaluate(slow_request, timeout=0.3)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 1.0
    assert server_time_ms(server, "DEADLINE_EXCEEDED") < 1000  # the server stopped, too
    assert stub.ListOps(pb.ListOpsRequest(), timeout=5).ops


def test_cancellation_stops_the_computation(stub, server, slow_request):
    future = stub.Evaluate.future(slow_request)
    time.sleep(0.3)
    assert future.cancel()
    assert server_time_ms(server, "CANCELLED") < 1500
    assert server.health() == "SERVING"
