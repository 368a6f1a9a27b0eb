"""The one place that converts between NumPy / the graph IR and the `wengert.v1` protobufs.

Client and server both go through here, so a tensor or graph means the same thing on both
ends. Decoding is defensive: everything that arrives is untrusted, and every rejection is a
domain error (INVALID_ARGUMENT, UNIMPLEMENTED) whose message names the tensor or node at fault.

A decoded graph is rebuilt node by node through `GraphBuilder(simplify=False)`, so op lookup,
arity, attribute and shape/dtype checks live in the builder only; this module adds just the
structural checks the builder cannot see (ids, references, outputs, wire types).
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any, Callable

import numpy as np

from wengert.ir.builder import GraphBuilder
from wengert.errors import (InvalidGraph, InvalidRequest, InvalidTensor, LimitExceeded, WengertError, node_error,
                            within)
from wengert.ir.graph import DTYPES, Graph, Literal, TensorType, dtype_name, shape_problem
from wengert.loops.checkpointing import Checkpoint
from wengert.plugins import opdef
from wengert.v1 import graph_pb2, service_pb2, tensor_pb2

__all__ = [
    "attr_from_proto",
    "attr_to_proto",
    "checkpoint_from_proto",
    "checkpoint_to_proto",
    "dtype_from_proto",
    "dtype_to_proto",
    "graph_digest",
    "graph_from_proto",
    "graph_to_proto",
    "signature_to_proto",
    "tensor_from_proto",
    "tensor_to_proto",
    "type_from_proto",
    "type_to_proto",
]

_TO_PROTO = {
    "float64": tensor_pb2.DTYPE_FLOAT64,
    "float32": tensor_pb2.DTYPE_FLOAT32,
    "int64": tensor_pb2.DTYPE_INT64,
    "int32": tensor_pb2.DTYPE_INT32,
    "bool": tensor_pb2.DTYPE_BOOL,
}
_FROM_PROTO = {code: name for name, code in _TO_PROTO.items()}
# protobuf refuses to encode a message of 2 GiB or more: a tensor's bytes leave room for the
# fields around them (its shape, the response holding it).
MAX_TENSOR_BYTES = (1 << 31) - (1 << 20)
# The wire is little-endian whatever the host is; these dtypes say so explicitly.
_WIRE_DTYPE = {name: DTYPES[name].newbyteorder("<") for name in _TO_PROTO}


# -- the service's enums: one table each, name -> wire code, used by client and server ----
JACOBIAN_MODES = {"auto": service_pb2.MODE_AUTO, "forward": service_pb2.MODE_FORWARD,
                  "reverse": service_pb2.MODE_REVERSE}
TRACE_MODES = {"none": service_pb2.TRACE_MODE_NONE, "forward": service_pb2.TRACE_MODE_FORWARD,
               "reverse": service_pb2.TRACE_MODE_REVERSE}
FORMATS = {"dense": service_pb2.FORMAT_DENSE, "sparse": service_pb2.FORMAT_SPARSE}
DERIVATIVE_KINDS = {"jvp": service_pb2.DERIVATIVE_KIND_JVP, "vjp": service_pb2.DERIVATIVE_KIND_VJP,
                    "gradient": service_pb2.DERIVATIVE_KIND_GRADIENT}
COLOURINGS = {"basis": service_pb2.COLOURING_BASIS, "cyclic": service_pb2.COLOURING_CYCLIC,
              "largest-first": service_pb2.COLOURING_LARGEST_FIRST, "star": service_pb2.COLOURING_STAR,
              "hubs-apart": service_pb2.COLOURING_HUBS_APART}
ATTR_KINDS = {name: service_pb2.AttrKind.Value(f"ATTR_KIND_{name.upper()}") for name in opdef.ATTR_KINDS}
CHECKPOINT_POLICIES = {"auto": service_pb2.CHECKPOINT_POLICY_AUTO, "all": service_pb2.CHECKPOINT_POLICY_ALL,
                       "every_k": service_pb2.CHECKPOINT_POLICY_EVERY_K,
                       "binomial": service_pb2.CHECKPOINT_POLICY_BINOMIAL}
MAX_NESTING = 16  # bodies within bodies: deeper than programs nest, and within protobuf's own depth limit


def checkpoint_to_proto(checkpoint: Checkpoint) -> service_pb2.Checkpointing:
    return service_pb2.Checkpointing(policy=CHECKPOINT_POLICIES[checkpoint.policy], every=checkpoint.every,
                                     snapshots=checkpoint.snapshots)


def checkpoint_from_proto(msg: service_pb2.Checkpointing) -> Checkpoint:
    """A request's checkpointing policy (unset: auto); INVALID_ARGUMENT for a bad one."""
    return Checkpoint(enum_name(CHECKPOINT_POLICIES, msg.policy, "checkpointing policy"), msg.every, msg.snapshots)


def enum_name(table: dict[str, int], code: int, what: str) -> str:
    """The name of wire `code` in `table`; INVALID_ARGUMENT for a value it does not hold (proto3
    enums are open, and an unset kind is 0)."""
    for name, value in table.items():
        if value == code:
            return name
    raise InvalidRequest(f"unknown or unset {what} {code}")


# -- dtypes and types ----------------------------------------------------------------------
def dtype_to_proto(name: str) -> int:
    """The `DType` enum value of a wengert dtype name ("float64", ...)."""
    return _TO_PROTO[name]


def dtype_from_proto(code: int) -> str | None:
    """The wengert dtype name of a `DType` value, or None for UNSPECIFIED or an unknown value
    (proto3 enums are open: a newer client may send a number this server does not know)."""
    return _FROM_PROTO.get(code)


def type_to_proto(type_: TensorType) -> tensor_pb2.TensorType:
    return tensor_pb2.TensorType(dtype=_TO_PROTO[type_.dtype], shape=type_.shape)


def type_from_proto(msg: tensor_pb2.TensorType, what: str = "type") -> TensorType:
    """A `TensorType`, or InvalidGraph (it is part of a graph) naming `what`."""
    dtype = dtype_from_proto(msg.dtype)
    if dtype is None:
        raise InvalidGraph(f"{what}: unknown dtype {msg.dtype} (expected one of {', '.join(_TO_PROTO)})")
    shape = tuple(msg.shape)
    if any(d < -1 for d in shape):
        raise InvalidGraph(f"{what}: bad shape {list(shape)} (dimensions are >= 0, or -1 for open)")
    problem = shape_problem(shape)
    if problem is not None:
        raise InvalidGraph(f"{what}: {problem}")
    return TensorType(dtype, shape)


# -- tensors -------------------------------------------------------------------------------
def tensor_to_proto(array: Any) -> tensor_pb2.Tensor:
    """A `Tensor` holding `array`'s elements as little-endian, C-order bytes.

    Any layout and byte order is accepted: `astype` to the explicit little-endian dtype
    byte-swaps big-endian input, and `tobytes()` writes C order even for a strided view."""
    name, array = _on_the_wire(array)
    return tensor_pb2.Tensor(dtype=_TO_PROTO[name], shape=array.shape, data=array.tobytes(order="C"))


def tensor_entry(field: int, key: str, array: Any) -> list:
    """The wire bytes of one entry `key` -> `array` of the map<string, Tensor> field number
    `field` of a message, as pieces to join: the last is the array's own memory, so a large
    tensor is copied once (by the join), not into a `Tensor`, its map and then the message's
    bytes. Appended to a message's bytes they add the entry to its map (protobuf merges
    fields wherever they appear), and parse as `tensor_to_proto` would have given them."""
    name, array = _on_the_wire(array)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    head = tensor_pb2.Tensor(dtype=_TO_PROTO[name], shape=array.shape).SerializeToString()
    head += b"\x1a" + _varint(array.nbytes)  # field 3 (data), length-delimited
    tensor = len(head) + array.nbytes
    key_bytes = key.encode()
    entry = b"\x0a" + _varint(len(key_bytes)) + key_bytes + b"\x12" + _varint(tensor)  # key 1, value 2
    return [_varint(field << 3 | 2) + _varint(len(entry) + tensor), entry, head, memoryview(array.reshape(-1)).cast("B")]


def _on_the_wire(array: Any) -> tuple[str, np.ndarray]:
    """`array`'s dtype name, and the array in the wire's little-endian dtype."""
    if isinstance(array, Literal):
        array = array.array
    array = np.asarray(array)
    try:
        name = dtype_name(array.dtype)
    except ValueError as exc:
        raise InvalidTensor(str(exc)) from None
    if array.nbytes > MAX_TENSOR_BYTES:
        raise LimitExceeded(f"a {TensorType.of(array)} tensor is {array.nbytes} bytes, too large for one "
                            f"protobuf message (at most {MAX_TENSOR_BYTES})")
    return name, array.astype(_WIRE_DTYPE[name], copy=False)


def _varint(n: int) -> bytes:
    """`n` >= 0 as a protobuf base-128 varint."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tensor_from_proto(msg: tensor_pb2.Tensor, what: str | Callable[[], str] = "tensor") -> np.ndarray:
    """The array a `Tensor` holds, viewing its bytes without a copy (so it is read-only).

    Raises InvalidTensor, naming `what` (e.g. "input 'x'", or a function giving that: a name
    is only written for an error), for an unknown dtype, a negative dimension, a byte length
    other than prod(shape) * itemsize, or a bool byte other than 0/1."""

    def invalid(problem: str) -> InvalidTensor:
        return InvalidTensor(f"{what() if callable(what) else what}: {problem}")

    name = dtype_from_proto(msg.dtype)
    if name is None:
        raise invalid(f"unknown dtype {msg.dtype} (expected one of {', '.join(_TO_PROTO)})")
    shape = tuple(msg.shape)
    count = 1
    for d in shape:  # Python ints: no overflow, unlike np.prod on absurd shapes
        if d < 0:
            raise invalid(f"negative dimension in shape {list(shape)}")
        count *= d
    problem = shape_problem(shape)
    if problem is not None:
        raise invalid(problem)
    dtype = _WIRE_DTYPE[name]
    data = msg.data
    if len(data) != count * dtype.itemsize:
        raise invalid(f"{len(data)} bytes of data, but {name} shape {list(shape)} "
                      f"needs {count * dtype.itemsize} ({count} x {dtype.itemsize})")
    if name == "bool" and data and np.frombuffer(data, np.uint8).max() > 1:
        raise invalid("bool elements must be bytes 0 or 1")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


# -- attributes ----------------------------------------------------------------------------
def attr_to_proto(value: Any) -> graph_pb2.AttrValue:
    """An `AttrValue` for a normalized attribute value (see `OpDef.normalize_attrs`).

    The field follows the Python type; the op's schema re-coerces on decoding, so an empty
    list sent as `ints` still decodes correctly for a `floats` attribute."""
    if isinstance(value, (bool, np.bool_)):
        return graph_pb2.AttrValue(b=bool(value))
    if isinstance(value, numbers.Integral):
        return graph_pb2.AttrValue(i=int(value))
    if isinstance(value, numbers.Real):
        return graph_pb2.AttrValue(f=float(value))
    if isinstance(value, str):
        return graph_pb2.AttrValue(s=value)
    if isinstance(value, (Literal, np.ndarray)):
        return graph_pb2.AttrValue(tensor=tensor_to_proto(value))
    if isinstance(value, Graph):
        return graph_pb2.AttrValue(graph=graph_to_proto(value))
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, Graph) for v in value):
        return graph_pb2.AttrValue(graphs=graph_pb2.Graphs(values=[graph_to_proto(v) for v in value]))
    if isinstance(value, (tuple, list)):
        if all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in value):
            return graph_pb2.AttrValue(ints=graph_pb2.Ints(values=[int(v) for v in value]))
        if all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in value):
            return graph_pb2.AttrValue(floats=graph_pb2.Floats(values=[float(v) for v in value]))
    raise TypeError(f"a {type(value).__name__} attribute value cannot be sent: {value!r}")


def attr_from_proto(msg: graph_pb2.AttrValue, what: str = "attribute", registry=None, depth: int = 0) -> Any:
    """The Python value of an `AttrValue` (tuples for lists, `Literal` for a tensor, a checked
    `Graph` for a body, decoded with `registry` at nesting `depth`)."""
    field = msg.WhichOneof("value")
    if field is None:
        raise InvalidGraph(f"{what}: no value set")
    if field == "ints":
        return tuple(int(v) for v in msg.ints.values)
    if field == "floats":
        return tuple(float(v) for v in msg.floats.values)
    if field == "tensor":
        return Literal(tensor_from_proto(msg.tensor, what))
    if field == "graph":
        return _body_from_proto(msg.graph, what, registry, depth)
    if field == "graphs":
        return tuple(_body_from_proto(g, f"{what}[{i}]", registry, depth) for i, g in enumerate(msg.graphs.values))
    return getattr(msg, field)


def _body_from_proto(msg: graph_pb2.Graph, what: str, registry, depth: int) -> Graph:
    """A body graph, checked like any graph; an error in it names the node holding it too."""
    if depth >= MAX_NESTING:
        raise InvalidGraph(f"{what}: bodies are nested more than {MAX_NESTING} deep")
    try:
        return graph_from_proto(msg, registry, depth=depth + 1)
    except WengertError as exc:
        raise within(what, exc) from None


# -- graphs --------------------------------------------------------------------------------
def graph_to_proto(graph: Graph) -> graph_pb2.Graph:
    """The wire form of a graph. Attributes whose value is None (e.g. `axes` not given) are
    left out, which is how the wire says "absent"; decoding restores them as the default."""
    msg = graph_pb2.Graph()
    for name, type_ in graph.inputs:
        msg.inputs.add(name=name, type=type_to_proto(type_))
    for node in graph.nodes:
        out = msg.nodes.add(id=node.id, op=node.op, inputs=node.inputs)
        for key, value in node.attrs:
            if value is None:
                continue
            try:
                out.attrs[key].CopyFrom(attr_to_proto(value))
            except (TypeError, InvalidTensor) as exc:
                raise node_error(InvalidGraph, node.id, node.op, f"attribute {key!r}: {exc}") from None
    for name, value_id in graph.outputs:
        msg.outputs.add(name=name, value=value_id)
    return msg


def graph_from_proto(msg: graph_pb2.Graph, registry=None, *, depth: int = 0) -> Graph:
    """Check a wire graph and rebuild it as a `Graph`, keeping the wire's ids and all nodes.

    Raises InvalidGraph / InvalidTensor (INVALID_ARGUMENT) or UnknownOp (UNIMPLEMENTED), with
    messages naming the node and op. Requiring every input to be defined earlier in the list
    both checks the topological order and rules out cycles. A graph of concrete inputs must
    give every node a concrete type (a scatter_slice of shape -1 would fail wherever it ran)."""
    builder = GraphBuilder(registry, simplify=False)
    for i, gi in enumerate(msg.inputs):
        if not gi.HasField("type"):
            raise InvalidGraph(f"input #{i} ({gi.name!r}) has no type")
        builder.input(gi.name, type_from_proto(gi.type, f"input {gi.name!r}"))
    concrete = all(t.is_concrete for _, t in builder.inputs)
    for i, node in enumerate(msg.nodes):
        if not node.id:
            raise InvalidGraph(f"node #{i} ({node.op}): id is empty")
        if node.id in builder.types:
            raise node_error(InvalidGraph, node.id, node.op, "id is already defined")
        for ref in node.inputs:
            if ref not in builder.types:
                raise node_error(InvalidGraph, node.id, node.op, f"input {ref!r} is not defined before use")
        attrs = {
            key: attr_from_proto(value, f"node {node.id!r} ({node.op}): attribute {key!r}",
                                 builder.registry, depth)
            for key, value in sorted(node.attrs.items())
        }
        value = builder.add(node.op, [builder.value(ref) for ref in node.inputs], attrs, node_id=node.id)
        if concrete and not value.type.is_concrete:
            raise node_error(InvalidGraph, node.id, node.op, f"its type {value.type} is open although every input "
                             "is concrete: an attribute leaves a dimension at -1, so it can never be computed")
    if not msg.outputs:
        raise InvalidGraph("graph declares no outputs")
    outputs: dict[str, str] = {}
    for i, out in enumerate(msg.outputs):
        if not out.name:
            raise InvalidGraph(f"output #{i}: name is empty")
        if out.name in outputs:
            raise InvalidGraph(f"output {out.name!r} is declared twice")
        if out.value not in builder.types:
            raise InvalidGraph(f"output {out.name!r}: value {out.value!r} is not defined")
        outputs[out.name] = out.value
    return Graph(tuple(builder.inputs), tuple(builder.nodes), tuple(outputs.items()))


def signature_to_proto(op: str, inputs: tuple[TensorType, ...], attrs: tuple[tuple[str, Any], ...]
                       ) -> service_pb2.OpSignature:
    """The wire form of an op applied to inputs of these types (InferTypes). As in a graph,
    attributes whose value is None are left out."""
    msg = service_pb2.OpSignature(op=op, inputs=[type_to_proto(t) for t in inputs])
    for key, value in attrs:
        if value is not None:
            msg.attrs[key].CopyFrom(attr_to_proto(value))
    return msg


def graph_digest(graph: Graph) -> str:
    """The graph's content hash (sha256 hex), used as its `graph_id`.

    Computed from the graph's canonical wire form (attributes normalized, defaults filled in)
    with deterministic serialization (map keys sorted), so the same graph always gets the same
    id on this server. It is a cache key, not a cross-language contract: clients treat it as
    opaque."""
    return hashlib.sha256(graph_to_proto(graph).SerializeToString(deterministic=True)).hexdigest()
