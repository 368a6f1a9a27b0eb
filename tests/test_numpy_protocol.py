"""NumPy's own functions on symbolic values (wengert.numpy_protocol), run on both clients: the
calls issue 13 found failing give NumPy's values and correct gradients, locally and on a real
server; NumPy's argument conventions map onto the array API's; what wengert does not offer is
refused by name, with the wengert way where there is one."""

from __future__ import annotations

import numpy as np
import pytest

import wengert as wg

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 4)) + 4 * np.eye(4)
SPD = A @ A.T
V = RNG.standard_normal(4)


def _central_gradient(f, x, step=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = step
        grad[i] = (f(x + e) - f(x - e)) / (2 * step)
    return grad


# (label, a loss written with NumPy calls, its input): each call of the issue, summed to a loss
ISSUE_CALLS = [
    ("linalg.norm", lambda x: np.linalg.norm(x), A),
    ("linalg.norm ord=1 axis=0", lambda x: np.sum(np.linalg.norm(x, ord=1, axis=0)), A),
    ("linalg.norm nuc", lambda x: np.linalg.norm(x, "nuc"), A),
    ("linalg.inv", lambda x: np.sum(np.linalg.inv(x) ** 2), A),
    ("linalg.det", lambda x: np.linalg.det(x), A),
    ("linalg.solve", lambda x: np.sum(np.linalg.solve(x, np.arange(4.0))), A),
    ("linalg.cholesky", lambda x: np.sum(np.linalg.cholesky(x)), SPD),
    ("astype", lambda x: np.sum(np.astype(x, np.float64) * 2), A),
    ("einsum", lambda x: np.einsum("ij,jk,ki", x, x, x), A),
    ("outer", lambda x: np.sum(np.outer(x, x[::-1]) ** 2), V),
    ("clip", lambda x: np.sum(np.clip(x, -0.5, 0.5) ** 2), A),
    ("var", lambda x: np.sum(np.var(x, axis=0, ddof=1)), A),
    ("std", lambda x: np.std(x), A),
    ("cumsum", lambda x: np.sum(np.cumsum(x) ** 2), A),
    ("zeros_like", lambda x: np.sum((np.zeros_like(x) + x) ** 2), A),
]


@pytest.mark.parametrize("label,loss,x", ISSUE_CALLS, ids=[c[0] for c in ISSUE_CALLS])
def test_numpy_calls_give_numpy_values_and_gradients(client, label, loss, x):
    value, grad = client.value_and_grad(loss, x)
    np.testing.assert_allclose(value, loss(x), rtol=1e-12)
    np.testing.assert_allclose(grad, _central_gradient(loss, x), rtol=1e-5, atol=1e-6)


def test_new_ops_travel_to_the_server_with_their_attributes(client):
    """String, float and bool attributes of the new ops (subscripts, ord, mode, descending)."""
    def f(x):
        q, r = wg.linalg.qr(x, mode="complete")
        return (wg.einsum("ij,jk->ik", q, r), wg.linalg.vector_norm(x, ord=np.inf, axis=1),
                wg.sort(x, axis=0, descending=True), wg.linalg.pinv(x, rtol=1e-8), wg.linalg.eigh(x @ x.T)[0])
    product, norms, ordered, inverse, eigenvalues = client.evaluate(f, A)  # a tuple, as returned
    np.testing.assert_allclose(product, A, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(norms, np.abs(A).max(1))
    np.testing.assert_allclose(ordered, -np.sort(-A, axis=0))
    np.testing.assert_allclose(inverse, np.linalg.inv(A), rtol=1e-8)
    np.testing.assert_allclose(eigenvalues, np.linalg.eigvalsh(A @ A.T), rtol=1e-10)


# -- NumPy's conventions ---------------------------------------------------------------------
def _evaluate(f, *inputs):
    return wg.Client.local().evaluate(f, *inputs)


@pytest.mark.parametrize("call", [
    lambda x: np.add.reduce(x, axis=1), lambda x: np.multiply.reduce(x), lambda x: np.maximum.reduce(x, 0),
    lambda x: np.add.accumulate(x, axis=1), lambda x: np.linalg.eigh(x + x.T, UPLO="U").eigenvalues,
    lambda x: np.linalg.qr(x, mode="r"), lambda x: np.linalg.svd(x, compute_uv=False),
    lambda x: np.trace(x[None], axis1=1, axis2=2), lambda x: np.diagonal(x, 1),
    lambda x: np.sort(x, axis=None), lambda x: np.take(x, [3, 0]), lambda x: np.round(x, 2),
    lambda x: np.cumsum(x, axis=0, dtype=np.float64), lambda x: np.swapaxes(x[None], 0, 2),
    lambda x: np.linalg.matrix_rank(x, tol=0.5), lambda x: np.linalg.multi_dot([x, x, x]),
    lambda x: np.vecdot(x, x), lambda x: np.ravel(x),
])
def test_numpy_signatures_map_onto_the_array_api(call):
    x = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(_evaluate(call, x), call(x), rtol=1e-10, atol=1e-12)


def test_shape_queries_answer_at_trace_time():
    seen = []
    wg.trace(lambda v: seen.append((np.shape(v), np.ndim(v), np.size(v), np.size(v, 1))) or v, np.zeros((2, 3)))
    assert seen == [((2, 3), 2, 6, 3)]


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("call,message", [
    (lambda x: np.linalg.lstsq(x, x), r"numpy\.linalg\.lstsq is not offered .*; use wg\.linalg\.pinv\(a\) @ b"),
    (lambda x: np.linalg.eig(x), r"numpy\.linalg\.eig is not offered .*; use wg\.linalg\.eigh, for symmetric"),
    (lambda x: np.hstack([x, x]), r"numpy\.hstack is not offered .*; use wg\.concat\(xs, axis=-1\)"),
    (lambda x: np.fmax(x, 0.0), r"numpy\.fmax is not offered .*; use wg\.maximum"),
    (lambda x: np.interp(x, x, x), r"numpy\.interp is not offered by wengert on symbolic values \(it offers the array API"),
    (lambda x: np.multiply.outer(x, x), r"numpy\.multiply\.outer is not offered .*; use wg\.linalg\.outer"),
    (lambda x: np.add.at(x, [0], 1.0), r"numpy\.add\.at is not offered"),
    (lambda x: np.sin(x, out=np.zeros(4)), r"numpy\.sin: argument\(s\) out not supported .*immutable"),
    (lambda x: np.sum(x, where=x > 0), r"numpy\.sum: argument\(s\) where not supported"),
    (lambda x: np.einsum(x, [0], [0]), "give the subscripts as a string"),
    (lambda x: np.pad(x, 1, mode="edge"), "only mode='constant'"),
])
def test_numpy_functions_wengert_lacks_are_refused_by_name(call, message):
    with pytest.raises(wg.UnsupportedFunction, match=message) as caught:
        wg.trace(call, np.ones(4))
    assert isinstance(caught.value, TypeError)  # what NumPy raises for functions a type lacks


@pytest.mark.parametrize("call,name", [
    (np.nonzero, "numpy.nonzero"), (np.unique, "numpy.unique"), (np.argwhere, "numpy.argwhere"),
    (np.flatnonzero, "numpy.flatnonzero"), (lambda x: np.where(x > 0), r"numpy\.where with one argument"),
    (lambda x: np.compress(x > 0, x), "numpy.compress"), (lambda x: wg.repeat(x, x > 0), "repeat with symbolic repeats"),
])
def test_data_dependent_numpy_functions_are_refused_by_name(call, name):
    with pytest.raises(wg.DataDependentShape, match=f"{name}: its result's shape depends on the values"):
        wg.trace(call, np.ones(4))
