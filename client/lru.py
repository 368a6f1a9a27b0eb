"""A small thread-safe LRU map. The engine's derivative graphs and plans, the server's graph
cache and the SDK's graph ids all keep their most recently used entries with it.

Reads take no lock: every request reads several of these maps, and under CPython a lock
taken by many threads at once costs far more than the read (a thread that loses the GIL
inside the lock stalls every other reader behind it: 8 server threads ran a small request at
half speed). A read is two steps the GIL makes atomic each (a lookup, then a move to the end)
and never removes anything, so writers, which hold the lock among themselves, see a map
that is only ever reordered under them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries (and, with `weigh`, at most `max_bytes` of them as `weigh(key,
    value)` counts: a key can hold large objects too); reading or writing an entry makes it the
    most recent. An entry heavier than `max_bytes` on its own is handed back but not kept."""

    def __init__(self, size: int, max_bytes: int | None = None,
                 weigh: Callable[[K, V], int] | None = None):
        self.size = max(size, 1)
        self.max_bytes, self._weigh = max_bytes, weigh
        self.bytes = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}
        self._lock = threading.Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        return read(self._items, key, default)

    def setdefault(self, key: K, value: V) -> V:
        """The value held under `key`, storing `value` there first if there is none (so of
        two threads computing the same entry, both get the first one stored)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            weight = self._weigh(key, value) if self._weigh is not None else 0
            if self.max_bytes is not None and weight > self.max_bytes:
                return value
            self._items[key], self._weights[key] = value, weight
            self.bytes += weight
            while len(self._items) > self.size or (self.max_bytes is not None and self.bytes > self.max_bytes):
                old, _ = self._items.popitem(last=False)
                self.bytes -= self._weights.pop(old)
            return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value under `key`, made (outside the lock) and stored when missing."""
        found = self.get(key, _MISSING)
        return self.setdefault(key, make()) if found is _MISSING else found

    def pop(self, key: K) -> None:
        with self._lock:
            if self._items.pop(key, _MISSING) is not _MISSING:
                self.bytes -= self._weights.pop(key)

    def __len__(self) -> int:
        return len(self._items)


_MISSING: object = object()


def read(items: OrderedDict, key, default=None):
    """`items[key]` (or `default`), made the most recent, without a lock (see above): for
    LRU maps with bookkeeping of their own, such as the server's graph cache."""
    value = items.get(key, _MISSING)
    if value is _MISSING:
        return default
    try:
        items.move_to_end(key)
    except KeyError:  # evicted by a writer in between: the value read is still right
        pass
    return value
