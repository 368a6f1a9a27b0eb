"""Resource limits, checked from what the request declares before anything large is built.

Node counts come from the graph message before it is decoded, element counts from tensor
shapes before their bytes are touched, the Jacobian's size from the input and output types
before the basis is allocated. A refusal is RESOURCE_EXHAUSTED naming the limit, the amount
asked for and the flag that raises it, so the operator knows what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from wengert.errors import LimitExceeded
from wengert.v1 import graph_pb2, tensor_pb2


@dataclass(frozen=True)
class Limits:
    max_nodes: int
    max_tensor_elements: int
    max_jacobian_elements: int
    max_batch: int

    def check_graph(self, graph: graph_pb2.Graph) -> None:
        """Node count and the size of every tensor attribute (constants), from the message."""
        _check("graph size", "nodes", len(graph.nodes), self.max_nodes, "--max-nodes")
        for node in graph.nodes:
            for key, attr in node.attrs.items():
                if attr.HasField("tensor"):
                    self._check_tensor(f"node {node.id!r} ({node.op}): attribute {key!r}", attr.tensor)

    def check_signatures(self, signatures) -> None:
        """InferTypes: the count (nodes of a graph being built) and every tensor attribute."""
        _check("signature count", "signatures", len(signatures), self.max_nodes, "--max-nodes")
        for i, signature in enumerate(signatures):
            for key, attr in signature.attrs.items():
                if attr.HasField("tensor"):
                    self._check_tensor(f"signature #{i} ({signature.op}): attribute {key!r}", attr.tensor)

    def check_tensors(self, tensors: Mapping[str, tensor_pb2.Tensor], what: str,
                      batched: bool = False) -> None:
        """Each tensor's element count; with `batched`, its leading axis against --max-batch."""
        for name, tensor in tensors.items():
            self._check_tensor(f"{what} {name!r}", tensor)
            if batched and tensor.shape:
                _check("batch size", f"directions in {what} {name!r}", tensor.shape[0],
                       self.max_batch, "--max-batch")

    def check_jacobian(self, outputs: int, inputs: int) -> None:
        _check("Jacobian size", f"elements ({outputs} outputs x {inputs} inputs)",
               outputs * inputs, self.max_jacobian_elements, "--max-jacobian-elements")

    def _check_tensor(self, what: str, tensor: tensor_pb2.Tensor) -> None:
        count = 1
        for d in tensor.shape:  # negative dimensions are the decoder's to reject
            count *= max(d, 0)
        _check("tensor size", f"elements in {what}", count, self.max_tensor_elements,
               "--max-tensor-elements")


def _check(limit: str, unit: str, amount: int, maximum: int, flag: str) -> None:
    if amount > maximum:
        raise LimitExceeded(f"{limit} limit exceeded: {amount} {unit}, the server allows {maximum} "
                            f"(raise it with {flag})")
