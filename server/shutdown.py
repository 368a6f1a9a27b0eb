"""Graceful shutdown on SIGTERM/SIGINT.

The handlers are installed explicitly because a process running as PID 1 in a container gets
no default action for SIGTERM. They only set events; the main thread drains: health goes
NOT_SERVING (load balancers stop routing here), new calls are refused with UNAVAILABLE (safe
to retry elsewhere), calls in flight get up to the grace period, then the compute workers still
busy are killed and the server stops. A second signal cuts the wait short.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import grpc
from grpc_health.v1.health import HealthServicer

from wengert.server.execution.pool import Pool
from wengert.server.interceptors import CallInterceptor

log = logging.getLogger("wengert.server")


class ShutdownSignals:
    """Catches SIGTERM and SIGINT from construction on."""

    def __init__(self) -> None:
        self.first = threading.Event()
        self.again = threading.Event()
        self.name = ""
        signal.signal(signal.SIGTERM, self._received)
        signal.signal(signal.SIGINT, self._received)

    def _received(self, signum, frame) -> None:
        if self.first.is_set():
            self.again.set()
        else:
            self.name = signal.Signals(signum).name
            self.first.set()

    def wait(self) -> None:
        """Block until the first signal (waking regularly, so handlers run promptly)."""
        while not self.first.wait(0.5):
            pass


def drain(server: grpc.Server, health: HealthServicer, calls: CallInterceptor, grace: float,
          signals: ShutdownSignals, pool: Pool | None = None) -> None:
    """NOT_SERVING at once, refuse new calls, give running ones the grace period, then kill the
    compute workers still busy (their calls end UNAVAILABLE) and stop. The caller then exits the
    process, whatever an in-thread op is still doing."""
    log.info("%s: draining, in-flight calls get up to %.1f s", signals.name, grace)
    deadline = time.monotonic() + grace
    health.enter_graceful_shutdown()
    calls.close()
    if not calls.wait_idle(grace, signals.again):
        log.warning("stopping with calls still running (%s)",
                    "second signal" if signals.again.is_set() else "grace period over")
    if pool is not None:
        pool.close()
    # The handlers are done, but their responses may still be on their way out: grpc's own
    # grace lets them go (and ends any other stream, e.g. a health Watch, by the deadline).
    remaining = 0.0 if signals.again.is_set() else max(deadline - time.monotonic(), 0.0)
    server.stop(remaining).wait(remaining + 0.5)
