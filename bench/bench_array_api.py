"""Benchmarks of the array API ops (issue 13): value+gradient of each new differentiable op
against its NumPy forward, the size of its gradient graph, and `einsum` as one op against the
same contraction written with matmul and reshapes. Run: python bench/bench_array_api.py"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import median_seconds, row  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402

ENGINE = Engine()
RNG = np.random.default_rng(0)


def _symmetric(n):
    q, _ = np.linalg.qr(RNG.standard_normal((n, n)))
    return (q * np.arange(1, n + 1)) @ q.T


def _weights(shape):
    return RNG.standard_normal(shape)


W64, W1000, W6 = _weights((64, 64)), _weights((1000, 100)), _weights(10**6)
# (label, loss of x, x, NumPy forward of the op alone): each loss weighs the op's result by
# constants, so its gradient is one VJP of the op
CASES = [
    ("sort, n = 100000", lambda x: wg.sum(wg.sort(x) * np.linspace(0, 1, x.shape[0])),
     RNG.standard_normal(100_000), np.sort),
    ("cumulative_sum, 1000 x 100 along axis 1", lambda x: wg.sum(wg.cumulative_sum(x, axis=1) * W1000),
     RNG.standard_normal((1000, 100)), lambda x: np.cumsum(x, 1)),
    ("vector_norm, 1000 x 100 over axis 1", lambda x: wg.sum(wg.linalg.vector_norm(x, axis=1)),
     RNG.standard_normal((1000, 100)), lambda x: np.linalg.norm(x, axis=1)),
    ("clip, 10^6", lambda x: wg.sum(wg.clip(x, -0.5, 0.5) * W6), RNG.standard_normal(10**6),
     lambda x: np.clip(x, -0.5, 0.5)),
    ("logaddexp, 10^6", lambda x: wg.sum(wg.logaddexp(x, W6) * W6), RNG.standard_normal(10**6),
     lambda x: np.logaddexp(x, W6)),
    ("eigh 64 x 64", lambda x: wg.sum(wg.linalg.eigh(x).eigenvectors * W64), _symmetric(64),
     np.linalg.eigh),
    ("eigvalsh 64 x 64", lambda x: wg.sum(wg.linalg.eigvalsh(x) * W64[0]), _symmetric(64), np.linalg.eigvalsh),
    ("svd 64 x 48, thin", lambda x: wg.sum(wg.linalg.svd(x, full_matrices=False).U * W64[:, :48]),
     RNG.standard_normal((64, 48)), lambda x: np.linalg.svd(x, full_matrices=False)),
    ("qr 64 x 48", lambda x: wg.sum(wg.linalg.qr(x).R * W64[:48, :48]), RNG.standard_normal((64, 48)),
     np.linalg.qr),
    ("slogdet 64 x 64", lambda x: wg.linalg.slogdet(x).logabsdet, RNG.standard_normal((64, 64)),
     np.linalg.slogdet),
    ("pinv 64 x 48", lambda x: wg.sum(wg.linalg.pinv(x) * W64[:48]), RNG.standard_normal((64, 48)),
     np.linalg.pinv),
]


def bench_ops() -> None:
    print("Value+gradient of each op (in a weighted-sum loss), against the op's NumPy forward")
    print(f"  {'':<48} {'time':>13}  {'ratio':>8}  gradient graph nodes")
    for label, loss, x, forward in CASES:
        graph = wg.trace(loss, x)
        gradient = ENGINE.derivative_graph(graph, "gradient")
        t_forward = median_seconds(lambda: forward(x), repeat=7)
        t_grad = median_seconds(lambda: ENGINE.vjp(graph, {"x": x}, {"y": 1.0}), repeat=7)
        print(row(f"{label}: NumPy forward (reference)", t_forward))
        print(row(f"{label}: engine value+gradient", t_grad, t_forward) + f"  {len(gradient.nodes)}")


# -- einsum as one op, or decomposed into matmul and reshapes ----------------------------------
def _matmul_chain(a, b, c):
    return a @ b @ c


def _batched_bilinear(x, m, y):
    """b,bij,bj->bi written with matmul: (m @ y[..., None])[..., 0] * x."""
    return x * wg.squeeze(m @ wg.expand_dims(y, -1), -1)


CONTRACTIONS = [
    ("ij,jk->ik, 256 x 256", "ij,jk->ik", [(256, 256), (256, 256)], lambda a, b: a @ b),
    ("bij,bjk->bik, 64 x 32 x 32", "bij,bjk->bik", [(64, 32, 32), (64, 32, 32)], lambda a, b: a @ b),
    ("ij,jk,kl->il, 128 x 256 x 256 x 8", "ij,jk,kl->il", [(128, 256), (256, 256), (256, 8)], _matmul_chain),
    ("bi,bij,bj->bi, 256 x 64 x 64", "bi,bij,bj->bi", [(256, 64), (256, 64, 64), (256, 64)], _batched_bilinear),
]


def bench_einsum() -> None:
    print("einsum: one op (its rules are einsums) vs the same written with matmul, value+gradient")
    for label, subscripts, shapes, decomposed in CONTRACTIONS:
        inputs = [RNG.standard_normal(s) for s in shapes]
        names = [f"x{i}" for i in range(len(inputs))]
        feeds = dict(zip(names, inputs))
        as_op = wg.trace(lambda *xs: wg.sum(wg.einsum(subscripts, *xs) ** 2), *inputs, names=names)
        as_matmul = wg.trace(lambda *xs: wg.sum(decomposed(*xs) ** 2), *inputs, names=names)
        value, grads = ENGINE.vjp(as_op, feeds, {"y": 1.0})
        value2, grads2 = ENGINE.vjp(as_matmul, feeds, {"y": 1.0})
        assert np.allclose(value["y"], value2["y"]) and all(np.allclose(grads[n], grads2[n]) for n in names)
        t_numpy = median_seconds(lambda: np.einsum(subscripts, *inputs, optimize=True), repeat=7)
        t_op = median_seconds(lambda: ENGINE.vjp(as_op, feeds, {"y": 1.0}), repeat=7)
        t_matmul = median_seconds(lambda: ENGINE.vjp(as_matmul, feeds, {"y": 1.0}), repeat=7)
        print(row(f"{label}: np.einsum forward (reference)", t_numpy))
        print(row("    einsum op, value+gradient", t_op, t_numpy))
        print(row("    matmul decomposition, value+gradient", t_matmul, t_numpy))


if __name__ == "__main__":
    bench_ops()
    bench_einsum()
