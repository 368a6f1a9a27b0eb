"""Fuzzing the service: random well-formed requests of every kind, byte-level and field-level
mutations of them, and a client that sends raw bytes and checks what comes back.

    ops = catalogue(stub.ListOps(pb.ListOpsRequest()))    # the live catalogue: names, arities, attrs
    case = data.draw(cases(ops))                           # a graph, and what the server will make of it
    for method, request, by_id in data.draw(requests(case)):
        fuzzer.send_message(method, request)               # asserts an allowed status, counts it
    data.draw(mutants(request.SerializeToString(), 3))     # bytes flipped, cut, inserted, ...
    data.draw(field_mutants(request, 3))                   # fields set to extremes, NaN, odd names

Graphs are mostly valid: each node is checked with the local builder (the test process loads
the plugins the server loads) as it is drawn, and drawn again when its shape rule refuses it,
except now and then, when the refused node is kept and the graph ends there. Requests mostly fit
their graph, with now and then a missing, extra or mismatched field; tensors hold NaN,
infinities and extreme values; every dtype appears, and shapes hold zeros and, next to a zero,
huge dimensions.

Every request is priced before it runs (the resource model), so compute bombs are part of the
diet: now and then (BOMBS percent of the nodes) a node's value may be as large as an attribute
makes it (shapes of BOMB_DIMS, 2^31 elements, ...), which the server must refuse with
RESOURCE_EXHAUSTED before allocating it. Kept small, because the messages themselves carry them
or a test run must stay short: tensors sent (dimensions 0-4, open ones 0-3, now and then 70;
HUGE ones only next to a 0, in declared types, or where the builder refuses), graphs of at most
7 nodes, batches of at most 5, Minimize runs of at most MAX_STEPS steps or MAX_SECONDS seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import strategies as st

from wengert.errors import WengertError
from wengert.execution.engine import Engine
from wengert.ir.builder import GraphBuilder
from wengert.ir.graph import DTYPES, Graph, TensorType
from wengert.transport.wire import (attr_from_proto, dtype_to_proto, graph_from_proto, tensor_to_proto,
                                    type_to_proto)
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["DifferentiationService"]
METHODS = {method.name: method for method in SERVICE.methods}
# What bad input may get; INTERNAL, UNKNOWN, DEADLINE_EXCEEDED (a hang: every graph is tiny,
# unless a mutated Minimize asks for a long run) and UNAVAILABLE (a crash) may not.
ALLOWED = frozenset({"OK", "INVALID_ARGUMENT", "NOT_FOUND", "UNIMPLEMENTED", "RESOURCE_EXHAUSTED"})

SMALL_INTS = st.integers(-3, 5)
HUGE = (1 << 28, (1 << 28) + 1, 1 << 40, 1 << 62, (1 << 63) - 1)
MAX_VALUE_ELEMENTS = 2048  # a node's value, except the bombs
BOMBS = 20  # percent of nodes whose value may be any size
BOMB_DIMS = ([1 << 31], [100_000, 100_000], [3000, 3000], [1 << 16, 1 << 16, 4])
MAX_STEPS, MAX_SECONDS = 5, 0.2
NORMS = ("l2", "l1", "linf", "spectral", "product", "", "no-such-norm")
# Names that collide with each other, with the derivative prefixes, or are merely odd.
ODD_NAMES = ("tangent:x0", "cotangent:y0", "tangent2:y0", "cotangent:v1", "v1", "y0", "x0", "", " ", "é∂",
             "a" * 300)
DOUBLES = (0.0, 0.1, 0.5, 1.0, -1.0, 2.0, 1e300, math.nan, math.inf, -math.inf)
_ENGINE = Engine()  # only to specialize graphs: the output types at a drawn point


def rarely(draw, percent: int = 5) -> bool:
    """True about `percent` % of the time (the high end: Hypothesis favours small numbers)."""
    return draw(st.integers(0, 99)) >= 100 - percent


def usually(draw, common, odd, percent: int = 10):
    """One of `common`, or about `percent` % of the time one of `odd` (invalid choices)."""
    return draw(st.sampled_from(odd if rarely(draw, percent) else common))


# -- the catalogue ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Attr:
    name: str
    kind: str  # "int", "float", "bool", "str", "ints", "floats", "axes" or "tensor"
    required: bool


@dataclass(frozen=True)
class Op:
    name: str
    arity: int | None  # None: any number of inputs
    attrs: tuple[Attr, ...]


def catalogue(response: pb.ListOpsResponse) -> list[Op]:
    """The ops a ListOps answer describes."""
    return [Op(info.name, None if info.arity < 0 else info.arity,
               tuple(Attr(a.name, pb.AttrKind.Name(a.kind).removeprefix("ATTR_KIND_").lower(), a.required)
                     for a in info.attrs))
            for info in response.ops]


# -- tensors ----------------------------------------------------------------------------------
def dtypes():
    """Every dtype, floats most often (they are the differentiable ones)."""
    return st.sampled_from(("float64",) * 4 + ("float32", "int64", "int32", "bool", "bool"))


@st.composite
def declared_types(draw) -> TensorType:
    """A graph input's type: rank 0-3, small or open (-1) dimensions, now and then a zero next
    to a huge dimension."""
    shape = draw(st.lists(st.sampled_from((-1, 0, 1, 1, 2, 3, 4)), max_size=3))
    if shape and rarely(draw, 8):
        shape[draw(st.integers(0, len(shape) - 1))] = draw(st.sampled_from(HUGE))
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    return TensorType(draw(dtypes()), tuple(shape))


def concrete(draw, t: TensorType) -> tuple[int, ...]:
    """A shape `t` accepts: its open dimensions drawn small (now and then 70, which a tensor
    limit of 4096 elements refuses in two dimensions)."""
    return tuple((70 if rarely(draw, 2) else draw(st.integers(0, 3))) if d == -1 else d for d in t.shape)


@st.composite
def tensors(draw, dtype: str, shape: tuple[int, ...]) -> tensor_pb2.Tensor:
    """A `dtype` tensor of `shape`, its elements drawn from a seed: plain, positive, or mixed
    with zeros, NaN, infinities and the dtype's extremes; now and then a malformed one."""
    if rarely(draw, 3):
        return draw(malformed_tensors())
    count = math.prod(shape)
    if count == 0 or count > 1 << 16:  # empty, or so large the server refuses it by its shape alone
        return tensor_pb2.Tensor(dtype=dtype_to_proto(dtype), shape=shape)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return tensor_to_proto(_values(rng, dtype, count, draw(st.sampled_from(("plain", "positive", "special"))))
                           .reshape(shape))


def _values(rng: np.random.Generator, dtype: str, count: int, flavour: str) -> np.ndarray:
    if dtype == "bool":
        return rng.random(count) < 0.5
    if dtype.startswith("int"):
        info = np.iinfo(dtype)
        values = rng.integers(0 if flavour == "positive" else -3, 6, count)
        if flavour == "special":
            values = np.where(rng.random(count) < 0.3, rng.choice([info.min, info.max, 0, -1]), values)
        return values.astype(dtype)
    values = rng.normal(size=count)
    if flavour == "positive":
        values = np.abs(values) + 0.1
    elif flavour == "special":
        specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 1.0])
        values = np.where(rng.random(count) < 0.4, rng.choice(specials, count), values)
    with np.errstate(over="ignore"):
        return values.astype(dtype)


@st.composite
def malformed_tensors(draw) -> tensor_pb2.Tensor:
    """A tensor the decoder must refuse: unknown dtype, negative or too many dimensions, a wrong
    byte count, a bool byte other than 0 or 1."""
    kind = draw(st.sampled_from(("dtype", "negative", "rank", "length", "bool")))
    if kind == "dtype":
        return tensor_pb2.Tensor(dtype=draw(st.sampled_from((0, 6, 99, -1))), shape=[1], data=bytes(8))
    if kind == "negative":
        return tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[-1, 2], data=bytes(16))
    if kind == "rank":
        return tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_BOOL, shape=[1] * draw(st.integers(17, 70)),
                                 data=b"\x01")
    if kind == "length":
        return tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT32, shape=[3],
                                 data=bytes(draw(st.integers(0, 11))))
    return tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_BOOL, shape=[2], data=b"\x01\x07")


@st.composite
def constants(draw) -> tensor_pb2.Tensor:
    """The value of a constant node or a tensor attribute: any dtype, rank 0-2."""
    dtype = draw(dtypes())
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    if rarely(draw, 5):
        shape = (0, draw(st.sampled_from(HUGE)))
    return draw(tensors(dtype, shape))


# -- attributes ---------------------------------------------------------------------------------
# What an integer-list attribute most likely holds, going by its name, for an operand of `shape`.
_NAME_HINTS = {"start": lambda shape: [0] * len(shape), "stop": lambda shape: shape,
               "step": lambda shape: [1] * len(shape), "pad": lambda shape: [1, 0] * len(shape),
               "shape": lambda shape: [2] + shape}


def _ints(values) -> graph_pb2.AttrValue:
    return graph_pb2.AttrValue(ints=graph_pb2.Ints(values=list(values)))


@st.composite
def attr_values(draw, attr: Attr, operands: list[TensorType]) -> graph_pb2.AttrValue:
    """A value for `attr`, mostly of its kind and plausible for the `operands` (shapes taken
    from the first one, open dimensions read as 2); now and then of another kind, or empty."""
    if rarely(draw, 3):
        return draw(st.sampled_from((graph_pb2.AttrValue(), graph_pb2.AttrValue(s="x"),
                                     graph_pb2.AttrValue(f=1.5), graph_pb2.AttrValue(b=True), _ints([1, 2]))))
    kind = attr.kind
    shape = [2 if d == -1 else d for d in operands[0].shape] if operands else []
    rank = len(shape)
    hint = next((ints for word, ints in _NAME_HINTS.items() if word in attr.name), None)
    if kind == "ints" and hint is not None and draw(st.booleans()):  # the name says what fits
        return _ints(hint(shape))
    if kind == "int":
        return graph_pb2.AttrValue(i=draw(st.one_of(SMALL_INTS, st.sampled_from(HUGE + (-(1 << 63),)))))
    if kind == "float":
        return graph_pb2.AttrValue(f=draw(st.one_of(st.sampled_from(DOUBLES), st.floats())))
    if kind == "bool":
        return graph_pb2.AttrValue(b=draw(st.booleans()))
    if kind == "str":
        return graph_pb2.AttrValue(s=draw(st.sampled_from((*DTYPES, "", "float16", "complex128", "é" * 40))))
    if kind == "floats":
        values = draw(st.lists(st.sampled_from(DOUBLES), max_size=3))
        return graph_pb2.AttrValue(floats=graph_pb2.Floats(values=values))
    if kind == "tensor":
        return graph_pb2.AttrValue(tensor=draw(constants()))
    if kind == "axes":
        axis = st.integers(-rank - 1, rank)
        if draw(st.booleans()):
            return graph_pb2.AttrValue(i=draw(axis))
        return _ints(draw(st.lists(axis, max_size=max(rank, 1))))
    size = math.prod(shape)
    choices = [
        shape, shape,                                    # the operand's shape (reshape, broadcast_to)
        [size], [-1], [-1, 1], [1] + shape, shape[::-1],  # reshapes
        [0] * rank, [1] * rank,                          # whole slices: starts 0, stops the shape, steps 1
        draw(st.lists(st.integers(0, 2), min_size=2 * rank, max_size=2 * rank)),  # (before, after) pairs
        draw(st.lists(SMALL_INTS, min_size=rank, max_size=rank)),                # starts, stops, steps
        draw(st.lists(SMALL_INTS, max_size=4)),
        [draw(st.sampled_from(HUGE)), 0],                # empty, with a huge dimension
        [1] * draw(st.integers(17, 40)),                 # too many dimensions
        *[draw(st.sampled_from(BOMB_DIMS))] * 3,         # shapes to price, and refuse
    ]
    return _ints(draw(st.sampled_from(choices)))


# -- graphs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A graph message, and the graph the server will decode from it (None when it will refuse
    it: the local decoder said so)."""

    graph: graph_pb2.Graph
    decoded: Graph | None


@st.composite
def cases(draw, ops: list[Op], registry=None) -> Case:
    """A graph of 1-3 inputs and 1-6 nodes drawn from `ops`, and 1-2 outputs (now and then
    none, or a broken reference)."""
    builder = GraphBuilder(registry)
    msg = graph_pb2.Graph()
    for i in range(draw(st.integers(1, 3))):
        t = draw(declared_types())
        if i == 0 and not rarely(draw, 20):  # a float input to differentiate, most often
            t = TensorType(usually(draw, ("float64",), ("float32",), 20), t.shape)
        name = usually(draw, (f"x{i}",), ODD_NAMES, 4)
        msg.inputs.add(name=name, type=type_to_proto(t))
        try:
            builder.input(name, t)
        except WengertError:  # a name given twice: the server refuses the graph
            pass
    values = [name for name, _ in builder.inputs]
    if not values:  # the local builder refused every input: so will the server
        msg.outputs.add(name="y0", value=msg.inputs[0].name)
        return case_of(msg, builder.registry)
    for _ in range(draw(st.integers(1, 6))):
        if not _add_node(draw, ops, builder, msg, values):
            break
    else:  # often end with a scalar: what Hessian, Hvp and Minimize take
        floats = [v for v in values if builder.types[v].is_float]
        if floats and "sum" in {op.name for op in ops} and draw(st.booleans()):
            _append(builder, msg, values, "sum", [floats[-1]], {}, _node_id(draw, builder))
    if rarely(draw, 2):
        msg.nodes.add(id=draw(st.sampled_from(("", "x0", values[-1]))), op="neg", inputs=["x0"])
    if rarely(draw, 2):
        msg.nodes.add(id="late", op="add", inputs=["x0", "undefined"])
    count = 0 if rarely(draw, 2) else draw(st.integers(1, 2))
    for k, value in enumerate([values[-1], draw(st.sampled_from(values))][:count]):
        msg.outputs.add(name=usually(draw, (f"y{k}",), ODD_NAMES, 4), value=value)
    if rarely(draw, 2):
        msg.outputs.add(name=draw(st.sampled_from(("", "y0", "z"))),
                        value=draw(st.sampled_from(("x0", "nowhere"))))
    return case_of(msg, builder.registry)


def case_of(msg: graph_pb2.Graph, registry=None) -> Case:
    """A case for a graph message (a drawn one, or a derivative graph the server returned)."""
    try:
        return Case(msg, graph_from_proto(msg, registry))
    except WengertError:
        return Case(msg, None)


def _node_id(draw, builder: GraphBuilder) -> str:
    return usually(draw, (f"v{len(builder.types)}",), ODD_NAMES, 3)


def _add_node(draw, ops: list[Op], builder: GraphBuilder, msg: graph_pb2.Graph, values: list[str]) -> bool:
    """Draw a node the local builder accepts (four ops, three tries at operands and attributes
    each) and append it; now and then append one it refuses instead. False when the graph
    should end here."""
    for _ in range(4):
        op = ops[draw(st.integers(0, 1 << 16)) % len(ops)]  # evenly: sampled_from favours the first ones
        if rarely(draw, 1):
            op = Op("no_such_op", 1, ())
        for _ in range(3):
            arity = op.arity if op.arity is not None else draw(st.integers(1, 3))
            operands = [_operand(draw, builder, values) for _ in range(arity)]
            types = [builder.types[v] for v in operands]
            attrs = {a.name: draw(attr_values(a, types))
                     for a in op.attrs if a.required or draw(st.booleans())}
            if rarely(draw, 2):
                attrs["no_such_attr"] = graph_pb2.AttrValue(i=1)
            fits = _append(builder, msg, values, op.name, operands, attrs, _node_id(draw, builder),
                           keep_refused=rarely(draw, 4), bomb=rarely(draw, BOMBS))
            if fits is not None:
                return fits
    return True


def _operand(draw, builder: GraphBuilder, values: list[str]) -> str:
    """One of `values`, half the time of a dtype drawn first: integer and bool values are rarer
    than float ones, and the ops that take indices or conditions need them."""
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(sorted({builder.types[v].dtype for v in values})))
        values = [v for v in values if builder.types[v].dtype == dtype]
    return draw(st.sampled_from(values))


def _append(builder: GraphBuilder, msg: graph_pb2.Graph, values: list[str], op: str, operands: list[str],
            attrs: dict, node_id: str, keep_refused: bool = False, bomb: bool = False) -> bool | None:
    """Append the node when the local builder accepts it: True. When it refuses it, append it
    anyway if `keep_refused` (False), else leave it out (None), as also a node whose value would
    have more than MAX_VALUE_ELEMENTS elements (open dimensions counted as 3) unless it is a
    `bomb`. The builder records what it accepts, appended or not: an unused value is harmless."""
    try:
        python_attrs = {key: attr_from_proto(value) for key, value in attrs.items()}
        value = builder.add(op, [builder.value(v) for v in operands], python_attrs, node_id=node_id)
    except WengertError:
        fits = False
    else:
        if math.prod(3 if d == -1 else d for d in value.type.shape) > MAX_VALUE_ELEMENTS and not bomb:
            return None
        fits = True
    if not (fits or keep_refused):
        return None
    node = msg.nodes.add(id=node_id, op=op, inputs=operands)
    for key, attr in attrs.items():
        node.attrs[key].CopyFrom(attr)
    if fits:
        values.append(node_id)
    return fits


# -- requests ---------------------------------------------------------------------------------
@dataclass
class Point:
    """Inputs drawn for a case: the tensors sent, and the (dtype, shape) of every input sent and
    of every output at them (outputs known only when the local builder could specialize)."""

    tensors: dict[str, tensor_pb2.Tensor]
    inputs: dict[str, tuple[str, tuple[int, ...]]]
    outputs: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)


@st.composite
def points(draw, case: Case) -> Point:
    """One tensor per graph input (now and then one missing, extra or mismatched)."""
    tensors_, inputs = {}, {}
    for gi in case.graph.inputs:
        dtype = _dtype_name(gi.type.dtype)
        shape = concrete(draw, TensorType(dtype, tuple(gi.type.shape)))
        if rarely(draw, 3):
            dtype = draw(st.sampled_from(tuple(DTYPES)))
        if rarely(draw, 3):
            shape = shape + (1,)
        inputs[gi.name] = (dtype, shape)
        tensors_[gi.name] = draw(tensors(dtype, shape))
    if tensors_ and rarely(draw, 3):
        tensors_.pop(draw(st.sampled_from(sorted(tensors_))))
    if rarely(draw, 2):
        tensors_["extra"] = draw(tensors("float64", ()))
    point = Point(tensors_, inputs)
    if case.decoded is not None:
        try:
            graph = _ENGINE.specialize(case.decoded, {n: np.empty(shape, DTYPES[dtype])
                                                      for n, (dtype, shape) in inputs.items()})
            point.outputs = {n: (graph.output_type(n).dtype, graph.output_type(n).shape)
                             for n in graph.output_names}
        except (WengertError, ValueError):  # the inputs do not fit the graph
            pass
    return point


def _dtype_name(code: int) -> str:
    return next((name for name in DTYPES if dtype_to_proto(name) == code), "float64")


class _Fields:
    """Draws the fields of one request at a point: name selections, seeds, batch sizes."""

    def __init__(self, draw, case: Case, point: Point):
        self.draw, self.point = draw, point
        self.output_names = list(point.outputs) or [o.name for o in case.graph.outputs]
        self.float_inputs = [n for n, (dtype, _) in point.inputs.items() if dtype.startswith("float")]
        self.float_outputs = [n for n, (dtype, _) in point.outputs.items() if dtype.startswith("float")]
        self.scalars = [n for n in self.float_outputs if math.prod(point.outputs[n][1]) == 1]

    def subset(self, names: list[str]) -> list[str]:
        """Some of `names` (maybe none), now and then with a name that is not among them or
        one named twice."""
        chosen = [n for n in names if self.draw(st.booleans())]
        odd = usually(self.draw, ([],), (["nope"], chosen[:1]), 5)
        return chosen + odd

    def some(self, names: list[str]) -> list[str]:
        """Like `subset`, but at least one of `names` when there are any."""
        return self.subset(names) or names[:1]

    def scalar(self) -> str:
        """A float scalar output to differentiate or minimize ("" for the only output), now and
        then another output or a name that is not one."""
        common = self.scalars + [""] * (len(self.output_names) == 1) or [""]
        return usually(self.draw, common, self.output_names + ["", "nope"], 10)

    def batch(self) -> int | None:
        """A batch size (0 to 5; the fuzz server allows 4), or most often None: unbatched."""
        return self.draw(st.integers(0, 5)) if rarely(self.draw, 25) else None

    def seeds(self, types: dict, names: list[str], batch: int | None = None) -> dict[str, tensor_pb2.Tensor]:
        """Tangents, cotangents or directions for `names`, shaped like the values `types` gives
        (after a batch axis of `batch`); now and then misshapen."""
        out = {}
        for name in names:
            dtype, shape = types.get(name, ("float64", ()))
            # open dimensions, which a node may leave open on concrete inputs (a scatter_slice
            # of shape -1), drawn as for inputs
            shape = concrete(self.draw, TensorType(dtype, shape))
            shape = shape if batch is None else (batch,) + shape
            if rarely(self.draw, 3):
                shape = shape[1:] if shape else (2,)
            out[name] = self.draw(tensors(dtype, shape))
        return out


def _with_outputs(request, fields: _Fields) -> None:
    request.outputs.extend(fields.subset(fields.output_names))


def _evaluate(request, fields: _Fields) -> None:
    _with_outputs(request, fields)


def _jvp(request, fields: _Fields) -> None:
    _with_outputs(request, fields)
    size = fields.batch()
    request.batched = size is not None
    for name, t in fields.seeds(fields.point.inputs, fields.some(fields.float_inputs), size).items():
        request.tangents[name].CopyFrom(t)


def _vjp(request, fields: _Fields) -> None:
    _with_outputs(request, fields)
    request.wrt.extend(fields.subset(fields.float_inputs))
    size = fields.batch()
    request.batched = size is not None
    selected = [n for n in fields.float_outputs if n in request.outputs or not request.outputs]
    for name, t in fields.seeds(fields.point.outputs, fields.some(selected), size).items():
        request.cotangents[name].CopyFrom(t)


def _jacobian(request, fields: _Fields) -> None:
    request.outputs.extend(usually(fields.draw, [fields.subset(fields.float_outputs)], [fields.output_names]))
    request.wrt.extend(fields.subset(fields.float_inputs))
    request.mode = usually(fields.draw, (0, 1, 2), (7,), 5)
    request.format = usually(fields.draw, (0, 1), (5,), 5)


def _hessian(request, fields: _Fields) -> None:
    request.output = fields.scalar()
    request.wrt.extend(fields.subset(fields.float_inputs))
    request.format = usually(fields.draw, (0, 1), (5,), 5)


def _hvp(request, fields: _Fields) -> None:
    request.output = fields.scalar()
    size = fields.batch()
    request.batched = size is not None
    for name, t in fields.seeds(fields.point.inputs, fields.some(fields.float_inputs), size).items():
        request.directions[name].CopyFrom(t)


def _trace(request, fields: _Fields) -> None:
    _with_outputs(request, fields)
    request.mode = usually(fields.draw, (0, 1, 2), (6,), 5)
    if request.mode == 1 or rarely(fields.draw, 5):
        for name, t in fields.seeds(fields.point.inputs, fields.subset(fields.float_inputs)).items():
            request.tangents[name].CopyFrom(t)
    seeded = request.mode == 2 and (len(fields.scalars) != 1 or fields.draw(st.booleans()))  # else: 1
    if seeded or rarely(fields.draw, 5):
        for name, t in fields.seeds(fields.point.outputs, fields.some(fields.float_outputs)).items():
            request.cotangents[name].CopyFrom(t)


def _derivative_graph(request, fields: _Fields) -> None:
    request.kind = usually(fields.draw, (1, 2, 3), (0, 9))
    request.wrt.extend(fields.subset(fields.float_inputs))
    if request.kind == 2:
        request.outputs.extend(fields.subset(fields.output_names))
    elif request.kind == 3:
        request.outputs.append(fields.scalar())
    elif rarely(fields.draw, 10):
        request.outputs.extend(fields.output_names)


def _minimize(request, fields: _Fields) -> None:
    draw = fields.draw
    request.loss = fields.scalar()
    parameters = fields.some(fields.float_inputs)
    for name, tensor in fields.point.tensors.items():
        getattr(request, "parameters" if name in parameters else "data")[name].CopyFrom(tensor)
    request.norm.name = usually(draw, NORMS[:-1], NORMS[-1:], 5)
    if rarely(draw, 10):
        for name in parameters:
            request.norm.parameter_norms[name] = draw(st.sampled_from(NORMS))
    request.learning_rate = usually(draw, (0.1, 0.01, 1.0, 1e300), DOUBLES)
    request.momentum = usually(draw, (0.0, 0.9), (1.0, -0.5, math.nan, math.inf))
    request.schedule.kind = usually(draw, (0, 1, 2), (7,), 5)
    request.schedule.decay = usually(draw, (0.5, 1.0), DOUBLES)
    request.schedule.steps = usually(draw, range(1, 5), (0,))
    request.stop.max_steps = usually(draw, range(1, MAX_STEPS + 1), (0,))
    request.stop.gradient_tolerance = usually(draw, (0.0, 1e-3, 1.0), DOUBLES)
    request.stop.max_seconds = usually(draw, (0.0, MAX_SECONDS / 4, MAX_SECONDS), (math.nan, -1.0, 0.0))
    request.report_every = draw(st.integers(0, 3))
    request.report_parameters = draw(st.booleans())


FIELDS = {"Evaluate": _evaluate, "Jvp": _jvp, "Vjp": _vjp, "Jacobian": _jacobian, "JacobianStream": _jacobian,
          "Hessian": _hessian, "Hvp": _hvp, "Trace": _trace, "DerivativeGraph": _derivative_graph,
          "Minimize": _minimize}
FUZZED = tuple(FIELDS)  # every RPC that takes a graph
TAKES_INPUTS = frozenset(FIELDS) - {"DerivativeGraph", "Minimize"}


@st.composite
def requests(draw, case: Case) -> list[tuple[str, object, bool]]:
    """(method, request, by_id) for every RPC in FUZZED, at one drawn point. `by_id`: send the
    graph by the id an earlier response gave, when there is one (the fuzzer knows)."""
    point = draw(points(case))
    fields = _Fields(draw, case, point)
    out = []
    for method in FUZZED:
        request = message_factory.GetMessageClass(METHODS[method].input_type)()
        ref = usually(draw, ("graph", "graph", "by id"), ("unknown id", "none"), 6)
        if ref in ("graph", "by id"):
            request.graph.CopyFrom(case.graph)
        elif ref == "unknown id":
            request.graph_id = draw(st.sampled_from(("0" * 64, "not an id", "")))
        if method in TAKES_INPUTS:
            for name, tensor in point.tensors.items():
                request.inputs[name].CopyFrom(tensor)
        FIELDS[method](request, fields)
        out.append((method, request, ref == "by id"))
    return out


# -- byte mutations -----------------------------------------------------------------------------
@st.composite
def mutants(draw, payload: bytes, count: int) -> list[bytes]:
    """`count` mutations of serialized `payload`, each one to three edits: bit flips, bytes
    overwritten, inserted, deleted or repeated, truncation, appended garbage or varints."""
    return [_mutate(draw, payload) for _ in range(count)]


def _mutate(draw, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(("flip", "flip", "byte", "insert", "delete", "repeat", "truncate",
                                     "varint", "append")))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 32))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "varint":  # a huge or overlong varint: lengths, counts, enum values
            data[at:at] = draw(st.sampled_from((b"\xff" * 9 + b"\x01", b"\xff" * 10, b"\x80" * 11,
                                                b"\xff\xff\xff\xff\x0f")))
        else:
            data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


# -- field mutations ------------------------------------------------------------------------------
# No integer a tensor could be sized by and still be allocated: sizes are small, or far beyond
# any machine (NumPy refuses them at once). Enum codes and Minimize's limits get their own.
EXTREME_INTS = (0, 1, -1, 3, 9, 2**40, 2**62, 2**63 - 1, -(2**63), 2**64 - 1)
ENUM_CODES = (0, 1, 2, 3, 9, 2**31 - 1, -(2**31))
RUN_LIMITS = {"max_steps": (0, 1, MAX_STEPS), "max_seconds": (0.0, -1.0, math.nan, MAX_SECONDS)}


@st.composite
def field_mutants(draw, request: Message, count: int) -> list[Message]:
    """`count` copies of `request`, each with one to three fields changed to what the
    generator never picks: extreme numbers, NaN, odd names, bytes cut or lengthened, entries of a
    list or map added or dropped, a sub-message cleared. Unlike byte mutants these parse, so
    they reach the decoders and the engine."""
    out = []
    for _ in range(count):
        copy = type(request)()
        copy.CopyFrom(request)
        for _ in range(draw(st.integers(1, 3))):
            _change(draw, *draw(st.sampled_from(list(_fields(copy)))))
        out.append(copy)
    return out


def _fields(msg: Message):
    """Every (message, field) in `msg` and the messages it holds (map values included)."""
    for descriptor in msg.DESCRIPTOR.fields:
        yield msg, descriptor
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        value = getattr(msg, descriptor.name)
        if _is_map(descriptor):
            items = [v for v in value.values() if isinstance(v, Message)]
        elif descriptor.is_repeated:
            items = list(value)
        else:
            items = [value] if msg.HasField(descriptor.name) else []
        for item in items:
            yield from _fields(item)


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _change(draw, msg: Message, field: FieldDescriptor) -> None:
    value = getattr(msg, field.name)
    try:
        if _is_map(field):
            if value and draw(st.booleans()):
                del value[draw(st.sampled_from(sorted(value)))]
            elif field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                value[draw(st.sampled_from(ODD_NAMES))].SetInParent()
            else:
                value[draw(st.sampled_from(ODD_NAMES))] = draw(st.sampled_from(NORMS))
        elif field.is_repeated:
            if value and draw(st.booleans()):
                del value[draw(st.integers(0, len(value) - 1))]
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                value.add()
            else:
                value.append(_scalar(draw, field))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            msg.ClearField(field.name) if draw(st.booleans()) else value.SetInParent()
        else:
            setattr(msg, field.name, _scalar(draw, field, value))
    except (ValueError, TypeError):  # a value out of the field's range: leave it
        pass


def _scalar(draw, field: FieldDescriptor, old=None):
    """A value of `field`'s type the generator never picks."""
    kind = field.type
    if field.name in RUN_LIMITS:  # a Minimize run as long as asked is no hang
        return draw(st.sampled_from(RUN_LIMITS[field.name]))
    if kind == FieldDescriptor.TYPE_ENUM:
        return draw(st.sampled_from(ENUM_CODES))
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return draw(st.sampled_from(DOUBLES))
    if kind == FieldDescriptor.TYPE_BOOL:
        return not old
    if kind == FieldDescriptor.TYPE_STRING:
        return draw(st.sampled_from(ODD_NAMES))
    if kind == FieldDescriptor.TYPE_BYTES:
        old = old or b""
        return draw(st.sampled_from((b"", old[:-1], old + b"\x00", old + old, b"\x02" * len(old))))
    return draw(st.sampled_from(EXTREME_INTS))  # out-of-range ones are skipped


# -- sending --------------------------------------------------------------------------------------
class Fuzzer:
    """Sends raw request bytes to the service (identity serializers, so what protobuf could not
    even encode can be sent), with a deadline on every call; checks the status is in ALLOWED and
    an OK answer parses; counts answers by (method, status)."""

    def __init__(self, channel: grpc.Channel, deadline: float):
        self.deadline = deadline
        self.counts: Counter[tuple[str, str]] = Counter()
        self._calls = {name: (channel.unary_stream if m.server_streaming else channel.unary_unary)(
            f"/{SERVICE.full_name}/{name}") for name, m in METHODS.items()}

    def send(self, method: str, payload: bytes, shown: str = "") -> tuple[str, list]:
        """(status name, parsed responses) of one call; `shown` describes the request when it fails."""
        try:
            answer = self._calls[method](payload, timeout=self.deadline)
            raw = list(answer) if METHODS[method].server_streaming else [answer]
            code, details = "OK", ""
        except grpc.RpcError as exc:
            raw, code, details = [], exc.code().name, exc.details()
        self.counts[method, code] += 1
        assert code in ALLOWED or code == "DEADLINE_EXCEEDED" and _asks_for_a_long_run(method, payload), (
            f"{method} answered {code}: {details}\nrequest: {shown or payload[:2000].hex()}")
        response_class = message_factory.GetMessageClass(METHODS[method].output_type)
        return code, [response_class.FromString(r) for r in raw]

    def send_message(self, method: str, request) -> tuple[str, list]:
        return self.send(method, request.SerializeToString(),
                         text_format.MessageToString(request, as_one_line=True)[:4000])

    def exchange(self, data, case: Case, graph_id: str = "", follow: bool = True) -> list[tuple[str, object]]:
        """Send every request drawn (from Hypothesis' `data`) for `case`, the graph by id
        where drawn so and an id is known (`graph_id`, or from an earlier response); then,
        when `follow`, the same for the derivative graph DerivativeGraph returned. Returns the
        (method, request) pairs sent."""
        sent = []
        for method, request, by_id in data.draw(requests(case)):
            if by_id and graph_id:
                request.graph_id = graph_id
            code, responses = self.send_message(method, request)
            sent.append((method, request))
            if code != "OK":
                continue
            graph_id = graph_id or _graph_id(responses[0])
            if method == "DerivativeGraph" and follow:
                derivative = responses[0]
                sent += self.exchange(data, case_of(derivative.graph), derivative.derivative_graph_id,
                                      follow=False)
        return sent

    def total(self) -> int:
        return sum(self.counts.values())

    def table(self) -> str:
        """The counts as a table: one row per method, one column per status, and totals."""
        codes = sorted({code for _, code in self.counts})
        rows = [["method", *codes, "total"]]
        for method in sorted({m for m, _ in self.counts}):
            row = [self.counts[method, code] for code in codes]
            rows.append([method, *map(str, row), str(sum(row))])
        totals = [sum(n for (_, c), n in self.counts.items() if c == code) for code in codes]
        rows.append(["total", *map(str, totals), str(sum(totals))])
        width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join([row[0].ljust(width[0]), *map(str.rjust, row[1:], width[1:])])
                         for row in rows)


def _asks_for_a_long_run(method: str, payload: bytes) -> bool:
    """A Minimize request (its bytes mutated) that allows more than MAX_STEPS steps and more
    than MAX_SECONDS seconds: running past the deadline is what it asked for, not a hang."""
    if method != "Minimize":
        return False
    try:
        stop = pb.MinimizeRequest.FromString(payload).stop
    except DecodeError:
        return False
    return stop.max_steps not in range(1, MAX_STEPS + 1) and not 0 < stop.max_seconds <= MAX_SECONDS


def _graph_id(response) -> str:
    """The graph id a response reports (a JacobianStream reports it in its header)."""
    return response.header.graph_id if response.DESCRIPTOR.name == "JacobianPiece" else response.graph_id
