"""Shared fixtures: the notes' worked example, a fresh engine per test, and one verification
cache for every server and command the suite starts."""

from __future__ import annotations

import os

import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.plugins.registry import default_registry
from wengert.plugins.verification import verify_plugins
from wengert.testing import WORKED_GRADIENT, WORKED_POINT, WORKED_VALUE, worked_example  # noqa: F401


@pytest.fixture
def worked_graph() -> wg.Graph:
    return wg.trace(worked_example, 2.0, 5.0)


@pytest.fixture
def engine() -> Engine:
    return Engine(default_registry())


@pytest.fixture(scope="session", autouse=True)
def verification_cache(tmp_path_factory, request):
    """Servers verify their plugins before serving (see docs/plugins.md): they share this
    session's cache, and the user's own is never touched. When the session starts servers, the
    builtin ops are verified here, once, so that no server start spends its start-up time on it."""
    folder = tmp_path_factory.mktemp("verification-cache")
    os.environ["WENGERT_VERIFICATION_CACHE"] = str(folder)
    if any(_may_start_servers(item) for item in request.session.items):
        verify_plugins(default_registry(), folder)
    yield folder
    del os.environ["WENGERT_VERIFICATION_CACHE"]


def _may_start_servers(item) -> bool:
    return "server" in item.fixturenames or any(
        hasattr(item.module, name) for name in ("start_server", "launch", "run_wengert"))


# Lines tests leave for the end of the run (the array API coverage, tests/test_array_api.py).
SUMMARY = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[SUMMARY] = []


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(SUMMARY, []):
        terminalreporter.write_line(line)


# -- a real server, shared by the end-to-end tests (see wengert.testing) -------------------
@pytest.fixture(scope="session")
def server():
    """A `python -m wengert.server` subprocess with default settings; use `server.target`."""
    from wengert.testing import start_server

    with start_server() as running:
        yield running


@pytest.fixture(params=["local", "remote"])
def client(request):
    """The SDK twice: in-process (`Client.local()`) and against the shared server, so a test
    taking it shows that local and remote agree."""
    if request.param == "local":
        c = wg.Client.local()
    else:
        c = wg.Client(request.getfixturevalue("server").target, timeout=60)
    with c:
        yield c
