"""What only a remote client does: graph ids, resends, retries, deadlines, credentials, load
balancing, and typed errors for every status a server sends."""

from __future__ import annotations

import socket
import sys

import grpc
import numpy as np
import pytest

import wengert as wg
from conftest import WORKED_GRADIENT, WORKED_VALUE, worked_example
from wengert.testing import launch, start_server
from wengert.plugins.registry import Registry
from wengert.v1 import service_pb2_grpc

TOKEN = "s3cret"
PLUGIN = '''
import numpy as np
from wengert import OpDef, hookimpl


@hookimpl
def wengert_ops():
    return [OpDef("staircase", np.floor, lambda t: t, elementwise=True,
                  doc="floor, on purpose without derivative rules")]
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    """A plugin module with an op that has no derivative rules, importable by name."""
    path = tmp_path_factory.mktemp("plugin")
    (path / "client_test_ops.py").write_text(PLUGIN)
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


@pytest.fixture(scope="module")
def plugin_registry(plugin_dir) -> Registry:
    return Registry.load(modules=["client_test_ops"])


@pytest.fixture(scope="module")
def tight_server(plugin_dir):
    """A server holding one graph, taking small graphs, wanting a token, with the plugin."""
    flags = ("--cache-size", "1", "--max-nodes", "12", "--auth-token", TOKEN,
             "--plugins", "client_test_ops")
    with start_server(*flags, pythonpath=(str(plugin_dir),)) as running:
        yield running


class Recorder(grpc.UnaryUnaryClientInterceptor):
    """Notes how each request referred to its graph: "graph" (in full) or "graph_id"."""

    def __init__(self):
        self.refs: list[str] = []

    def intercept_unary_unary(self, continuation, details, request):
        self.refs.append(request.WhichOneof("graph_ref"))
        return continuation(details, request)


def recorded(client: wg.Client) -> Recorder:
    recorder = Recorder()
    channel = grpc.intercept_channel(client._transport.channel, recorder)
    client._transport.stub = service_pb2_grpc.DifferentiationServiceStub(channel)
    return recorder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chain(x):
    """Sixteen nodes: over the tight server's limit."""
    for _ in range(16):
        x = wg.sin(x)
    return x


# -- graph ids --------------------------------------------------------------------------------
def test_a_graph_travels_once_then_by_id(server, worked_graph):
    with wg.Client(server.target) as client:
        recorder = recorded(client)
        client.evaluate(worked_graph, 2.0, 5.0)
        client.grad(worked_graph, 2.0, 5.0)
        client.evaluate(worked_example, 2.0, 5.0)  # traced again: an equal graph, the same id
        assert recorder.refs == ["graph", "graph_id", "graph_id"]


def test_an_evicted_graph_is_resent_in_full(tight_server):
    with wg.Client(tight_server.target, token=TOKEN) as client:
        recorder = recorded(client)
        client.evaluate(worked_example, 2.0, 5.0)
        client.evaluate(wg.sin, 1.0)  # the server holds one graph: this evicts the first
        assert client.evaluate(worked_example, 2.0, 5.0) == pytest.approx(WORKED_VALUE, abs=1e-15)
        assert recorder.refs == ["graph", "graph", "graph_id", "graph"]


# -- retries and deadlines --------------------------------------------------------------------
def test_the_client_waits_for_a_late_server_and_survives_a_restart(worked_graph):
    port = free_port()
    # retries back off to 2 s apart: 100 of them outlast the slowest start-up on a loaded machine
    with wg.Client(f"127.0.0.1:{port}", retries=100, timeout=30) as client:
        recorder = recorded(client)
        for _ in range(2):  # the second server knows nothing of the first one's graph ids
            server = launch("--port", str(port))  # the last --port wins
            try:
                assert client.grad(worked_graph, 2.0, 5.0, argnums=1) == pytest.approx(WORKED_GRADIENT[1])
            finally:
                assert server.terminate() == 0, server.log()
                server.log_path.unlink()
        assert recorder.refs[-2:] == ["graph_id", "graph"]


def test_without_retries_an_unreachable_server_is_unavailable():
    with wg.Client(f"127.0.0.1:{free_port()}", retries=0) as client:
        with pytest.raises(wg.Unavailable):
            client.evaluate(wg.sin, 1.0)


def test_a_passed_deadline_is_deadline_exceeded(server):
    with wg.Client(server.target, timeout=1e-6) as client:
        with pytest.raises(wg.DeadlineExceeded):
            client.evaluate(worked_example, 2.0, 5.0)


# -- typed errors -------------------------------------------------------------------------------
@pytest.fixture(params=["local", "remote"])
def plugin_client(request, plugin_registry):
    if request.param == "local":
        yield wg.Client.local(plugin_registry)
    else:
        target = request.getfixturevalue("tight_server").target
        with wg.Client(target, token=TOKEN, registry=plugin_registry) as client:
            yield client


def test_an_op_without_rules_evaluates_but_has_no_derivative(plugin_client):
    def f(x):
        return wg.op("staircase", x) * x

    assert plugin_client.evaluate(f, 2.5) == 5.0
    with pytest.raises(wg.NoDerivative, match=r"\(staircase\): op has no reverse-mode"):
        plugin_client.grad(f, 2.5)
    with pytest.raises(wg.NoDerivative, match="forward-mode"):
        plugin_client.jvp(f, (2.5,), (1.0,))


def test_an_op_the_server_lacks_is_unknown_op(server, plugin_registry):
    graph = wg.trace(lambda x: wg.op("staircase", x), 1.5, registry=plugin_registry)
    with wg.Client(server.target) as client, pytest.raises(wg.UnknownOp, match="staircase"):
        client.evaluate(graph, 1.5)


def test_a_graph_over_the_server_limit_is_limit_exceeded(tight_server):
    with wg.Client(tight_server.target, token=TOKEN) as client:
        with pytest.raises(wg.LimitExceeded, match="node"):
            client.evaluate(chain, 0.5)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_missing_or_wrong_token_is_unauthenticated(tight_server, token):
    with wg.Client(tight_server.target, token=token) as client:
        with pytest.raises(wg.Unauthenticated):
            client.evaluate(wg.sin, 1.0)


# -- load balancing ------------------------------------------------------------------------------
def test_round_robin_spreads_calls_over_every_address(server, tight_server):
    target = f"ipv4:{server.target},{tight_server.target}"
    with wg.Client(target, token=TOKEN, load_balancing="round_robin") as client:
        for k in range(20):
            assert client.evaluate(wg.sin, float(k)) == pytest.approx(np.sin(k))
    for running in (server, tight_server):
        assert "method=Evaluate" in running.log()
