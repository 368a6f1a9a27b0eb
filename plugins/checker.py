"""The derivative checker: proves an op's rules numerically before anyone relies on them.

For each example input (and each float dtype) it checks that the forward agrees with the shape
rule and runs the same over a batch as one at a time, the JVP with central finite differences, the VJP with the JVP through the dot-product
identity <u, J v> = <J^T u, v>, batched directions with stacked single ones, and, where the
rules are themselves differentiable, the same again on the op's VJP graph (second order).
`wengert check-plugin`, `--verify-plugins` (through `verify_registry`) and the test suite all
call `check_op`. A rule that raises, or returns a value of the wrong shape, is a failure of its
op like any numeric disagreement, never an exception out of the checker. A sampling op is also
checked as a distribution (`distribution_checker`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from wengert.ir.builder import GraphBuilder
from wengert.execution.engine import Engine
from wengert.errors import NoDerivative
from wengert.ir.graph import Graph, TensorType
from wengert.plugins.distribution_checker import check_distribution
from wengert.plugins.opdef import Example, OpDef
from wengert.plugins.registry import Registry, default_registry

# (shape of every input) for elementwise ops, plus broadcasting pairs for binary ones.
ELEMENTWISE_SHAPES = [(), (4,), (3, 4)]
BROADCAST_SHAPES = [((1, 4), (3, 4)), ((3, 4), (4,)), ((), (3, 4))]
FD_STEP = 1e-6
TOLERANCE = {"float64": (1e-5, 1e-6), "float32": (2e-3, 2e-4)}  # (rtol, atol)


@dataclass(frozen=True)
class Failure:
    """One failed check: which, on what inputs, and by how much."""

    check: str
    dtype: str
    shapes: tuple[tuple[int, ...], ...]
    worst: float
    detail: str = ""

    def __str__(self) -> str:
        shapes = ", ".join(str(s) for s in self.shapes)
        head = f"{self.check} [{self.dtype}, inputs {shapes}]: "
        if self.worst == float("inf") and self.detail:  # a broken rule or shape, not a number
            return head + self.detail
        return head + f"worst error {self.worst:.3g}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class OpReport:
    op: str
    plugin: str
    examples: int = 0
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def text(self) -> str:
        status = "FAIL" if not self.passed else "ok  " if self.examples else "skip"  # skip: nothing checked
        head = f"{status} {self.op} ({self.plugin or 'unregistered'}): "
        head += f"{self.examples} example(s)"
        lines = [head] + [f"     {f}" for f in self.failures] + [f"     note: {n}" for n in self.notes]
        return "\n".join(lines)


def check_op(op: OpDef | str, registry: Registry | None = None, *, dtypes: Iterable[str] = ("float64", "float32"),
             second_order: bool = True, seed: int = 0) -> OpReport:
    """Check one op (by name in `registry`, or an `OpDef`, which is added to the registry)."""
    registry = registry or default_registry()
    if isinstance(op, OpDef):
        if op.name not in registry or registry.get(op.name) is not op:
            registry = registry.with_ops([op])
    else:
        op = registry.get(op)
    engine = Engine(registry)
    rng = np.random.default_rng(seed)
    report = OpReport(op.name, op.plugin)
    examples = op_examples(op, rng)
    if not examples:
        report.notes.append("no examples to check")
    for example in examples:
        report.examples += 1
        reference: dict[str, np.ndarray] = {}
        for dtype in dtypes:
            if not example.dtypes or dtype in example.dtypes:
                _check_example(engine, op, example, dtype, second_order, reference, report, rng)
    if op.sampler is not None:
        report.failures += [Failure(check, "float64", (), worst, detail)
                            for check, worst, detail in check_distribution(op, registry, seed)]
    return report


def check_plugin(name: str, registry: Registry | None = None, **options) -> list[OpReport]:
    """Check every op that plugin `name` provides."""
    registry = registry or default_registry()
    return [check_op(op, registry, **options) for op in registry if op.plugin == name]


def verify_registry(registry: Registry, **options) -> tuple[Registry, list[OpReport]]:
    """`registry` without the ops that fail their check, and every op's report.

    For `wengert serve --verify-plugins`. Dropping an op can break another whose rules use it
    (gelu's use erf), so the survivors are checked again until none fails."""
    reports: dict[str, OpReport] = {}
    while True:
        fresh = [check_op(op, registry, **options) for op in registry]
        reports.update((r.op, r) for r in fresh)
        failing = [r.op for r in fresh if not r.passed]
        if not failing:
            return registry, list(reports.values())
        registry = registry.restricted(failing)


def op_examples(op: OpDef, rng: np.random.Generator) -> list[Example]:
    """The inputs an op is checked on: its own `examples`, else its domain on the shape table."""
    return list(op.examples(rng)) if op.examples is not None else _generated(op, rng)


def _generated(op: OpDef, rng: np.random.Generator) -> list[Example]:
    """Examples for an elementwise op: its domain sampled on the shape table."""
    if not op.elementwise or op.arity is None:
        return []
    low, high = op.domain
    table = [(s,) * op.arity for s in ELEMENTWISE_SHAPES]
    if op.arity == 2:
        table += BROADCAST_SHAPES
    return [Example(tuple(rng.uniform(low, high, size=s) for s in shapes)) for shapes in table]


def _check_example(engine: Engine, op: OpDef, example: Example, dtype: str, second_order: bool,
                   reference: dict, report: OpReport, rng: np.random.Generator) -> None:
    arrays = tuple(a.astype(dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
                   for a in example.inputs)
    shapes = tuple(a.shape for a in arrays)

    def fail(check: str, worst: float, detail: str = "") -> None:
        report.failures.append(Failure(check, dtype, shapes, worst, detail))

    builder = GraphBuilder(engine.registry)
    names = [f"x{i}" for i in range(len(arrays))]
    try:
        args = [builder.input(n, TensorType.of(a)) for n, a in zip(names, arrays)]
        out = builder.add(op.name, args, example.attrs)
        expected = out.type
        got = np.asarray(op.forward(*arrays, **builder.nodes[-1].attr_dict))
    except Exception as exc:
        fail("forward / shape rule", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    if got.shape != expected.shape or got.dtype.name != expected.dtype:
        fail("forward vs shape rule", float("inf"),
             f"forward gave {TensorType.of(got)}, shape rule says {expected}")
        return
    graph = builder.build({"y": out})
    inputs = dict(zip(names, arrays))
    try:
        worst = _batched_forward_error(engine, graph, inputs, rng)
    except Exception as exc:
        fail("batched forward", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    if worst > 1:
        fail("batched forward vs a loop over the batch", worst)
    try:
        misfits = _misfit_rules(engine.registry, op, args, builder.nodes[-1].attr_dict)
        problems = [] if misfits else check_graph(engine, graph, inputs, rng, reference=reference)
    except NoDerivative as exc:
        report.notes.append(f"derivatives not checked: {exc}")
        return
    except Exception as exc:
        fail("derivative rules", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    for detail in misfits:
        fail("rule result shape", float("inf"), detail)
    for check, worst, detail in problems:
        fail(check, worst, detail)
    if misfits or problems or not second_order or not _differentiable(graph):
        return
    try:
        vgraph = engine.derivative_graph(graph, "vjp")
        seed = reference.setdefault("seed", rng.standard_normal(expected.shape))
        seeds = {"cotangent:y": seed.astype(expected.dtype)}
        problems = check_graph(engine, vgraph, {**inputs, **seeds}, rng, reference=reference, key="2")
    except NoDerivative as exc:
        if not any("second order" in n for n in report.notes):
            report.notes.append(f"second order unavailable: {exc}")
        return
    except Exception as exc:
        fail("second order: derivative rules", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    for check, worst, detail in problems:
        fail("second order: " + check, worst, detail)


def _misfit_rules(registry: Registry, op: OpDef, args: list, attrs: dict) -> list[str]:
    """Rules whose result cannot stand for their value: a JVP term must broadcast to the
    output's shape, a VJP term must sum down to its input's. Caught here, the failure names
    the rule; caught later, it would name a node of the engine's derivative graph."""
    builder = GraphBuilder(registry)
    primals = [builder.input(f"x{i}", x.type) for i, x in enumerate(args)]
    ans = builder.add(op.name, primals, attrs)

    def term(kind: str, i: int, seed: TensorType):
        rule = op.rule(kind, i) if getattr(op, kind) is not None else None
        return rule and rule(builder.input(f"{kind}{i}", seed), ans, *primals, **attrs)

    misfits = []
    for i, x in enumerate(primals):
        if not (x.type.is_float and ans.type.is_float):
            continue
        tangent, cotangent = term("jvp", i, x.type), term("vjp", i, ans.type)
        if tangent is not None and not _broadcasts(tangent.shape, ans.shape):
            misfits.append(f"jvp rule for input {i} returned shape {tangent.shape}, "
                           f"which does not broadcast to the output's shape {ans.shape}")
        if cotangent is not None and not _broadcasts(x.shape, cotangent.shape):
            misfits.append(f"vjp rule for input {i} returned shape {cotangent.shape}, "
                           f"which does not sum down to the input's shape {x.shape}")
    return misfits


def _broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(small, big) == tuple(big)
    except ValueError:
        return False


def _batched_forward_error(engine: Engine, graph: Graph, inputs: dict, rng) -> float:
    """The op run over a batch of slightly different inputs vs one at a time (this is how
    it runs inside a Jacobian sweep, whatever its `batched_forward` or `elementwise` says)."""
    stacked = {n: np.stack([a + (1e-2 * rng.standard_normal(a.shape)).astype(a.dtype)
                            if a.dtype.kind == "f" else a for _ in range(3)])
               for n, a in inputs.items()}
    got = engine.plan(graph, frozenset(stacked)).run(stacked)["y"]
    rtol, atol = TOLERANCE.get(graph.output_type("y").dtype, TOLERANCE["float32"])
    return max(_scaled_error(got[b], engine.evaluate(graph, {n: s[b] for n, s in stacked.items()})["y"],
                             rtol * 1e-3, atol * 1e-3) for b in range(3))


def _differentiable(graph: Graph) -> bool:
    return any(t.is_float for _, t in graph.inputs) and any(
        graph.output_type(n).is_float for n in graph.output_names)


def check_graph(engine: Engine, graph: Graph, inputs: dict[str, np.ndarray], rng: np.random.Generator,
                *, reference: dict | None = None, key: str = "1") -> list[tuple[str, float, str]]:
    """Gradient-check a whole graph at `inputs`: (check, worst error, detail) per failure.

    In float64 the JVP is compared with central differences; in float32 with the float64
    results stored in `reference` by an earlier float64 call (finite differences in float32
    would measure round-off, not the rule)."""
    if not _differentiable(graph):
        return []
    wrt = [n for n, t in graph.inputs if t.is_float]
    outs = [n for n in graph.output_names if graph.output_type(n).is_float]
    dtype = dict(graph.inputs)[wrt[0]].dtype
    rtol, atol = TOLERANCE.get(dtype, TOLERANCE["float32"])
    problems: list[tuple[str, float, str]] = []
    reference = {} if reference is None else reference
    if dtype == "float64" or key + "v" not in reference:
        v = {n: rng.standard_normal(inputs[n].shape) for n in wrt}
        u = {n: rng.standard_normal(graph.output_type(n).shape) for n in outs}
        reference[key + "v"], reference[key + "u"] = v, u
    v = {n: a.astype(dict(graph.inputs)[n].dtype) for n, a in reference[key + "v"].items()}
    u = {n: a.astype(graph.output_type(n).dtype) for n, a in reference[key + "u"].items()}

    _, jv = engine.jvp(graph, inputs, v)
    if dtype == "float64":
        fd = _central_difference(engine, graph, inputs, v, outs)
        reference[key + "jv"] = fd
    else:
        fd = reference.get(key + "jv")
    if fd is not None:
        worst, where = _worst(jv, fd, outs, rtol, atol)
        if worst > 1:
            problems.append(("JVP vs finite differences", worst, where))

    _, ut_j = engine.vjp(graph, inputs, u, wrt)
    lhs = sum(float(np.vdot(u[n].astype(float), jv[n].astype(float))) for n in outs)
    rhs = sum(float(np.vdot(ut_j[n].astype(float), v[n].astype(float))) for n in wrt)
    scale = atol + rtol * max(abs(lhs), abs(rhs), 1.0)
    if abs(lhs - rhs) > scale:
        problems.append(("VJP vs JVP dot product <u, Jv> = <J^T u, v>", abs(lhs - rhs) / scale,
                         f"<u, Jv> = {lhs:.6g}, <J^T u, v> = {rhs:.6g}"))

    batch = 3
    vs = {n: rng.standard_normal((batch,) + a.shape).astype(a.dtype) for n, a in v.items()}
    _, jv_batched = engine.jvp(graph, inputs, vs, batched=True)
    stacked = [engine.jvp(graph, inputs, {n: a[b] for n, a in vs.items()})[1] for b in range(batch)]
    worst = max(_scaled_error(jv_batched[n][b], stacked[b][n], rtol, atol)
                for n in outs for b in range(batch))
    if worst > 1:
        problems.append(("batched JVP vs stacked single JVPs", worst, ""))
    us = {n: rng.standard_normal((batch,) + a.shape).astype(a.dtype) for n, a in u.items()}
    _, vj_batched = engine.vjp(graph, inputs, us, wrt, batched=True)
    stacked = [engine.vjp(graph, inputs, {n: a[b] for n, a in us.items()}, wrt)[1] for b in range(batch)]
    worst = max(_scaled_error(vj_batched[n][b], stacked[b][n], rtol, atol)
                for n in wrt for b in range(batch))
    if worst > 1:
        problems.append(("batched VJP vs stacked single VJPs", worst, ""))
    return problems


def _central_difference(engine, graph, inputs, v, outs) -> dict[str, np.ndarray]:
    plus = {n: (a + FD_STEP * v[n] if n in v else a) for n, a in inputs.items()}
    minus = {n: (a - FD_STEP * v[n] if n in v else a) for n, a in inputs.items()}
    fp, fm = engine.evaluate(graph, plus), engine.evaluate(graph, minus)
    return {n: (fp[n] - fm[n]) / (2 * FD_STEP) for n in outs}


def _scaled_error(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> float:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    bad = ~(np.isfinite(got) == np.isfinite(want))
    if bad.any():
        return float("inf")
    err = np.abs(np.nan_to_num(got - want)) / (atol + rtol * np.abs(np.nan_to_num(want)))
    return float(err.max())


def _worst(got: dict, want: dict, names: list[str], rtol: float, atol: float) -> tuple[float, str]:
    errors = {n: _scaled_error(got[n], want[n], rtol, atol) for n in names}
    name = max(errors, key=errors.get)
    return errors[name], f"output {name!r}, tolerance rtol={rtol:g} atol={atol:g}"
