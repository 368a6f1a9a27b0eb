"""JAX's transforms, at the top level on both clients and nested inside traced functions,
checked against closed forms: the four patterns issue 13 names (a physics-informed loss, a
gradient penalty, meta-learning, nested optimisation) and the compositions JAX users write."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import wengert as wg
from wengert.tracing import as_function



def cubic(x):
    return wg.sum(x ** 3 * wg.sin(x))


def cubic_gradient(x):
    return 3 * x ** 2 * np.sin(x) + x ** 3 * np.cos(x)


def cubic_hessian(x):
    return np.diag(6 * x * np.sin(x) + 6 * x ** 2 * np.cos(x) - x ** 3 * np.sin(x))


X = np.array([0.3, -1.1, 2.0])


# -- top level, on the client given ----------------------------------------------------------
def test_each_transform_runs_on_the_client_given(client):
    np.testing.assert_allclose(wg.grad(cubic, client=client)(X), cubic_gradient(X), rtol=1e-14)
    with wg.default_client(client):
        value, grad = wg.value_and_grad(cubic)(X)
        np.testing.assert_allclose(wg.hessian(cubic)(X), cubic_hessian(X), rtol=1e-13)
        np.testing.assert_allclose(wg.jacfwd(wg.sin)(X), np.diag(np.cos(X)), rtol=1e-15)
        np.testing.assert_allclose(wg.jacrev(wg.sin)(X), np.diag(np.cos(X)), rtol=1e-15)
        np.testing.assert_allclose(wg.jacobian(wg.sin)(X), np.diag(np.cos(X)), rtol=1e-15)
        out, tangent = wg.jvp(wg.sin, (X,), (np.ones(3),))
        out, vjp_fn = wg.vjp(lambda a, b: a * b, X, 2 * X)
        da, db = vjp_fn(np.ones(3))
        products = wg.hvp(cubic, (X,), (np.ones(3),))
    assert value == pytest.approx(np.sum(X ** 3 * np.sin(X)), rel=1e-14)
    np.testing.assert_allclose(grad, cubic_gradient(X), rtol=1e-14)
    np.testing.assert_allclose(tangent, np.cos(X), rtol=1e-15)
    np.testing.assert_allclose(out, 2 * X ** 2, rtol=1e-15)
    np.testing.assert_allclose(da, 2 * X, rtol=1e-15)
    np.testing.assert_allclose(db, X, rtol=1e-15)
    np.testing.assert_allclose(products, cubic_hessian(X).sum(1), rtol=1e-13)


def test_the_client_is_the_one_given_else_the_default_else_in_process():
    tiny = wg.Client.local(limits=wg.Limits(response=1))  # refuses every result
    for transform in (wg.grad(cubic, client=tiny), wg.vmap(wg.sin, client=tiny)):
        with pytest.raises(wg.LimitExceeded):
            transform(X)
    with wg.default_client(tiny):
        with pytest.raises(wg.LimitExceeded):
            wg.hessian(cubic)(X)
        np.testing.assert_allclose(wg.grad(cubic, client=wg.Client.local())(X), cubic_gradient(X), rtol=1e-14)
    np.testing.assert_allclose(wg.grad(cubic)(X), cubic_gradient(X), rtol=1e-14)


def test_transforms_compose(client):
    with wg.default_client(client):
        assert wg.grad(wg.grad(lambda x: x ** 3 * wg.sin(x)))(2.0) == pytest.approx(
            6 * 2 * np.sin(2.0) + 6 * 4 * np.cos(2.0) - 8 * np.sin(2.0), rel=1e-14)
        np.testing.assert_allclose(wg.jacfwd(wg.jacrev(cubic))(X), cubic_hessian(X), rtol=1e-13)
        np.testing.assert_allclose(wg.jacrev(wg.grad(cubic))(X), cubic_hessian(X), rtol=1e-13)
        np.testing.assert_allclose(wg.hessian(wg.hessian(lambda x: x ** 4))(1.5), 24.0, rtol=1e-14)
        # inside a trace: a JVP of a gradient, a VJP, a Hessian-vector product
        hvp = wg.grad(lambda x: wg.sum(wg.jvp(wg.grad(cubic), (x,), (np.ones(3),))[1]))(X)
        inner_vjp = wg.grad(lambda x: wg.sum(wg.vjp(wg.sin, x)[1](x)[0]))(X)
        inner_hvp = wg.jacfwd(lambda x: wg.hvp(cubic, (x,), (np.ones(3),)))(X)
    third = 6 * np.sin(X) + 18 * X * np.cos(X) - 9 * X ** 2 * np.sin(X) - X ** 3 * np.cos(X)
    np.testing.assert_allclose(hvp, third, rtol=1e-12)  # d/dx of the row sums of the Hessian
    np.testing.assert_allclose(inner_vjp, np.cos(X) - X * np.sin(X), rtol=1e-14)
    np.testing.assert_allclose(inner_hvp, np.diag(third), rtol=1e-12)


def test_vmap_of_grad_gives_per_example_gradients_in_one_sweep(client):
    rng = np.random.default_rng(1)
    w = rng.standard_normal(3)
    xs, ys = rng.standard_normal((6, 3)), rng.standard_normal(6)

    def loss(w, x, y):
        return (wg.tanh(wg.sum(w * x)) - y) ** 2

    def by_hand(x, y):
        t = np.tanh(w @ x)
        return 2 * (t - y) * (1 - t ** 2) * x

    per_example = wg.vmap(wg.grad(loss), in_axes=(None, 0, 0), client=client)(w, xs, ys)
    np.testing.assert_allclose(per_example, [by_hand(x, y) for x, y in zip(xs, ys)], rtol=1e-13)
    transposed = wg.vmap(wg.grad(loss), in_axes=(None, 1, 0), out_axes=1, client=client)(w, xs.T, ys)
    np.testing.assert_allclose(transposed, per_example.T, rtol=1e-15)
    trees = wg.vmap(lambda p, x: {"out": p["a"] * x, "same": p["b"]}, in_axes=({"a": None, "b": None}, 0),
                    out_axes={"out": 0, "same": None}, client=client)({"a": 2.0, "b": 7.0}, xs)
    np.testing.assert_allclose(trees["out"], 2 * xs)
    assert trees["same"] == 7.0
    graph = as_function(wg.grad(loss)).trace(w, xs[0], ys[0]).graph  # traced on one example
    assert dict(graph.inputs)["x"].shape == (3,)


def test_vmap_of_a_graph_and_what_it_refuses(client):
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((4, 3))
    graph = wg.trace(lambda x, s: wg.sin(x) * s, np.zeros(3), 2.0)
    np.testing.assert_allclose(client.vmap(graph, xs, 2.0, in_axes=(0, None)), 2 * np.sin(xs), rtol=1e-15)
    with pytest.raises(wg.InvalidRequest, match="different sizes, 4 and 3"):
        client.vmap(lambda a, b: a + b, xs, xs[:3])
    with pytest.raises(wg.InvalidRequest, match="at least one mapped argument"):
        client.vmap(wg.sin, xs, in_axes=None)
    with pytest.raises(wg.InvalidRequest, match="in_axes 2 is out of range"):
        client.vmap(wg.sin, xs, in_axes=2)
    quote = client.cost(wg.sin, xs, kind="vmap")
    assert quote.response_bytes >= xs.nbytes  # the batch is priced, not one example


def test_batched_inputs_on_the_wire(server):
    from wengert.transport.wire import graph_to_proto, tensor_from_proto, tensor_to_proto
    from wengert.v1 import service_pb2 as pb

    graph = wg.trace(lambda x, w: {"out": wg.sum(x * w), "w": w * 1.0}, np.zeros(3), np.zeros(3))
    request = pb.EvaluateRequest(graph=graph_to_proto(graph), batched_inputs=["x"])
    request.inputs["x"].CopyFrom(tensor_to_proto(np.arange(6.0).reshape(2, 3)))
    request.inputs["w"].CopyFrom(tensor_to_proto(np.ones(3)))
    outputs = server.stub().Evaluate(request, timeout=30).outputs
    np.testing.assert_array_equal(tensor_from_proto(outputs["out"]), [3.0, 12.0])
    np.testing.assert_array_equal(tensor_from_proto(outputs["w"]), np.ones((2, 3)))  # repeated
    request.batched_inputs[:] = ["v"]
    with pytest.raises(grpc.RpcError) as refused:
        server.stub().Evaluate(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch axis on 'v', which the graph does not have" in refused.value.details()
    scalar = wg.trace(wg.sin, 0.0)
    request = pb.EvaluateRequest(graph=graph_to_proto(scalar), batched_inputs=["x"])
    request.inputs["x"].CopyFrom(tensor_to_proto(np.zeros(4097)))  # one more than --max-batch
    with pytest.raises(grpc.RpcError) as refused:
        server.stub().Evaluate(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-batch" in refused.value.details()


def test_vmap_inside_a_trace_is_differentiable(client):
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((4, 3))

    def total(w):
        return wg.sum(wg.vmap(lambda x: wg.sin(wg.sum(w * x)))(xs))

    expected = (np.cos(xs @ X)[:, None] * xs).sum(0)
    np.testing.assert_allclose(wg.grad(total, client=client)(X), expected, rtol=1e-13)


def test_jacobians_inside_a_trace_match_the_engine(client):
    def f(x):
        return {"a": wg.sin(x) * x[0], "b": wg.sum(x ** 2)}

    expected = client.jacobian(f, X)
    for mode in (wg.jacfwd, wg.jacrev, wg.jacobian):
        inside = client.evaluate(lambda x: mode(f)(x), X)  # built in the traced graph
        for key in ("a", "b"):
            np.testing.assert_allclose(inside[key], expected[key], rtol=1e-14)


# -- the four patterns ---------------------------------------------------------------------
K = 3.0
POINTS = np.linspace(-1.0, 1.0, 7)


def wave(theta, x):
    """A one-neuron network: u(x) = a sin(w x)."""
    return theta["a"] * wg.sin(theta["w"] * x)


def helmholtz_loss(theta, xs):
    """Physics-informed: the residual of u'' + K² u = 0 at the collocation points, with the
    derivatives of the network taken with respect to its input inside the loss."""
    u_x = wg.grad(lambda x: wg.sum(wave(theta, x)))
    u_xx = wg.grad(lambda x: wg.sum(u_x(x)))(xs)
    return wg.mean((u_xx + K ** 2 * wave(theta, xs)) ** 2)


def test_physics_informed_loss(client):
    a, w = 0.7, 2.2
    s, c = np.sin(w * POINTS), np.cos(w * POINTS)
    r = a * (K ** 2 - w ** 2) * s
    expected = {"a": np.mean(2 * r * (K ** 2 - w ** 2) * s),
                "w": np.mean(2 * r * (-2 * a * w * s + a * (K ** 2 - w ** 2) * POINTS * c))}
    theta = {"a": a, "w": w}
    assert client.evaluate(helmholtz_loss, theta, POINTS) == pytest.approx(np.mean(r ** 2), rel=1e-13)
    grads = client.grad(helmholtz_loss, theta, POINTS)
    assert grads == {"a": pytest.approx(expected["a"], rel=1e-12), "w": pytest.approx(expected["w"], rel=1e-12)}
    graph = as_function(helmholtz_loss).trace(theta, POINTS).graph
    assert graph.input_names == ("theta/a", "theta/w", "xs")  # one graph: nothing captured


def test_physics_informed_loss_with_a_hessian_in_two_dimensions(client):
    rng = np.random.default_rng(4)
    points = rng.standard_normal((4, 2))
    a, w = 0.8, np.array([1.3, -0.4])

    def laplace_loss(theta, points):
        def u(p):
            return theta["a"] * wg.sin(wg.sum(theta["w"] * p))

        def residual(p):
            laplacian = wg.sum(wg.linalg.diagonal(wg.hessian(u)(p)))
            return laplacian + K ** 2 * u(p)
        return wg.mean(wg.vmap(residual)(points) ** 2)

    s, c = np.sin(points @ w), np.cos(points @ w)
    k = K ** 2 - w @ w
    r = a * k * s
    expected_a = np.mean(2 * r * k * s)
    expected_w = np.mean(2 * r[:, None] * (a * (-2 * w) * s[:, None] + a * k * c[:, None] * points), axis=0)
    grads = client.grad(laplace_loss, {"a": a, "w": w}, points)
    assert grads["a"] == pytest.approx(expected_a, rel=1e-12)
    np.testing.assert_allclose(grads["w"], expected_w, rtol=1e-12)


def test_gradient_penalty(client):
    def critic(theta, x):
        return wg.tanh(wg.sum(theta["w"] * x) + theta["c"])

    def penalty(theta, x):
        g = wg.grad(critic, argnums=1)(theta, x)
        return (wg.sqrt(wg.sum(g ** 2)) - 1.0) ** 2

    w, c, x = np.array([0.6, -1.2, 0.4]), 0.3, np.array([0.5, 0.1, -0.7])
    t = np.tanh(w @ x + c)
    norm = np.linalg.norm(w)
    g = (1 - t ** 2) * norm
    grads = client.grad(penalty, {"w": w, "c": c}, x)
    assert grads["c"] == pytest.approx(2 * (g - 1) * (-2 * t * (1 - t ** 2) * norm), rel=1e-12)
    np.testing.assert_allclose(grads["w"], 2 * (g - 1) * (-2 * t * (1 - t ** 2) * norm * x
                                                          + (1 - t ** 2) * w / norm), rtol=1e-12)


def test_meta_learning_a_gradient_step_inside_the_objective(client):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    A = A @ A.T + np.eye(3)
    b, d, alpha = rng.standard_normal(3), rng.standard_normal(3), 0.1

    def inner(theta):
        return 0.5 * wg.sum(theta * (A @ theta)) - wg.sum(b * theta)

    def outer(theta):
        adapted = theta - alpha * wg.grad(inner)(theta)
        return 0.5 * wg.sum((adapted - d) ** 2)

    step = np.eye(3) - alpha * A
    adapted = X - alpha * (A @ X - b)
    np.testing.assert_allclose(client.grad(outer, X), step.T @ (adapted - d), rtol=1e-12)
    np.testing.assert_allclose(client.hessian(outer, X), step.T @ step, rtol=1e-12)  # differentiable again


def test_nested_optimisation_saddle(client):
    rng = np.random.default_rng(6)
    B, eta, steps = rng.standard_normal((2, 3)), 0.3, 5

    def f(x, y):
        return 0.5 * wg.sum(x ** 2) + wg.sum(x * (B @ y)) - 0.5 * wg.sum(y ** 2)

    def objective(x):
        """The inner maximisation over y by gradient ascent, unrolled inside the objective."""
        y = np.zeros(3)
        for _ in range(steps):
            y = y + eta * wg.grad(f, argnums=1)(x, y)
        return f(x, y)

    s = 1 - (1 - eta) ** steps
    hessian = np.eye(2) + (2 * s - s ** 2) * B @ B.T  # the objective is x' H x / 2
    x0 = np.array([0.4, -0.9])
    np.testing.assert_allclose(client.grad(objective, x0), hessian @ x0, rtol=1e-12)
    lr = 1 / np.linalg.eigvalsh(hessian).max()
    x = x0
    for _ in range(30):  # the outer descent: traced once, each step one request
        x = x - lr * client.grad(objective, x)
    np.testing.assert_allclose(x, np.linalg.matrix_power(np.eye(2) - lr * hessian, 30) @ x0, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(x) < np.linalg.norm(x0)


def test_nested_optimisation_particle(client):
    stiffness, dt, steps = 2.0, 0.1, 20

    def potential(x):
        return 0.5 * stiffness * wg.sum(x ** 2)

    def miss(v0, x0):
        """A particle pushed by the force -grad(potential), taken inside the simulation."""
        x, v = x0, v0
        for _ in range(steps):
            x, v = x + dt * v, v - dt * wg.grad(potential)(x)
        return 0.5 * wg.sum(x ** 2)

    step = np.array([[1.0, dt], [-dt * stiffness, 1.0]])
    m = np.linalg.matrix_power(step, steps)
    x0, v0 = np.array([1.0, -0.5]), np.array([0.2, 0.3])
    final = m[0, 0] * x0 + m[0, 1] * v0
    np.testing.assert_allclose(client.grad(miss, v0, x0), m[0, 1] * final, rtol=1e-12)
    np.testing.assert_allclose(client.hessian(miss, v0, x0), m[0, 1] ** 2 * np.eye(2), rtol=1e-12)
