"""docs/control-flow.md's Python blocks run, in order, in one namespace (as a reader would)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "control-flow.md"


def test_the_control_flow_guide_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 6
    namespace: dict = {}
    for k, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name} block {k}", "exec"), namespace)
