"""The contract is what a client in any language relies on: the rules of proto/SEMANTICS.md (its
dtype promotion table read from the file itself), the standard services of proto/README.md, the
structured errors of errors.proto, and op documentation any language can read. All checked
against a real server, through raw protobuf messages."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from wengert.transport.wire import dtype_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

SEMANTICS = (Path(__file__).resolve().parents[1] / "proto" / "SEMANTICS.md").read_text()
DTYPES = ("bool", "int32", "int64", "float32", "float64")


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def graph(inputs: dict[str, tuple[str, list[int]]], nodes: list[tuple], output: str) -> graph_pb2.Graph:
    msg = graph_pb2.Graph()
    for name, (dtype, shape) in inputs.items():
        msg.inputs.add(name=name, type=tensor_pb2.TensorType(dtype=dtype_to_proto(dtype), shape=shape))
    for node_id, op, args, attrs in nodes:
        node = msg.nodes.add(id=node_id, op=op, inputs=args)
        for key, value in attrs.items():
            node.attrs[key].CopyFrom(value)
    msg.outputs.add(name="y", value=output)
    return msg


def evaluate(stub, op: str, *dtypes: str, **attrs) -> np.ndarray:
    names = [f"x{i}" for i in range(len(dtypes))]
    msg = graph({n: (d, [2]) for n, d in zip(names, dtypes)}, [("v", op, names, attrs)], "v")
    inputs = {n: tensor_to_proto(np.ones(2, d)) for n, d in zip(names, dtypes)}
    return tensor_from_proto(stub.Evaluate(pb.EvaluateRequest(graph=msg, inputs=inputs)).outputs["y"])


def failure(call, request) -> tuple[grpc.RpcError, error_details_pb2.ErrorInfo, list]:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    status = rpc_status.from_call(err.value)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.domain == "wengert"
    return err.value, info, status.details


def promotion_table() -> dict[tuple[str, str], str]:
    """SEMANTICS.md's promotion table, read from the markdown."""
    rows = re.findall(r"^\| \*\*(\w+)\*\* \|(.*)\|$", SEMANTICS, re.M)
    header = re.search(r"^\| promote \|(.*)\|$", SEMANTICS, re.M).group(1).split("|")
    columns = [c.strip() for c in header]
    return {(row, col): cell.strip() for row, cells in rows for col, cell in zip(columns, cells.split("|"))}


# -- semantics -----------------------------------------------------------------------------------
def test_the_promotion_table_is_the_servers():
    table = promotion_table()
    assert len(table) == 25 and set(table.values()) <= set(DTYPES)


@pytest.mark.parametrize("a", DTYPES)
@pytest.mark.parametrize("b", DTYPES)
def test_binary_ops_promote_as_the_table_says(stub, a, b):
    expected = promotion_table()[(a, b)]
    assert evaluate(stub, "maximum", a, b).dtype == np.dtype(expected)
    if not a == b == "bool":
        assert evaluate(stub, "add", a, b).dtype == np.dtype(expected)


def test_arithmetic_on_bools_is_refused_with_its_reason(stub):
    msg = graph({"a": ("bool", [2]), "b": ("bool", [2])}, [("s", "add", ["a", "b"], {})], "s")
    _, info, _ = failure(stub.Evaluate, pb.EvaluateRequest(graph=msg))
    assert info.reason == "SHAPE_MISMATCH" and info.metadata["node"] == "s" and info.metadata["op"] == "add"


@pytest.mark.parametrize("dtype, sin, sum_, mean", [
    ("bool", "float64", "int64", "float64"), ("int32", "float64", "int64", "float64"),
    ("int64", "float64", "int64", "float64"), ("float32", "float32", "float32", "float32"),
    ("float64", "float64", "float64", "float64")])
def test_math_functions_and_reductions_give_the_documented_dtypes(stub, dtype, sin, sum_, mean):
    assert (evaluate(stub, "sin", dtype).dtype, evaluate(stub, "sum", dtype).dtype,
            evaluate(stub, "mean", dtype).dtype) == (np.dtype(sin), np.dtype(sum_), np.dtype(mean))


def test_division_is_true_division_and_floor_division_rounds_down(stub):
    msg = graph({"a": ("int64", []), "b": ("int64", [])}, [("d", "div", ["a", "b"], {})], "d")
    request = pb.EvaluateRequest(graph=msg, inputs={"a": tensor_to_proto(np.int64(-7)), "b": tensor_to_proto(np.int64(2))})
    assert tensor_from_proto(stub.Evaluate(request).outputs["y"]) == -3.5
    request.graph.nodes[0].op = "floor_divide"
    assert tensor_from_proto(stub.Evaluate(request).outputs["y"]) == -4


@pytest.mark.parametrize("name", ["float32", "DTYPE_FLOAT32"])
def test_cast_takes_dtype_names_and_the_contracts_enum_names(stub, name):
    assert evaluate(stub, "cast", "float64", dtype=graph_pb2.AttrValue(s=name)).dtype == np.float32


@pytest.mark.parametrize("shape", [[], [1], [1, 1]])
def test_a_loss_is_any_float_with_one_element(stub, shape):
    msg = graph({"w": ("float64", [3])}, [("c", "mul", ["w", "w"], {}), ("s", "sum", ["c"], {}),
                                          ("l", "reshape", ["s"], {"shape": graph_pb2.AttrValue(
                                              ints=graph_pb2.Ints(values=shape))})], "l")
    w = {"w": tensor_to_proto(np.array([1.0, 2.0, 3.0]))}
    hessian = stub.Hessian(pb.HessianRequest(graph=msg, inputs=w))
    np.testing.assert_array_equal(tensor_from_proto(hessian.blocks[0].hessian), 2 * np.eye(3))
    hvp = stub.Hvp(pb.HvpRequest(graph=msg, inputs=w, directions=w))
    np.testing.assert_array_equal(tensor_from_proto(hvp.products["w"]), [2.0, 4.0, 6.0])
    last = list(stub.Minimize(pb.MinimizeRequest(graph=msg, parameters=w, learning_rate=0.25,
                                                 stop=pb.StopRule(max_steps=3))))[-1]
    np.testing.assert_allclose(tensor_from_proto(last.parameters["w"]), [0.125, 0.25, 0.375])  # w / 2**3


def test_auto_mode_goes_forward_on_ties_and_reverse_when_inputs_outnumber_outputs(stub):
    dense = graph({"x": ("float64", [3])}, [("s", "softmax", ["x"], {})], "s")
    x = {"x": tensor_to_proto(np.ones(3))}
    assert stub.Jacobian(pb.JacobianRequest(graph=dense, inputs=x)).mode == pb.MODE_FORWARD
    reduce = graph({"x": ("float64", [3])}, [("s", "softmax", ["x"], {}),
                                             ("t", "take", ["s", "i"], {})], "t")
    reduce.inputs.add(name="i", type=tensor_pb2.TensorType(dtype=tensor_pb2.DTYPE_INT64, shape=[2]))
    request = pb.JacobianRequest(graph=reduce, inputs={**x, "i": tensor_to_proto(np.array([0, 1]))})
    assert stub.Jacobian(request).mode == pb.MODE_REVERSE


# -- errors -------------------------------------------------------------------------------------
def test_a_bad_node_is_named_with_its_place_in_the_request(stub):
    msg = graph({"x": ("float64", [3])}, [("a", "sin", ["x"], {}), ("b", "matmul", ["a", "a"], {}),
                                          ("c", "reshape", ["b"], {"shape": graph_pb2.AttrValue(
                                              ints=graph_pb2.Ints(values=[5]))})], "c")
    error, info, details = failure(stub.Evaluate, pb.EvaluateRequest(graph=msg))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.reason, info.metadata["node"], info.metadata["op"], info.metadata["field"]) == (
        "SHAPE_MISMATCH", "c", "reshape", "graph.nodes[2]")
    bad = error_details_pb2.BadRequest()
    assert details[1].Unpack(bad) and bad.field_violations[0].field == "graph.nodes[2]"


def test_tensor_errors_name_what_the_client_sent(stub):
    msg = graph({"x": ("float64", [3])}, [("a", "sin", ["x"], {})], "a")
    request = pb.JvpRequest(graph=msg, inputs={"x": tensor_to_proto(np.ones(3))},
                            tangents={"x": tensor_to_proto(np.ones(4))})
    error, info, _ = failure(stub.Jvp, request)
    assert "tangent for input 'x' must be float64[3], got float64[4]" in error.details()
    assert "tangent:" not in error.details()
    assert (info.reason, info.metadata["input"], info.metadata["field"]) == ("INVALID_TENSOR", "x", 'tangents["x"]')


def test_graph_ids_empty_and_unknown(stub):
    error, info, _ = failure(stub.Evaluate, pb.EvaluateRequest(graph_id=""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and info.metadata["field"] == "graph_id"
    error, info, details = failure(stub.Evaluate, pb.EvaluateRequest(graph_id="no-such-graph"))
    assert error.code() == grpc.StatusCode.NOT_FOUND and info.reason == "GRAPH_NOT_FOUND"
    resource = error_details_pb2.ResourceInfo()
    assert any(d.Unpack(resource) for d in details) and resource.resource_name == "no-such-graph"


def test_a_refused_request_says_which_limit_how_much_and_how_to_raise_it(stub):
    msg = graph({"x": ("float64", [1])}, [("b", "broadcast_to", ["x"], {"shape": graph_pb2.AttrValue(
        ints=graph_pb2.Ints(values=[1 << 28]))}), ("s", "sin", ["b"], {}), ("t", "sum", ["s"], {})], "t")
    error, info, _ = failure(stub.Evaluate, pb.EvaluateRequest(graph=msg, inputs={"x": tensor_to_proto(np.ones(1))}))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and info.reason == "LIMIT_EXCEEDED"
    assert {k: info.metadata[k] for k in ("limit", "allowed", "flag", "node", "op")} == {
        "limit": "memory", "allowed": str(1 << 30), "flag": "--memory-budget-mb", "node": "s", "op": "sin"}
    assert int(info.metadata["requested"]) > 1 << 30


# -- standard services --------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_serves_the_contract_with_its_comments(server, version):
    with server.channel() as channel:
        call = channel.stream_stream(f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        listed, found = call(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="wengert.v1.DifferentiationService")]))
    services = {s.name for s in listed.list_services_response.service}
    assert {"wengert.v1.DifferentiationService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} <= services
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in found.file_descriptor_response.file_descriptor_proto]
    service = next(f for f in files if f.name == "wengert/v1/service.proto")
    comments = " ".join(loc.leading_comments for loc in service.source_code_info.location)
    assert "Automatic differentiation of computation graphs" in comments
    assert {f.name for f in files} >= {"wengert/v1/graph.proto", "wengert/v1/tensor.proto"}


# -- op documentation ------------------------------------------------------------------------------
PYTHONISMS = (r"\bnp\.", r"\bnumpy\b", r"\bNone\b", r"\bTrue\b", r"\bFalse\b", r"\bslice\.indices\b",
              r"_\w+_partials\b", r"\bPython\b", r"\blambda\b", r"\bself\b", r"\w+\(\)\s*$")


def test_op_docs_speak_any_language_and_every_attribute_is_documented(stub):
    catalogue = stub.ListOps(pb.ListOpsRequest())
    problems = []
    for op in catalogue.ops:
        if not op.doc:
            problems.append(f"{op.name}: no doc")
        problems += [f"{op.name}: {pattern!r} in {op.doc!r}" for pattern in PYTHONISMS if re.search(pattern, op.doc)]
        for attr in op.attrs:
            if not attr.doc:
                problems.append(f"{op.name}.{attr.name}: no doc")
            problems += [f"{op.name}.{attr.name}: {pattern!r} in {attr.doc!r}"
                         for pattern in PYTHONISMS if re.search(pattern, attr.doc)]
    assert problems == []
