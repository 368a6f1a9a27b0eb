"""Jacobians by sweeps: J S in forward mode, W J in reverse, with S and W chosen by structure.

J is the flattened Jacobian: selected outputs concatenated (m rows) by `wrt` inputs (n
columns). Knowing nothing, S is the identity (n sweeps) or W is (m sweeps); with a sparsity
pattern, one direction per colour (wengert.jacobians.sparsity), so a diagonal Jacobian costs a single
sweep whatever its size. Directions run as batched JVPs or VJPs on the linearisation (the
primal evaluated once, wengert.jacobians.linearised), in chunks sized by the memory budget
(wengert.jacobians.chunking), each chunk's plan without the values zero in its directions.
Each chunk yields a piece: whole columns or rows of J (`Slab`), or structural nonzeros read out
of compressed results (`Entries`, or `Located` by pattern position only). `collect` assembles
pieces into dense or COO blocks; the server streams them instead when the result is too large to hold.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from wengert.autodiff.transform import COTANGENT, TANGENT, check_outputs, check_wrt, prefix_for
from wengert.execution.cost import Profile, Run
from wengert.execution.plan import Plan
from wengert.jacobians.chunking import chunk_size
from wengert.errors import InvalidRequest
from wengert.ir.graph import Graph, TensorType
from wengert.jacobians.linearised import Linearised, linearise, restricted
from wengert.jacobians.colouring import BASIS, CYCLIC, Colouring, columns, index_dtype, min_colours, rows, star
from wengert.jacobians.sparsity import NoPattern, Pattern, jacobian_pattern, seed_supports

if TYPE_CHECKING:
    from wengert.execution.engine import Engine

MODES = ("auto", "forward", "reverse")
PIECE_BYTES = 1 << 21  # a streamed piece's payload: far below gRPC's default 4 MiB message
STEP_WORK = 10_000  # operations a plan step's own overhead (about 10 us of Python) is worth
FORMATS = ("dense", "sparse")


@dataclass(frozen=True)
class SparseBlock:
    """A block in COO form: `values[k]` sits at the multi-index `indices[k]` of `shape`."""

    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]

    def todense(self) -> np.ndarray:
        out = np.zeros(self.shape, self.values.dtype)
        if self.shape:
            out[tuple(self.indices.T)] = self.values
        elif self.values.size:
            out[()] = self.values[0]
        return out


@dataclass(frozen=True)
class JacobianResult:
    """`blocks[(output, input)]` is shaped `out_shape + in_shape` (a `SparseBlock` when
    `format` is "sparse"); `mode` is the one used, `sweeps` the directions pushed through the
    graph, `nnz` the structural nonzeros (m * n when no pattern was found), `chunk` the most
    directions run at once. `colouring` says how the directions were chosen (a method of
    `wengert.jacobians.colouring`; "basis": one per input or output element), `pattern_found`
    whether the sparsity pattern was tracked, and `note` why a cheaper way was taken, if one was."""

    values: dict[str, np.ndarray]
    blocks: dict[tuple[str, str], Any]
    mode: str
    format: str = "dense"
    sweeps: int = 0
    nnz: int = 0
    chunk: int = 0
    colouring: str = BASIS
    pattern_found: bool = False
    note: str = ""


@dataclass(frozen=True)
class Layout:
    """The selected outputs (rows of J) and inputs (columns), in order, each flattened:
    `rows` and `cols` say where each one's elements sit."""

    outputs: dict[str, TensorType]
    inputs: dict[str, TensorType]

    @cached_property
    def rows(self) -> list[tuple[str, TensorType, slice]]:
        return _ranges(self.outputs)

    @cached_property
    def cols(self) -> list[tuple[str, TensorType, slice]]:
        return _ranges(self.inputs)

    @cached_property
    def shape(self) -> tuple[int, int]:
        return (sum(r.stop - r.start for *_, r in self.rows), sum(c.stop - c.start for *_, c in self.cols))

    @cached_property
    def dtype(self) -> np.dtype:
        return np.result_type(*(t.dtype for t in (*self.outputs.values(), *self.inputs.values())))

    def dense_blocks(self, flat: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
        whole = len(self.rows) == len(self.cols) == 1
        return {(o, i): (flat if whole else flat[rs, cs]).reshape(ot.shape + it.shape)
                for o, ot, rs in self.rows for i, it, cs in self.cols}

    def sparse_blocks(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                      index: list | None = None) -> dict[tuple[str, str], SparseBlock]:
        """COO blocks from entries of J (`index`: their `coo_index`, when already known)."""
        return {key: SparseBlock(indices, values[hit], shape)
                for key, hit, indices, shape in index or self.coo_index(rows, cols)}

    def coo_index(self, rows: np.ndarray, cols: np.ndarray, by_row: bool = False) -> list:
        """Per block: its key, which of the entries (rows, cols) of J it holds, their
        multi-indices within the block (read-only: results may share them), its shape.
        `by_row`: the entries are sorted by row (a pattern's), so each output's are a run."""
        out = []
        for (o, ot, rs), (i, it, cs) in itertools.product(self.rows, self.cols):
            lo, hi = np.searchsorted(rows, [rs.start, rs.stop]) if by_row else (0, rows.size)
            if len(self.cols) == 1 and (by_row or len(self.rows) == 1):
                hit = slice(lo, hi)
            elif by_row:
                hit = lo + np.flatnonzero((cols[lo:hi] >= cs.start) & (cols[lo:hi] < cs.stop))
            else:
                hit = np.flatnonzero((rows >= rs.start) & (rows < rs.stop) & (cols >= cs.start) & (cols < cs.stop))
            found = rows[hit]
            indices = np.empty((len(ot.shape) + len(it.shape), found.size), np.int64)  # transposed, as it fills
            _unravel(found - rs.start, ot.shape, indices[:len(ot.shape)])
            _unravel(cols[hit] - cs.start, it.shape, indices[len(ot.shape):])
            indices = indices.T
            indices.setflags(write=False)
            out.append(((o, i), hit, indices, ot.shape + it.shape))
        return out


def _unravel(flat: np.ndarray, shape: tuple[int, ...], out: np.ndarray) -> None:
    """Write the multi-indices of flat positions into the rows of `out`, one per axis (none
    for a scalar's single element)."""
    for axis in range(len(shape) - 1, 0, -1):
        flat = np.divmod(flat, shape[axis], out=(np.empty_like(flat) if axis > 1 else out[axis - 1], out[axis]))[0]
    if len(shape) == 1:
        out[0] = flat


def _ranges(types: dict[str, TensorType]) -> list[tuple[str, TensorType, slice]]:
    out, start = [], 0
    for name, t in types.items():
        out.append((name, t, slice(start, start + t.size)))
        start += t.size
    return out


@dataclass(frozen=True)
class Slab:
    """Directions [start, stop) swept without compression: those columns of J (forward, given
    as rows of `values`) or those rows of J (reverse)."""

    start: int
    values: np.ndarray

    def write(self, flat: np.ndarray, mode: str) -> None:
        stop = self.start + len(self.values)
        if mode == "forward":
            flat[:, self.start:stop] = self.values.T
        else:
            flat[self.start:stop] = self.values

    def entries(self, mode: str) -> Entries:
        """Every element of the slab as an entry (no pattern is known)."""
        count, length = self.values.shape
        swept = np.repeat(np.arange(self.start, self.start + count), length)
        other = np.tile(np.arange(length), count)
        rows, cols = (other, swept) if mode == "forward" else (swept, other)
        return Entries(rows, cols, self.values.ravel())


@dataclass(frozen=True)
class Entries:
    """Structural nonzeros of J: J[rows[k], cols[k]] = values[k]; they are the pattern's
    entries `at` (an index or a slice into the pattern) when a pattern is known."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    at: Any = None

    def write(self, flat: np.ndarray, mode: str) -> None:
        flat[self.rows, self.cols] = self.values

    def entries(self, mode: str) -> Entries:
        return self


@dataclass(frozen=True)
class Located:
    """Structural nonzeros `at` (an index into `pattern`'s entries) and their values: what a
    caller collecting the pattern's entries reads, without their rows and columns, which
    `entries` gathers when asked."""

    pattern: Pattern
    at: Any
    values: np.ndarray

    def write(self, flat: np.ndarray, mode: str) -> None:
        self.entries(mode).write(flat, mode)

    def entries(self, mode: str) -> Entries:
        return Entries(self.pattern.rows[self.at], self.pattern.cols[self.at], self.values, self.at)


@dataclass(frozen=True, eq=False)
class Strategy:
    """How a Jacobian is swept, found once per graph and selection: the mode, the number of
    directions, and the pattern and colouring when known (entry k of the pattern is entry
    `flat[k]` of the flattened swept results); `note` says why no pattern or a cheaper
    colouring was used, if that is so."""

    layout: Layout
    mode: str
    directions: int
    pattern: Pattern | None = None
    colouring: Colouring | None = None
    note: str = ""

    @property
    def method(self) -> str:
        """How the directions were chosen (a colouring method, or "basis")."""
        return self.colouring.method if self.colouring is not None else BASIS

    @cached_property
    def compressed(self) -> bool:
        """Fewer directions than basis vectors: results are read out at the pattern's entries."""
        basis = self.layout.shape[1 if self.mode == "forward" else 0]
        return self.colouring is not None and self.directions < basis

    @cached_property
    def nnz(self) -> int:
        """Structural nonzeros; every entry counts when no pattern is known."""
        m, n = self.layout.shape
        return self.pattern.nnz if self.pattern is not None else m * n

    @cached_property
    def flat(self) -> np.ndarray:
        swept_length = self.layout.shape[0 if self.mode == "forward" else 1]
        dtype = index_dtype(max(self.directions, 1) * swept_length)
        return self.colouring.colour.astype(dtype) * dtype.type(swept_length) + self.colouring.position.astype(dtype)

    @cached_property
    def by_colour(self) -> tuple[np.ndarray, np.ndarray]:
        """The pattern's entries ordered by colour (stably), and where each colour's start in
        that order: a chunk of colours reads a run of it."""
        colour = self.colouring.colour
        order = np.argsort(colour, kind="stable")
        return order, np.searchsorted(colour[order], np.arange(self.directions + 1))

    @cached_property
    def coo(self) -> list:
        """The pattern's `Layout.coo_index`, found once for every result."""
        return self.layout.coo_index(self.pattern.rows, self.pattern.cols, by_row=True)


def strategy(layout: Layout, graph: Graph, mode: str, registry, *, symmetric: bool = False,
             budget: int | None = None) -> Strategy:
    """Detect the pattern (within `budget` bytes) and pick the mode and colouring needing
    fewest sweeps (forward on ties). `symmetric` (Hessians: the Jacobian of a gradient) sweeps
    forward with a star colouring of the symmetrized pattern."""
    m, n = layout.shape
    if not (m and n):  # no rows or no columns (e.g. no float input): J is empty, nothing to sweep
        return Strategy(layout, "reverse" if mode == "reverse" else "forward", 0)
    try:
        pattern = jacobian_pattern(graph, list(layout.inputs), list(layout.outputs), registry, budget,
                                   useful_only=True)
    except NoPattern as reason:
        forward = mode == "forward" or (mode == "auto" and n <= m)
        return Strategy(layout, "forward" if forward else "reverse", n if forward else m, note=str(reason))
    if symmetric:
        pattern = pattern.symmetrized()
        return _compressed(layout, "forward", pattern, star(pattern))
    fewest_rows, fewest_cols = min_colours(pattern)  # no colouring can do with fewer
    options = []  # (mode, colouring or None for basis vectors, sweeps)
    if mode != "reverse":
        blocks = [(name, cs.start) for name, _, cs in layout.cols]  # the inputs, coloured cyclically apart
        colouring = columns(pattern, blocks) if fewest_rows < n else None
        options.append(("forward", colouring, colouring.count if colouring else n))
    if mode != "forward":
        best = min((sweeps for *_, sweeps in options), default=m + 1)
        blocks = [(name, rs.start) for name, _, rs in layout.rows]
        colouring = rows(pattern, blocks) if fewest_cols < min(m, best) else None
        options.append(("reverse", colouring, colouring.count if colouring else m))
    chosen, colouring, _ = min(options, key=lambda option: option[2])
    return _compressed(layout, chosen, pattern, colouring)


def _compressed(layout: Layout, mode: str, pattern: Pattern, colouring: Colouring | None) -> Strategy:
    size = layout.shape[1 if mode == "forward" else 0]
    if colouring is None or colouring.count >= size:  # plain basis vectors, read at the pattern
        swept, other = (pattern.cols, pattern.rows) if mode == "forward" else (pattern.rows, pattern.cols)
        note = colouring.note if colouring is not None and colouring.method != CYCLIC else ""  # a budget hit
        return Strategy(layout, mode, size, pattern, Colouring(np.arange(size), size, swept, other, BASIS), note)
    return Strategy(layout, mode, colouring.count, pattern, colouring, colouring.note)


# -- running the sweeps ------------------------------------------------------------------------
@dataclass
class Sweeps:
    """A Jacobian being computed: the primal `values`, the strategy, and `pieces` to consume
    once, each from up to `chunk` directions."""

    values: dict[str, np.ndarray]
    strategy: Strategy
    chunk: int
    pieces: Iterator[Slab | Entries | Located]

    def collect(self, format: str) -> JacobianResult:
        how = self.strategy
        layout, mode = how.layout, how.mode
        if format == "sparse" and how.pattern is not None:
            if self.chunk >= how.directions > 0:  # one piece: every entry, in pattern order
                values = next(self.pieces).values
            else:
                values = np.empty(how.nnz, layout.dtype)
                for piece in self.pieces:
                    values[piece.at] = piece.values
            blocks = layout.sparse_blocks(how.pattern.rows, how.pattern.cols, values, how.coo)
        elif format == "dense" and not how.compressed and self.chunk >= how.directions > 0:
            swept = next(self.pieces).values  # one slab: J itself, transposed in forward mode
            blocks = layout.dense_blocks(swept.T if mode == "forward" else swept)
        else:
            blocks = assemble(layout, mode, self.pieces, format)
        return JacobianResult(self.values, blocks, mode, format, how.directions, how.nnz, self.chunk,
                              how.method, how.pattern is not None, how.note)


def assemble(layout: Layout, mode: str, pieces: Iterable[Slab | Entries | Located], format: str) -> dict:
    """Blocks from the pieces of J, however they were computed (or received from a stream)."""
    if format == "sparse":
        found = [piece.entries(mode) for piece in pieces]
        return layout.sparse_blocks(*(np.concatenate([getattr(e, f) for e in found] or [np.zeros(0, int)])
                                      for f in ("rows", "cols", "values")))
    flat = np.zeros(layout.shape, layout.dtype)
    for piece in pieces:
        piece.write(flat, mode)
    return layout.dense_blocks(flat)


@dataclass(frozen=True)
class SweepPlan:
    """How a Jacobian will be swept, before any sweep runs: the strategy, the directions run
    at once (`chunk`), the plans of the derivative graph split at its seeds (`primal`, run
    once, and `linear`, batched, run per chunk: see `wengert.jacobians.linearised`) and their
    profiles, and the bytes the caller holds meanwhile (`held`: the result, in the format it
    collects into)."""

    strategy: Strategy
    chunk: int
    split: Linearised
    primal: Plan
    linear: tuple[Plan, ...]  # per chunk, its linear plan without the values zero in it (or one for all)
    prefix: str  # of the linear plans' seeds and derivatives
    primal_profile: Profile
    profile: Profile  # of the whole linear plan, which sizes the chunks
    profiles: tuple[Profile, ...]  # of each plan in `linear`
    held: int
    slabs: bool  # read uncompressed sweeps as whole slabs of J
    located: bool  # read compressed sweeps as pattern positions only (collected into sparse blocks)
    values: Plan | None = None  # the graph's own plan, when the primal graph cannot give its outputs
    values_profile: Profile | None = None

    @property
    def runs(self) -> tuple[Run, ...]:
        """The primal evaluation and the sweeps, as parts of a request's price."""
        primal = (Run("the primal and its linearisation", self.primal_profile),) + (
            (Run("the outputs", self.values_profile),) if self.values is not None else ())
        what = f"{self.strategy.mode} sweeps of {self.chunk} direction(s)"
        if len(self.profiles) == 1:  # one plan for every chunk
            times = math.ceil(self.strategy.directions / self.chunk)
            return *primal, Run(what, self.profiles[0], self.chunk, times)
        return *primal, *(Run(what, profile, self.chunk) for profile in self.profiles)

    def chunks(self) -> Iterator[tuple[int, int, Plan]]:
        """Each chunk of directions [start, stop) with its linear plan."""
        directions, chunk = self.strategy.directions, self.chunk
        for k, start in enumerate(range(0, directions, chunk)):
            yield start, min(start + chunk, directions), self.linear[k if len(self.linear) > 1 else 0]


def result_bytes(how: Strategy, format: str | None) -> int:
    """The Jacobian's blocks in `format`: dense m x n, or each structural nonzero with its
    multi-index (an int64 per axis of its output and input); nothing for None (streamed)."""
    layout = how.layout
    m, n = layout.shape
    item = layout.dtype.itemsize
    if format == "sparse":
        axes = max((len(o.shape) + len(i.shape) for o in layout.outputs.values()
                    for i in layout.inputs.values()), default=0)
        return how.nnz * (item + 8 * axes)
    return m * n * item if format == "dense" else 0


def plan_sweep(engine: Engine, graph: Graph, wrt: Sequence[str] | None, outputs: Sequence[str] | None,
               mode: str = "auto", *, hold: str | None = "dense", symmetric: bool = False,
               max_chunk: int | None = None) -> SweepPlan:
    """The sweeps computing the Jacobian of specialized `graph`; `hold` is the format the
    caller will collect into (None when it streams the pieces away), which the memory budget
    must leave room for. Cached per graph and selection."""
    if mode not in MODES:
        raise InvalidRequest(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if hold not in (*FORMATS, None):
        raise InvalidRequest(f"unknown format {hold!r}; use one of {', '.join(FORMATS)}")
    selection = (tuple(wrt or ()), tuple(outputs or ()))  # the request as given: checked once
    how = engine.cached((graph, "sweep", selection, mode, symmetric), lambda: strategy(
        _layout(graph, wrt, outputs), graph, mode, engine.registry, symmetric=symmetric,
        budget=engine.memory_budget))
    split, primal, linear, prefix = _split(engine, graph, how)
    profile = engine.profile(linear)
    held = result_bytes(how, hold)
    chunk, plans = engine.cached((how, split, "chunks", hold, engine.memory_budget, max_chunk), lambda: _chunks(
        engine, how, linear, prefix, min(chunk_size(profile, how.directions, held, engine.memory_budget),
                                         max_chunk or how.directions or 1)))
    m, n = how.layout.shape  # a streamed J goes as whole slabs unless its entries (3 numbers each) are fewer
    slabs = hold == "dense" or (hold is None and 3 * how.nnz >= m * n)
    values = engine.plan(graph) if split.entangled else None
    return SweepPlan(how, chunk, split, primal, plans, prefix, engine.profile(primal), profile,
                     tuple(engine.profile(plan) for plan in plans), held, slabs, hold == "sparse", values,
                     values and engine.profile(values))


def sweep(engine: Engine, graph: Graph, inputs: Mapping[str, np.ndarray], planned: SweepPlan,
          check=None) -> Sweeps:
    """Start the sweeps `planned` for specialized `graph` at `inputs`: the primal runs now (so
    errors surface here), the first chunk of sweeps too, the others as the pieces are consumed."""
    found = planned.primal.run(inputs, check)
    values = (planned.values.run(inputs, check) if planned.values is not None
              else {name: found[name] for name in graph.output_names})
    pieces = _pieces(planned, planned.split.feeds(found), check)
    del found
    first = next(pieces, None)  # the first chunk runs now too
    return Sweeps(values, planned.strategy, planned.chunk, itertools.chain([first] if first else [], pieces))


def _layout(graph: Graph, wrt: Sequence[str] | None, outputs: Sequence[str] | None) -> Layout:
    """The checked selection: `wrt` float inputs (default all), float `outputs` (default all)."""
    types = graph.types
    wrt = check_wrt(graph, wrt)
    outs = check_outputs(graph, outputs or [n for n, vid in graph.outputs if types[vid].is_float])
    for name in outs:
        if not graph.output_type(name).is_float:
            raise InvalidRequest(f"output {name!r} is not floating-point; it has no Jacobian")
    return Layout({o: graph.output_type(o) for o in outs}, {i: types[i] for i in wrt})


def _split(engine: Engine, graph: Graph, how: Strategy) -> tuple[Linearised, Plan, Plan, str]:
    """The derivative graph of the sweeps split at its seeds, the plans of both parts (the
    linear one batched over its seeds), and the prefix naming the seeds and derivatives."""
    layout = how.layout
    if how.mode == "forward":
        names = [name for name in graph.input_names if name in layout.inputs]
        dgraph = engine.derivative_graph(graph, "jvp", names)
        prefix, derived = prefix_for(graph, TANGENT), list(layout.outputs)
    else:
        names = [name for name in graph.output_names if name in layout.outputs]
        dgraph = engine.derivative_graph(graph, "vjp", list(layout.inputs), seeds=names)
        prefix, derived = prefix_for(graph, COTANGENT), list(layout.inputs)
    seeds = frozenset(prefix + k for k in names)
    derivatives = tuple(prefix + k for k in derived)
    split = engine.cached((dgraph, "linearised", seeds, derivatives),
                          lambda: linearise(dgraph, seeds, graph.output_names, derivatives))
    return split, engine.plan(split.primal), engine.plan(split.linear, seeds), prefix


def _chunks(engine: Engine, how: Strategy, linear: Plan, prefix: str, chunk: int) -> tuple[int, tuple[Plan, ...]]:
    """The directions run at once (at most `chunk`, which fits the budget) and the linear plan
    of each chunk: one direction at a time when their plans, without the values zero in them,
    cost at most half the chunks' (steps counted at STEP_WORK operations each; a batched op
    does its work on larger arrays, more efficiently). Not even tried when a direction's work
    is less than its plan's steps are worth: on small arrays batching wins."""
    small = chunk > 1 and engine.profile(linear).work(1) < STEP_WORK * len(linear.steps)  # batching wins
    supports = None if small else _supports(engine, how, linear, prefix)
    plans = _chunk_plans(engine, how, linear, supports, chunk)
    if chunk == 1 or supports is None:
        return chunk, plans
    singles = _chunk_plans(engine, how, linear, supports, 1)

    def cost(plans: tuple[Plan, ...], batch: int) -> int:
        return sum(engine.profile(plan).work(batch) + STEP_WORK * len(plan.steps) for plan in plans) * (
            math.ceil(how.directions / batch) if len(plans) == 1 else 1)
    return (1, singles) if 2 * cost(singles, 1) <= cost(plans, chunk) else (chunk, plans)


def _supports(engine: Engine, how: Strategy, linear: Plan, prefix: str) -> dict[str, int] | None:
    """The directions each value of the linear plan can be nonzero in (`seed_supports`: bit
    k for direction k), when a colouring of at most 64 colours chose them and the walk can tell."""
    colouring = how.colouring
    if colouring is None or not 1 < how.directions <= 64:
        return None
    seeded = how.layout.cols if how.mode == "forward" else how.layout.rows
    masks = {prefix + name: np.left_shift(np.uint64(1), colouring.seeds[r].astype(np.uint64)).reshape(t.shape)
             for name, t, r in seeded}
    return seed_supports(linear.graph, masks, engine.registry)


def _chunk_plans(engine: Engine, how: Strategy, linear: Plan, supports: dict[str, int] | None, chunk: int
                 ) -> tuple[Plan, ...]:
    """The linear plan of each chunk of directions (one for all when none is restricted),
    without the values zero in all of them (a colouring of few colours seeds each direction in
    a few inputs' elements, e.g. one parameter of every camera), when `supports` says which
    those are. Plans of one direction take it without a batch axis (so that their elementwise
    chains run fused, see `wengert.execution.fusion`)."""
    starts = range(0, how.directions, chunk)
    batched = linear.batched_inputs if chunk > 1 else frozenset()
    if supports is None or len(starts) < 2:  # one plan for every chunk
        return (linear if batched else engine.plan(linear.graph),)
    made = {node.id for node in linear.graph.nodes}
    plans = []
    for start in starts:
        directions = (1 << min(start + chunk, how.directions)) - (1 << start)
        zero = {vid for vid, mask in supports.items() if vid in made and not mask & directions}
        plans.append(linear if batched and not zero else engine.plan(restricted(linear.graph, zero), batched))
    return tuple(plans)


def _pieces(planned: SweepPlan, residuals: dict[str, np.ndarray], check) -> Iterator[Slab | Entries | Located]:
    """A piece per chunk of directions, swept through the linear plan from the `residuals`;
    uncompressed sweeps give slabs if `planned.slabs`."""
    how, prefix = planned.strategy, planned.prefix
    layout, forward = how.layout, how.mode == "forward"
    seeded, results = (layout.cols, layout.rows) if forward else (layout.rows, layout.cols)
    for start, stop, linear in planned.chunks():
        seeds = _seeds(how, start, stop, seeded)
        unbatched = not linear.batched_inputs  # one direction, without the batch axis
        derivs = linear.run({**residuals, **{prefix + name: v[0] if unbatched else v for name, v in seeds.items()}},
                            check)
        parts = [np.broadcast_to(derivs[prefix + name], (stop - start,) + t.shape).reshape(stop - start, -1)
                 for name, t, _ in results]
        swept = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        yield _read(how, start, stop, swept, planned.slabs, planned.located)


def _seeds(how: Strategy, start: int, stop: int, ranges) -> dict[str, np.ndarray]:
    """Directions [start, stop): basis vectors, or the indicator of each colour's members."""
    if how.colouring is None:
        flat = np.zeros((stop - start, ranges[-1][2].stop), dtype=bool)
        flat[np.arange(stop - start), np.arange(start, stop)] = True
    else:
        flat = how.colouring.seeds[None, :] == np.arange(start, stop)[:, None]
    return {name: flat[:, r].astype(t.dtype).reshape((stop - start,) + t.shape) for name, t, r in ranges}


def _read(how: Strategy, start: int, stop: int, swept: np.ndarray, slabs: bool, located: bool
          ) -> Slab | Entries | Located:
    """What directions [start, stop) found: a slab of J, or the pattern entries of their colours
    (`located`: by their positions in the pattern only)."""
    if how.colouring is None or (slabs and not how.compressed):
        return Slab(start, swept)
    pattern = how.pattern
    if (start, stop) == (0, how.directions):
        return Entries(pattern.rows, pattern.cols, np.take(swept, how.flat), slice(None))
    order, starts = how.by_colour
    at = order[starts[start]:starts[stop]]
    found = np.take(swept, how.flat[at] - start * swept.shape[1])  # this chunk's colours start at 0
    return Located(pattern, at, found) if located else Entries(pattern.rows[at], pattern.cols[at], found, at)
