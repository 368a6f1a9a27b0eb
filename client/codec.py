"""Calls to `wengert.v1` requests, and responses back to the results the local engine returns.

The one place the sync and async remote clients encode and decode (tensors and graphs through
`wengert.wire`). Decoded arrays view the response's bytes without copying, so they are
read-only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from google.protobuf.message import Message

from wengert.api import Call, OpInfo
from wengert.engine import JacobianResult
from wengert.v1 import service_pb2 as pb
from wengert.wire import tensor_from_proto, tensor_to_proto

_REQUESTS = {
    "Evaluate": pb.EvaluateRequest, "Jvp": pb.JvpRequest, "Vjp": pb.VjpRequest,
    "Jacobian": pb.JacobianRequest, "Trace": pb.TraceRequest, "ListOps": pb.ListOpsRequest,
}
_MODES = {
    "Jacobian": {"auto": pb.MODE_AUTO, "forward": pb.MODE_FORWARD, "reverse": pb.MODE_REVERSE},
    "Trace": {"none": pb.TRACE_MODE_NONE, "forward": pb.TRACE_MODE_FORWARD,
              "reverse": pb.TRACE_MODE_REVERSE},
}
_JACOBIAN_MODE_NAMES = {code: name for name, code in _MODES["Jacobian"].items()}


def encode(call: Call) -> Message:
    """The request for `call` with its tensors encoded; the graph reference is set by the
    caller, so a resend swaps it without encoding the tensors again."""
    msg = _REQUESTS[call.rpc]()
    fields = msg.DESCRIPTOR.fields_by_name
    for name in ("inputs", "tangents", "cotangents"):
        if name in fields:
            for key, array in getattr(call, name).items():
                getattr(msg, name)[key].CopyFrom(tensor_to_proto(array))
    for name in ("outputs", "wrt"):
        if name in fields:
            getattr(msg, name).extend(getattr(call, name))
    if "batched" in fields:
        msg.batched = call.batched
    if "mode" in fields:
        msg.mode = _MODES[call.rpc][call.mode]
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
            blocks = {(b.output, b.input): tensor_from_proto(b.jacobian, f"block d{b.output}/d{b.input}")
                      for b in response.blocks}
            return JacobianResult(_arrays(response.outputs, "output"), blocks,
                                  _JACOBIAN_MODE_NAMES[response.mode])
        case "Trace":
            values = {row.id: tensor_from_proto(row.value, f"value of {row.label}")
                      for row in response.rows}
            derivatives = {row.id: tensor_from_proto(getattr(row, kind), f"{kind} of {row.label}")
                           for row in response.rows for kind in ("tangent", "adjoint")
                           if row.HasField(kind)}
            return values, derivatives
        case "ListOps":
            return [OpInfo(op.name, op.plugin, op.op_version, None if op.arity < 0 else op.arity,
                           tuple(a.name for a in op.attrs), op.doc, op.has_jvp, op.has_vjp)
                    for op in response.ops]
    raise ValueError(f"unknown rpc {call.rpc!r}")


def _arrays(tensors: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
    return {name: tensor_from_proto(t, f"{what} {name!r}") for name, t in tensors.items()}
