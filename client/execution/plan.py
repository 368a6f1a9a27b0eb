"""Running graphs: a graph is compiled once into a `Plan` (a flat list of steps over
slots, each value freed after its last use) and run on NumPy arrays.

A plan can run over a batch: inputs named in `batched` carry one leading batch axis, and every
value computed from them carries it too. That is how many JVP/VJP directions, and a whole
Jacobian basis, go through the graph in one vectorized sweep. Elementwise ops broadcast over
the batch axis by themselves; other ops use their `batched_forward`, or a loop as last resort.

The steps run in an interpreter (`Plan._execute`) at first; a plan run often enough is compiled
into straight-line Python (`wengert.execution.compiled`), bit for bit the same. The interpreter
stays for keeping every value (traces) and for debugging (`run(..., interpret=True)`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from wengert.errors import InvalidRequest, InvalidTensor, quoted, short
from wengert.execution.compiled import CompiledPlan
from wengert.execution.steps import Step, conform, op_error
from wengert.ir.graph import Graph, Node, TensorType, dtype_name

Check = Callable[[Node], None]  # called with each node before it runs: raise to stop the run
# What compiling a plan costs per step, about (CPython's compiler on the generated lines). A plan
# is compiled once the interpreter has spent as long on it: never more than twice the best
# choice made knowing the future, and a plan run once (a one-off graph) never waits for it.
COMPILE_SECONDS_PER_STEP = 25e-6


class Plan:
    """`graph` compiled for evaluation; `batched` names the inputs carrying a batch axis."""

    def __init__(self, graph: Graph, registry, batched: frozenset[str] = frozenset(), *,
                 keep_all: bool = False):
        self.graph = graph
        self.batched_inputs = frozenset(batched)
        nodes = graph.nodes
        slot = {name: i for i, (name, _) in enumerate(graph.inputs)}
        for node in nodes:
            slot[node.id] = len(slot)
        self.slots = slot
        # Whether each value carries the batch axis (none does in an unbatched plan).
        is_batched = {name: name in batched for name in graph.input_names} if batched else dict.fromkeys(slot, False)
        # What each step frees: the values it uses last, found walking the nodes backwards.
        kept = set(graph.types) if keep_all else {vid for _, vid in graph.outputs}
        frees: list[tuple[int, ...]] = [()] * len(nodes)
        for k in range(len(nodes) - 1, -1, -1):
            inputs = nodes[k].inputs
            last = [x for x in inputs if x not in kept]
            if last:
                kept.update(last)  # an earlier use is not the last one
                frees[k] = tuple(slot[x] for x in dict.fromkeys(last))
        # Nodes without inputs (constants) are computed here, once, not on every run.
        self._template: list[Any] = [None] * len(slot)
        steps = []
        ops: dict[str, Any] = {}  # op name -> OpDef, looked up once per op
        dtypes: dict[str, np.dtype] = {}
        for k, node in enumerate(nodes):
            op = ops.get(node.op)
            if op is None:
                op = ops[node.op] = registry.get(node.op)
            if not node.inputs:
                self._template[slot[node.id]] = np.asarray(op.forward(**node.attr_dict), node.type.dtype)
                is_batched[node.id] = False
                continue
            flags = tuple([is_batched[x] for x in node.inputs])
            batched_step = True in flags
            if op.bind is not None:
                op = op.bound(registry, flags)
            if batched:
                is_batched[node.id] = batched_step
            dtype = dtypes.get(node.type.dtype)
            if dtype is None:
                dtype = dtypes[node.type.dtype] = np.dtype(node.type.dtype)
            steps.append(Step(_batched_call(op, node, flags) if batched_step else op.forward,
                              tuple([slot[x] for x in node.inputs]), slot[node.id],
                              dict(node.attrs), node, batched_step, frees[k], dtype))
        self.steps = steps
        self.is_batched = is_batched
        self._interpreting = 0.0  # seconds the interpreter has spent running this plan
        self._compiled: list[CompiledPlan | None] = [None, None]  # unchecked, checked

    def run(self, feeds: Mapping[str, np.ndarray], check: Check | None = None,
            keep_all: bool = False, interpret: bool = False) -> dict[str, np.ndarray]:
        """Output name -> array (with `keep_all`, value id -> array for every value, which
        only the interpreter keeps; `interpret` asks for it anyway, to debug)."""
        if keep_all or interpret:
            values = self._template.copy()
            batch = self._feed(feeds, values)
            self._execute(values, check, batch)
            if keep_all:
                return {vid: values[i] for vid, i in self.slots.items()}
            return {name: values[self.slots[vid]] for name, vid in self.graph.outputs}
        graph = self.graph
        batch = check_feeds(graph, feeds, self.batched_inputs)
        outs = self._runner(check)([feeds[name] for name in graph.input_names], batch, check)
        return dict(zip(graph.output_names, outs))

    def run_arrays(self, arrays: Sequence[np.ndarray], batch: int | None = None,
                   check: Check | None = None) -> list[np.ndarray]:
        """The outputs, in order, for the inputs in order, unchecked: for a loop running its body
        step after step, whose operands' types its node checked once, and for a request of a
        shape the engine checked before (its lean path)."""
        return list(self._runner(check)(arrays, batch, check))

    def compiled(self, checked: bool = False) -> CompiledPlan:
        """The plan as straight-line Python (`checked`: calling a `Check` before every step),
        compiled on first use and kept with the plan."""
        key = int(checked)
        if self._compiled[key] is None:
            self._compiled[key] = CompiledPlan(
                self.steps, [self.slots[n] for n in self.graph.input_names],
                [self.slots[vid] for _, vid in self.graph.outputs], self._template,
                [self.graph.types[vid] for vid in self.slots],  # slots number the values in order
                [self.is_batched[vid] for vid in self.slots], checked)
        return self._compiled[key]

    def _runner(self, check: Check | None) -> Callable:
        """The compiled plan once it pays (see COMPILE_SECONDS_PER_STEP), else the interpreter."""
        checked = check is not None
        if self._compiled[checked] is None and self._interpreting < COMPILE_SECONDS_PER_STEP * len(self.steps):
            return self._interpreted
        return self.compiled(checked)

    def _interpreted(self, arrays: Sequence[np.ndarray], batch: int | None, check: Check | None) -> list:
        start = time.perf_counter()
        values = self._template.copy()
        for name, array in zip(self.graph.input_names, arrays):
            values[self.slots[name]] = array
        self._execute(values, check, batch)
        self._interpreting += time.perf_counter() - start
        return [values[self.slots[vid]] for _, vid in self.graph.outputs]

    def _execute(self, values: list[Any], check: Check | None, batch: int | None) -> None:
        for step in self.steps:
            if check is not None:
                check(step.node)
            try:
                out = step.call(*[values[i] for i in step.args], **step.attrs)
            except Exception as exc:
                raise op_error(step.node, exc) from exc
            values[step.out] = conform(out, step, batch)
            for i in step.free:
                values[i] = None

    def _feed(self, feeds: Mapping[str, np.ndarray], values: list[Any]) -> int | None:
        """Check and place the inputs; returns the batch size (None when unbatched)."""
        batch = check_feeds(self.graph, feeds, self.batched_inputs)
        for name in self.graph.input_names:
            values[self.slots[name]] = feeds[name]
        return batch


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray], batched: frozenset[str] = frozenset()
                ) -> int | None:
    """Check `feeds` against `graph`'s inputs (names, dtypes, shapes; those in `batched` carry
    a leading batch axis of one common size, which is returned: None when nothing is batched)."""
    types = graph.input_types
    if len(feeds) != len(types) or not all(name in feeds for name in types):
        unknown = sorted(set(feeds) - set(types))
        if unknown:
            raise InvalidRequest(f"unknown input(s) {', '.join(map(quoted, unknown))}; the graph takes "
                                 f"{', '.join(map(quoted, graph.input_names))}")
        for name, t in graph.inputs:
            if name not in feeds:
                raise InvalidRequest(f"missing input {quoted(name)} ({t})", input=name, field="inputs")
    return check_tensors(types, feeds, batched, "input", "inputs")


def check_tensors(types: Mapping[str, TensorType], arrays: Mapping[str, np.ndarray], batched, what: str,
                  field: str) -> int | None:
    """Check each of `arrays` against the type of the value it is for (`what` it is, e.g. "input"
    or "tangent for input", and the request `field` holding it, e.g. "tangents": errors name
    both); those in `batched` carry a leading batch axis of one common size, which is returned
    (None when nothing is batched)."""
    batch = None
    for name, array in arrays.items():
        t = types[name]
        skip = int(name in batched)
        if skip or not t.accepts(array):
            _check_tensor(t, name, array, skip, batch, what, field)
            batch = array.shape[0] if skip else batch
    return batch


def _check_tensor(t: TensorType, name: str, array: np.ndarray, skip: int, batch: int | None, what: str,
                  field: str) -> None:
    """`check_tensors` for one array (the slow path: batched, or an error to report)."""
    at = {"input": name, "field": f'{field}["{short(name)}"]'}
    if skip:
        if array.ndim == 0:
            raise InvalidTensor(f"{what} {quoted(name)} is batched but has no batch axis", **at)
        if batch is not None and array.shape[0] != batch:
            raise InvalidTensor(f"{what} {quoted(name)} has batch size {array.shape[0]}, others {batch}", **at)
    if not t.accepts(array, skip):
        got = TensorType(dtype_name(array.dtype), array.shape[skip:])
        raise InvalidTensor(f"{what} {quoted(name)} must be {t}, got {got}", **at)


def _batched_call(op, node: Node, flags: tuple[bool, ...]) -> Callable[..., np.ndarray]:
    """How to run `op` when the inputs marked in `flags` carry a leading batch axis."""
    out_rank = node.type.ndim
    if op.elementwise:
        def elementwise(*arrays, **attrs):
            # Right-align each batched input's own axes with the output's, batch axis first.
            fixed = [a.reshape(a.shape[:1] + (1,) * (out_rank - a.ndim + 1) + a.shape[1:])
                     if f and a.ndim - 1 < out_rank else a for a, f in zip(arrays, flags)]
            return op.forward(*fixed, **attrs)
        return elementwise
    if op.batched_forward is not None:
        def batched(*arrays, **attrs):
            return op.batched_forward(*[a if f else a[None] for a, f in zip(arrays, flags)], **attrs)
        return batched

    def looped(*arrays, **attrs):
        size = next(a.shape[0] for a, f in zip(arrays, flags) if f)
        return np.stack([op.forward(*[a[b] if f else a for a, f in zip(arrays, flags)], **attrs)
                         for b in range(size)])
    return looped
