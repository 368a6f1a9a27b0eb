"""Calls to `wengert.v1` requests, and responses back to the results the local engine returns.

The one place the sync and async remote clients encode and decode (tensors and graphs through
`wengert.transport.wire`). Decoded arrays view the response's bytes without copying, so they are
read-only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from google.protobuf.message import Message

from wengert.api import OpInfo
from wengert.execution.call import Call
from wengert.execution.engine import JacobianResult
from wengert.autodiff.hessian import HessianResult
from wengert.jacobians.sweeps import Entries, Layout, Slab, SparseBlock, assemble
from wengert.errors import InvalidRequest
from wengert.execution.cost import PlanCost, Quote
from wengert.expectations.wire import expectation_to_proto, result_from_proto
from wengert.v1 import service_pb2 as pb
from wengert.plugins.opdef import REQUIRED, Attr
from wengert.transport.wire import (ATTR_KINDS, COLOURINGS, DERIVATIVE_KINDS, FORMATS, JACOBIAN_MODES,
                                    TRACE_MODES, attr_from_proto, checkpoint_to_proto, enum_name,
                                    graph_from_proto, signature_to_proto,
                          tensor_from_proto, tensor_to_proto, type_from_proto)

_REQUESTS = {
    "Evaluate": pb.EvaluateRequest, "Jvp": pb.JvpRequest, "Vjp": pb.VjpRequest,
    "Jacobian": pb.JacobianRequest, "Trace": pb.TraceRequest, "ListOps": pb.ListOpsRequest,
    "JacobianStream": pb.JacobianRequest, "Hessian": pb.HessianRequest, "Hvp": pb.HvpRequest,
    "DerivativeGraph": pb.DerivativeGraphRequest, "InferTypes": pb.InferTypesRequest,
    "ExpectationGradient": pb.ExpectationGradientRequest,
}
STREAMS = frozenset({"JacobianStream"})  # server-streaming RPCs: their response is an iterator
# The field of CostRequest that carries each RPC's request, to price it.
COST_FIELDS = {"Evaluate": "evaluate", "Jvp": "jvp", "Vjp": "vjp", "Jacobian": "jacobian",
               "JacobianStream": "jacobian_stream", "Hessian": "hessian", "Hvp": "hvp", "Trace": "trace",
               "DerivativeGraph": "derivative_graph", "ExpectationGradient": "expectation_gradient"}
_MODES = {"Jacobian": JACOBIAN_MODES, "JacobianStream": JACOBIAN_MODES, "Trace": TRACE_MODES}


def encode(call: Call) -> Message:
    """The request for `call` with its tensors encoded; the graph reference is set by the
    caller, so a resend swaps it without encoding the tensors again."""
    msg = _REQUESTS[call.rpc]()
    fields = msg.DESCRIPTOR.fields_by_name
    for name in ("inputs", "tangents", "cotangents", "directions"):
        if name in fields:
            for key, array in getattr(call, name).items():
                getattr(msg, name)[key].CopyFrom(tensor_to_proto(array))
    for name in ("outputs", "wrt", "batched_inputs"):
        if name in fields:
            getattr(msg, name).extend(getattr(call, name))
    if "batched" in fields:
        msg.batched = call.batched
    if "mode" in fields:
        msg.mode = _MODES[call.rpc][call.mode]
    if "output" in fields:
        msg.output = call.output
    if "format" in fields:
        msg.format = FORMATS[call.format]
    if "kind" in fields:
        msg.kind = DERIVATIVE_KINDS[call.kind]
    if "checkpoint" in fields:
        msg.checkpoint.CopyFrom(checkpoint_to_proto(call.checkpoint))
    if "expectation" in fields and call.expectation is not None:
        msg.expectation.CopyFrom(expectation_to_proto(call.expectation))
    if "signatures" in fields:
        msg.signatures.extend(signature_to_proto(s.op, s.inputs, s.attrs) for s in call.signatures)
    return msg


def decode(call: Call, response: Message) -> Any:
    """The result of `call` in the form the local engine returns it."""
    match call.rpc:
        case "Evaluate":
            return _arrays(response.outputs, "output")
        case "Jvp":
            return _arrays(response.outputs, "output"), _arrays(response.tangents, "tangent of")
        case "Vjp":
            return _arrays(response.outputs, "output"), _arrays(response.cotangents, "cotangent of")
        case "Jacobian":
            blocks = {(b.output, b.input): _block(b, "jacobian", f"block d{b.output}/d{b.input}")
                      for b in response.blocks}
            mode = enum_name(JACOBIAN_MODES, response.mode, "Jacobian mode")
            return JacobianResult(_arrays(response.outputs, "output"), blocks, mode, call.format,
                                  *_sweep(response.sweep))
        case "JacobianStream":
            return _assembled(call.format, response)
        case "Hessian":
            blocks = {(b.row, b.column): _block(b, "hessian", f"block d2/d{b.row}d{b.column}")
                      for b in response.blocks}
            return HessianResult(tensor_from_proto(response.value, "value"),
                                 _arrays(response.gradient, "gradient"), blocks, call.format,
                                 *_sweep(response.sweep))
        case "Hvp":
            return (tensor_from_proto(response.value, "value"), _arrays(response.gradient, "gradient"),
                    _arrays(response.products, "H·v for"))
        case "DerivativeGraph":
            return graph_from_proto(response.graph, call.registry)
        case "Trace":
            values = {row.id: tensor_from_proto(row.value, f"value of {row.label}")
                      for row in response.rows}
            derivatives = {row.id: tensor_from_proto(getattr(row, kind), f"{kind} of {row.label}")
                           for row in response.rows for kind in ("tangent", "adjoint")
                           if row.HasField(kind)}
            return values, derivatives
        case "ListOps":
            return [OpInfo(op.name, op.plugin, op.op_version, None if op.arity < 0 else op.arity,
                           tuple(a.name for a in op.attrs), op.doc, op.has_jvp, op.has_vjp,
                           tuple(_attr(a, f"op {op.name!r}: attribute {a.name!r}") for a in op.attrs))
                    for op in response.ops]
        case "ExpectationGradient":
            return result_from_proto(response)
        case "InferTypes":  # each a type, or the SignatureError the server refused it with
            return [type_from_proto(r.type) if r.WhichOneof("result") == "type" else r.error
                    for r in response.results]
    raise ValueError(f"unknown rpc {call.rpc!r}")


def _attr(info: pb.AttrInfo, what: str) -> Attr:
    """An attribute of the catalogue as the `Attr` record the op declares."""
    default = (REQUIRED if info.required else
               attr_from_proto(info.default_value, what) if info.HasField("default_value") else None)
    return Attr(info.name, enum_name(ATTR_KINDS, info.kind, f"{what}: kind"), default, info.doc)


def _block(msg: Message, dense_field: str, what: str) -> np.ndarray | SparseBlock:
    if msg.HasField("sparse"):
        return SparseBlock(tensor_from_proto(msg.sparse.indices, what),
                           tensor_from_proto(msg.sparse.values, what), tuple(msg.sparse.shape))
    return tensor_from_proto(getattr(msg, dense_field), what)


def _sweep(info: pb.SweepInfo) -> tuple[int, int, int, str, bool, str]:
    """The fields of `SweepInfo`, in the order results hold them (a colouring this client does
    not know, or a server that does not say, gives "")."""
    colouring = next((name for name, code in COLOURINGS.items() if code == info.colouring), "")
    return info.sweeps, info.nnz, info.chunk, colouring, info.pattern_found, info.note


def _assembled(format: str, stream) -> JacobianResult:
    """A streamed Jacobian: the header, then its pieces assembled into blocks as they arrive."""
    stream = iter(stream)
    header = next(stream).header
    layout = Layout({r.name: type_from_proto(r.type) for r in header.rows},
                    {c.name: type_from_proto(c.type) for c in header.columns})
    mode = enum_name(JACOBIAN_MODES, header.mode, "Jacobian mode")
    blocks = assemble(layout, mode, (_piece(msg) for msg in stream), format)
    return JacobianResult(_arrays(header.outputs, "output"), blocks, mode, format, *_sweep(header.sweep))


def _piece(msg: pb.JacobianPiece) -> Slab | Entries:
    if msg.HasField("slab"):
        return Slab(msg.slab.start, tensor_from_proto(msg.slab.values, "slab"))
    entries = msg.entries
    return Entries(tensor_from_proto(entries.rows, "rows"), tensor_from_proto(entries.columns, "columns"),
                   tensor_from_proto(entries.values, "entries"))


def _arrays(tensors: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
    return {name: tensor_from_proto(t, f"{what} {name!r}") for name, t in tensors.items()}


def cost_request(rpc: str, request: Message) -> pb.CostRequest:
    """The Cost request pricing `request` of `rpc`."""
    if rpc not in COST_FIELDS:
        raise InvalidRequest(f"{rpc} requests cannot be priced")
    return pb.CostRequest(**{COST_FIELDS[rpc]: request})


def decode_quote(response: pb.CostResponse) -> Quote:
    plans = tuple(PlanCost(p.what, p.times, p.peak_bytes, p.work) for p in response.plans)
    return Quote(response.peak_bytes, response.work, response.response_bytes, plans, response.admitted,
                 response.refusal)
