"""Building graphs: symbolic `Value`s, the `GraphBuilder` that records nodes, and `spec`.

The same builder serves three callers: the SDK (user code traced into a graph, see
`wengert.tracing`), the validator (a wire graph rebuilt node by node, so every check runs in
one place), and the autodiff transforms (derivative rules build the JVP/VJP graph with these
very ops).

Builders nest: a function traced while another is being traced (`wg.grad(f)` called inside a
traced function) records into a child builder, and a value of an enclosing graph that it uses
becomes one more input of the child's graph (a capture). The child's graph, or its derivative
graph, is then inlined into the parent (`GraphBuilder.inline`), so the result is one graph.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gc
import numbers
import operator
from typing import Any, Iterable

import numpy as np

from wengert.autodiff import simplify
from wengert.errors import InvalidGraph, UnknownOp, WengertError, node_error
from wengert.ir.graph import DTYPES, Graph, Literal, Node, TensorType, dtype_name, make_node, shape_problem

_current: contextvars.ContextVar[GraphBuilder | None] = contextvars.ContextVar(
    "wengert_builder", default=None
)
_budget: contextvars.ContextVar[RecordingBudget | None] = contextvars.ContextVar(
    "wengert_recording_budget", default=None
)

# Folding constants is worth it only while the folded tensor stays small.
_FOLD_LIMIT = 4096


# A node's signature (op, input types, attributes as given) -> (normalized attributes, output
# type), for signatures checked before: a traced loop or a derivative graph repeats a few
# signatures many times, and shape rules are pure functions of types and attributes. Output
# types are shared (`_TYPES`), so that keys mostly compare by identity. Signatures holding
# tensors or graphs are not kept: a cache must not keep them alive, and they are few.
_SIGNATURES: dict[tuple, tuple] = {}
_TYPES: dict[TensorType, TensorType] = {}
_SIGNATURES_KEPT = 1 << 16
_PLAIN_ATTRS = frozenset({int, float, bool, str, type(None)})
_INT = frozenset({int})
_ID = operator.attrgetter("id")
_TYPE = operator.attrgetter("type")


def _attrs_key(attrs: dict[str, Any] | tuple) -> tuple | None:
    """`attrs` as a cache key that tells apart what the schema tells apart (1, 1.0 and True
    are equal in Python, not to a schema), or None when they hold anything else."""
    if not attrs:
        return ()
    normalized = type(attrs) is tuple  # a recorded node's attributes
    items = []
    for name, value in attrs if normalized else attrs.items():
        kind = type(value)
        if kind is list or kind is tuple:
            if not {*map(type, value)} <= _INT:
                return None
            value = tuple(value)
        elif kind not in _PLAIN_ATTRS:
            return None
        items.append((name, kind, value))
    return (normalized, tuple(items))


def _shared(t: TensorType) -> TensorType:
    """The one instance of type `t` kept with the signatures."""
    if len(_TYPES) >= _SIGNATURES_KEPT:
        _TYPES.clear()
    return _TYPES.setdefault(t, t)


def _signature(op, node_id: str, inputs: tuple[Value, ...], attrs: dict[str, Any] | tuple
               ) -> tuple[tuple, TensorType]:
    """(normalized attributes, output type) of `op` on `inputs`, checked against the op's
    arity, attribute schema and shape rule (or found among the signatures checked before);
    errors name the node and op."""
    types = tuple(map(_TYPE, inputs))
    attrs_key = _attrs_key(attrs)
    key = None if attrs_key is None else (op.name, types, attrs_key)
    if key is not None:
        found = _SIGNATURES.get(key)
        if found is not None and found[0] is op:
            return found[1], found[2]
    try:
        op.check_arity(len(inputs))
        norm = attrs if type(attrs) is tuple else op.normalize_attrs(attrs)
    except Exception as exc:  # the op's schema refuses the arity or the attributes
        raise node_error(InvalidGraph, node_id, op.name, str(exc)) from None
    try:
        out_type = op.infer(*types, **dict(norm))
    except WengertError as exc:  # typed by a server (`wengert.server_ops`): keep its class
        error = node_error(type(exc), node_id, op.name, str(exc), reason=exc.reason)
        error.code = exc.code  # a status outside the error table travels on the instance
        raise error from None
    except Exception as exc:  # a shape rule's rejection, or a plugin's shape rule failing
        raise node_error(InvalidGraph, node_id, op.name, str(exc), reason="SHAPE_MISMATCH") from None
    problem = shape_problem(out_type.shape)
    if problem is not None:
        raise node_error(InvalidGraph, node_id, op.name, problem)
    if key is not None:
        if len(_SIGNATURES) >= _SIGNATURES_KEPT:
            _SIGNATURES.clear()
        out_type = _shared(out_type)
        _SIGNATURES[key] = (op, norm, out_type)
    return norm, out_type


class Value:
    """A symbolic tensor: a value id in the graph a builder is recording.

    Operators and NumPy calls on it record nodes (`x * 2`, `np.sin(x)`, `x @ W`); it has no
    numeric value until the graph is evaluated, so Python `if x > 0:` is an error: use `wg.where`.
    `x[key]` indexes as NumPy does (`wengert.indexing`), but a boolean mask must be known when
    tracing: `x[x > 0]` would have a data-dependent shape.
    """

    __slots__ = ("builder", "id", "type", "weak")
    __array_priority__ = 1000  # ndarray (op) Value defers to Value's reflected operator

    def __init__(self, builder: GraphBuilder, value_id: str, type_: TensorType, weak: bool = False):
        self.builder, self.id, self.type = builder, value_id, type_
        # Weakly typed (a Python number passed as an argument, or computed from such only):
        # like a Python number, it takes the dtype of the strongly typed values it meets.
        self.weak = weak

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

    Every builder shares identical constants (`constant` returns the node already holding an
    equal tensor) and Python numbers (`lift`), so a traced loop of N steps makes O(N) op
    nodes but O(1) constant nodes. A builder with a `parent` records a function traced inside
    the parent's (see the module doc).
    """

    def __init__(self, registry=None, *, simplify: bool = False, parent: GraphBuilder | None = None):
        if registry is None:
            registry = parent.registry if parent is not None else _default_registry()
        self.registry = registry
        self.simplify = simplify
        self.parent = parent
        self.inputs: list[tuple[str, TensorType]] = []
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, Literal] = {}
        self.derived: set[str] = set()  # values that are tangents or cotangents (see simplify)
        self.captures: list[tuple[Value, Value]] = []  # (parent's value, this graph's input)
        self._captured: dict[tuple[int, str], Value] = {}
        self._node_of: dict[str, Node] = {}
        self._memo: dict[tuple, str] = {}
        self._constant_is: dict[tuple, bool] = {}  # (constant id, scalar) -> equal everywhere
        self._literals: dict[Literal, Value] = {}
        self._numbers: dict[tuple, Value] = {}
        self._inlined: dict[tuple, str] = {}
        self._counter = 0
        self._budget = _budget.get()  # read once: recording asks it of every node

    # -- recording -----------------------------------------------------------------------
    def input(self, name: str, type_: TensorType, *, derived: bool = False, weak: bool = False) -> Value:
        """Declare an input; `derived` marks a tangent or cotangent input (see simplify),
        `weak` one given as a Python number (see `Value`)."""
        if not isinstance(name, str) or not name:
            raise InvalidGraph(f"input names must be non-empty strings, got {name!r}")
        if name in self.types:
            raise InvalidGraph(f"input {name!r} is declared twice")
        type_ = _shared(type_)
        self.inputs.append((name, type_))
        self.types[name] = type_
        if derived:
            self.derived.add(name)
        return Value(self, name, type_, weak)

    def value(self, value_id: str) -> Value:
        return Value(self, value_id, self.types[value_id])

    def constant(self, array: Any, node_id: str | None = None) -> Value:
        """A constant node holding `array`; an equal tensor already held is shared, unless a
        `node_id` is asked for."""
        literal = array if isinstance(array, Literal) else Literal(np.asarray(array))
        if node_id is None:
            found = self._literals.get(literal)
            if found is None:
                found = self._literals[literal] = self.add("constant", (), {"value": literal})
            return found
        return self.add("constant", (), {"value": literal}, node_id=node_id)

    def number(self, x: Any, dtype: str) -> Value:
        """The constant Python number `x` in `dtype`, one node per distinct number."""
        key = (type(x), x, dtype)
        found = self._numbers.get(key)
        if found is None:
            found = self._numbers[key] = self.constant(np.asarray(x, dtype=dtype))
        return found

    # -- nesting ---------------------------------------------------------------------------
    def sees(self, other: GraphBuilder) -> bool:
        """Whether values of `other` can be used here: it is this builder or encloses it."""
        builder = self
        while builder is not None:
            if builder is other:
                return True
            builder = builder.parent
        return False

    def own(self, v: Value) -> Value:
        """`v` as a value of this graph: a value of an enclosing graph becomes an input here
        (captured once; its derivative flows through the enclosing graph, not this one)."""
        if v.builder is self:
            return v
        key = (id(v.builder), v.id)
        found = self._captured.get(key)
        if found is None:
            if self.parent is None or not self.sees(v.builder):
                raise InvalidGraph(f"{v!r} belongs to another graph")
            outer = self.parent.own(v)
            found = self.input(f"{CAPTURE}{len(self.captures)}", outer.type, weak=v.weak)
            self.captures.append((outer, found))
            self._captured[key] = found
        return found

    def inline(self, graph: Graph, feeds: dict[str, Value]) -> dict[str, Value]:
        """Record `graph`'s nodes here, its inputs read from `feeds` (input name -> value);
        returns its outputs by name. Nodes identical to ones inlined before are shared, so a
        derivative graph inlined after its primal graph adds only the derivative's nodes."""
        env = {}
        for name, t in graph.inputs:
            env[name] = self.own(feeds[name])
            if env[name].type != t:
                raise InvalidGraph(f"input {name!r} of the inlined graph is {t}, fed {env[name].type}")
        for node in graph.nodes:
            if node.op == "constant":
                env[node.id] = self.constant(node.attr_dict["value"])
                continue
            args = tuple(env[x] for x in node.inputs)
            key = simplify.memo_key(node.op, tuple(a.id for a in args), node.attrs)
            found = self._inlined.get(key)
            if found is None:
                value = self.add(node.op, args, node.attrs)
                self._inlined[key] = value.id
            else:
                value = self.value(found)
            env[node.id] = value
        return {name: env[vid] for name, vid in graph.outputs}

    def add(
        self, op_name: str, inputs: Iterable[Value], attrs: dict[str, Any] | tuple, node_id: str | None = None
    ) -> Value:
        """Check and record one node; returns its output value. `attrs` is a dict as given, or
        a recorded node's `attrs` tuple (normalized already: replaying a checked graph)."""
        inputs = tuple(inputs)
        node_id = node_id if node_id is not None else self._fresh_id()
        op = self._op(op_name, node_id)
        norm, out_type = _signature(op, node_id, inputs, attrs)
        return self._add(op, op_name, inputs, norm, out_type, node_id)

    def replay(self, node: Node, inputs: tuple[Value, ...]) -> Value:
        """`add` for `node` of a graph built (and so checked) before, on `inputs` of the types its
        inputs had there: its attributes and type are taken as they are, not checked again."""
        node_id = self._fresh_id()
        return self._add(self._op(node.op, node_id), node.op, inputs, node.attrs, node.type, node_id)

    def _op(self, op_name: str, node_id: str):
        try:
            return self.registry.get(op_name)
        except UnknownOp as exc:
            raise node_error(UnknownOp, node_id, op_name, str(exc)) from None

    def _add(self, op, op_name: str, inputs: tuple[Value, ...], attrs: tuple, out_type: TensorType,
             node_id: str) -> Value:
        """Record the checked node `node_id` = op(inputs, attrs) of type `out_type` (simplifying:
        or find a value equal to it)."""
        input_ids = tuple(map(_ID, inputs))
        if self.simplify:
            key = simplify.memo_key(op_name, input_ids, attrs)
            found = self._memo.get(key)
            if found is not None:
                return Value(self, found, self.types[found])
            found = self._simplified(op, inputs, input_ids, attrs, out_type, key)
            if found is not None:
                return found
        if node_id in self.types:
            raise node_error(InvalidGraph, node_id, op_name, "id is already defined")
        if self.simplify:
            self._memo[key] = node_id
        node = make_node(node_id, op_name, input_ids, attrs, out_type)
        self.nodes.append(node)
        self._node_of[node_id] = node
        self.types[node_id] = out_type
        if not input_ids:
            if op_name == "constant":
                self.constants[node_id] = dict(attrs)["value"]
        elif self.derived and not self.derived.isdisjoint(input_ids):
            self.derived.add(node_id)
        return Value(self, node_id, out_type)

    def _simplified(self, op, inputs, input_ids, attrs, out_type, key) -> Value | None:
        """A cheaper value equal to op(inputs) (folded, or rewritten), or None when a new node
        is needed. (An identical node already recorded is found by `add`; a folded one is kept
        under its `key` too, as folding it again would give the same constant.)"""
        if (inputs and all(map(self.constants.__contains__, input_ids)) and 0 <= out_type.size <= _FOLD_LIMIT
                and op.bind is None):  # not a loop: its work is not bounded by its output's size
            folded = self._fold(op, inputs, attrs, out_type)
            if folded is not None:
                self._memo[key] = folded.id
                return folded
        if op.name in simplify.REWRITTEN and not (self.derived.isdisjoint(input_ids)
                                                  and self.constants.keys().isdisjoint(input_ids)):
            return simplify.rewrite(self, op.name, inputs, out_type)
        return None

    def _fold(self, op, inputs, attrs, out_type) -> Value | None:
        """op(inputs) computed now, as a constant; None when the op fails on these constants
        (`max` of an empty one, `take` out of range): the node then stays in the graph and
        fails where the graph is run, with the error an evaluation reports."""
        try:
            array = np.asarray(op.forward(*[self.constants[v.id].array for v in inputs], **dict(attrs)),
                               dtype=out_type.dtype)
        except Exception:
            return None
        if array.shape != out_type.shape:  # a forward disagreeing with its shape rule: not folded
            return None
        return self.constant(array)

    def is_constant(self, v: Value, scalar: float) -> bool:
        """True when `v` is a (small) constant equal to `scalar` everywhere (known once per
        constant and scalar: derivative rules ask it of the same few constants again and again)."""
        key = (v.id, scalar)
        found = self._constant_is.get(key)
        if found is None:
            lit = self.constants.get(v.id)
            found = self._constant_is[key] = (lit is not None and lit.array.size <= _FOLD_LIMIT
                                              and bool(np.all(lit.array == scalar)))
        return found

    def is_derived(self, v: Value) -> bool:
        return v.id in self.derived

    def node_of(self, v: Value) -> Node | None:
        return self._node_of.get(v.id)

    def _fresh_id(self) -> str:
        if self._budget is not None:
            self._budget.spend()
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


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused: building a graph allocates many small objects
    that stay alive and almost no cycles, and the collector would walk all of them again and
    again (40% of the time of a large derivative graph). Only whoever paused it resumes it."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def pausing_collector(fn):
    """`fn` run with the garbage collector paused (see `collector_paused`)."""
    @functools.wraps(fn)
    def paused(*args, **kwargs):
        with collector_paused():
            return fn(*args, **kwargs)
    return paused


class RecordingBudget:
    """How many more nodes the builders created inside `recording_budget` may record, counting
    every node a rule asks for (those simplified away too: asking is the work). A derivative
    rule may loop over an attribute (a series of `order` terms); a budget bounds the time such
    a rule can take where a graph is built for someone else, as a server does per request."""

    def __init__(self, nodes: int, refusal):
        self.left = nodes
        self.refusal = refusal  # () -> the exception that says the budget is spent

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise self.refusal()


@contextlib.contextmanager
def recording_budget(nodes: int | None, refusal):
    """Graph builders created inside record at most `nodes` nodes in all (None: no budget), and
    raise `refusal()` at the next one. Inside an enclosing budget, that one stays in force."""
    if nodes is None or _budget.get() is not None:
        yield
        return
    token = _budget.set(RecordingBudget(nodes, refusal))
    try:
        yield
    finally:
        _budget.reset(token)


@contextlib.contextmanager
def detached():
    """No builder is recording inside: for building a derivative graph of its own while a
    function is being traced (its rules must not record into the traced graph)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def _default_registry():
    from wengert.plugins.registry import default_registry

    return default_registry()


CAPTURE = "capture:"  # the inputs of a nested graph that hold values of the enclosing graph


def current_builder(args: Iterable[Any] = ()) -> GraphBuilder | None:
    """The builder to record an op on `args` in: the one recording now when it can use every
    symbolic value among `args` (they are its own or its enclosing graphs'), else the builder
    of the first of them (a derivative graph being built), else None."""
    current = _current.get()
    owners = [a.builder for a in args if isinstance(a, Value)]
    if current is not None and all(b is current or current.sees(b) for b in owners):
        return current
    return owners[0] if owners else current


def is_tracing(args: Iterable[Any] = ()) -> bool:
    """Whether a graph is being recorded, or `args` hold symbolic values."""
    return _current.get() is not None or any(isinstance(a, Value) for a in args)


def apply(op_name: str, *args: Any, **attrs: Any) -> Value:
    """Record `op_name(*args, **attrs)`; numbers and arrays among `args` become constants,
    values of enclosing graphs are captured, and weakly typed values take their strongly typed
    peers' dtype."""
    builder = _current.get()
    if builder is None and args and type(args[0]) is Value:
        builder = args[0].builder
    for a in args:  # the usual case, strongly typed values of that graph, needs none of what follows
        if type(a) is not Value or a.builder is not builder or a.weak:
            break
    else:
        if builder is not None:
            return builder.add(op_name, args, attrs)
    if builder is not None and len(args) == 2:  # next commonest: such a value and a Python number
        x, y = args
        if type(y) in _NUMBERS and type(x) is Value and x.builder is builder and not x.weak:
            return builder.add(op_name, (x, builder.number(y, _weak_dtype(y, (x,)))), attrs)
        if type(x) in _NUMBERS and type(y) is Value and y.builder is builder and not y.weak:
            return builder.add(op_name, (builder.number(x, _weak_dtype(x, (y,))), y), attrs)
    builder = current_builder(args)
    if builder is None:
        raise InvalidGraph(
            f"{op_name}: no graph is being built; call it inside wg.trace or on a symbolic value"
        )
    values = []
    for a in args:
        if isinstance(a, Value):
            if not builder.sees(a.builder):
                raise InvalidGraph(f"{op_name}: values from different graphs cannot be combined")
            values.append(builder.own(a))
    strong = [v for v in values if not v.weak]
    lifted = [_conform(builder, lift(builder, a, strong or values), strong) for a in args]
    out = builder.add(op_name, lifted, attrs)
    if values and not strong and not out.weak:  # weak in, weak out: a number stays a number
        out = Value(builder, out.id, out.type, weak=True)
    return out


def _conform(builder: GraphBuilder, v: Value, strong: list[Value]) -> Value:
    """A weakly typed value cast to the dtype a Python number would take among `strong`."""
    if not v.weak or not strong:
        return v
    kind = _KINDS[v.dtype]
    dtype = _weak_dtype(True if kind == "b" else 0 if kind in "iu" else 0.0, strong)
    return v if dtype == v.dtype else builder.add("cast", [v], {"dtype": dtype})


def lift(builder: GraphBuilder, x: Any, peers: list[Value] = ()) -> Value:
    """`x` as a value of `builder`: Python numbers take their peers' dtype (weak typing)."""
    if isinstance(x, Value):
        return builder.own(x)
    if type(x) in _NUMBERS or (isinstance(x, (numbers.Number, np.bool_))
                               and not isinstance(x, np.generic | np.ndarray)):
        return builder.number(x, _weak_dtype(x, peers))
    try:
        array = np.asarray(x)
        dtype_name(array.dtype)
    except (ValueError, TypeError):
        raise InvalidGraph(f"cannot use {type(x).__name__} {x!r} as a tensor") from None
    return builder.constant(array)


_NUMBERS = frozenset({float, int, bool})  # the usual numbers, told apart without the ABCs
_KINDS = {name: dtype.kind for name, dtype in DTYPES.items()}  # "float64" -> "f", ...


def _weak_dtype(x: Any, peers: list[Value]) -> str:
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, numbers.Integral):
        return next((p.dtype for p in peers if _KINDS[p.dtype] in "fi"), "int64")
    return next((p.dtype for p in peers if _KINDS[p.dtype] == "f"), "float64")


# -- tracing Python functions ------------------------------------------------------------
def spec(shape: tuple[int, ...] = (), dtype: str = "float64") -> TensorType:
    """A placeholder for `trace`: an input of this shape and dtype (-1 leaves a dim open)."""
    return TensorType(dtype_name(dtype), tuple(int(d) for d in shape))
