"""The example plugin, pip-installed as a team would install theirs, end to end: `wengert
plugins` lists it, `wengert check-plugin` and its own tests pass, and a server started
afterwards lists it (name, version, op versions) and evaluates and differentiates its ops
through every RPC, Hessians included."""

from __future__ import annotations

import importlib
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_fixtures.cli import pythonpath, run_wengert
from plugin_fixtures.example_site import EXAMPLE, install_example
from wengert.testing import start_server

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.registry import Registry
from wengert.v1 import service_pb2

PLUGIN, VERSION = "example-ops", "0.1.0"
OPS = ["erf", "expm", "gelu", "huber", "swish"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example plugin as `pip install` leaves it (`plugin_fixtures.example_site`)."""
    return install_example(tmp_path_factory.mktemp("example-plugin"))


@pytest.fixture(scope="module")
def installed(site):
    """The example plugin's module and a registry that found it through its entry point."""
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module("wengert_example_ops"), Registry.load()
    finally:
        sys.path.remove(str(site))
        for module in [m for m in sys.modules if m.split(".")[0] == "wengert_example_ops"]:
            del sys.modules[module]


@pytest.fixture(scope="module")
def server(site):
    with start_server(pythonpath=(str(site),)) as running:
        yield running


def test_plugins_lists_it_by_entry_point_name_with_version_and_ops(site):
    result = run_wengert("plugins", folders=(site,))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index(f"{PLUGIN} {VERSION}: 5 op(s)")
    assert lines[at + 1].split() == OPS


def test_disabling_it_by_flag_or_environment_leaves_it_out(site):
    for result in (run_wengert("plugins", "--disable-plugins", PLUGIN, folders=(site,)),
                   run_wengert("plugins", folders=(site,), env={"WENGERT_DISABLE_PLUGINS": PLUGIN})):
        assert result.returncode == 0, result.stderr
        assert PLUGIN not in result.stdout and result.stdout.startswith("builtin ")


def test_check_plugin_passes_every_op_to_second_order(site):
    result = run_wengert("check-plugin", PLUGIN, "--seed", "7", folders=(site,))
    assert result.returncode == 0, result.stdout + result.stderr
    for op in OPS:
        assert re.search(rf"^ok +{op} \({PLUGIN}\): [1-9]\d* example\(s\)$", result.stdout, re.M), result.stdout
    assert "note:" not in result.stdout
    assert result.stdout.splitlines()[-1] == f"{PLUGIN}: all 5 passed"


def test_the_plugins_own_tests_pass_once_installed(site, tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(EXAMPLE / "tests")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": pythonpath(site)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_list_ops_names_the_plugin_its_version_and_each_ops_version(server):
    response = server.stub().ListOps(service_pb2.ListOpsRequest(), timeout=10)
    (plugin,) = [p for p in response.plugins if p.name == PLUGIN]
    assert plugin.loaded and plugin.version == VERSION and sorted(plugin.ops) == OPS
    ops = {op.name: op for op in response.ops}
    for name in OPS:
        assert (ops[name].plugin, ops[name].plugin_version, ops[name].op_version) == (PLUGIN, VERSION, "1")
        assert ops[name].arity == 1 and ops[name].has_jvp and ops[name].has_vjp and ops[name].doc
    (delta,) = ops["huber"].attrs
    assert (delta.name, delta.kind, delta.required, delta.default_value.f) == (
        "delta", service_pb2.ATTR_KIND_FLOAT, False, 1.0)


def test_ops_evaluate_and_differentiate_through_every_rpc(server, installed):
    ex, registry = installed
    x = np.array([-2.5, -0.3, 0.0, 0.8, 1.7])
    t = 0.6
    a = t * np.array([[0.0, 1.0], [-1.0, 0.0]])  # expm(a) is the rotation by angle t
    rotation = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    graph = wg.trace(lambda x, a: {"act": ex.swish(x) + ex.huber(x, delta=0.5) + ex.gelu(x) + ex.erf(x),
                                   "rot": ex.expm(a)}, x, a, registry=registry)
    sigmoid = 1 / (1 + np.exp(-x))
    normal_pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    normal_cdf = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    slope = (sigmoid * (1 + x * (1 - sigmoid)) + np.clip(x, -0.5, 0.5)
             + normal_cdf + x * normal_pdf + 2 / math.sqrt(math.pi) * np.exp(-x * x))

    with wg.Client(server.target, timeout=60) as client:
        values = client.evaluate(graph, x, a)
        assert np.allclose(values["rot"], rotation)
        _, tangents = client.jvp(graph, (x, a), (np.ones_like(x), a))
        assert np.allclose(tangents["act"], slope)
        assert np.allclose(tangents["rot"], a @ rotation)  # d/ds expm(a + s a) = a expm(a)
        _, cotangents = client.vjp(graph, (x, a), {"act": np.ones_like(x)}, argnums=(0, 1))
        assert np.allclose(cotangents[0], slope) and np.allclose(cotangents[1], 0)
        forward = client.jacobian(graph, x, a, argnums=(0, 1), mode="forward")
        reverse = client.jacobian(graph, x, a, argnums=(0, 1), mode="reverse")
        trace = client.trace(graph, x, a, tangents=(np.ones_like(x), a))
    for out in ("act", "rot"):
        for i in (0, 1):
            assert np.allclose(forward[out][i], reverse[out][i])
    assert np.allclose(forward["act"][0], np.diag(slope))
    assert np.allclose(np.tensordot(forward["rot"][1], a, axes=2), a @ rotation)
    assert {"swish", "huber", "gelu", "erf", "expm"} <= {row.op for row in trace.rows}


def test_a_hessian_through_plugin_ops_on_the_server(server, installed):
    """The gradient graph of sum(gelu(x)) is itself sent and differentiated: gelu'' = phi (2 - x^2)."""
    ex, registry = installed
    x = np.array([-1.5, 0.2, 0.9])
    graph = wg.trace(lambda x: wg.sum(ex.gelu(x)), x, registry=registry)
    gradient_graph = Engine(registry).derivative_graph(graph, "vjp")
    with wg.Client(server.target, timeout=60) as client:
        hessian = client.jacobian(gradient_graph, {"x": x, "cotangent:y": 1.0},
                                  wrt="x", outputs="cotangent:x", mode="reverse")
    normal_pdf = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    assert np.allclose(hessian, np.diag(normal_pdf * (2 - x * x)))
