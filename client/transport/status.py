"""Errors on the wire, the standard gRPC way (proto/wengert/v1/errors.proto): a google.rpc.Status
with an ErrorInfo (domain "wengert", a stable reason, the error's details as metadata), and a
BadRequest, ResourceInfo or RetryInfo where they apply, in the `grpc-status-details-bin` trailer.

The server turns a `WengertError` into that status (`to_status`); the client turns it back into
the same class with the same attributes (`from_rpc`). Both sides go through here, so an error
means the same thing on both ends, as tensors do through `wengert.transport.wire`.
"""

from __future__ import annotations

from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from wengert.errors import DETAILS, WengertError, error_from_status

DOMAIN = "wengert"
DETAILS_KEY = "grpc-status-details-bin"
GRAPH_RESOURCE = "wengert.v1.Graph"
INTEGER_DETAILS = ("requested", "allowed")


def to_status(error: WengertError, request=None) -> status_pb2.Status:
    """The status a server sends for `error`, raised while serving `request` (which locates the
    field at fault, e.g. the index of the node in the graph it carries)."""
    field = error.field or _field_of(error, request)
    metadata = {key: str(getattr(error, key)) for key in DETAILS
                if getattr(error, key) not in ("", None) and key != "field"}
    if field:
        metadata["field"] = field
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata)
    status = status_pb2.Status(code=code_pb2.Code.Value(error.code), message=str(error))
    status.details.add().Pack(info)
    if field and error.code in ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"):
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=str(error))
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    if error.graph_id:
        status.details.add().Pack(error_details_pb2.ResourceInfo(
            resource_type=GRAPH_RESOURCE, resource_name=error.graph_id,
            description="send the graph itself: this server does not hold it"))
    if error.retry_delay is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_delay * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def from_rpc(code: str, message: str, trailing_metadata) -> WengertError:
    """The error a client raises for a failed call: its class from the ErrorInfo's reason, its
    attributes from the details (a status without details, from gRPC itself, by its code)."""
    raw = next((value for key, value in trailing_metadata or () if key == DETAILS_KEY), None)
    if raw is None:
        return error_from_status(code, message)
    status = status_pb2.Status.FromString(raw)
    reason, details = "", {}
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
            if info.domain == DOMAIN:
                reason = info.reason
                details.update({key: int(value) if key in INTEGER_DETAILS else value
                                for key, value in info.metadata.items() if key in DETAILS})
        elif any_detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            any_detail.Unpack(retry)
            details["retry_delay"] = retry.retry_delay.ToNanoseconds() / 1e9
    return error_from_status(code, status.message or message, reason, **details)


def _field_of(error: WengertError, request) -> str:
    """The path of the request field at fault: the node's place in the graph sent in full, else
    the graph id it was named by; or the tensor of the graph input (or output) at fault."""
    if request is None:
        return ""
    if error.node and _has(request, "graph"):
        for index, node in enumerate(request.graph.nodes):
            if node.id == error.node:
                return f"graph.nodes[{index}]"
    if error.node and _has(request, "graph_id"):
        return "graph_id"
    if error.input:
        for field in ("inputs", "tangents", "cotangents", "directions", "parameters", "data"):
            if field in request.DESCRIPTOR.fields_by_name and error.input in getattr(request, field):
                return f'{field}["{error.input}"]'
    return ""


def _has(request, field: str) -> bool:
    return (field in request.DESCRIPTOR.fields_by_name and "graph_ref" in request.DESCRIPTOR.oneofs_by_name
            and request.WhichOneof("graph_ref") == field)
