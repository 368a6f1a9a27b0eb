"""The graph IR: four small immutable records and the Wengert-list printer.

A `Graph` is a Wengert list: named typed inputs, nodes in topological order, named outputs.
Every value is named by an id: an input's name or a node's id. Node records are produced by
`wengert.ir.builder.GraphBuilder`, which checks them and infers their output `type`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name) for name in ("float64", "float32", "int64", "int32", "bool")
}
FLOAT_DTYPES = frozenset({"float64", "float32"})


_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in DTYPES.items()}


def dtype_name(dtype: Any) -> str:
    """The wengert name of a NumPy dtype (of either byte order), or ValueError for one the wire
    cannot carry."""
    dtype = np.dtype(dtype)
    name = _NAMES.get((dtype.kind, dtype.itemsize))  # `dtype.name` is slow; this runs per request
    if name is None:
        raise ValueError(f"dtype {dtype.name} is not supported (use one of {', '.join(DTYPES)})")
    return name


# Shapes NumPy can hold, with room for what derivatives build from them: a batch axis in front
# (batched sweeps) and out_shape + in_shape (Jacobian and Hessian blocks), within NumPy 1.x's 32
# dimensions, and for an empty tensor (a 0 somewhere) dimensions whose product, squared and
# times 8 bytes, still fits NumPy's 63-bit byte count.
MAX_DIMS = 16
MAX_EMPTY_EXTENT = 1 << 28


def shape_problem(shape: tuple[int, ...]) -> str | None:
    """Why arrays of `shape` cannot be used (too many dimensions, or an empty shape whose other
    dimensions are absurdly large), or None. Open (-1) dimensions are not counted."""
    if len(shape) > MAX_DIMS:
        return f"{len(shape)} dimensions, more than the {MAX_DIMS} supported"
    if 0 in shape and math.prod(d for d in shape if d > 0) > MAX_EMPTY_EXTENT:
        return (f"empty shape {list(shape)}: the product of its other dimensions may be at most "
                f"{MAX_EMPTY_EXTENT}")
    return None


def shape_text(shape) -> str:
    """A shape as every message writes it: `[3,4]`, `[]` for a scalar, `?` for an open dimension."""
    return f"[{','.join('?' if d == -1 else str(d) for d in shape)}]"


@dataclass(frozen=True)
class TensorType:
    """dtype + shape. A dimension of -1 is open (any size), e.g. a batch dimension."""

    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        # Types key the builder's caches, hashed several times per node: hashed once here.
        object.__setattr__(self, "_hash", hash((self.dtype, self.shape)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):  # the hash is per process (string hashing is salted): not pickled
        return TensorType, (self.dtype, self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @cached_property
    def size(self) -> int:
        """Elements (-1 when a dimension is open); exact, however large, as a Python int."""
        return math.prod(self.shape) if -1 not in self.shape else -1

    @cached_property
    def nbytes(self) -> int:
        """Bytes of a tensor of this type (0 when a dimension is open)."""
        return max(self.size, 0) * DTYPES[self.dtype].itemsize

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_concrete(self) -> bool:
        return -1 not in self.shape

    def accepts(self, array: np.ndarray, skip: int = 0) -> bool:
        """True when `array` (less its first `skip` axes) has this dtype and a shape matching
        this one (-1 matches any)."""
        shape = array.shape[skip:] if skip else array.shape
        if _NAMES.get((array.dtype.kind, array.dtype.itemsize)) != self.dtype:
            return False
        return shape == self.shape or (len(shape) == self.ndim and
                                       all(d == -1 or d == a for d, a in zip(self.shape, shape)))

    @classmethod
    def of(cls, array: np.ndarray) -> TensorType:
        return cls(dtype_name(array.dtype), tuple(int(d) for d in array.shape))

    def __str__(self) -> str:
        return f"{self.dtype}{shape_text(self.shape)}"


@dataclass(frozen=True, eq=False)
class Literal:
    """A constant tensor inside a graph (a `constant` node's value, or a tensor attribute).

    Frozen and read-only so graphs stay hashable; equality is by dtype, shape and bytes."""

    array: np.ndarray
    digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        array = np.array(self.array, copy=True, order="C")
        name = dtype_name(array.dtype)  # the dtype's name, as `dtype.name` says it, ten times faster
        array.setflags(write=False)
        object.__setattr__(self, "array", array)
        h = hashlib.sha256(f"{name}{array.shape}".encode())
        h.update(array.tobytes())
        object.__setattr__(self, "digest", h.hexdigest())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Literal) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        if self.array.size <= 6:
            return np.array2string(self.array, precision=4, separator=", ")
        return f"<{TensorType.of(self.array)}>"


@dataclass(frozen=True)
class Node:
    """One line of the Wengert list: `id = op(inputs..., attrs...)`, of output `type`."""

    id: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...]
    type: TensorType

    @property
    def attr_dict(self) -> dict[str, Any]:
        return dict(self.attrs)

    @property
    def bodies(self) -> tuple[Graph, ...]:
        """The graphs its attributes hold (a loop's body, a switch's branches), in order."""
        if not self.attrs:
            return ()
        return tuple(g for _, v in self.attrs for g in (v if isinstance(v, tuple) else (v,))
                     if isinstance(g, Graph))


def make_node(node_id: str, op: str, inputs: tuple[str, ...], attrs: tuple[tuple[str, Any], ...],
              type_: TensorType) -> Node:
    """`Node(node_id, op, inputs, attrs, type_)`, made as builders make them, by the hundred
    thousand: filled in directly rather than field by field through the frozen dataclass's
    `__init__` (three times as slow)."""
    node = _new(Node)
    fields = node.__dict__
    fields["id"], fields["op"], fields["inputs"], fields["attrs"], fields["type"] = (
        node_id, op, inputs, attrs, type_)
    return node


_new = object.__new__


@dataclass(frozen=True)
class Graph:
    """Inputs (name, type), nodes in topological order, outputs (name, value id)."""

    inputs: tuple[tuple[str, TensorType], ...]
    nodes: tuple[Node, ...]
    outputs: tuple[tuple[str, str], ...]

    def __hash__(self) -> int:
        # Graphs key the engine's caches; hashing every node on each request would cost O(n).
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.inputs, self.nodes, self.outputs))
            object.__setattr__(self, "_hash", cached)
        return cached

    # Derived views, computed once per graph (graphs are immutable and served many times).
    @cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    @cached_property
    def input_types(self) -> dict[str, TensorType]:
        """Input name -> type, in order (read-only by convention)."""
        return dict(self.inputs)

    @cached_property
    def output_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.outputs)

    @cached_property
    def types(self) -> dict[str, TensorType]:
        """Value id -> type, for every input and node (read-only by convention)."""
        types = dict(self.inputs)
        types.update((node.id, node.type) for node in self.nodes)
        return types

    def type_of(self, value_id: str) -> TensorType:
        return self.types[value_id]

    def output_type(self, name: str) -> TensorType:
        return self.types[self._output_values[name]]

    @cached_property
    def _output_values(self) -> dict[str, str]:
        return dict(self.outputs)

    @cached_property
    def constant_bytes(self) -> int:
        """Bytes of the tensors the graph carries (constants and tensor attributes), its
        nodes' bodies included."""
        total = 0
        for node in self.nodes:  # one pass: caches weigh every graph they keep by this
            for _, value in node.attrs:
                if type(value) is Literal:
                    total += value.array.nbytes
                elif type(value) is Graph or type(value) is tuple:
                    total += sum(g.constant_bytes for g in (value if type(value) is tuple else (value,))
                                 if type(g) is Graph)
        return total

    @cached_property
    def node_count(self) -> int:
        """Nodes, those of its nodes' bodies included."""
        return len(self.nodes) + sum(body.node_count for node in self.nodes for body in node.bodies)

    def __str__(self) -> str:
        return wengert_list(self)


_INFIX = {"add": "+", "sub": "-", "mul": "×", "div": "/", "pow": "^", "matmul": "@"}
_NOTATION = {"log": "ln"}


def wengert_list(graph: Graph, values: dict[str, np.ndarray] | None = None) -> str:
    """The graph in the notes' notation: inputs v-(n-1)..v0, working variables v1..vl, outputs.

    With `values` (id -> array), each line also shows its value, as the notes' primal trace does.
    """
    n = len(graph.inputs)
    label = {name: f"v{i - n + 1}" for i, (name, _) in enumerate(graph.inputs)}
    label.update((node.id, f"v{i + 1}") for i, node in enumerate(graph.nodes))

    def shown(value_id: str) -> str:
        if values is None or value_id not in values:
            return ""
        return " = " + format_value(values[value_id])

    lines = [f"{label[name]} = {name}{shown(name)}" for name, _ in graph.inputs]
    for node in graph.nodes:
        args = [label[i] for i in node.inputs]
        attrs = {k: v for k, v in node.attrs if k != "value"}
        if node.op == "constant":
            expr = repr(node.attr_dict["value"])
        elif node.op in _INFIX and len(args) == 2:
            expr = f"{args[0]} {_INFIX[node.op]} {args[1]}"
        else:
            expr = f"{_NOTATION.get(node.op, node.op)} {' '.join(args)}".rstrip()
        if attrs:
            expr += " (" + ", ".join(f"{k}={_short(v)}" for k, v in attrs.items()) + ")"
        lines.append(f"{label[node.id]} = {expr}{shown(node.id)}")
        for name, value in attrs.items():  # bodies, indented under their node
            for i, body in enumerate(value if isinstance(value, tuple) else (value,)):
                if isinstance(body, Graph):
                    suffix = f"[{i}]" if isinstance(value, tuple) else ""
                    lines.append(f"    {name}{suffix}:")
                    lines += ["        " + line for line in wengert_list(body).splitlines()]
    lines += [f"{name} = {label[vid]}{shown(vid)}" for name, vid in graph.outputs]
    return "\n".join(lines)


def _short(value: Any) -> str:
    """An attribute in a node's line: a body as its size (it is listed below the node)."""
    if isinstance(value, Graph):
        return f"<graph: {len(value.inputs)} inputs, {len(value.nodes)} nodes>"
    if isinstance(value, tuple) and value and all(isinstance(v, Graph) for v in value):
        return f"<{len(value)} graphs>"
    return str(value)


def format_value(array: np.ndarray) -> str:
    if np.ndim(array) == 0:
        return f"{float(array):.4g}" if np.issubdtype(np.asarray(array).dtype, np.floating) else str(array)
    return np.array2string(np.asarray(array), precision=4, threshold=8, separator=", ")
