"""The queue in front of the compute workers: bounded, fair between clients, cache-aware.

A request takes an idle worker at once, or waits. Waiting is bounded twice: at most
`max_waiting` requests wait in all, and one client (its bearer token or address) may have at
most `max_per_client` requests running or waiting. Past either bound the request is refused with
UNAVAILABLE: the server is busy, for now, and the client retries with backoff (the SDK does), on
this replica or another, so a burst slows its sender down instead of failing it. A freed worker
goes to the clients in turn, oldest request first within a client, so one client's burst does
not starve another's single request. Among idle workers, a request goes to one that already
holds its graph (its derivative graphs and plans are warm there).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Generic, Hashable, TypeVar

from wengert.errors import Unavailable

RETRY_DELAY = 0.2  # seconds a refused client is told to wait (RetryInfo): about a request's time
W = TypeVar("W")  # a worker handle: anything with a `holds(graph_id)` method


@dataclass(eq=False)
class Ticket:
    """One request's place in the queue; `wake` is set when it gets a worker or must stop
    waiting (`stopped`: its deadline passed or its client left)."""

    owner: str
    graph_id: str
    wake: threading.Event = field(default_factory=threading.Event)
    worker: object = None
    stopped: bool = False
    queued_at: float = field(default_factory=time.monotonic)


class FairQueue(Generic[W]):
    def __init__(self, max_waiting: int, max_per_client: int):
        self.max_waiting, self.max_per_client = max_waiting, max_per_client
        self._idle: list[W] = []
        self._waiting: OrderedDict[Hashable, deque[Ticket]] = OrderedDict()  # owner -> tickets, in turn order
        self._count = 0  # tickets waiting
        self._per_client: dict[str, int] = {}  # owner -> running + waiting
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return self._count

    @property
    def idle(self) -> int:
        return len(self._idle)

    def add(self, worker: W) -> None:
        """A worker (new, or back from a request) is idle: give it to the next ticket."""
        with self._lock:
            self._idle.append(worker)
            self._dispatch()

    def remove(self, worker: W) -> None:
        """An idle worker leaves (it is being replaced)."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)

    def enter(self, ticket: Ticket) -> None:
        """Queue `ticket` (or give it a worker at once); refuses over the bounds."""
        with self._lock:
            running = self._per_client.get(ticket.owner, 0)
            if running >= self.max_per_client:
                raise Unavailable(f"this client has {running} requests running or waiting already, the most "
                                  f"one client may have (--max-calls-per-client); retry later",
                                  retry_delay=RETRY_DELAY)
            if not self._idle and self._count >= self.max_waiting:
                raise Unavailable(f"the server is busy: {self._count} requests wait for a compute "
                                  "worker already; retry later, or on another replica", retry_delay=RETRY_DELAY)
            self._per_client[ticket.owner] = running + 1
            self._waiting.setdefault(ticket.owner, deque()).append(ticket)
            self._count += 1
            self._dispatch()

    def leave(self, ticket: Ticket) -> None:
        """`ticket` is done: finished with its worker (released separately), or stopped."""
        with self._lock:
            if ticket.worker is None and ticket in self._waiting.get(ticket.owner, ()):
                self._waiting[ticket.owner].remove(ticket)
                self._count -= 1
                if not self._waiting[ticket.owner]:
                    del self._waiting[ticket.owner]
            left = self._per_client[ticket.owner] - 1
            if left:
                self._per_client[ticket.owner] = left
            else:
                del self._per_client[ticket.owner]

    def _dispatch(self) -> None:
        """Give idle workers to waiting tickets, one client at a time (lock held)."""
        while self._idle and self._waiting:
            owner, tickets = next(iter(self._waiting.items()))
            ticket = tickets.popleft()
            self._count -= 1
            if tickets:
                self._waiting.move_to_end(owner)  # the next client's turn
            else:
                del self._waiting[owner]
            worker = next((w for w in self._idle if w.holds(ticket.graph_id)), self._idle[0])
            self._idle.remove(worker)
            ticket.worker = worker
            ticket.wake.set()
