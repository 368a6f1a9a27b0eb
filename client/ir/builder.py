"""Building graphs: symbolic `Value`s, the `GraphBuilder` that records nodes, and `trace`.

The same builder serves three callers: the SDK (user code traced into a graph), the
validator (a wire graph rebuilt node by node, so every check runs in one place), and the
autodiff transforms (derivative rules build the JVP/VJP graph with these very ops).
"""

from __future__ import annotations

import contextvars
import inspect
import numbers
from typing import Any, Callable, Iterable

import numpy as np

from wengert.autodiff import simplify
from wengert.errors import InvalidGraph, UnknownOp, WengertError, node_error
from wengert.ir.graph import Graph, Literal, Node, TensorType, dtype_name, shape_problem

_current: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar(
    "wengert_builder", default=None
)

# Folding constants is worth it only while the folded tensor stays small.
_FOLD_LIMIT = 4096


class Value:
    """A symbolic tensor: a value id in the graph a builder is recording.

    Operators and NumPy calls on it record nodes (`x * 2`, `np.sin(x)`, `x @ W`); it has no
    numeric value until the graph is evaluated, so Python `if x > 0:` is an error: use `wg.where`.
    `x[key]` indexes as NumPy does (`wengert.indexing`), but a boolean mask must be known when
    tracing: `x[x > 0]` would have a data-dependent shape.
    """

    __slots__ = ("builder", "id", "type")
    __array_priority__ = 1000  # ndarray (op) Value defers to Value's reflected operator

    def __init__(self, builder: GraphBuilder, value_id: str, type_: TensorType):
        self.builder, self.id, self.type = builder, value_id, type_

    shape = property(lambda self: self.type.shape)
    dtype = property(lambda self: self.type.dtype)
    ndim = property(lambda self: self.type.ndim)
    size = property(lambda self: self.type.size)
    T = property(lambda self: apply("transpose", self))
    mT = property(lambda self: _api().transpose(self, (*range(self.ndim - 2), self.ndim - 1, self.ndim - 2)))

    def __repr__(self) -> str:
        return f"Value({self.id}: {self.type})"

    def __hash__(self) -> int:
        return hash((id(self.builder), self.id))

    def __bool__(self) -> bool:
        raise TypeError(
            f"{self!r} is symbolic and has no truth value; use wg.where for data-dependent choices"
        )

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar value")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    __add__ = lambda self, o: apply("add", self, o)
    __radd__ = lambda self, o: apply("add", o, self)
    __sub__ = lambda self, o: apply("sub", self, o)
    __rsub__ = lambda self, o: apply("sub", o, self)
    __mul__ = lambda self, o: apply("mul", self, o)
    __rmul__ = lambda self, o: apply("mul", o, self)
    __truediv__ = lambda self, o: apply("div", self, o)
    __rtruediv__ = lambda self, o: apply("div", o, self)
    __pow__ = lambda self, o: apply("pow", self, o)
    __rpow__ = lambda self, o: apply("pow", o, self)
    __matmul__ = lambda self, o: _api().matmul(self, o)
    __rmatmul__ = lambda self, o: _api().matmul(o, self)
    __floordiv__ = lambda self, o: apply("floor_divide", self, o)
    __rfloordiv__ = lambda self, o: apply("floor_divide", o, self)
    __mod__ = lambda self, o: apply("remainder", self, o)
    __rmod__ = lambda self, o: apply("remainder", o, self)
    __and__ = lambda self, o: apply("bitwise_and", self, o)
    __rand__ = lambda self, o: apply("bitwise_and", o, self)
    __or__ = lambda self, o: apply("bitwise_or", self, o)
    __ror__ = lambda self, o: apply("bitwise_or", o, self)
    __xor__ = lambda self, o: apply("bitwise_xor", self, o)
    __rxor__ = lambda self, o: apply("bitwise_xor", o, self)
    __lshift__ = lambda self, o: apply("bitwise_left_shift", self, o)
    __rshift__ = lambda self, o: apply("bitwise_right_shift", self, o)
    __invert__ = lambda self: apply("bitwise_invert", self)
    __neg__ = lambda self: apply("neg", self)
    __pos__ = lambda self: self
    __abs__ = lambda self: apply("abs", self)
    __lt__ = lambda self, o: apply("less", self, o)
    __le__ = lambda self, o: apply("less_equal", self, o)
    __gt__ = lambda self, o: apply("greater", self, o)
    __ge__ = lambda self, o: apply("greater_equal", self, o)
    __eq__ = lambda self, o: apply("equal", self, o)  # type: ignore[assignment]
    __ne__ = lambda self, o: apply("not_equal", self, o)  # type: ignore[assignment]
    __getitem__ = lambda self, key: _api().getitem(self, key)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from wengert import numpy_protocol

        return numpy_protocol.array_ufunc(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from wengert import numpy_protocol

        return numpy_protocol.array_function(func, args, kwargs)

    def reshape(self, *shape):
        return _api().reshape(self, shape[0] if len(shape) == 1 else shape)

    def sum(self, axis=None, keepdims=False):
        return _api().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _api().mean(self, axis=axis, keepdims=keepdims)

    def astype(self, dtype):
        return _api().cast(self, dtype)


def _api():
    from wengert import numpy_api

    return numpy_api


class GraphBuilder:
    """Records nodes, checking each as it is added: op known, arity, attributes, shapes.

    With `simplify=True` (derivative graphs) it also folds small constants, reuses an identical
    node instead of adding a duplicate (common subexpressions), and drops identities such as
    `x * 1` and `x + 0`. The validator uses `simplify=False` so a user's graph keeps its nodes.
    """

    def __init__(self, registry=None, *, simplify: bool = False):
        if registry is None:
            from wengert.plugins.registry import default_registry

            registry = default_registry()
        self.registry = registry
        self.simplify = simplify
        self.inputs: list[tuple[str, TensorType]] = []
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, Literal] = {}
        self.derived: set[str] = set()  # values that are tangents or cotangents (see simplify)
        self._node_of: dict[str, Node] = {}
        self._memo: dict[tuple, str] = {}
        self._counter = 0

    # -- recording -----------------------------------------------------------------------
    def input(self, name: str, type_: TensorType, *, derived: bool = False) -> Value:
        """Declare an input; `derived` marks a tangent or cotangent input (see simplify)."""
        if not isinstance(name, str) or not name:
            raise InvalidGraph(f"input names must be non-empty strings, got {name!r}")
        if name in self.types:
            raise InvalidGraph(f"input {name!r} is declared twice")
        self.inputs.append((name, type_))
        self.types[name] = type_
        if derived:
            self.derived.add(name)
        return Value(self, name, type_)

    def value(self, value_id: str) -> Value:
        return Value(self, value_id, self.types[value_id])

    def constant(self, array: Any, node_id: str | None = None) -> Value:
        literal = array if isinstance(array, Literal) else Literal(np.asarray(array))
        return self.add("constant", (), {"value": literal}, node_id=node_id)

    def add(
        self, op_name: str, inputs: Iterable[Value], attrs: dict[str, Any], node_id: str | None = None
    ) -> Value:
        """Check and record one node; returns its output value."""
        inputs = tuple(inputs)
        node_id = node_id if node_id is not None else self._fresh_id()
        try:
            op = self.registry.get(op_name)
        except UnknownOp as exc:
            raise node_error(UnknownOp, node_id, op_name, str(exc)) from None
        try:
            op.check_arity(len(inputs))
            norm = op.normalize_attrs(attrs)
            out_type = op.infer(*(v.type for v in inputs), **dict(norm))
        except WengertError as exc:  # typed by a server (`wengert.server_ops`): keep its class
            error = node_error(type(exc), node_id, op_name, str(exc))
            error.code = exc.code  # a status outside the error table travels on the instance
            raise error from None
        except Exception as exc:  # a shape rule's rejection, or a plugin's shape rule failing
            raise node_error(InvalidGraph, node_id, op_name, str(exc)) from None
        problem = shape_problem(out_type.shape)
        if problem is not None:
            raise node_error(InvalidGraph, node_id, op_name, problem)
        if self.simplify:
            found = self._simplified(op, inputs, norm, out_type)
            if found is not None:
                return found
        if node_id in self.types:
            raise node_error(InvalidGraph, node_id, op_name, "id is already defined")
        node = Node(node_id, op_name, tuple(v.id for v in inputs), norm, out_type)
        self.nodes.append(node)
        self._node_of[node_id] = node
        self.types[node_id] = out_type
        if op_name == "constant":
            self.constants[node_id] = dict(norm)["value"]
        if any(x in self.derived for x in node.inputs):
            self.derived.add(node_id)
        if self.simplify:
            self._memo[simplify.memo_key(op_name, node.inputs, norm)] = node_id
        return Value(self, node_id, out_type)

    def _simplified(self, op, inputs, attrs, out_type) -> Value | None:
        """An existing or cheaper value equal to op(inputs), or None when a new node is needed."""
        found = self._memo.get(simplify.memo_key(op.name, tuple(v.id for v in inputs), attrs))
        if found is not None:
            return self.value(found)
        if inputs and all(v.id in self.constants for v in inputs) and 0 <= out_type.size <= _FOLD_LIMIT:
            folded = self._fold(op, inputs, attrs, out_type)
            if folded is not None:
                return folded
        return simplify.rewrite(self, op.name, inputs, out_type)

    def _fold(self, op, inputs, attrs, out_type) -> Value | None:
        """op(inputs) computed now, as a constant; None when the op fails on these constants
        (`max` of an empty one, `take` out of range): the node then stays in the graph and
        fails where the graph is run, with the error an evaluation reports."""
        try:
            array = np.asarray(op.forward(*[self.constants[v.id].array for v in inputs], **dict(attrs)),
                               dtype=out_type.dtype)
        except Exception:
            return None
        return self.constant(array)

    def is_constant(self, v: Value, scalar: float) -> bool:
        """True when `v` is a (small) constant equal to `scalar` everywhere."""
        lit = self.constants.get(v.id)
        return lit is not None and lit.array.size <= _FOLD_LIMIT and bool(np.all(lit.array == scalar))

    def is_derived(self, v: Value) -> bool:
        return v.id in self.derived

    def node_of(self, v: Value) -> Node | None:
        return self._node_of.get(v.id)

    def _fresh_id(self) -> str:
        while True:
            self._counter += 1
            candidate = f"v{self._counter}"
            if candidate not in self.types:
                return candidate

    # -- finishing -----------------------------------------------------------------------
    def build(self, outputs: dict[str, Value]) -> Graph:
        """The graph computing `outputs` (name -> value); nodes no output needs are dropped."""
        for name, v in outputs.items():
            if not isinstance(v, Value) or v.builder is not self:
                raise InvalidGraph(f"output {name!r} is not a value of this graph")
        needed = {v.id for v in outputs.values()}
        kept = []
        for node in reversed(self.nodes):
            if node.id in needed:
                kept.append(node)
                needed.update(node.inputs)
        return Graph(
            tuple(self.inputs),
            tuple(reversed(kept)),
            tuple((name, v.id) for name, v in outputs.items()),
        )

    def __enter__(self) -> GraphBuilder:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _current.reset(self._token)


def current_builder(args: Iterable[Any] = ()) -> GraphBuilder | None:
    """The builder that `args`' symbolic values belong to, else the one recording now, if any."""
    return next((a.builder for a in args if isinstance(a, Value)), None) or _current.get()


def apply(op_name: str, *args: Any, **attrs: Any) -> Value:
    """Record `op_name(*args, **attrs)`; numbers and arrays among `args` become constants."""
    builder = current_builder(args)
    if builder is None:
        raise InvalidGraph(
            f"{op_name}: no graph is being built; call it inside wg.trace or on a symbolic value"
        )
    values = [a for a in args if isinstance(a, Value)]
    if any(v.builder is not builder for v in values):
        raise InvalidGraph(f"{op_name}: values from different graphs cannot be combined")
    return builder.add(op_name, [lift(builder, a, values) for a in args], attrs)


def lift(builder: GraphBuilder, x: Any, peers: list[Value] = ()) -> Value:
    """`x` as a value of `builder`: Python numbers take their peers' dtype (weak typing)."""
    if isinstance(x, Value):
        return x
    if isinstance(x, (numbers.Number, np.bool_)) and not isinstance(x, np.generic | np.ndarray):
        return builder.constant(np.asarray(x, dtype=_weak_dtype(x, peers)))
    try:
        array = np.asarray(x)
        dtype_name(array.dtype)
    except (ValueError, TypeError):
        raise InvalidGraph(f"cannot use {type(x).__name__} {x!r} as a tensor") from None
    return builder.constant(array)


def _weak_dtype(x: Any, peers: list[Value]) -> str:
    kinds = [np.dtype(p.dtype) for p in peers]
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, numbers.Integral):
        return next((k.name for k in kinds if k.kind in "fi"), "int64")
    return next((k.name for k in kinds if k.kind == "f"), "float64")


# -- tracing Python functions ------------------------------------------------------------
def spec(shape: tuple[int, ...] = (), dtype: str = "float64") -> TensorType:
    """A placeholder for `trace`: an input of this shape and dtype (-1 leaves a dim open)."""
    return TensorType(dtype_name(dtype), tuple(int(d) for d in shape))


def trace(fn: Callable[..., Any], *examples: Any, names: Iterable[str] | None = None, registry=None) -> Graph:
    """Turn a Python function into a graph by calling it once on symbolic inputs.

    Each example is an array (its dtype and shape are used) or a `wg.spec`. Inputs are named
    after the function's parameters. Python control flow is unrolled at trace time. A single
    returned value is the output `y`; a tuple gives `y0, y1, ...`; a dict names its outputs.
    """
    names = list(names) if names is not None else _parameter_names(fn, len(examples))
    builder = GraphBuilder(registry)
    with builder:
        args = [builder.input(n, e if isinstance(e, TensorType) else TensorType.of(np.asarray(e)))
                for n, e in zip(names, examples)]
        result = fn(*args)
    if isinstance(result, dict):
        outputs = dict(result)
    elif isinstance(result, (tuple, list)):
        outputs = {f"y{i}": r for i, r in enumerate(result)}
    else:
        outputs = {"y": result}
    outputs = {k: lift(builder, v) for k, v in outputs.items()}
    return builder.build(outputs)


def _parameter_names(fn: Callable, count: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"x{i}" for i in range(len(names) + 1, count + 1)]
