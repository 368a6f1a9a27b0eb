"""The graph cache is bounded in bytes (constants and decoded nodes), not only in count, and one
client's burst of large graphs cannot flush everybody else's: a client holds at most its share,
and loses its own oldest graphs first. Through a server: graphs carrying 8 MB constants each stop
adding to the server's memory once its caches are full, and every request is answered (the
evicted ones resent)."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.errors import GraphNotFound
from wengert.server.cache import GraphCache, graph_bytes
from wengert.testing import race, start_server
from wengert.transport.wire import graph_from_proto, graph_to_proto

MB = 1 << 20


def big_graph(k: int, megabytes: int = 1):
    """A graph carrying a constant of `megabytes`, different for each `k`."""
    constant = np.full(megabytes * MB // 8, float(k))
    return graph_to_proto(wg.trace(lambda x: wg.sum(x * constant), np.ones(megabytes * MB // 8)))


def put(cache: GraphCache, k: int, owner: str, megabytes: int = 1) -> str:
    return cache.put(big_graph(k, megabytes), graph_from_proto, owner)[0]


def test_graph_bytes_count_constants_and_nodes():
    graph = graph_from_proto(big_graph(0))
    assert MB <= graph_bytes(graph) < MB + 64 * 1024


def test_the_cache_is_bounded_in_bytes_and_evicts_the_least_recently_used():
    cache = GraphCache(size=100, max_bytes=5 * MB, share=1.0)
    ids = [put(cache, k, "a") for k in range(8)]
    assert len(cache) == 4 and cache.bytes <= 5 * MB  # 1 MB and a little each: four fit
    cache.get(ids[4])  # used: now the most recent
    put(cache, 8, "a")
    with pytest.raises(GraphNotFound, match="evicted"):
        cache.get(ids[5])  # the least recently used went
    assert cache.get(ids[4]) is not None


def test_one_clients_burst_cannot_flush_another_clients_graphs():
    cache = GraphCache(size=100, max_bytes=8 * MB, share=0.5)
    theirs = [put(cache, k, "them") for k in range(3)]
    burst = [put(cache, 100 + k, "me") for k in range(20)]
    for graph_id in theirs:
        assert cache.get(graph_id) is not None  # a burst of 20 from "me" left all three
    assert cache.get(burst[-1]) is not None
    assert sum(1 for g in burst if _held(cache, g)) <= 3  # "me" keeps at most its half


def test_a_graph_larger_than_a_clients_share_is_served_but_not_kept():
    cache = GraphCache(size=100, max_bytes=4 * MB, share=0.5)
    graph_id = put(cache, 0, "a", megabytes=3)
    assert not _held(cache, graph_id) and len(cache) == 0


def _held(cache: GraphCache, graph_id: str) -> bool:
    try:
        cache.get(graph_id)
    except GraphNotFound:
        return False
    return True


def test_a_server_sent_60_graphs_of_8_mb_stops_growing_at_its_cache_bound():
    """After the caches fill (20 graphs), 40 more graphs of 8 MB (320 MB unbounded) add no more
    than allocator noise to the server's and its workers' peak memory."""
    with start_server("--graph-cache-mb", "64") as server, wg.Client(server.target) as client:
        x = np.ones(1)  # broadcast against the constant each graph carries: 8 MB of float64

        def send(k: int) -> None:
            constant = np.full(MB, float(k))
            assert float(client.evaluate(lambda x: wg.sum(x * constant), x)) == k * MB

        for k in range(20):
            send(k)
        filled = server.peak_rss()
        for k in range(20, 60):
            send(k)
        assert server.peak_rss() - filled < 64 * MB, f"{(server.peak_rss() - filled) / MB:.0f} MB"
        send(0)  # long evicted: the SDK resends it


def test_lookups_without_the_lock_while_clients_over_their_share_evict():
    """Look-ups take no lock and reorder the map while a writer walks it for the oldest graph
    of a client over its share, racing step by step."""
    graphs = [graph_to_proto(wg.trace(lambda x, k=k: x * float(k) + 1.0, np.ones(3))) for k in range(24)]
    cache = GraphCache(size=100, max_bytes=12 * 512 * 4, share=0.5)  # a few graphs per client
    ids = [cache.put(g, graph_from_proto, "seed")[0] for g in graphs]

    def look() -> None:
        for graph_id in ids:
            _held(cache, graph_id)

    def send(owner: str) -> None:
        for i in range(3000):
            cache.put(graphs[(5 * i + len(owner)) % len(graphs)], graph_from_proto, owner)

    errors = race([lambda: send("a"), lambda: send("bb")], look)
    assert not errors, errors[0]
    held = [graph_id for graph_id in ids if _held(cache, graph_id)]
    assert 0 < len(held) == len(cache) and cache.bytes <= cache.max_bytes
