"""Loops through the service: the SDK against a real server (values, gradients, Hessians, prices
per checkpointing policy), a nested-graph request built by hand from the .proto, bad bodies
refused naming the loop node and the body node, and the node limit counting bodies' nodes: a
2,000-step integrator is refused unrolled and served as a loop."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import wengert as wg
from test_loops import lstm_step, rk4_step
from wengert.testing import start_server
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

F64 = tensor_pb2.DTYPE_FLOAT64


@pytest.fixture(scope="module")
def client(server):
    with wg.Client(server.target) as remote:
        yield remote


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def lstm_loss(w, b, xs):
    hidden = b.shape[0] // 4
    zero = wg.zeros_like(b[:hidden])
    (h, c), hs = wg.scan(lambda carry, x: lstm_step((w, b), carry, x), (zero, zero), xs)
    return wg.sum(hs * hs) + wg.sum(c)


def test_a_server_differentiates_loops_as_the_engine_does(client):
    rng = np.random.default_rng(0)
    args = (0.5 * rng.standard_normal((12, 5)), 0.1 * rng.standard_normal(12), rng.standard_normal((30, 2)))
    local = wg.Client.local()
    np.testing.assert_array_equal(client.evaluate(lstm_loss, *args), local.evaluate(lstm_loss, *args))
    expected = local.grad(lstm_loss, *args, argnums=(0, 1))
    for policy in (dict(policy="all"), dict(policy="every_k", every=4), dict(policy="binomial", snapshots=3)):
        with wg.checkpointing(**policy):
            for got, want in zip(client.grad(lstm_loss, *args, argnums=(0, 1)), expected):
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(client.hessian(lstm_loss, *args, argnums=1), local.hessian(lstm_loss, *args, argnums=1),
                               rtol=1e-12, atol=1e-13)


def test_the_cost_rpc_prices_each_policy(client):
    rng = np.random.default_rng(1)
    args = (0.5 * rng.standard_normal((12, 5)), 0.1 * rng.standard_normal(12), rng.standard_normal((400, 2)))
    quotes = {}
    for name, policy in (("all", dict(policy="all")), ("binomial", dict(policy="binomial", snapshots=4))):
        with wg.checkpointing(**policy):
            quotes[name] = client.cost(lstm_loss, *args, kind="grad", argnums=0)
    assert quotes["all"].admitted and quotes["binomial"].admitted
    assert quotes["binomial"].peak_bytes < quotes["all"].peak_bytes
    assert quotes["binomial"].work > quotes["all"].work


def test_a_derivative_graph_carries_the_policy_asked_for(client):
    with wg.checkpointing("binomial", snapshots=5):
        graph = client.derivative_graph(lambda x: wg.sum(wg.fori_loop(0, 9, lambda i, v: wg.sin(v), x)), "gradient",
                                        np.ones(3))
    (sweep,) = [node for node in graph.nodes if node.op == "adjoint_scan"]
    assert (sweep.attr_dict["checkpoint"], sweep.attr_dict["snapshots"]) == ("binomial", 5)


def test_the_catalogue_lists_the_control_flow_ops_with_graph_attributes(client):
    ops = {op.name: op for op in client.list_ops()}
    assert {"scan", "fori_loop", "while_loop", "cond", "switch", "checkpoint", "adjoint_scan"} <= set(ops)
    kinds = {a.name: a.kind for a in ops["switch"].schema} | {a.name: a.kind for a in ops["scan"].schema}
    assert kinds["branches"] == "graphs" and kinds["body"] == "graph"


# -- a nested-graph request built from the .proto ---------------------------------------------
def typed(shape):
    return tensor_pb2.TensorType(dtype=F64, shape=shape)


def scan_request_graph() -> graph_pb2.Graph:
    """c_{k+1} = sin(c_k) + x_k, y_k = sin(c_k), over 5 slices of xs: the body sent once."""
    body = graph_pb2.Graph()
    body.inputs.add(name="c", type=typed([3]))
    body.inputs.add(name="x", type=typed([3]))
    body.nodes.add(id="s", op="sin", inputs=["c"])
    body.nodes.add(id="n", op="add", inputs=["s", "x"])
    body.outputs.add(name="c_next", value="n")
    body.outputs.add(name="y", value="s")
    graph = graph_pb2.Graph()
    graph.inputs.add(name="c0", type=typed([3]))
    graph.inputs.add(name="xs", type=typed([5, 3]))
    loop = graph.nodes.add(id="loop", op="scan", inputs=["c0", "xs"])
    loop.attrs["body"].graph.CopyFrom(body)
    loop.attrs["length"].i = 5
    loop.attrs["num_carry"].i = 1
    loop.attrs["num_xs"].i = 1
    graph.outputs.add(name="out", value="loop")
    return graph


def by_hand(c, xs, ct):
    """The scan and its VJP in NumPy: out = (c_5, y_0 .. y_4)."""
    states, ys = [], []
    for x in xs:
        states.append(c)
        ys.append(np.sin(c))
        c = np.sin(c) + x
    out = np.concatenate([c] + ys)
    a, ct_ys, ct_xs = ct[:3], ct[3:].reshape(5, 3), np.zeros((5, 3))
    for k in reversed(range(5)):
        ct_xs[k] = a
        a = (a + ct_ys[k]) * np.cos(states[k])
    return out, a, ct_xs


def test_a_nested_graph_request_built_by_hand_is_evaluated_and_differentiated(stub):
    rng = np.random.default_rng(2)
    c0, xs, ct = rng.standard_normal(3), rng.standard_normal((5, 3)), rng.standard_normal(18)
    out, ct_c0, ct_xs = by_hand(c0, xs, ct)
    inputs = {"c0": tensor_to_proto(c0), "xs": tensor_to_proto(xs)}
    answer = stub.Evaluate(pb.EvaluateRequest(graph=scan_request_graph(), inputs=inputs), timeout=30)
    np.testing.assert_allclose(tensor_from_proto(answer.outputs["out"]), out, rtol=1e-15)
    for policy in (pb.CHECKPOINT_POLICY_ALL, pb.CHECKPOINT_POLICY_EVERY_K, pb.CHECKPOINT_POLICY_BINOMIAL):
        answer = stub.Vjp(pb.VjpRequest(graph_id=answer.graph_id, inputs=inputs,
                                        cotangents={"out": tensor_to_proto(ct)},
                                        checkpoint=pb.Checkpointing(policy=policy, every=2, snapshots=2)), timeout=30)
        np.testing.assert_allclose(tensor_from_proto(answer.cotangents["c0"]), ct_c0, rtol=1e-13)
        np.testing.assert_allclose(tensor_from_proto(answer.cotangents["xs"]), ct_xs, rtol=1e-13)


def refusal(call, request, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    assert info.value.code() == code, info.value.details()
    return info.value.details()


def test_bad_bodies_are_refused_naming_the_loop_and_the_body_node(stub):
    inputs = {"c0": tensor_to_proto(np.zeros(3)), "xs": tensor_to_proto(np.zeros((5, 3)))}
    graph = scan_request_graph()
    graph.nodes[0].attrs["body"].graph.nodes[1].inputs[1] = "nowhere"
    details = refusal(stub.Evaluate, pb.EvaluateRequest(graph=graph, inputs=inputs), grpc.StatusCode.INVALID_ARGUMENT)
    assert details == ("node 'loop' (scan): attribute 'body': node 'n' (add): input 'nowhere' is not defined "
                       "before use")
    graph = scan_request_graph()
    body = graph.nodes[0].attrs["body"].graph
    body.nodes[0].op = "sum"  # the carry becomes a scalar
    body.nodes[1].inputs[:] = ["s", "s"]
    details = refusal(stub.Evaluate, pb.EvaluateRequest(graph=graph, inputs=inputs), grpc.StatusCode.INVALID_ARGUMENT)
    assert details == ("node 'loop' (scan): body output 'c_next' = node 'n' (add) is float64[], but carry 0 is "
                       "float64[3]: carries keep their type from step to step")
    graph = scan_request_graph()
    graph.nodes[0].attrs["length"].i = 4
    details = refusal(stub.Evaluate, pb.EvaluateRequest(graph=graph, inputs=inputs), grpc.StatusCode.INVALID_ARGUMENT)
    assert "xs 0 is float64[5,3]: it must have a leading axis of the 4 steps" in details
    graph = scan_request_graph()
    graph.nodes[0].attrs["body"].graph.nodes[0].op = "no_such_op"
    details = refusal(stub.Evaluate, pb.EvaluateRequest(graph=graph, inputs=inputs), grpc.StatusCode.UNIMPLEMENTED)
    assert details.startswith("node 'loop' (scan): attribute 'body': node 's' (no_such_op)")
    details = refusal(stub.Vjp, pb.VjpRequest(graph=scan_request_graph(), inputs=inputs,
                                              cotangents={"out": tensor_to_proto(np.ones(18))},
                                              checkpoint=pb.Checkpointing(policy=7)),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert "checkpointing policy 7" in details


def test_the_node_limit_counts_bodies_and_a_loop_fits_where_its_unrolling_does_not(stub, client):
    x = np.linspace(0.5, 1.5, 4)

    def looped(x):
        return wg.fori_loop(0, 2000, lambda i, y: rk4_step(x, y, 1e-3), wg.zeros_like(x))

    def unrolled(x):
        y = wg.zeros_like(x)
        for _ in range(2000):
            y = rk4_step(x, y, 1e-3)
        return y

    details = refusal(stub.Evaluate, pb.EvaluateRequest(graph=graph_to_proto(wg.trace(unrolled, x)),
                                                        inputs={"x": tensor_to_proto(x)}),
                      grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "graph size limit exceeded" in details and "--max-nodes" in details
    np.testing.assert_allclose(client.evaluate(looped, x), wg.Client.local().evaluate(looped, x), rtol=1e-15)


def sines(v, count: int):
    for _ in range(count):
        v = wg.sin(v)
    return v


def test_nodes_of_bodies_count_towards_the_node_limit():
    with start_server("--max-nodes", "20") as small, wg.Client(small.target) as remote:
        with pytest.raises(wg.LimitExceeded, match=r"graph size limit exceeded: 3\d nodes \(bodies included\)"):
            remote.evaluate(lambda x: wg.fori_loop(0, 3, lambda i, v: sines(v, 30), x), np.ones(2))
        looped = remote.evaluate(lambda x: wg.fori_loop(0, 3, lambda i, v: sines(v, 5), x), np.ones(2))
        np.testing.assert_allclose(looped, sines_numpy(np.ones(2), 15), rtol=1e-15)


def sines_numpy(v, count: int):
    for _ in range(count):
        v = np.sin(v)
    return v
