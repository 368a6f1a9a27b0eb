"""Requests into `Call`s and results into responses: the server's side of
`wengert.transport.codec`.

The servicer resolves a request's graph; `decode` turns its tensors (checked against the wire
limits first) and fields into the `Call` the engine prepares and prices; `encode` turns the
engine's result back into the RPC's response. So a request reaches the engine exactly as the
same SDK call made in-process does.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np

from wengert.autodiff.transform import check_outputs
from wengert.errors import InvalidRequest, WengertError, quoted, short
from wengert.execution.call import Call
from wengert.execution.cost import Limits, Quote
from wengert.expectations.wire import expectation_from_proto, result_to_proto
from wengert.ir.graph import Graph, format_value, wengert_list
from wengert.jacobians.sweeps import PIECE_BYTES, JacobianResult, Slab, SparseBlock, Sweeps
from wengert.optim.steepest import Settings
from wengert.optim.wire import (norm_from_proto, progress_to_proto, schedule_from_proto,
                                stop_from_proto)
from wengert.server.limits import WireLimits
from wengert.transport.wire import (COLOURINGS, DERIVATIVE_KINDS, FORMATS, JACOBIAN_MODES, TRACE_MODES,
                                    attr_to_proto, checkpoint_from_proto, enum_name, tensor_from_proto,
                                    tensor_entry, tensor_to_proto, type_to_proto)
from wengert.v1 import service_pb2 as pb

def decode(rpc: str, request, graph: Graph, limits: WireLimits) -> Call:
    """The `Call` for `request` of `rpc`, on the resolved `graph`."""

    def tensors(field: str, what: str, batched: bool = False) -> dict[str, np.ndarray]:
        """The tensors of `field`; an error about one of them names it (`input`, `field`)."""
        arrays = {}
        for name, tensor in getattr(request, field).items():
            try:
                limits.check_tensor(what, name, tensor, batched)
                arrays[name] = tensor_from_proto(tensor, lambda: f"{what} {quoted(name)}")
            except WengertError as exc:
                exc.input, exc.field = name, f'{field}["{short(name)}"]'
                raise
        return arrays

    fields = request.DESCRIPTOR.fields_by_name
    common = {"inputs": tensors("inputs", "input")} if "inputs" in fields else {}
    common.update({name: tuple(getattr(request, name)) for name in ("outputs", "wrt") if name in fields})
    if "checkpoint" in fields:
        common["checkpoint"] = checkpoint_from_proto(request.checkpoint)
    match rpc:
        case "Evaluate":
            batched = tuple(request.batched_inputs)
            if batched:
                limits.check_tensors({k: v for k, v in request.inputs.items() if k in batched}, "input", True)
            return Call(rpc, graph, batched_inputs=batched, **common)
        case "Jvp":
            check_outputs(graph, request.outputs)
            return Call(rpc, graph, tangents=tensors("tangents", "tangent for", request.batched),
                        batched=request.batched, **common)
        case "Vjp":
            selected = check_outputs(graph, request.outputs)
            cotangents = tensors("cotangents", "cotangent for", request.batched)
            _only_selected(cotangents, selected, request.outputs)
            return Call(rpc, graph, cotangents=cotangents, batched=request.batched, **common)
        case "Jacobian" | "JacobianStream":
            return Call(rpc, graph, mode=enum_name(JACOBIAN_MODES, request.mode, "Jacobian mode"),
                        format=enum_name(FORMATS, request.format, "format"), **common)
        case "Hessian":
            return Call(rpc, graph, output=request.output,
                        format=enum_name(FORMATS, request.format, "format"), **common)
        case "Hvp":
            return Call(rpc, graph, output=request.output, batched=request.batched,
                        directions=tensors("directions", "direction for", request.batched), **common)
        case "Trace":
            mode = enum_name(TRACE_MODES, request.mode, "trace mode")
            if request.tangents and mode != "forward":
                raise InvalidRequest("tangents are only allowed with TRACE_MODE_FORWARD")
            if request.cotangents and mode != "reverse":
                raise InvalidRequest("cotangents are only allowed with TRACE_MODE_REVERSE")
            selected = check_outputs(graph, request.outputs)
            tangents = tensors("tangents", "tangent for")
            cotangents = tensors("cotangents", "cotangent for")
            _only_selected(cotangents, selected, request.outputs)
            return Call(rpc, graph, mode=mode, tangents=tangents, cotangents=cotangents, **common)
        case "DerivativeGraph":
            return Call(rpc, graph, kind=enum_name(DERIVATIVE_KINDS, request.kind, "derivative kind"),
                        **common)
        case "Minimize":
            settings = Settings(stop=stop_from_proto(request.stop), norm=norm_from_proto(request.norm),
                                lr=request.learning_rate, momentum=request.momentum,
                                schedule=schedule_from_proto(request.schedule),
                                every=request.report_every or 1, loss=request.loss or None,
                                expectation=(expectation_from_proto(request.expectation)
                                             if request.HasField("expectation") else None))
            return Call(rpc, graph, inputs=tensors("parameters", "parameter"), data=tensors("data", "data"),
                        settings=settings, checkpoint=common["checkpoint"])
        case "ExpectationGradient":
            return Call(rpc, graph, output=request.output, expectation=expectation_from_proto(request.expectation),
                        **common)
    raise InvalidRequest(f"unknown request {rpc!r}")


def encode(rpc: str, request, graph_id: str, graph: Graph, call: Call, result: Any):
    """The response of `rpc` (an iterator of messages for a streaming RPC) for `result`."""
    match rpc:
        case "Evaluate":
            return _with_tensors(pb.EvaluateResponse(graph_id=graph_id), outputs=(result,))
        case "Jvp":
            values, tangents = result
            names = check_outputs(graph, call.outputs)
            return _with_tensors(pb.JvpResponse(graph_id=graph_id), outputs=(values, names),
                                 tangents=(tangents, names))
        case "Vjp":
            values, cotangents = result
            return _with_tensors(pb.VjpResponse(graph_id=graph_id),
                                 outputs=(values, check_outputs(graph, call.outputs)), cotangents=(cotangents,))
        case "Jacobian":
            return _with_tensors(pb.JacobianResponse(graph_id=graph_id, blocks=_jacobian_blocks(result),
                                                     mode=JACOBIAN_MODES[result.mode], sweep=_sweep_info(result)),
                                 outputs=(result.values,))
        case "JacobianStream":
            return _pieces(graph_id, result)
        case "Hessian":
            blocks = [pb.HessianBlock(row=a, column=b, **_block_fields(block, "hessian"))
                      for (a, b), block in result.blocks.items()]
            return _with_tensors(pb.HessianResponse(graph_id=graph_id, value=tensor_to_proto(result.value),
                                                    blocks=blocks, sweep=_sweep_info(result)),
                                 gradient=(result.gradient,))
        case "Hvp":
            value, gradient, products = result
            return _with_tensors(pb.HvpResponse(graph_id=graph_id, value=tensor_to_proto(value)),
                                 gradient=(gradient,), products=(products,))
        case "Trace":
            return _trace(graph_id, graph, call, result)
        case "Minimize":
            return (progress_to_proto(p, graph_id, request.report_parameters) for p in result)
        case "ExpectationGradient":
            return result_to_proto(result, graph_id)
    raise InvalidRequest(f"unknown request {rpc!r}")


def cost_response(graph_id: str, quote: Quote, limits: Limits) -> pb.CostResponse:
    return pb.CostResponse(
        graph_id=graph_id, peak_bytes=quote.peak_bytes, work=quote.work,
        response_bytes=quote.response_bytes, admitted=quote.admitted, refusal=quote.refusal,
        plans=[pb.PlanCost(what=p.what, times=p.times, peak_bytes=p.peak_bytes, work=p.work)
               for p in quote.plans],
        limits=pb.RequestLimits(memory_bytes=limits.memory or 0, work=limits.work or 0,
                                response_bytes=limits.response or 0))


# -- the pieces of responses ------------------------------------------------------------------
# A tensor this large goes into a response as its own bytes, after the message's (`Spliced`),
# not copied into a Tensor message, its map and the message's bytes.
SPLICED_BYTES = 1 << 16


class Spliced:
    """A response whose large tensors are map entries written from their arrays: its bytes are
    `message`'s, then `pieces`' (protobuf merges a map entry wherever it appears in a message).
    The interceptor joins them: one copy of each large tensor instead of four."""

    def __init__(self, message, pieces: list):
        self.message = message
        self.pieces = pieces

    def encode(self, serialize) -> bytes:
        return b"".join([serialize(self.message), *self.pieces])


def _with_tensors(message, **maps: tuple):
    """`message` with its map<string, Tensor> fields filled: field name -> (arrays, names to take
    in their order, or all). Spliced when a tensor is large."""
    pieces = []
    for field, (arrays, *names) in maps.items():
        target, number = getattr(message, field), message.DESCRIPTOR.fields_by_name[field].number
        for name in (names[0] if names else arrays):
            array = np.asarray(arrays[name])
            if array.nbytes >= SPLICED_BYTES:
                pieces += tensor_entry(number, name, array)
            else:
                target[name].CopyFrom(tensor_to_proto(array))
    return Spliced(message, pieces) if pieces else message


def _only_selected(cotangents: Mapping, selected: list[str], requested) -> None:
    if requested:
        extra = [n for n in cotangents if n not in selected]
        if extra:
            raise InvalidRequest(f"cotangent for output {extra[0]!r}, which the request does not select")


def _block_fields(block: np.ndarray | SparseBlock, dense_field: str) -> dict:
    """The fields of a JacobianBlock or HessianBlock holding `block`, dense or COO."""
    if isinstance(block, SparseBlock):
        return {"sparse": pb.SparseTensor(shape=block.shape, indices=tensor_to_proto(block.indices),
                                          values=tensor_to_proto(block.values))}
    return {dense_field: tensor_to_proto(block)}


def _sweep_info(result) -> pb.SweepInfo:
    """A JacobianResult's or HessianResult's account of its sweeps."""
    return pb.SweepInfo(sweeps=result.sweeps, nnz=result.nnz, chunk=result.chunk,
                        colouring=COLOURINGS[result.colouring], pattern_found=result.pattern_found,
                        note=result.note)


def _jacobian_blocks(result: JacobianResult) -> list[pb.JacobianBlock]:
    """Output-major, as the Jacobian RPC documents."""
    return [pb.JacobianBlock(output=o, input=i, **_block_fields(block, "jacobian"))
            for (o, i), block in result.blocks.items()]


def _pieces(graph_id: str, stream: Sweeps) -> Iterator[pb.JacobianPiece]:
    """The header, then each chunk's piece as soon as it is computed, cut to PIECE_BYTES."""
    how = stream.strategy
    layout = how.layout
    yield pb.JacobianPiece(header=pb.JacobianHeader(
        graph_id=graph_id, mode=JACOBIAN_MODES[how.mode],
        outputs={k: tensor_to_proto(stream.values[k]) for k in layout.outputs},
        sweep=pb.SweepInfo(sweeps=how.directions, nnz=how.nnz, chunk=stream.chunk,
                           colouring=COLOURINGS[how.method], pattern_found=how.pattern is not None,
                           note=how.note),
        rows=[pb.NamedType(name=k, type=type_to_proto(t)) for k, t in layout.outputs.items()],
        columns=[pb.NamedType(name=k, type=type_to_proto(t)) for k, t in layout.inputs.items()]))
    for piece in stream.pieces:
        if isinstance(piece, Slab):
            yield pb.JacobianPiece(slab=pb.JacobianSlab(start=piece.start, values=tensor_to_proto(piece.values)))
            continue
        step = max(1, PIECE_BYTES // (16 + piece.values.itemsize))
        for k in range(0, len(piece.values), step):
            part = slice(k, k + step)
            yield pb.JacobianPiece(entries=pb.JacobianEntries(
                rows=tensor_to_proto(piece.rows[part]), columns=tensor_to_proto(piece.cols[part]),
                values=tensor_to_proto(piece.values[part])))


def _trace(graph_id: str, graph: Graph, call: Call, rows) -> pb.TraceResponse:
    labels = {row.id: row.label for row in rows}
    slot = {"forward": "tangent", "reverse": "adjoint"}.get(call.mode)
    names = check_outputs(graph, call.outputs)
    response = pb.TraceResponse(
        graph_id=graph_id, output_labels={n: labels[dict(graph.outputs)[n]] for n in names},
        text=trace_text(graph, rows, call.mode))
    for row in rows:
        out = response.rows.add(
            label=row.label, id=row.id, op="" if row.op == "input" else row.op,
            inputs=[labels[i] for i in row.inputs], value=tensor_to_proto(row.value),
            attrs={k: attr_to_proto(v) for k, v in row.attrs.items() if v is not None})
        if slot and row.derivative is not None:
            getattr(out, slot).CopyFrom(tensor_to_proto(row.derivative))
    return response


def trace_text(graph: Graph, rows, mode: str) -> str:
    """The Wengert list with values, then the tangent (v̇) or adjoint (v̄) table of the notes."""
    text = wengert_list(graph, {row.id: row.value for row in rows})
    if mode == "none":
        return text
    mark, order = ("\u0307", rows) if mode == "forward" else ("\u0304", rows[::-1])
    lines = [f"v{mark}{row.label[1:]} = {format_value(row.derivative)}"
             for row in order if row.derivative is not None]
    return text + "\n\n" + "\n".join(lines)
