"""Structural sparsity of Jacobians: which output elements depend on which input elements.

`jacobian_pattern` walks a graph once. Every value carries, per `wrt` input it depends on, the
set of that input's elements each of its elements depends on (`wengert.jacobians.indexsets`:
words of up to 64 input elements, one word per element while a value is computed record by
record). Each node maps its operands' sets through a rule derived from the op, not declared:
elementwise ops broadcast, pure index ops (reshape, slice, pad, ...) move sets as their forward
moves element numbers, reductions and softmax-like ops unite sets over the reduced axes, matmul
unites a row of one operand with a column of the other, take and scatter_add follow constant
indices; any other op is dense, which is always safe. An operand whose derivative rule is None
carries no dependence (comparisons, stop_gradient, `where`'s condition).

Work and memory are linear in the sets' sizes. The sets alive at once, and the pattern, stay
within a byte budget; past it, or when every output element depends on every input element,
there is no pattern to use (`NoPattern` says why) and the Jacobian is swept densely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from wengert.errors import WengertError
from wengert.execution.steps import op_error
from wengert.ir.graph import Graph, Node, TensorType
from wengert.jacobians.indexsets import Budget, OverBudget, Part, Slot, Words, expand, group, union
from wengert.plugins.shapes import normalize_axes

Rule = Callable[[list, Budget], Part]  # the operands' sets of one input (None: none) -> the node's


class NoPattern(Exception):
    """No sparsity pattern worth using: too large for the budget, or full. Says which."""


def _numbered(t: TensorType, start: int = 0) -> np.ndarray:
    """Element numbers start+1, start+2, ... shaped like `t`; 0 is left to mean "no element"."""
    return np.arange(start + 1, start + t.size + 1, dtype=np.float64).reshape(t.shape)


# -- rules: the node's index sets of one input from its operands' (None: no dependence) -------
def _elementwise(node: Node, op, types: list[TensorType], consts) -> Rule:
    shape = node.type.shape
    return lambda parts, budget: union([p.broadcast(shape, budget) for p in parts if p is not None], budget)


def _moved(node: Node, op, types: list[TensorType], consts) -> Rule:
    """Ops that only move elements (0 filling in): the forward itself moves slots' arrays;
    sets follow the element numbers the forward moves."""
    attrs = {**node.attr_dict, **_FILL.get(node.op, {})}

    def rule(parts: list[Part | None], budget: Budget) -> Part:
        if all(p is None or isinstance(p, Slot) for p in parts):
            code = op.forward(*[_nothing(t) if p is None else p.code for p, t in zip(parts, types)], **attrs)
            mask = op.forward(*[_nothing(t, np.uint64) if p is None else p.mask for p, t in zip(parts, types)],
                              **attrs)
            return Slot(np.asarray(code), np.asarray(mask))
        starts = np.cumsum([0] + [t.size for t in types])
        moved = np.asarray(op.forward(*[_numbered(t, s) for t, s in zip(types, starts)], **attrs))
        source = moved.ravel().astype(np.int64) - 1
        return union([p.gather(np.where((source >= s) & (source < s + t.size), source - s, -1),
                               node.type.shape, budget)
                      for p, t, s in zip(parts, types, starts) if p is not None], budget)
    return rule


def _nothing(t: TensorType, dtype=np.int64) -> np.ndarray:
    return np.broadcast_to(np.zeros((), dtype), t.shape)


_FILL = {"pad": {"constant_value": 0.0}}  # index ops that fill with a constant fill with "none"


def _reduction(node: Node, op, types: list[TensorType], consts) -> Rule:
    axes, shape = normalize_axes(node.attr_dict["axis"], types[0].ndim), node.type.shape
    return lambda parts, budget: parts[0].reduce(axes, True, budget).reshape(shape)


def _along(node: Node, op, types: list[TensorType], consts) -> Rule:
    """softmax-like: each element depends on its whole fibre along `axis`."""
    x = types[0]
    axes = normalize_axes((node.attr_dict["axis"],), x.ndim)
    spread = int(np.prod([x.shape[axis] for axis in axes], dtype=np.int64))
    return lambda parts, budget: parts[0].reduce(axes, True, budget, spread).broadcast(x.shape, budget)


def _take(node: Node, op, types: list[TensorType], consts) -> Rule:
    indices = consts.get(node.inputs[1])
    if indices is None:
        return _dense(node, op, types, consts)
    source = np.take(_numbered(types[0]), indices, node.attr_dict["axis"]).ravel().astype(np.int64) - 1
    return lambda parts, budget: parts[0].gather(source, node.type.shape, budget)


def _scatter_add(node: Node, op, types: list[TensorType], consts) -> Rule:
    """The transpose of `take`'s rule: update element e lands on output element dest[e]."""
    indices = consts.get(node.inputs[1])
    if indices is None:
        return _dense(node, op, types, consts)
    dest = np.take(_numbered(node.type), indices, node.attr_dict["axis"]).ravel().astype(np.int64) - 1
    out = node.type
    return lambda parts, budget: group([parts[0]], dest, out.size, out.shape, budget)


def _matmul(node: Node, op, types: list[TensorType], consts) -> Rule:
    """out[..., i, j] depends on a[..., i, :] and b[..., :, j] (1-D operands lifted)."""
    a, b = types
    if a.ndim == 0 or b.ndim == 0:  # dot with a scalar operand is a product
        return _elementwise(node, op, types, consts)
    lifted_a = a.shape if a.ndim > 1 else (1,) + a.shape
    lifted_b = b.shape if b.ndim > 1 else b.shape + (1,)
    lifted = np.broadcast_shapes(lifted_a[:-2], lifted_b[:-2]) + (lifted_a[-2], lifted_b[-1])
    out = node.type.shape

    def side(part: Part, shape: tuple[int, ...], axis: int, budget: Budget) -> Part:
        spread = math.prod(lifted) // max(math.prod(shape) // max(shape[axis], 1), 1)  # copies of each reduced set
        return (part.reshape(shape).reduce((len(shape) + axis,), True, budget, spread)
                .broadcast(lifted, budget).reshape(out))
    return lambda parts, budget: union(
        [side(p, shape, axis, budget) for p, shape, axis in zip(parts, (lifted_a, lifted_b), (-1, -2))
         if p is not None], budget)


def _dense(node: Node, op, types: list[TensorType], consts) -> Rule:
    """The safe default: every element of the node depends on every element of its operands."""
    shape = node.type.shape
    return lambda parts, budget: union(
        [p.reduce(tuple(range(len(p.shape))), False, budget, node.type.size).broadcast(shape, budget)
         for p in parts if p is not None], budget)


def _through(node: Node, op, types: list[TensorType], consts) -> Rule:
    """Ops that give their own local patterns (node elements x operand elements, one sparse
    matrix per operand; None when too dense to track, and then the op is dense): element o
    unites the sets of the operand elements in row o."""
    local = op.sparsity(node, types, consts)
    if local is None:
        return _dense(node, op, types, consts)
    size, shape = node.type.size, node.type.shape
    moves = []
    for matrix in local:
        matrix = sp.csr_array(matrix)
        moves.append((matrix.indices.astype(np.int64), np.repeat(np.arange(size), np.diff(matrix.indptr))))
    return lambda parts, budget: union(
        [group([p.gather(source, source.shape, budget)], dest, size, shape, budget)
         for p, (source, dest) in zip(parts, moves) if p is not None], budget)


_INDEX_OPS = {"reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "flip", "slice",
              "scatter_slice", "pad", "concatenate", "stack", "tril", "triu"}
_RULES = {"sum": _reduction, "mean": _reduction, "prod": _reduction, "max": _reduction,
          "min": _reduction, "logsumexp": _reduction, "softmax": _along, "log_softmax": _along,
          "matmul": _matmul, "dot": _matmul, "take": _take, "scatter_add": _scatter_add,
          **{name: _moved for name in _INDEX_OPS}}


def _rule(node: Node, op, types: list[TensorType], consts) -> Rule:
    if op.sparsity is not None:  # an op whose structure lies in its bodies (a loop)
        return _through(node, op, types, consts)
    try:
        if node.op in _RULES:
            return _RULES[node.op](node, op, types, consts)
    except (IndexError, ValueError):  # e.g. a constant index out of range: evaluation reports it
        pass
    return (_elementwise if op.elementwise else _dense)(node, op, types, consts)


def _flows(op, argnum: int) -> bool:
    """False when the op's rules say no derivative flows from operand `argnum` (a None rule)."""
    kind = "jvp" if op.jvp is not None else "vjp"
    return getattr(op, kind) is None or op.rule(kind, argnum) is not None


# -- the graph walk --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Pattern:
    """Structural nonzeros of a flattened Jacobian (outputs concatenated x inputs concatenated),
    as COO `rows`, `cols` sorted by row, then column; `shape` is (m, n)."""

    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    @cached_property
    def indptr(self) -> np.ndarray:
        """Where each row's entries start (CSR)."""
        indptr = np.zeros(self.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(self.rows, minlength=self.shape[0]), out=indptr[1:])
        return indptr

    def matrix(self) -> sp.csr_array:
        return sp.csr_array((np.ones(self.nnz, bool), self.cols, self.indptr), shape=self.shape)

    def transposed(self) -> Pattern:
        """The pattern of J's transpose (columns become rows), sorted likewise."""
        t = self.matrix().T.tocsr()
        t.sort_indices()
        rows = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
        return Pattern(rows, t.indices.astype(np.int64), t.shape)

    def symmetrized(self) -> Pattern:
        both = (self.matrix() + self.matrix().T).tocsr()
        both.sort_indices()
        return Pattern(np.repeat(np.arange(both.shape[0]), np.diff(both.indptr)),
                       both.indices.astype(np.int64), both.shape)


def jacobian_pattern(graph: Graph, wrt: Sequence[str], outputs: Sequence[str], registry,
                     budget: int | None = None, *, useful_only: bool = False) -> Pattern:
    """Which elements of `outputs` depend on which elements of `wrt`. NoPattern when the
    index sets alive at once, or the pattern, would take more than `budget` bytes, or, if
    `useful_only` (it would save no sweep), when the pattern is full."""
    try:
        return _walk(graph, wrt, outputs, registry, Budget(budget), useful_only)
    except (OverBudget, MemoryError):
        raise NoPattern(f"no sparsity pattern: tracking it would take more than the memory budget "
                        f"of {budget} bytes") from None


def _walk(graph: Graph, wrt: Sequence[str], outputs: Sequence[str], registry, budget: Budget,
          useful_only: bool) -> Pattern:
    types = graph.types
    words, offset = {}, 0
    for name in wrt:
        words[name] = Words.of(types[name].shape, offset)
        offset += types[name].size
    deps: dict[str, dict[str, Part] | None] = {name: None for name in graph.input_names}
    deps.update({name: {name: words[name].identity(types[name].shape)} for name in wrt})
    consts = {node.id: node.attr_dict["value"].array for node in graph.nodes if node.op == "constant"}
    last_use = {x: k for k, node in enumerate(graph.nodes) for x in node.inputs}
    kept = {vid for _, vid in graph.outputs}
    held = sum(_bytes(d) for d in deps.values())
    for k, node in enumerate(graph.nodes):
        try:
            deps[node.id] = _propagate(node, registry.get(node.op).bound(registry), deps, types, consts, budget)
        except (WengertError, OverBudget, MemoryError):
            raise
        except Exception as exc:  # an op's forward on the index sets, failing as it would on values
            raise op_error(node, exc) from exc
        held += _bytes(deps[node.id])
        budget.check(held)
        for x in set(node.inputs):  # the sets no later node reads are dropped
            if last_use[x] == k and x not in kept:
                held -= _bytes(deps[x])
                deps[x] = None
    found = [(dict(graph.outputs)[name], deps[dict(graph.outputs)[name]] or {}) for name in outputs]
    m = sum(types[vid].size for vid, _ in found)
    nnz = sum(part.nonzeros for _, parts in found for part in parts.values())
    if useful_only and nnz == m * offset:
        raise NoPattern("the pattern is full: every output element depends on every input element")
    budget.check(16 * nnz)
    rows, cols, start, at = np.empty(nnz, np.int64), np.empty(nnz, np.int64), 0, 0
    for vid, parts in found:
        size = types[vid].size
        count = sum(part.nonzeros for part in parts.values())
        expand([(parts[x], words[x]) for x in wrt if x in parts], size, rows[at:at + count],
               cols[at:at + count], start)
        start, at = start + size, at + count
    return Pattern(rows, cols, (m, offset))


def _bytes(found: dict[str, Part] | None) -> int:
    return sum(part.nbytes for part in found.values()) if found else 0


def _propagate(node: Node, op, deps, types, consts, budget: Budget) -> dict[str, Part] | None:
    live = [deps[x] if deps[x] is not None and types[x].is_float and _flows(op, i) else None
            for i, x in enumerate(node.inputs)]
    if not any(live) or not node.type.is_float:
        return None
    inputs = list(dict.fromkeys(name for found in live if found for name in found))
    budget.check(16 * node.type.size * len(inputs))  # before the rule builds arrays of that size
    rule = _rule(node, op, [types[x] for x in node.inputs], consts)
    return {name: rule([found.get(name) if found else None for found in live], budget) for name in inputs}


# -- which seeds a value depends on ------------------------------------------------------------
def seed_supports(graph: Graph, seeds: dict[str, np.ndarray], registry) -> dict[str, int] | None:
    """For each value of `graph` depending on its inputs `seeds` (each element given a bitmask,
    uint64, of the directions it is seeded in), the union of the masks of the seed elements it
    depends on: a value whose union misses a direction is exactly zero in it, when the graph is
    linear in the seeds. By value, not by derivative: every operand counts (a stop_gradient
    passes its operand's value on). None when the walk cannot tell: a value depending on the
    seeds is not floating-point, or a node holds graphs (a loop)."""
    types = graph.types
    deps: dict[str, dict[str, Part] | None] = {name: None for name in graph.input_names}
    one = np.ones((), np.int64)  # every code a view of it: unions of views of it cost no comparison
    deps.update({name: {"": Slot(np.broadcast_to(one, mask.shape), mask)} for name, mask in seeds.items()})
    consts = {node.id: node.attr_dict["value"].array for node in graph.nodes if node.op == "constant"}
    last_use = {x: k for k, node in enumerate(graph.nodes) for x in node.inputs}
    kept = {vid for _, vid in graph.outputs}
    supports = {name: _union(mask) for name, mask in seeds.items()}
    for k, node in enumerate(graph.nodes):
        live = [deps[x] for x in node.inputs]
        if any(live):
            if not node.type.is_float or node.bodies:
                return None
            op = registry.get(node.op).bound(registry)
            rule = _rule(node, op, [types[x] for x in node.inputs], consts)
            part = rule([found[""] if found else None for found in live], Budget())
            if isinstance(part, Slot):  # a mask of 0 says "no dependence" already: codes can all be one
                part = Slot(np.broadcast_to(one, part.shape), part.mask)
            deps[node.id] = {"": part}
            supports[node.id] = _union(part.mask)
        else:
            deps[node.id] = None
        for x in set(node.inputs):
            if last_use[x] == k and x not in kept:
                deps[x] = None
    return supports


def _union(masks: np.ndarray) -> int:
    """The union of bitmasks, each element read once however often a broadcast repeats it."""
    if not masks.size:
        return 0
    stored = masks[tuple(0 if stride == 0 else slice(None) for stride in masks.strides)]
    return int(np.bitwise_or.reduce(stored, axis=None, initial=0))
