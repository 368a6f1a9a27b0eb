"""The graph cache: decoded, validated graphs by content hash, bounded in count and in bytes.

A graph is decoded and checked once; afterwards a request names it by `graph_id` (the
digest of its canonical form) or sends the same bytes again, which a second, cheaper key (a
hash of the wire bytes) recognizes without decoding. The cache hands out the same `Graph`
object every time, so the engine's per-graph caches (derivative graphs, plans) hit too.

Eviction is least recently used, with a share per client: one client's graphs (its `owner`,
the bearer token or the peer's address) may take at most `share` of the bytes, and a client
over its share loses its own least recently used graphs first. So a burst of large graphs from
one client cannot flush everybody else's, while a single client alone can still use most of
the cache. A graph larger than a client's share is served but not kept: the client resends it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from wengert.errors import GraphNotFound, quoted
from wengert.ir.graph import Graph
from wengert.lru import LRU, read
from wengert.transport.wire import graph_digest
from wengert.v1 import graph_pb2

NODE_BYTES = 512  # what a decoded node (its records, tuples and type) holds, roughly


def graph_bytes(graph: Graph) -> int:
    """The memory a decoded graph holds: its tensors, and its nodes' records."""
    return graph.constant_bytes + NODE_BYTES * (len(graph.nodes) + len(graph.inputs))


@dataclass
class _Entry:
    graph: Graph
    size: int
    owner: str


class GraphCache:
    def __init__(self, size: int, max_bytes: int, share: float = 0.5,
                 record: Callable[[bool], None] = lambda hit: None):
        self.size, self.max_bytes = max(size, 1), max_bytes
        self.share = max(1, int(max_bytes * share))  # bytes one owner may hold
        self._record = record  # called with hit=True/False, for metrics
        self._graphs: OrderedDict[str, _Entry] = OrderedDict()
        self._owned: dict[str, int] = {}
        self.bytes = 0
        self._lock = threading.Lock()
        # wire-bytes hash -> digest; stale entries (digest evicted) just miss
        self._aliases: LRU[bytes, str] = LRU(4 * self.size)

    def get(self, graph_id: str) -> Graph:
        """The graph held under `graph_id`, or GraphNotFound (NOT_FOUND)."""
        graph = self._lookup(graph_id)
        self._record(graph is not None)
        if graph is None:
            raise GraphNotFound(f"unknown graph_id {quoted(graph_id)}: this server does not hold it "
                                "(never sent, or evicted); send the full graph", graph_id=graph_id,
                                field="graph_id")
        return graph

    def put(self, msg: graph_pb2.Graph, decode: Callable[[graph_pb2.Graph], Graph],
            owner: str = "") -> tuple[str, Graph]:
        """(graph_id, graph) for a graph sent in full, decoding it only if not seen before."""
        wire_key = hashlib.sha256(msg.SerializeToString(deterministic=True)).digest()
        digest = self._aliases.get(wire_key)
        graph = self._lookup(digest) if digest is not None else None
        self._record(graph is not None)
        if graph is not None:
            return digest, graph
        graph = decode(msg)
        digest = graph_digest(graph)
        graph = self._keep(digest, graph, owner)
        self._aliases.setdefault(wire_key, digest)
        return digest, graph

    def _lookup(self, graph_id: str) -> Graph | None:
        entry = read(self._graphs, graph_id)  # without the lock: writers see only a reordering
        return None if entry is None else entry.graph

    def _keep(self, digest: str, graph: Graph, owner: str) -> Graph:
        """Store `graph` for `owner` within the bounds; a racing twin keeps the first object."""
        size = graph_bytes(graph)
        with self._lock:
            found = self._graphs.get(digest)
            if found is not None:
                self._graphs.move_to_end(digest)
                return found.graph
            if size > self.share:
                return graph
            # Look-ups reorder the map at any moment without the lock: walk a snapshot of it, and
            # take the oldest in one step (an iterator over the map itself would fail).
            while self._owned.get(owner, 0) + size > self.share:
                self._forget(self._graphs.pop(next(k for k, e in list(self._graphs.items()) if e.owner == owner)))
            while self._graphs and (len(self._graphs) >= self.size or self.bytes + size > self.max_bytes):
                self._forget(self._graphs.popitem(last=False)[1])
            self._graphs[digest] = _Entry(graph, size, owner)
            self._owned[owner] = self._owned.get(owner, 0) + size
            self.bytes += size
            return graph

    def _forget(self, entry: _Entry) -> None:
        """Account for `entry`, taken out of the map."""
        self.bytes -= entry.size
        self._owned[entry.owner] -= entry.size
        if not self._owned[entry.owner]:
            del self._owned[entry.owner]

    def __len__(self) -> int:
        return len(self._graphs)
