"""Benchmarks of the gRPC service (issues 3 and 11) against a bare gRPC echo served the same way
(a sync server with 8 threads in its own process, the client in this one), all in this run, for
both execution modes: compute workers (the default: one process per CPU) and in-thread:

* per-request overhead: Evaluate of the worked example by graph_id vs an echo of the same
  request and response sizes, median round trip from one client thread;
* throughput: Vjp of the worked example from 8 client threads vs the echo from 8, and Vjp of a
  200-node graph from 8 client threads, compute workers vs in-thread (the GIL caps in-thread
  computing at one core);
* MLP gradient (256x784 -> 1024 -> 1024 -> 10, float32) through the service vs the floor:
  hand NumPy in this process + an echo of the same request and response bytes (compute workers
  move these tensors through shared memory).

Both clients send pre-serialized bytes and receive raw bytes, so the ratios measure the
server. Run: python bench/bench_service.py [--blas-threads N] [--no-malloc-tuning]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wengert as wg  # noqa: E402
from bench_core import mlp_loss, mlp_numpy  # noqa: E402
from wengert.testing import WORKED_POINT, worked_example  # noqa: E402
from wengert.testing import launch, wait_until_serving  # noqa: E402
from wengert.v1 import service_pb2 as pb  # noqa: E402
from wengert.v1 import service_pb2_grpc  # noqa: E402
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto  # noqa: E402

ECHO = "/bench.Echo/Echo"
WORKERS = 8
# glibc otherwise unmaps and re-faults large buffers on every call (PERF-NOTES)
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "134217728", "MALLOC_TRIM_THRESHOLD_": "1073741824"}


# -- the echo server: replies with as many bytes as the request's first 8 bytes ask for ----
def serve_echo() -> None:
    replies: dict[int, bytes] = {}

    def echo(request: bytes, context) -> bytes:
        size = int.from_bytes(request[:8], "little")
        if size not in replies:
            replies[size] = bytes(size)
        return replies[size]

    server = grpc.server(futures.ThreadPoolExecutor(WORKERS), options=_message_options())
    handler = grpc.method_handlers_generic_handler("bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def _message_options() -> list[tuple[str, int]]:
    return [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]


class Echo:
    """A running echo server and a raw-bytes call shaped like a given request and response."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, __file__, "--echo-server"], stdout=subprocess.PIPE,
                                        text=True, env={**os.environ, **env})
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.process.stdout.readline().strip()}",
                                             _message_options())
        self.call = self.channel.unary_unary(ECHO)

    def like(self, request: bytes, response_size: int):
        payload = response_size.to_bytes(8, "little") + request[8:]
        return lambda: self.call(payload)

    def close(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait()


class Service:
    """A running wengert server; `raw(method, request)` calls it with pre-serialized bytes."""

    def __init__(self, env: dict[str, str], blas_threads: int, compute_workers: int):
        self.server = wait_until_serving(launch("--workers", str(WORKERS), "--blas-threads", str(blas_threads),
                                                "--compute-workers", str(compute_workers),
                                                "--max-calls-per-client", "64", "--log-level", "WARNING",
                                                env=env))
        self.channel = grpc.insecure_channel(self.server.target, _message_options())

    def raw(self, method: str, request) -> tuple:
        call = self.channel.unary_unary(f"/wengert.v1.DifferentiationService/{method}")
        payload = request.SerializeToString()
        return (lambda: call(payload)), payload

    def close(self) -> None:
        self.channel.close()
        self.server.terminate()
        self.server.close_log()


# -- measurements --------------------------------------------------------------------------
def median_round_trip(call, count: int) -> float:
    for _ in range(count // 10):
        call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def throughput(call, threads: int, seconds: float) -> float:
    """Calls per second completed by `threads` client threads in `seconds`."""
    stop, counts = threading.Event(), [0] * threads

    def client(k: int) -> None:
        while not stop.is_set():
            call()
            counts[k] += 1

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def worked_requests(service: Service) -> tuple[pb.EvaluateRequest, pb.VjpRequest]:
    graph = graph_to_proto(wg.trace(worked_example, 2.0, 5.0))
    inputs = {name: tensor_to_proto(v) for name, v in WORKED_POINT.items()}
    stub = pb_stub(service)
    graph_id = stub.Evaluate(pb.EvaluateRequest(graph=graph, inputs=inputs)).graph_id
    seed = {"y": tensor_to_proto(np.float64(1.0))}
    return (pb.EvaluateRequest(graph_id=graph_id, inputs=inputs),
            pb.VjpRequest(graph_id=graph_id, inputs=inputs, cotangents=seed))


def chain(x):
    """A 200-node graph of small vector ops: Python overhead per node dominates its cost."""
    for k in range(100):
        x = wg.sin(x) * 1.01 if k % 2 else wg.tanh(x) + 0.1
    return wg.sum(x)


def chain_request(service: Service) -> pb.VjpRequest:
    x = np.linspace(-1, 1, 16)
    graph = graph_to_proto(wg.trace(chain, x))
    inputs = {"x": tensor_to_proto(x)}
    seed = {"y": tensor_to_proto(np.float64(1.0))}
    graph_id = pb_stub(service).Vjp(pb.VjpRequest(graph=graph, inputs=inputs, cotangents=seed)).graph_id
    return pb.VjpRequest(graph_id=graph_id, inputs=inputs, cotangents=seed)


def pb_stub(service: Service) -> service_pb2_grpc.DifferentiationServiceStub:
    return service_pb2_grpc.DifferentiationServiceStub(service.channel)


def mlp_request(service: Service) -> tuple[pb.VjpRequest, list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in [(784, 1024), (1024, 1024), (1024, 10)]:
        params += [(rng.normal(size=(fan_in, fan_out)) / math.sqrt(fan_in)).astype("float32"),
                   np.zeros(fan_out, "float32")]
    x = rng.normal(size=(256, 784)).astype("float32")
    y = rng.normal(size=(256, 10)).astype("float32")
    names = ["w1", "b1", "w2", "b2", "w3", "b3", "x", "y"]
    graph = graph_to_proto(wg.trace(mlp_loss, *params, x, y))
    inputs = {n: tensor_to_proto(a) for n, a in zip(names, params + [x, y])}
    seed = {"y": tensor_to_proto(np.float32(1.0))}
    first = pb_stub(service).Vjp(pb.VjpRequest(graph=graph, inputs=inputs, cotangents=seed, wrt=names[:6]))
    _, expected = mlp_numpy(params, x, y)
    for name, want in zip(names[:6], expected):
        np.testing.assert_allclose(tensor_from_proto(first.cotangents[name]), want, rtol=1e-3, atol=1e-5)
    request = pb.VjpRequest(graph_id=first.graph_id, inputs=inputs, cotangents=seed, wrt=names[:6])
    return request, params, x, y


def row(label: str, value: str, ratio: float | None = None, target: str = "") -> str:
    shown = f"{ratio:6.2f}x" if ratio is not None else ""
    return f"  {label:<52} {value:>14}  {shown:>8}  {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blas-threads", type=int, default=1, help="for the server and the NumPy floor")
    parser.add_argument("--malloc-tuning", action=argparse.BooleanOptionalAction, default=True,
                        help="run both servers with " + " ".join(f"{k}={v}" for k, v in MALLOC_TUNING.items())
                        + " as the container image does (default on)")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        return serve_echo()
    env = MALLOC_TUNING if args.malloc_tuning else {}
    threadpool_limits(args.blas_threads or None, user_api="blas")
    echo = Echo(env)
    chains = {}
    try:
        for mode, compute_workers in (("compute workers", -1), ("in-thread", 0)):
            service = Service(env, args.blas_threads, compute_workers)
            try:
                print(f"\n{mode}: wengert service vs bare gRPC echo ({WORKERS} threads each; "
                      f"blas_threads={args.blas_threads}, malloc tuning {'on' if args.malloc_tuning else 'off'})")
                chains[mode] = measure(service, echo)
            finally:
                service.close()
        print(row("Vjp of a 200-node graph, 8 clients: compute workers vs in-thread",
                  f"{chains['compute workers']:.0f} /s", chains["compute workers"] / chains["in-thread"],
                  "[target >= 1.6x]"))
    finally:
        echo.close()


def measure(service: Service, echo: Echo) -> float:
    """Print the per-request, throughput and MLP rows; returns the 200-node graph's throughput."""
    evaluate, vjp = worked_requests(service)
    call, payload = service.raw("Evaluate", evaluate)
    size = len(call())
    t_echo = median_round_trip(echo.like(payload, size), 2000)
    t_service = median_round_trip(call, 2000)
    print(row(f"echo round trip ({len(payload)} B in, {size} B out)", f"{t_echo * 1e3:.3f} ms"))
    print(row("Evaluate by graph_id, round trip", f"{t_service * 1e3:.3f} ms", t_service / t_echo,
              "[target <= 2x]"))

    call, payload = service.raw("Vjp", vjp)
    size = len(call())
    r_echo = throughput(echo.like(payload, size), 8, 3.0)
    r_service = throughput(call, 8, 3.0)
    print(row("echo throughput, 8 client threads", f"{r_echo:.0f} /s"))
    print(row("Vjp throughput, 8 client threads", f"{r_service:.0f} /s", r_service / r_echo,
              "[target >= 0.5x]"))

    call, _ = service.raw("Vjp", chain_request(service))
    r_chain = throughput(call, 8, 3.0)
    print(row("Vjp of a 200-node graph, 8 client threads", f"{r_chain:.0f} /s"))

    request, params, x, y = mlp_request(service)
    call, payload = service.raw("Vjp", request)
    size = len(call())
    t_numpy = median_round_trip(lambda: mlp_numpy(params, x, y), 15)
    t_echo = median_round_trip(echo.like(payload, size), 15)
    t_service = median_round_trip(call, 15)
    print(row("MLP f32: hand NumPy value+gradient", f"{t_numpy * 1e3:.1f} ms"))
    print(row(f"MLP f32: echo ({len(payload) / 1e6:.1f} MB in, {size / 1e6:.1f} MB out)",
              f"{t_echo * 1e3:.1f} ms"))
    print(row("MLP f32: Vjp through the service vs NumPy + echo", f"{t_service * 1e3:.1f} ms",
              t_service / (t_numpy + t_echo), "[target <= 1.25x]"))
    return r_chain


if __name__ == "__main__":
    main()
