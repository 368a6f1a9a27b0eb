"""Graphs in files: `wg.save` / `wg.load`, across processes."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import wengert as wg
from conftest import WORKED_GRADIENT

SEND_FROM_ANOTHER_PROCESS = """
import sys
import wengert as wg

graph = wg.load(sys.argv[1])
with wg.Client(sys.argv[2]) as client:
    print(*client.grad(graph, 2.0, 5.0, argnums=(0, 1)))
"""


def test_a_graph_saved_here_is_loaded_and_sent_by_another_process(server, worked_graph, tmp_path):
    path = tmp_path / "worked.wengert"
    wg.save(worked_graph, path)
    out = subprocess.run([sys.executable, "-c", SEND_FROM_ANOTHER_PROCESS, str(path), server.target],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert [float(v) for v in out.split()] == pytest.approx(WORKED_GRADIENT, abs=1e-15)


def test_a_graph_round_trips_through_bytes_unchanged(worked_graph):
    buffer = io.BytesIO()
    wg.save(worked_graph, buffer)
    loaded = wg.load(io.BytesIO(buffer.getvalue()))
    assert loaded == worked_graph and str(loaded) == str(worked_graph)
    again = io.BytesIO()
    wg.save(loaded, again)
    assert again.getvalue() == buffer.getvalue()  # deterministic bytes


def test_a_file_that_is_not_a_graph_is_invalid_graph(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\xff\x00 not a graph")
    with pytest.raises(wg.InvalidGraph):
        wg.load(path)
