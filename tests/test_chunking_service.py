"""A Jacobian larger than any message: 4000 x 4000 float64 (128 MB) through JacobianStream on a
server with default settings (64 MiB messages at most, 1 GiB memory budget), assembled here,
equal to the in-process result, while the server's peak memory grows far less than the
Jacobian's size: it holds one chunk of directions at a time."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import wengert as wg
from wengert.testing import start_server
from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto

N = 4000
PEAK_GROWTH_BOUND = 64 << 20  # bytes; the Jacobian alone is 128,000,000


def dense_map(x):
    """Every output depends on every input: J = 2 (diag(s) - s s^T) + diag(cos x)."""
    return wg.softmax(x) * 2.0 + wg.sin(x)


def request(x: np.ndarray) -> pb.JacobianRequest:
    graph = graph_to_proto(wg.trace(dense_map, x))
    return pb.JacobianRequest(graph=graph, inputs={"x": tensor_to_proto(x)})


def assemble(pieces) -> tuple[pb.JacobianHeader, np.ndarray]:
    header = next(pieces).header
    m = sum(int(np.prod(r.type.shape)) for r in header.rows)
    n = sum(int(np.prod(c.type.shape)) for c in header.columns)
    flat = np.zeros((m, n))
    for piece in pieces:
        if piece.WhichOneof("part") == "slab":  # whole columns (forward mode)
            values = tensor_from_proto(piece.slab.values)
            flat[:, piece.slab.start:piece.slab.start + len(values)] = values.T
        else:
            entries = piece.entries
            flat[tensor_from_proto(entries.rows), tensor_from_proto(entries.columns)] = \
                tensor_from_proto(entries.values)
    return header, flat


def test_a_128_mb_jacobian_streams_in_chunks_within_a_memory_bound():
    x = np.linspace(-1.0, 1.0, N)
    with start_server() as server, server.channel() as channel:
        stub = server.stub(channel)
        assemble(stub.JacobianStream(request(x[:10])))  # warm up: imports, caches, thread pool
        before = server.peak_rss()
        header, flat = assemble(stub.JacobianStream(request(x)))
        growth = server.peak_rss() - before
    assert header.mode == pb.MODE_FORWARD
    assert (header.sweep.sweeps, header.sweep.nnz) == (N, N * N)
    assert 1 <= header.sweep.chunk < N
    assert growth < PEAK_GROWTH_BOUND, f"server peak RSS grew by {growth / 2**20:.0f} MiB"
    expected = Engine(limits=Limits(memory=384 << 20)).jacobian(wg.trace(dense_map, x), {"x": x})
    assert expected.chunk < N  # the in-process engine chunks too, under its own budget
    np.testing.assert_allclose(flat, expected.blocks[("y", "x")], rtol=1e-14, atol=1e-17)


def test_the_memory_budget_is_a_server_setting():
    x = np.linspace(-1.0, 1.0, 400)  # a 1.28 MB dense Jacobian
    # A response is held three times while it is sent (arrays, messages, bytes): 3.85 MB here.
    with start_server("--memory-budget-mb", "5") as server, server.channel() as channel:
        stub = server.stub(channel)
        response = stub.Jacobian(request(x))
        assert 1 <= response.sweep.chunk < response.sweep.sweeps == 400
        with pytest.raises(grpc.RpcError) as info:  # 3.2 MB for the result alone, 9.8 MB sent
            stub.Jacobian(request(np.linspace(-1.0, 1.0, 640)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "over the limit of 5242880 (raise it with --memory-budget-mb)" in info.value.details()
