"""32 client threads x 50 mixed requests against one server: every answer exactly equals the
in-process engine's, and none fails; in both execution modes (compute workers, and in-thread),
which give the same bytes for every request."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import wengert as wg
from conftest import worked_example
from wengert.testing import start_server
from wengert.execution.engine import Engine
from wengert.plugins.registry import default_registry
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_digest, graph_to_proto, tensor_from_proto, tensor_to_proto

THREADS, CALLS = 32, 50


def layer(x, w, b):
    return wg.sum(wg.tanh(w @ x + b) ** 2)


def cases(engine: Engine) -> list[tuple[str, object, object]]:
    """(method, request, check(response)) for a spread of RPCs, graphs and points."""
    rng = np.random.default_rng(7)
    worked = wg.trace(worked_example, 2.0, 5.0)
    dense = wg.trace(layer, np.zeros(5), np.zeros((4, 5)), np.zeros(4))
    out = []
    for k in range(8):
        x1, x2 = rng.uniform(0.5, 3.0, size=2)
        point = {"x1": np.float64(x1), "x2": np.float64(x2)}
        dense_point = {"x": rng.standard_normal(5), "w": rng.standard_normal((4, 5)), "b": rng.standard_normal(4)}
        for graph, at in ((worked, point), (dense, dense_point)):
            ref = {"graph": graph_to_proto(graph)} if k % 2 else {"graph_id": graph_digest(graph)}
            inputs = {n: tensor_to_proto(v) for n, v in at.items()}
            seeds = {n: rng.standard_normal(np.shape(v)) for n, v in at.items()}
            values = engine.evaluate(graph, at)
            out.append(("Evaluate", pb.EvaluateRequest(**ref, inputs=inputs), {"outputs": values}))
            _, tangents = engine.jvp(graph, at, seeds)
            out.append(("Jvp", pb.JvpRequest(**ref, inputs=inputs, tangents=_tensors(seeds)),
                        {"outputs": values, "tangents": tangents}))
            _, grads = engine.vjp(graph, at, {"y": 1.5})
            out.append(("Vjp", pb.VjpRequest(**ref, inputs=inputs, cotangents=_tensors({"y": np.float64(1.5)})),
                        {"outputs": values, "cotangents": grads}))
            jac = engine.jacobian(graph, at, mode="forward")
            out.append(("Jacobian", pb.JacobianRequest(**ref, inputs=inputs, mode=pb.MODE_FORWARD),
                        {"outputs": values, "blocks": {f"{o}/{i}": v for (o, i), v in jac.blocks.items()}}))
            rows = engine.trace(graph, at, mode="reverse")
            out.append(("Trace", pb.TraceRequest(**ref, inputs=inputs, mode=pb.TRACE_MODE_REVERSE),
                        {"rows": {r.label: (r.value, r.derivative) for r in rows}}))
    return out


def _tensors(arrays: dict) -> dict:
    return {n: tensor_to_proto(np.asarray(v)) for n, v in arrays.items()}


def received(method: str, response) -> dict:
    """The response's arrays in the shape `cases` stores expectations in."""
    got = {}
    for field in ("outputs", "tangents", "cotangents"):
        if hasattr(response, field):
            got[field] = {n: tensor_from_proto(t) for n, t in getattr(response, field).items()}
    if method == "Jacobian":
        got["blocks"] = {f"{b.output}/{b.input}": tensor_from_proto(b.jacobian) for b in response.blocks}
    if method == "Trace":
        got = {"rows": {r.label: (tensor_from_proto(r.value),
                                  tensor_from_proto(r.adjoint) if r.HasField("adjoint") else None)
                        for r in response.rows}}
    return got


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b))
    return np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)


# Room for all 32 threads at once: this is about answers under concurrency, not admission.
ROOMY = ("--max-queue", "64", "--max-calls-per-client", "64")


@pytest.fixture(scope="module", params=["pool", "in-thread"])
def stub(request):
    flags = ROOMY + (("--compute-workers", "0") if request.param == "in-thread" else ())
    with start_server(*flags) as server, server.channel() as channel:
        yield server.stub(channel)


def test_both_execution_modes_answer_with_the_same_bytes():
    table = cases(Engine(default_registry()))
    answers = []
    for flags in (("--compute-workers", "2"), ("--compute-workers", "0")):
        with start_server(*flags) as server, server.channel() as channel:
            stub = server.stub(channel)
            answers.append([getattr(stub, method)(request, timeout=60).SerializeToString(deterministic=True)
                            for method, request, _ in table if request.HasField("graph")])
    assert answers[0] == answers[1]


def test_concurrent_mixed_requests_all_match_the_engine(stub):
    table = cases(Engine(default_registry()))
    for method, request, _ in table:  # let the server learn the graphs the id-only cases name
        if request.HasField("graph"):
            getattr(stub, method)(request)

    def client(seed: int) -> list[str]:
        picks = random.Random(seed).choices(table, k=CALLS)
        return [method for method, request, expected in picks
                if not same(received(method, getattr(stub, method)(request, timeout=60)), expected)]

    with ThreadPoolExecutor(THREADS) as pool:
        mismatches = [m for found in pool.map(client, range(THREADS)) for m in found]
    assert mismatches == []
