"""Errors on the wire: a google.rpc.Status with an ErrorInfo (a stable reason, the details as
metadata) and a BadRequest, ResourceInfo or RetryInfo where they apply; the client raises the
same class with the same attributes. Every reason of the contract's ErrorReason enum has a
class, and every class a reason of the enum."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

import wengert as wg
from wengert.errors import REASONS, error_from_status
from wengert.transport.status import DETAILS_KEY, from_rpc, to_status
from wengert.v1 import errors_pb2, service_pb2 as pb
from wengert.v1 import graph_pb2

PREFIX = "ERROR_REASON_"
CONTRACT = {name[len(PREFIX):] for name in errors_pb2.ErrorReason.keys()} - {"UNSPECIFIED"}


def all_error_classes():
    todo, found = [wg.WengertError], []
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def trailer(error: wg.WengertError, request=None) -> tuple[str, str, tuple]:
    """What a client receives for `error`: code name, message and trailing metadata."""
    status = rpc_status.to_status(to_status(error, request))
    return status.code.name, status.details, status.trailing_metadata


def test_the_reasons_are_exactly_the_contracts():
    assert set(REASONS) == CONTRACT


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_has_a_reason_of_the_contract_with_its_code(cls):
    assert cls.reason in CONTRACT
    assert REASONS[cls.reason].code == cls.code


@pytest.mark.parametrize("reason", sorted(CONTRACT))
def test_every_reason_round_trips_with_its_details(reason):
    cls = REASONS[reason]
    sent = cls("node 'v3' (sin): boom", reason=reason, node="v3", op="sin", limit="memory",
               requested=10, allowed=5, flag="--x")
    got = from_rpc(*trailer(sent))
    assert type(got) is cls and got.reason == reason and str(got) == str(sent)
    assert (got.node, got.op, got.limit, got.requested, got.allowed, got.flag) == ("v3", "sin", "memory", 10, 5, "--x")


def test_the_field_at_fault_is_a_path_into_the_request():
    request = pb.EvaluateRequest(graph=graph_pb2.Graph(nodes=[graph_pb2.Node(id="a"), graph_pb2.Node(id="b")]))
    code, message, metadata = trailer(wg.InvalidGraph("bad", node="b", op="sin"), request)
    status = status_pb2.Status.FromString(dict(metadata)[DETAILS_KEY])
    bad_request = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "graph.nodes[1]"
    assert from_rpc(code, message, metadata).field == "graph.nodes[1]"
    tensor = wg.InvalidTensor("bad bytes", input="x")
    assert from_rpc(*trailer(tensor, pb.JvpRequest(tangents={"x": pb.EvaluateRequest().inputs["x"]}))).field \
        == 'tangents["x"]'


def test_an_unknown_graph_id_names_the_resource_and_busy_says_when_to_retry():
    _, _, metadata = trailer(wg.GraphNotFound("gone", graph_id="abc"))
    status = status_pb2.Status.FromString(dict(metadata)[DETAILS_KEY])
    info = error_details_pb2.ResourceInfo()
    assert any(d.Unpack(info) for d in status.details) and info.resource_name == "abc"
    busy = from_rpc(*trailer(wg.Unavailable("busy", retry_delay=0.25)))
    assert busy.reason == "SERVER_BUSY" and busy.retry_delay == 0.25


def test_a_status_without_details_gets_the_first_class_of_its_code():
    assert type(from_rpc("UNIMPLEMENTED", "no", ())) is wg.UnknownOp
    assert type(from_rpc("DEADLINE_EXCEEDED", "late", ())) is wg.DeadlineExceeded
    assert type(error_from_status("INVALID_ARGUMENT", "bad", "NOT_A_REASON")) is wg.InvalidRequest


def test_a_reason_cannot_move_an_error_to_another_status():
    assert type(error_from_status("NOT_FOUND", "gone", "INVALID_GRAPH")) is wg.GraphNotFound


def test_a_status_outside_the_table_keeps_its_code():
    error = error_from_status(grpc.StatusCode.PERMISSION_DENIED.name, "no entry")
    assert type(error) is wg.WengertError and error.code == "PERMISSION_DENIED"


def test_a_server_side_subclass_travels_as_its_reason():
    class TooManyNodes(wg.LimitExceeded):
        pass

    assert type(from_rpc(*trailer(TooManyNodes("max-nodes")))) is wg.LimitExceeded
