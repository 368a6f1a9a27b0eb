"""A small thread-safe LRU map. The engine's derivative graphs and plans, the server's graph
cache and the SDK's graph ids all keep their most recently used entries with it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries; reading or writing an entry makes it the most recent."""

    def __init__(self, size: int):
        self.size = max(size, 1)
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def setdefault(self, key: K, value: V) -> V:
        """The value held under `key`, storing `value` there first if there is none (so of
        two threads computing the same entry, both get the first one stored)."""
        with self._lock:
            value = self._items.setdefault(key, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value under `key`, made (outside the lock) and stored when missing."""
        found = self.get(key, _MISSING)
        return self.setdefault(key, make()) if found is _MISSING else found

    def pop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


_MISSING: object = object()
