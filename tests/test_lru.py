"""The LRU map the engine, the server's graph cache and the SDK's graph ids share."""

from __future__ import annotations

import threading

from wengert.lru import LRU
from wengert.testing import race


def test_the_least_recently_used_entry_is_evicted():
    lru = LRU(2)
    lru.setdefault("a", 1)
    lru.setdefault("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.setdefault("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert len(lru) == 2


def test_setdefault_keeps_the_first_value_and_pop_forgets():
    lru = LRU(4)
    assert lru.setdefault("k", "first") == "first"
    assert lru.setdefault("k", "second") == "first"
    lru.pop("k")
    lru.pop("absent")
    assert lru.get("k", "gone") == "gone"


def test_get_or_make_makes_once_and_racing_makers_share_the_first_value():
    lru, made, results = LRU(4), [], []
    barrier = threading.Barrier(4)

    def make():
        barrier.wait(timeout=5)
        made.append(object())
        return made[-1]

    threads = [threading.Thread(target=lambda: results.append(lru.get_or_make("k", make))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 4 and len({id(r) for r in results}) == 1
    assert lru.get_or_make("k", lambda: 1 / 0) is results[0]  # present: make is not called


def test_reads_without_the_lock_keep_the_map_whole_while_writers_evict():
    """Reads take no lock and writers evict under them, racing step by step."""
    lru: LRU[int, int] = LRU(8, max_bytes=40, weigh=lambda key, value: value)

    def read() -> None:
        for key in range(32):
            value = lru.get(key)
            assert value is None or value == key % 7 + 1, (key, value)

    def write(offset: int) -> None:
        for i in range(20_000):
            key = (7 * i + offset) % 32
            lru.setdefault(key, key % 7 + 1)
            if i % 5 == 0:
                lru.pop((key + 3) % 32)

    errors = race([lambda: write(0), lambda: write(1)], read)
    assert not errors, errors[0]
    held = {key: value for key in range(32) if (value := lru.get(key)) is not None}
    assert 0 < len(held) == len(lru) <= 8
    assert lru.bytes == sum(held.values()) <= 40  # the weights of exactly the entries held
