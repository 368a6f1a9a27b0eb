"""Shared fixtures: the notes' worked example, a fresh engine per test, and one verification
cache for every server and command the suite starts."""

from __future__ import annotations

import os

import numpy as np
import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.registry import default_registry

# f(x1, x2) = ln x1 + x1*x2 - sin x2 at (2, 5): the notes' §2 example.
WORKED_POINT = {"x1": np.float64(2.0), "x2": np.float64(5.0)}
WORKED_VALUE = np.log(2.0) + 10.0 - np.sin(5.0)
WORKED_GRADIENT = (5.5, 5.0 * 0 + 2.0 - np.cos(5.0))  # (1/x1 + x2, x1 - cos x2)


def worked_example(x1, x2):
    """Written in the order of the notes' evaluation trace, so its Wengert list matches."""
    v1 = wg.log(x1)
    v2 = x1 * x2
    v3 = wg.sin(x2)
    v4 = v1 + v2
    return v4 - v3


@pytest.fixture
def worked_graph() -> wg.Graph:
    return wg.trace(worked_example, 2.0, 5.0)


@pytest.fixture
def engine() -> Engine:
    return Engine(default_registry())


@pytest.fixture(scope="session", autouse=True)
def verification_cache(tmp_path_factory):
    """Servers verify their plugins before serving (see docs/plugins.md): they share this
    session's cache, so the builtin ops are checked once per run, not once per server, and the
    user's own cache is never touched."""
    folder = tmp_path_factory.mktemp("verification-cache")
    os.environ["WENGERT_VERIFICATION_CACHE"] = str(folder)
    yield folder
    del os.environ["WENGERT_VERIFICATION_CACHE"]


# -- a real server, shared by the end-to-end tests (see tests/serving.py) ------------------
@pytest.fixture(scope="session")
def server():
    """A `python -m wengert.server` subprocess with default settings; use `server.target`."""
    from serving import start_server

    with start_server() as running:
        yield running
