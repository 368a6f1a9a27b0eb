"""The docs keep up with the code: every page is in the site's navigation (mkdocs.yml), and
every code block of README.md and docs/*.md runs here, so that no snippet can rot.

* ```python blocks run in order, the blocks of one file in one namespace (a later block uses
  what an earlier one defined), as a reader would run them.
* ```pycon blocks (`>>>` prompts) run as doctests: the output shown is the output checked
  (with ELLIPSIS and NORMALIZE_WHITESPACE).
* Blocks of other languages (bash, text, toml, ...) and unlabeled blocks are not run.
* A block using `localhost:50051` talks to a real server (`wengert.testing.start_server`):
  the address is replaced by that server's before the block runs.
* An HTML comment on the line before a block says what else it needs:
  `<!-- snippet: skip (why) -->`: not a program (a signature, an excerpt of a module); the
  reason in parentheses is required.
  `<!-- snippet: server example-ops -->`: a server with the example plugin
  (plugins/examples/wengert-example-ops) installed, and the plugin importable here.
  `<!-- snippet: server acme-ops -->`: a server with the tests' server-only plugin
  (tests/plugin_fixtures/server_site); the blocks after it in the file use the same server.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from plugin_fixtures.example_site import install_example
from wengert.testing import start_server

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TARGET = "localhost:50051"
RUN = ("python", "pycon")
BLOCK = re.compile(r"^(?:<!-- snippet: (?P<marker>[^>]*?) -->\n)?```(?P<lang>[\w-]*)\n(?P<code>.*?)^```\s*$",
                   re.S | re.M)
ENVIRONMENTS = ("example-ops", "acme-ops")


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    lang: str
    code: str
    marker: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def environment(self) -> str | None:
        return self.marker.split()[1] if self.marker.startswith("server ") else None


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text()
    return [Snippet(page, text[:m.start("lang")].count("\n") + 1, m["lang"], m["code"], m["marker"] or "")
            for m in BLOCK.finditer(text)]


def test_every_page_is_in_the_site():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")]
    assert pages and [p for p in pages if f": {p}\n" not in nav] == []


def test_markers_are_known_and_skips_say_why():
    for page in PAGES:
        for s in snippets(page):
            if s.marker.startswith("skip"):
                assert re.fullmatch(r"skip \(.+\)", s.marker), f"{s.where}: say why, skip (reason)"
            elif s.marker:
                assert s.environment in ENVIRONMENTS, f"{s.where}: unknown marker {s.marker!r}"
                assert s.lang in RUN, f"{s.where}: a marker on a block that is not run"


@pytest.fixture(scope="module")
def example_ops_site(tmp_path_factory) -> Path:
    return install_example(tmp_path_factory.mktemp("example-ops"))


class Servers:
    """The servers a page's blocks talk to, started the first time one is needed."""

    def __init__(self, request, stack: contextlib.ExitStack):
        self.request, self.stack, self.running = request, stack, {}

    def target(self, environment: str | None) -> str:
        if environment is None:
            return self.request.getfixturevalue("server").target
        if environment not in self.running:
            if environment == "example-ops":
                site = self.request.getfixturevalue("example_ops_site")
                sys.path.insert(0, str(site))
                self.stack.callback(_forget, str(site), "wengert_example_ops")
            else:
                site = ROOT / "tests" / "plugin_fixtures" / "server_site"
            self.running[environment] = self.stack.enter_context(start_server(pythonpath=(str(site),))).target
        return self.running[environment]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_runs(page, request):
    namespace = {"__name__": f"docs_{page.stem}"}
    environment = None
    with contextlib.ExitStack() as stack:
        servers = Servers(request, stack)
        for s in snippets(page):
            if s.lang not in RUN or s.marker.startswith("skip"):
                continue
            environment = s.environment or environment
            code = s.code
            if s.environment or TARGET in code:
                code = code.replace(TARGET, servers.target(environment))
            run = _doctest if s.lang == "pycon" else _exec
            run(s, code, namespace)


def _forget(site: str, package: str) -> None:
    """Take an installed plugin off sys.path again, and its modules out of sys.modules."""
    sys.path.remove(site)
    for module in [m for m in sys.modules if m.split(".")[0] == package]:
        del sys.modules[module]


def _exec(s: Snippet, code: str, namespace: dict) -> None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(code, s.where, "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"the block at {s.where} fails: {type(exc).__name__}: {exc}") from exc


def _doctest(s: Snippet, code: str, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(code, namespace, s.where, str(s.page), s.line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # a doctest runs on a copy of the namespace
    assert not runner.failures, f"the session at {s.where} shows other output:\n{report.getvalue()}"
