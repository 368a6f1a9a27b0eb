"""Reverse mode through 100,000 steps with binomial checkpointing and 20 snapshots stays within
a stated bound, predicted by the resource model and checked against the peak resident memory a
subprocess actually adds (as tests/test_pricing.py measures): storing every state would take
400 MB; revolve keeps at most 21 states of 4 KB. Storing every state of a shorter loop shows the
measurement sees what the prediction says."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

STEPS, WIDTH = 100_000, 500  # a state of 500 float64: 4,000 bytes
STATE = 8 * WIDTH
BOUND = 30 * STATE  # the stated bound on the predicted peak: 21 states, the bodies' temporaries, the result
FACTOR, SLACK = 1.5, 16 << 20  # actual growth <= FACTOR * predicted + SLACK (tests/test_pricing.py's)

MEASURE = textwrap.dedent(f'''
    import json, sys
    import numpy as np
    import wengert as wg
    from wengert.execution.call import Call
    from wengert.execution.engine import Engine
    from wengert.loops.checkpointing import Checkpoint

    def hwm():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

    def reset():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def loop(steps):
        def f(x0, a):
            c, _ = wg.scan(lambda c, _: (c + 0.001 * wg.sin(a * c), None), x0, None, length=steps)
            return wg.sum(c)
        return f

    x0, a = np.linspace(0, 1, {WIDTH}), np.float64(1.3)
    results = {{}}
    for name, steps, policy in (("binomial", {STEPS}, Checkpoint("binomial", snapshots=20)),
                                ("all, 100,000 steps", {STEPS}, Checkpoint("all")),
                                ("all, 20,000 steps", 20_000, Checkpoint("all"))):
        engine = Engine()
        call = Call("Vjp", wg.trace(loop(steps), x0, a), {{"x0": x0, "a": a}},
                    cotangents={{"y": np.float64(1)}}, checkpoint=policy)
        predicted = engine.cost(call).peak_bytes - x0.nbytes
        actual = None
        if name != "all, 100,000 steps":  # priced only: it would take 400 MB
            prepared = engine.prepare(call)
            reset()
            before = hwm()
            gradient = prepared.run()[1]["x0"]
            actual = hwm() - before
            assert np.isfinite(gradient).all()
        results[name] = (predicted, actual)
    json.dump(results, sys.stdout)
''')


@pytest.fixture(scope="module")
def measured():
    out = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_binomial_checkpointing_through_100000_steps_stays_within_its_bound(measured):
    predicted, actual = measured["binomial"]
    assert predicted <= BOUND, predicted
    assert actual <= FACTOR * predicted + SLACK, (predicted, actual)
    everything, _ = measured["all, 100,000 steps"]
    assert everything >= STEPS * STATE > 1000 * predicted  # what storing every state would have taken


def test_storing_every_state_grows_as_predicted(measured):
    predicted, actual = measured["all, 20,000 steps"]
    assert predicted >= 20_000 * STATE
    assert predicted / 4 <= actual <= FACTOR * predicted + SLACK, (predicted, actual)
