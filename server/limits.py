"""Limits on what a request's messages may hold, checked before anything is decoded.

Counts come from the graph message (nodes, inputs, string lengths, constants' elements) and
from tensor shapes before their bytes are touched. What a request will *compute* is priced
afterwards, from the decoded graph's types (`wengert.execution.cost`). A refusal is
RESOURCE_EXHAUSTED naming the limit, the amount asked for and the flag that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from google.protobuf.descriptor import Descriptor

from wengert.errors import over_limit, quoted, short
from wengert.server.wire_strings import long_string
from wengert.v1 import graph_pb2, tensor_pb2

SCREEN_FROM = 1 << 20  # bytes: smaller requests are cheap to parse, and checked once parsed


@dataclass(frozen=True)
class WireLimits:
    max_nodes: int
    max_inputs: int
    max_tensor_elements: int
    max_batch: int
    max_string_length: int

    def check_request_bytes(self, raw: bytes, request_type: Descriptor) -> None:
        """Before parsing: a string longer than the limit in a request of more than a MiB is
        refused from its bytes, so a huge attribute is not copied twice more (by the parser,
        then by Python) on its way to `check_graph`."""
        if len(raw) <= SCREEN_FROM:
            return
        # a graph within the limits has about one field per node and input on any one path (past
        # that, parsing copies nothing worse than the message gRPC already holds three times)
        fields = self.max_nodes + self.max_inputs + 1024
        found = long_string(raw, request_type, self.max_string_length, fields)
        if found is not None:
            raise over_limit("string length", found.characters, self.max_string_length,
                             f"characters in {'.'.join(found.path)} {found.start[:24]!r}...",
                             "--max-string-length", node=found.node, op=found.op)

    def check_graph(self, graph: graph_pb2.Graph) -> None:
        """Node and input counts, every name and string attribute's length, and the size of
        every tensor attribute (constants), from the message; the nodes of bodies (loops,
        branches) count towards the graph's, and are checked the same way."""
        nodes = node_count(graph)
        if nodes > self.max_nodes:
            raise over_limit("graph size", nodes, self.max_nodes, "nodes (bodies included)", "--max-nodes")
        self._check_parts(graph)

    def _check_parts(self, graph: graph_pb2.Graph) -> None:
        if len(graph.inputs) > self.max_inputs:
            raise over_limit("graph inputs", len(graph.inputs), self.max_inputs, "inputs", "--max-inputs")
        self._check_strings("input name", (i.name for i in graph.inputs))
        self._check_strings("output name", (o.name for o in graph.outputs))
        self._check_strings("output value", (o.value for o in graph.outputs))
        for node in graph.nodes:
            self._check_strings("node id", (node.id,))
            self._check_strings(f"node {quoted(node.id)}: op name", (node.op,))
            self._check_strings(f"node {quoted(node.id)}: input", node.inputs)
            for key, attr in node.attrs.items():
                where = f"node {quoted(node.id)} ({short(node.op)}): attribute {quoted(key)}"
                self._check_strings(where, (key, attr.s))
                if attr.HasField("tensor"):
                    self._check_tensor(where, attr.tensor)
                for body in bodies(attr):
                    self._check_parts(body)

    def check_signatures(self, signatures) -> None:
        """InferTypes: the count (nodes of a graph being built), every op name and string
        attribute's length, and every tensor attribute."""
        if len(signatures) > self.max_nodes:
            raise over_limit("signature count", len(signatures), self.max_nodes, "signatures", "--max-nodes")
        for i, signature in enumerate(signatures):
            self._check_strings(f"signature #{i}: op name", (signature.op,))
            for key, attr in signature.attrs.items():
                where = f"signature #{i} ({short(signature.op)}): attribute {quoted(key)}"
                self._check_strings(where, (key, attr.s))
                if attr.HasField("tensor"):
                    self._check_tensor(where, attr.tensor)
                for body in bodies(attr):
                    self.check_graph(body)

    def check_tensors(self, tensors: Mapping[str, tensor_pb2.Tensor], what: str,
                      batched: bool = False) -> None:
        """Each tensor's name and element count; with `batched`, its leading axis against
        --max-batch."""
        for name, tensor in tensors.items():
            self.check_tensor(what, name, tensor, batched)

    def check_tensor(self, what: str, name: str, tensor: tensor_pb2.Tensor, batched: bool = False) -> None:
        """`check_tensors` for one tensor, `what` it is and its `name`."""
        self._check_strings(what, (name,))
        self._check_tensor(lambda: f"{what} {quoted(name)}", tensor)
        if batched and tensor.shape and tensor.shape[0] > self.max_batch:
            raise over_limit("batch size", tensor.shape[0], self.max_batch,
                             f"directions in {what} {quoted(name)}", "--max-batch")

    def _check_tensor(self, what, tensor: tensor_pb2.Tensor) -> None:
        """Its element count; `what` names it (a string, or a function making one: messages
        are only written for errors)."""
        count = 1
        for d in tensor.shape:  # negative dimensions are the decoder's to reject
            count *= max(d, 0)
        if count > self.max_tensor_elements:
            named = what() if callable(what) else what
            raise over_limit("tensor size", count, self.max_tensor_elements, f"elements in {named}",
                             "--max-tensor-elements")

    def _check_strings(self, what: str, strings: Iterable[str]) -> None:
        for text in strings:
            if len(text) > self.max_string_length:
                raise over_limit("string length", len(text), self.max_string_length,
                                 f"characters in {what} {quoted(text, 24)}", "--max-string-length")


def bodies(attr: graph_pb2.AttrValue) -> list[graph_pb2.Graph]:
    """The graphs an attribute holds: a loop's body, a switch's branches."""
    if attr.HasField("graph"):
        return [attr.graph]
    return list(attr.graphs.values) if attr.HasField("graphs") else []


def node_count(graph: graph_pb2.Graph) -> int:
    """Nodes of a graph message, its bodies' included (however deeply nested)."""
    return len(graph.nodes) + sum(node_count(body) for node in graph.nodes
                                  for attr in node.attrs.values() for body in bodies(attr))
