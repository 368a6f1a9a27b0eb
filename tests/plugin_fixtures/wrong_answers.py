"""Ops with the mistakes that once reached clients as wrong answers from a server started without
verification: each must be refused by default serving and by `wengert check-plugin`. Two ops
are right (`softsign`, and `softsign_slope`, which has no rules), and must be served."""

import numpy as np

import wengert as wg
from wengert import Example, OpDef, ShapeError, TensorType, hookimpl
from wengert.plugins.shapes import floating

# fault op -> the check that must refuse it
REFUSED_BY = {
    "negated_vjp": "VJP vs JVP dot product",
    "transposed_vjp": "VJP vs JVP dot product",
    "one_direction_jvp": "batched JVP vs stacked single JVPs",
    "dot_across_batch": "batched forward vs a loop over the batch",
    "float32_forward": "forward vs shape rule",
    "detached_second_order": "second order: JVP vs finite differences",
    "only_7x5": "examples: it has no `examples`, and its shape rule accepts none",
    "slope_without_rules": "second order: an op the rules use has no rules",
}
SERVED = ["softsign", "softsign_slope"]


def unary(name, forward, slope, **fields):
    return OpDef(name, forward, fields.pop("infer", floating), elementwise=True,
                 jvp=(lambda x_dot, ans, x: x_dot * slope(x),), vjp=(lambda g, ans, x: g * slope(x),), **fields)


def _matvec_examples(rng):
    return [Example((rng.standard_normal((3, 3)), rng.standard_normal(3))) for _ in range(2)]


def _scalar(*types):
    return TensorType(floating(*types).dtype, ())


def _only_7x5(x):
    if x.shape != (7, 5):
        raise ShapeError(f"needs a 7x5 matrix, got shape {x.shape}")
    return x


def _dot_across_batch(a, b):
    """`dot_across_batch` over a batch, wrongly: one sum over every direction at once."""
    return np.broadcast_to(np.sum(a * b), (max(a.shape[0], b.shape[0]),))


def _softsign_slope(x):
    return wg.op("softsign_slope", x)


@hookimpl
def wengert_ops():
    return [
        # d sin = cos, but the VJP says -cos: reverse-mode gradients had the wrong sign.
        OpDef("negated_vjp", np.sin, floating, elementwise=True,
              jvp=(lambda x_dot, ans, x: x_dot * wg.cos(x),), vjp=(lambda g, ans, x: -(g * wg.cos(x)),)),
        # a @ x: the cotangent of x is a^T g, not a g.
        OpDef("transposed_vjp", np.matmul, lambda a, x: TensorType(a.dtype, x.shape), arity=2,
              examples=_matvec_examples,
              jvp=(lambda a_dot, ans, a, x: a_dot @ x, lambda x_dot, ans, a, x: a @ x_dot),
              vjp=(lambda g, ans, a, x: wg.reshape(g, (-1, 1)) * wg.reshape(x, (1, -1)),
                   lambda g, ans, a, x: a @ g)),
        # sum(sin(x)): its JVP is right one direction at a time, but its helper's batched forward
        # mixes the directions of a batch, so forward-mode Jacobians were wrong.
        OpDef("one_direction_jvp", lambda x: np.sum(np.sin(x)), _scalar,
              examples=lambda rng: [Example((rng.standard_normal(4),))],
              jvp=(lambda x_dot, ans, x: wg.op("dot_across_batch", x_dot, wg.cos(x)),),
              vjp=(lambda g, ans, x: g * wg.cos(x),)),
        OpDef("dot_across_batch", lambda a, b: np.sum(a * b), _scalar, arity=2,
              batched_forward=_dot_across_batch,
              examples=lambda rng: [Example((rng.standard_normal(4), rng.standard_normal(4)))],
              jvp=(lambda a_dot, ans, a, b: wg.sum(a_dot * b), lambda b_dot, ans, a, b: wg.sum(a * b_dot)),
              vjp=(lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a)),
        # float64 in, float32 out: answers silently lost half their digits.
        unary("float32_forward", lambda x: np.sin(x).astype(np.float32), wg.cos),
        # x**3 with 3 x^2 treated as a constant: gradients right, Hessians wrong (zero).
        unary("detached_second_order", lambda x: x ** 3, lambda x: 3 * wg.stop_gradient(x * x)),
        # no examples, and a shape rule the checker's table of shapes never satisfies.
        unary("only_7x5", np.tanh, lambda x: 1 - wg.tanh(x) ** 2, infer=_only_7x5),
        # right first derivatives written with an op that has no rules: its Hessians failed.
        unary("slope_without_rules", lambda x: x / (1 + np.abs(x)), _softsign_slope),
        OpDef("softsign_slope", lambda x: 1 / (1 + np.abs(x)) ** 2, floating, elementwise=True),
        unary("softsign", lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + wg.abs(x)) ** 2),
    ]
