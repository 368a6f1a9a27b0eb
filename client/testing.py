"""Test helpers: the notes' worked example, and real wengert servers for end-to-end tests and
benchmarks (`python -m wengert.server` in a subprocess).

    with start_server("--max-nodes", "10") as server:
        stub = server.stub()            # raw generated stub on an insecure channel
        server.log()                    # everything the server logged so far

The server picks a free port (`--port 0`); the helper reads it from the start-up log line and
waits until the health service says SERVING. Leaving the block sends SIGTERM and waits for a
clean exit. The server's stderr goes to a file, so a chatty server never blocks on a pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

import wengert as wg

from wengert.v1 import service_pb2_grpc

# f(x1, x2) = ln x1 + x1*x2 - sin x2 at (2, 5): the notes' §2 example.
WORKED_POINT = {"x1": np.float64(2.0), "x2": np.float64(5.0)}
WORKED_VALUE = np.log(2.0) + 10.0 - np.sin(5.0)
WORKED_GRADIENT = (5.5, 2.0 - np.cos(5.0))  # (1/x1 + x2, x1 - cos x2)


def worked_example(x1, x2):
    """Written in the order of the notes' evaluation trace, so its Wengert list matches."""
    v1 = wg.log(x1)
    v2 = x1 * x2
    v3 = wg.sin(x2)
    v4 = v1 + v2
    return v4 - v3


STARTUP_LINE = re.compile(r"wengert serving on (\S+):(\d+)")
START_TIMEOUT = 120.0  # a bound for a server that never starts, not a speed test: a loaded machine is slow


class ServerProcess:
    """A running server subprocess: its target, its log, and ways to talk to it."""

    def __init__(self, process: subprocess.Popen, log_path: Path,
                 credentials: grpc.ChannelCredentials | None = None):
        self.process = process
        self.log_path = log_path
        self.credentials = credentials  # for TLS servers: how `channel()` connects
        self.port = 0
        self.target = ""
        self._final_log: str | None = None

    def log(self) -> str:
        if self._final_log is not None:
            return self._final_log
        return self.log_path.read_text(errors="replace")

    def close_log(self) -> None:
        """Keep the log text in memory and remove the file (the server has exited)."""
        self._final_log = self.log_path.read_text(errors="replace")
        self.log_path.unlink()

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """The first match of `pattern` in the log, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            match = re.search(pattern, self.log())
            if match:
                return match
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared in the server log:\n{self.log()}")
            time.sleep(0.02)

    def peak_rss(self) -> int:
        """The high-water marks of resident memory (VmHWM) of the server and of its compute
        workers alive now, added up, in bytes."""
        return sum(_peak_rss(pid) for pid in _process_tree(self.process.pid))

    def channel(self) -> grpc.Channel:
        if self.credentials is not None:
            return grpc.secure_channel(self.target, self.credentials)
        return grpc.insecure_channel(self.target)

    def stub(self, channel: grpc.Channel | None = None) -> service_pb2_grpc.DifferentiationServiceStub:
        return service_pb2_grpc.DifferentiationServiceStub(channel or self.channel())

    def health(self, channel: grpc.Channel | None = None, timeout: float = 2.0) -> str:
        """The health status name of the whole server ("SERVING", "NOT_SERVING")."""
        stub = health_pb2_grpc.HealthStub(channel or self.channel())
        response = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait(self, timeout: float = 20.0) -> int:
        """The exit code, once the server exits by itself (e.g. after a signal already sent)."""
        return self.process.wait(timeout)

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not exit within {timeout} s of {sig!r}:\n{self.log()}")


# Ops that misbehave as real ones do, for chaos tests and benchmarks of the compute workers.
CHAOS_PLUGIN = '''
import ctypes
import numpy as np
from wengert import OpDef, hookimpl
from wengert.plugins.shapes import same_as_first

libc = ctypes.CDLL(None)

def _stuck(x):
    libc.sleep(60)  # in C: no Python between-node check can see it
    return x

def _nap(x, seconds):
    libc.usleep(int(seconds * 1e6))
    return x

def _segfault(x):
    ctypes.string_at(0)
    return x

def _hog(x):
    return x + np.ones(1 << 31)[: x.size].reshape(x.shape)  # 16 GiB, past any worker limit

@hookimpl
def wengert_ops():
    return [OpDef("stuck", _stuck, same_as_first, doc="sleeps a minute in C"),
            OpDef("nap", _nap, same_as_first, attrs=(__import__("wengert").Attr("seconds", "float"),),
                  doc="sleeps `seconds` in C"),
            OpDef("segfault", _segfault, same_as_first, doc="dereferences NULL"),
            OpDef("hog", _hog, same_as_first, doc="allocates 16 GiB")]
'''


def chaos_plugin(folder: Path) -> str:
    """Write the `chaos_ops` plugin module into `folder`; returns the folder, for `pythonpath`."""
    (Path(folder) / "chaos_ops.py").write_text(textwrap.dedent(CHAOS_PLUGIN))
    return str(folder)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                pass
    return found


def _peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0  # gone meanwhile
    return int(line.split()[1]) * 1024


def race(writers: Sequence[Callable[[], None]], reader: Callable[[], None], readers: int = 2) -> list[BaseException]:
    """Run each of `writers` once, in threads of their own, while `readers` threads call `reader`
    again and again until the writers are done, switching threads every microsecond so that
    every interleaving of their steps is likely. Returns what any of them raised."""
    errors: list[BaseException] = []
    writing = threading.Event()

    def guarded(work: Callable[[], None], repeat: bool) -> None:
        try:
            work()
            while repeat and writing.is_set():
                work()
        except BaseException as exc:
            errors.append(exc)

    writing.set()
    reading = [threading.Thread(target=guarded, args=(reader, True)) for _ in range(readers)]
    writing_threads = [threading.Thread(target=guarded, args=(w, False)) for w in writers]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in reading + writing_threads:
            t.start()
        for t in writing_threads:
            t.join()
        writing.clear()
        for t in reading:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    return errors


def free_port() -> int:
    """A port nothing listens on right now (for tests that must know it before start-up)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run the `wengert` command line (`python -m wengert.server.cli ARGS...`)."""
    return subprocess.run([sys.executable, "-m", "wengert.server.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def launch(*flags: str, env: dict[str, str] | None = None, pythonpath: tuple[str, ...] = (),
           credentials: grpc.ChannelCredentials | None = None) -> ServerProcess:
    """Start `python -m wengert.server --host 127.0.0.1 --port 0 FLAGS...`; do not wait."""
    log_file = tempfile.NamedTemporaryFile("wb", prefix="wengert-server-", suffix=".log", delete=False)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join([*pythonpath, full_env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "wengert.server", "--host", "127.0.0.1", "--port", "0", *flags],
        stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env)
    log_file.close()
    return ServerProcess(process, Path(log_file.name), credentials)


def wait_until_serving(server: ServerProcess) -> ServerProcess:
    """Read the port from the start-up line, then wait for health SERVING."""
    match = server.wait_for_log(STARTUP_LINE.pattern, START_TIMEOUT)
    server.port = int(match.group(2))
    server.target = f"127.0.0.1:{server.port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with server.channel() as channel:
                if server.health(channel) == "SERVING":
                    return server
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"server never became SERVING:\n{server.log()}")
        time.sleep(0.05)


@contextlib.contextmanager
def start_server(*flags: str, env: dict[str, str] | None = None, pythonpath: tuple[str, ...] = (),
                 credentials: grpc.ChannelCredentials | None = None) -> Iterator[ServerProcess]:
    """A SERVING server for the duration of the block; it must exit 0 on SIGTERM afterwards.
    `credentials` are what `server.channel()` (and the readiness probe) connect with."""
    server = launch(*flags, env=env, pythonpath=pythonpath, credentials=credentials)
    try:
        yield wait_until_serving(server)
    finally:
        code = server.terminate()
        server.close_log()
    assert code == 0, f"server exited with {code}:\n{server.log()}"
