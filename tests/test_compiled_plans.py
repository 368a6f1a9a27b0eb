"""Compiled plans (straight-line Python, `wengert.execution.compiled`) against the interpreter:
bit-identical results on every builtin op's checker examples, their JVP and VJP graphs and
batched runs, and on random graphs, op by op and with elementwise chains fused into blocks
(`wengert.execution.fusion`, shrunk here so that small arrays make several blocks and a
partial one); errors naming the same node and op; the same source for the same plan."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_random_graphs import graphs

import wengert as wg
from wengert.errors import EvaluationError, InternalError, WengertError
from wengert.execution import fusion
from wengert.execution import plan as plan_module
from wengert.execution.engine import Engine
from wengert.execution.plan import Plan
from wengert.ir.builder import GraphBuilder
from wengert.ir.graph import TensorType
from wengert.plugins.checker import op_examples
from wengert.plugins.opdef import OpDef
from wengert.plugins.registry import default_registry
from wengert.plugins.shapes import same_as_first

REGISTRY = default_registry()
ENGINE = Engine(REGISTRY)


@pytest.fixture(params=["op by op", "fused"])
def blocks(request, monkeypatch):
    """Whether elementwise chains of small arrays run fused, in blocks of 3 elements."""
    if request.param == "fused":
        monkeypatch.setattr(fusion, "MIN_SIZE", 2)
        monkeypatch.setattr(fusion, "BLOCK", 3)


def assert_bit_identical(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, w in want.items():
        g = got[name]
        assert type(g) is np.ndarray, name
        assert (g.dtype, g.shape) == (w.dtype, w.shape), name
        assert g.tobytes() == w.tobytes(), f"{name}: {g!r} != {w!r}"


def compiled_run(plan: Plan, feeds: dict) -> dict:
    batch = plan_module.check_feeds(plan.graph, feeds, plan.batched_inputs)
    outs = plan.compiled()([feeds[n] for n in plan.graph.input_names], batch, None)
    return dict(zip(plan.graph.output_names, outs))


def both_agree(graph: wg.Graph, feeds: dict, batched: frozenset[str] = frozenset()) -> None:
    plan = Plan(graph, REGISTRY, batched)
    assert_bit_identical(compiled_run(plan, feeds), plan.run(feeds, interpret=True))


def op_cases():
    """Every builtin op on the examples the checker uses, in both float dtypes (as it does)."""
    rng = np.random.default_rng(0)
    for name in REGISTRY.names():
        for k, example in enumerate(op_examples(REGISTRY.get(name), rng)):
            for dtype in example.dtypes or ("float64", "float32"):
                yield pytest.param(name, example, dtype, id=f"{name}-{k}-{dtype}")


@pytest.mark.parametrize("name, example, dtype", list(op_cases()))
def test_compiled_plans_match_the_interpreter_bit_for_bit_on_every_builtin_op(name, example, dtype, blocks):
    rng = np.random.default_rng(1)
    names = [f"x{i}" for i in range(len(example.inputs))]
    feeds = {n: np.asarray(a).astype(dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
             for n, a in zip(names, example.inputs)}
    builder = GraphBuilder(REGISTRY)
    args = [builder.input(n, TensorType.of(a)) for n, a in feeds.items()]
    graph = builder.build({"y": builder.add(name, args, example.attrs)})
    both_agree(graph, feeds)
    stacked = {n: np.stack([a, a + (1e-2 * rng.normal(size=a.shape)).astype(a.dtype) if a.dtype.kind == "f" else a, a])
               for n, a in feeds.items()}
    both_agree(graph, stacked, frozenset(stacked))  # over a batch, as in a Jacobian sweep
    differentiable = [n for n, a in feeds.items() if a.dtype.kind == "f"]
    if not differentiable or REGISTRY.get(name).jvp is None or graph.output_type("y").dtype[0] != "f":
        return
    jvp = ENGINE.derivative_graph(graph, "jvp", differentiable)
    tangents = {f"tangent:{n}": rng.normal(size=feeds[n].shape).astype(feeds[n].dtype) for n in differentiable}
    both_agree(jvp, {**feeds, **tangents})
    if REGISTRY.get(name).vjp is not None:
        vjp = ENGINE.derivative_graph(graph, "vjp", differentiable, seeds=["y"])
        t = graph.output_type("y")
        cotangent = rng.normal(size=t.shape).astype(t.dtype)
        both_agree(vjp, {**feeds, "cotangent:y": cotangent})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs(), seed=st.integers(0, 2**32 - 1))
def test_compiled_plans_match_the_interpreter_on_random_graphs_and_their_gradients(graph, seed, blocks):
    rng = np.random.default_rng(seed)
    feeds = {name: rng.normal(size=t.shape) for name, t in graph.inputs}
    both_agree(graph, feeds)
    vjp = ENGINE.derivative_graph(graph, "vjp", None, seeds=["y"])
    both_agree(vjp, {**feeds, "cotangent:y": rng.normal(size=graph.output_type("y").shape)})


def test_a_chain_of_scalars_of_mixed_dtypes_matches_the_interpreter():
    """0-d values stay NumPy scalars inside a compiled plan; ints, bools and float32 among
    them still come out as the interpreter's arrays of the declared dtypes."""
    def f(x, n, s):
        y = wg.sin(x) * 0.9 + wg.cast(n, "float64") / 3.0 + wg.cos(n) / n  # float ops of ints too
        for _ in range(5):
            y = wg.where(y > 0.2, wg.exp(-y) - 1.0, wg.sqrt(y * y + 1.0))
        small = wg.cast(y, "float32") * s
        return {"y": y, "n2": n * n - 1, "big": y > 0.5, "small": small, "sq": wg.square(small)}
    graph = wg.trace(f, np.float64(0.3), np.int64(7), np.float32(1.5))
    feeds = {"x": np.asarray(0.3), "n": np.asarray(7), "s": np.asarray(1.5, np.float32)}
    both_agree(graph, feeds)
    both_agree(ENGINE.derivative_graph(graph, "vjp", ["x", "s"], seeds=["y"]),
               {**feeds, "cotangent:y": np.asarray(1.0)})


def test_a_0d_float_input_enters_as_a_scalar_and_leaves_as_the_interpreters_array():
    """The worked example's gradient plan reads its 0-d float inputs as NumPy scalars (NumPy's
    scalar math, not a ufunc call per operator); an input that is also an output still comes
    back as a 0-d array, and every result has the interpreter's bits."""
    graph = wg.trace(lambda x1, x2: {"y": wg.log(x1) + x1 * x2 - wg.sin(x2), "x2": x2}, 2.0, 5.0)
    vjp = ENGINE.derivative_graph(graph, "vjp", None, seeds=["y"])
    plan = Plan(vjp, REGISTRY)
    assert "v0 = v0[()]" in plan.compiled().source
    both_agree(vjp, {"x1": np.asarray(2.0), "x2": np.asarray(5.0), "cotangent:y": np.asarray(1.0)})


def test_a_long_elementwise_chain_on_a_large_array_runs_fused_with_the_same_bits():
    x = np.random.default_rng(0).normal(size=fusion.MIN_SIZE + 5)
    graph = wg.trace(lambda x: {"y": wg.sin(x) * x + wg.exp(-x * x), "z": wg.sum(wg.tanh(x) * 2.0 - x)}, x)
    for g, feeds in [(graph, {"x": x}),
                     (ENGINE.derivative_graph(graph, "vjp", None, seeds=["y", "z"]),
                      {"x": x, "cotangent:y": np.cos(x), "cotangent:z": np.asarray(0.5)})]:
        plan = Plan(g, REGISTRY)
        assert "g0(" in plan.compiled().source  # a fused chain, not one line per step
        assert_bit_identical(compiled_run(plan, feeds), plan.run(feeds, interpret=True))


def test_an_op_failing_in_a_fused_chain_is_reported_as_the_interpreter_reports_it(monkeypatch):
    monkeypatch.setattr(fusion, "MIN_SIZE", 2)
    monkeypatch.setattr(fusion, "BLOCK", 3)
    graph = wg.trace(lambda x: wg.sin(x) * 2.0 / (x - 1.0) + 1.0, np.ones(8))
    plan = Plan(graph, REGISTRY)
    assert "g0(" in plan.compiled().source
    x = np.arange(8.0) / 4  # 1.0 in the second block
    errors = []
    with np.errstate(divide="raise"):  # a caller's choice: division by zero is an error
        for run in (lambda: plan.run({"x": x}, interpret=True), lambda: compiled_run(plan, {"x": x})):
            with pytest.raises(EvaluationError) as caught:
                run()
            errors.append(caught.value)
    interpreted, compiled = errors
    assert str(compiled) == str(interpreted)
    assert (compiled.node, compiled.op) == (interpreted.node, "div")


def _planted(name: str, forward) -> OpDef:
    return OpDef(name, forward, same_as_first, elementwise=True, doc="planted for a test")


def test_an_op_failing_in_a_compiled_plan_is_reported_as_the_interpreter_reports_it():
    def boom(x):
        raise ValueError("no good")
    registry = REGISTRY.with_ops([_planted("boom", boom), _planted("bad_shape", lambda x: np.zeros(7))])
    for op, cls, message in [("boom", EvaluationError, "ValueError: no good"),
                             ("bad_shape", InternalError, "op returned shape [7]")]:
        builder = GraphBuilder(registry)
        x = builder.input("x", TensorType("float64", ()))
        graph = builder.build({"y": builder.add("sin", [builder.add(op, [builder.add("cos", [x], {})], {})], {})})
        plan = Plan(graph, registry)
        errors = []
        for run in (lambda: plan.run({"x": np.asarray(0.5)}, interpret=True),
                    lambda: compiled_run(plan, {"x": np.asarray(0.5)})):
            with pytest.raises(cls) as caught:
                run()
            errors.append(caught.value)
        interpreted, compiled = errors
        assert str(compiled) == str(interpreted)
        assert (compiled.node, compiled.op) == (interpreted.node, interpreted.op) == (graph.nodes[1].id, op)
        assert message in str(compiled)


def test_a_plan_run_many_times_still_names_the_node_that_fails():
    """Once compiled, the engine runs a plan compiled: a failure then names the node as before."""
    graph = wg.trace(lambda a: wg.sum(wg.cholesky(a) * 2.0), np.eye(3))
    spd = np.eye(3) * 2.0
    ENGINE.plan(graph).compiled()
    for _ in range(3):
        np.testing.assert_allclose(ENGINE.evaluate(graph, {"a": spd})["y"], 6 * np.sqrt(2.0))
    with pytest.raises(EvaluationError) as caught:
        ENGINE.evaluate(graph, {"a": -np.eye(3)})
    assert caught.value.op == "cholesky"
    assert caught.value.node == next(n.id for n in graph.nodes if n.op == "cholesky")


def test_a_compiled_plan_calls_the_check_before_every_step_and_passes_its_error_on():
    graph = wg.trace(lambda x: wg.tanh(wg.sin(x) * x + 1.0), np.ones(4))
    plan = Plan(graph, REGISTRY)
    seen = []
    outs = plan.compiled(checked=True)([np.ones(4)], None, seen.append)
    assert seen == [step.node for step in plan.steps]
    np.testing.assert_array_equal(outs[0], plan.run({"x": np.ones(4)}, interpret=True)["y"])

    class Stop(WengertError):
        pass

    def stop_at_third(node):
        if node is plan.steps[2].node:
            raise Stop("stopped")
    with pytest.raises(Stop, match="^stopped$"):
        plan.compiled(checked=True)([np.ones(4)], None, stop_at_third)


def test_the_same_plan_compiles_to_the_same_source_and_results():
    graph = wg.trace(lambda x, y: wg.exp(-x * x) * wg.sin(y) + x / y, 0.5, 2.0)
    first, second = Plan(graph, REGISTRY), Plan(graph, REGISTRY)
    assert first.compiled().source == second.compiled().source
    assert first.compiled() is first.compiled()  # compiled once, kept with the plan
    feeds = {"x": np.asarray(0.5), "y": np.asarray(2.0)}
    assert_bit_identical(compiled_run(first, feeds), compiled_run(second, feeds))


def test_a_dropped_compiled_plan_is_freed_at_once_with_its_constants():
    """Without a reference cycle: a plan the cache drops frees its constants (8 MB each, say) at
    once, not at the next full garbage collection."""
    graph = wg.trace(lambda x: x * np.full(100, 2.0) + 1.0, np.ones(100))
    plan = Plan(graph, REGISTRY)
    function = weakref.ref(plan.compiled().function)
    gc.disable()
    try:
        del plan
        assert function() is None
    finally:
        gc.enable()
