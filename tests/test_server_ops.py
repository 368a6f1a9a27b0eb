"""Ops only the server has (`wengert.server_ops`, the InferTypes RPC): a plugin installed in the
server's environment only, used from this process, which lacks it.

`plugin_fixtures/server_site/` holds the `acme-ops` plugin as pip installs it (package and
dist-info with its `wengert.plugins` entry point); only the server subprocess gets that folder
on its PYTHONPATH. Values and derivatives are checked against closed forms:

    softsign(x; s) = x / (1 + s|x|),   softsign' = 1 / (1 + s|x|)^2,
    softsign'' = -2 s sign(x) / (1 + s|x|)^3;
    gram(a) = a a^T, so d gram[i, j] / d a[k, b] = δ_ik a[j, b] + δ_jk a[i, b], and
    sum(gram(a)) = |sum of the rows of a|^2, whose Hessian is 2 δ_bd for every pair of rows.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import re
from pathlib import Path

import grpc
import numpy as np
import pytest

import wengert as wg
from plugin_fixtures.cli import run_wengert
from wengert.testing import free_port, start_server
from test_server_operations import scrape
from wengert.plugins.registry import default_registry
from wengert.transport.wire import attr_to_proto, type_from_proto, type_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

SITE = Path(__file__).resolve().parent / "plugin_fixtures" / "server_site"
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
MAX_NODES, MAX_TENSOR_ELEMENTS = 64, 1000
X = np.array([-2.0, -0.3, 0.4, 1.5])
A = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]])


def softsign(x, s=1.0):
    return x / (1 + s * np.abs(x))


def softsign_slope(x, s=1.0):
    return 1 / (1 + s * np.abs(x)) ** 2


def softsign_curvature(x, s=1.0):
    return -2 * s * np.sign(x) / (1 + s * np.abs(x)) ** 3


def gram_jacobian(a):
    """d (a a^T)[i, j] / d a[k, b], shaped (n, n, n, m)."""
    n = a.shape[0]
    eye = np.eye(n)
    return np.einsum("ik,jb->ijkb", eye, a) + np.einsum("jk,ib->ijkb", eye, a)


@pytest.fixture(scope="module")
def server():
    """A server with the acme-ops plugin; small limits, and metrics to count its calls."""
    metrics_port = free_port()
    with start_server("--max-nodes", str(MAX_NODES), "--max-tensor-elements", str(MAX_TENSOR_ELEMENTS),
                      "--metrics-port", str(metrics_port), pythonpath=(str(SITE),)) as running:
        running.metrics_port = metrics_port
        yield running


@pytest.fixture
def client(server):
    with wg.Client(server.target, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def answered(server, method: str) -> int:
    """How many `method` calls the server has answered OK so far."""
    found = re.search(rf'^wengert_requests_total{{code="OK",method="{method}"}} (\S+)$',
                      scrape(server.metrics_port), re.M)
    return int(float(found.group(1))) if found else 0


def line_of(fn, offset: int = 1) -> str:
    """`file:line` of the line `offset` lines below `fn`'s `def`."""
    return f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno + offset}"


# -- the plugin really is on the server only ------------------------------------------------------
def test_the_plugin_is_installed_in_the_servers_environment_only(stub):
    assert importlib.util.find_spec("acme_ops") is None
    assert "acme-ops" not in {ep.name for ep in importlib.metadata.entry_points(group="wengert.plugins")}
    assert "acme_softsign" not in default_registry() and "acme_gram" not in default_registry()
    response = stub.ListOps(pb.ListOpsRequest(), timeout=10)
    (plugin,) = [p for p in response.plugins if p.name == "acme-ops"]
    assert plugin.loaded and plugin.version == "1.0.0" and sorted(plugin.ops) == ["acme_gram", "acme_softsign"]


def test_the_plugins_rules_pass_the_checker_where_it_is_installed():
    result = run_wengert("check-plugin", "acme-ops", "--seed", "3", folders=(SITE,))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "acme-ops: all 2 passed"


def test_the_catalogue_carries_each_ops_attribute_schema(client):
    """What a client checks a node's attributes with: the very `Attr` records the plugins
    declare, for the builtin ops (compared with the local registry) and acme's."""
    ops = {op.name: op for op in client.list_ops()}
    for op in default_registry():
        assert ops[op.name].schema == tuple(sorted(op.attrs, key=lambda a: a.name)), op.name
    assert ops["acme_softsign"].schema == (wg.Attr("sharpness", "float", 1.0, "how fast it saturates; > 0"),)
    assert ops["acme_gram"].schema == () and ops["acme_gram"].arity == 1


# -- values and derivatives through the server's ops ----------------------------------------------
def test_shapes_are_known_while_tracing_and_values_match_the_closed_forms(client):
    seen = {}

    def f(x, a):
        y = client.ops.acme_softsign(x, sharpness=2.0)
        g = client.ops.acme_gram(a)
        seen.update(y=(y.shape, y.dtype), g=(g.shape, g.dtype))
        return {"y": y, "g": g[:, : g.shape[1] - 1]}  # the shape steers the rest of the trace

    values = client.evaluate(f, X, A)
    assert seen == {"y": ((4,), "float64"), "g": ((3, 3), "float64")}
    np.testing.assert_allclose(values["y"], softsign(X, 2.0), rtol=1e-15)
    np.testing.assert_allclose(values["g"], (A @ A.T)[:, :2], rtol=1e-15)


def test_gradients_through_wg_apply_in_a_traced_function(client):
    def loss(x, a):
        return wg.sum(wg.apply("acme_softsign", x, sharpness=0.5)) + wg.sum(wg.apply("acme_gram", a))

    value, (dx, da) = client.value_and_grad(loss, X, A, argnums=(0, 1))
    assert value == pytest.approx(np.sum(softsign(X, 0.5)) + np.sum(A @ A.T), rel=1e-15)
    np.testing.assert_allclose(dx, softsign_slope(X, 0.5), rtol=1e-14)
    np.testing.assert_allclose(da, 2 * np.broadcast_to(A.sum(axis=0), A.shape), rtol=1e-14)
    assert wg.grad(lambda x: wg.sum(client.ops.acme_softsign(x)), client=client)(X) == pytest.approx(
        softsign_slope(X), rel=1e-14)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobians_in_both_modes(client, mode):
    def f(x, a):
        return {"y": client.ops.acme_softsign(x), "g": client.ops.acme_gram(a)}

    jacobian = client.jacobian(f, X, A, argnums=(0, 1), mode=mode)
    np.testing.assert_allclose(jacobian["y"][0], np.diag(softsign_slope(X)), rtol=1e-14)
    np.testing.assert_array_equal(jacobian["y"][1], np.zeros((4, 3, 2)))
    np.testing.assert_allclose(jacobian["g"][1], gram_jacobian(A), rtol=1e-14)
    np.testing.assert_array_equal(jacobian["g"][0], np.zeros((3, 3, 4)))


def test_hessians_and_hessian_vector_products(client):
    def f(x):
        return wg.sum(client.ops.acme_softsign(x, sharpness=1.5))

    np.testing.assert_allclose(client.hessian(f, X), np.diag(softsign_curvature(X, 1.5)), rtol=1e-13)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(client.hvp(f, (X,), (v,)), softsign_curvature(X, 1.5) * v, rtol=1e-13)
    hessian = client.hessian(lambda a: wg.sum(client.ops.acme_gram(a)), A)
    assert hessian.shape == (3, 2, 3, 2)
    np.testing.assert_allclose(hessian, 2 * np.einsum("ij,bd->ibjd", np.ones((3, 3)), np.eye(2)), atol=1e-13)


def test_the_async_client_types_over_a_blocking_channel_and_computes_the_same(server):
    def f(x):
        return wg.sum(wg.apply("acme_softsign", x) ** 2)

    async def main():
        async with wg.AsyncClient(server.target, timeout=60) as client:
            return await asyncio.gather(client.grad(f, X), client.hessian(f, X))

    gradient, hessian = asyncio.run(main())
    y, slope = softsign(X), softsign_slope(X)
    np.testing.assert_allclose(gradient, 2 * y * slope, rtol=1e-14)
    np.testing.assert_allclose(hessian, np.diag(2 * slope**2 + 2 * y * softsign_curvature(X)), rtol=1e-13)


def test_graphs_built_for_the_client_outside_its_methods(client, tmp_path):
    """`registry=client.registry` traces and loads graphs with the server's ops; derivative
    graphs come back through the same registry."""
    graph = wg.trace(lambda x: wg.sum(client.ops.acme_softsign(x)), X, registry=client.registry)
    assert [node.op for node in graph.nodes] == ["acme_softsign", "sum"]
    wg.save(graph, tmp_path / "g.wengert")
    loaded = wg.load(tmp_path / "g.wengert", registry=client.registry)
    assert client.evaluate(loaded, X) == pytest.approx(np.sum(softsign(X)), rel=1e-15)
    gradient_graph = client.derivative_graph(graph, "gradient")
    assert "acme_softsign" in {node.op for node in gradient_graph.nodes}
    gradient = client.evaluate(gradient_graph, X, outputs="cotangent:x")
    np.testing.assert_allclose(gradient, softsign_slope(X), rtol=1e-14)


# -- what it costs --------------------------------------------------------------------------------
def test_one_catalogue_fetch_and_one_round_trip_per_new_signature(server):
    def f(x, a):
        y = client.ops.acme_softsign(client.ops.acme_softsign(x))  # one signature, twice
        return wg.sum(client.ops.acme_softsign(y)) + wg.sum(client.ops.acme_gram(a))

    before = answered(server, "ListOps"), answered(server, "InferTypes")
    with wg.Client(server.target, timeout=60) as client:
        client.evaluate(lambda x: wg.sum(wg.sin(x)), X)  # builtin ops only: no typing calls
        assert (answered(server, "ListOps"), answered(server, "InferTypes")) == before
        client.evaluate(f, X, A)
        assert answered(server, "ListOps") == before[0] + 1
        assert answered(server, "InferTypes") == before[1] + 2  # softsign on (4,), gram on (3, 2)
        client.grad(f, X, A)  # traced again
        client.jacobian(lambda x: client.ops.acme_softsign(x), X)  # a signature seen before
        assert answered(server, "InferTypes") == before[1] + 2
        client.evaluate(f, X[:3], A)  # a new input shape: a new softsign signature
        client.evaluate(lambda x: client.ops.acme_softsign(x, sharpness=3.0), X)  # a new attribute
        assert answered(server, "InferTypes") == before[1] + 4
        assert answered(server, "ListOps") == before[0] + 1


# -- errors name the node, the server and the caller's line --------------------------------------
def test_an_op_the_server_does_not_have_is_unknown_with_close_matches(client, server):
    def misspelt(x):
        return wg.apply("acme_sofsign", x)

    with pytest.raises(wg.UnknownOp) as error:
        client.evaluate(misspelt, X)
    message = str(error.value)
    assert message.startswith("node 'v1' (acme_sofsign): unknown op 'acme_sofsign': neither the plugins "
                              f"installed here nor the server at {server.target} provide it")
    assert "(close matches: acme_softsign)" in message
    assert f"called at {line_of(misspelt)} in misspelt" in message
    with pytest.raises(AttributeError, match=rf"no op 'acme_gramm' in the ops of the server at "
                                             rf"{server.target} \(close matches: acme_gram[,)]"):
        client.ops.acme_gramm
    assert {"acme_gram", "acme_softsign", "sin"} <= set(dir(client.ops))


def test_a_shape_rule_rejection_on_the_server_names_the_node_and_the_line(client, server):
    def negative(x):
        return wg.sum(client.ops.acme_softsign(x, sharpness=-1.0))

    def not_a_matrix(x):
        return wg.sum(wg.apply("acme_gram", x))

    with pytest.raises(wg.InvalidGraph) as error:
        client.grad(negative, X)
    assert str(error.value) == (f"node 'v1' (acme_softsign): sharpness must be positive, got -1.0 (typed by "
                                f"the server at {server.target}; called at {line_of(negative)} in negative)")
    with pytest.raises(wg.InvalidGraph, match=rf"^node 'v1' \(acme_gram\): needs a matrix, got shape \(4,\) "
                                              rf"\(typed by the server at .*{line_of(not_a_matrix)}"):
        client.hessian(not_a_matrix, X)


def test_attributes_and_arity_are_checked_here_from_the_catalogues_schema(client, server):
    client.list_ops()
    before = answered(server, "InferTypes")
    with pytest.raises(wg.InvalidGraph, match=r"^node 'v1' \(acme_softsign\): unknown attribute\(s\) sharp$"):
        client.evaluate(lambda x: client.ops.acme_softsign(x, sharp=2.0), X)
    with pytest.raises(wg.InvalidGraph, match=r"must be a number, got 'steep'"):
        client.evaluate(lambda x: client.ops.acme_softsign(x, sharpness="steep"), X)
    with pytest.raises(wg.InvalidGraph, match=r"^node 'v1' \(acme_gram\): takes 1 input\(s\), got 2$"):
        client.evaluate(lambda a: client.ops.acme_gram(a, a), A)
    assert answered(server, "InferTypes") == before


def test_a_graph_traced_without_the_clients_registry_says_how_to_trace_it(client, server):
    with pytest.raises(wg.UnknownOp, match=rf"op 'acme_softsign' is one of the ops of the server at "
                                           rf"{server.target}, but this graph is traced without them"):
        wg.trace(lambda x: client.ops.acme_softsign(x), X)


def test_an_in_process_client_has_only_the_ops_installed_here():
    client = wg.Client.local()
    assert "acme_softsign" not in dir(client.ops) and "sin" in dir(client.ops)
    with pytest.raises(AttributeError, match=r"no op 'acme_softsign' in the ops installed here"):
        client.ops.acme_softsign
    with pytest.raises(wg.UnknownOp, match=r"unknown op 'acme_softsign': no loaded plugin provides it"):
        client.evaluate(lambda x: wg.apply("acme_softsign", x), X)


# -- the InferTypes RPC itself ---------------------------------------------------------------------
def signature(op: str, *shapes, dtype: str = "float64", **attrs) -> pb.OpSignature:
    msg = pb.OpSignature(op=op, inputs=[type_to_proto(wg.TensorType(dtype, s)) for s in shapes])
    for key, value in attrs.items():
        msg.attrs[key].CopyFrom(attr_to_proto(value))
    return msg


def test_a_batch_is_typed_in_order_each_signature_on_its_own(stub):
    response = stub.InferTypes(pb.InferTypesRequest(signatures=[
        signature("matmul", (2, 3), (3, -1)),
        signature("acme_softsign", (5,), dtype="int64"),
        signature("nope", (1,)),
        signature("sum", (2, 3), axis=1, keepdims=True),
        signature("acme_gram", (4, 2)),
    ]), timeout=10)
    kinds = [r.WhichOneof("result") for r in response.results]
    assert kinds == ["type", "type", "error", "type", "type"]
    types = [type_from_proto(r.type) for r in response.results if r.HasField("type")]
    assert types == [wg.TensorType("float64", (2, -1)), wg.TensorType("float64", (5,)),
                     wg.TensorType("float64", (2, 1)), wg.TensorType("float64", (4, 4))]
    error = response.results[2].error
    assert (error.code, error.reason, error.message) == (
        "UNIMPLEMENTED", "UNKNOWN_OP", "unknown op 'nope': no loaded plugin provides it")


@pytest.mark.parametrize("bad, code, reason, message", [
    (signature(""), "UNIMPLEMENTED", "UNKNOWN_OP", "unknown op ''"),
    (signature("sin", (2,), (2,)), "INVALID_ARGUMENT", "INVALID_GRAPH", "takes 1 input(s), got 2"),
    (signature("acme_softsign", (2,), sharpness=0.0), "INVALID_ARGUMENT", "SHAPE_MISMATCH",
     "sharpness must be positive, got 0.0"),
    (signature("acme_softsign", (2,), sharpness="x"), "INVALID_ARGUMENT", "INVALID_GRAPH", "must be a number"),
    (signature("acme_softsign", (2,), colour=1), "INVALID_ARGUMENT", "INVALID_GRAPH", "unknown attribute(s) colour"),
    (signature("reshape", (6,)), "INVALID_ARGUMENT", "INVALID_GRAPH", "missing required attribute 'shape'"),
    (signature("matmul", (2, 3), (4, 5)), "INVALID_ARGUMENT", "SHAPE_MISMATCH",
     "shapes [2,3] and [4,5] cannot be multiplied"),
    (pb.OpSignature(op="sin", inputs=[tensor_pb2.TensorType(dtype=99)]), "INVALID_ARGUMENT", "INVALID_GRAPH",
     "input #0: unknown dtype 99"),
    (pb.OpSignature(op="sin", inputs=[tensor_pb2.TensorType(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[-3])]),
     "INVALID_ARGUMENT", "INVALID_GRAPH", "input #0: bad shape [-3]"),
    (pb.OpSignature(op="sum", inputs=[type_to_proto(wg.TensorType("float64", (2,)))],
                    attrs={"axis": graph_pb2.AttrValue()}), "INVALID_ARGUMENT", "INVALID_GRAPH",
     "attribute 'axis': no value set"),
    (pb.OpSignature(op="constant", attrs={"value": graph_pb2.AttrValue(
        tensor=tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[3], data=b"\0" * 8))}),
     "INVALID_ARGUMENT", "INVALID_TENSOR", "attribute 'value': 8 bytes of data"),
    (signature("concatenate", (2**62 + 1,), (2**62 + 1,)), "INVALID_ARGUMENT", "INVALID_GRAPH",
     "larger than the wire's int64"),
])
def test_a_bad_signature_gets_its_own_error_never_internal(stub, bad, code, reason, message):
    response = stub.InferTypes(pb.InferTypesRequest(signatures=[bad, signature("sin", (3,))]), timeout=10)
    error = response.results[0].error
    assert (error.code, error.reason) == (code, reason) and message in error.message
    assert not error.message.startswith("node ")
    assert type_from_proto(response.results[1].type) == wg.TensorType("float64", (3,))


def test_the_limits_apply_to_the_whole_call(stub):
    with pytest.raises(grpc.RpcError) as error:
        stub.InferTypes(pb.InferTypesRequest(signatures=[signature("sin", (1,))] * (MAX_NODES + 1)), timeout=10)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{MAX_NODES + 1} signatures, over the limit of {MAX_NODES} (raise it with --max-nodes)" in (
        error.value.details())
    big = pb.OpSignature(op="constant", attrs={"value": attr_to_proto(np.zeros(MAX_TENSOR_ELEMENTS + 1))})
    with pytest.raises(grpc.RpcError) as error:
        stub.InferTypes(pb.InferTypesRequest(signatures=[big]), timeout=10)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "signature #0 (constant): attribute 'value'" in error.value.details()
    assert "--max-tensor-elements" in error.value.details()
    assert len(stub.InferTypes(pb.InferTypesRequest(), timeout=10).results) == 0


# -- the guide's section runs ---------------------------------------------------------------------
def test_the_guides_section_on_remote_use_runs_as_written(server):
    """Every Python block of docs/plugins.md's "Using a server's ops from a remote client", run in
    order against the acme server (the guide's "localhost:50051")."""
    section = GUIDE.read_text().split("## Using a server's ops from a remote client", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace("localhost:50051", server.target), str(GUIDE), "exec"), namespace)
    np.testing.assert_allclose(namespace["gradient"], 2 * softsign(namespace["x"], 2.0)
                               * softsign_slope(namespace["x"], 2.0), rtol=1e-14)
