"""Which requests the gRPC thread computes itself instead of handing them to a compute worker.

Handing a request to a worker costs a round trip between processes (pickling, two pipe
messages, a sleeping process woken): a few hundred microseconds, more than a tiny request's
whole computation. A request runs inline when its price says it is tiny (at most `work` units,
`INLINE_STEPS` plan steps and `INLINE_BYTES` at its peak) and its graph uses only builtin ops
without bodies (no loops): our own verified code on that little data, which cannot run long
or crash, so the worker's protections (a kill at the deadline, a crash failing one request)
are not needed there. The deadline is still checked between its nodes. Everything else, and
every graph with a plugin's op, goes to a worker.
"""

from __future__ import annotations

from wengert.execution.cost import Price
from wengert.ir.graph import Graph
from wengert.lru import LRU
from wengert.plugins.registry import Registry

INLINE_STEPS = 64  # plan steps: about 2-5 us each when the arrays are small
INLINE_BYTES = 1 << 20  # bytes live at the request's peak


class Inline:
    """`inline(graph_id, graph, price)`: whether that request runs in the calling thread."""

    def __init__(self, work: int, registry: Registry):
        self.work = work
        self.registry = registry
        self._plain: LRU[str, bool] = LRU(4096)  # graph id -> only builtin ops without bodies

    def __call__(self, graph_id: str, graph: Graph, price: Price) -> bool:
        if price.work > self.work or price.steps > INLINE_STEPS or price.peak_bytes > INLINE_BYTES:
            return False
        plain = self._plain.get(graph_id)
        if plain is None:
            plain = self._plain.setdefault(graph_id, all(self._plain_op(node.op) for node in graph.nodes))
        return plain

    def _plain_op(self, name: str) -> bool:
        op = self.registry.get(name)
        return op.plugin == "builtin" and not any(attr.kind in ("graph", "graphs") for attr in op.attrs)
