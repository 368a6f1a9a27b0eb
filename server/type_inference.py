"""InferTypes: the output types of op signatures, for clients that build graphs with ops only
this server has (see `InferTypesRequest` in service.proto, and `wengert.server_ops` for the SDK's
side).

Each signature is typed as a one-node graph through `GraphBuilder`, so it passes exactly the
checks a node of a received graph passes (op known, arity, attributes, shape rule). A signature
that fails gets the error that node would get, without the node's name, and the others are
typed as usual.
"""

from __future__ import annotations

from typing import Iterable

from wengert.errors import InvalidGraph, WengertError
from wengert.ir.builder import GraphBuilder
from wengert.ir.graph import TensorType
from wengert.transport.wire import attr_from_proto, type_from_proto, type_to_proto
from wengert.v1 import service_pb2 as pb

NODE = "node"  # the id of the one-node graph's node; messages leave it out
INT64_MAX = 2**63 - 1  # the wire's largest dimension


def infer_types(signatures: Iterable[pb.OpSignature], registry) -> pb.InferTypesResponse:
    """One result per signature, in order: its output type, or the error it was refused with."""
    response = pb.InferTypesResponse()
    for signature in signatures:
        result = response.results.add()
        try:
            result.type.CopyFrom(type_to_proto(output_type(signature, registry)))
        except WengertError as exc:
            result.error.CopyFrom(signature_error(exc))
    return response


def output_type(signature: pb.OpSignature, registry) -> TensorType:
    """The type of `signature.op` applied to inputs of `signature.inputs` types."""
    builder = GraphBuilder(registry)
    inputs = [builder.input(f"input{i}", type_from_proto(t, f"input #{i}"))
              for i, t in enumerate(signature.inputs)]
    attrs = {key: attr_from_proto(value, f"attribute {key!r}", registry)
             for key, value in sorted(signature.attrs.items())}
    type_ = builder.add(signature.op, inputs, attrs, node_id=NODE).type
    if any(d > INT64_MAX for d in type_.shape):  # e.g. concatenating two huge open-ended types
        raise InvalidGraph(f"the output type {type_} has a dimension larger than the wire's int64")
    return type_


def signature_error(exc: WengertError) -> pb.SignatureError:
    """The wire form of why a signature was refused: its status, reason and bare message."""
    return pb.SignatureError(code=exc.code, reason=exc.reason, message=getattr(exc, "detail", str(exc)))
