"""The scan that finds an over-long string in a request's bytes before they are parsed
(`wengert.server.wire_strings`) agrees with the parsed message: it finds a string exactly when
the message holds one longer than the limit, counts its characters (not bytes), says where it
is, and on bytes that are not a message it returns or gives up, never raises."""

from __future__ import annotations

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import catalogue, cases, mutants
from wengert.plugins.registry import default_registry
from wengert.server.servicer import catalogue as list_ops
from wengert.server.wire_strings import long_string
from wengert.transport.wire import tensor_to_proto
from wengert.v1 import graph_pb2
from wengert.v1 import service_pb2 as pb

OPS = catalogue(list_ops(default_registry()))
LIMIT = 12
REQUEST = pb.EvaluateRequest.DESCRIPTOR
CHECKS = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3 * LIMIT)


def lengths(message) -> list[int]:
    """The length in characters of every string in a parsed message, map keys included."""
    found = []
    for f, value in message.ListFields():
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            for key, item in value.items():
                found.append(len(key))
                found.extend(lengths(item) if hasattr(item, "ListFields") else [len(item)])
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            for item in [value] if hasattr(value, "ListFields") else value:
                found.extend(lengths(item))
        elif f.type == FieldDescriptor.TYPE_STRING:
            found.extend([len(value)] if isinstance(value, str) else map(len, value))
    return found


@st.composite
def requests(draw) -> pb.EvaluateRequest:
    """A random graph of the live catalogue, some of whose names and attributes are replaced by
    text of any length around the limit, with an input tensor."""
    graph = draw(cases(OPS)).graph
    for node in graph.nodes:
        if draw(st.integers(0, 3)) == 0:
            node.id = draw(TEXT)
        if draw(st.integers(0, 3)) == 0:
            node.attrs[draw(TEXT)].s = draw(TEXT)
    if graph.outputs and draw(st.booleans()):
        graph.outputs[0].name = draw(TEXT)
    return pb.EvaluateRequest(graph=graph, inputs={draw(TEXT): tensor_to_proto(np.ones(3))},
                              outputs=draw(st.lists(TEXT, max_size=2)))


@CHECKS
@given(requests())
def test_the_scan_finds_a_long_string_exactly_when_the_parsed_message_has_one(request):
    raw = request.SerializeToString()
    found = long_string(raw, REQUEST, LIMIT, 10_000)
    too_long = [n for n in lengths(pb.EvaluateRequest.FromString(raw)) if n > LIMIT]
    if not too_long:
        assert found is None
    else:
        assert found is not None and found.characters in too_long
        assert found.path and found.start


@CHECKS
@given(data=st.data())
def test_the_scan_of_mutated_bytes_returns_or_gives_up(data):
    raw = data.draw(requests()).SerializeToString()
    for payload in data.draw(mutants(raw, 4)):
        found = long_string(payload, REQUEST, LIMIT, 10_000)
        assert found is None or found.characters > LIMIT


def test_the_path_names_the_node_its_op_and_the_attribute():
    graph = graph_pb2.Graph()
    graph.nodes.add(id="n1", op="sin", inputs=["x"])
    graph.nodes.add(id="n2", op="cast", inputs=["n1"]).attrs["dtype"].s = "é" * 40  # 80 bytes
    found = long_string(pb.EvaluateRequest(graph=graph).SerializeToString(), REQUEST, 39, 100)
    assert (found.characters, found.node, found.op) == (40, "n2", "cast")
    assert found.path == ["graph", "nodes['n2']", "attrs['dtype']", "s"]
    assert long_string(pb.EvaluateRequest(graph=graph).SerializeToString(), REQUEST, 40, 100) is None


def test_a_long_map_key_and_a_long_id_are_found():
    key = pb.EvaluateRequest(inputs={"k" * 50: tensor_to_proto(np.ones(2))}).SerializeToString()
    assert long_string(key, REQUEST, 20, 100).path == ["inputs (a key)"]
    graph_id = pb.EvaluateRequest(graph_id="g" * 50).SerializeToString()
    assert long_string(graph_id, REQUEST, 20, 100).path == ["graph_id"]


def test_more_fields_than_the_scan_walks_are_left_to_the_parser():
    graph = graph_pb2.Graph()
    for i in range(200):
        graph.nodes.add(id=f"n{i}")
    graph.nodes.add(id="long" * 100)
    raw = pb.EvaluateRequest(graph=graph).SerializeToString()
    assert long_string(raw, REQUEST, 20, max_fields=100) is None
    assert long_string(raw, REQUEST, 20, max_fields=1000).characters == 400
