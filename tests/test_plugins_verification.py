"""Verified serving: `wengert serve` serves only ops that pass the derivative checker, by default.

The fixture plugin `wrong_answers` holds one op for each mistake that once reached clients as a
wrong answer; each must be refused by a default server and by `wengert check-plugin`, while its
right ops are served. Verdicts are cached on disk: a restart checks nothing again, a changed
plugin is checked again (and the plugins whose checks used its ops), and a broken cache costs a
verification, never a start. `--no-verify-plugins` serves everything and says so.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sys

import numpy as np
import pytest
from plugin_fixtures import wrong_answers
from plugin_fixtures.cli import FIXTURES, run_wengert
from wengert.testing import start_server

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.checker import check_op, op_examples
from wengert.plugins.opdef import Attr, OpDef, ShapeError
from wengert.plugins.registry import Registry, default_registry
from wengert.plugins.shapes import floating, require_float
from wengert.plugins.verification import verify_plugins
from wengert.v1 import service_pb2

FAULTS = wrong_answers.REFUSED_BY
FIXTURE_PATH = (str(FIXTURES),)


@pytest.fixture(scope="module")
def fixture_registry():
    """The builtin ops and `wrong_answers`, loaded by module name as `--plugins` loads it."""
    sys.path.insert(0, str(FIXTURES))
    try:
        yield Registry.load(modules=["wrong_answers"])
    finally:
        sys.path.remove(str(FIXTURES))


@pytest.fixture
def cache(tmp_path, verification_cache):
    """A cache folder of this test's own that holds the builtin plugin's verdicts only."""
    verify_plugins(default_registry(), verification_cache)  # checks only on the session's first call
    folder = tmp_path / "cache"
    folder.mkdir()
    for entry in verification_cache.glob("builtin-*.json"):
        shutil.copy(entry, folder)
    return folder


# -- the checker ------------------------------------------------------------------------------
def _square_matrix(a, **attrs):
    require_float(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"needs a square matrix, got shape {a.shape}")
    return wg.TensorType(a.dtype, ())


def _never(a, **attrs):
    raise ShapeError("no input will do")


EYE_LIKE = OpDef("eye_like", lambda a: np.eye(a.shape[0], dtype=a.dtype), lambda a: a, jvp=(None,), vjp=(None,),
                 examples=lambda rng: [wg.Example((rng.standard_normal((3, 3)),))])
TRACE = OpDef("my_trace", np.trace, _square_matrix,  # no examples
              jvp=(lambda a_dot, ans, a: wg.sum(a_dot * wg.op("eye_like", a)),),
              vjp=(lambda g, ans, a: g * wg.op("eye_like", a),))


def test_an_op_without_examples_is_checked_on_the_shapes_its_shape_rule_accepts():
    assert [tuple(a.shape for a in e.inputs) for e in op_examples(TRACE, np.random.default_rng(0))] == [((3, 3),)]
    report = check_op(TRACE, default_registry().with_ops([EYE_LIKE]))
    assert report.passed and report.examples == 1, report.text()


@pytest.mark.parametrize("changes, why", [
    ({"infer": _never}, "its shape rule accepts none of the float64 inputs the checker tries (shapes (); (4,); "),
    ({"attrs": (Attr("offset", "int"),)}, "cannot generate inputs for an op with required attribute(s) 'offset'"),
    ({"examples": lambda rng: []}, "its `examples` returned none, so nothing was checked"),
], ids=["shape-rule", "required-attribute", "no-examples"])
def test_an_op_nothing_can_be_generated_for_fails_and_says_to_add_examples(changes, why):
    report = check_op(dataclasses.replace(TRACE, **changes), default_registry().with_ops([EYE_LIKE]))
    assert not report.passed and report.examples == 0
    failure = report.text().splitlines()[1]
    assert failure.startswith("     examples: ") and why in failure, report.text()
    assert "give it" in report.text()


@pytest.mark.parametrize("name", FAULTS)
def test_the_checker_refuses_each_planted_fault(fixture_registry, name):
    report = check_op(name, fixture_registry)
    assert not report.passed
    assert any(str(f).startswith(FAULTS[name]) for f in report.failures), report.text()


def test_second_order_needs_rules_for_every_op_the_rules_use(fixture_registry):
    refused = check_op("slope_without_rules", fixture_registry)
    assert ("second order: an op the rules use has no rules [float64, inputs (4,)]: node 'v2' (softsign_slope): "
            "op has no forward-mode (JVP) derivative rule; Hessians through slope_without_rules would fail at "
            "request time") in refused.text()
    helper = check_op("softsign_slope", fixture_registry)  # no rules at all: refused at request time
    assert helper.passed and helper.notes == [
        "no derivative rules: derivatives through it are refused (UNIMPLEMENTED)"]
    assert check_op("softsign", fixture_registry).passed


def test_a_check_records_the_ops_it_used(fixture_registry):
    assert check_op("softsign", fixture_registry).uses >= {"softsign", "abs", "div", "mul"}
    assert "dot_across_batch" in check_op("one_direction_jvp", fixture_registry).uses


def test_the_checker_runs_the_forward_on_integer_and_bool_inputs_too():
    """np.reciprocal keeps integers (1 // x), and NumPy computes bools in float16: a rule that
    promises float64 for them would be cast over wrong or half-precision values."""
    keeps_ints = OpDef("keeps_ints", np.reciprocal, floating, elementwise=True, domain=(0.5, 2.0),
                       jvp=(lambda x_dot, ans, x: -(x_dot * ans * ans),), vjp=(lambda g, ans, x: -(g * ans * ans),))
    report = check_op(keeps_ints, default_registry())
    assert "forward vs shape rule [int64, inputs ()]: forward gave int64[], shape rule says float64[]" in report.text()
    assert "forward vs shape rule [bool, inputs (3, 4)]: forward gave int8[3,4]" in report.text()
    assert [f.dtype for f in report.failures if f.dtype in ("float64", "float32")] == []


# -- a dtype disagreement at run time ---------------------------------------------------------
def test_a_forward_of_the_wrong_dtype_is_an_error_naming_node_and_op(fixture_registry):
    graph = wg.trace(lambda x: wg.op("float32_forward", x), np.ones(3), registry=fixture_registry)
    with pytest.raises(wg.WengertError, match=r"node 'v1' \(float32_forward\): op returned dtype float32, "
                                              r"its shape rule says float64") as caught:
        Engine(fixture_registry).evaluate(graph, {"x": np.ones(3)})
    assert caught.value.code == "INTERNAL"


# -- the cache --------------------------------------------------------------------------------
def test_verdicts_are_cached_and_a_restart_checks_nothing(fixture_registry, cache):
    first = verify_plugins(fixture_registry, cache)
    assert first.checked == ("wrong_answers",) and first.cached == ("builtin",) and not first.unsaved
    again = verify_plugins(fixture_registry, cache)
    assert again.checked == () and again.cached == ("builtin", "wrong_answers")
    assert again.registry.left_out == first.registry.left_out
    assert sorted(op.name for op in again.registry.left_out) == sorted(FAULTS)
    assert again.registry.verified and again.registry.names() == first.registry.names()


SCALING = """
import wengert as wg
from wengert import OpDef, hookimpl
from wengert.plugins.shapes import floating


@hookimpl
def wengert_ops():
    return [OpDef({name!r}, lambda x: {factor}.0 * x, floating, elementwise=True,
                  jvp=(lambda x_dot, ans, x: wg.op({rules!r}, x_dot),),
                  vjp=(lambda g, ans, x: wg.op({rules!r}, g),))]
"""


def _scaling_plugin(folder, module: str, name: str, factor: int, rules: str | None = None) -> None:
    """Plugin module `module` in `folder`: op `name`, x -> factor * x, whose rules apply op
    `rules` (itself by default), so it needs no other plugin, not even the builtin ops."""
    (folder / f"{module}.py").write_text(SCALING.format(name=name, factor=factor, rules=rules or name))


@pytest.fixture
def scaling_plugins(tmp_path, monkeypatch):
    """`doubles` (op double), `uses_doubles` (op twin, whose rules use double), `triples`."""
    monkeypatch.syspath_prepend(str(tmp_path))
    _scaling_plugin(tmp_path, "doubles", "double", 2)
    _scaling_plugin(tmp_path, "uses_doubles", "twin", 2, rules="double")
    _scaling_plugin(tmp_path, "triples", "triple", 3)
    return tmp_path


def _load(*modules: str) -> Registry:
    return Registry.load(modules=modules, use_entry_points=False)


def test_a_changed_plugin_is_checked_again_with_the_plugins_whose_checks_used_it(scaling_plugins, tmp_path):
    cache = tmp_path / "cache"
    modules = ("doubles", "uses_doubles", "triples")
    first = verify_plugins(_load(*modules), cache)
    assert first.checked == modules and not first.registry.left_out and not first.unsaved
    assert verify_plugins(_load(*modules), cache).checked == ()
    with open(scaling_plugins / "doubles.py", "a") as f:
        f.write("# edited\n")
    after = verify_plugins(_load(*modules), cache)
    assert after.checked == ("doubles", "uses_doubles") and after.cached == ("triples",)
    without = verify_plugins(_load("uses_doubles", "triples"), cache)  # twin's rules now fail
    assert without.checked == ("uses_doubles",) and [op.name for op in without.registry.left_out] == ["twin"]
    assert "unknown op 'double'" in without.registry.left_out[0].reason


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"format": 1}', "", "a folder"])
def test_a_corrupt_or_unreadable_cache_entry_is_verified_again(scaling_plugins, tmp_path, damage):
    cache = tmp_path / "cache"
    verify_plugins(_load("doubles"), cache)
    (entry,) = cache.glob("doubles-*.json")
    entry.unlink()
    if damage == "a folder":  # unreadable, and unwritable even by root
        entry.mkdir()
    else:
        entry.write_text(damage)
    again = verify_plugins(_load("doubles"), cache)
    assert again.checked == ("doubles",) and again.registry.names() == ["double"]
    if damage == "a folder":
        assert again.unsaved.startswith(f"cannot write to {cache}")
    else:
        assert not again.unsaved and json.loads(entry.read_text())["plugin"] == "doubles"


def test_a_cache_folder_that_cannot_be_made_costs_a_verification_not_a_start(scaling_plugins, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = verify_plugins(_load("doubles"), tmp_path / "a-file" / "cache")
    assert result.checked == ("doubles",) and result.registry.names() == ["double"]
    assert result.unsaved.startswith(f"cannot write to {tmp_path / 'a-file' / 'cache'}: ")


# -- the server and the commands --------------------------------------------------------------
def _graph_with(registry: Registry, op_name: str) -> wg.Graph:
    return wg.trace(lambda x: wg.sum(wg.op(op_name, x)), np.ones(3), registry=registry)


def test_a_default_server_refuses_every_planted_fault_and_says_why(fixture_registry):
    with start_server("--plugins", "wrong_answers", pythonpath=FIXTURE_PATH) as server:
        catalogue = server.stub().ListOps(service_pb2.ListOpsRequest(), timeout=10)
        with wg.Client(server.target, timeout=30) as client:
            with pytest.raises(wg.UnknownOp, match=r"op 'negated_vjp' of plugin 'wrong_answers' is not served: "
                                                   r"it failed verification \(VJP vs JVP dot product"):
                client.evaluate(_graph_with(fixture_registry, "negated_vjp"), np.ones(3))
            assert np.isclose(client.evaluate(_graph_with(fixture_registry, "softsign"), np.ones(3)), 1.5)
    assert catalogue.verified
    served = {op.name for op in catalogue.ops}
    assert set(wrong_answers.SERVED) <= served and not served & set(FAULTS)
    assert [op.name for op in catalogue.unserved_ops] == sorted(FAULTS)
    for op in catalogue.unserved_ops:
        assert op.plugin == "wrong_answers" and op.reason.startswith(f"FAIL {op.name} (wrong_answers)")
        assert FAULTS[op.name] in op.reason
        assert f"leaving out op {op.name}: it failed verification:\nFAIL {op.name}" in server.log()
    assert f"(verified, {len(FAULTS)} left out) from plugins [builtin" in server.log()


def test_a_restart_with_the_same_plugins_takes_every_verdict_from_the_cache():
    for _ in range(2):  # the first start may or may not find wrong_answers' verdicts cached
        with start_server("--plugins", "wrong_answers", pythonpath=FIXTURE_PATH) as server:
            pass
    assert re.search(r"verified plugin ops in \d+\.\d\d s: none checked now, builtin, wrong_answers "
                     r"from the cache", server.log()), server.log()


def test_no_verify_plugins_serves_every_op_and_says_so_loudly(fixture_registry):
    with start_server("--plugins", "wrong_answers", "--no-verify-plugins", pythonpath=FIXTURE_PATH) as server:
        catalogue = server.stub().ListOps(service_pb2.ListOpsRequest(), timeout=10)
        with wg.Client(server.target, timeout=30) as client:
            with pytest.raises(wg.WengertError) as caught:
                client.evaluate(_graph_with(fixture_registry, "float32_forward"), np.ones(3))
    assert not catalogue.verified and not catalogue.unserved_ops
    assert set(FAULTS) <= {op.name for op in catalogue.ops}
    assert "WARNING wengert.server plugin ops are NOT verified (--no-verify-plugins)" in server.log()
    assert "ops (NOT VERIFIED: --no-verify-plugins) from plugins" in server.log()
    # Served unverified, a float32 forward still never becomes a float64 answer by a silent cast.
    message = "node 'v1' (float32_forward): op returned dtype float32, its shape rule says float64"
    assert caught.value.code == "INTERNAL" and message in str(caught.value)
    assert f"ERROR wengert.server internal error in Evaluate: {message}" \
        in server.log()


def test_check_plugin_fails_every_planted_fault():
    result = run_wengert("check-plugin", "wrong_answers", "--plugins", "wrong_answers")
    assert result.returncode == 1
    for name, check in FAULTS.items():
        assert re.search(rf"^FAIL {name} \(wrong_answers\): \d+ example\(s\)\n(     .*\n)*?     {re.escape(check)}",
                         result.stdout, re.M), result.stdout
    for name in wrong_answers.SERVED:
        assert re.search(rf"^ok   {name} \(wrong_answers\): [1-9]\d* example\(s\)$", result.stdout, re.M)
    assert result.stdout.splitlines()[-1].startswith(f"wrong_answers: {len(FAULTS)} of 10 FAILED: ")


def test_verify_fills_the_cache_a_server_then_starts_from(scaling_plugins, tmp_path):
    cache = tmp_path / "cache"
    flags = ("--disable-plugins", "builtin", "--plugins", "doubles", "--verification-cache", str(cache))
    first = run_wengert("verify", *flags, folders=(scaling_plugins,))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines() == ["doubles (no version): 1 of 1 op(s) verified (checked now)",
                                         f"verification cache: {cache}"]
    again = run_wengert("verify", *flags, folders=(scaling_plugins,))
    assert again.stdout.startswith("doubles (no version): 1 of 1 op(s) verified (cached)\n")
    with start_server(*flags, pythonpath=(str(scaling_plugins),)) as server:
        pass
    assert "none checked now, doubles from the cache" in server.log()


def test_verify_fails_when_an_op_is_left_out():
    result = run_wengert("verify", "--plugins", "wrong_answers")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert re.match(r"builtin \S+: (\d+) of \1 op\(s\) verified \((cached|checked now)\)$", lines[0])
    at = next(i for i, line in enumerate(lines) if line.startswith("wrong_answers "))
    assert re.match(r"wrong_answers \(no version\): 2 of 10 op\(s\) verified \((cached|checked now)\)$", lines[at])
    assert lines[at + 1].startswith("    FAIL detached_second_order (wrong_answers): ")


def test_verify_fails_when_the_cache_cannot_be_written(scaling_plugins, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run_wengert("verify", "--disable-plugins", "builtin", "--plugins", "doubles",
                         "--verification-cache", str(tmp_path / "a-file"), folders=(scaling_plugins,))
    assert result.returncode == 1
    verified, cache = result.stdout.splitlines()
    assert verified == "doubles (no version): 1 of 1 op(s) verified (checked now)"
    assert cache.startswith(f"verification cache: {tmp_path / 'a-file'} (NOT SAVED: cannot write to "
                            f"{tmp_path / 'a-file'}: ")
