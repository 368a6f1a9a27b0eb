"""Requests that used to get INTERNAL (issue 10, and what tests/test_fuzz_service.py found),
each through a real server: now they get a result, or the status their fault deserves with a
message naming it."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from wengert.transport.wire import tensor_from_proto, tensor_to_proto
from wengert.v1 import graph_pb2, tensor_pb2
from wengert.v1 import service_pb2 as pb

FLOAT64, INT64 = tensor_pb2.DTYPE_FLOAT64, tensor_pb2.DTYPE_INT64
SERVICE_METHODS = pb.DESCRIPTOR.services_by_name["DifferentiationService"].methods


@pytest.fixture(scope="module")
def stub(server):
    with server.channel() as channel:
        yield server.stub(channel)


def graph(inputs: dict, nodes: list, output: str) -> graph_pb2.Graph:
    """inputs: name -> (dtype, shape); nodes: (id, op, inputs, attrs as AttrValue keywords)."""
    msg = graph_pb2.Graph()
    for name, (dtype, shape) in inputs.items():
        msg.inputs.add(name=name, type=tensor_pb2.TensorType(dtype=dtype, shape=shape))
    for node_id, op, operands, attrs in nodes:
        node = msg.nodes.add(id=node_id, op=op, inputs=operands)
        for key, value in attrs.items():
            node.attrs[key].CopyFrom(graph_pb2.AttrValue(**value))
    msg.outputs.add(name="y", value=output)
    return msg


def ints(*values) -> dict:
    return {"ints": graph_pb2.Ints(values=values)}


def tensors(**values) -> dict:
    return {name: tensor_to_proto(np.asarray(v)) for name, v in values.items()}


def refused(call, request, code: grpc.StatusCode, *fragments: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        answer = call(request, timeout=30)
        if hasattr(answer, "__next__"):  # a stream: its status comes while it is read
            list(answer)
    assert err.value.code() == code, err.value.details()
    for fragment in fragments:
        assert fragment in err.value.details()
    return err.value.details()


# -- a derivative with respect to nothing ------------------------------------------------------
NO_FLOAT_INPUT = graph({"n": (INT64, [3])}, [("c", "cast", ["n"], {"dtype": {"s": "float64"}}),
                                              ("s", "sum", ["c"], {})], "s")


@pytest.mark.parametrize("format", [pb.FORMAT_DENSE, pb.FORMAT_SPARSE])
def test_a_reverse_jacobian_without_float_inputs_has_no_blocks(stub, format):
    answer = stub.Jacobian(pb.JacobianRequest(graph=NO_FLOAT_INPUT, inputs=tensors(n=np.arange(3)),
                                              mode=pb.MODE_REVERSE, format=format))
    assert answer.mode == pb.MODE_REVERSE and not answer.blocks and answer.sweep.sweeps == 0
    assert float(tensor_from_proto(answer.outputs["y"])) == 3.0
    pieces = list(stub.JacobianStream(pb.JacobianRequest(graph=NO_FLOAT_INPUT, inputs=tensors(n=np.arange(3)),
                                                         mode=pb.MODE_REVERSE)))
    assert [p.WhichOneof("part") for p in pieces] == ["header"] and not pieces[0].header.columns


@pytest.mark.parametrize("format", [pb.FORMAT_DENSE, pb.FORMAT_SPARSE])
def test_a_hessian_without_float_inputs_has_no_blocks(stub, format):
    request = pb.HessianRequest(graph=NO_FLOAT_INPUT, inputs=tensors(n=np.arange(3)), format=format)
    answer = stub.Hessian(request)
    assert not answer.blocks and not answer.gradient and answer.sweep.sweeps == 0
    assert float(tensor_from_proto(answer.value)) == 3.0


# -- pad of a scalar ---------------------------------------------------------------------------
def test_a_scalar_padded_with_no_widths_is_itself_in_every_rpc(stub):
    padded = graph({"x": (FLOAT64, [])}, [("p", "pad", ["x"], {"pad_width": ints()}),
                                          ("s", "sin", ["p"], {})], "s")
    x = tensors(x=0.5)
    value = stub.Evaluate(pb.EvaluateRequest(graph=padded, inputs=x)).outputs["y"]
    assert float(tensor_from_proto(value)) == math.sin(0.5)
    jvp = stub.Jvp(pb.JvpRequest(graph=padded, inputs=x, tangents=tensors(x=2.0)))
    assert float(tensor_from_proto(jvp.tangents["y"])) == pytest.approx(2 * math.cos(0.5))
    vjp = stub.Vjp(pb.VjpRequest(graph=padded, inputs=x, cotangents=tensors(y=1.0)))
    assert float(tensor_from_proto(vjp.cotangents["x"])) == pytest.approx(math.cos(0.5))
    hessian = stub.Hessian(pb.HessianRequest(graph=padded, inputs=x))
    assert float(tensor_from_proto(hessian.blocks[0].hessian)) == pytest.approx(-math.sin(0.5))


# -- constants folded while a derivative graph is built -----------------------------------------
FAILING_CONSTANTS = {
    "max": [("e", "constant", [], {"value": {"tensor": tensor_to_proto(np.zeros(0))}}),
            ("m", "max", ["e"], {})],
    "take": [("v", "constant", [], {"value": {"tensor": tensor_to_proto(np.arange(3.0))}}),
             ("i", "constant", [], {"value": {"tensor": tensor_to_proto(np.int64(7))}}),
             ("m", "take", ["v", "i"], {})],
}


@pytest.mark.parametrize("op", FAILING_CONSTANTS)
def test_a_constant_subexpression_that_fails_is_an_evaluation_error(stub, op):
    failing = graph({"x": (FLOAT64, [])}, [*FAILING_CONSTANTS[op], ("y", "mul", ["x", "m"], {})], "y")
    x = tensors(x=2.0)
    refused(stub.Evaluate, pb.EvaluateRequest(graph=failing, inputs=x), grpc.StatusCode.INVALID_ARGUMENT,
            f"node 'm' ({op})")
    refused(stub.Vjp, pb.VjpRequest(graph=failing, inputs=x, cotangents=tensors(y=1.0)),
            grpc.StatusCode.INVALID_ARGUMENT, f"({op})")
    refused(stub.Jvp, pb.JvpRequest(graph=failing, inputs=x, tangents=tensors(x=1.0)),
            grpc.StatusCode.INVALID_ARGUMENT, f"({op})")
    derivative = stub.DerivativeGraph(pb.DerivativeGraphRequest(graph=failing,
                                                                kind=pb.DERIVATIVE_KIND_GRADIENT))
    assert op in {node.op for node in derivative.graph.nodes}  # kept, not folded


# -- Minimize ----------------------------------------------------------------------------------
def test_minimize_under_the_spectral_norm_with_an_empty_parameter_converges_at_once(stub):
    empty = graph({"w": (FLOAT64, [0])}, [("s", "sum", ["w"], {})], "s")
    (final,) = stub.Minimize(pb.MinimizeRequest(
        graph=empty, parameters=tensors(w=np.zeros(0)), norm=pb.Norm(name="spectral"), learning_rate=0.1,
        stop=pb.StopRule(max_steps=3)))
    assert final.stop_reason == pb.STOP_REASON_CONVERGED and final.gradient_norm == 0.0
    assert tensor_from_proto(final.parameters["w"]).shape == (0,)


@pytest.mark.parametrize("stop", [pb.StopRule(max_seconds=math.nan),  # ran until the deadline
                                  pb.StopRule(max_steps=1, gradient_tolerance=math.nan)],
                         ids=["time", "tolerance"])
def test_minimize_refuses_a_nan_stop_rule_instead_of_running_forever(stub, stop):
    square = graph({"w": (FLOAT64, [])}, [("s", "square", ["w"], {})], "s")
    request = pb.MinimizeRequest(graph=square, parameters=tensors(w=1.0), learning_rate=1e-9, stop=stop)
    refused(stub.Minimize, request, grpc.StatusCode.INVALID_ARGUMENT, "stopping limits", "nan")


# -- shapes NumPy cannot hold ------------------------------------------------------------------
def test_an_empty_input_with_huge_dimensions_is_refused_naming_it(stub):
    sin = graph({"x": (FLOAT64, [-1, -1, 0])}, [("s", "sin", ["x"], {})], "s")
    huge = tensor_pb2.Tensor(dtype=FLOAT64, shape=[2**62, 2**62, 0])
    refused(stub.Evaluate, pb.EvaluateRequest(graph=sin, inputs={"x": huge}),
            grpc.StatusCode.INVALID_ARGUMENT, "input 'x'", "empty shape")


@pytest.mark.parametrize("declared, nodes, fragment", [
    ([2**40, 0], [], "input 'x'"),
    ([1] * 17, [], "input 'x': 17 dimensions"),
    ([], [("b", "broadcast_to", ["x"], {"shape": ints(2**62, 0)})], "node 'b' (broadcast_to)"),
    ([], [("b", "reshape", ["x"], {"shape": ints(*[1] * 20)})], "node 'b' (reshape): 20 dimensions"),
])
def test_graphs_with_shapes_numpy_cannot_hold_are_refused(stub, declared, nodes, fragment):
    msg = graph({"x": (FLOAT64, declared)}, nodes, nodes[-1][0] if nodes else "x")
    refused(stub.DerivativeGraph, pb.DerivativeGraphRequest(graph=msg, kind=pb.DERIVATIVE_KIND_JVP),
            grpc.StatusCode.INVALID_ARGUMENT, fragment)


# -- resources ---------------------------------------------------------------------------------
def test_an_output_too_large_to_encode_is_resource_exhausted(stub):
    view = graph({"x": (FLOAT64, [])}, [("b", "broadcast_to", ["x"], {"shape": ints(2**28 + 1)})], "b")
    refused(stub.Evaluate, pb.EvaluateRequest(graph=view, inputs=tensors(x=1.0)),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "response size limit exceeded")


def test_running_out_of_memory_in_an_op_is_resource_exhausted(stub):
    petabytes = graph({"x": (FLOAT64, [])}, [("b", "broadcast_to", ["x"], {"shape": ints(2**50)}),
                                             ("s", "sin", ["b"], {})], "s")
    refused(stub.Evaluate, pb.EvaluateRequest(graph=petabytes, inputs=tensors(x=1.0)),
            grpc.StatusCode.RESOURCE_EXHAUSTED)


# -- bytes that are not a request ----------------------------------------------------------------
@pytest.mark.parametrize("method", [m for m in SERVICE_METHODS if m.name != "ListOps"], ids=lambda m: m.name)
def test_a_request_that_does_not_parse_is_invalid_argument_and_logged(server, method):
    with server.channel() as channel:
        path = f"/{method.containing_service.full_name}/{method.name}"
        call = (channel.unary_stream if method.server_streaming else channel.unary_unary)(path)
        details = refused(call, b"\xff\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, "does not parse")
    assert method.name in details
    server.wait_for_log(rf"rpc method={method.name} code=INVALID_ARGUMENT ms=\S+ graph=- in_bytes=3")


# -- derivative graphs of graphs with open dimensions --------------------------------------------
@pytest.mark.parametrize("kind", [pb.DERIVATIVE_KIND_JVP, pb.DERIVATIVE_KIND_VJP])
def test_a_rule_that_needs_concrete_shapes_is_unimplemented_for_open_ones(stub, kind):
    factor = graph({"a": (FLOAT64, [-1, -1])}, [("L", "cholesky", ["a"], {})], "L")
    refused(stub.DerivativeGraph, pb.DerivativeGraphRequest(graph=factor, kind=kind),
            grpc.StatusCode.UNIMPLEMENTED, "node 'L' (cholesky)", "open (-1) dimensions")
    square = graph({"a": (FLOAT64, [3, 3])}, [("L", "cholesky", ["a"], {})], "L")
    assert stub.DerivativeGraph(pb.DerivativeGraphRequest(graph=square, kind=kind)).graph.nodes


# -- derivative rules build no constant from a declared shape (what the long fuzz run found) ----
def test_einsum_derivative_graphs_of_huge_declared_shapes_build_nothing_large(server, stub):
    before = server.peak_rss()
    summed = graph({"x": (FLOAT64, [2**31])}, [("e", "einsum", ["x"], {"subscripts": {"s": "i->"}})], "e")
    vjp = stub.DerivativeGraph(pb.DerivativeGraphRequest(graph=summed, kind=pb.DERIVATIVE_KIND_VJP))
    assert vjp.graph.nodes  # its vector of 2^31 ones is a broadcast in the graph, not a constant
    diagonal = graph({"x": (FLOAT64, [2**28, 2**28])}, [("e", "einsum", ["x"], {"subscripts": {"s": "ii->"}})], "e")
    refused(stub.DerivativeGraph, pb.DerivativeGraphRequest(graph=diagonal, kind=pb.DERIVATIVE_KIND_VJP),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "node 'e' (einsum): its vjp rule: einsum 'ii->'", "identity matrix")
    assert server.peak_rss() - before < 50 << 20


@pytest.mark.parametrize("kind", [pb.DERIVATIVE_KIND_JVP, pb.DERIVATIVE_KIND_VJP])
def test_a_rule_pushing_an_attribute_past_int64_is_invalid_naming_the_node(stub, kind):
    top = graph({"x": (FLOAT64, [2])}, [("p", "polygamma", ["x"], {"n": {"i": 2**63 - 1}})], "p")  # its derivative: n + 1
    refused(stub.DerivativeGraph, pb.DerivativeGraphRequest(graph=top, kind=kind), grpc.StatusCode.INVALID_ARGUMENT,
            "node 'p' (polygamma): its ", " rule: attribute 'n' is 9223372036854775808, outside the int64 range")


def test_an_order_whose_derivative_graph_would_never_finish_is_invalid(stub):
    ratio = graph({"a": (FLOAT64, [0]), "x": (FLOAT64, [0])},
                  [("r", "gammainc_ratio", ["a", "x"], {"order": {"i": 268435457}})], "r")  # the long fuzz run's hang
    request = pb.JvpRequest(graph=ratio, inputs=tensors(a=np.zeros(0), x=np.zeros(0)), tangents=tensors(x=np.zeros(0)))
    refused(stub.Jvp, request, grpc.StatusCode.INVALID_ARGUMENT, "node 'r' (gammainc_ratio)", "order must be from 1 to 64")


def test_the_pinv_of_an_empty_integer_matrix_is_an_empty_float_matrix(stub):
    empty = graph({"x": (INT64, [0, 0])}, [("p", "pinv", ["x"], {"rtol": {"f": 0.0}})], "p")  # the fourth fuzz run
    answer = stub.Evaluate(pb.EvaluateRequest(graph=empty, inputs=tensors(x=np.zeros((0, 0), np.int64))))
    assert tensor_from_proto(answer.outputs["y"]).dtype == np.float64


# -- inputs are checked before anything is planned from the graph's types -------------------------
@pytest.mark.parametrize("call", ["Jacobian", "JacobianStream", "Hessian"])
def test_an_input_unlike_its_declared_type_is_refused_before_sparsity_is_planned(stub, call):
    declared = graph({"x": (FLOAT64, [2**40, 3])}, [("s", "sin", ["x"], {}), ("t", "sum", ["s"], {})], "t")
    request = (pb.HessianRequest if call == "Hessian" else pb.JacobianRequest)(
        graph=declared, inputs=tensors(x=np.ones((2, 3))), format=pb.FORMAT_SPARSE)
    refused(getattr(stub, call), request, grpc.StatusCode.INVALID_ARGUMENT,
            "input 'x' must be float64[1099511627776,3], got float64[2,3]")


@pytest.mark.parametrize("mode", [pb.MODE_FORWARD, pb.MODE_REVERSE])
def test_a_node_left_open_on_concrete_inputs_is_refused_when_the_graph_arrives(stub, mode):
    """A scatter_slice of shape -1 on a concrete input keeps an open type that no request can
    compute; the Jacobian's sparsity walk ran its forward on it and got INTERNAL (the final long
    fuzz run, once its draws reached it)."""
    open_shape = graph({"x": (FLOAT64, [2])},
                       [("s", "scatter_slice", ["x"], {"shape": ints(-1), "starts": ints(0), "stops": ints(2),
                                                       "steps": ints(1)})], "s")
    inputs = tensors(x=np.ones(2))
    for call, request in ((stub.Jacobian, pb.JacobianRequest(graph=open_shape, inputs=inputs, mode=mode)),
                          (stub.Evaluate, pb.EvaluateRequest(graph=open_shape, inputs=inputs))):
        refused(call, request, grpc.StatusCode.INVALID_ARGUMENT, "node 's' (scatter_slice)", "float64[?] is open")


def test_an_op_failing_on_the_sparsity_walk_is_an_evaluation_error_naming_it(stub):
    """The Jacobian's sparsity walk runs an op's forward on index sets: tril with k = -2^63
    overflows in NumPy there as it does on values, and is reported as evaluating it is (INTERNAL
    before; the final long fuzz run)."""
    lower = graph({"x": (FLOAT64, [3, 3])}, [("t", "tril", ["x"], {"k": {"i": -(2**63)}})], "t")
    inputs = tensors(x=np.ones((3, 3)))
    evaluated = refused(stub.Evaluate, pb.EvaluateRequest(graph=lower, inputs=inputs),
                        grpc.StatusCode.INVALID_ARGUMENT, "node 't' (tril)")
    walked = refused(stub.Jacobian, pb.JacobianRequest(graph=lower, inputs=inputs, mode=pb.MODE_AUTO),
                     grpc.StatusCode.INVALID_ARGUMENT, "node 't' (tril)")
    assert "OverflowError" in evaluated and "OverflowError" in walked
