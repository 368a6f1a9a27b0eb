"""The contract proven from another language: examples/node (grpc-js, from proto/ alone) runs the
notes' worked example against a real server and reads an error's structured details; and buf
checks the contract (lint, and no breaking change against the last release's descriptors).

These need `npm ci --prefix examples/node` (Node.js and npm). `.ci/run` does that and sets
WENGERT_REQUIRE_NODE=1, so there they fail rather than skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "node"
BUF = EXAMPLE / "node_modules" / ".bin" / "buf"


def _ready() -> None:
    missing = ("node" if shutil.which("node") is None else
               "examples/node/node_modules" if not (EXAMPLE / "node_modules").is_dir() else None)
    if missing is None:
        return
    if os.environ.get("WENGERT_REQUIRE_NODE"):
        pytest.fail(f"{missing} is missing: run npm ci --prefix examples/node")
    pytest.skip(f"{missing} is missing: run npm ci --prefix examples/node")


def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=EXAMPLE, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_the_node_client_computes_the_worked_example_and_reads_error_details(server):
    _ready()
    out = run("node", "worked_example.js", env={"WENGERT_TARGET": server.target})
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        "ok: value 11.652071455223084 = 11.652071455223084",
        "ok: gradient (5.5,1.7163378145367738) = (5.5, 1.7163378145367738)",
        "ok: UNIMPLEMENTED (12), reason UNKNOWN_OP, node v3, field graph.nodes[2]",
    ]


def test_the_contract_passes_buf_lint():
    _ready()
    out = run(str(BUF), "lint", str(ROOT / "proto"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_contract_has_no_breaking_change_since_the_last_release():
    _ready()
    out = run(str(BUF), "breaking", str(ROOT / "proto"), "--against",
              str(ROOT / "proto" / "released" / "wengert-v1.binpb"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_breaking_change_check_can_fail(tmp_path):
    """A field renamed in a copy of the contract is caught: the check is not a formality."""
    _ready()
    copy = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", copy, ignore=shutil.ignore_patterns("*.py", "*.pyi", "*.binpb"))
    tensor = copy / "wengert" / "v1" / "tensor.proto"
    tensor.write_text(tensor.read_text().replace("bytes data = 3;", "bytes payload = 3;"))
    out = run(str(BUF), "breaking", str(copy), "--against", str(ROOT / "proto" / "released" / "wengert-v1.binpb"))
    assert out.returncode != 0 and "data" in out.stdout + out.stderr
