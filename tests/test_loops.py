"""Loops and branches in graphs (wengert.loops, wengert.control_flow), in-process.

Every construct against its unrolled equivalent (the same Python function under a Python loop):
values bit for bit, and JVPs, VJPs, Jacobians in every mode and Hessians to 1e-12, on random
bodies (hypothesis) and on an RK4 integrator (GradBench's `ode`), an LSTM and a Newton iteration
under while_loop. Then reverse mode under every checkpointing policy, revolve's schedule against
brute force, the prices of the policies and auto's choice, sparsity patterns, remat, the
optimiser through a loop, and the errors, which name the loop and the body node at fault."""

from __future__ import annotations

import functools
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wengert as wg
from wengert.errors import EvaluationError, InvalidGraph, InvalidRequest, LimitExceeded
from wengert.execution.call import Call
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.jacobians.sparsity import jacobian_pattern
from wengert.loops.checkpointing import Checkpoint, Schedule, revolve_steps, reverse_sweep
from wengert.plugins.registry import default_registry

ENGINE = Engine()
TOL = 1e-12


def close(got, want, what: str) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL * scale, err_msg=what)


def agree(looped, unrolled, *args, hessian: bool = True, engine: Engine = ENGINE) -> None:
    """`looped` and `unrolled`, traced at `args`, compute the same values (bit for bit) and the
    same derivatives (to 1e-12): JVP, VJP, Jacobians forward, reverse and sparse, and the
    Hessian of a fixed random weighting of the outputs."""
    g, u = wg.trace(looped, *args), wg.trace(unrolled, *args)
    assert any(node.bodies for node in g.nodes), "the looped version records a loop"
    inputs = dict(zip(g.input_names, map(np.asarray, args)))
    values, expected = engine.evaluate(g, inputs), engine.evaluate(u, inputs)
    for name in g.output_names:
        np.testing.assert_array_equal(values[name], expected[name], err_msg=f"value of {name}")
    rng = np.random.default_rng(1)
    floats = [n for n, t in g.inputs if t.is_float]
    outs = [n for n in g.output_names if g.output_type(n).is_float]
    tangents = {n: rng.standard_normal(inputs[n].shape) for n in floats}
    for name, t in engine.jvp(g, inputs, tangents)[1].items():
        close(t, engine.jvp(u, inputs, tangents)[1][name], f"JVP of {name}")
    seeds = {n: rng.standard_normal(g.output_type(n).shape) for n in outs}
    got, want = engine.vjp(g, inputs, seeds)[1], engine.vjp(u, inputs, seeds)[1]
    for name in floats:
        close(got[name], want[name], f"VJP for {name}")
    reference = engine.jacobian(u, inputs, floats, outs, mode="forward")
    for mode, form in (("forward", "dense"), ("reverse", "dense"), ("auto", "sparse")):
        blocks = engine.jacobian(g, inputs, floats, outs, mode=mode, format=form).blocks
        for key, block in blocks.items():
            close(block.todense() if form == "sparse" else block, reference.blocks[key], f"{mode} Jacobian {key}")
    if hessian:
        weights = {n: rng.standard_normal(g.output_type(n).shape) for n in outs}

        def weighted(f):
            def loss(*a):
                out = f(*a)
                out = out if isinstance(out, tuple) else (out,)
                return functools.reduce(lambda s, t: s + t, [wg.sum(o * w) for o, w in zip(out, weights.values())])
            return wg.trace(loss, *args, names=g.input_names)
        hl, hu = engine.hessian(weighted(looped), inputs), engine.hessian(weighted(unrolled), inputs)
        for key, block in hl.blocks.items():
            close(block, hu.blocks[key], f"Hessian block {key}")


# -- random bodies ---------------------------------------------------------------------------------
OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "sin": lambda a, b: wg.sin(a), "tanh": lambda a, b: wg.tanh(a + b), "half": lambda a, b: a * 0.5,
       "square": lambda a, b: a * a}
PROGRAMS = st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 50), st.integers(0, 50)),
                    min_size=1, max_size=5)


def program(steps, *registers):
    """Run a straight-line program over `registers`; the new carries and an output."""
    regs = list(registers)
    for op, a, b in steps:
        regs.append(OPS[op](regs[a % len(regs)], regs[b % len(regs)]))
    vector, scalar = registers[0], registers[1]
    return (wg.tanh(regs[-1] + vector * 0.5), wg.tanh(wg.sum(regs[-1]) * 0.3 + scalar)), regs[-2] * 1.5


def body_of(steps, k):
    """The random body as a scan body `(carry, x) -> (carry, y)`, k a loop-invariant operand."""
    def body(carry, x):
        v, w = carry
        return program(steps, v, w, x, k)
    return body


@settings(max_examples=20, deadline=None)
@given(PROGRAMS, st.integers(0, 4), st.booleans())
def test_scan_of_a_random_body_agrees_with_its_unrolled_loop(steps, length, reverse):
    rng = np.random.default_rng(len(steps) + length)
    c, s, xs, k = rng.standard_normal(3), rng.standard_normal(()), rng.standard_normal((length, 3)), rng.standard_normal(3)

    def looped(c, s, xs, k):
        (v, w), ys = wg.scan(body_of(steps, k), (c, s), xs, length=length, reverse=reverse)
        return v, w, ys if length else wg.sum(v) * 0.0

    def unrolled(c, s, xs, k):
        body, carry, ys = body_of(steps, k), (c, s), [None] * length
        for i in (reversed(range(length)) if reverse else range(length)):
            carry, ys[i] = body(carry, xs[i])
        return carry[0], carry[1], wg.stack(ys) if length else wg.sum(carry[0]) * 0.0

    agree(looped, unrolled, c, s, xs, k)


@settings(max_examples=15, deadline=None)
@given(PROGRAMS, st.integers(0, 3), st.integers(0, 4))
def test_fori_loop_of_a_random_body_agrees_with_its_unrolled_loop(steps, lower, count):
    rng = np.random.default_rng(count)
    c, k = rng.standard_normal(3), rng.standard_normal(3)

    def body(k):
        return lambda i, carry: body_of(steps, k)(carry, k * wg.cast(i, "float64"))[0]

    def looped(c, k):
        return wg.fori_loop(lower, lower + count, body(k), (c, wg.sum(c)))

    def unrolled(c, k):
        carry = (c, wg.sum(c))
        for i in range(lower, lower + count):
            carry = body(k)(np.int64(i), carry)
        return carry

    agree(looped, unrolled, c, k)


@settings(max_examples=15, deadline=None)
@given(PROGRAMS, st.floats(0.5, 3.0))
def test_while_loop_of_a_random_body_agrees_with_the_steps_it_takes(steps, bound):
    rng = np.random.default_rng(7)
    c, k = 0.1 * rng.standard_normal(3), rng.standard_normal(3)

    def step(k):
        def body(carry):
            v, w, n = carry
            (v2, w2), _ = body_of(steps, k)((v, w), k)
            return v + 0.3 * v2 + 0.2, w2, n + 1
        return body

    def run(c, k):
        return wg.while_loop(lambda carry: wg.sum(carry[0]) < bound, step(k), (c, wg.sum(c), 0), max_steps=12)

    taken = int(wg.Client.local().evaluate(lambda c, k: run(c, k)[2], c, k))

    def unrolled(c, k):
        carry = (c, wg.sum(c), 0)
        for _ in range(taken):
            carry = step(k)(carry)
        return carry[0], carry[1]

    agree(lambda c, k: run(c, k)[:2], unrolled, c, k)


# -- RK4, LSTM, Newton ---------------------------------------------------------------------------------
def ode_rhs(x, y):
    """GradBench's `ode`: y0' = x0, yi' = xi y(i-1)."""
    return wg.concatenate([x[:1], x[1:] * y[:-1]])


def rk4_step(x, y, h):
    k1 = ode_rhs(x, y)
    k2 = ode_rhs(x, y + h / 2 * k1)
    k3 = ode_rhs(x, y + h / 2 * k2)
    k4 = ode_rhs(x, y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def test_rk4_integrator_agrees_with_its_unrolled_steps():
    steps, h = 6, 2.0 / 6

    def looped(x):
        return wg.fori_loop(0, steps, lambda i, y: rk4_step(x, y, h), wg.zeros_like(x))

    def unrolled(x):
        y = wg.zeros_like(x)
        for _ in range(steps):
            y = rk4_step(x, y, h)
        return y

    agree(looped, unrolled, np.linspace(0.5, 1.5, 4))


def lstm_step(params, carry, x):
    w, b = params
    h, c = carry
    z = w @ wg.concatenate([h, x]) + b
    n = h.shape[0]
    i, f, o, g = wg.sigmoid(z[:n]), wg.sigmoid(z[n:2 * n]), wg.sigmoid(z[2 * n:3 * n]), wg.tanh(z[3 * n:])
    c = f * c + i * g
    h = o * wg.tanh(c)
    return (h, c), h


def test_lstm_agrees_with_its_unrolled_steps():
    rng = np.random.default_rng(3)
    hidden, width, length = 3, 2, 5
    w, b = 0.5 * rng.standard_normal((4 * hidden, hidden + width)), 0.1 * rng.standard_normal(4 * hidden)
    xs = rng.standard_normal((length, width))

    def looped(w, b, xs):
        zero = wg.zeros_like(b[:hidden])
        (h, c), hs = wg.scan(lambda carry, x: lstm_step((w, b), carry, x), (zero, zero), xs)
        return wg.sum(hs * hs) + wg.sum(c)

    def unrolled(w, b, xs):
        zero = wg.zeros_like(b[:hidden])
        carry, hs = (zero, zero), []
        for t in range(length):
            carry, h = lstm_step((w, b), carry, xs[t])
            hs.append(h)
        return wg.sum(wg.stack(hs) ** 2) + wg.sum(carry[1])

    agree(looped, unrolled, w, b, xs)


def newton_step(a, y):
    return y - (y * y * y - a) / (3 * y * y)


def test_newton_iteration_under_while_loop_agrees_with_the_steps_it_takes():
    a = np.array([2.0, 27.0, 0.3])

    def looped(a):
        def unconverged(state):
            y, _ = state
            return wg.max(wg.abs(y * y * y - a)) > 1e-13
        y, steps = wg.while_loop(unconverged, lambda s: (newton_step(a, s[0]), s[1] + 1), (a, 0), max_steps=60)
        return y

    taken = int(wg.Client.local().evaluate(lambda a: wg.while_loop(
        lambda s: wg.max(wg.abs(s[0] ** 3 - a)) > 1e-13, lambda s: (newton_step(a, s[0]), s[1] + 1),
        (a, 0), max_steps=60)[1], a))
    assert 3 < taken < 60

    def unrolled(a):
        y = a
        for _ in range(taken):
            y = newton_step(a, y)
        return y

    agree(looped, unrolled, a)
    # Reverse mode through the steps taken: the derivative of a converged cube root, 1 / (3 y^2).
    gradient = wg.Client.local().grad(lambda a: wg.sum(looped(a)), a)
    np.testing.assert_allclose(gradient, 1 / (3 * np.cbrt(a) ** 2), rtol=1e-10)


def test_a_while_loop_stopped_by_max_steps_is_that_many_steps_in_both_modes():
    """Semantics: at most max_steps steps; the result and every derivative are those of the
    steps taken, here all of them (the condition still holds)."""
    def looped(x):
        return wg.while_loop(lambda v: wg.sum(v) < 1e9, lambda v: v * 1.5 + 0.1, x, max_steps=4)

    def unrolled(x):
        for _ in range(4):
            x = x * 1.5 + 0.1
        return x

    agree(looped, unrolled, np.array([0.2, -0.4]))


def test_cond_and_switch_agree_with_the_branch_taken():
    def branches(x, y):
        return [lambda a, b: (wg.sin(a) * b, a), lambda a, b: (a * a + b, b * 2.0), lambda a, b: (wg.exp(a), a - b)]

    x, y = np.array([0.3, -1.2]), np.array([1.5, 0.7])
    for index in (-3, 0, 1, 2, 9):  # out of range: clamped, as lax.switch does
        chosen = branches(x, y)[min(max(index, 0), 2)]
        agree(lambda x, y, i: wg.switch(i, branches(x, y), x, y), lambda x, y, i: chosen(x, y), x, y, np.int64(index))
    for flag in (True, False):
        agree(lambda x, y, p: wg.cond(p, lambda a: a * y, lambda a: wg.cos(a), x),
              lambda x, y, p: x * y if flag else wg.cos(x), x, y, np.bool_(flag))


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")
def test_only_the_branch_taken_is_differentiated():
    """Where `where` multiplies a NaN slope by zero, cond never looks at the other branch."""
    x = np.array([-1.0, 4.0])
    by_cond = wg.Client.local().grad(lambda x: wg.sum(wg.cond(x[0] > 0, lambda v: wg.sqrt(v), lambda v: v * 0.0, x)), x)
    np.testing.assert_array_equal(by_cond, [0.0, 0.0])
    by_where = wg.Client.local().grad(lambda x: wg.sum(wg.where(x[0] > 0, wg.sqrt(x), x * 0.0)), x)
    assert np.isnan(by_where[0])


def test_nested_loops_and_closures_agree_with_their_unrolled_loops():
    rng = np.random.default_rng(4)
    w, xs = 0.4 * rng.standard_normal((3, 3)), rng.standard_normal((4, 3))

    def inner(v, w):  # a loop in the body, over a matrix the body captures
        return wg.fori_loop(0, 2, lambda i, u: wg.tanh(w @ u) + v * 0.1, v)

    def looped(w, xs):
        return wg.scan(lambda c, x: (inner(c + x, w), wg.cond(wg.sum(c) > 0, lambda a: a * 2.0, lambda a: -a, c)),
                       xs[0] * 0.0, xs)

    positive, c = [], np.zeros(3)  # the branch each step takes, from the same recurrence in NumPy
    for t in range(4):
        positive.append(c.sum() > 0)
        u = v = c + xs[t]
        for _ in range(2):
            u = np.tanh(w @ u) + v * 0.1
        c = u

    def unrolled(w, xs):
        c, ys = xs[0] * 0.0, []
        for t in range(4):
            v = u = c + xs[t]
            for _ in range(2):
                u = wg.tanh(w @ u) + v * 0.1
            ys.append(c * 2.0 if positive[t] else -c)
            c = u
        return c, wg.stack(ys)

    agree(looped, unrolled, w, xs)


def test_remat_gives_the_same_gradient_and_a_lower_peak():
    block = wg.checkpoint(lambda v: wg.sin(wg.sin(wg.sin(wg.sin(v) * 1.1) * 1.2) * 1.3))
    plain = lambda v: wg.sin(wg.sin(wg.sin(wg.sin(v) * 1.1) * 1.2) * 1.3)  # noqa: E731
    x = np.linspace(-1, 1, 100_000)
    agree(lambda x: block(block(block(x))), lambda x: plain(plain(plain(x))), x[:5], hessian=True)
    graphs = [wg.trace(lambda x: wg.sum(f(f(f(x)))), x) for f in (block, plain)]
    peaks = [ENGINE.cost(Call("Vjp", g, {"x": x}, cotangents={"y": np.float64(1)})).peak_bytes for g in graphs]
    assert peaks[0] < 0.7 * peaks[1], peaks


# -- checkpointing ------------------------------------------------------------------------------------------
def long_scan(x, a, steps=300):
    def step(c, _):
        c = c + 0.01 * wg.sin(a * c)
        return c, wg.sum(c * c)
    c, ys = wg.scan(step, x, None, length=steps)
    return wg.sum(c) + wg.sum(ys)


POLICIES = [Checkpoint("all"), Checkpoint("every_k"), Checkpoint("every_k", every=7),
            Checkpoint("binomial"), Checkpoint("binomial", snapshots=1), Checkpoint("binomial", snapshots=3),
            Checkpoint("auto")]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.policy}-{p.every}-{p.snapshots}")
def test_every_policy_gives_the_same_gradient_jacobian_and_hessian(policy):
    x, a = np.linspace(-1, 1, 4), np.float64(1.3)
    graph = wg.trace(lambda x, a: long_scan(x, a, 40), x, a)
    inputs = {"x": x, "a": a}
    reference = ENGINE.using(Checkpoint("all"))
    grad = ENGINE.prepare(Call("Vjp", graph, inputs, cotangents={"y": np.float64(1)}, checkpoint=policy)).run()[1]
    expected = reference.vjp(graph, inputs, {"y": np.float64(1)})[1]
    for name in expected:
        close(grad[name], expected[name], f"gradient {name} under {policy}")
    hessian = ENGINE.prepare(Call("Hessian", graph, inputs, checkpoint=policy)).run()
    for key, block in reference.hessian(graph, inputs).blocks.items():
        close(hessian.blocks[key], block, f"Hessian {key} under {policy}")


def test_a_while_loop_reverse_sweep_is_the_same_under_every_policy():
    a = np.array([2.0, 5.0])

    def f(a):
        y = wg.while_loop(lambda y: wg.max(wg.abs(y * y - a)) > 1e-12, lambda y: 0.5 * (y + a / y), a, max_steps=40)
        return wg.sum(y)
    graph = wg.trace(f, a)
    grads = [ENGINE.using(p).vjp(graph, {"a": a}, {"y": np.float64(1)})[1]["a"] for p in POLICIES[:-1]]
    for g in grads:
        close(g, 0.5 / np.sqrt(a), "d sqrt(a) / da")


def brute_force_steps(n: int, s: int) -> int:
    """The fewest advances reversing n steps with s states (the start included), by search."""
    @functools.lru_cache(None)
    def best(n, s):
        if n <= 1:
            return 0
        if s == 1:
            return n * (n - 1) // 2
        return min(m + best(n - m, s - 1) + best(m, s) for m in range(1, n))
    return best(n, s)


def test_revolve_recomputes_the_fewest_steps_possible():
    for s in range(1, 6):
        for n in range(1, 45):
            assert revolve_steps(n, s) == brute_force_steps(n, s), (n, s)


class _State:
    """A loop state that knows its step; the live ones are counted."""

    live: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, k):
        self.k = k
        _State.live.add(self)


@pytest.mark.parametrize("schedule", [Schedule("all", 50), Schedule("every_k", 50, every=7),
                                      Schedule("binomial", 50, snapshots=4), Schedule("binomial", 1000, snapshots=20),
                                      Schedule("binomial", 9, snapshots=1)])
def test_a_reverse_sweep_visits_every_step_last_first_within_its_schedule(schedule):
    advances, visited, peak = [0], [], [0]

    def advance(k, state):
        assert state[0].k == k
        advances[0] += 1
        peak[0] = max(peak[0], len(_State.live))
        return [_State(k + 1)]

    def backward(k, state):
        assert state[0].k == k
        visited.append(k)
        peak[0] = max(peak[0], len(_State.live))

    reverse_sweep(schedule, [_State(0)], advance, backward)
    assert visited == list(reversed(range(schedule.length)))
    assert advances[0] == schedule.advances()
    assert peak[0] <= schedule.stored + 1  # the states kept, and the one being computed


def test_policies_are_priced_memory_against_work():
    x, a = np.linspace(-1, 1, 1000), np.float64(1.3)
    graph = wg.trace(lambda x, a: long_scan(x, a, 400), x, a)
    prices = {p.policy + str(p.snapshots): ENGINE.cost(Call("Vjp", graph, {"x": x, "a": a},
                                                            cotangents={"y": np.float64(1)}, checkpoint=p))
              for p in (Checkpoint("all"), Checkpoint("every_k"), Checkpoint("binomial", snapshots=4))}
    state = x.nbytes
    assert prices["all0"].peak_bytes > 400 * state > prices["every_k0"].peak_bytes > prices["binomial4"].peak_bytes
    assert prices["binomial4"].peak_bytes < 20 * state
    assert prices["all0"].work < prices["every_k0"].work < prices["binomial4"].work


def test_auto_picks_the_fastest_policy_that_fits_the_memory_limit():
    x, a = np.linspace(-1, 1, 1000), np.float64(1.3)
    graph = wg.trace(lambda x, a: long_scan(x, a, 400), x, a)
    call = Call("Vjp", graph, {"x": x, "a": a}, cotangents={"y": np.float64(1)})
    priced = lambda engine, policy=Checkpoint("auto"): (lambda p: (p.peak_bytes, p.work))(  # noqa: E731
        engine.cost(Call("Vjp", graph, call.inputs, cotangents=call.cotangents, checkpoint=policy)))
    everything = priced(ENGINE, Checkpoint("all"))
    assert priced(Engine(limits=Limits(memory=everything[0]))) == everything
    limit = everything[0] // 5
    chosen = priced(Engine(limits=Limits(memory=limit)))
    prices = {s: priced(ENGINE, Checkpoint("binomial", snapshots=s)) for s in range(1, 120)}
    fitting = {s: p for s, p in prices.items() if p[0] <= limit}
    assert chosen == fitting[max(fitting)] and chosen[1] == min(work for _, work in fitting.values())
    gradient = Engine(limits=Limits(memory=limit)).run(Engine(limits=Limits(memory=limit)).prepare(call))[1]
    close(gradient["x"], ENGINE.vjp(graph, call.inputs, call.cotangents)[1]["x"], "gradient under auto")
    with pytest.raises(LimitExceeded, match="memory limit exceeded"):
        tiny = Engine(limits=Limits(memory=3 * x.nbytes))
        tiny.run(tiny.prepare(call))


def test_a_scan_far_past_the_node_limit_is_a_few_nodes():
    """2,000 RK4 steps: 2,000 * ~40 nodes unrolled, 16 nodes as a loop."""
    x = np.linspace(0.5, 1.5, 8)
    graph = wg.trace(lambda x: wg.fori_loop(0, 2000, lambda i, y: rk4_step(x, y, 1e-3), wg.zeros_like(x)), x)
    assert graph.node_count < 60
    assert ENGINE.vjp(graph, {"x": x}, {"y": np.ones(8)})[1]["x"].shape == (8,)


# -- sparsity ------------------------------------------------------------------------------------------
def pattern(f, *args):
    g = wg.trace(f, *args)
    p = jacobian_pattern(g, g.input_names, g.output_names, default_registry())
    return None if p is None else p.matrix().toarray()


def test_the_pattern_of_a_scan_is_exact_for_elementwise_steps_and_causal_over_its_steps():
    rng = np.random.default_rng(0)
    c, xs = rng.standard_normal(3), rng.standard_normal((4, 3))

    def looped(c, xs):
        return wg.scan(lambda c, x: (wg.sin(c) * x, (c * 2.0 + x, wg.sum(x))), c, xs)

    def unrolled(c, xs):
        ys, zs = [], []
        for t in range(4):
            ys.append(c * 2.0 + xs[t])
            zs.append(wg.sum(xs[t]))
            c = wg.sin(c) * xs[t]
        return c, (wg.stack(ys), wg.stack(zs))

    np.testing.assert_array_equal(pattern(lambda c, xs: wg.concatenate([looped(c, xs)[0], wg.reshape(looped(c, xs)[1][0], (-1,)),
                                                                          looped(c, xs)[1][1]]), c, xs),
                                  pattern(lambda c, xs: wg.concatenate([unrolled(c, xs)[0], wg.reshape(unrolled(c, xs)[1][0], (-1,)),
                                                                          unrolled(c, xs)[1][1]]), c, xs))


def test_the_pattern_of_a_coupled_loop_is_the_closure_of_its_step():
    x = np.ones(8)
    looped = pattern(lambda x: wg.fori_loop(0, 2, lambda i, v: v + 0.1 * wg.roll(v, 1), x), x)
    unrolled = pattern(lambda x: (lambda v: v + 0.1 * wg.roll(v, 1))(x + 0.1 * wg.roll(x, 1)), x)
    assert (looped >= unrolled).all() and looped.all()  # a superset: the closure of a cyclic shift is dense


def test_a_hessian_through_an_elementwise_loop_takes_one_sweep():
    x = np.linspace(-1, 1, 200)
    graph = wg.trace(lambda x: wg.sum(wg.fori_loop(0, 5, lambda i, v: wg.sin(v) * 1.1, x)), x)
    result = ENGINE.hessian(graph, {"x": x}, format="sparse")
    assert result.sweeps == 1 and result.nnz == 200
    dense = ENGINE.hessian(graph, {"x": x}).blocks[("x", "x")]
    np.testing.assert_array_equal(result.blocks[("x", "x")].todense(), dense)


# -- the optimiser ------------------------------------------------------------------------------------------
def test_the_optimiser_fits_an_ode_parameter_through_a_loop():
    target = wg.Client.local().evaluate(lambda x: wg.fori_loop(0, 20, lambda i, y: rk4_step(x, y, 0.05),
                                                               wg.zeros_like(x)), np.array([0.7, 1.3]))

    def loss(params, target):
        x = params["x"]
        y = wg.fori_loop(0, 20, lambda i, y: rk4_step(x, y, 0.05), wg.zeros_like(x))
        return wg.sum((y - target) ** 2)

    result = wg.Client.local().minimize(loss, {"x": np.array([1.0, 1.0])}, target,
                                        stop=wg.optim.Stop(max_steps=400, tolerance=1e-10), lr=0.5)
    np.testing.assert_allclose(result.params["x"], [0.7, 1.3], atol=1e-4)


# -- errors ------------------------------------------------------------------------------------------
def test_a_carry_changing_type_names_the_loop_and_the_body_node():
    with pytest.raises(InvalidGraph, match=r"node 'v\d+' \(scan\): body output 'out0' = node 'v\d+' \(cast\) "
                                           r"is float32\[3\], but carry 0 is float64\[3\]"):
        wg.trace(lambda x: wg.scan(lambda c, xk: (wg.cast(c, "float32"), xk), x[0], x)[0], np.zeros((4, 3)))
    with pytest.raises(InvalidGraph, match="another structure"):
        wg.trace(lambda x: wg.fori_loop(0, 2, lambda i, c: (c, c), x), np.zeros(3))


def test_misuse_is_refused_before_anything_runs():
    with pytest.raises(InvalidGraph, match="no graph is being built"):
        wg.scan(lambda c, x: (c, x), np.zeros(3), np.zeros((2, 3)))
    with pytest.raises(InvalidGraph, match="bounds must be known"):
        wg.trace(lambda x, n: wg.fori_loop(0, n, lambda i, c: c, x), np.zeros(3), np.int64(3))
    with pytest.raises(InvalidGraph, match="common leading axis"):
        wg.trace(lambda a, b: wg.scan(lambda c, x: (c, x), a[0], (a, b)), np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(InvalidGraph, match="one bool scalar"):
        wg.trace(lambda x: wg.while_loop(lambda c: c, lambda c: c, x, max_steps=3), np.zeros(3))
    with pytest.raises(InvalidGraph, match="at least one branch"):
        wg.trace(lambda x: wg.switch(wg.argmax(x), [], x), np.zeros(3))
    with pytest.raises(InvalidGraph, match="same structure"):
        wg.trace(lambda x: wg.cond(x[0] > 0, lambda v: v, lambda v: (v, v), x), np.zeros(3))
    with pytest.raises(InvalidGraph, match="different graphs"):
        leaked = []
        wg.trace(lambda x: wg.scan(lambda c, y: (leaked.append(c) or c, y), x[0], x)[0] + leaked[0], np.zeros((2, 3)))
    with pytest.raises(InvalidRequest, match="unknown checkpointing policy"):
        Checkpoint("sometimes")


def test_a_failure_inside_a_body_names_both_nodes():
    graph = wg.trace(lambda m: wg.fori_loop(0, 3, lambda i, a: wg.cholesky(a) @ wg.transpose(wg.cholesky(a)), m),
                     np.eye(2))
    with pytest.raises(EvaluationError, match=r"node 'v\d+' \(fori_loop\): node 'v\d+' \(cholesky\)"):
        ENGINE.evaluate(graph, {"m": -np.eye(2)})


def test_bodies_nest_sixteen_deep_on_the_wire():
    from wengert.transport.wire import graph_from_proto, graph_to_proto

    def nested(depth):
        if depth == 0:
            return lambda v: wg.sin(v)
        return wg.checkpoint(nested(depth - 1))
    for depth, fits in ((16, True), (17, False)):
        msg = graph_to_proto(wg.trace(nested(depth), np.ones(2)))
        if fits:
            assert graph_from_proto(msg).node_count == depth + 1  # a checkpoint per level, then sin
        else:
            with pytest.raises(InvalidGraph, match="nested more than 16 deep"):
                graph_from_proto(msg)


def test_a_body_returning_an_array_of_another_shape_is_named():
    with pytest.raises(InvalidGraph, match=r"body output 'out0' = node 'v\d+' \(constant\) is float64\[4\], "
                                           r"but carry 0 is float64\[3\]"):
        wg.trace(lambda x: wg.fori_loop(0, 2, lambda i, c: np.zeros(4), x), np.zeros(3))
