"""Fuzzing a real server: no request, however malformed, gets INTERNAL or UNKNOWN, hangs, or
leaves the server unwell.

Two Hypothesis tests share one server started with small limits (FUZZ_FLAGS): random
well-formed requests of every RPC, built from the server's live op catalogue, and byte-level
and field-level mutations of such requests, sent as raw bytes (tests/fuzzing.py draws them
all). Every call has a deadline, and a DEADLINE_EXCEEDED fails the test: every graph is tiny,
so it is a hang. After each test the server must be SERVING, still answer the worked example
exactly, agree with the client on how many calls ended with which status (its Prometheus
metrics), and have logged no error.

CI sends about 3,000 messages. The long run sends 100,000 or more and prints its counts by RPC
and status code (-s shows them):

    WENGERT_FUZZ_MESSAGES=100000 python -m pytest -s tests/test_fuzz_service.py

Examples are derandomized (a fixed sequence, no example database), so every run, in CI or
not, sends the same messages.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wengert as wg
from conftest import worked_example
from fuzzing import Fuzzer, catalogue, cases, field_mutants, mutants, requests
from wengert.testing import free_port, start_server
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb

MESSAGES = int(os.environ.get("WENGERT_FUZZ_MESSAGES", "3000"))  # split between the two tests
PER_CASE = {"well_formed": 16, "mutated": 20}  # messages one example sends, about
DEADLINE = 20.0  # seconds; every graph is tiny and its work limited to about a second: a call this slow is a hang
# Small limits: they keep memory use and time small and put each limit's refusal among the answers.
FUZZ_FLAGS = ("--workers", "2", "--max-nodes", "40", "--max-tensor-elements", "4096", "--max-batch", "4",
              "--memory-budget-mb", "1", "--max-work", "1e9", "--max-message-mb", "4", "--cache-size", "64")
WORKED_VALUE, WORKED_GRADIENT = 11.652071455223084, (5.5, 1.7163378145367738)


@pytest.fixture(scope="module")
def fuzz_server():
    metrics_port = free_port()
    with start_server(*FUZZ_FLAGS, "--metrics-port", str(metrics_port)) as server:
        server.metrics_port = metrics_port
        yield server


@pytest.fixture(scope="module")
def fuzzer(fuzz_server):
    """One client for both tests, so its counts are the server's since start-up."""
    with fuzz_server.channel() as channel:
        fuzzer = Fuzzer(channel, DEADLINE)
        start = time.perf_counter()
        yield fuzzer
        print(f"\n{fuzzer.total()} messages in {time.perf_counter() - start:.0f} s\n{fuzzer.table()}")


@pytest.fixture(scope="module")
def ops(fuzzer):
    """The live catalogue, asked for through the fuzzer (so its counts include the call)."""
    _, (answer,) = fuzzer.send("ListOps", pb.ListOpsRequest().SerializeToString())
    return catalogue(answer)


def budget(test: str):
    """Settings for `test`: enough examples for its half of MESSAGES, in a fixed order."""
    return settings(max_examples=max(1, MESSAGES // 2 // PER_CASE[test]), derandomize=True, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))


def test_well_formed_requests_of_every_kind(fuzz_server, fuzzer, ops):
    @budget("well_formed")
    @given(st.data())
    def fuzz(data):
        fuzzer.exchange(data, data.draw(cases(ops)))

    fuzz()
    assert_healthy(fuzz_server, fuzzer)


def test_mutations_of_requests(fuzz_server, fuzzer, ops):
    """Each request drawn, once with its bytes mutated (most no longer parse) and once with
    fields changed (they parse, and reach the decoders and the engine)."""
    @budget("mutated")
    @given(st.data())
    def fuzz(data):
        for method, request, _ in data.draw(requests(data.draw(cases(ops)))):
            (payload,) = data.draw(mutants(request.SerializeToString(), 1))
            fuzzer.send(method, payload)
            (changed,) = data.draw(field_mutants(request, 1))
            fuzzer.send_message(method, changed)

    fuzz()
    assert_healthy(fuzz_server, fuzzer)


def assert_healthy(server, fuzzer: Fuzzer) -> None:
    """The server kept count of exactly what the client saw, logged no error, is SERVING and
    still computes the worked example (f(x1, x2) = ln x1 + x1 x2 - sin x2 at (2, 5))."""
    assert served_counts(server.metrics_port) == dict(fuzzer.counts)
    assert not re.search(r" ERROR |Traceback", server.log()), server.log()[-5000:]
    assert server.health() == "SERVING"
    graph = graph_to_proto(wg.trace(worked_example, 2.0, 5.0))
    inputs = {"x1": tensor_to_proto(np.float64(2.0)), "x2": tensor_to_proto(np.float64(5.0))}
    with server.channel() as channel:
        answer = server.stub(channel).Vjp(pb.VjpRequest(graph=graph, inputs=inputs,
                                                        cotangents={"y": tensor_to_proto(np.float64(1.0))}),
                                          timeout=DEADLINE)
    assert float(tensor_from_proto(answer.outputs["y"])) == pytest.approx(WORKED_VALUE, abs=1e-12)
    gradient = tuple(float(tensor_from_proto(answer.cotangents[name])) for name in ("x1", "x2"))
    assert gradient == pytest.approx(WORKED_GRADIENT, abs=1e-12)
    fuzzer.counts["Vjp", "OK"] += 1  # the server counted this call too


def served_counts(metrics_port: int) -> dict[tuple[str, str], int]:
    """(method, status) -> calls, from the server's Prometheus metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    pattern = r'^wengert_requests_total\{code="(\w+)",method="(\w+)"\} (\d+)\.0$'
    return {(method, code): int(n) for code, method, n in re.findall(pattern, text, re.MULTILINE)}
