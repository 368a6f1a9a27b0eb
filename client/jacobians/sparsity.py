"""Structural sparsity of Jacobians and Hessians, and the colourings that compress them.

`jacobian_pattern` walks a graph once and finds which output elements depend on which input
elements: every value carries a boolean matrix (its elements x all input elements), and each
node maps its operands' matrices through a local pattern (node elements x operand elements).
Local patterns are derived, not declared: elementwise ops from broadcasting, pure index ops
(reshape, slice, pad, ...) by running their forward on element numbers, reductions and matmul
by a rule each below; any other op is dense, which is always safe. An operand whose derivative
rule is None carries no dependence (comparisons, stop_gradient, `where`'s condition).

Columns that share no row can be swept together (one forward direction per colour, `columns`),
rows likewise in reverse (`rows`); a symmetric matrix needs fewer colours still (`star`). Each
colouring says, for every structural nonzero, which swept vector and which entry of it holds
its value, so recovery is one fancy-indexing step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from wengert.ir.graph import Graph, Node, TensorType
from wengert.plugins.shapes import normalize_axes

# Give up (and sweep densely) when a value would depend on more input elements than this.
MAX_ENTRIES = 5_000_000


class _TooDense(Exception):
    """Raised while propagating when patterns grow past MAX_ENTRIES."""


def _matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    return sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=shape)


def _selection(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_array:
    """A local pattern, as long as it stays trackable."""
    if rows.size > MAX_ENTRIES:
        raise _TooDense
    return _matrix(rows, cols, shape)


def _gather(source: np.ndarray, in_size: int) -> sp.csr_array:
    """Output element o copies operand element source[o] (-1: none)."""
    hit = np.flatnonzero(source >= 0)
    return _selection(hit, source[hit], (source.size, in_size))


def _numbered(t: TensorType, start: int = 0) -> np.ndarray:
    """Element numbers start+1, start+2, ... shaped like `t`; 0 is left to mean "no element"."""
    return np.arange(start + 1, start + t.size + 1, dtype=np.float64).reshape(t.shape)


# -- local patterns: one sparse matrix (node elements x operand elements) per operand --------
SAME = "same"  # the local pattern of an operand shaped like the node: element k depends on k


def _elementwise(node: Node, types: list[TensorType], consts) -> list:
    out = node.type
    return [SAME if t.shape == out.shape else
            _gather(np.broadcast_to(np.arange(t.size).reshape(t.shape), out.shape).ravel(), t.size)
            for t in types]


def _moved(node: Node, op, types: list[TensorType]) -> list[sp.csr_array]:
    """Ops that only move elements: run the forward on element numbers (0 = filled in)."""
    starts = np.cumsum([0] + [t.size for t in types])
    attrs = {**node.attr_dict, **_FILL.get(node.op, {})}
    moved = np.asarray(op.forward(*[_numbered(t, s) for t, s in zip(types, starts)], **attrs))
    source = moved.ravel().astype(np.int64) - 1
    return [_gather(np.where((source >= s) & (source < s + t.size), source - s, -1), t.size)
            for t, s in zip(types, starts)]


_FILL = {"pad": {"constant_value": 0.0}}  # index ops that fill with a constant fill with "none"


def _groups(x: TensorType, axis, size_out: int) -> np.ndarray:
    """For each element of `x`, the number of its group when reducing over `axis`."""
    axes = normalize_axes(axis, x.ndim)
    kept = tuple(1 if a in axes else d for a, d in enumerate(x.shape))
    return np.broadcast_to(np.arange(size_out).reshape(kept), x.shape).ravel()


def _reduction(node: Node, types: list[TensorType], consts) -> list[sp.csr_array]:
    x = types[0]
    group = _groups(x, node.attr_dict["axis"], node.type.size)
    return [_selection(group, np.arange(x.size), (node.type.size, x.size))]


def _along(node: Node, types: list[TensorType], consts) -> list[sp.csr_array]:
    """softmax-like: each element depends on its whole fibre along `axis`."""
    x = types[0]
    axis = (node.attr_dict["axis"],)
    length = x.shape[normalize_axes(axis, x.ndim)[0]]
    if x.size * length > MAX_ENTRIES:
        raise _TooDense
    count = x.size // max(length, 1)
    fibres = _selection(_groups(x, axis, count), np.arange(x.size), (count, x.size))
    return [(fibres.T @ fibres).tocsr()]


def _take(node: Node, types: list[TensorType], consts) -> list[sp.csr_array | None]:
    indices = consts.get(node.inputs[1])
    if indices is None:
        return [_dense(node, types[0]), None]
    moved = np.take(_numbered(types[0]), indices, node.attr_dict["axis"])
    return [_gather(moved.ravel().astype(np.int64) - 1, types[0].size), None]


def _scatter_add(node: Node, types: list[TensorType], consts) -> list[sp.csr_array | None]:
    """The transpose of `take`'s pattern: update element e lands on output element dest[e]."""
    indices = consts.get(node.inputs[1])
    if indices is None:
        return [_dense(node, types[0]), None]
    dest = np.take(_numbered(node.type), indices, node.attr_dict["axis"]).ravel().astype(np.int64) - 1
    return [_selection(dest, np.arange(dest.size), (node.type.size, types[0].size)), None]


def _matmul(node: Node, types: list[TensorType], consts) -> list[sp.csr_array]:
    """out[..., i, j] depends on a[..., i, :] and b[..., :, j] (1-D operands lifted)."""
    a, b = types
    if a.ndim == 0 or b.ndim == 0:  # dot with a scalar operand is a product
        return _elementwise(node, types, consts)
    a_num = np.arange(a.size).reshape(a.shape if a.ndim > 1 else (1,) + a.shape)
    b_num = np.arange(b.size).reshape(b.shape if b.ndim > 1 else b.shape + (1,))
    k = a_num.shape[-1]
    lifted = np.broadcast_shapes(a_num.shape[:-2], b_num.shape[:-2]) + (a_num.shape[-2], b_num.shape[-1])
    if int(np.prod(lifted)) * k > MAX_ENTRIES:
        raise _TooDense
    rows = np.broadcast_to(np.arange(int(np.prod(lifted))).reshape(lifted)[..., None], lifted + (k,))
    a_cols = np.broadcast_to(a_num[..., :, None, :], lifted + (k,))
    b_cols = np.broadcast_to(np.swapaxes(b_num, -1, -2)[..., None, :, :], lifted + (k,))
    shape = (node.type.size,)
    return [_selection(rows.ravel(), a_cols.ravel(), shape + (a.size,)),
            _selection(rows.ravel(), b_cols.ravel(), shape + (b.size,))]


def _dense(node: Node, t: TensorType) -> sp.csr_array:
    """The safe default: every element of the node depends on every element of the operand."""
    if node.type.size * t.size > MAX_ENTRIES:
        raise _TooDense
    rows, cols = np.divmod(np.arange(node.type.size * t.size), t.size)
    return _selection(rows, cols, (node.type.size, t.size))


_INDEX_OPS = {"reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "flip", "slice",
              "scatter_slice", "pad", "concatenate", "stack", "tril", "triu"}
_RULES = {"sum": _reduction, "mean": _reduction, "prod": _reduction, "max": _reduction,
          "min": _reduction, "logsumexp": _reduction, "softmax": _along, "log_softmax": _along,
          "matmul": _matmul, "dot": _matmul, "take": _take, "scatter_add": _scatter_add}


def _local(node: Node, op, types: list[TensorType], consts) -> list[sp.csr_array | None]:
    if node.type.size > MAX_ENTRIES:  # before any rule builds arrays of that size
        raise _TooDense
    if op.sparsity is not None:  # an op whose structure lies in its bodies (a loop)
        local = op.sparsity(node, types, consts)
        if local is None:
            raise _TooDense
        return local
    try:
        if node.op in _RULES:
            return _RULES[node.op](node, types, consts)
        if node.op in _INDEX_OPS:
            return _moved(node, op, types)
    except (IndexError, ValueError):  # e.g. a constant index out of range: evaluation reports it
        pass
    if op.elementwise:
        return _elementwise(node, types, consts)
    return [_dense(node, t) for t in types]


def _flows(op, argnum: int) -> bool:
    """False when the op's rules say no derivative flows from operand `argnum` (a None rule)."""
    kind = "jvp" if op.jvp is not None else "vjp"
    return getattr(op, kind) is None or op.rule(kind, argnum) is not None


# -- the graph walk --------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    """Structural nonzeros of a flattened Jacobian (outputs concatenated x inputs concatenated),
    as sorted COO `rows`, `cols`; `shape` is (m, n)."""

    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.rows.size)

    def matrix(self) -> sp.csr_array:
        return _matrix(self.rows, self.cols, self.shape)

    def symmetrized(self) -> Pattern:
        return _coo((self.matrix() + self.matrix().T).tocsr())


def _coo(matrix: sp.csr_array) -> Pattern:
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return Pattern(rows, matrix.indices.astype(np.int64), matrix.shape)


def jacobian_pattern(graph: Graph, wrt: Sequence[str], outputs: Sequence[str], registry,
                     budget: int | None = None) -> Pattern | None:
    """Which elements of `outputs` depend on which elements of `wrt` (None: too dense to track,
    or the patterns alive at once would take more than `budget` bytes)."""
    types = graph.types
    n = sum(types[name].size for name in wrt)
    deps: dict[str, sp.csr_array | None] = {name: None for name in graph.input_names}
    offset = 0
    for name in wrt:
        size = types[name].size
        deps[name] = _matrix(np.arange(size), offset + np.arange(size), (size, n))
        offset += size
    consts = {node.id: node.attr_dict["value"].array for node in graph.nodes if node.op == "constant"}
    last_use = {x: k for k, node in enumerate(graph.nodes) for x in node.inputs}
    kept = {vid for _, vid in graph.outputs}
    held = sum(_bytes(m) for m in deps.values())
    try:
        for k, node in enumerate(graph.nodes):
            deps[node.id] = _propagate(node, registry.get(node.op).bound(registry), deps, types, consts, n)
            held += _bytes(deps[node.id])
            if budget is not None and held > budget:
                raise _TooDense
            for x in set(node.inputs):  # a pattern no later node reads is dropped
                if last_use[x] == k and x not in kept:
                    held -= _bytes(deps[x])
                    deps[x] = None
    except _TooDense:
        return None
    rows = []
    for name in outputs:
        vid = dict(graph.outputs)[name]
        rows.append(deps[vid] if deps[vid] is not None else sp.csr_array((types[vid].size, n), dtype=bool))
    return _coo(sp.vstack(rows, format="csr"))


def _bytes(matrix: sp.csr_array | None) -> int:
    if matrix is None:
        return 0
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def _propagate(node: Node, op, deps, types, consts, n: int) -> sp.csr_array | None:
    live = [i for i, x in enumerate(node.inputs)
            if deps[x] is not None and types[x].is_float and _flows(op, i)]
    if not live or not node.type.is_float:
        return None
    local = _local(node, op, [types[x] for x in node.inputs], consts)
    total = None
    for i in live:
        operand = deps[node.inputs[i]]
        term = operand if local[i] is SAME else (local[i] @ operand).tocsr()
        total = term if total is None else (total + term).tocsr()
    if total.nnz > MAX_ENTRIES:
        raise _TooDense
    return total


# -- colourings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Colouring:
    """`count` colours; structural nonzero k of the pattern is entry `position[k]` of the swept
    result for colour `colour[k]` (a result is a column of J S forward, a row of W J reverse).
    `seeds[j]` is the colour of column j (forward) or row j (reverse)."""

    seeds: np.ndarray
    count: int
    colour: np.ndarray
    position: np.ndarray


CYCLIC_TRIES = 4  # cyclic colourings j mod k tried before a greedy one
MAX_COLOURING_WORK = 20_000_000  # neighbour visits a greedy colouring may make (else: no colouring)


def columns(pattern: Pattern) -> Colouring | None:
    """Columns sharing no row get one colour (a distance-2 colouring of the column graph), for
    forward sweeps; None when the pattern is too dense to colour cheaply."""
    return _distance2(pattern.rows, pattern.cols, pattern.shape[1])


def rows(pattern: Pattern) -> Colouring | None:
    """Rows sharing no column get one colour: `columns` of the transpose, for reverse sweeps."""
    return _distance2(pattern.cols, pattern.rows, pattern.shape[0])


def min_colours(pattern: Pattern) -> tuple[int, int]:
    """Lower bounds on the column and row colour counts: the fullest row and column."""
    return (int(np.bincount(pattern.rows, minlength=1).max()),
            int(np.bincount(pattern.cols, minlength=1).max()))


def _distance2(shared: np.ndarray, coloured: np.ndarray, size: int) -> Colouring | None:
    """Colour the `coloured` indices of the entries so that no two of one colour share a
    `shared` index. First j mod k from the lower bound up (found without a loop, and optimal
    for banded and block-diagonal patterns), then greedy in natural order."""
    counts = np.bincount(shared, minlength=1)
    lower = int(counts.max())
    for k in range(max(lower, 1), max(lower, 1) + CYCLIC_TRIES):
        seeds = np.arange(size) % k
        if _distinct(shared * k + seeds[coloured]):
            return Colouring(seeds, min(k, size), seeds[coloured], shared)
    if int((counts.astype(np.int64) ** 2).sum()) > MAX_COLOURING_WORK:
        return None
    matrix = _matrix(shared, coloured, (int(shared.max(initial=-1)) + 1, size))
    seeds = _greedy((matrix.T @ matrix).tocsr())
    return Colouring(seeds, int(seeds.max(initial=-1)) + 1, seeds[coloured], shared)


def _distinct(keys: np.ndarray) -> bool:
    keys = np.sort(keys)
    return bool((keys[1:] != keys[:-1]).all())


def _greedy(adjacency: sp.csr_array) -> np.ndarray:
    """Greedy colouring in natural order: each vertex takes the smallest colour none of its
    neighbours has."""
    indptr, indices = adjacency.indptr.tolist(), adjacency.indices.tolist()
    colours = [-1] * adjacency.shape[0]
    for v in range(len(colours)):
        used = 0
        for u in indices[indptr[v]:indptr[v + 1]]:
            if colours[u] >= 0:
                used |= 1 << colours[u]
        colours[v] = (~used & (used + 1)).bit_length() - 1
    return np.asarray(colours, dtype=np.int64)


def star(pattern: Pattern) -> Colouring | None:
    """Symmetric colouring of a symmetric pattern, for Hessians: a distance-1 colouring in
    which every path on four vertices uses at least three colours (a star colouring), so each
    H[i, j] is alone in its colour in row i or in row j and is read off directly. Cyclic
    colourings are tried first, then Gebremedhin, Manne & Pothen's (2005) greedy algorithm 1;
    too dense a pattern falls back to `columns`."""
    n = pattern.shape[0]
    for k in range(1, CYCLIC_TRIES + 1):
        found = _symmetric_reading(pattern, np.arange(n) % k)
        if found is not None:
            return found
    off = pattern.rows != pattern.cols
    degree = np.bincount(pattern.rows[off], minlength=n).astype(np.int64)
    if int((degree ** 3).sum()) > MAX_COLOURING_WORK:
        return columns(pattern)
    adjacency = _matrix(pattern.rows[off], pattern.cols[off], pattern.shape)
    indptr, indices = adjacency.indptr.tolist(), adjacency.indices.tolist()
    nbrs = [indices[indptr[v]:indptr[v + 1]] for v in range(n)]
    colour = [-1] * n
    for v, around in enumerate(nbrs):
        forbidden = {colour[w] for w in around if colour[w] >= 0}
        for w in around:
            for x in nbrs[w]:
                if x == v or colour[x] < 0:
                    continue
                if colour[w] < 0:
                    forbidden.add(colour[x])  # v and x would be one colour two steps apart
                elif any(y != w and colour[y] == colour[w] for y in nbrs[x]):
                    forbidden.add(colour[x])  # v-w-x-y would be a two-coloured path
        colour[v] = next(c for c in range(len(forbidden) + 1) if c not in forbidden)
    return _symmetric_reading(pattern, np.asarray(colour, dtype=np.int64))


def _symmetric_reading(pattern: Pattern, seeds: np.ndarray) -> Colouring | None:
    """Where to read each H[r, c] after sweeping one direction per colour of `seeds`: B[seeds[c],
    r] when c is alone in its colour in row r, else B[seeds[r], c] when r is alone in its colour
    in row c; None when neither holds for some entry."""
    r, c = pattern.rows, pattern.cols
    if (seeds[r[r != c]] == seeds[c[r != c]]).any():
        return None
    count = int(seeds.max(initial=-1)) + 1
    key = r * count + seeds[c]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    alone = counts[inverse] == 1
    flat = r * pattern.shape[1] + c  # sorted: the pattern is in row-major order
    mirror = np.searchsorted(flat, c * pattern.shape[1] + r)
    if not (alone | alone[mirror]).all():
        return None
    return Colouring(seeds, count, np.where(alone, seeds[c], seeds[r]), np.where(alone, r, c))
