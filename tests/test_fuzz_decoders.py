"""Fuzzing the decoders and validators in-process, where it is fast: whatever arrives,
`tensor_from_proto`, `graph_from_proto`, the builder and the derivative transforms raise only
domain errors (WengertError subclasses, which carry a status code), never another exception.
The service fuzz (test_fuzz_service.py) checks the same through a server; these reach more
messages per second. Derandomized like it, and as long with WENGERT_FUZZ_MESSAGES set."""

from __future__ import annotations

import os

import numpy as np
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import HUGE, attr_values, catalogue, cases, declared_types, mutants, rarely
from wengert.errors import InvalidTensor, WengertError
from wengert.execution.engine import Engine
from wengert.ir.builder import GraphBuilder
from wengert.ir.graph import TensorType
from wengert.plugins.registry import default_registry
from wengert.server.servicer import catalogue as list_ops
from wengert.transport.wire import attr_from_proto, graph_from_proto, tensor_from_proto
from wengert.v1 import graph_pb2, tensor_pb2

OPS = catalogue(list_ops(default_registry()))  # what ListOps answers, built in-process
EXAMPLES = max(200, int(os.environ.get("WENGERT_FUZZ_MESSAGES", "0")) // 20)
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
DIMENSIONS = st.one_of(st.integers(0, 4), st.sampled_from(HUGE), st.integers(-(2**63), 2**63 - 1))


@FUZZ
@given(dtype=st.integers(-2, 9), shape=st.lists(DIMENSIONS, max_size=20),
       extra=st.sampled_from((0, 0, 1, -1)), data=st.data())
def test_tensors_decode_or_are_invalid(dtype, shape, extra, data):
    count = int(np.prod([max(d, 0) for d in shape], dtype=object))
    length = max(count * 8 + extra, 0) if count < 4096 else data.draw(st.integers(0, 64))
    payload = data.draw(st.binary(min_size=length, max_size=length))
    msg = tensor_pb2.Tensor(dtype=dtype, shape=shape, data=payload)
    try:
        array = tensor_from_proto(msg, "input 'x'")
    except InvalidTensor as exc:
        assert str(exc).startswith("input 'x': ")
    else:
        assert array.shape == tuple(shape) and array.nbytes == len(msg.data)


@FUZZ
@given(data=st.data())
def test_mutated_graphs_decode_or_are_domain_errors(data):
    case = data.draw(cases(OPS))  # decoding the graph as drawn is part of drawing it
    for payload in data.draw(mutants(case.graph.SerializeToString(), 4)):
        try:
            msg = graph_pb2.Graph.FromString(payload)
        except DecodeError:
            continue
        try:
            graph_from_proto(msg)
        except WengertError:
            pass


@FUZZ
@given(data=st.data())
def test_the_builder_accepts_a_node_or_refuses_it_with_a_domain_error(data):
    op = data.draw(st.sampled_from(OPS))
    arity = op.arity if op.arity is not None else data.draw(st.integers(1, 3))
    types = [data.draw(declared_types()) for _ in range(arity)]
    if types and rarely(data.draw, 10):
        types[0] = TensorType(types[0].dtype, (1,) * data.draw(st.integers(15, 17)))
    builder = GraphBuilder()
    operands = [builder.input(f"x{i}", t) for i, t in enumerate(types)]
    try:
        attrs = {a.name: attr_from_proto(data.draw(attr_values(a, types)))
                 for a in op.attrs if a.required or data.draw(st.booleans())}
        value = builder.add(op.name, operands, attrs)
    except WengertError:
        return
    assert value.type.ndim <= 16


@FUZZ
@given(data=st.data())
def test_derivative_graphs_build_or_are_domain_errors(data):
    case = data.draw(cases(OPS))
    if case.decoded is None:
        return
    engine = Engine()
    for kind in ("jvp", "vjp", "gradient"):
        seeds = [data.draw(st.sampled_from(case.decoded.output_names))] if kind == "gradient" else None
        try:
            engine.derivative_graph(case.decoded, kind, seeds=seeds)
        except WengertError:
            pass


def test_the_catalogue_read_from_list_ops_is_every_registered_op():
    registry = default_registry()
    assert sorted(op.name for op in OPS) == sorted(registry.names())
    pad = next(op for op in OPS if op.name == "pad")
    assert pad.arity == 1 and {(a.name, a.kind, a.required) for a in pad.attrs} == {
        ("pad_width", "ints", True), ("constant_value", "float", False)}
