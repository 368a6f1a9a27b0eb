"""The supervisor: a pool of compute worker processes that the server can always stop.

The gRPC threads decode and price a request; the pool queues it (`queue.FairQueue`), hands it to
an idle worker (`worker.py`) with its tensors in shared memory (`shm.py`), and waits for the
result, the request's deadline, or its client leaving, whichever comes first:

* a deadline or a cancellation is first asked of the worker (it checks between nodes); a worker
  that has not stopped within `GRACE` seconds is killed, whatever its op is doing, and a fresh one
  takes its slot, so the caller gets its status promptly and correctly labelled;
* a worker that dies (a signal, the kernel's OOM killer) fails only the request it was running:
  RESOURCE_EXHAUSTED when memory was the likely cause, otherwise INTERNAL, logged with the node
  and op it was running; it is replaced and its shared memory swept.

Each worker keeps its own caches of graphs, derivative graphs and plans (`--graph-cache-mb`
split between the workers), and the queue routes a request to a worker that already holds its
graph when one is idle.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from typing import Any, Iterator

from wengert.errors import Cancelled, DeadlineExceeded, LimitExceeded, Unavailable, WengertError
from wengert.execution.call import Call
from wengert.jacobians.sweeps import Sweeps
from wengert.lru import LRU
from wengert.server.execution import shm, worker
from wengert.server.execution.queue import FairQueue, Ticket

GRACE = 0.05  # seconds a worker has to stop by itself before it is killed
START_TIMEOUT = 60.0  # seconds a new worker has to load its plugins
DEADLINE_SKEW = 0.1  # seconds: a call ended this close to its deadline (or within a quarter of
# its time) ended by the deadline: the client's timer fires first and cancels the call, and that
# cancellation reaches the server a network trip (and, under load, a scheduling delay) later
NO_DEADLINE = 1e8  # seconds: a call with more time than this has no deadline

log = logging.getLogger("wengert.server")


class WorkerError(RuntimeError):
    """A worker failed in a way no client input explains (a bug, a crashed op): INTERNAL, with the
    details in the server's log only."""


class Request:
    """One request's deadline, and whether its client left (gRPC's callback says so)."""

    def __init__(self, context):
        remaining = context.time_remaining() if context is not None else None
        no_deadline = remaining is None or remaining > NO_DEADLINE  # gRPC's "infinity" is a huge number
        self.deadline = None if no_deadline else time.monotonic() + remaining
        self.skew = 0.0 if no_deadline else max(DEADLINE_SKEW, remaining / 4)
        self.left = False
        self.ticket: Ticket | None = None
        self.wake_fd: int | None = None  # the worker's wake-up pipe while it runs this request
        if context is not None:
            context.add_callback(self.stop)

    def stop(self) -> None:
        """gRPC ended the call (deadline or cancellation): stop waiting at once."""
        self.left = True
        if self.ticket is not None:
            self.ticket.wake.set()
        fd = self.wake_fd
        if fd is not None:
            try:
                os.write(fd, b"!")
            except OSError:
                pass

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    @property
    def over(self) -> bool:
        return self.left or (self.deadline is not None and time.monotonic() >= self.deadline)

    def error(self) -> WengertError:
        """Why the request stopped: its deadline (see DEADLINE_SKEW), or its client leaving."""
        if self.deadline is not None and time.monotonic() >= self.deadline - self.skew:
            return DeadlineExceeded("the deadline passed while computing")
        return Cancelled("the client cancelled the call")


class Handle:
    """The supervisor's side of one worker."""

    def __init__(self, slot: int, process, conn):
        self.slot, self.process, self.conn = slot, process, conn
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        self.graphs: LRU[str, bool] = LRU(256)  # ids of the graphs the worker holds, most recent
        self.seq = 0
        # What a request waits on, registered once: an answer, the worker's death, a wake-up.
        self.poller = select.poll()
        for fd in (conn.fileno(), process.sentinel, self.wake_read):
            self.poller.register(fd, select.POLLIN)

    def wait(self, timeout: float | None) -> set[int]:
        """The file descriptors ready within `timeout` seconds (None: no limit)."""
        ms = None if timeout is None else int(timeout * 1000) + 1
        return {fd for fd, _ in self.poller.poll(ms)}

    def holds(self, graph_id: str) -> bool:
        return self.graphs.get(graph_id) is not None

    def drain_wake(self) -> None:
        try:
            while os.read(self.wake_read, 64):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        self.conn.close()
        os.close(self.wake_read)
        os.close(self.wake_write)


class Pool:
    """`size` worker processes with `settings`, queued by `queue`; `metrics` records what they do."""

    def __init__(self, size: int, settings: worker.Settings, queue: FairQueue, metrics):
        self.size, self.settings, self.queue, self.metrics = size, settings, queue, metrics
        self.pid = os.getpid()
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["wengert.server.execution.worker"])
        self._closing = False
        self._claim: int | None = None  # the lock on this server's files in /dev/shm, once started
        self._handles: dict[int, Handle] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every worker and wait until each has loaded its plugins (first unlinking what
        servers killed outright left in shared memory)."""
        self._claim = shm.claim(self.pid)
        orphans = shm.sweep_orphans()
        if orphans:
            log.info("removed %d shared-memory files of servers no longer running", orphans)
        for slot in range(self.size):
            self._start(slot)

    # -- running a call ----------------------------------------------------------------------
    def run(self, call: Call, graph_id: str, owner: str, context) -> Any:
        """`call`'s result from a worker: an object, or for a streamed result (a Jacobian in
        pieces, a minimization) an iterator whose items are computed as they are read."""
        request = Request(context)
        ticket = request.ticket = Ticket(owner, graph_id)
        self.queue.enter(ticket)
        self.metrics.queue_length.set(self.queue.waiting)
        try:
            if not ticket.wake.wait(request.remaining()) or request.over:
                raise request.error()
        except BaseException:
            self.queue.leave(ticket)
            if ticket.worker is not None:
                self._release(ticket.worker)
            raise
        finally:
            self.metrics.queue_length.set(self.queue.waiting)
            self.metrics.queued.observe(time.monotonic() - ticket.queued_at)
        handle, started, streaming = ticket.worker, time.monotonic(), False
        self._busy()
        request.wake_fd = handle.wake_write
        try:
            kind, payload = self._send_call(handle, request, call, graph_id)
            if kind == "stream":
                streaming = True
                return self._stream(handle, request, ticket, payload, started)
            return payload
        finally:
            if not streaming:
                self._finish(handle, request, ticket, started)

    def _send_call(self, handle: Handle, request: Request, call: Call, graph_id: str) -> tuple[str, Any]:
        handle.seq += 1
        bare = dataclasses.replace(call, graph=None)
        kind, payload = self._exchange(handle, request, (bare, graph_id, None if handle.holds(graph_id)
                                                         else call.graph))
        if kind == "missing":  # the worker evicted it: send it along
            kind, payload = self._exchange(handle, request, (bare, graph_id, call.graph))
        handle.graphs.setdefault(graph_id, True)
        return kind, payload

    def _exchange(self, handle: Handle, request: Request, run: tuple | None) -> tuple[str, Any]:
        """Send `run` (a call) or, when None, ask for the next streamed item; wait for the
        answer: (kind, loaded payload). Raises the worker's error, or the request's own when it
        stops first (the worker then stops, or is killed)."""
        names: list[str] = []
        if run is None:
            message = ("next", handle.seq)
        else:
            data, names = shm.dumps(run, shm.prefix(self.pid, handle.slot, handle.seq, "in"))
            message = ("run", handle.seq, data)
        try:
            handle.conn.send(message)
        except OSError:
            shm.discard(names)
            raise self._died(handle) from None
        while True:
            ready = handle.wait(request.remaining())
            if handle.conn.fileno() in ready:
                try:
                    kind, seq, *rest = handle.conn.recv()
                except (EOFError, OSError):
                    raise self._died(handle) from None
                if kind == "crash":
                    raise WorkerError(f"in compute worker {handle.slot}:\n{rest[0]}")
                payload = shm.loads(rest[0]) if rest else None
                if seq != handle.seq:
                    continue  # an answer to a request given up on
                if kind == "error":
                    if isinstance(payload, LimitExceeded) and payload.flag == "--worker-memory-mb":
                        self._replace(handle, "memory")  # a fresh process, its memory all returned
                    raise payload
                return kind, payload
            if handle.process.sentinel in ready:
                raise self._died(handle)
            if request.over:
                raise self._interrupt(handle, request)
            handle.drain_wake()

    def _stream(self, handle: Handle, request: Request, ticket: Ticket, head: Any, started: float):
        """A streamed result: its items are pulled from the worker one by one, as gRPC sends."""
        def items() -> Iterator:
            done = False
            try:
                while True:
                    kind, item = self._exchange(handle, request, None)
                    if kind == "end":
                        done = True
                        return
                    yield item
            finally:
                if not done and self._current(handle):
                    try:
                        handle.conn.send(("close", handle.seq))
                    except OSError:
                        pass
                self._finish(handle, request, ticket, started)

        return dataclasses.replace(head, pieces=items()) if isinstance(head, Sweeps) else items()

    def _finish(self, handle: Handle, request: Request, ticket: Ticket, started: float) -> None:
        request.wake_fd = None
        self.queue.leave(ticket)
        self.metrics.computing.observe(time.monotonic() - started)
        if self._current(handle):
            handle.drain_wake()
            self._release(handle)

    def _release(self, handle: Handle) -> None:
        self.queue.add(handle)
        self._busy()

    def _busy(self) -> None:
        self.metrics.busy_workers.set(self.size - self.queue.idle)

    def _current(self, handle: Handle) -> bool:
        return self._handles.get(handle.slot) is handle

    # -- stopping and replacing workers --------------------------------------------------------
    def _interrupt(self, handle: Handle, request: Request) -> WengertError:
        """The request stops (deadline or client gone): ask the worker to stop, and kill it if it
        has not answered within GRACE seconds."""
        error = request.error()
        try:
            handle.conn.send(("cancel", handle.seq))
            while handle.conn.poll(GRACE):
                kind, seq, *rest = handle.conn.recv()
                if rest and kind != "crash":
                    shm.loads(rest[0])  # unlinks the answer's segments: nobody wants it now
                if seq == handle.seq and kind in ("error", "crash", "result", "missing"):
                    return error  # the worker is idle again
                if seq == handle.seq and kind == "stream":
                    handle.conn.send(("close", handle.seq))
                    return error
        except (EOFError, OSError):
            pass
        self._replace(handle, "deadline" if isinstance(error, DeadlineExceeded) else "cancelled")
        return error

    def _died(self, handle: Handle) -> Exception:
        """The worker died on its own: fail this request only, and replace the worker."""
        handle.process.join(1.0)
        code = handle.process.exitcode
        running = worker.read_status(worker.status_path(self.pid, handle.slot)) or "a request"
        if self._closing:
            return Unavailable("the server is shutting down; retry on another replica", reason="SHUTTING_DOWN",
                               retry_delay=0.0)
        if code == -signal.SIGKILL:  # not ours: the kernel's OOM killer, most likely
            self._replace(handle, "memory")
            return LimitExceeded(f"a compute worker was killed while running {running}, most likely out "
                                 "of memory (give the container more memory, or lower --memory-budget-mb)",
                                 limit="memory")
        what = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        self._replace(handle, "crash")
        return WorkerError(f"compute worker {handle.slot} (pid {handle.process.pid}) died with {what} "
                           f"while running {running}")

    def _replace(self, handle: Handle, cause: str) -> None:
        """Kill `handle`'s worker if it still runs, sweep its shared memory, start a new one."""
        with self._lock:
            if not self._current(handle):
                return
            del self._handles[handle.slot]
        self.queue.remove(handle)
        if handle.process.is_alive():
            handle.process.kill()
        self.metrics.restarts.labels(cause).inc()
        log.warning("replacing compute worker %d (%s)", handle.slot, cause)
        if not self._closing:
            threading.Thread(target=self._restart, args=(handle,), daemon=True,
                             name=f"wengert-restart-{handle.slot}").start()

    def _restart(self, handle: Handle) -> None:
        handle.process.join()
        handle.close()
        shm.sweep(shm.slot_prefix(self.pid, handle.slot))
        try:
            self._start(handle.slot)
        except Exception:
            log.exception("could not restart compute worker %d", handle.slot)

    def _start(self, slot: int) -> None:
        with open(worker.status_path(self.pid, slot), "wb") as f:
            f.write(bytes(worker.STATUS_BYTES))
        parent, child = self._context.Pipe()
        process = self._context.Process(target=worker.main, args=(child, self.settings, self.pid, slot),
                                        name=f"wengert-worker-{slot}", daemon=True)
        process.start()
        child.close()
        if not parent.poll(START_TIMEOUT):
            process.kill()
            raise RuntimeError(f"compute worker {slot} did not start within {START_TIMEOUT} s")
        try:
            parent.recv()  # ("ready", pid)
        except EOFError:
            raise RuntimeError(f"compute worker {slot} failed to start (exit code {process.exitcode})") from None
        handle = Handle(slot, process, parent)
        with self._lock:
            if self._closing:
                process.kill()
                return
            self._handles[slot] = handle
        self._release(handle)

    def close(self) -> None:
        """Kill every worker (shutdown): requests still running fail as UNAVAILABLE."""
        with self._lock:
            self._closing = True
            handles = list(self._handles.values())
        for handle in handles:
            handle.process.kill()
        for handle in handles:
            handle.process.join(5)
        shm.sweep(f"wengert-{self.pid}-")
        if self._claim is not None:
            os.close(self._claim)
