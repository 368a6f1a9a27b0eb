"""The op record a plugin yields, and the attribute schema it declares.

Rule signatures (the one convention every op follows; see docs/plugins.md):

    forward(*arrays, **attrs) -> ndarray                   NumPy, on concrete arrays
    infer(*types, **attrs) -> TensorType                   shape/dtype rule; raise ShapeError
    jvp[i](x_dot, ans, *primals, **attrs) -> Value | None  tangent of the output along input i
    vjp[i](g, ans, *primals, **attrs) -> Value | None      cotangent of input i given output's g

`x_dot`, `g`, `ans` and the primals are symbolic values: rules are written with the graph ops
(`g * wg.cos(x)`), so the derivative of a graph is a graph that can be differentiated again.
A rule entry of None, or a rule returning None, means "no derivative flows here". `jvp=None`
or `vjp=None` (no tuple at all) means the op has no such rule: asking for one through it is an
UNIMPLEMENTED error naming the op. Broadcasting is undone by the engine, never by a rule.
For a variadic op (`arity=None`) the rule tuple holds one rule, called with `argnum=i`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from wengert.ir.graph import Graph, Literal, TensorType

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()
ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats", "axes", "tensor", "graph", "graphs")

Rule = Callable[..., Any]


class ShapeError(ValueError):
    """Raised by a shape rule; the builder names the node and op in front of the message."""


@dataclass(frozen=True)
class Attr:
    """One declared attribute: its name, kind (one of ATTR_KINDS) and default."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"attribute {self.name!r}: kind must be one of {ATTR_KINDS}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value: Any) -> Any:
        """The canonical, hashable form of `value` for this kind, or ShapeError."""
        kind = self.kind
        if kind in ("axes", "graph") and value is None:
            return None
        if kind == "graph":
            if not isinstance(value, Graph):
                raise ShapeError(f"attribute {self.name!r} must be a graph, got {type(value).__name__}")
            return value
        if kind == "graphs":
            items = tuple(value) if isinstance(value, (list, tuple)) else None
            if not items or not all(isinstance(g, Graph) for g in items):
                raise ShapeError(f"attribute {self.name!r} must be a non-empty list of graphs, got {value!r}")
            return items
        if kind == "int" or (kind == "axes" and _is_int(value)):
            if not _is_int(value):
                raise ShapeError(f"attribute {self.name!r} must be an integer, got {value!r}")
            return self._int64(int(value)) if kind == "int" else (self._int64(int(value)),)
        if kind == "float":
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise ShapeError(f"attribute {self.name!r} must be a number, got {value!r}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise ShapeError(f"attribute {self.name!r} must be a boolean, got {value!r}")
            return bool(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ShapeError(f"attribute {self.name!r} must be a string, got {value!r}")
            return value
        if kind in ("ints", "axes"):
            items = tuple(np.asarray(value).reshape(-1).tolist()) if _is_sequence(value) else None
            if items is None or not all(_is_int(v) for v in items):
                raise ShapeError(f"attribute {self.name!r} must be a list of integers, got {value!r}")
            return tuple(self._int64(int(v)) for v in items)
        if kind == "floats":
            if not _is_sequence(value):
                raise ShapeError(f"attribute {self.name!r} must be a list of numbers, got {value!r}")
            return tuple(float(v) for v in np.asarray(value, dtype=float).reshape(-1))
        if isinstance(value, Literal):
            return value
        try:
            return Literal(np.asarray(value))
        except ValueError as exc:
            raise ShapeError(f"attribute {self.name!r}: {exc}") from None

    def _int64(self, value: int) -> int:
        """`value`, which must fit the int64 that carries it on the wire (a rule computing an
        attribute, `n + 1`, can leave that range)."""
        if not -(1 << 63) <= value < 1 << 63:
            raise ShapeError(f"attribute {self.name!r} is {value}, outside the int64 range")
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


@dataclass(frozen=True)
class Cost:
    """What running an op once costs, known from types before it runs: `work` in element or
    floating-point operations, and `scratch`, bytes of temporaries beyond its output while it
    runs (None: as large as its output, NumPy's usual). When the op runs over a batch of
    directions, `work` and `scratch` are per direction, and `fixed_work` and `fixed_scratch`
    are paid once whatever the batch (a loop recomputing unbatched states); unbatched, they
    add up."""

    work: int
    scratch: int | None = None
    fixed_work: int = 0
    fixed_scratch: int = 0


def linear_cost(out: TensorType, *inputs: TensorType, **attrs) -> Cost:
    """The default: every input and output element touched once."""
    return Cost(out.size + sum(t.size for t in inputs))


@dataclass(frozen=True)
class Example:
    """Inputs (and attributes) on which the checker exercises an op's rules; `dtypes` names the
    float dtypes it is for, when its attributes are typed (a loop's body): empty means all."""

    inputs: tuple[np.ndarray, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    dtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpDef:
    """An elementary op: forward in NumPy, shape rule, derivative rules, attribute schema.

    `elementwise` ops broadcast their inputs NumPy-style; the engine vectorizes them over a
    leading batch axis for free. Other ops vectorize with `batched_forward(*arrays, **attrs)`,
    which receives every input with one leading batch axis (of size B, or 1 for an input that
    does not vary across the batch); without one the engine loops over the batch.

    The checker (`wengert check-plugin`) draws an elementwise op's inputs from `domain` on a
    table of shapes; any other op lists its own `examples(rng) -> [Example, ...]`.

    The server prices every request before running it (`wengert.execution.cost`) from
    `cost(out_type, *input_types, **attrs) -> Cost`; the default, `linear_cost`, suits ops
    linear in their data, and an op doing more (a matrix product, a factorization) gives its
    real count. `view` says the output is a NumPy view of the first input (transpose,
    broadcast_to, ...): it costs no new bytes, and keeps its input's memory alive.

    Ops whose attributes hold graphs (loops and branches, `wengert.loops`) need three more
    hooks. `bind(registry, batched) -> OpDef` gives the op as it runs in a plan of `registry`
    with the inputs flagged in `batched` carrying a batch axis (its bodies run with that
    registry's ops, and its cost knows what the batch touches); plans, prices and sparsity
    patterns use `bound`. `joint_jvp(tangents, ans, *primals, **attrs) -> (primal, tangent)`
    and `joint_vjp(g, ans, *primals, needed=..., **attrs) -> [cotangent or None, ...]` replace
    the per-input rules, which for a loop would each repeat the whole loop: the JVP gets every
    input's tangent (None where none flows) and may return a recomputed primal the
    transformation then uses (None: keep the op's own); the VJP returns every input's
    cotangent at once, computing only those `needed`. `sparsity(node, types, consts)` gives the
    local Jacobian pattern per input (see `wengert.jacobians.sparsity`) where the op's
    structure lies in its bodies.

    `sampler` marks a sampling op, a stochastic node of expectations: its first input is a
    random key, and the record (`wengert.plugins.sampling.Sampler`) names its log density and
    says whether its rules are pathwise derivatives (see docs/expectations.md).
    """

    name: str
    forward: Callable[..., np.ndarray]
    infer: Callable[..., TensorType]
    jvp: tuple[Rule | None, ...] | None = None
    vjp: tuple[Rule | None, ...] | None = None
    attrs: tuple[Attr, ...] = ()
    arity: int | None = 1
    doc: str = ""
    elementwise: bool = False
    batched_forward: Callable[..., np.ndarray] | None = None
    version: str = "1"
    domain: tuple[float, float] = (-2.0, 2.0)
    examples: Callable[[np.random.Generator], list[Example]] | None = None
    cost: Callable[..., Cost] = linear_cost
    view: bool = False
    bind: Callable[[Any, tuple[bool, ...]], OpDef] | None = None
    joint_jvp: Rule | None = None
    joint_vjp: Rule | None = None
    sparsity: Callable[..., list] | None = None
    sampler: Any = None  # a wengert.plugins.sampling.Sampler for sampling ops
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.name or not isinstance(self.name, str):
            problems.append("name must be a non-empty string")
        for fn_name in ("forward", "infer", "cost"):
            if not callable(getattr(self, fn_name)):
                problems.append(f"{fn_name} must be callable")
        expected = 1 if self.arity is None else self.arity
        for kind in ("jvp", "vjp"):
            rules = getattr(self, kind)
            if rules is None:
                continue
            if not isinstance(rules, tuple) or len(rules) != expected:
                problems.append(f"{kind} must be a tuple of {expected} rule(s) (None for no derivative)")
            elif not all(r is None or callable(r) for r in rules):
                problems.append(f"{kind} rules must be callables or None")
        if not all(isinstance(a, Attr) for a in self.attrs):
            problems.append("attrs must be Attr records")
        if problems:
            raise TypeError(f"op {self.name!r}: " + "; ".join(problems))

    def bound(self, registry, batched: tuple[bool, ...] = ()) -> OpDef:
        """The op as it runs in a plan of `registry` (see `bind`); itself for most ops."""
        return self if self.bind is None else self.bind(registry, tuple(batched))

    def rule(self, kind: str, argnum: int) -> Rule | None:
        """The jvp or vjp rule for input `argnum` (variadic ops get `argnum` bound)."""
        rules = getattr(self, kind)
        if self.arity is not None:
            return rules[argnum]
        rule = rules[0]
        return None if rule is None else (lambda *a, **kw: rule(*a, argnum=argnum, **kw))

    def check_arity(self, count: int) -> None:
        if self.arity is None:
            if count < 1:
                raise ShapeError("needs at least one input")
        elif count != self.arity:
            raise ShapeError(f"takes {self.arity} input(s), got {count}")

    def normalize_attrs(self, given: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """Attributes checked against the schema, defaults filled in, sorted by name."""
        schema = {a.name: a for a in self.attrs}
        unknown = sorted(set(given) - set(schema))
        if unknown:
            raise ShapeError(f"unknown attribute(s) {', '.join(unknown)}")
        out = []
        for name, attr in sorted(schema.items()):
            if name in given:
                out.append((name, attr.coerce(given[name])))
            elif attr.required:
                raise ShapeError(f"missing required attribute {name!r}")
            else:
                out.append((name, attr.default))
        return tuple(out)
