"""How a control-flow node lays out its operands, its bodies' inputs and outputs, and its results.

A node has one output, so a loop or branch packs its results (final carries, stacked per-step
outputs, a branch's outputs): each flattened, concatenated in order, in their common dtype (the
convention of ops with several results, docs/plugins.md). `unpack` gives them back as views.

Every control-flow op is described by one `Spec`: its operands in groups with a role (a `carry`
threaded through the steps, `xs` sliced one step at a time, a loop-invariant `const`, a
`pred` choosing a branch), which groups each body takes and returns, and which groups its
result packs. The derivative transformations, the shape rules and the sparsity patterns all
read this one description, so a new construct is one more `Spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from wengert.ir.graph import Graph, TensorType

INDEX = "i"  # the step index a body may take first (fori_loop): int64, never differentiated
FLAG = "?"  # the one bool output of a loop's stopping condition
CARRY, XS, CONST, PRED, OUT = "carry", "xs", "const", "pred", "out"


@dataclass(frozen=True)
class Group:
    """Consecutive operands (or results) playing one role, e.g. the carries "C"."""

    name: str
    role: str
    size: int


@dataclass(frozen=True)
class Body:
    """One graph a node holds: attribute `attr` (item `item` of a list of branches), taking the
    named groups in order and returning the named groups in order."""

    attr: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    item: int | None = None

    def graph(self, attrs: dict[str, Any]) -> Graph:
        value = attrs[self.attr]
        return value if self.item is None else value[self.item]


@dataclass(frozen=True)
class Spec:
    """A control-flow op's layout, as functions of its attributes and operand count:
    `operands(attrs, count)` gives its groups, `bodies(attrs)` its graphs' interfaces,
    `results` the groups its output packs (`stacked` the per-step ones), `length(attrs)` its
    steps, and `sized(attrs, sizes)` the attributes of the same op with other group sizes."""

    operands: Callable[[dict, int], list[tuple[str, str, int]]]
    bodies: Callable[[dict], list[Body]]
    results: tuple[str, ...]
    sized: Callable[[dict, dict[str, int]], dict]
    stacked: tuple[str, ...] = ()
    length: Callable[[dict], int] = lambda attrs: 0


def form(spec: Spec, attrs: dict[str, Any], count: int) -> Layout:
    """The layout of one node of `spec` with `attrs` and `count` operands."""
    groups = tuple(Group(n, role, size) for n, role, size in spec.operands(attrs, count))
    return Layout(groups, tuple(spec.bodies(attrs)), spec.results, spec.stacked, spec.length(attrs), attrs)


@dataclass(frozen=True, eq=False)
class Layout:
    """One node's layout: operand groups in order, its bodies (with their graphs, from
    `attrs`), the groups its result packs, and which of those are stacked over `length` steps."""

    operands: tuple[Group, ...]
    bodies: tuple[Body, ...]
    results: tuple[str, ...]
    stacked: tuple[str, ...]
    length: int
    attrs: dict[str, Any]

    def role(self, name: str) -> str:
        return next((g.role for g in self.operands if g.name == name), OUT)

    def size(self, name: str) -> int:
        """Members of group `name`: an operand group's count, or an output group's, read from
        the first body returning it (its outputs less the other groups')."""
        for g in self.operands:
            if g.name == name:
                return g.size
        body = next(b for b in self.bodies if name in b.outputs)
        others = sum(self.size(n) for n in body.outputs if n != name and n != FLAG) + (FLAG in body.outputs)
        return len(body.graph(self.attrs).outputs) - others

    def split(self, items: Sequence[Any]) -> dict[str, list[Any]]:
        """Node operands (values, types or arrays) by group name."""
        out, start = {}, 0
        for g in self.operands:
            out[g.name] = list(items[start:start + g.size])
            start += g.size
        return out

    def body_inputs(self, body: Body, by_group: dict[str, list[Any]], index: Any = None) -> list[Any]:
        """A body's inputs in order, taken from per-group lists (`index` for the step index)."""
        return [x for name in body.inputs for x in ([index] if name == INDEX else by_group[name])]

    def positions(self, names: Sequence[str]) -> list[tuple[str, int]]:
        """(group, member) of each input or output of a body taking or returning `names`."""
        return [(name, k) for name in names for k in range(1 if name in (INDEX, FLAG) else self.size(name))]

    def result_types(self, operand_types: Sequence[TensorType]) -> list[TensorType]:
        """The types the output packs, in order: a carry's final value is typed like its
        operand, a per-step output as its body returns it, stacked over the steps when it is."""
        by_group = self.split(operand_types)
        out = []
        for name in self.results:
            if name in by_group:
                out += by_group[name]
                continue
            body = next(b for b in self.bodies if name in b.outputs)
            graph = body.graph(self.attrs)
            start = self.positions(body.outputs).index((name, 0)) if self.size(name) else 0
            for _, vid in graph.outputs[start:start + self.size(name)]:
                t = graph.type_of(vid)
                out.append(TensorType(t.dtype, (self.length,) + t.shape) if name in self.stacked else t)
        return out


# -- packing ------------------------------------------------------------------------------------
def packed_type(types: Sequence[TensorType]) -> TensorType:
    """The one flat tensor holding `types`: their sizes summed, in their common dtype."""
    dtype = np.result_type(*[np.dtype(t.dtype) for t in types]).name if types else "float64"
    return TensorType(dtype, (sum(t.size for t in types),))


def offsets(types: Sequence[TensorType]) -> list[int]:
    """Where each of `types` starts in the packed tensor, and (last) where the last ends."""
    out = [0]
    for t in types:
        out.append(out[-1] + t.size)
    return out


def unpack(packed, types: Sequence[TensorType]) -> list:
    """The values a packed symbolic value holds, each reshaped (a view) and cast back to its
    own dtype; a NumPy array unpacks the same way."""
    import wengert.numpy_api as wg

    starts = offsets(types)
    out = []
    for t, start, stop in zip(types, starts, starts[1:]):
        part = packed[..., start:stop] if (start, stop) != (0, packed.shape[-1]) else packed
        if isinstance(part, np.ndarray):
            out.append(part.reshape(part.shape[:-1] + t.shape).astype(t.dtype, copy=False))
            continue
        part = part if part.shape == t.shape else wg.reshape(part, t.shape)
        out.append(part if part.dtype == t.dtype else wg.cast(part, t.dtype))
    return out


def pack(values: Sequence, dtype: str):
    """Symbolic values packed into one flat value of `dtype` (see module doc)."""
    import wengert.numpy_api as wg

    flat = [wg.reshape(v if v.dtype == dtype else wg.cast(v, dtype), (max(v.size, 0),)) for v in values]
    return flat[0] if len(flat) == 1 else wg.concatenate(flat)


def views(out: np.ndarray, types: Sequence[TensorType], batched: bool) -> list[np.ndarray]:
    """Writable views into a packed output buffer, one per result, each shaped like its result
    (after the batch axis when `batched`)."""
    starts = offsets(types)
    lead = out.shape[:1] if batched else ()
    parts = []
    for t, a, b in zip(types, starts, starts[1:]):
        part = out[..., a:b]
        part.shape = lead + t.shape  # in place: raises rather than copy, so writes reach `out`
        parts.append(part)
    return parts
