"""A plugin that provides `sin`, which the builtin plugin already provides."""

import numpy as np

import wengert as wg
from wengert import OpDef, hookimpl
from wengert.plugins.shapes import floating


@hookimpl
def wengert_ops():
    return [OpDef("sin", np.sin, floating, elementwise=True,
                  jvp=(lambda x_dot, ans, x: x_dot * wg.cos(x),), vjp=(lambda g, ans, x: g * wg.cos(x),))]
