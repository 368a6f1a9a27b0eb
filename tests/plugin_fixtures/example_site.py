"""Not a plugin: the example plugin (plugins/examples/wengert-example-ops) installed as
`pip install` leaves it, for the tests that need it installed (its own, and the docs')."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "examples" / "wengert-example-ops"


def install_example(work: Path) -> Path:
    """A folder under `work` holding the example plugin (package, dist-info, entry point); on
    sys.path or PYTHONPATH it is an installed plugin. A copy is built, so the source tree
    stays clean."""
    source = shutil.copytree(EXAMPLE, work / "source",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(work / "site"), str(source)], check=True)
    return work / "site"
