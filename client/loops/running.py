"""Running control-flow nodes on NumPy, and pricing them before they run.

Each body is compiled once into a `Plan` and run step after step; per-step outputs are written
straight into the node's packed result. In a batched plan (many directions at once) some
operands carry a leading batch axis; the bodies then run batched too, and a carry that picks
up the batch axis in a step is given it from the start. A stopping condition or a branch index
that differs across the batch runs each direction on its own.

A node's price comes from its bodies' profiles: a loop's work is its steps times its body's,
its scratch the body's peak less what the node's operands already hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from wengert.execution.cost import Profile, profile
from wengert.execution.plan import Plan
from wengert.ir.graph import Graph, TensorType
from wengert.loops.constructs import layout
from wengert.loops.layout import CARRY, FLAG, INDEX, XS, Body, Layout, packed_type, views
from wengert.lru import LRU
from wengert.plugins.opdef import Cost

# Bodies' plans and profiles, kept for the loops run again (a body's constants count).
_PLANS: LRU[tuple, Plan] = LRU(1024, 256 << 20, lambda key, plan: plan.graph.constant_bytes + 256 * len(plan.steps))
_PROFILES: LRU[tuple, Profile] = LRU(1024)


def body_plan(registry, graph: Graph, batched: Sequence[bool]) -> Plan:
    """The plan of a body whose inputs flagged in `batched` carry a batch axis (cached)."""
    flags = frozenset(name for (name, _), b in zip(graph.inputs, batched) if b)
    return _PLANS.get_or_make((registry, graph, flags), lambda: Plan(graph, registry, flags))


def body_profile(registry, graph: Graph, batched: Sequence[bool]) -> Profile:
    plan = body_plan(registry, graph, batched)
    return _PROFILES.get_or_make((registry, graph, plan.batched_inputs), lambda: profile(plan, registry))


@dataclass
class Node:
    """One node to run or price: its op and layout, its operands (arrays, or types when
    pricing) by group, which carry the batch axis, and the batch size (None: unbatched)."""

    registry: Any
    op: str
    lay: Layout
    groups: dict[str, list[Any]]
    flags: dict[str, list[bool]]
    batch: int | None

    @classmethod
    def of(cls, registry, op: str, attrs: dict, items: Sequence[Any], batched: Sequence[bool] = ()) -> Node:
        lay = layout(op, attrs, len(items))
        flags = list(batched) or [False] * len(items)
        batch = next((a.shape[0] if isinstance(a, np.ndarray) else 1 for a, f in zip(items, flags) if f), None)
        return cls(registry, op, lay, lay.split(list(items)), lay.split(flags), batch)

    def body(self, attr: str) -> Body:
        return next(b for b in self.lay.bodies if b.attr == attr)

    def plan(self, body: Body, flags: dict[str, list[bool]] | None = None) -> Plan:
        return body_plan(self.registry, body.graph(self.lay.attrs),
                         self.lay.body_inputs(body, flags or self.flags, False))

    def profile(self, body: Body, flags: dict[str, list[bool]] | None = None) -> Profile:
        return body_profile(self.registry, body.graph(self.lay.attrs),
                            self.lay.body_inputs(body, flags or self.flags, False))

    def carry_flags(self, bodies: Sequence[Body]) -> dict[str, list[bool]]:
        """Batch flags with every carry batched that some step would batch (a fixed point
        over `bodies`); a batched stopping condition batches every carry it stops."""
        flags = {k: list(v) for k, v in self.flags.items()}
        changed = self.batch is not None
        while changed:
            changed = False
            for body in bodies:
                plan = self.plan(body, flags)
                outs = [plan.is_batched[vid] for _, vid in body.graph(self.lay.attrs).outputs]
                for (group, k), batched in zip(self.lay.positions(body.outputs), outs):
                    if not batched:
                        continue
                    targets = ([(g, j) for g in body.inputs if self.lay.role(g) == CARRY
                                for j in range(len(flags[g]))] if group == FLAG else
                               [(group, k)] if self.lay.role(group) == CARRY else [])
                    for g, j in targets:
                        if not flags[g][j]:
                            flags[g][j] = changed = True
        return flags

    def lifted(self, name: str, flags: dict[str, list[bool]]) -> list[np.ndarray]:
        """The operands of group `name`, given the batch axis wherever `flags` asks for it."""
        return [np.broadcast_to(a, (self.batch,) + a.shape) if f and not was else a
                for a, f, was in zip(self.groups[name], flags[name], self.flags[name])]

    def slices(self, name: str, k: int) -> list[np.ndarray]:
        """Step `k`'s slice of each operand of xs group `name`."""
        return [x[:, k] if f else x[k] for x, f in zip(self.groups.get(name, ()), self.flags.get(name, ()))]

    def output(self, types: Sequence[TensorType]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The packed result buffer (zeros) and a writable view of it per result."""
        results = self.lay.result_types(types)
        packed = packed_type(results)
        out = np.zeros(((self.batch,) if self.batch is not None else ()) + packed.shape, packed.dtype)
        return out, views(out, results, self.batch is not None)

    def held(self, body: Body, flags: dict[str, list[bool]]) -> tuple[int, int]:
        """Bytes (fixed, per direction) of a body's inputs that the node's operands already
        hold: its loop-invariant operands, and its per-step slices (views). Types only."""
        held = [0, 0]
        for group, k in self.lay.positions(body.inputs):
            if group != INDEX and self.lay.role(group) != CARRY:
                held[flags[group][k]] += _slot(self.lay, group, self.groups[group][k]).nbytes
        return held[0], held[1]


def _slot(lay: Layout, group: str, t: TensorType) -> TensorType:
    return TensorType(t.dtype, t.shape[1:]) if lay.role(group) == XS else t


def types_of(arrays: Sequence[np.ndarray], batched: Sequence[bool]) -> list[TensorType]:
    """The operands' types (less the batch axis)."""
    return [TensorType.of(a[0] if b else a) for a, b in zip(arrays, list(batched) or [False] * len(arrays))]


# -- running ---------------------------------------------------------------------------------
def run(registry, op: str, arrays: Sequence[np.ndarray], attrs: dict, batched: Sequence[bool] = ()) -> np.ndarray:
    """Run one node of control-flow op `op` on `arrays` (those flagged in `batched` with a
    leading batch axis)."""
    from wengert.loops.checkpointing import run_adjoint

    node = Node.of(registry, op, attrs, arrays, batched)
    types = types_of(arrays, batched)
    if op == "adjoint_scan":
        return run_adjoint(node, types)
    return {"scan": _loop, "fori_loop": _loop, "while_loop": _while}.get(op, _branch)(node, types)


def _loop(node: Node, types) -> np.ndarray:
    lay, attrs = node.lay, node.lay.attrs
    body = node.body("body")
    flags = node.carry_flags([body])
    plan = node.plan(body, flags)
    out, parts = node.output(types)
    carries, consts = node.lifted("C", flags), node.groups["K"]
    count, lower, reverse = len(carries), attrs.get("lower", 0), attrs.get("reverse", False)
    for s in range(lay.length):
        k = lay.length - 1 - s if reverse else s
        step = {"C": carries, "X": node.slices("X", k), "K": consts}
        outs = plan.run_arrays(lay.body_inputs(body, step, np.int64(lower + s)), node.batch)
        carries = outs[:count]
        for part, y in zip(parts[count:], outs[count:]):
            part[(slice(None), k) if node.batch is not None else k] = y
    for part, c in zip(parts, carries):
        part[...] = c
    return out


def _while(node: Node, types) -> np.ndarray:
    cond, body = node.body("cond"), node.body("body")
    flags = node.carry_flags([cond, body])
    test = node.plan(cond, flags)
    if node.batch is not None and test.is_batched[cond.graph(node.lay.attrs).outputs[0][1]]:
        return _each(node)  # the directions stop at different steps: one at a time
    step = node.plan(body, flags)
    out, parts = node.output(types)
    carries, consts = node.lifted("C", flags), node.groups["K"]
    for _ in range(node.lay.length):
        if not test.run_arrays(carries + consts, node.batch)[0]:
            break
        carries = step.run_arrays(carries + consts, node.batch)
    for part, c in zip(parts, carries):
        part[...] = c
    return out


def _branch(node: Node, types) -> np.ndarray:
    """switch, cond and checkpoint: one body, the chosen one, run once."""
    if "I" in node.groups and node.flags["I"][0]:
        return _each(node)  # a branch per direction: one at a time
    bodies = node.lay.bodies
    index = int(node.groups["I"][0]) if "I" in node.groups else 0
    body = bodies[min(max(index, 0), len(bodies) - 1)]  # an index out of range is clamped, as lax.switch does
    out, parts = node.output(types)
    for part, value in zip(parts, node.plan(body).run_arrays(node.groups["O"], node.batch)):
        part[...] = value
    return out


def _each(node: Node) -> np.ndarray:
    """A batched node run one direction at a time, the results stacked."""
    operands = [a for g in node.lay.operands for a in node.groups[g.name]]
    flags = [f for g in node.lay.operands for f in node.flags[g.name]]
    return np.stack([run(node.registry, node.op, [a[b] if f else a for a, f in zip(operands, flags)],
                         node.lay.attrs) for b in range(node.batch)])


# -- pricing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Steps:
    """What one body costs per run: work and peak bytes, each (fixed, per direction)."""

    work: tuple[int, int]
    peak: tuple[int, int]

    @classmethod
    def of(cls, node: Node, body: Body, flags: dict[str, list[bool]]) -> Steps:
        """`body`'s cost per run, less the bytes of the operands the node already holds."""
        prof = node.profile(body, flags)
        held = node.held(body, flags)
        return cls((int(prof.work_fixed[-1]), int(prof.work_per_direction[-1])),
                   (max(int(prof.fixed.max(initial=0)) - held[0], 0),
                    max(int(prof.per_direction.max(initial=0)) - held[1], 0)))

    def __add__(self, other: Steps) -> Steps:  # two bodies run one after the other
        return Steps((self.work[0] + other.work[0], self.work[1] + other.work[1]),
                     (max(self.peak[0], other.peak[0]), max(self.peak[1], other.peak[1])))


def price(registry, op: str, types: Sequence[TensorType], attrs: dict, batched: Sequence[bool]) -> Cost:
    """What running one node costs (see `Cost`): its steps times its bodies' work, and their
    peak (less the operands the node already holds) as scratch."""
    from wengert.loops.checkpointing import price_adjoint

    node = Node.of(registry, op, attrs, types, batched)
    if op == "adjoint_scan":
        return price_adjoint(node)
    if op in ("scan", "fori_loop", "while_loop"):
        bodies = node.lay.bodies
        flags = node.carry_flags(bodies)
        each = sum((Steps.of(node, b, flags) for b in bodies[1:]), Steps.of(node, bodies[0], flags))
        steps = node.lay.length
        return Cost(work=steps * each.work[1], scratch=each.peak[1],
                    fixed_work=steps * each.work[0], fixed_scratch=each.peak[0])
    each = [Steps.of(node, b, node.flags) for b in node.lay.bodies]  # a branch: the dearest one
    return Cost(work=max(s.work[1] for s in each), scratch=max(s.peak[1] for s in each),
                fixed_work=max(s.work[0] for s in each), fixed_scratch=max(s.peak[0] for s in each))
