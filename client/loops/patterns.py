"""Structural sparsity of control-flow nodes, from their bodies' patterns.

A loop's Jacobian depends on how many steps it runs, but its structure does not need to: with
P the pattern of a step's new carries on its old ones, the carries after any number of steps
depend on the initial ones at most through R = I + P + P^2 + ..., the least fixed point of
R = I + P R (a transitive closure). What is computed, for a scan with carries c, per-step
inputs x, loop-invariant operands k and per-step outputs y:

    final carries  on  c: R          x_j: R Pcx (every step j)   k: R Pck
    y_i            on  c: Pyc R      x_i: Pyx                     k: Pyk + Pyc R Pck
                       x_j, j before i in scan order: Pyc R Pcx, after it: nothing

a superset of the pattern at every step count, exact when the pattern of P^n is the closure's
(an elementwise recurrence, say). fori_loop and while_loop are scans without x and y; a branch
is the union of its branches' patterns; the reverse sweep `adjoint_scan` is treated the same
way with time collapsed (each per-step result on every step's inputs). Patterns that grow past
`MAX_ENTRIES` give up: the loop is then taken as dense, which is always safe.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from wengert.ir.graph import Graph, Node, TensorType
from wengert.jacobians.sparsity import NoPattern, jacobian_pattern
from wengert.loops.constructs import layout
from wengert.loops.layout import CARRY, FLAG, INDEX, XS, Layout

MAX_ENTRIES = 5_000_000  # entries of one block of a loop's pattern, as SciPy matrices

Blocks = dict[tuple[str, str], sp.csr_array]  # (output group, input group) -> pattern


class _TooDense(Exception):
    pass


def local(registry, node: Node, types: Sequence[TensorType]) -> list[sp.csr_array] | None:
    """The local pattern (node elements x operand elements) of each operand, or None when it
    is too dense to track."""
    lay = layout(node.op, node.attr_dict, len(types))
    sizes = {g.name: [(TensorType(t.dtype, t.shape[1:]) if g.role == XS else t).size for t in ts]
             for g, ts in zip(lay.operands, lay.split(list(types)).values())}
    try:
        bodies = [_blocks(registry, body.graph(lay.attrs), lay, body, sizes) for body in lay.bodies]
        if node.op == "adjoint_scan":
            deps = _adjoint(lay, bodies)
        elif any(g.role == CARRY for g in lay.operands):
            deps = _loop(lay, bodies[-1])
        else:
            deps = {key: _union([b[key] for b in bodies if key in b]) for key in bodies[0]}
        return _assemble(node, lay, types, sizes, deps)
    except _TooDense:
        return None


def _blocks(registry, graph: Graph, lay: Layout, body, sizes) -> Blocks:
    """The body's pattern cut into one block per (output group, input group)."""
    float_in = [name for name, t in graph.inputs if t.is_float]
    try:
        pattern = jacobian_pattern(graph, float_in, list(graph.output_names), registry, 16 * MAX_ENTRIES)
    except NoPattern:
        raise _TooDense from None
    matrix = sp.hstack([pattern.matrix(), sp.csr_array((pattern.shape[0], 1), dtype=bool)], format="csr")
    starts = dict(zip(float_in, np.cumsum([0] + [graph.type_of(n).size for n in float_in])))
    zero = pattern.shape[1]  # the all-zero column, for inputs that carry no derivative
    cols: dict[str, list[int]] = {}
    for (group, _), (name, t) in zip(lay.positions(body.inputs), graph.inputs):
        if group != INDEX:
            cols.setdefault(group, []).extend(range(starts[name], starts[name] + t.size) if t.is_float
                                              else [zero] * t.size)
    out_starts = np.cumsum([0] + [graph.type_of(v).size for _, v in graph.outputs])
    rows: dict[str, list[int]] = {}
    for (group, _), a, b in zip(lay.positions(body.outputs), out_starts, out_starts[1:]):
        if group != FLAG:
            rows.setdefault(group, []).extend(range(a, b))
    return {(r, c): _bool(matrix[np.asarray(rs, dtype=np.int64)][:, np.asarray(cs, dtype=np.int64)])
            for r, rs in rows.items() for c, cs in cols.items()}


def _bool(m) -> sp.csr_array:
    m = sp.csr_array(m, dtype=bool)
    if m.nnz > MAX_ENTRIES:
        raise _TooDense
    m.eliminate_zeros()
    return m


def _union(ms: Sequence[sp.csr_array]) -> sp.csr_array:
    out = ms[0]
    for m in ms[1:]:
        out = _bool(out + m)
    return out


def _closure(p: sp.csr_array) -> sp.csr_array:
    """I + P + P^2 + ...: the least fixed point of R = I + P R."""
    r = sp.eye_array(p.shape[0], dtype=bool, format="csr")
    while True:
        grown = _bool(r + p @ r)
        if grown.nnz == r.nnz:
            return r
        r = grown


def _get(blocks: Blocks, out: str, group: str, shape: tuple[int, int]) -> sp.csr_array:
    return blocks.get((out, group), sp.csr_array(shape, dtype=bool))


def _loop(lay: Layout, step: Blocks) -> dict:
    """scan, fori_loop, while_loop: (result group, operand group) -> pattern, a pair (same
    step, earlier step) for stacked outputs on per-step inputs (see the module doc)."""
    c = sum(m.shape[0] for (o, i), m in step.items() if (o, i) == ("C", "C"))
    r = _closure(_get(step, "C", "C", (c, c)))
    deps = {}
    for group in (g.name for g in lay.operands):
        width = next((m.shape[1] for (o, i), m in step.items() if i == group), 0)
        pc = _get(step, "C", group, (c, width))
        through = _bool(r @ pc) if group != "C" else r
        deps[("C", group)] = through
        if "Y" in lay.results:
            y = next((m.shape[0] for (o, _), m in step.items() if o == "Y"), 0)
            direct, carried = _get(step, "Y", group, (y, width)), _bool(_get(step, "Y", "C", (y, c)) @ through)
            deps[("Y", group)] = (direct, carried) if group == "X" else _bool(direct + carried) \
                if group != "C" else carried
    return deps


def _adjoint(lay: Layout, bodies: list[Blocks]) -> dict:
    """adjoint_scan, time collapsed: the states' closure feeds the adjoints' closure."""
    forward, backward = bodies[0], bodies[1]
    size = lambda blocks, group: next((m.shape[0] for (o, _), m in blocks.items() if o == group), 0)  # noqa: E731
    p, a = size(forward, "P"), size(backward, "A")
    rp, ra = _closure(_get(forward, "P", "P", (p, p))), _closure(_get(backward, "A", "A", (a, a)))
    deps = {}
    for g in lay.operands:
        width = next((m.shape[1] for (o, i), m in {**forward, **backward}.items() if i == g.name), 0)
        state = rp if g.name == "P" else _bool(rp @ _get(forward, "P", g.name, (p, width)))  # P_k on g
        for out, rows in (("A", a), ("Z", size(backward, "Z"))):
            on_state = _bool(_get(backward, out, "P", (rows, p)) @ state)
            direct = _get(backward, out, g.name, (rows, width)) if g.name != "P" else sp.csr_array((rows, width), dtype=bool)
            term = _bool(on_state + direct)
            if out == "A":
                term = _bool(ra @ term) if g.name != "A" else ra
            else:
                via_a = _bool(_get(backward, "Z", "A", (rows, a)) @ deps[("A", g.name)])
                term = _bool(term + via_a)
            deps[(out, g.name)] = term
    return deps


def _assemble(node: Node, lay: Layout, types, sizes, deps: dict) -> list[sp.csr_array]:
    """Per operand, its columns of the node's pattern: result groups in packing order, a
    stacked result's rows over the steps, a per-step operand's columns over the steps."""
    n = lay.length
    forward = not lay.attrs.get("reverse", False)
    members = _members(lay, types)
    out = []
    for g in lay.operands:
        width = sum(sizes[g.name])
        per_result = []
        for name in lay.results:
            rows = sum(members[name])
            dep = deps.get((name, g.name))
            if dep is None:
                dep = sp.csr_array((rows, width), dtype=bool)
            stacked, per_step = name in lay.stacked, g.role == XS
            if isinstance(dep, tuple):  # a per-step output on a per-step input: causal in scan order
                same, earlier = dep
                if n * n * max(earlier.nnz, 1) > MAX_ENTRIES:
                    raise _TooDense
                block = sp.block_array([[same if i == j else earlier if (j < i) == forward else None
                                         for j in range(n)] for i in range(n)], format="csr") \
                    if n else sp.csr_array((0, 0), dtype=bool)
            elif stacked and per_step:
                if n * n * max(dep.nnz, 1) > MAX_ENTRIES:
                    raise _TooDense
                block = sp.kron(sp.csr_array(np.ones((n, n), bool)), dep, format="csr")
            elif stacked:
                block = sp.vstack([dep] * n, format="csr") if n else sp.csr_array((0, width), dtype=bool)
            elif per_step:
                block = sp.hstack([dep] * n, format="csr") if n else sp.csr_array((dep.shape[0], 0), dtype=bool)
            else:
                block = dep
            if stacked and n:  # rows come step by step; the packed result holds each member's steps together
                block = block[_member_major(members[name], n)]
            per_result.append(_bool(block))
        whole = sp.vstack(per_result, format="csr")
        out += _split_columns(whole, sizes[g.name], n if g.role == XS else None)
    return out


def _members(lay: Layout, types) -> dict[str, list[int]]:
    """Each result group's members' sizes, per step for stacked ones."""
    results, out, start = lay.result_types(list(types)), {}, 0
    for group in lay.results:
        count = lay.size(group)
        out[group] = [(t.size // lay.length if lay.length else 0) if group in lay.stacked else t.size
                      for t in results[start:start + count]]
        start += count
    return out


def _member_major(sizes: list[int], steps: int) -> np.ndarray:
    """Row order turning (step, member, element) into (member, step, element)."""
    width, starts = sum(sizes), np.cumsum([0] + sizes)
    return np.concatenate([(np.arange(steps)[:, None] * width + a + np.arange(size)[None, :]).ravel()
                           for size, a in zip(sizes, starts)] or [np.zeros(0, np.int64)])


def _split_columns(whole: sp.csr_array, sizes: list[int], steps: int | None) -> list[sp.csr_array]:
    """A group's columns cut per operand; a per-step group's columns come step by step (all of
    step 0's members, then step 1's), an operand's as (step, element)."""
    bounds = np.cumsum([0] + sizes)
    if steps is None:
        return [whole[:, a:b] for a, b in zip(bounds, bounds[1:])]
    width = sum(sizes)
    return [whole[:, (np.arange(steps)[:, None] * width + a + np.arange(b - a)[None, :]).ravel()]
            for a, b in zip(bounds, bounds[1:])]
