"""Graphs as files: `wg.save(graph, path)` and `wg.load(path)`.

The file holds the graph's wire form (a serialized `wengert.v1.Graph`), so a graph traced in
one process can be loaded and sent by any client later, in any language. Loading checks it
exactly as a server checks a graph it receives.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from google.protobuf.message import DecodeError

from wengert.errors import InvalidGraph
from wengert.ir.graph import Graph
from wengert.v1 import graph_pb2
from wengert.transport.wire import graph_from_proto, graph_to_proto


def save(graph: Graph, file: str | os.PathLike | BinaryIO) -> None:
    """Write `graph` to a path or a binary file object (e.g. `io.BytesIO` for bytes)."""
    data = graph_to_proto(graph).SerializeToString(deterministic=True)
    if hasattr(file, "write"):
        file.write(data)
    else:
        with open(file, "wb") as f:
            f.write(data)


def load(file: str | os.PathLike | BinaryIO, registry=None) -> Graph:
    """Read a graph written by `save`, validated against `registry`'s ops (InvalidGraph or
    UnknownOp if it does not check out)."""
    if hasattr(file, "read"):
        data = file.read()
    else:
        with open(file, "rb") as f:
            data = f.read()
    msg = graph_pb2.Graph()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidGraph(f"not a wengert graph: {exc}") from None
    return graph_from_proto(msg, registry)
