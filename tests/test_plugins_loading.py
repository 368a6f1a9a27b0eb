"""Loading and checking plugins from the command line, with the fixture plugins of
`tests/plugin_fixtures` (each broken in one way) loaded by module name with `--plugins`.

A broken plugin stops `wengert serve` with one line naming the plugin and the problem, or is
skipped and reported as not loaded when asked; the SDK, which loads plugins by the same function,
always skips it, so it costs only its own ops. `wengert check-plugin` names every planted
mistake; `verify_registry` (behind `wengert serve`'s verification) drops the ops that fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
from plugin_fixtures.cli import FIXTURES, pythonpath, run_wengert
from wengert.testing import start_server

from wengert.errors import PluginError, UnknownOp
from wengert.plugins.checker import verify_registry
from wengert.plugins.registry import Registry, load_plugins
from wengert.v1 import service_pb2

# fixture module -> what the error must say about it
BROKEN = {
    "broken_import": "failed to import: ModuleNotFoundError: No module named 'wengert_no_such_dependency'",
    "duplicate_op": "op 'sin' is provided by both plugin 'builtin' and plugin 'duplicate_op'",
    "malformed_record": "record #0 is a dict",
    "misspelt_hook": "unknown hook 'wengert_op'",
}


@pytest.mark.parametrize("module", BROKEN)
def test_a_broken_plugin_stops_the_server_with_one_line_naming_it(module):
    result = run_wengert("serve", "--host", "127.0.0.1", "--port", "0", "--plugins", module, timeout=60)
    assert result.returncode != 0
    assert f"plugin {module!r}" in result.stderr and BROKEN[module] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_a_running_server_reports_skipped_plugins_as_not_loaded():
    with start_server("--plugins", ",".join(BROKEN), "--skip-broken-plugins",
                      pythonpath=(str(FIXTURES),)) as server:
        response = server.stub().ListOps(service_pb2.ListOpsRequest(), timeout=10)
    plugins = {p.name: p for p in response.plugins}
    for module, message in BROKEN.items():
        assert not plugins[module].loaded and not plugins[module].ops
        assert message in plugins[module].error
    assert plugins["builtin"].loaded
    assert {op.name: op.plugin for op in response.ops}["sin"] == "builtin"


def test_a_skipped_plugin_costs_only_its_own_ops_and_is_named_when_one_is_asked_for(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    with pytest.raises(PluginError, match=BROKEN["broken_import"]):
        load_plugins("broken_import,planted_mistakes", skip_broken=False)
    registry = load_plugins("broken_import,planted_mistakes", skip_broken=True)
    assert "sin" in registry and "good_cube" in registry
    with pytest.raises(UnknownOp) as caught:
        registry.get("acme_softsign")
    assert str(caught.value) == (
        "unknown op 'acme_softsign': no loaded plugin provides it; plugins that failed to load, and may "
        f"provide it: plugin 'broken_import' {BROKEN['broken_import']}")


SDK_SESSION = """
import sys
import numpy as np
import wengert as wg

print(wg.Client.local().grad(wg.sin, 0.5))
with wg.Client(sys.argv[1], timeout=30) as client:
    print(client.grad(wg.sin, 0.5))
try:
    wg.trace(lambda x: wg.op("acme_softsign", x), 1.0)
except wg.UnknownOp as exc:
    print(exc)
"""


def test_with_a_broken_plugin_installed_the_sdk_and_a_skipping_server_keep_working(tmp_path):
    """`acme` is installed (an entry point of an installed distribution) and fails to import."""
    dist_info = tmp_path / "acme_ops-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ops\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[wengert.plugins]\nacme = broken_import\n")
    env = {**os.environ, "PYTHONPATH": pythonpath(tmp_path)}
    refused = run_wengert("serve", "--port", "0", folders=(tmp_path,), timeout=60)
    assert refused.returncode == 1 and "plugin 'acme' failed to import" in refused.stderr
    with start_server("--skip-broken-plugins", pythonpath=(str(tmp_path), str(FIXTURES))) as server:
        session = subprocess.run([sys.executable, "-c", textwrap.dedent(SDK_SESSION), server.target],
                                 capture_output=True, text=True, env=env, timeout=120)
    assert session.returncode == 0, session.stderr
    local, remote, unknown = session.stdout.splitlines()
    assert float(local) == pytest.approx(0.8775825618903728) and float(remote) == pytest.approx(float(local))
    assert unknown == ("node 'v1' (acme_softsign): unknown op 'acme_softsign': no loaded plugin provides it; "
                       "plugins that failed to load, and may provide it: plugin 'acme' failed to import: "
                       "ModuleNotFoundError: No module named 'wengert_no_such_dependency'")
    assert "skipping broken plugin acme (its ops are not available): plugin 'acme' failed to import" in session.stderr


def test_plugins_lists_a_broken_plugin_as_not_loaded_only_when_skipping():
    failed = run_wengert("plugins", "--plugins", "broken_import")
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"wengert: error: plugin 'broken_import' {BROKEN['broken_import']}")

    skipped = run_wengert("plugins", env={"WENGERT_PLUGINS": "broken_import", "WENGERT_SKIP_BROKEN_PLUGINS": "1"})
    assert skipped.returncode == 0, skipped.stderr
    lines = skipped.stdout.splitlines()
    at = lines.index("broken_import (no version): NOT LOADED")
    assert BROKEN["broken_import"] in lines[at + 1]
    assert re.match(r"builtin \S+: \d+ op\(s\)", lines[0])


def test_plugins_honours_disable_plugins():
    result = run_wengert("plugins", "--plugins", "depends_on_planted", "--disable-plugins", "builtin")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["depends_on_planted (no version): 1 op(s)", "    cos_via_planted"]


def test_check_plugin_names_each_planted_mistake_with_its_inputs_and_error():
    result = run_wengert("check-plugin", "planted_mistakes", "--plugins", "planted_mistakes")
    assert result.returncode == 1
    reports = _reports(result.stdout)
    assert reports["good_cube"][0].startswith("ok   good_cube (planted_mistakes)")
    expected = {
        "wrong_sign_vjp": r"VJP vs JVP dot product .* \[float64, inputs \(4,\)\]: worst error \d",
        "missing_term_jvp": r"JVP vs finite differences \[float64, inputs \(3, 4\), \(4,\)\]: worst error \d",
        "wrong_shape_rule_result": r"\[float64, inputs \(3, 4\)\]: vjp rule for input 0 returned shape \(\), "
                                   r"which does not sum down to the input's shape \(3, 4\)",
        "shape_rule_disagrees": r"\[float64, inputs \(4,\)\]: forward gave float64\[4\], "
                                r"shape rule says float64\[4,1\]",
    }
    for op, line in expected.items():
        head, *failures = reports[op]
        assert head.startswith(f"FAIL {op} (planted_mistakes)")
        assert any(re.search(line, f) for f in failures), "\n".join(reports[op])
    assert result.stdout.splitlines()[-1] == (
        "planted_mistakes: 4 of 5 FAILED: wrong_sign_vjp, missing_term_jvp, "
        "wrong_shape_rule_result, shape_rule_disagrees")


def test_check_plugin_of_an_unknown_plugin_says_which_exist():
    result = run_wengert("check-plugin", "no_such_plugin")
    assert result.returncode == 2
    assert "no plugin named 'no_such_plugin' (plugins: builtin" in result.stderr


def test_verify_registry_drops_failing_ops_then_the_ops_their_removal_breaks(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    registry = Registry.load(modules=["planted_mistakes", "depends_on_planted"])
    fixtures = [op.name for op in registry if op.plugin != "builtin"]  # the builtin ops are taken as verified
    verified, reports = verify_registry(registry, fixtures, dtypes=("float64",), second_order=False)
    by_op = {r.op: r for r in reports}
    assert sorted(by_op) == sorted(fixtures)
    dropped = set(registry.names()) - set(verified.names())
    planted = {"wrong_sign_vjp", "missing_term_jvp", "wrong_shape_rule_result", "shape_rule_disagrees"}
    assert dropped == planted | {"cos_via_planted"}
    assert "good_cube" in verified and by_op["good_cube"].passed
    assert by_op["cos_via_planted"].uses >= {"cos_via_planted", "wrong_sign_vjp"}
    assert "unknown op 'wrong_sign_vjp'" in by_op["cos_via_planted"].text()
    assert all(not by_op[name].passed for name in dropped)


def _reports(stdout: str) -> dict[str, list[str]]:
    """`check-plugin` output split into each op's report: op -> [head line, failure lines...]."""
    reports: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        head = re.match(r"(ok  |FAIL|skip) (\S+) ", line)
        if head:
            reports[head.group(2)] = [line]
        elif line.startswith("     ") and reports:
            reports[list(reports)[-1]].append(line.strip())
    return reports
