"""docs/expectations.md runs: its Python blocks in order, in one namespace (as a reader would,
and as test_docs.py runs every page), then the claims the page makes about their results. The
plot block, which test_docs.py skips, runs here (matplotlib is a test dependency), writing into
a temporary folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_docs import snippets

DOC = Path(__file__).resolve().parents[1] / "docs" / "expectations.md"


@pytest.fixture(scope="module")
def page():
    namespace: dict = {}
    skipped = []
    for s in snippets(DOC):
        if s.lang != "python":
            continue
        if s.marker:
            skipped.append(s.code)
            continue
        exec(compile(s.code, s.where, "exec"), namespace)
    return namespace, skipped


def test_the_gaussian_mean_posterior_is_found(page):
    ns, _ = page
    assert abs(ns["m"] - ns["exact_mean"]) < 0.05 * ns["exact_sd"]
    assert abs(ns["s"] / ns["exact_sd"] - 1) < 0.05


def test_logistic_regression_matches_the_exact_posterior(page):
    ns, _ = page
    m, sd = ns["fit"].params["m"], np.exp(ns["fit"].params["rho"])
    assert np.all(np.abs(m - ns["posterior_mean"]) < 0.1 * ns["posterior_sd"])
    assert np.all(np.abs(sd / ns["posterior_sd"] - 1) < 0.1)
    elbo = ns["elbo"]
    assert len(elbo) == 800 and np.mean(elbo[-50:]) > elbo[0] + 20  # from -74 to about -48.7


def test_the_estimators_rank_as_the_page_says(page):
    ns, _ = page
    errors = {k: np.array(v) for k, v in ns["errors"].items()}
    pathwise, score, baseline = errors.values()
    assert np.all(score > 10 * pathwise) and np.all(score > 10 * baseline)
    for row in errors.values():  # the error falls as 1/sqrt(N): 10 -> 3000 samples is ~17x
        assert 10 < row[0] / row[-1] < 30


def test_the_plugin_distribution_checks_and_estimates(page):
    ns, _ = page
    assert all(report.passed and report.examples for report in ns["reports"]), [r.text() for r in ns["reports"]]
    gradient = ns["result"].gradient
    errors = ns["result"].gradient_error
    assert abs(gradient["loc"] - 1.0) <= 4 * errors["loc"] + 1e-12
    assert abs(gradient["scale"] - 0.5772156649) <= 4 * errors["scale"]


def test_the_plot_block_draws_the_figure(page, tmp_path, monkeypatch):
    ns, (plot,) = page
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    exec(compile(plot, f"{DOC.name} plot block", "exec"), dict(ns))
    assert (tmp_path / "docs" / "expectations.png").stat().st_size > 10_000
