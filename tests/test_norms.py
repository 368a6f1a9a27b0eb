"""Norms as plugins: every registered norm passes the norm checker, each builtin dualizes the
way its geometry says, the checker catches planted mistakes, and the registry treats norms like
ops (duplicates name both plugins; bad records stop loading). The hookspec's own example is
loaded as a plugin and checked too, so the documentation cannot rot."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import textwrap

import numpy as np
import pytest

import wengert as wg
from wengert.errors import InvalidRequest, PluginError
from wengert.plugins import spec
from wengert.plugins.norm_checker import check_norm
from wengert.plugins.registry import Registry, default_registry

REGISTRY = default_registry()
rng = np.random.default_rng(7)


def norm(name: str) -> wg.NormDef:
    return REGISTRY.norm(name)


@pytest.mark.parametrize("name", REGISTRY.norm_names())
def test_every_registered_norm_passes_the_checker(name):
    report = check_norm(name, REGISTRY)
    assert report.passed, report.text()


def test_the_builtin_plugin_provides_the_five_norms():
    (builtin,) = [p for p in REGISTRY.plugins if p.name == "builtin"]
    assert sorted(builtin.norms) == ["l1", "l2", "linf", "product", "spectral"]
    assert all(norm(n).plugin == "builtin" and norm(n).doc for n in builtin.norms)


def test_unknown_norm_names_the_known_ones():
    with pytest.raises(InvalidRequest, match=r"unknown norm 'l3'.*l1, l2, linf, product, spectral"):
        REGISTRY.norm("l3")


# -- what each builtin does -----------------------------------------------------------------
def test_l2_dualizes_to_the_normalized_gradient_over_all_blocks():
    g = [np.array([3.0, 0.0]), np.array([[0.0, 4.0]])]
    assert norm("l2").dual_norm(g) == 5.0
    d = norm("l2").dualize(g)
    np.testing.assert_array_equal(d[0], [0.6, 0.0])
    np.testing.assert_array_equal(d[1], [[0.0, 0.8]])


def test_l1_steps_only_on_the_largest_component_with_its_sign():
    g = [np.array([1.0, 2.0]), np.array([[0.5, -3.0], [2.9, 0.0]])]
    assert norm("l1").dual_norm(g) == 3.0
    d = norm("l1").dualize(g)
    np.testing.assert_array_equal(d[0], [0.0, 0.0])
    np.testing.assert_array_equal(d[1], [[0.0, -1.0], [0.0, 0.0]])


def test_linf_is_sign_descent_with_the_l1_dual():
    g = [np.array([1.5, -2.0, 0.0]), np.array(-0.5)]
    assert norm("linf").dual_norm(g) == 4.0
    d = norm("linf").dualize(g)
    np.testing.assert_array_equal(d[0], [1.0, -1.0, 0.0])
    assert d[1] == -1.0


def test_spectral_dualizes_each_matrix_to_its_orthogonal_polar_factor():
    q1, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    q2, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    sigma = np.array([5.0, 2.0, 0.5])
    g = q1[:, :3] @ np.diag(sigma) @ q2.T  # 4x3 with known singular values
    (d,) = norm("spectral").dualize([g])
    np.testing.assert_allclose(d, q1[:, :3] @ q2.T, atol=1e-12)
    np.testing.assert_allclose(d.T @ d, np.eye(3), atol=1e-12)
    assert norm("spectral").dual_norm([g]) == pytest.approx(sigma.sum(), rel=1e-12)
    assert norm("spectral").norm([g]) == pytest.approx(5.0, rel=1e-12)


def test_spectral_takes_the_max_over_parameters_and_treats_vectors_as_columns():
    w = [np.diag([3.0, 1.0]), np.array([0.0, 4.0, 0.0])]
    assert norm("spectral").norm(w) == pytest.approx(4.0)  # the vector's length
    assert norm("spectral").dual_norm(w) == pytest.approx(4.0 + 4.0)  # nuclear norms add up
    np.testing.assert_allclose(norm("spectral").dualize(w)[1], [0.0, 1.0, 0.0])


def test_product_dualizes_each_block_in_its_own_norm():
    parts = wg.plugins.normdef.product([norm("linf"), norm("l2")])
    g = [np.array([1.0, -2.0]), np.array([3.0, 4.0])]
    assert parts.dual_norm(g) == 3.0 + 5.0
    d = parts.dualize(g)
    np.testing.assert_array_equal(d[0], [1.0, -1.0])
    np.testing.assert_allclose(d[1], [0.6, 0.8])
    assert sum(np.vdot(a, b) for a, b in zip(g, d)) == pytest.approx(8.0)
    assert parts.norm(d) == pytest.approx(1.0)


@pytest.mark.parametrize("name", REGISTRY.norm_names())
def test_a_zero_gradient_dualizes_to_zero(name):
    shapes = [(2, 3), (3,), ()]
    for d, s in zip(norm(name).dualize([np.zeros(s) for s in shapes]), shapes):
        np.testing.assert_array_equal(d, np.zeros(s))


@pytest.mark.parametrize("name", REGISTRY.norm_names())
def test_empty_parameters_have_norm_zero_and_dualize_to_empty(name):
    shapes = [(0,), (0, 3), (3, 0), (2, 0, 4)]
    blocks = [np.zeros(s) for s in shapes]
    assert norm(name).norm(blocks) == norm(name).dual_norm(blocks) == 0.0
    assert [d.shape for d in norm(name).dualize(blocks)] == shapes


# -- the checker catches planted mistakes -----------------------------------------------------
def _planted(name: str, **changes) -> wg.NormDef:
    return dataclasses.replace(norm(name), name=f"planted_{name}", plugin="", **changes)


def _flat(blocks):
    return np.concatenate([np.ravel(b) for b in blocks])


def test_checker_catches_a_step_that_is_longer_than_a_unit():
    # l1 with the l2 dual pair: <g, dualize(g)> matches the claim, but the step is too long.
    l2 = norm("l2")
    report = check_norm(_planted("l1", dual_norm=l2.dual_norm, dualize=l2.dualize))
    assert [f for f in report.failures if f.startswith("||dualize(g)|| <= 1")], report.text()


def test_checker_catches_a_dual_norm_too_small_with_a_step_too_short():
    l2 = norm("l2")
    report = check_norm(_planted("l2", dual_norm=lambda g: l2.dual_norm(g) / 2,
                                 dualize=lambda g: [d / 2 for d in l2.dualize(g)]))
    assert [f for f in report.failures if f.startswith("<g, v> <= ||g||_* ||v||")], report.text()


def test_checker_catches_a_direction_that_misses_the_dual_norm():
    report = check_norm(_planted("linf", dual_norm=lambda g: float(np.linalg.norm(_flat(g)))))
    assert [f for f in report.failures if f.startswith("<g, dualize(g)> = ||g||_*")], report.text()


def test_checker_catches_nans_on_a_zero_gradient_and_lost_shapes():
    with np.errstate(invalid="ignore"):
        unguarded = check_norm(_planted("l2", dualize=lambda g: [b / np.linalg.norm(_flat(g))
                                                                  for b in g]))
    assert [f for f in unguarded.failures if f.startswith("dualize(0) is finite")], unguarded.text()
    flattened = check_norm(_planted("linf", dualize=lambda g: [np.sign(_flat(g))]))
    assert [f for f in flattened.failures if f.startswith("dualize keeps")], flattened.text()


# -- norms in the registry ----------------------------------------------------------------------
@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Write a plugin module into an importable folder; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


def hookspec_example() -> str:
    doc = inspect.getdoc(spec.wengert_norms)
    return textwrap.dedent(doc.split("**Example**::", 1)[1])


def test_the_hookspec_example_is_a_working_norm_plugin(plugin_module):
    registry = Registry.load(modules=[plugin_module("l4_norm", hookspec_example())])
    assert registry.norm("l4").plugin == "l4_norm"
    assert check_norm("l4", registry).passed
    params = {"w": np.array([1.0, -2.0, 0.5])}
    wg.optim.SteepestDescent(params, norm="l4", lr=0.1, registry=registry).step({"w": params["w"]})
    assert np.all(np.abs(params["w"]) < [1.0, 2.0, 0.5])  # every coordinate moved toward 0


def test_a_norm_name_two_plugins_provide_stops_loading_naming_both(plugin_module):
    name = plugin_module("another_l2", """
        from wengert import hookimpl
        from wengert.plugins.builtin.norms import L2

        @hookimpl
        def wengert_norms():
            return [L2]
    """)
    both = "norm 'l2' is provided by both plugin 'builtin' and plugin 'another_l2'"
    with pytest.raises(PluginError, match=both):
        Registry.load(modules=[name])
    skipped = Registry.load(modules=[name], skip_broken=True)
    assert not [p for p in skipped.plugins if p.name == name][0].loaded
    assert skipped.norm("l2").plugin == "builtin"


def test_a_record_that_is_not_a_normdef_stops_loading(plugin_module):
    name = plugin_module("not_a_norm", """
        from wengert import hookimpl

        @hookimpl
        def wengert_norms():
            return ["l2"]
    """)
    with pytest.raises(PluginError, match="wengert_norms record #0 is a str, not a NormDef record"):
        Registry.load(modules=[name])


def test_normdef_rejects_missing_functions():
    with pytest.raises(TypeError, match="norm 'half': dualize must be callable"):
        wg.NormDef("half", norm=abs, dual_norm=abs, dualize=None)
