"""`pip install .` (not only editable) yields a working package: build the wheel, install it in
a clean virtual environment, and use it from there."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = """
import importlib.util, sys, sysconfig
from pathlib import Path
site = Path(sysconfig.get_paths()["purelib"])
for bare in ("server", "client", "plugins", "proto"):
    assert not (site / bare).exists() and importlib.util.find_spec(bare) is None, bare
import numpy as np, wengert as wg
from wengert.execution.engine import Engine
from wengert.v1 import service_pb2_grpc
import wengert.server
assert wengert.__file__.startswith(str(site)), wengert.__file__
g = wg.trace(lambda x1, x2: wg.log(x1) + x1 * x2 - wg.sin(x2), 2.0, 5.0)
_, grad = Engine().vjp(g, {"x1": 2.0, "x2": 5.0}, {"y": 1.0})
assert abs(grad["x1"] - 5.5) < 1e-12 and abs(grad["x2"] - 1.7163378145367738) < 1e-12
print("smoke ok")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True)
    (found,) = out.glob("wengert-*.whl")
    return found


def test_wheel_installs_and_works_in_a_clean_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    result = subprocess.run([str(python), "-c", SMOKE], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "smoke ok" in result.stdout
    cli = subprocess.run([str(env_dir / "bin" / "wengert"), "--help"], capture_output=True, text=True)
    assert cli.returncode == 0 and "serve" in cli.stdout, cli.stderr


def test_wheel_ships_the_proto_contract(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for proto in ("tensor", "graph", "service"):
        assert f"wengert/v1/{proto}.proto" in names
        assert f"wengert/v1/{proto}_pb2.py" in names
    assert not [n for n in names if n.split("/")[0] in ("server", "client", "plugins", "tests")]
