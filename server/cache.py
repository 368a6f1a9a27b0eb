"""The graph cache: decoded, validated graphs by content hash, least recently used evicted.

A graph is decoded and checked once; afterwards a request names it by `graph_id` (the
digest of its canonical form) or sends the same bytes again, which a second, cheaper key (a
hash of the wire bytes) recognizes without decoding. The cache hands out the same `Graph`
object every time, so the engine's per-graph caches (derivative graphs, plans) hit too.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from wengert.errors import GraphNotFound
from wengert.ir.graph import Graph
from wengert.lru import LRU
from wengert.v1 import graph_pb2
from wengert.transport.wire import graph_digest


class GraphCache:
    def __init__(self, size: int, record: Callable[[bool], None] = lambda hit: None):
        self._record = record  # called with hit=True/False, for metrics
        self._graphs: LRU[str, Graph] = LRU(size)
        # wire-bytes hash -> digest; stale entries (digest evicted) just miss
        self._aliases: LRU[bytes, str] = LRU(4 * size)

    def get(self, graph_id: str) -> Graph:
        """The graph held under `graph_id`, or GraphNotFound (NOT_FOUND)."""
        graph = self._graphs.get(graph_id)
        self._record(graph is not None)
        if graph is None:
            raise GraphNotFound(f"unknown graph_id {graph_id!r}: this server does not hold it "
                                "(never sent, or evicted); send the full graph")
        return graph

    def put(self, msg: graph_pb2.Graph, decode: Callable[[graph_pb2.Graph], Graph]) -> tuple[str, Graph]:
        """(graph_id, graph) for a graph sent in full, decoding it only if not seen before."""
        wire_key = hashlib.sha256(msg.SerializeToString(deterministic=True)).digest()
        digest = self._aliases.get(wire_key)
        graph = self._graphs.get(digest) if digest is not None else None
        self._record(graph is not None)
        if graph is not None:
            return digest, graph
        graph = decode(msg)
        digest = graph_digest(graph)
        graph = self._graphs.setdefault(digest, graph)  # a racing twin keeps the first object
        self._aliases.setdefault(wire_key, digest)
        return digest, graph

    def __len__(self) -> int:
        return len(self._graphs)
