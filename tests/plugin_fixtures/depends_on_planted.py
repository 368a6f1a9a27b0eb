"""An op that is right only while planted_mistakes' `wrong_sign_vjp` (whose forward, sin, is
right) is loaded: its derivative -sin(x) is written with that op."""

import numpy as np

import wengert as wg
from wengert import OpDef, hookimpl
from wengert.plugins.shapes import float_arrays, floating


def _slope(x):
    return -wg.op("wrong_sign_vjp", x)


@hookimpl
def wengert_ops():
    return [OpDef("cos_via_planted", lambda x: np.cos(*float_arrays(x)), floating, elementwise=True,
                  jvp=(lambda x_dot, ans, x: x_dot * _slope(x),), vjp=(lambda g, ans, x: g * _slope(x),))]
