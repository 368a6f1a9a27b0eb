"""Pytrees through every client method, in-process and against a real server: arguments and
results are nested tuples, lists, dicts, namedtuples, None and registered classes, shaped as
JAX shapes them; leaves travel as graph inputs and outputs named by their paths."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

import wengert as wg
from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb

RNG = np.random.default_rng(3)
W1, B1 = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
W2 = RNG.standard_normal(4)
XS = RNG.standard_normal((5, 3))
PARAMS = [{"w": W1, "b": B1}, {"w": W2}]  # Flax-style: a list of layers, each a dict


def mlp(params, x):
    hidden = wg.tanh(x @ params[0]["w"] + params[0]["b"])
    return wg.sum(hidden @ params[1]["w"])


def mlp_gradient(x):
    """The gradient of `mlp` with respect to its parameters, by hand."""
    h = np.tanh(x @ W1 + B1)
    dh = (1 - h ** 2) * W2  # d sum / d (x W1 + b1), row by row
    return [{"w": x.T @ dh, "b": dh.sum(0)}, {"w": h.sum(0)}]


class Pair(NamedTuple):
    a: np.ndarray
    b: np.ndarray


@wg.tree.register_dataclass
@dataclasses.dataclass
class Affine:
    scale: np.ndarray
    shift: np.ndarray


class Box:
    """A class registered by hand, with its children named."""

    def __init__(self, inner, label):
        self.inner, self.label = inner, label


wg.tree.register(Box, lambda box: ((box.inner,), box.label), lambda label, children: Box(children[0], label),
                 names=lambda label: ("inner",))


def assert_tree_close(actual, expected, rtol=1e-13, atol=1e-14):
    a_leaves, a_tree = wg.tree.flatten(actual)
    e_leaves, e_tree = wg.tree.flatten(expected)
    assert a_tree == e_tree, f"{a_tree} != {e_tree}"
    for a, e in zip(a_leaves, e_leaves):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


# -- wg.tree ---------------------------------------------------------------------------------
def test_flatten_sorts_dict_keys_and_rebuilds_every_node_type():
    tree = {"z": (1.0, [2.0, None]), "a": Pair(3.0, 4.0), "m": Affine(5.0, 6.0), "box": Box(7.0, "b")}
    leaves, treedef = wg.tree.flatten(tree)
    assert leaves == [3.0, 4.0, 7.0, 5.0, 6.0, 1.0, 2.0]
    rebuilt = treedef.unflatten(leaves)
    assert rebuilt["a"] == Pair(3.0, 4.0) and rebuilt["m"] == Affine(5.0, 6.0)
    assert rebuilt["z"] == (1.0, [2.0, None]) and rebuilt["box"].label == "b"
    assert [p for p, _ in wg.tree.flatten_with_paths(tree)[0]] == [
        "a/a", "a/b", "box/inner", "m/scale", "m/shift", "z/0", "z/1/0"]
    assert wg.tree.map(lambda x, y: x + y, (1, [2]), (10, [20])) == (11, [22])
    assert wg.tree.structure({"b": 1, "a": [2, 3]}) == wg.tree.structure({"a": [0, 0], "b": 9})
    assert wg.tree.structure((1, 2)) != wg.tree.structure([1, 2])


def test_dataclass_static_fields_stay_in_the_structure():
    @wg.tree.register_dataclass(static=("activation",))
    @dataclasses.dataclass
    class Layer:
        w: np.ndarray
        activation: str

    leaves, treedef = wg.tree.flatten(Layer(1.0, "tanh"))
    assert leaves == [1.0] and treedef != wg.tree.structure(Layer(1.0, "relu"))
    assert treedef.unflatten([2.0]) == Layer(2.0, "tanh")
    with pytest.raises(ValueError, match="already a pytree node type"):
        wg.tree.register(Layer, lambda x: ((), None), lambda aux, c: None)


# -- every method ----------------------------------------------------------------------------
def test_gradients_have_the_structure_of_the_parameters(client):
    for x in (XS[0], XS):
        assert_tree_close(client.grad(mlp, PARAMS, x), mlp_gradient(np.atleast_2d(x)))
    value, grads = client.value_and_grad(mlp, PARAMS, XS)
    assert value == pytest.approx(np.sum(np.tanh(XS @ W1 + B1) @ W2), rel=1e-14)
    assert_tree_close(grads, mlp_gradient(XS))
    both = client.grad(mlp, PARAMS, XS, argnums=(0, 1))
    assert isinstance(both, tuple) and len(both) == 2
    h = np.tanh(XS @ W1 + B1)
    np.testing.assert_allclose(both[1], ((1 - h ** 2) * W2) @ W1.T, rtol=1e-13)


def test_evaluate_returns_the_structure_of_the_result(client):
    def f(pair, affine, nothing, box):
        assert nothing is None
        return {"sum": pair.a + pair.b, "parts": (affine.scale * 2, [None, box.inner])}, affine

    out = client.evaluate(f, Pair(1.0, np.arange(2.0)), Affine(3.0, 4.0), None, Box(5.0, "l"))
    expected = ({"sum": np.array([1.0, 2.0]), "parts": (6.0, [None, 5.0])}, Affine(3.0, 4.0))
    assert_tree_close(out, expected)
    assert isinstance(out[1], Affine) and out[0]["parts"][1][0] is None


def test_jvp_and_vjp_take_tangents_and_cotangents_of_the_same_structure(client):
    def f(p):
        return {"u": p["a"] * p["b"], "v": wg.sum(p["a"])}

    p = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 5.0])}
    values, tangents = client.jvp(f, (p,), ({"a": np.array([1.0, 0.0]), "b": None},))
    assert_tree_close(values, {"u": np.array([3.0, 10.0]), "v": 3.0})
    assert_tree_close(tangents, {"u": np.array([3.0, 0.0]), "v": 1.0})
    values, cotangents = client.vjp(f, (p,), {"u": np.array([1.0, 1.0]), "v": None})
    assert_tree_close(cotangents, {"a": p["b"], "b": p["a"]})
    _, batched = client.vjp(f, (p,), {"u": np.eye(2), "v": np.zeros(2)}, batched=True)
    assert_tree_close(batched, {"a": np.diag(p["b"]), "b": np.diag(p["a"])})
    with pytest.raises(wg.InvalidRequest, match="tangents of argument 0 at the root: expected"):
        client.jvp(f, (p,), ([1.0, 2.0],))


def test_jacobians_and_hessians_nest_like_jax(client):
    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])

    def f(p):
        return {"u": p["a"] * p["b"], "v": wg.sum(p["a"])}

    jac = client.jacobian(f, {"a": a, "b": b})
    assert_tree_close(jac, {"u": {"a": np.diag(b), "b": np.diag(a)},
                            "v": {"a": np.ones(2), "b": np.zeros(2)}})
    hess = client.hessian(lambda p: wg.sum(p["x"] ** 2 * p["y"]), {"x": a, "y": b})
    assert_tree_close(hess, {"x": {"x": np.diag(2 * b), "y": np.diag(2 * a)},
                             "y": {"x": np.diag(2 * a), "y": np.zeros((2, 2))}})
    two = client.hessian(lambda x, y: wg.sum(x ** 2 * y), a, b, argnums=(0, 1))
    assert_tree_close(two, ((np.diag(2 * b), np.diag(2 * a)), (np.diag(2 * a), np.zeros((2, 2)))))
    products = client.hvp(lambda p: wg.sum(p["x"] ** 2 * p["y"]), ({"x": a, "y": b},),
                          ({"x": np.ones(2), "y": None},))
    assert_tree_close(products, {"x": 2 * b, "y": None})


def test_has_aux_where_jax_has_it(client):
    def loss(w, x):
        prediction = x @ w
        return wg.sum(prediction ** 2), {"prediction": prediction, "mean": wg.mean(prediction)}

    w = np.array([1.0, -1.0, 0.5])
    prediction = XS @ w
    aux = {"prediction": prediction, "mean": prediction.mean()}
    grad, got = client.grad(loss, w, XS, has_aux=True)
    np.testing.assert_allclose(grad, 2 * XS.T @ prediction, rtol=1e-13)
    assert_tree_close(got, aux)
    (value, got), _ = client.value_and_grad(loss, w, XS, has_aux=True)
    assert value == pytest.approx(np.sum(prediction ** 2), rel=1e-14)
    assert_tree_close(got, aux)
    jac, got = client.jacobian(loss, w, XS, has_aux=True)
    np.testing.assert_allclose(jac, 2 * XS.T @ prediction, rtol=1e-13)
    hess, got = client.hessian(loss, w, XS, has_aux=True)
    np.testing.assert_allclose(hess, 2 * XS.T @ XS, rtol=1e-13)
    assert_tree_close(got, aux)
    out, tangent, got = client.jvp(loss, (w, XS), (np.ones(3), None), has_aux=True)
    assert tangent == pytest.approx(2 * prediction @ XS.sum(1), rel=1e-13)
    assert_tree_close(got, aux)
    out, cotangent, got = client.vjp(loss, (w, XS), 1.0, has_aux=True)
    np.testing.assert_allclose(cotangent, 2 * XS.T @ prediction, rtol=1e-13)
    with pytest.raises(wg.InvalidRequest, match="must return a pair"):
        client.grad(lambda w: wg.sum(w), w, has_aux=True)


def test_the_optimizer_steps_any_pytree_of_parameters(client):
    params = [{"w": W1.copy(), "b": B1.copy()}, {"w": W2.copy()}]
    first_layer = params[0]["w"]
    opt = wg.optim.SteepestDescent(params, norm="l2", lr=0.1)  # l2: plain gradient descent
    opt.step(client.grad(mlp, params, XS))
    expected = mlp_gradient(XS)
    assert params[0]["w"] is first_layer  # updated in place
    np.testing.assert_allclose(params[0]["w"], W1 - 0.1 * expected[0]["w"], rtol=1e-13)
    np.testing.assert_allclose(params[1]["w"], W2 - 0.1 * expected[1]["w"], rtol=1e-13)
    assert opt.keys == ["0/b", "0/w", "1/w"]
    wg.optim.SteepestDescent(params, norm={"0/w": "spectral", "1/w": "linf"})  # norms by path
    with pytest.raises(wg.InvalidRequest, match="norm given for '0/v'"):
        wg.optim.SteepestDescent(params, norm={"0/v": "spectral"})
    with pytest.raises(wg.InvalidRequest, match=r"gradient at the root: expected \[\{.b.: \*, .w.: \*\}, \{.w.: \*\}\], got \[\{"):
        opt.step(expected[:1])


def test_a_leaf_that_is_not_an_array_must_be_static(client):
    with pytest.raises(wg.InvalidRequest, match="argument 'mode' is a str.*static_argnums"):
        client.evaluate(lambda x, mode: x, 1.0, "fast")
    assert client.evaluate(wg.function(lambda x, mode: x * (2 if mode == "fast" else 3), static_argnums=1),
                           1.0, "fast") == 2.0


def test_an_op_failing_at_run_time_is_an_evaluation_error(client):
    with pytest.raises(wg.EvaluationError, match="node 'v1' \\(cholesky\\): LinAlgError"):
        client.evaluate(lambda x: wg.linalg.cholesky(x), -np.eye(2))
    assert issubclass(wg.EvaluationError, wg.WengertError)


def test_python_numbers_are_weakly_typed(client):
    x32 = np.arange(3, dtype=np.float32)
    assert client.evaluate(lambda x, s: x * s, x32, 2.0).dtype == np.float32  # as in JAX
    assert client.evaluate(lambda x, s: x * s, x32, np.float64(2.0)).dtype == np.float64  # as in NumPy
    assert client.evaluate(lambda s: s * 2, 3).dtype == np.int64


def test_async_client_takes_and_returns_pytrees(server):
    async def main(connect):
        async with connect() as client:  # made inside the event loop, as grpc.aio needs
            return (await client.grad(mlp, PARAMS, XS),
                    await client.hessian(lambda p: (wg.sum(p["x"] ** 3), p["x"] * 2), {"x": np.arange(2.0)},
                                         has_aux=True))

    for connect in (wg.AsyncClient.local, lambda: wg.AsyncClient(server.target, timeout=60)):
        grads, (hess, aux) = asyncio.run(main(connect))
        assert_tree_close(grads, mlp_gradient(XS))
        assert_tree_close(hess, {"x": {"x": np.diag([0.0, 6.0])}})
        np.testing.assert_array_equal(aux, [0.0, 2.0])  # from a second request, after the Hessian


# -- the wire --------------------------------------------------------------------------------
def test_leaves_are_named_graph_inputs_and_outputs_usable_from_the_proto_alone(server):
    def model(params, xs):
        return {"loss": wg.sum((xs[0] @ params["w1"] + params["b1"]) ** 2), "scale": xs[1] * 2.0}

    graph = wg.trace(model, {"w1": W1, "b1": B1}, [XS, 3.0])
    assert graph.input_names == ("params/b1", "params/w1", "xs/0", "xs/1")
    assert graph.output_names == ("loss", "scale")
    assert wg.trace(lambda x: (x, {"a": [x, x]}), 1.0).output_names == ("y0", "y1/a/0", "y1/a/1")
    # A program in any language sends the proto with inputs named by those paths.
    request = pb.EvaluateRequest(graph=graph_to_proto(graph), outputs=["loss"])
    for name, value in {"params/w1": W1, "params/b1": B1, "xs/0": XS, "xs/1": np.float64(3.0)}.items():
        request.inputs[name].CopyFrom(tensor_to_proto(value))
    loss = tensor_from_proto(server.stub().Evaluate(request, timeout=30).outputs["loss"])
    assert loss == pytest.approx(np.sum((XS @ W1 + B1) ** 2), rel=1e-14)
