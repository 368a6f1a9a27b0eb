"""`client.minimize`: a least-squares fit and an XOR network trained through a real server (and
in-process for `Client.local()`), the same steps both ways, a progress line, and an early stop
that cancels the call and keeps the newest parameters."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidRequest
from wengert.optim import Stop

X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
Y = np.array([1.0, 2.9, 5.1, 7.0])
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def mean_squared_error(params, data):
    return wg.mean((data["X"] @ params["w"] - data["y"]) ** 2)


def predict(params, X):
    return wg.sigmoid(wg.tanh(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"])


def xor_loss(params, data):
    X, Y = data
    return wg.mean((predict(params, X) - Y) ** 2)


def xor_start() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"W1": rng.standard_normal((2, 8)), "b1": np.zeros(8), "W2": rng.standard_normal(8),
            "b2": np.zeros(())}


@pytest.fixture(scope="module")
def remote(server):
    with wg.Client(server.target, timeout=60) as client:
        yield client


@pytest.fixture(params=["local", "remote"])
def client(request):
    return wg.Client.local() if request.param == "local" else request.getfixturevalue("remote")


def test_a_least_squares_fit(client):
    start = {"w": np.zeros(2)}
    result = client.minimize(mean_squared_error, start, {"X": X, "y": Y}, lr=0.05,
                             stop=Stop(max_steps=5000, tolerance=1e-9))
    assert result.reason == "converged" and result.gradient_norm <= 1e-9
    np.testing.assert_allclose(result.params["w"], np.linalg.lstsq(X, Y, rcond=None)[0], atol=1e-8)
    np.testing.assert_array_equal(start["w"], np.zeros(2))  # the caller's arrays are not touched


def test_an_mlp_learns_xor_under_spectral_and_sign_norms(client):
    norm = {"W1": "spectral", "W2": "spectral", "b1": "linf", "b2": "linf"}
    result = client.minimize(xor_loss, xor_start(), (XOR_X, XOR_Y), norm=norm, lr=0.5,
                             momentum=0.9, stop=Stop(max_steps=2000, tolerance=1e-4))
    assert result.reason == "converged" and result.loss < 1e-3
    assert sorted(result.params) == ["W1", "W2", "b1", "b2"]  # the structure given
    predictions = wg.Client.local().evaluate(predict, result.params, XOR_X)
    np.testing.assert_array_equal(predictions > 0.5, XOR_Y > 0.5)


def test_parameters_of_any_structure_and_a_graph_by_input_names(client):
    @wg.tree.register_dataclass
    @dataclasses.dataclass
    class Line:
        slope: np.ndarray
        offset: np.ndarray

    def line_loss(line, data):
        X, y = data
        return wg.mean((X[:, 1] * line.slope + line.offset - y) ** 2)

    fit = client.minimize(line_loss, Line(np.zeros(()), np.zeros(())), (X, Y), lr=0.05,
                          norm={"slope": "linf"}, stop=Stop(max_steps=5000, tolerance=1e-9))
    expected = np.linalg.lstsq(X, Y, rcond=None)[0]
    assert isinstance(fit.params, Line)
    np.testing.assert_allclose([fit.params.offset, fit.params.slope], expected, atol=1e-6)
    graph = wg.trace(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y})
    assert graph.input_names == ("params/w", "data/X", "data/y")
    by_name = client.minimize(graph, {"params/w": np.zeros(2)}, {"data/X": X, "data/y": Y}, lr=0.05,
                              stop=Stop(max_steps=5000, tolerance=1e-9))
    np.testing.assert_allclose(by_name.params["params/w"], expected, atol=1e-8)
    with pytest.raises(InvalidRequest, match="norm given for 'w3', which is not a parameter"):
        client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, norm={"w3": "l1"},
                        stop=Stop(max_steps=3))


def test_the_server_and_the_sdk_take_the_same_steps(remote):
    settings = dict(norm="spectral", lr=0.5, momentum=0.9, stop=Stop(max_steps=40),
                    schedule=wg.optim.Schedule("cosine", steps=40))
    served = remote.minimize(xor_loss, xor_start(), (XOR_X, XOR_Y), **settings)
    params = dict(sorted(xor_start().items()))  # a pytree's order: its dict keys sorted
    opt = wg.optim.SteepestDescent(params, norm="spectral", lr=0.5, momentum=0.9,
                                   schedule=wg.optim.Schedule("cosine", steps=40))
    for _ in range(40):
        opt.step(wg.Client.local().grad(xor_loss, params, (XOR_X, XOR_Y)))
    assert served.step == 40 and served.reason == "max_steps"
    for k in params:
        np.testing.assert_array_equal(served.params[k], params[k])


def test_stopping_early_cancels_and_keeps_the_newest_parameters(client):
    seen = []

    def callback(report):
        seen.append(report)
        return report.step >= 30

    result = client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, lr=1e-4,
                             stop=Stop(max_steps=100_000), report_every=10, callback=callback)
    assert result.reason == "cancelled" and result.step == 30
    assert [r.step for r in seen] == [0, 10, 20, 30]
    np.testing.assert_array_equal(result.params["w"], seen[-1].params["w"])
    assert client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, lr=0.05,
                           stop=Stop(max_steps=3)).reason == "max_steps"  # the client still works


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_a_cancelled_run_stops_computing_on_the_server(remote, server):
    def cpu_seconds() -> float:
        fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    result = remote.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, lr=1e-6,
                             stop=Stop(max_steps=10**8), report_every=500,
                             callback=lambda report: report.step >= 1000)
    assert result.reason == "cancelled"
    before = cpu_seconds()
    time.sleep(1.0)
    assert cpu_seconds() - before < 0.3  # a run still going would use the whole second


def test_ctrl_c_returns_the_newest_parameters(client):
    def interrupt(report):
        if report.step == 20:
            raise KeyboardInterrupt

    result = client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, lr=1e-4,
                             stop=Stop(max_steps=100_000), report_every=10, callback=interrupt)
    assert result.reason == "cancelled" and result.step == 20


def test_the_progress_line_goes_to_stderr(client, capsys):
    client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y}, lr=0.05,
                    stop=Stop(max_steps=20), report_every=10, progress=True)
    err = capsys.readouterr().err
    assert [line.split()[:2] for line in err.strip().split("\r")] == [
        ["step", "0"], ["step", "10"], ["step", "20"]]
    assert err.endswith("max_steps\n")


@pytest.mark.parametrize("settings, message", [
    ({"norm": "l3"}, "unknown norm 'l3'"),
    ({"lr": -1.0}, "learning rate must be positive"),
    ({"loss": "z"}, "loss 'z' is not an output"),
])
def test_bad_settings_raise_the_same_typed_error_both_ways(client, settings, message):
    with pytest.raises(InvalidRequest, match=message):
        client.minimize(mean_squared_error, {"w": np.zeros(2)}, {"X": X, "y": Y},
                        stop=Stop(max_steps=3), **settings)
