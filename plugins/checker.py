"""The derivative checker: proves an op's rules numerically before anyone relies on them.

For each example input (and each float dtype) it checks that the forward agrees with the shape
rule and runs the same over a batch as one at a time, the JVP with central finite differences,
the VJP with the JVP through the dot-product identity <u, J v> = <J^T u, v>, batched directions
with stacked single ones, and the same again on the op's VJP graph (second order): every op
the rules use must have rules of its own, or Hessians through the op would fail at request
time. An op without `examples` is checked on inputs generated from its shape rule and `domain`;
an op the checker finds no inputs for fails, since nothing was checked. `wengert check-plugin`,
`wengert serve` (through `verify_registry`) and the test suite all call `check_op`. A rule that
raises, or returns a value of the wrong shape, is a failure of its op like any numeric
disagreement, never an exception out of the checker. A sampling op is also checked as a
distribution (`distribution_checker`).
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

# Inputs generated for an op without `examples`: every input of one shape, from
# ELEMENTWISE_SHAPES for elementwise ops and SHAPES for others, plus pairs for two inputs; an op
# is checked on the ones its shape rule accepts (other ops on at most MAX_GENERATED of them).
ELEMENTWISE_SHAPES = [(), (4,), (3, 4)]
BROADCAST_SHAPES = [((1, 4), (3, 4)), ((3, 4), (4,)), ((), (3, 4))]
SHAPES = [(), (4,), (3, 4), (3, 3), (2, 3, 4)]
PAIRS = [((3, 4), (4, 2)), ((3, 3), (3,)), ((4,), (4, 3)), *BROADCAST_SHAPES]
MAX_GENERATED = 4
# Integer and bool versions of an example's float inputs, on which only the forward's dtype is
# checked (a rule promising float64 for them while the forward computes in float16 for bools,
# or keeps integers, gives wrong values).
OTHER_DTYPES = ("int64", "int32", "bool")
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
        head = f"{self.check} [{self.dtype}, inputs {shapes}]: " if self.dtype else f"{self.check}: "
        if self.worst == float("inf") and self.detail:  # a broken rule or shape, not a number
            return head + self.detail
        return head + f"worst error {self.worst:.3g}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class OpReport:
    """An op's check: its failures (none: passed), notes on what was not checked and why, and the
    ops the check looked up (the op, and those its rules use), on which the verdict depends."""

    op: str
    plugin: str
    examples: int = 0
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    uses: frozenset[str] = frozenset()

    @property
    def passed(self) -> bool:
        return not self.failures

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def text(self) -> str:
        status = "ok  " if self.passed else "FAIL"
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
    recording = _Recording(registry)
    engine = Engine(recording)
    rng = np.random.default_rng(seed)
    report = OpReport(op.name, op.plugin)
    examples = op_examples(op, rng)
    if not examples:
        report.failures.append(Failure("examples", "", (), float("inf"), _why_no_examples(op)))
    for example in examples:
        report.examples += 1
        reference: dict[str, np.ndarray] = {}
        for dtype in dtypes:
            if not example.dtypes or dtype in example.dtypes:
                _check_example(engine, op, example, dtype, second_order, reference, report, rng)
        _check_other_dtypes(engine.registry, op, example, report)
    if op.sampler is not None:
        report.failures += [Failure(check, "float64", (), worst, detail)
                            for check, worst, detail in check_distribution(op, recording, seed)]
    if op.examples is None and any(f.check == "forward / shape rule" for f in report.failures):
        report.note("inputs were generated from the shape rule and `domain` (the op has no "
                    "`examples`); if they are outside the op's domain, give it `examples`")
    report.uses = frozenset(recording.used)
    return report


def check_plugin(name: str, registry: Registry | None = None, **options) -> list[OpReport]:
    """Check every op that plugin `name` provides."""
    registry = registry or default_registry()
    return [check_op(op, registry, **options) for op in registry if op.plugin == name]


def verify_registry(registry: Registry, names: Iterable[str] | None = None,
                    **options) -> tuple[Registry, list[OpReport]]:
    """`registry` without the ops that fail their check, and the reports of the ops checked:
    `names`, or all (the others are taken as verified).

    For `wengert serve` (see `wengert.plugins.verification`). Dropping an op can break another
    whose rules use it (gelu's use erf), so the survivors whose checks used a dropped op are
    checked again until none fails."""
    pending = set(registry.names() if names is None else names)
    reports: dict[str, OpReport] = {}
    while pending:
        fresh = {op.name: check_op(op, registry, **options) for op in registry if op.name in pending}
        reports.update(fresh)
        failing = {name for name, report in fresh.items() if not report.passed}
        registry = registry.restricted(failing)
        pending = {name for name, report in reports.items() if name in registry and report.uses & failing}
    return registry, list(reports.values())


def op_examples(op: OpDef, rng: np.random.Generator) -> list[Example]:
    """The inputs an op is checked on: its own `examples`, else inputs drawn from its `domain`
    on the shapes its shape rule accepts."""
    return list(op.examples(rng)) if op.examples is not None else _generated(op, rng)


def _generated(op: OpDef, rng: np.random.Generator) -> list[Example]:
    if any(attr.required for attr in op.attrs):
        return []
    accepted = [shapes for shapes in _shape_table(op) if _accepts(op, shapes)]
    low, high = op.domain
    return [Example(tuple(rng.uniform(low, high, size=s) for s in shapes))
            for shapes in (accepted if op.elementwise else accepted[:MAX_GENERATED])]


def _shape_table(op: OpDef) -> list[tuple[tuple[int, ...], ...]]:
    """Input shapes to try, one tuple per example (a variadic op is tried with 1 to 3 inputs)."""
    counts = [op.arity] if op.arity is not None else [1, 2, 3]
    table = [(s,) * n for n in counts for s in (ELEMENTWISE_SHAPES if op.elementwise else SHAPES)]
    if 2 in counts:
        table += BROADCAST_SHAPES if op.elementwise else PAIRS
    return list(dict.fromkeys(table))


def _accepts(op: OpDef, shapes: tuple[tuple[int, ...], ...]) -> bool:
    try:
        op.check_arity(len(shapes))
        op.infer(*(TensorType("float64", s) for s in shapes), **dict(op.normalize_attrs({})))
    except Exception:  # the rule's refusal, however it says it
        return False
    return True


def _why_no_examples(op: OpDef) -> str:
    if op.examples is not None:
        return "its `examples` returned none, so nothing was checked: give it at least one"
    required = [attr.name for attr in op.attrs if attr.required]
    if required:
        return (f"it has no `examples`, and the checker cannot generate inputs for an op with required "
                f"attribute(s) {', '.join(map(repr, required))}: give it `examples`")
    tried = "; ".join(", ".join(str(s) for s in shapes) for shapes in _shape_table(op))
    return (f"it has no `examples`, and its shape rule accepts none of the float64 inputs the checker "
            f"tries (shapes {tried}): give it `examples`")


class _Recording(Registry):
    """`registry`, noting every op looked up in it: the ops a check used."""

    def __init__(self, registry: Registry):
        super().__init__({op.name: op for op in registry}, list(registry.plugins),
                         {name: registry.norm(name) for name in registry.norm_names()},
                         left_out=registry.left_out)
        self.used: set[str] = set()

    def get(self, name: str) -> OpDef:
        self.used.add(name)
        return super().get(name)


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
             f"forward gave {_described(got)}, shape rule says {expected}")
        return
    graph = builder.build({"y": out})
    inputs = dict(zip(names, arrays))
    if inputs:  # an op without inputs has nothing to batch over
        try:
            worst = _batched_forward_error(engine, graph, inputs, rng)
        except Exception as exc:
            fail("batched forward", float("inf"), f"{type(exc).__name__}: {exc}")
            return
        if worst > 1:
            fail("batched forward vs a loop over the batch", worst)
    if not _differentiable(graph):
        return
    kinds = tuple(kind for kind in ("jvp", "vjp") if getattr(op, kind) is not None)
    if not kinds:
        report.note("no derivative rules: derivatives through it are refused (UNIMPLEMENTED)")
        return
    if all(rule is None for kind in kinds for rule in getattr(op, kind)):
        report.note("declares a zero derivative (every rule is None): not compared with finite differences")
        return
    try:
        misfits = _misfit_rules(engine.registry, op, args, builder.nodes[-1].attr_dict)
        problems = [] if misfits else check_graph(engine, graph, inputs, rng, reference=reference, modes=kinds)
    except Exception as exc:
        fail("derivative rules", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    for detail in misfits:
        fail("rule result shape", float("inf"), detail)
    for check, worst, detail in problems:
        fail(check, worst, detail)
    if misfits or problems or not second_order:
        return
    if "vjp" not in kinds:
        report.note("no VJP rule: second order not checked (Hessians through it are refused)")
        return
    try:
        vgraph = engine.derivative_graph(graph, "vjp")
        seed = reference.setdefault("seed", rng.standard_normal(expected.shape))
        seeds = {"cotangent:y": seed.astype(expected.dtype)}
        problems = check_graph(engine, vgraph, {**inputs, **seeds}, rng, reference=reference, key="2")
    except NoDerivative as exc:
        fail("second order: an op the rules use has no rules", float("inf"),
             f"{exc}; Hessians through {op.name} would fail at request time")
        return
    except Exception as exc:
        fail("second order: derivative rules", float("inf"), f"{type(exc).__name__}: {exc}")
        return
    for check, worst, detail in problems:
        fail("second order: " + check, worst, detail)


def _check_other_dtypes(registry: Registry, op: OpDef, example: Example, report: OpReport) -> None:
    """The forward against the shape rule on integer and bool inputs: all float inputs of one
    such dtype, and each alone with the others float32 (mixed promotion). Inputs the rule refuses,
    or the forward raises on, are skipped: neither is a wrong answer."""
    floats = [i for i, a in enumerate(example.inputs) if np.asarray(a).dtype.kind == "f"]
    variants = [dict.fromkeys(floats, dtype) for dtype in OTHER_DTYPES]
    if len(floats) > 1:
        variants += [{**dict.fromkeys(floats, "float32"), i: dtype} for dtype in OTHER_DTYPES for i in floats]
    for variant in variants:
        arrays = tuple(_as(np.asarray(a), variant[i]) if i in variant else np.asarray(a)
                       for i, a in enumerate(example.inputs))
        builder = GraphBuilder(registry)
        try:
            args = [builder.input(f"x{i}", TensorType.of(a)) for i, a in enumerate(arrays)]
            expected = builder.add(op.name, args, example.attrs).type
        except Exception:
            continue
        try:
            with np.errstate(all="ignore"):
                got = np.asarray(op.forward(*arrays, **builder.nodes[-1].attr_dict))
        except Exception:
            continue
        if got.shape != expected.shape or got.dtype.name != expected.dtype:
            report.failures.append(Failure(
                "forward vs shape rule", "+".join(a.dtype.name for a in arrays), tuple(a.shape for a in arrays),
                float("inf"), f"forward gave {_described(got)}, shape rule says {expected}"))


def _described(array: np.ndarray) -> str:
    """Like a TensorType (float64[3,4]), for any dtype a forward may return (float16, int8)."""
    return f"{array.dtype.name}[{','.join(str(d) for d in array.shape)}]"


def _as(array: np.ndarray, dtype: str) -> np.ndarray:
    """`array` (float) as `dtype`: bools from its sign, integers from 3x its values."""
    if dtype == "bool":
        return array > 0
    with np.errstate(invalid="ignore"):  # an infinite example input: any integer will do
        return (3 * array).astype(dtype)


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
                *, reference: dict | None = None, key: str = "1",
                modes: tuple[str, ...] = ("jvp", "vjp")) -> list[tuple[str, float, str]]:
    """Gradient-check a whole graph at `inputs`: (check, worst error, detail) per failure.

    In float64 the JVP is compared with central differences; in float32 with the float64
    results stored in `reference` by an earlier float64 call (finite differences in float32
    would measure round-off, not the rule). `modes` are the derivatives to check: without
    "jvp", the VJP is compared with the finite differences instead of the JVP."""
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

    jv = engine.jvp(graph, inputs, v)[1] if "jvp" in modes else None
    if dtype == "float64":
        fd = _central_difference(engine, graph, inputs, v, outs)
        reference[key + "jv"] = fd
    else:
        fd = reference.get(key + "jv")
    if jv is not None and fd is not None:
        worst, where = _worst(jv, fd, outs, rtol, atol)
        if worst > 1:
            problems.append(("JVP vs finite differences", worst, where))

    if "vjp" in modes and (jv if jv is not None else fd) is not None:
        _, ut_j = engine.vjp(graph, inputs, u, wrt)
        j_v, against = (jv, "JVP") if jv is not None else (fd, "finite differences")
        lhs = sum(float(np.vdot(u[n].astype(float), j_v[n].astype(float))) for n in outs)
        rhs = sum(float(np.vdot(ut_j[n].astype(float), v[n].astype(float))) for n in wrt)
        scale = atol + rtol * max(abs(lhs), abs(rhs), 1.0)
        if abs(lhs - rhs) > scale:
            problems.append((f"VJP vs {against} dot product <u, Jv> = <J^T u, v>", abs(lhs - rhs) / scale,
                             f"<u, Jv> = {lhs:.6g}, <J^T u, v> = {rhs:.6g}"))

    batch = 3
    if "jvp" in modes:
        vs = {n: rng.standard_normal((batch,) + a.shape).astype(a.dtype) for n, a in v.items()}
        _, jv_batched = engine.jvp(graph, inputs, vs, batched=True)
        stacked = [engine.jvp(graph, inputs, {n: a[b] for n, a in vs.items()})[1] for b in range(batch)]
        worst = max(_scaled_error(jv_batched[n][b], stacked[b][n], rtol, atol)
                    for n in outs for b in range(batch))
        if worst > 1:
            problems.append(("batched JVP vs stacked single JVPs", worst, ""))
    if "vjp" in modes:
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
