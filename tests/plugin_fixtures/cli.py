"""Not a plugin: how the plugin tests run the `wengert` command, with this folder (and any
other given) on PYTHONPATH so that `--plugins MODULE` finds the fixture modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent


def pythonpath(*folders: Path | str) -> str:
    return os.pathsep.join([str(FIXTURES), *map(str, folders), os.environ.get("PYTHONPATH", "")])


def run_wengert(*args: str, folders: tuple[Path | str, ...] = (), env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """`wengert ARGS...` in a fresh process (the console script's `main`, from this Python)."""
    return subprocess.run(
        [sys.executable, "-c", "from wengert.server.cli import main; raise SystemExit(main())", *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {}), "PYTHONPATH": pythonpath(*folders)})
