"""Benchmarks of the compute workers (issue 11): how promptly the server stops what it must stop,
against a health check round trip measured in the same run.

* a deadline on an op stuck in C: time from the deadline to the client's DEADLINE_EXCEEDED, and
  until the replacement worker serves again;
* a segfaulting op: time to the client's INTERNAL, and to a served request again;
* SIGTERM with an op stuck in C: time to the process's exit, against its grace period.

Throughput and per-request overhead are in bench_service.py. Run: python bench/bench_execution.py
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import median_seconds, row  # noqa: E402
from wengert.testing import (WORKED_POINT, chaos_plugin, launch, start_server, wait_until_serving,  # noqa: E402
                             worked_example)
from wengert.transport.wire import graph_to_proto, tensor_to_proto  # noqa: E402
from wengert.v1 import graph_pb2, tensor_pb2  # noqa: E402
from wengert.v1 import service_pb2 as pb  # noqa: E402

DEADLINE = 0.2  # seconds


def op_request(op: str) -> pb.EvaluateRequest:
    graph = graph_pb2.Graph()
    graph.inputs.add(name="x", type=tensor_pb2.TensorType(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[3]))
    graph.nodes.add(id="v1", op=op, inputs=["x"])
    graph.outputs.add(name="y", value="v1")
    return pb.EvaluateRequest(graph=graph, inputs={"x": tensor_to_proto(np.ones(3))})


def worked() -> pb.EvaluateRequest:
    return pb.EvaluateRequest(graph=graph_to_proto(wg.trace(worked_example, 2.0, 5.0)),
                              inputs={k: tensor_to_proto(v) for k, v in WORKED_POINT.items()})


def until_served(stub) -> None:
    while True:
        try:
            stub.Evaluate(worked(), timeout=5)
            return
        except grpc.RpcError:
            time.sleep(0.001)


def failures(folder: str) -> None:
    # Unverified: verification would run the chaos ops (stuck, segfault, ...) at start-up.
    with start_server("--plugins", "chaos_ops", "--no-verify-plugins", "--compute-workers", "1",
                      pythonpath=(folder,)) as server, \
            server.channel() as channel:
        stub = server.stub(channel)
        health = median_seconds(lambda: server.health(channel), repeat=9)
        print(row("health check round trip", health))
        late, back, crashed, recovered = [], [], [], []
        for _ in range(5):
            start = time.monotonic()
            try:
                stub.Evaluate(op_request("stuck"), timeout=DEADLINE)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            late.append(time.monotonic() - start - DEADLINE)
            until_served(stub)
            back.append(time.monotonic() - start - DEADLINE)
            start = time.monotonic()
            try:
                stub.Evaluate(op_request("segfault"), timeout=30)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INTERNAL
            crashed.append(time.monotonic() - start)
            until_served(stub)
            recovered.append(time.monotonic() - start)
        print(row("stuck op: deadline -> DEADLINE_EXCEEDED at the client", statistics.median(late), health))
        print(row("stuck op: deadline -> a new worker serves", statistics.median(back), health))
        print(row("segfault -> INTERNAL at the client", statistics.median(crashed), health))
        print(row("segfault -> a new worker serves", statistics.median(recovered), health))


def shutdown(folder: str, grace: float = 2.0) -> None:
    server = wait_until_serving(launch("--plugins", "chaos_ops", "--no-verify-plugins",
                                       "--grace-period", str(grace), pythonpath=(folder,)))
    try:
        with server.channel() as channel:
            call = server.stub(channel).Evaluate.future(op_request("stuck"))
            time.sleep(0.5)  # under way
            start = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            code = server.process.wait(timeout=60)
            seconds = time.monotonic() - start
            call.cancel()
    finally:
        server.close_log()
    print(row(f"SIGTERM with a stuck op: exit {code}, vs the grace period", seconds, grace))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        chaos_plugin(folder)
        failures(folder)
        shutdown(folder)
