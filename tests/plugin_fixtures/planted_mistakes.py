"""Ops with one classic mistake each, and one correct op: what `wengert check-plugin` must catch."""

import numpy as np

import wengert as wg
from wengert import OpDef, TensorType, hookimpl
from wengert.plugins.shapes import broadcasting, floating


def unary(name, forward, jvp, vjp, infer=floating):
    return OpDef(name, forward, infer, jvp=(jvp,), vjp=(vjp,), elementwise=True)


@hookimpl
def wengert_ops():
    return [
        unary("good_cube", lambda x: x ** 3.0,  # 3.0: integer inputs give float64, as `floating` says
              lambda x_dot, ans, x: 3 * x * x * x_dot, lambda g, ans, x: 3 * x * x * g),
        unary("wrong_sign_vjp", np.sin,
              lambda x_dot, ans, x: x_dot * wg.cos(x), lambda g, ans, x: -(g * wg.cos(x))),
        OpDef("missing_term_jvp", np.multiply, broadcasting, arity=2, elementwise=True,
              jvp=(lambda x_dot, ans, x, y: x_dot * y, lambda y_dot, ans, x, y: None),
              vjp=(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)),
        unary("wrong_shape_rule_result", np.tanh,
              lambda x_dot, ans, x: x_dot * (1 - ans * ans), lambda g, ans, x: wg.sum(g * (1 - ans * ans))),
        unary("shape_rule_disagrees", np.exp,
              lambda x_dot, ans, x: x_dot * ans, lambda g, ans, x: g * ans,
              infer=lambda x: TensorType(x.dtype, x.shape + (1,))),
    ]
