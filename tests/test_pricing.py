"""The resource model (`wengert.execution.cost`): a plan's profile counts what its steps hold
(views share their input's memory, batched values cost B times), requests add up their runs, and
`Limits` refuses a price over a limit naming the node that pushes it over. Measured against
reality: the peak resident memory a run actually adds stays within a stated factor of the
predicted peak on graphs of increasing size, and a refused request allocates nothing large."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wengert as wg
from wengert.errors import LimitExceeded
from wengert.execution.call import Call
from wengert.execution.cost import RECORD_WORK, Limits
from wengert.execution.engine import Engine

N = 1000
ITEM = 8 * N  # bytes of one float64 vector of length N


def test_a_profile_adds_values_when_computed_and_drops_them_after_last_use(engine):
    graph = wg.trace(lambda x: wg.exp(wg.sin(x)) * 2.0, np.zeros(N))
    profile = engine.profile(engine.plan(graph))
    # x is held throughout; sin x lives until exp has run; each op may use scratch as large as
    # its output while it runs; the output y stays.
    assert list(profile.fixed) == [ITEM, ITEM + 2 * ITEM, ITEM + 3 * ITEM, ITEM + 3 * ITEM]
    assert profile.peak() == 4 * ITEM
    assert profile.work() == 2 * N + 2 * N + (2 * N + 1)  # an element in and out; the scalar 2.0


def test_a_view_costs_nothing_and_keeps_its_base_alive(engine):
    graph = wg.trace(lambda x: wg.sum(wg.broadcast_to(x, (500, N)) * 3.0), np.zeros(N))
    profile = engine.profile(engine.plan(graph))
    assert profile.fixed[1] == ITEM  # broadcast_to: a view of x, nothing new
    assert profile.peak() == ITEM + 2 * 500 * ITEM  # the product and its scratch
    assert profile.work() == (2 * 500 * N + 1) + (500 * N + 1)  # mul (with 3.0); sum reads, writes one


def test_a_batched_run_costs_its_directions(engine):
    graph = wg.trace(lambda x: wg.sin(x) * x, np.zeros(N))
    plan = engine.plan(engine.derivative_graph(graph, "jvp"), frozenset({"tangent:x"}))
    profile = engine.profile(plan)
    assert profile.per_direction[0] == ITEM  # the tangent seed, one vector per direction
    assert profile.peak(10) == int((profile.fixed + 10 * profile.per_direction).max()) > profile.peak(1)
    assert profile.work(10) - profile.work(1) == 9 * int(profile.work_per_direction[-1])


def test_matmul_reports_its_flops(engine):
    graph = wg.trace(lambda a, b: a @ b, np.zeros((30, 40)), np.zeros((40, 50)))
    assert engine.profile(engine.plan(graph)).work() == 2 * 30 * 40 * 50


def test_limits_name_the_node_over_each_limit():
    def three_steps(x):
        return wg.sum(wg.exp(wg.sin(x) @ wg.broadcast_to(x, (N, N))))

    x = np.full(N, 1e-3)
    call = Call("Evaluate", wg.trace(three_steps, x), {"x": x})
    price = Engine().cost(call)
    with pytest.raises(LimitExceeded) as info:
        Engine(limits=Limits(work=price.work - 1)).run(Engine().prepare(call))
    assert (info.value.limit, info.value.op) == ("work", "sum")
    with pytest.raises(LimitExceeded) as info:
        Engine(limits=Limits(work=2 * N * N)).evaluate(call.graph, call.inputs)
    assert info.value.op == "matmul" and f"node '{info.value.node}' (matmul)" in str(info.value)
    with pytest.raises(LimitExceeded) as info:
        Engine(limits=Limits(memory=price.peak_bytes - 1)).evaluate(call.graph, call.inputs)
    assert info.value.requested == price.peak_bytes and info.value.flag == "Limits(memory=...)"
    with pytest.raises(LimitExceeded, match="response size limit exceeded: 8 bytes"):
        Engine(limits=Limits(response=7)).evaluate(call.graph, call.inputs)
    assert Engine(limits=Limits(memory=price.peak_bytes, work=price.work, response=8)).evaluate(
        call.graph, call.inputs)["y"] > 0


def test_building_graphs_for_a_request_spends_its_work_limit():
    """Recording a node while a request is prepared is priced at RECORD_WORK operations, so a
    derivative rule looping over an attribute cannot keep a request building for minutes. Past
    the budget the refusal names the node whose rule was recording."""
    def chain(x):
        for _ in range(300):
            x = wg.sin(x)
        return x

    x = np.full(3, 0.5)
    graph = wg.trace(chain, x)
    call = Call("Jvp", graph, {"x": x}, tangents={"x": np.ones(3)})
    engine = Engine(limits=Limits(work=2000 * RECORD_WORK))
    _, tangents = engine.run(engine.prepare(call))
    np.testing.assert_allclose(tangents["y"], Engine().jvp(graph, {"x": x}, {"x": np.ones(3)})[1]["y"])
    with pytest.raises(LimitExceeded) as info:  # the 300 primal nodes replayed, then the rules
        Engine(limits=Limits(work=400 * RECORD_WORK)).prepare(call)
    assert (info.value.limit, info.value.op, info.value.flag) == ("work", "sin", "Limits(work=...)")
    assert info.value.node in {node.id for node in graph.nodes}
    assert "building graphs for the request (over 400 nodes recorded" in str(info.value)
    with pytest.raises(LimitExceeded, match="building graphs"):
        wg.Client.local(limits=wg.Limits(work=100 * RECORD_WORK)).grad(lambda x: wg.sum(chain(x)), x)
    assert Engine().prepare(call)  # no limit, no budget


def test_a_local_client_prices_every_method_and_admits_within_its_limits():
    client = wg.Client.local(limits=wg.Limits(memory=1 << 20))
    f = lambda x: wg.sum(wg.sin(x) * x)  # noqa: E731
    x = np.ones(100)
    for kind in ("evaluate", "grad", "value_and_grad", "jacobian", "hessian", "trace"):
        quote = client.cost(f, x, kind=kind)
        assert quote.admitted and quote.peak_bytes > 0 and quote.work > 0, kind
    assert client.cost(f, (x,), (np.ones(100),), kind="hvp").admitted
    big = client.cost(f, np.ones(1_000_000), kind="grad")
    assert not big.admitted and "memory limit exceeded" in big.refusal
    with pytest.raises(LimitExceeded):
        client.grad(f, np.ones(1_000_000))
    with pytest.raises(wg.InvalidRequest, match="cannot price 'list_ops'"):
        client.cost(f, x, kind="list_ops")


# -- against reality ---------------------------------------------------------------------------
FACTOR = 1.5  # actual peak growth <= FACTOR * predicted + SLACK, and >= predicted / 4 when large
SLACK = 16 << 20  # the allocator's and the interpreter's own noise, in bytes

MEASURE = textwrap.dedent('''
    import ctypes, json, sys
    import numpy as np
    import wengert as wg
    from wengert.execution.call import Call
    from wengert.execution.cost import Limits
    from wengert.execution.engine import Engine
    from wengert.errors import LimitExceeded

    def hwm():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

    def reset():
        # freed memory glibc keeps (a dynamic mmap threshold moves large arrays onto the heap)
        # would be reused unseen: give it back, so the peak measures what a run needs
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def chain(x):
        return wg.sum(wg.sin(x) * x + wg.exp(-x * x))

    def layer(w, x):
        return wg.sum(wg.tanh(w @ x + 1.0) ** 2)

    def spread(x):
        return wg.sum(wg.broadcast_to(x, (64,) + x.shape) * wg.cos(x))

    cases = []
    for n in (250_000, 1_000_000, 4_000_000):
        x = np.linspace(-1, 1, n)
        cases += [("chain value", Call("Evaluate", wg.trace(chain, x), {"x": x})),
                  ("chain gradient", Call("Vjp", wg.trace(chain, x), {"x": x}, cotangents={"y": np.float64(1)})),
                  ("broadcast", Call("Evaluate", wg.trace(spread, x[: n // 16]), {"x": x[: n // 16]}))]
    for n in (300, 800, 1600):
        w, x = np.eye(n), np.ones((n, n))
        cases += [("layer gradient", Call("Vjp", wg.trace(layer, w, x), {"w": w, "x": x},
                                          cotangents={"y": np.float64(1)}))]
        v = np.linspace(-1, 1, n)
        cases += [("dense jacobian", Call("Jacobian", wg.trace(lambda v: wg.softmax(v) * wg.sin(v), v), {"v": v},
                                          mode="forward"))]
    results = []
    for name, call in cases:
        engine = Engine()
        prepared = engine.prepare(call)
        predicted = engine.cost(call).peak_bytes
        held = sum(a.nbytes for a in call.inputs.values())
        before = hwm()
        reset()
        before = hwm()
        prepared.run()
        results.append((name, predicted - held, hwm() - before))
        del prepared
    refused = Call("Evaluate", wg.trace(spread, np.ones(2_000_000)), {"x": np.ones(2_000_000)})
    reset()
    before = hwm()
    try:
        Engine(limits=Limits(memory=64 << 20)).evaluate(refused.graph, refused.inputs)
    except LimitExceeded:
        pass
    json.dump({"runs": results, "refused_growth": hwm() - before}, sys.stdout)
''')


@pytest.fixture(scope="module")
def measured():
    out = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_actual_peak_memory_stays_within_a_factor_of_the_prediction(measured):
    for name, predicted, actual in measured["runs"]:
        assert actual <= FACTOR * predicted + SLACK, (name, predicted, actual)
    largest = {}
    for name, predicted, actual in measured["runs"]:
        largest[name] = (predicted, actual)  # the last (largest) size of each kind
    for name, (predicted, actual) in largest.items():
        assert predicted >= 64 << 20, name  # large enough to measure
        assert actual >= predicted / 4, (name, predicted, actual)


def test_a_refused_request_allocates_nothing_large(measured):
    assert measured["refused_growth"] < 4 << 20
