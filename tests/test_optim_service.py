"""The Minimize RPC's server side (`wengert.server.calls`): request fields become the same
optimizer and loop an SDK user runs, and every `report_every`-th step becomes a message, the
final one always with the parameters. And the conversions both ends share (`wengert.optim.wire`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import wengert as wg
from wengert.optim import wire as optim_wire
from wengert.errors import Cancelled, InvalidRequest
from wengert.optim import SteepestDescent
from wengert.plugins.registry import default_registry
from wengert.server import calls
from wengert.server.limits import WireLimits
from wengert.transport.wire import tensor_from_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb

X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
Y = np.array([1.0, 2.9, 5.1, 7.0])
LEAST_SQUARES = wg.trace(lambda w, X, y: wg.mean((X @ w - y) ** 2), np.zeros(2), X, Y)


WIRE = WireLimits(max_nodes=100, max_inputs=10, max_tensor_elements=1000, max_batch=10,
                  max_string_length=100)


def run_minimize(engine, message: pb.MinimizeRequest, *, graph, graph_id, parameters, data, check=None):
    """What the servicer does with a Minimize request carrying `parameters` and `data`:
    decode, prepare (priced), run, encode."""
    full = pb.MinimizeRequest()
    full.CopyFrom(message)
    for field, arrays in (("parameters", parameters), ("data", data)):
        for name, array in arrays.items():
            getattr(full, field)[name].CopyFrom(tensor_to_proto(array))
    call = calls.decode("Minimize", full, graph, WIRE)
    return calls.encode("Minimize", full, graph_id, graph, call, engine.run(engine.prepare(call, check)))


def request(**fields) -> pb.MinimizeRequest:
    fields.setdefault("learning_rate", 0.1)
    fields.setdefault("stop", pb.StopRule(max_steps=25))
    return pb.MinimizeRequest(**fields)


def run(engine, message: pb.MinimizeRequest, check=None) -> list[pb.MinimizeResponse]:
    return list(run_minimize(engine, message, graph=LEAST_SQUARES, graph_id="id", check=check,
                             parameters={"w": np.zeros(2)}, data={"X": X, "y": Y}))


def params(response: pb.MinimizeResponse) -> dict[str, np.ndarray]:
    return {k: tensor_from_proto(v) for k, v in response.parameters.items()}


def test_reports_every_kth_step_and_ends_with_the_parameters(engine):
    responses = run(engine, request(report_every=10))
    assert [r.step for r in responses] == [0, 10, 20, 25]
    assert [r.stop_reason for r in responses] == [pb.STOP_REASON_NONE] * 3 + [pb.STOP_REASON_MAX_STEPS]
    assert [bool(r.parameters) for r in responses] == [False, False, False, True]
    assert all(r.graph_id == "id" for r in responses)
    assert responses[-1].loss < responses[0].loss


def test_report_parameters_puts_them_in_every_message(engine):
    responses = run(engine, request(report_parameters=True, stop=pb.StopRule(max_steps=3)))
    np.testing.assert_array_equal(params(responses[0])["w"], np.zeros(2))
    assert all(set(r.parameters) == {"w"} for r in responses)


def test_the_server_takes_the_same_steps_as_the_sdk(engine):
    message = request(norm=pb.Norm(name="linf"), learning_rate=0.01, momentum=0.5,
                      schedule=pb.Schedule(kind=pb.SCHEDULE_KIND_COSINE, steps=20),
                      report_parameters=True, stop=pb.StopRule(max_steps=20))
    served = run(engine, message)
    w = {"w": np.zeros(2)}
    opt = SteepestDescent(w, norm="linf", lr=0.01, momentum=0.5,
                          schedule=wg.optim.Schedule("cosine", steps=20))
    for response in served[:-1]:
        values, grads = engine.vjp(LEAST_SQUARES, {**w, "X": X, "y": Y}, {"y": 1.0}, wrt=["w"])
        assert response.loss == float(values["y"])
        np.testing.assert_array_equal(params(response)["w"], w["w"])
        opt.step(grads)
    np.testing.assert_array_equal(params(served[-1])["w"], w["w"])


def test_converging_ends_the_stream_early(engine):
    stop = pb.StopRule(max_steps=5000, gradient_tolerance=1e-8)
    responses = run(engine, request(learning_rate=0.05, stop=stop))
    assert responses[-1].stop_reason == pb.STOP_REASON_CONVERGED
    assert responses[-1].gradient_norm <= 1e-8
    np.testing.assert_allclose(params(responses[-1])["w"], np.linalg.lstsq(X, Y, rcond=None)[0],
                               atol=1e-7)


def test_parameter_norms_choose_the_product_norm(engine):
    norm = pb.Norm(parameter_norms={"w": "linf"})
    responses = run(engine, request(norm=norm, stop=pb.StopRule(max_steps=1)))
    grad = 2 * X.T @ (X @ np.zeros(2) - Y) / len(Y)
    np.testing.assert_allclose(params(responses[-1])["w"], -0.1 * np.abs(grad).sum() * np.sign(grad))


@pytest.mark.parametrize("fields, message", [
    ({"norm": pb.Norm(name="l3")}, "unknown norm 'l3'"),
    ({"norm": pb.Norm(name="l1", parameter_norms={"w": "l2"})},
     "parameter_norms need the product norm"),
    ({"learning_rate": 0.0}, "learning rate must be positive"),
    ({"stop": pb.StopRule(gradient_tolerance=1e-3)}, "set max_steps or max_seconds"),
    ({"schedule": pb.Schedule(kind=pb.SCHEDULE_KIND_EXPONENTIAL)}, r"decay must be in \(0, 1\]"),
    ({"loss": "z"}, "loss 'z' is not an output"),
])
def test_bad_requests_are_refused_before_the_stream_starts(engine, fields, message):
    with pytest.raises(InvalidRequest, match=message):
        run_minimize(engine, request(**fields), graph=LEAST_SQUARES, graph_id="id",
                     parameters={"w": np.zeros(2)}, data={"X": X, "y": Y})


def test_a_cancelled_call_stops_computing(engine):
    calls = []

    def check(node=None):
        calls.append(1)
        if len(calls) > 100:
            raise Cancelled("the client cancelled the call")

    responses = run_minimize(engine, request(stop=pb.StopRule(max_steps=10_000)), graph=LEAST_SQUARES,
                             graph_id="id", parameters={"w": np.zeros(2)}, data={"X": X, "y": Y},
                             check=check)
    with pytest.raises(Cancelled):
        for _ in responses:
            pass
    assert len(calls) == 101


# -- the settings and reports on the wire (wengert.optim.wire, shared by client and server) ------
@pytest.mark.parametrize("norm", ["l2", "spectral", {"W": "spectral", "b": "linf"}])
def test_norms_travel_by_name(norm):
    assert optim_wire.norm_from_proto(optim_wire.norm_to_proto(norm)) == norm


@pytest.mark.parametrize("schedule", [wg.optim.Schedule(), wg.optim.Schedule("exponential", decay=0.9),
                                      wg.optim.Schedule("cosine", steps=100)])
def test_schedules_and_stop_rules_round_trip(schedule):
    assert optim_wire.schedule_from_proto(optim_wire.schedule_to_proto(schedule))(7) == schedule(7)
    stop = wg.optim.Stop(max_steps=10, tolerance=1e-6, max_seconds=2.5)
    assert optim_wire.stop_from_proto(optim_wire.stop_to_proto(stop)) == stop


def test_what_cannot_travel_is_refused_on_the_client():
    l2 = default_registry().norm("l2")
    with pytest.raises(InvalidRequest, match="only names travel"):
        optim_wire.norm_to_proto({"w": l2})
    with pytest.raises(InvalidRequest, match="not a callable"):
        optim_wire.schedule_to_proto(lambda t: 1.0)


def test_a_report_round_trips_and_only_the_final_one_must_carry_parameters():
    progress = wg.optim.Progress(3, 0.5, 0.25, {"w": np.arange(3.0)}, "")
    report = optim_wire.progress_to_proto(progress, "id", with_parameters=False)
    assert optim_wire.progress_from_proto(report).params == {}
    final = dataclasses.replace(progress, reason="converged")
    back = optim_wire.progress_from_proto(optim_wire.progress_to_proto(final, "id", False))
    assert (back.step, back.loss, back.gradient_norm, back.reason) == (3, 0.5, 0.25, "converged")
    np.testing.assert_array_equal(back.params["w"], np.arange(3.0))


def test_a_stop_reason_from_a_newer_server_still_ends_the_run():
    assert optim_wire.progress_from_proto(pb.MinimizeResponse(stop_reason=99)).reason == "unknown (99)"
