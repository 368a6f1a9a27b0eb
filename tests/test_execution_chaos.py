"""Computation the server can always stop: chaos tests of the compute workers.

A test-only plugin brings ops that misbehave the ways real ones do: one stuck in C for a minute,
one that segfaults, one that allocates past the worker's address-space limit. For each, the
caller gets the right status promptly (bounds here are generous multiples, so they cannot flake;
bench/bench_execution.py measures the real latencies), other callers get exact answers, the
server stays SERVING, the worker restart is counted in the metrics, and no shared-memory segment
is left behind. Also: deadlines labelled correctly under load, fairness between clients, and a
SIGTERM with a stuck op."""

from __future__ import annotations

import glob
import re
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

import wengert as wg
from wengert.testing import (WORKED_GRADIENT, WORKED_POINT, chaos_plugin, free_port, launch, start_server,
                             wait_until_serving, worked_example)
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

SLOW = 60.0  # what the stuck op would take: every bound below is far under it


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    return chaos_plugin(tmp_path_factory.mktemp("chaos"))


# Verification would run these ops at start-up (and be stuck, crash, or allocate with them): the
# servers here serve them unverified, as a plugin whose ops misbehave only on some inputs is.
UNVERIFIED = "--no-verify-plugins"


def chaos_server(plugin_dir, *flags):
    return start_server("--plugins", "chaos_ops", UNVERIFIED, "--worker-memory-mb", "2048", *flags,
                        pythonpath=(plugin_dir,))


@pytest.fixture(scope="module")
def metrics_port():
    return free_port()


@pytest.fixture(scope="module")
def server(plugin_dir, metrics_port):
    with chaos_server(plugin_dir, "--compute-workers", "2", "--metrics-port", str(metrics_port)) as running:
        yield running


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def op_request(op: str, **attrs) -> pb.EvaluateRequest:
    """y = op(x) for x of 3 elements, built on the wire: the test process has no chaos ops."""
    graph = graph_pb2.Graph()
    graph.inputs.add(name="x", type=tensor_pb2.TensorType(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[3]))
    node = graph.nodes.add(id="v1", op=op, inputs=["x"])
    for key, value in attrs.items():
        node.attrs[key].f = value
    graph.outputs.add(name="y", value="v1")
    return pb.EvaluateRequest(graph=graph, inputs={"x": tensor_to_proto(np.ones(3))})


def worked_request() -> pb.VjpRequest:
    return pb.VjpRequest(graph=graph_to_proto(wg.trace(worked_example, 2.0, 5.0)),
                         inputs={k: tensor_to_proto(v) for k, v in WORKED_POINT.items()},
                         cotangents={"y": tensor_to_proto(np.float64(1.0))})


def check_worked(stub) -> None:
    response = stub.Vjp(worked_request(), timeout=30)
    got = tuple(float(tensor_from_proto(response.cotangents[k])) for k in ("x1", "x2"))
    assert got == pytest.approx(WORKED_GRADIENT, rel=1e-15)


def metric(port: int, name: str, **labels) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    shown = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{shown}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def segments(server) -> list[str]:
    """Shared-memory segments of the server's requests (its status and lock files excepted)."""
    return [p for p in glob.glob(f"/dev/shm/wengert-{server.process.pid}-*")
            if "-status-" not in p and not p.endswith("-lock")]


def misbehave(stub, op: str | pb.EvaluateRequest, **call) -> tuple[grpc.StatusCode, str, float]:
    """Evaluate `op` (or the request given); it must fail: its status, message and duration."""
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        stub.Evaluate(op_request(op) if isinstance(op, str) else op, **call)
    return info.value.code(), info.value.details(), time.monotonic() - start


def test_a_deadline_kills_an_op_stuck_in_c_and_others_are_served(server, stub, metrics_port):
    before = metric(metrics_port, "wengert_worker_restarts_total", cause="deadline")
    with ThreadPoolExecutor(1) as others:
        stuck = others.submit(misbehave, stub, "stuck", timeout=1.0)
        for _ in range(20):  # the other worker answers meanwhile, exactly
            check_worked(stub)
        code, _, seconds = stuck.result()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and seconds < SLOW / 4
    wait_for(lambda: metric(metrics_port, "wengert_worker_restarts_total", cause="deadline") == before + 1)
    wait_for(lambda: metric(metrics_port, "wengert_busy_workers") == 0)
    assert server.health() == "SERVING" and segments(server) == []
    server.wait_for_log(r"rpc method=Evaluate code=DEADLINE_EXCEEDED")


def test_a_cancelled_call_kills_its_worker(server, stub, metrics_port):
    before = metric(metrics_port, "wengert_worker_restarts_total", cause="cancelled")
    # a slot whose worker is being replaced (an earlier test killed it) counts as busy: wait until
    # every worker is up and idle, so "busy" below means this call runs (a queued call cancelled
    # never reaches a worker, and nothing is killed)
    wait_for(lambda: metric(metrics_port, "wengert_busy_workers") == 0, timeout=SLOW / 2)
    call = stub.Evaluate.future(op_request("stuck"))
    wait_for(lambda: metric(metrics_port, "wengert_busy_workers") >= 1)
    call.cancel()
    wait_for(lambda: metric(metrics_port, "wengert_worker_restarts_total", cause="cancelled") == before + 1,
             timeout=SLOW / 2)  # far under SLOW: only a kill ends the op this soon
    server.wait_for_log(r"rpc method=Evaluate code=CANCELLED", timeout=SLOW / 2)
    check_worked(stub)
    assert segments(server) == []


def test_a_segfault_fails_only_its_request_and_is_logged_with_the_node(server, stub, metrics_port):
    before = metric(metrics_port, "wengert_worker_restarts_total", cause="crash")
    code, details, _ = misbehave(stub, "segfault", timeout=30)
    assert code == grpc.StatusCode.INTERNAL and "segfault" not in details  # details stay in the log
    server.wait_for_log(r"died with signal SIGSEGV while running node 'v1' \(segfault\)")
    assert metric(metrics_port, "wengert_worker_restarts_total", cause="crash") == before + 1
    check_worked(stub)
    assert server.health() == "SERVING" and segments(server) == []


def test_an_allocation_past_the_worker_limit_is_resource_exhausted(server, stub, metrics_port):
    before = metric(metrics_port, "wengert_worker_restarts_total", cause="memory")
    code, details, _ = misbehave(stub, "hog", timeout=30)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--worker-memory-mb" in details
    wait_for(lambda: metric(metrics_port, "wengert_worker_restarts_total", cause="memory") == before + 1)
    check_worked(stub)
    assert segments(server) == []


def test_only_tiny_requests_of_builtin_ops_skip_the_workers(server, stub, metrics_port):
    """--inline-work: the worked example's gradient (a dozen scalar steps) is computed in the
    gRPC thread; a plugin's op, however small, and a builtin request of 2e5 elements go to a
    worker."""
    before = metric(metrics_port, "wengert_inline_requests_total")
    check_worked(stub)
    assert metric(metrics_port, "wengert_inline_requests_total") == before + 1
    stub.Evaluate(op_nap(0.0), timeout=SLOW)
    x = np.linspace(0, 1, 200_000)
    big = pb.EvaluateRequest(graph=graph_to_proto(wg.trace(lambda x: wg.sum(wg.sin(x)), x)),
                             inputs={"x": tensor_to_proto(x)})
    assert float(tensor_from_proto(stub.Evaluate(big, timeout=SLOW).outputs["y"])) == pytest.approx(np.sin(x).sum())
    assert metric(metrics_port, "wengert_inline_requests_total") == before + 1


def test_a_saturated_server_still_answers_health_and_list_ops_at_once(server, stub, metrics_port):
    calls = [stub.Evaluate.future(op_request("stuck")) for _ in range(3)]  # 2 run, 1 waits
    wait_for(lambda: metric(metrics_port, "wengert_busy_workers") == 2)
    wait_for(lambda: metric(metrics_port, "wengert_queue_length") == 1)
    start = time.monotonic()
    assert server.health() == "SERVING"
    assert len(stub.ListOps(pb.ListOpsRequest(), timeout=5).ops) > 60
    assert time.monotonic() - start < SLOW / 10
    for call in calls:
        call.cancel()
    wait_for(lambda: metric(metrics_port, "wengert_busy_workers") == 0 and
             metric(metrics_port, "wengert_queue_length") == 0, timeout=SLOW / 2)
    check_worked(stub)


def test_50_expired_deadlines_under_load_are_all_deadline_exceeded(plugin_dir):
    """Every call outlives its deadline (a 5 s nap, deadlines of 0.05 to 0.25 s) while the CPUs
    are busy: all 50 end DEADLINE_EXCEEDED for the client, and every one the server got to handle
    (under load, gRPC drops some before they reach a handler) is logged DEADLINE_EXCEEDED too."""
    port = free_port()
    flags = ("--compute-workers", "2", "--max-queue", "64", "--max-calls-per-client", "64",
             "--metrics-port", str(port))
    with chaos_server(plugin_dir, *flags) as server, server.channel() as channel:
        stub = server.stub(channel)
        load = threading.Event()

        def burn():
            while not load.is_set():
                np.linalg.svd(np.random.default_rng(0).standard_normal((300, 300)))

        burners = [threading.Thread(target=burn) for _ in range(2)]
        for thread in burners:
            thread.start()
        try:
            with ThreadPoolExecutor(10) as pool:
                codes = list(pool.map(lambda k: misbehave(stub, op_nap(5.0), timeout=0.05 + 0.2 * (k % 5) / 4)[0],
                                      range(50)))
        finally:
            load.set()
            for thread in burners:
                thread.join()
        assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 50
        wait_for(lambda: metric(port, "wengert_requests_in_flight") == 0)
        logged = re.findall(r"method=Evaluate code=(\w+)", server.log())
        assert logged and logged == ["DEADLINE_EXCEEDED"] * len(logged)


def op_nap(seconds: float) -> pb.EvaluateRequest:
    return op_request("nap", seconds=seconds)


def test_one_clients_burst_does_not_starve_anothers_single_request(plugin_dir):
    port = free_port()
    with chaos_server(plugin_dir, "--compute-workers", "1", "--metrics-port", str(port)) as server, \
            server.channel() as channel:
        stub, done = server.stub(channel), []
        burst = [stub.Evaluate.future(op_nap(0.3), metadata=(("authorization", "Bearer a"),)) for _ in range(6)]
        for k, call in enumerate(burst):
            call.add_done_callback(lambda _, k=k: done.append(f"a{k}"))
        wait_for(lambda: metric(port, "wengert_queue_length") == 5)
        single = stub.Evaluate.future(op_nap(0.3), metadata=(("authorization", "Bearer b"),))
        single.add_done_callback(lambda _: done.append("b"))
        single.result(timeout=SLOW)
        for call in burst:
            call.result(timeout=SLOW)
    # a0 ran; a1 was first in line; then b's turn came, before a2..a5
    assert done.index("b") <= 2, done


def test_sigterm_with_a_stuck_op_exits_0_within_the_grace_period_and_a_second(plugin_dir):
    port = free_port()
    server = wait_until_serving(launch("--plugins", "chaos_ops", UNVERIFIED, "--grace-period", "2",
                                       "--metrics-port", str(port), pythonpath=(plugin_dir,)))
    try:
        with server.channel() as channel:
            call = server.stub(channel).Evaluate.future(op_request("stuck"), timeout=SLOW * 2)
            wait_for(lambda: metric(port, "wengert_busy_workers") == 1)
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=SLOW)
            seconds = time.monotonic() - start
            assert call.exception(timeout=10).code() == grpc.StatusCode.UNAVAILABLE
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.close_log()
    assert code == 0 and seconds < 2 + 1 + 2, (code, seconds)  # grace + 1 s, + 2 s for a loaded CI
    assert glob.glob(f"/dev/shm/wengert-{server.process.pid}-*") == []


def test_in_thread_mode_is_still_there_for_debugging(plugin_dir):
    with chaos_server(plugin_dir, "--compute-workers", "0") as server, server.channel() as channel:
        check_worked(server.stub(channel))
        assert "compute_workers=0 (in-thread)" in server.log()


def test_a_second_sigterm_exits_at_once(plugin_dir):
    port = free_port()
    server = wait_until_serving(launch("--plugins", "chaos_ops", UNVERIFIED, "--grace-period", "60",
                                       "--metrics-port", str(port), pythonpath=(plugin_dir,)))
    try:
        with server.channel() as channel:
            call = server.stub(channel).Evaluate.future(op_request("stuck"))
            wait_for(lambda: metric(port, "wengert_busy_workers") == 1)
            server.process.send_signal(signal.SIGTERM)
            server.wait_for_log("draining")
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=SLOW)
            assert time.monotonic() - start < 5 and code == 0
            call.cancel()
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.close_log()
    assert glob.glob(f"/dev/shm/wengert-{server.process.pid}-*") == []
