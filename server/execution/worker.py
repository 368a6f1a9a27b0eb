"""A compute worker: a process that runs calls on its own engine, one at a time.

The supervisor (`pool.py`) starts it with the plugin settings and talks to it over a pipe:

    parent -> worker   ("run", seq, message)     a call to run (`shm` pickled: the call, its
                                                 graph's id, and the graph if the worker lacks it)
                       ("next", seq)             the next item of a streamed result
                       ("close", seq)            stop a streamed result early
                       ("cancel", seq)           stop computing (checked between nodes)
    worker -> parent   ("ready", pid)            started, plugins loaded
                       ("result", seq, message)  a whole result
                       ("stream", seq, message)  the head of a streamed result; items follow on "next"
                       ("item", seq, message) / ("end", seq)
                       ("missing", seq)          send the graph along: this worker does not hold it
                       ("error", seq, message)   a domain error, pickled
                       ("crash", seq, text)      an unexpected exception's traceback (a bug)

Between nodes the worker writes the node it is about to run to its status file (the supervisor
names it when the worker dies) and, every few milliseconds, looks for a "cancel". A deadline the
worker does not notice in time is enforced by the supervisor, which kills it.
"""

from __future__ import annotations

import dataclasses
import logging
import mmap
import os
import resource
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterator

from wengert.errors import Cancelled, LimitExceeded, WengertError, node_error, quoted, short
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.ir.graph import Graph, Node
from wengert.jacobians.sweeps import Sweeps
from wengert.lru import LRU
from wengert.server.execution import shm

STATUS_BYTES = 256  # the status file: the node being run
POLL_SECONDS = 0.005  # how often a computing worker looks for a "cancel"

log = logging.getLogger("wengert.server.worker")


@dataclass(frozen=True)
class Settings:
    """What a worker needs to build the server's registry and engine, and its own limits."""

    plugins: str  # as Config has them: comma-separated
    disable_plugins: str
    skip_broken: bool
    left_out: tuple[str, ...]  # ops the server does not serve (failed verification)
    blas_threads: int
    memory_mb: int  # RLIMIT_AS of the worker (0: none)
    cache_bytes: int
    limits: Limits  # the server's: the worker chunks Jacobians within the same memory budget


def status_path(server_pid: int, slot: int) -> str:
    return os.path.join(shm.SEGMENT_DIR, f"wengert-{server_pid}-status-{slot}")


def read_status(path: str) -> str:
    """What the status file says the worker was running (for the log when it died)."""
    try:
        with open(path, "rb") as f:
            return f.read(STATUS_BYTES).rstrip(b"\0").decode(errors="replace")
    except OSError:
        return ""


def main(conn, settings: Settings, server_pid: int, slot: int) -> None:
    """The worker's life: set limits, load the plugins, then serve calls until the pipe closes."""
    if settings.memory_mb:
        limit = settings.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from threadpoolctl import threadpool_limits

    from wengert.plugins.registry import load_plugins, set_default_registry

    if settings.blas_threads:
        threadpool_limits(settings.blas_threads, user_api="blas")
    registry = load_plugins(settings.plugins, settings.disable_plugins,
                            skip_broken=settings.skip_broken).restricted(settings.left_out)
    set_default_registry(registry)
    engine = Engine(registry, limits=settings.limits, cache_bytes=settings.cache_bytes)
    worker = _Worker(conn, engine, server_pid, slot, settings.cache_bytes, settings.memory_mb)
    conn.send(("ready", os.getpid()))
    worker.serve()


class _Worker:
    def __init__(self, conn, engine: Engine, server_pid: int, slot: int, cache_bytes: int, memory_mb: int):
        self.conn, self.engine, self.server_pid, self.slot = conn, engine, server_pid, slot
        self.memory_mb = memory_mb
        self.graphs: LRU[str, Graph] = LRU(1024, cache_bytes, lambda _, g: g.constant_bytes + 512 * len(g.nodes))
        with open(status_path(server_pid, slot), "r+b") as f:
            self.status = mmap.mmap(f.fileno(), STATUS_BYTES)
        self.labels: dict[int, tuple[Node, bytes]] = {}  # id(node) -> (node, its status label)
        self.seq = 0
        self.parts = 0  # messages sent for the current request (they name its segments)
        self.next_poll = 0.0
        self.inbox: deque = deque()  # messages read while looking for a "cancel"

    def serve(self) -> None:
        while True:
            try:
                message = self._recv()
            except (EOFError, OSError):
                return
            if message[0] == "run":
                self.seq = message[1]
                self.parts = 0
                if len(self.labels) > 100_000:  # node labels of graphs long gone
                    self.labels.clear()
                self._run(shm.loads(message[2]))

    def _run(self, request: tuple) -> None:
        call, graph_id, graph = request
        try:
            if graph is None:
                graph = self.graphs.get(graph_id)
                if graph is None:
                    self.conn.send(("missing", self.seq))
                    return
            else:
                graph = self.graphs.setdefault(graph_id, graph)
            call = dataclasses.replace(call, graph=graph)
            result = self.engine.prepare(call, self._check).run()
            if isinstance(result, Sweeps):
                self._stream(dataclasses.replace(result, pieces=None), result.pieces)
            elif isinstance(result, Iterator):
                self._stream(None, result)
            else:
                self._send("result", result)
        except LimitExceeded as exc:
            if exc.limit == "memory" and not exc.flag:  # an allocation the worker's limit refused
                exc = LimitExceeded(f"{exc}; a compute worker may use {self.memory_mb} MiB (raise it with "
                                    "--worker-memory-mb)", limit="memory", flag="--worker-memory-mb",
                                    node=exc.node, op=exc.op)
            self._send("error", exc)
        except WengertError as exc:
            self._send("error", exc)
        except MemoryError as exc:
            self._send("error", LimitExceeded(f"out of memory in a compute worker ({exc}); it may use "
                                              f"{self.memory_mb} MiB (raise it with --worker-memory-mb)",
                                              limit="memory", flag="--worker-memory-mb"))
        except Exception:
            self.conn.send(("crash", self.seq, traceback.format_exc()))

    def _stream(self, head: Any, items: Iterator) -> None:
        """Send the head, then one item per "next" the supervisor asks for, then "end"."""
        self._send("stream", head)
        for item in items:
            if self._recv()[0] != "next":  # "close": the client is gone
                return
            self._send("item", item)
        if self._recv()[0] == "next":
            self.conn.send(("end", self.seq))

    def _recv(self) -> tuple:
        return self.inbox.popleft() if self.inbox else self.conn.recv()

    def _send(self, kind: str, payload: Any) -> None:
        data, _ = shm.dumps(payload, shm.prefix(self.server_pid, self.slot, self.seq, str(self.parts)))
        self.parts += 1
        self.conn.send((kind, self.seq, data))

    def _check(self, node: Node) -> None:
        """Between nodes: record the node; now and then, look for a "cancel"."""
        known = self.labels.get(id(node))  # by identity, a quarter cheaper than building an (id, op) key
        if known is None or known[0] is not node:
            known = self.labels[id(node)] = (node, f"node {quoted(node.id)} ({short(node.op)})".encode()
                                             [:STATUS_BYTES].ljust(STATUS_BYTES, b"\0"))
        self.status[:] = known[1]
        now = time.monotonic()
        if now < self.next_poll:
            return
        self.next_poll = now + POLL_SECONDS
        while self.conn.poll():
            message = self.conn.recv()
            if message[0] == "cancel" and message[1] == self.seq:
                raise node_error(Cancelled, node.id, node.op, "the call was cancelled")
            self.inbox.append(message)  # a "next" sent ahead: for the stream, afterwards
