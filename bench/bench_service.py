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
server. The echo and both servers run side by side and are measured in alternation (the speed
of a shared machine drifts). Run: python bench/bench_service.py [--blas-threads N] [--no-malloc-tuning]
"""

from __future__ import annotations

import argparse
import contextlib
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
# This machine's speed drifts by 2x or more within minutes (other tenants of the host), so
# every ratio is of measurements taken in alternation: call by call for round trips, in short
# windows for throughput.
def median_round_trips(calls: list, count: int) -> list[float]:
    """The median round trip of each of `calls`, taking turns call by call."""
    for _ in range(count // 10):
        for call in calls:
            call()
    samples = [[] for _ in calls]
    for _ in range(count):
        for call, times in zip(calls, samples):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in samples]


def throughputs(calls: list, threads: int, seconds: float, rounds: int = 4) -> list[float]:
    """Calls per second of each of `calls` from `threads` client threads, in `rounds` turns of
    `seconds` / `rounds` each."""
    done = [0] * len(calls)
    for _ in range(rounds):
        for k, call in enumerate(calls):
            done[k] += throughput(call, threads, seconds / rounds)
    return [d / rounds for d in done]


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
    return f"  {label:<62} {value:>12}  {shown:>8}  {target}"


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
    with contextlib.ExitStack() as running:
        echo = Echo(env)
        running.callback(echo.close)
        services = {}
        for mode, compute_workers in MODES.items():
            services[mode] = Service(env, args.blas_threads, compute_workers)
            running.callback(services[mode].close)
        print(f"wengert service in each execution mode vs a bare gRPC echo ({WORKERS} threads each; "
              f"blas_threads={args.blas_threads}, malloc tuning {'on' if args.malloc_tuning else 'off'}), "
              "measured in alternation")
        measure(services, echo)


def measure(services: dict[str, Service], echo: Echo) -> None:
    """Print each row: the reference first, then each mode with its ratio to it."""
    worked = {mode: worked_requests(service) for mode, service in services.items()}
    evaluate = {mode: service.raw("Evaluate", worked[mode][0]) for mode, service in services.items()}
    call, payload = evaluate[next(iter(evaluate))]
    size = len(call())
    t_echo, *t_modes = median_round_trips([echo.like(payload, size)] + [c for c, _ in evaluate.values()], 2000)
    print(row(f"echo round trip ({len(payload)} B in, {size} B out)", f"{t_echo * 1e3:.3f} ms"))
    for mode, t in zip(services, t_modes):
        print(row(f"Evaluate by graph_id, round trip: {mode}", f"{t * 1e3:.3f} ms", t / t_echo, "[target <= 2x]"))

    vjp = {mode: service.raw("Vjp", worked[mode][1]) for mode, service in services.items()}
    call, payload = vjp[next(iter(vjp))]
    size = len(call())
    r_echo, *r_modes = throughputs([echo.like(payload, size)] + [c for c, _ in vjp.values()], 8, 6.0)
    print(row("echo throughput, 8 client threads", f"{r_echo:.0f} /s"))
    for mode, r in zip(services, r_modes):
        print(row(f"Vjp throughput, 8 client threads: {mode}", f"{r:.0f} /s", r / r_echo, "[target >= 0.5x]"))

    chains = throughputs([service.raw("Vjp", chain_request(service))[0] for service in services.values()], 8, 8.0)
    for mode, r in zip(services, chains):
        print(row(f"Vjp of a 200-node graph, 8 client threads: {mode}", f"{r:.0f} /s"))
    print(row("Vjp of a 200-node graph: compute workers vs in-thread", "", chains[0] / chains[1], "[target >= 1.6x]"))

    mlp = {mode: mlp_request(service) for mode, service in services.items()}
    _, params, x, y = next(iter(mlp.values()))  # the same arrays for every mode
    calls = {mode: service.raw("Vjp", mlp[mode][0]) for mode, service in services.items()}
    call, payload = next(iter(calls.values()))
    size = len(call())
    t_numpy, t_echo, *t_modes = median_round_trips(
        [lambda: mlp_numpy(params, x, y), echo.like(payload, size)] + [c for c, _ in calls.values()], 15)
    print(row("MLP f32: hand NumPy value+gradient", f"{t_numpy * 1e3:.1f} ms"))
    print(row(f"MLP f32: echo ({len(payload) / 1e6:.1f} MB in, {size / 1e6:.1f} MB out)", f"{t_echo * 1e3:.1f} ms"))
    for mode, t in zip(services, t_modes):
        print(row(f"MLP f32: Vjp through the service vs NumPy + echo: {mode}", f"{t * 1e3:.1f} ms",
                  t / (t_numpy + t_echo), "[target <= 1.25x]"))


MODES = {"compute workers": -1, "in-thread": 0}


if __name__ == "__main__":
    main()
