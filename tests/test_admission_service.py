"""Every request is priced before it runs: the requests of a few hundred bytes that once made
the server allocate gigabytes, crash or compute for minutes are refused with RESOURCE_EXHAUSTED,
naming the limit and the flag, before anything large is allocated (the server's peak resident
memory grows by less than 50 MB for each), and the server answers correctly afterwards. The
same prices come back from the Cost RPC. (How fast each refusal is: bench/bench_admission.py.)"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import wengert as wg
from conftest import WORKED_GRADIENT, WORKED_POINT, WORKED_VALUE, worked_example
from wengert.testing import start_server
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

GROWTH_BOUND = 50 << 20  # bytes of peak resident memory a refused request may add
F64 = tensor_pb2.DTYPE_FLOAT64


@pytest.fixture(scope="module")
def server():
    with start_server() as running:
        yield running


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def graph_of(inputs: dict[str, list[int]], nodes: list[tuple], output: str) -> graph_pb2.Graph:
    """A wire graph: float64 inputs by shape; nodes as (id, op, inputs, attrs)."""
    graph = graph_pb2.Graph()
    for name, shape in inputs.items():
        graph.inputs.add(name=name, type=tensor_pb2.TensorType(dtype=F64, shape=shape))
    for node_id, op, args, attrs in nodes:
        node = graph.nodes.add(id=node_id, op=op, inputs=args)
        for key, value in attrs.items():
            node.attrs[key].ints.values.extend(value)
    graph.outputs.add(name="y", value=output)
    return graph


def broadcast(elements: int, *then: tuple) -> graph_pb2.Graph:
    """A one-element input broadcast to `elements`, then `then`'s nodes."""
    nodes = [("big", "broadcast_to", ["x"], {"shape": [elements]}), *then]
    return graph_of({"x": [1]}, nodes, nodes[-1][0])


ONE = {"x": tensor_to_proto(np.ones(1))}
GIB2 = 1 << 28  # float64 elements in 2 GiB


def refused(server, call, request, *phrases: str, bound: int = GROWTH_BOUND) -> str:
    """Send `request`; it must be RESOURCE_EXHAUSTED with `phrases` in its message, and leave the
    server's peak memory within `bound` of where it was."""
    before = server.peak_rss()
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
    for phrase in phrases:
        assert phrase in info.value.details()
    assert server.peak_rss() - before < bound
    return info.value.details()


def test_an_output_of_2_gib_from_one_element_is_refused_before_computing(server, stub):
    details = refused(server, stub.Evaluate, pb.EvaluateRequest(graph=broadcast(GIB2), inputs=ONE),
                      "response size limit exceeded: 2147483648 bytes", "--max-response-mb")
    assert len(details) < 400


def test_gigabytes_of_intermediates_are_refused_naming_the_node(server, stub):
    graph = broadcast(3 * GIB2 // 2, ("s", "sin", ["big"], {}), ("t", "sum", ["s"], {}))
    refused(server, stub.Evaluate, pb.EvaluateRequest(graph=graph, inputs=ONE),
            "memory limit exceeded: node 's' (sin): 6442450952 bytes at the peak", "--memory-budget-mb")


def test_a_trace_of_2_gib_is_refused_before_it_is_built(server, stub):
    graph = broadcast(GIB2, ("s", "sum", ["big"], {}))
    refused(server, stub.Trace, pb.TraceRequest(graph=graph, inputs=ONE), "response size limit exceeded")


def test_a_sparse_jacobian_is_planned_from_the_inputs_actually_sent(server, stub):
    graph = graph_of({"x": [10**8]}, [("s", "sin", ["x"], {})], "s")
    declared = {"x": tensor_pb2.Tensor(dtype=F64, shape=[10**8])}  # 64 bytes: a shape, no data
    refused(server, stub.Jacobian, pb.JacobianRequest(graph=graph, inputs=declared, format=pb.FORMAT_SPARSE),
            "100000000 elements in input 'x'", "--max-tensor-elements")
    refused(server, stub.Hessian, pb.HessianRequest(graph=graph_of({"x": [10**8]}, [
        ("s", "sin", ["x"], {}), ("t", "sum", ["s"], {})], "t"), inputs=declared, format=pb.FORMAT_SPARSE),
        "--max-tensor-elements")


def test_300000_graph_inputs_are_refused_from_the_message(server, stub):
    graph = graph_of({f"x{i}": [] for i in range(300_000)}, [], "x0")
    refused(server, stub.Evaluate, pb.EvaluateRequest(graph=graph), "300000 inputs", "--max-inputs")


def test_minutes_of_work_from_a_small_request_are_refused_naming_the_node(server, stub):
    nodes = [("m", "broadcast_to", ["x"], {"shape": [3000, 3000]})]
    nodes += [(f"p{k}", "matmul", [nodes[-1][0] if k == 0 else f"p{k - 1}", "m"], {}) for k in range(60)]
    nodes.append(("t", "sum", ["p59"], {}))
    request = pb.EvaluateRequest(graph=graph_of({"x": [1]}, nodes, "t"), inputs=ONE)
    assert request.ByteSize() < 2000
    refused(server, stub.Evaluate, request, "work limit exceeded: node 'p", "(matmul)", "--max-work")


def test_a_huge_jacobian_of_a_tiny_graph_is_refused_by_its_size_not_computed(server, stub):
    graph = graph_of({"x": [1 << 20]}, [("c", "softmax", ["x"], {})], "c")  # J is dense: 2^40 entries
    request = pb.JacobianRequest(graph=graph, inputs={"x": tensor_to_proto(np.ones(1 << 20))})
    refused(server, stub.Jacobian, request, "response size limit exceeded: 8796101410816 bytes",
            "JacobianStream")
    request.format = pb.FORMAT_SPARSE  # as many nonzeros: still too large
    refused(server, stub.Jacobian, request, "limit exceeded")


def string_bomb() -> pb.EvaluateRequest:
    """A cast whose dtype attribute is 20 MB of text."""
    graph = graph_of({"x": [2]}, [], "x")
    node = graph.nodes.add(id="c", op="cast", inputs=["x"])
    node.attrs["dtype"].s = "f" * (20 << 20)
    graph.outputs[0].value = "c"
    return pb.EvaluateRequest(graph=graph, inputs={"x": tensor_to_proto(np.ones(2))})


def test_a_20_mb_attribute_is_over_the_default_message_size(server, stub):
    refused(server, stub.Evaluate, string_bomb(), "larger than max (20971", "16777216)")


def test_the_sdk_names_the_flag_when_grpc_refuses_a_message_by_size(server):
    with wg.Client(server.target) as client, pytest.raises(wg.LimitExceeded, match="--max-message-mb"):
        client.evaluate(lambda x: x * 2.0, np.ones(3 << 20))  # 24 MiB


def test_a_20_mb_attribute_in_a_message_allowed_is_refused_from_its_bytes_with_a_short_message():
    request = string_bomb()
    with start_server("--max-message-mb", "64") as fresh:  # its peak memory not raised by other bombs
        with fresh.channel() as channel:
            # gRPC holds the message three times while receiving it (a bare grpcio server too);
            # refused from its bytes, it is not parsed and copied again
            details = refused(fresh, fresh.stub(channel).Evaluate, request,
                              "string length limit exceeded: node 'c' (cast): 20971520 characters in "
                              "graph.nodes['c'].attrs['dtype'].s 'ffff", "--max-string-length",
                              bound=int(3.5 * request.ByteSize()))
    assert len(details) < 400


def test_cost_prices_a_request_without_running_it(server, stub):
    graph = broadcast(1 << 20, ("s", "sin", ["big"], {}), ("t", "sum", ["s"], {}))
    quote = stub.Cost(pb.CostRequest(evaluate=pb.EvaluateRequest(graph=graph, inputs=ONE)))
    assert quote.admitted and not quote.refusal
    assert quote.response_bytes == 8 and quote.work >= 2 * (1 << 20)
    assert quote.peak_bytes >= 8 << 20  # the 8 MiB of sin's output, at least
    assert quote.limits.memory_bytes == 1 << 30 and quote.limits.response_bytes > 0
    bomb = stub.Cost(pb.CostRequest(evaluate=pb.EvaluateRequest(graph=broadcast(GIB2), inputs=ONE)))
    assert not bomb.admitted and "response size limit exceeded" in bomb.refusal
    with pytest.raises(grpc.RpcError) as info:
        stub.Cost(pb.CostRequest())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_sdk_prices_remotely_as_the_server_does_and_locally_as_asked(server):
    x = np.ones(1000)
    with wg.Client(server.target) as client:
        remote = client.cost(lambda x: wg.sum(wg.sin(x) * x), x, kind="grad")
        refusal = client.cost(lambda x: wg.sum(wg.sin(wg.broadcast_to(x, (30000, 10000)))), np.ones(10000))
    local = wg.Client.local(limits=wg.Limits(memory=1 << 30)).cost(lambda x: wg.sum(wg.sin(x) * x), x, kind="grad")
    assert remote.admitted and (remote.work, remote.response_bytes) == (local.work, local.response_bytes)
    assert remote.peak_bytes >= local.peak_bytes  # the server holds a response three times while sending it
    assert not refusal.admitted and "memory limit exceeded" in refusal.refusal


def test_the_server_answers_correctly_after_every_bomb(server, stub):
    response = stub.Vjp(pb.VjpRequest(graph=graph_to_proto(wg.trace(worked_example, 2.0, 5.0)),
                                      inputs={k: tensor_to_proto(v) for k, v in WORKED_POINT.items()},
                                      cotangents={"y": tensor_to_proto(np.float64(1.0))}))
    assert float(tensor_from_proto(response.outputs["y"])) == WORKED_VALUE
    assert (float(tensor_from_proto(response.cotangents["x1"])),
            float(tensor_from_proto(response.cotangents["x2"]))) == pytest.approx(WORKED_GRADIENT, rel=1e-15)
    assert server.health() == "SERVING"
