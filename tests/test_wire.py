"""wengert.transport.wire: tensors, attributes and graphs to and from the wengert.v1 protobufs."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg
from wengert.transport import wire
from wengert.errors import InvalidGraph, InvalidTensor, LimitExceeded, UnknownOp
from wengert.ir.graph import Graph, Literal, TensorType
from wengert.plugins.opdef import Attr, OpDef
from wengert.plugins.registry import Registry, default_registry
from wengert.plugins.shapes import same_as_first
from wengert.v1 import graph_pb2, tensor_pb2

DTYPES = ["float64", "float32", "int64", "int32", "bool"]


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) - 2.5
    return (values > 0) if dtype == "bool" else values.astype(dtype)


# -- tensors -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1)])
def test_tensor_round_trip(dtype, shape):
    array = sample(dtype, shape)
    msg = wire.tensor_to_proto(array)
    assert list(msg.shape) == list(shape)
    assert len(msg.data) == array.size * array.itemsize
    back = wire.tensor_from_proto(tensor_pb2.Tensor.FromString(msg.SerializeToString()))
    assert back.dtype.name == dtype and back.shape == shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("array", [sample("float64", (300, 300)), sample("float32", (2, 0, 4)), sample("bool", (5,)),
                                   sample("int32", (40, 30)).T, np.arange(9.0, dtype=">f8"), sample("int64", ()),
                                   sample("float64", (200, 100))[:, ::3]],
                         ids=["large", "empty", "bool", "transposed", "big-endian", "scalar", "strided"])
def test_a_spliced_map_entry_parses_as_the_message_would_hold_it(array):
    """`tensor_entry` pieces after a message's bytes add the entry to its map, exactly as
    `tensor_to_proto` in the map would (lengths past one varint byte, strided, big-endian)."""
    from wengert.v1 import service_pb2

    message = service_pb2.VjpResponse(graph_id="g", outputs={"y": wire.tensor_to_proto(np.float64(1.0))})
    spliced = message.SerializeToString() + b"".join(
        wire.tensor_entry(3, "x\u00e9", array) + wire.tensor_entry(2, "z", array))
    expected = service_pb2.VjpResponse(graph_id="g", outputs={"y": wire.tensor_to_proto(np.float64(1.0)),
                                                              "z": wire.tensor_to_proto(array)},
                                       cotangents={"x\u00e9": wire.tensor_to_proto(array)})
    assert service_pb2.VjpResponse.FromString(spliced) == expected


def test_wire_bytes_are_little_endian_c_order():
    msg = wire.tensor_to_proto(np.array([[1, 2], [3, 4]], dtype=np.int32).T)  # a strided view
    assert msg.dtype == tensor_pb2.DTYPE_INT32
    assert msg.data == b"".join(v.to_bytes(4, "little") for v in (1, 3, 2, 4))


@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i8", ">i4"])
def test_big_endian_input_is_byteswapped(dtype):
    array = np.array([1.5, -2.0, 3.0], dtype=dtype) if "f" in dtype else np.array([1, -2, 300], dtype=dtype)
    msg = wire.tensor_to_proto(array)
    assert msg.data == array.astype(array.dtype.newbyteorder("<")).tobytes()
    back = wire.tensor_from_proto(msg)
    np.testing.assert_array_equal(back, array)
    assert back.dtype.name == array.dtype.name


def test_decoding_is_zero_copy_and_read_only():
    msg = wire.tensor_to_proto(np.arange(4.0))
    back = wire.tensor_from_proto(msg)
    assert not back.flags.writeable
    assert back.base is not None  # a view of the message's bytes, not a copy


def test_python_values_and_literals_encode():
    assert wire.tensor_from_proto(wire.tensor_to_proto(2.5)).dtype == np.float64
    assert wire.tensor_from_proto(wire.tensor_to_proto([True, False])).dtype == np.bool_
    lit = Literal(np.eye(2))
    np.testing.assert_array_equal(wire.tensor_from_proto(wire.tensor_to_proto(lit)), np.eye(2))


@pytest.mark.parametrize("array", [np.zeros(2, np.float16), np.array(["a"]), np.zeros(2, np.complex128)])
def test_unsupported_dtype_cannot_be_sent(array):
    with pytest.raises(InvalidTensor, match="not supported"):
        wire.tensor_to_proto(array)


def test_a_tensor_too_large_for_protobuf_cannot_be_sent():
    view = np.broadcast_to(np.float32(1), (1 << 29,))  # 2 GiB of elements, no memory
    with pytest.raises(LimitExceeded, match=r"float32\[536870912\] tensor is 2147483648 bytes, too large"):
        wire.tensor_to_proto(view)


def test_an_empty_tensor_with_huge_dimensions_round_trips_up_to_the_limit():
    msg = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[1 << 14, 1 << 14, 0])
    assert wire.tensor_from_proto(msg).shape == (1 << 14, 1 << 14, 0)
    assert TensorType("float64", (1 << 62, 4)).size == 1 << 64  # exact, not wrapped around


@pytest.mark.parametrize(
    "msg, message",
    [
        (tensor_pb2.Tensor(shape=[1], data=b"\0" * 8), r"input 'x': unknown dtype 0"),
        (tensor_pb2.Tensor(dtype=42, shape=[1], data=b"\0" * 8), r"input 'x': unknown dtype 42"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[2, -1], data=b""),
         r"input 'x': negative dimension in shape \[2, -1\]"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[2], data=b"\0" * 15),
         r"input 'x': 15 bytes of data, but float64 shape \[2\] needs 16 \(2 x 8\)"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT32, data=b""),
         r"input 'x': 0 bytes of data, but int32 shape \[\] needs 4"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT32, shape=[0], data=b"\0" * 4),
         r"input 'x': 4 bytes of data, but float32 shape \[0\] needs 0"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_INT64, shape=[1 << 40, 1 << 40], data=b"\0"),
         r"input 'x': 1 bytes of data"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_BOOL, shape=[2], data=b"\x01\x02"),
         r"input 'x': bool elements must be bytes 0 or 1"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[1 << 62, 1 << 62, 0]),
         r"input 'x': empty shape \[4611686018427387904, 4611686018427387904, 0\]: the product of its other "
         r"dimensions may be at most 268435456"),
        (tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_BOOL, shape=[1] * 17, data=b"\x01"),
         r"input 'x': 17 dimensions, more than the 16 supported"),
    ],
)
def test_bad_tensors_are_rejected(msg, message):
    with pytest.raises(InvalidTensor, match=message) as info:
        wire.tensor_from_proto(msg, what="input 'x'")
    assert info.value.code == "INVALID_ARGUMENT"


# -- attributes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, field",
    [(3, "i"), (-1, "i"), (2.5, "f"), (True, "b"), (False, "b"), ("float32", "s"),
     ((0, -1), "ints"), ((), "ints"), ((0.5, 2.0), "floats"), (Literal(np.arange(3)), "tensor")],
)
def test_attr_round_trip(value, field):
    msg = wire.attr_to_proto(value)
    assert msg.WhichOneof("value") == field
    back = wire.attr_from_proto(graph_pb2.AttrValue.FromString(msg.SerializeToString()))
    assert back == value and type(back) is type(value)


def test_attr_without_value_is_rejected():
    with pytest.raises(InvalidGraph, match="node 'n' \\(probe\\): attribute 'k': no value set"):
        wire.attr_from_proto(graph_pb2.AttrValue(), "node 'n' (probe): attribute 'k'")


def test_attr_of_unknown_type_cannot_be_sent():
    with pytest.raises(TypeError):
        wire.attr_to_proto({"a": 1})


# -- graphs --------------------------------------------------------------------------------
PROBE = OpDef(
    "probe", lambda x, **attrs: x, same_as_first, elementwise=True,
    attrs=(Attr("k_int", "int", 0), Attr("k_float", "float", 1.5), Attr("k_bool", "bool", False),
           Attr("k_str", "str", "s"), Attr("k_ints", "ints", ()), Attr("k_floats", "floats", ()),
           Attr("k_axes", "axes", None), Attr("k_tensor", "tensor", Literal(np.zeros(1)))),
    doc="identity with one attribute of every kind",
)


@pytest.fixture(scope="module")
def registry():
    base = default_registry()
    return Registry({**{op.name: op for op in base}, "probe": PROBE}, list(base.plugins))


def example_graph() -> Graph:
    return wg.trace(lambda x, y, n: (wg.sin(x) * y + 2.0, wg.log(x), n), np.ones(3), np.ones(()),
                    np.array([1, 2], dtype=np.int32))


def probe_graph(registry, **attrs) -> Graph:
    b = wg.GraphBuilder(registry)
    x = b.input("x", TensorType("float32", (-1, 2)))
    y = b.add("probe", [x], attrs, node_id="p")
    return b.build({"y": y})


def round_trip(graph: Graph, registry=None) -> Graph:
    msg = graph_pb2.Graph.FromString(wire.graph_to_proto(graph).SerializeToString())
    return wire.graph_from_proto(msg, registry)


def test_graph_round_trip_preserves_structure_and_digest():
    graph = example_graph()
    back = round_trip(graph)
    assert back == graph
    assert str(back) == str(graph)
    assert wire.graph_digest(back) == wire.graph_digest(graph)
    assert len(wire.graph_digest(graph)) == 64


def test_graph_round_trip_keeps_unused_nodes_and_input_outputs():
    b = wg.GraphBuilder()
    x = b.input("x", TensorType("float64", (2,)))
    b.add("sin", [x], {}, node_id="dead")
    graph = Graph(tuple(b.inputs), tuple(b.nodes), (("x_again", "x"),))
    assert round_trip(graph) == graph


def test_every_attribute_kind_round_trips(registry):
    graph = probe_graph(registry, k_int=-3, k_float=0.25, k_bool=True, k_str="hi", k_ints=[1, 2],
                        k_floats=[0.5], k_axes=(0, -1), k_tensor=np.arange(4.0).reshape(2, 2))
    back = round_trip(graph, registry)
    assert back == graph
    assert back.nodes[0].attr_dict["k_axes"] == (0, -1)


def test_absent_axes_is_left_out_and_defaults_are_sent(registry):
    graph = probe_graph(registry)
    attrs = wire.graph_to_proto(graph).nodes[0].attrs
    assert "k_axes" not in attrs  # None travels as "absent"
    assert attrs["k_float"].f == 1.5  # defaults are filled in, so the digest is canonical
    assert round_trip(graph, registry).nodes[0].attr_dict["k_axes"] is None
    assert wire.graph_digest(probe_graph(registry, k_float=1.5)) == wire.graph_digest(graph)


def test_digest_changes_when_anything_changes(registry):
    graph = example_graph()
    x_type = TensorType("float64", (3,))
    variants = [
        wg.trace(lambda x, y, n: (wg.sin(x) * y + 2.0, wg.log(x), n), np.ones(3), np.ones(()),
                 np.array([1, 2], dtype=np.int64)),  # an input dtype
        wg.trace(lambda x, y, n: (wg.sin(x) * y + 3.0, wg.log(x), n), np.ones(3), np.ones(()),
                 np.array([1, 2], dtype=np.int32)),  # a constant's value
        wg.trace(lambda x, y, n: (wg.cos(x) * y + 2.0, wg.log(x), n), np.ones(3), np.ones(()),
                 np.array([1, 2], dtype=np.int32)),  # an op
        Graph(graph.inputs, graph.nodes, graph.outputs[::-1]),  # output order
        Graph(graph.inputs, graph.nodes, (("renamed", graph.outputs[0][1]),) + graph.outputs[1:]),
        Graph((("x", TensorType("float64", (-1,))),) + graph.inputs[1:], graph.nodes, graph.outputs),
        Graph((("x2", x_type),) + graph.inputs[1:], graph.nodes, graph.outputs),  # an input name
    ]
    digests = {wire.graph_digest(g) for g in variants} | {wire.graph_digest(graph)}
    assert len(digests) == len(variants) + 1
    # node ids matter too, and every attribute kind
    probe = {wire.graph_digest(probe_graph(registry, **kw)) for kw in (
        {}, {"k_int": 1}, {"k_float": 2.0}, {"k_bool": True}, {"k_str": "t"}, {"k_ints": (1,)},
        {"k_floats": (1.0,)}, {"k_axes": 0}, {"k_axes": (0, 1)}, {"k_tensor": np.ones(1)},
        {"k_tensor": np.zeros(1, np.float32)})}
    assert len(probe) == 11


def test_node_id_is_part_of_the_digest():
    graph = example_graph()
    first = graph.nodes[0]
    renamed = {first.id: "renamed"}
    nodes = tuple(
        type(n)(renamed.get(n.id, n.id), n.op, tuple(renamed.get(i, i) for i in n.inputs), n.attrs, n.type)
        for n in graph.nodes
    )
    outputs = tuple((name, renamed.get(v, v)) for name, v in graph.outputs)
    assert wire.graph_digest(Graph(graph.inputs, nodes, outputs)) != wire.graph_digest(graph)


# -- graph rejections ----------------------------------------------------------------------
def wire_graph(nodes=(), inputs=(("x", "float64", (3,)),), outputs=(("y", "x"),)) -> graph_pb2.Graph:
    msg = graph_pb2.Graph()
    for name, dtype, shape in inputs:
        code = wire.dtype_to_proto(dtype) if isinstance(dtype, str) else dtype
        msg.inputs.add(name=name, type=tensor_pb2.TensorType(dtype=code, shape=shape))
    for node in nodes:
        msg.nodes.append(node)
    for name, value in outputs:
        msg.outputs.add(name=name, value=value)
    return msg


def const(node_id: str, array) -> graph_pb2.Node:
    node = graph_pb2.Node(id=node_id, op="constant")
    node.attrs["value"].tensor.CopyFrom(wire.tensor_to_proto(np.asarray(array)))
    return node


N = graph_pb2.Node


@pytest.mark.parametrize(
    "msg, error, message",
    [
        (wire_graph([N(id="", op="sin", inputs=["x"])]), InvalidGraph, r"^node #0 \(sin\): id is empty$"),
        (wire_graph([N(id="a", op="sin", inputs=["x"]), N(id="a", op="cos", inputs=["x"])]),
         InvalidGraph, r"^node 'a' \(cos\): id is already defined$"),
        (wire_graph([N(id="x", op="sin", inputs=["x"])]), InvalidGraph,
         r"^node 'x' \(sin\): id is already defined$"),
        (wire_graph([N(id="v3", op="sin", inputs=["v9"])]), InvalidGraph,
         r"^node 'v3' \(sin\): input 'v9' is not defined before use$"),
        (wire_graph([N(id="a", op="sin", inputs=["b"]), N(id="b", op="cos", inputs=["a"])]),
         InvalidGraph, r"^node 'a' \(sin\): input 'b' is not defined before use$"),  # a cycle
        (wire_graph([N(id="a", op="sin", inputs=["a"])]), InvalidGraph,
         r"^node 'a' \(sin\): input 'a' is not defined before use$"),  # a self-loop
        (wire_graph([N(id="a", op="frobnicate", inputs=["x"])]), UnknownOp,
         r"^node 'a' \(frobnicate\): unknown op 'frobnicate'"),
        (wire_graph([N(id="a", op="add", inputs=["x"])]), InvalidGraph,
         r"^node 'a' \(add\): takes 2 input\(s\), got 1$"),
        (wire_graph([N(id="a", op="sin", inputs=["x"], attrs={"bogus": graph_pb2.AttrValue(i=1)})]),
         InvalidGraph, r"^node 'a' \(sin\): unknown attribute\(s\) bogus$"),
        (wire_graph([N(id="c", op="constant")]), InvalidGraph,
         r"^node 'c' \(constant\): missing required attribute 'value'$"),
        (wire_graph([N(id="c", op="constant", attrs={"value": graph_pb2.AttrValue()})]), InvalidGraph,
         r"^node 'c' \(constant\): attribute 'value': no value set$"),
        (wire_graph([N(id="c", op="constant", attrs={"value": graph_pb2.AttrValue(
            tensor=tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT32, shape=[2], data=b"\0"))})]),
         InvalidTensor, r"^node 'c' \(constant\): attribute 'value': 1 bytes of data"),
        (wire_graph([const("c", np.ones(2)), N(id="a", op="add", inputs=["x", "c"])]), InvalidGraph,
         r"^node 'a' \(add\): shapes .* cannot be broadcast together$"),
        (wire_graph(outputs=[]), InvalidGraph, r"^graph declares no outputs$"),
        (wire_graph(outputs=[("", "x")]), InvalidGraph, r"^output #0: name is empty$"),
        (wire_graph(outputs=[("y", "x"), ("y", "x")]), InvalidGraph, r"^output 'y' is declared twice$"),
        (wire_graph(outputs=[("y", "nope")]), InvalidGraph, r"^output 'y': value 'nope' is not defined$"),
        (wire_graph(inputs=[("x", "float64", ()), ("x", "float64", ())]), InvalidGraph,
         r"input 'x' is declared twice"),
        (wire_graph(inputs=[("", "float64", ())]), InvalidGraph, r"input names must be non-empty"),
        (wire_graph(inputs=[("x", 0, ())]), InvalidGraph, r"^input 'x': unknown dtype 0"),
        (wire_graph(inputs=[("x", 9, ())]), InvalidGraph, r"^input 'x': unknown dtype 9"),
        (wire_graph(inputs=[("x", "float64", (2, -2))]), InvalidGraph,
         r"^input 'x': bad shape \[2, -2\]"),
        (wire_graph(inputs=[("x", "float64", (1 << 40, -1, 0))]), InvalidGraph,
         r"^input 'x': empty shape \[1099511627776, -1, 0\]"),
        (wire_graph(inputs=[("x", "float64", (1,) * 17)]), InvalidGraph, r"^input 'x': 17 dimensions"),
    ],
)
def test_bad_graphs_are_rejected(msg, error, message):
    with pytest.raises(error, match=message):
        wire.graph_from_proto(graph_pb2.Graph.FromString(msg.SerializeToString()))


def test_input_without_type_is_rejected():
    msg = graph_pb2.Graph(inputs=[graph_pb2.GraphInput(name="x")], outputs=[graph_pb2.GraphOutput(name="y", value="x")])
    with pytest.raises(InvalidGraph, match=r"^input #0 \('x'\) has no type$"):
        wire.graph_from_proto(msg)


def test_error_codes():
    assert InvalidGraph.code == InvalidTensor.code == "INVALID_ARGUMENT"
    assert UnknownOp.code == "UNIMPLEMENTED"


def test_open_dimensions_and_wire_ids_are_kept():
    msg = wire_graph([const("two", 2.0), N(id="out", op="mul", inputs=["x", "two"])],
                     inputs=[("x", "float64", (-1, 3))], outputs=[("y", "out")])
    graph = wire.graph_from_proto(msg)
    assert graph.inputs == (("x", TensorType("float64", (-1, 3))),)
    assert [n.id for n in graph.nodes] == ["two", "out"]
    assert graph.output_type("y") == TensorType("float64", (-1, 3))
    assert wire.graph_to_proto(graph) == msg


# -- the service's enums ---------------------------------------------------------------------
@pytest.mark.parametrize("table, enum", [
    (wire.JACOBIAN_MODES, "Mode"), (wire.TRACE_MODES, "TraceMode"), (wire.FORMATS, "Format"),
    (wire.DERIVATIVE_KINDS, "DerivativeKind")])
def test_enum_tables_name_every_wire_value_and_refuse_others(table, enum):
    from wengert.errors import InvalidRequest
    from wengert.v1 import service_pb2

    values = set(service_pb2.DESCRIPTOR.enum_types_by_name[enum].values_by_number)
    assert set(table.values()) | {0} >= values  # 0 may be "unset" (DerivativeKind)
    for name, code in table.items():
        assert wire.enum_name(table, code, enum) == name
    with pytest.raises(InvalidRequest, match=f"unknown or unset {enum} 99"):
        wire.enum_name(table, 99, enum)
