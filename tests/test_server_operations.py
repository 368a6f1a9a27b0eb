"""Running a server: health through start-up and drain, SIGTERM with calls in flight, the
`wengert health` probe, Prometheus metrics, and plugin verification."""

from __future__ import annotations

import signal
import textwrap
import time
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import wengert as wg
from conftest import WORKED_POINT, worked_example
from wengert.testing import cli, free_port, launch, start_server, wait_until_serving
from test_server_deadlines import matmul_chain, matrices
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto


def worked_request() -> pb.EvaluateRequest:
    inputs = {name: tensor_to_proto(v) for name, v in WORKED_POINT.items()}
    return pb.EvaluateRequest(graph=graph_to_proto(wg.trace(worked_example, 2.0, 5.0)), inputs=inputs)


def test_health_probe_through_start_up():
    port = str(free_port())
    target = f"127.0.0.1:{port}"
    down = cli("health", "--target", target, "--timeout", "0.5")
    assert down.returncode == 1 and "UNAVAILABLE" in down.stderr
    with start_server("--port", port) as server:
        assert server.port == int(port)
        up = cli("health", "--timeout", "5", env={"WENGERT_PORT": port})  # the container's way
        assert up.returncode == 0 and "SERVING" in up.stdout


def test_sigterm_lets_calls_in_flight_finish_and_exits_0():
    metrics_port = free_port()
    server = wait_until_serving(launch("--grace-period", "20", "--metrics-port", str(metrics_port)))
    try:
        with server.channel() as channel:
            stub = server.stub(channel)
            slow = pb.EvaluateRequest(graph=matmul_chain(256, 300), inputs=matrices(256))
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            in_flight = [stub.Evaluate.future(slow) for _ in range(3)]
            wait_for_metric(metrics_port, "wengert_requests_in_flight 3.0")  # all three started
            server.process.send_signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
            assert refused_soon(stub) == grpc.StatusCode.UNAVAILABLE
            results = [tensor_from_proto(f.result(timeout=20).outputs["y"]) for f in in_flight]
        assert all(r.shape == (256, 256) and np.isfinite(r).all() for r in results)
        assert server.wait() == 0
        assert "wengert stopped" in server.log()
    finally:
        server.terminate()
        server.close_log()


def wait_for_metric(port: int, line: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while line not in scrape(port):
        assert time.monotonic() < deadline, f"metric {line!r} never appeared"
        time.sleep(0.02)


def scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def refused_soon(stub, within: float = 3.0) -> grpc.StatusCode:
    """The status new calls get once the server stops taking them (signal handling is async)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stub.ListOps(pb.ListOpsRequest(), timeout=1)
        except grpc.RpcError as exc:
            return exc.code()
        time.sleep(0.02)
    raise AssertionError(f"new calls were still accepted {within} s after the signal")


def test_sigint_also_drains_and_exits_0():
    with start_server() as server:
        assert server.terminate(signal.SIGINT) == 0
        assert "SIGINT: draining" in server.log()


def test_metrics_endpoint_counts_calls_by_method_and_code():
    metrics_port = free_port()
    with start_server("--metrics-port", str(metrics_port)) as server, server.channel() as channel:
        stub = server.stub(channel)
        request = worked_request()
        graph_id = stub.Evaluate(request).graph_id
        stub.Evaluate(pb.EvaluateRequest(graph_id=graph_id, inputs=request.inputs))
        with pytest.raises(grpc.RpcError):
            stub.Evaluate(pb.EvaluateRequest(graph_id="0" * 64, inputs=request.inputs))
        text = scrape(metrics_port)
    assert 'wengert_requests_total{code="OK",method="Evaluate"} 2.0' in text
    assert 'wengert_requests_total{code="NOT_FOUND",method="Evaluate"} 1.0' in text
    assert 'wengert_request_duration_seconds_count{method="Evaluate"} 3.0' in text
    assert 'wengert_graph_cache_total{result="hit"} 1.0' in text
    assert 'wengert_graph_cache_total{result="miss"} 2.0' in text  # first sight + unknown id
    assert "wengert_requests_in_flight 0.0" in text


VERIFY_PLUGIN = '''
import wengert as wg
from wengert import OpDef, hookimpl
from wengert.plugins.shapes import same_as_first


@hookimpl
def wengert_ops():
    def twice(x):
        return wg.apply("twice", x)

    return [
        OpDef(name="twice", forward=lambda x: x + x, infer=same_as_first, elementwise=True,
              jvp=(lambda x_dot, ans, x: twice(x_dot),), vjp=(lambda g, ans, x: twice(g),)),
        OpDef(name="twice_wrong", forward=lambda x: x + x, infer=same_as_first, elementwise=True,
              jvp=(lambda x_dot, ans, x: x_dot,), vjp=(lambda g, ans, x: g,)),
    ]
'''


def test_a_server_leaves_out_ops_that_fail_the_checker(tmp_path):
    (tmp_path / "wengert_verify_ops.py").write_text(textwrap.dedent(VERIFY_PLUGIN))
    flags = ("--disable-plugins", "builtin", "--plugins", "wengert_verify_ops")  # verified by default
    with start_server(*flags, pythonpath=(str(tmp_path),)) as server, server.channel() as channel:
        ops = [op.name for op in server.stub(channel).ListOps(pb.ListOpsRequest()).ops]
    assert ops == ["twice"]
    assert "leaving out op twice_wrong: it failed verification" in server.log()
    assert "with 1 ops (verified, 1 left out) from plugins [wengert_verify_ops ?]" in server.log()
