"""acme-ops: a team's plugin, installed on the server only.

`server_site/` is a site-packages folder as pip leaves it (the package and its dist-info with
the `wengert.plugins` entry point). Only the test server gets it on its PYTHONPATH, so clients
in the test process have no copy: they build graphs with these ops through `client.ops`, and
the server types, evaluates and differentiates them (tests/test_server_ops.py).
"""

from __future__ import annotations

import numpy as np

import wengert as wg
from wengert import Attr, Example, OpDef, ShapeError, TensorType, hookimpl
from wengert.plugins.shapes import floating, require_float


def _softsign_type(x: TensorType, sharpness: float) -> TensorType:
    if not sharpness > 0:
        raise ShapeError(f"sharpness must be positive, got {sharpness}")
    return floating(x)


def _softsign_slope(x, sharpness):
    """d/dx x / (1 + s|x|) = 1 / (1 + s|x|)**2, a graph, so it differentiates again."""
    return 1.0 / wg.square(1.0 + sharpness * wg.abs(x))


def _softsign_examples(rng):
    return [Example((rng.uniform(-3, 3, (3, 4)),)),
            Example((rng.uniform(-3, 3, (5,)),), {"sharpness": 0.5}),
            Example((rng.uniform(-3, 3, ()),), {"sharpness": 2.0})]


def _gram(x: np.ndarray) -> np.ndarray:
    """x @ x.T, for a matrix or a stack of them (so it is also the batched forward)."""
    return x @ np.swapaxes(x, -1, -2)


def _gram_type(x: TensorType) -> TensorType:
    require_float(x)
    if x.ndim != 2:
        raise ShapeError(f"needs a matrix, got shape {x.shape}")
    return TensorType(x.dtype, (x.shape[0], x.shape[0]))


OPS = [
    OpDef("acme_softsign", lambda x, sharpness: x / (1 + sharpness * np.abs(x)), _softsign_type,
          jvp=(lambda x_dot, ans, x, sharpness: x_dot * _softsign_slope(x, sharpness),),
          vjp=(lambda g, ans, x, sharpness: g * _softsign_slope(x, sharpness),),
          attrs=(Attr("sharpness", "float", 1.0, "how fast it saturates; > 0"),),
          elementwise=True, examples=_softsign_examples, doc="x / (1 + sharpness * |x|)"),
    OpDef("acme_gram", _gram, _gram_type, batched_forward=_gram,
          jvp=(lambda x_dot, ans, x: x_dot @ x.T + x @ x_dot.T,),
          vjp=(lambda g, ans, x: (g + g.T) @ x,),
          examples=lambda rng: [Example((rng.standard_normal((3, 2)),)),
                                Example((rng.standard_normal((2, 4)),))],
          doc="x @ x.T: the Gram matrix of the rows of x"),
]


@hookimpl
def wengert_ops():
    return OPS
