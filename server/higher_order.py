"""The RPCs beyond first order: Hessian, Hvp, JacobianStream, DerivativeGraph, and the sparse
(COO) form of Jacobian and Hessian blocks.

Like minimize.py, this module only translates: the servicer resolves the graph and decodes the
tensors (checking its limits), the engine computes, and the results are encoded here. A
streamed Jacobian is computed chunk by chunk as gRPC sends it, so the server holds one chunk of
directions at a time, never the whole Jacobian.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import numpy as np

from wengert.autodiff.transform import check_wrt
from wengert.execution.engine import Engine
from wengert.ir.graph import Graph
from wengert.jacobians.sweeps import Entries, JacobianResult, Slab, SparseBlock
from wengert.v1 import service_pb2
from wengert.transport.wire import (DERIVATIVE_KINDS, FORMATS, JACOBIAN_MODES, enum_name, graph_to_proto,
                          tensor_to_proto, type_to_proto)

PIECE_BYTES = 1 << 21  # payload of one streamed message: far below gRPC's default 4 MiB limit


def format_of(request) -> str:
    return enum_name(FORMATS, request.format, "format")


def block_fields(block: np.ndarray | SparseBlock, dense_field: str) -> dict:
    """The fields of a JacobianBlock or HessianBlock holding `block`, dense or COO."""
    if isinstance(block, SparseBlock):
        return {"sparse": service_pb2.SparseTensor(shape=block.shape, indices=tensor_to_proto(block.indices),
                                                   values=tensor_to_proto(block.values))}
    return {dense_field: tensor_to_proto(block)}


def sweep_info(result) -> service_pb2.SweepInfo:
    return service_pb2.SweepInfo(sweeps=result.sweeps, nnz=result.nnz, chunk=result.chunk)


def jacobian_blocks(result: JacobianResult) -> list[service_pb2.JacobianBlock]:
    """Output-major, as the Jacobian RPC documents."""
    return [service_pb2.JacobianBlock(output=o, input=i, **block_fields(block, "jacobian"))
            for (o, i), block in result.blocks.items()]


def run_hessian(engine: Engine, request: service_pb2.HessianRequest, *, graph: Graph, graph_id: str,
                inputs: Mapping[str, np.ndarray], check=None,
                check_size: Callable[[int, int], None] = lambda rows, cols: None
                ) -> service_pb2.HessianResponse:
    """`check_size(rows, cols)` is the servicer's limit on a dense result's elements."""
    format = format_of(request)
    if format == "dense":
        concrete = engine.specialize(graph, inputs)
        n = sum(concrete.type_of(name).size for name in check_wrt(concrete, request.wrt))
        check_size(n, n)
    result = engine.hessian(graph, inputs, request.output or None, list(request.wrt) or None, format, check)
    blocks = [service_pb2.HessianBlock(row=a, column=b, **block_fields(block, "hessian"))
              for (a, b), block in result.blocks.items()]
    return service_pb2.HessianResponse(
        graph_id=graph_id, value=tensor_to_proto(result.value), blocks=blocks, sweep=sweep_info(result),
        gradient={k: tensor_to_proto(v) for k, v in result.gradient.items()})


def run_hvp(engine: Engine, request: service_pb2.HvpRequest, *, graph: Graph, graph_id: str,
            inputs: Mapping[str, np.ndarray], directions: Mapping[str, np.ndarray],
            check=None) -> service_pb2.HvpResponse:
    value, gradient, products = engine.hvp(graph, inputs, directions, request.output or None,
                                           batched=request.batched, check=check)
    return service_pb2.HvpResponse(
        graph_id=graph_id, value=tensor_to_proto(value),
        gradient={k: tensor_to_proto(v) for k, v in gradient.items()},
        products={k: tensor_to_proto(v) for k, v in products.items()})


def run_jacobian_stream(engine: Engine, request: service_pb2.JacobianRequest, *, graph: Graph,
                        graph_id: str, inputs: Mapping[str, np.ndarray], mode: str,
                        check=None) -> Iterator[service_pb2.JacobianPiece]:
    """The header, then each chunk's piece as soon as it is computed, cut to PIECE_BYTES."""
    concrete = engine.specialize(graph, inputs)
    longest = max([t.size for _, t in concrete.inputs] + [concrete.output_type(n).size
                                                          for n in concrete.output_names] + [1])
    stream = engine.jacobian_stream(graph, inputs, list(request.wrt) or None, list(request.outputs) or None,
                                    mode, check=check, max_chunk=max(1, PIECE_BYTES // (8 * longest)))
    layout = stream.strategy.layout
    header = service_pb2.JacobianHeader(
        graph_id=graph_id, mode=JACOBIAN_MODES[stream.strategy.mode],
        outputs={k: tensor_to_proto(stream.values[k]) for k in layout.outputs},
        sweep=service_pb2.SweepInfo(sweeps=stream.strategy.directions, nnz=stream.strategy.nnz,
                                    chunk=stream.chunk),
        rows=[service_pb2.NamedType(name=k, type=type_to_proto(t)) for k, t in layout.outputs.items()],
        columns=[service_pb2.NamedType(name=k, type=type_to_proto(t)) for k, t in layout.inputs.items()])
    return _pieces(header, stream.pieces)


def _pieces(header, pieces: Iterator[Slab | Entries]) -> Iterator[service_pb2.JacobianPiece]:
    yield service_pb2.JacobianPiece(header=header)
    for piece in pieces:
        if isinstance(piece, Slab):
            yield service_pb2.JacobianPiece(slab=service_pb2.JacobianSlab(
                start=piece.start, values=tensor_to_proto(piece.values)))
            continue
        step = max(1, PIECE_BYTES // (16 + piece.values.itemsize))
        for k in range(0, len(piece.values), step):
            part = slice(k, k + step)
            yield service_pb2.JacobianPiece(entries=service_pb2.JacobianEntries(
                rows=tensor_to_proto(piece.rows[part]), columns=tensor_to_proto(piece.cols[part]),
                values=tensor_to_proto(piece.values[part])))


def run_derivative_graph(engine: Engine, request: service_pb2.DerivativeGraphRequest, *, graph: Graph,
                         graph_id: str, cache) -> service_pb2.DerivativeGraphResponse:
    """The derivative graph, also put in the server's graph `cache` so requests can name it."""
    kind = enum_name(DERIVATIVE_KINDS, request.kind, "derivative kind")
    derivative = engine.derivative_graph(graph, kind, list(request.wrt) or None,
                                         seeds=list(request.outputs) or None)
    msg = graph_to_proto(derivative)
    derivative_id, _ = cache.put(msg, lambda _: derivative)
    return service_pb2.DerivativeGraphResponse(graph_id=graph_id, graph=msg,
                                               derivative_graph_id=derivative_id)
