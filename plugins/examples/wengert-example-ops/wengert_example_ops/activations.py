"""Activations and a robust loss: unary elementwise ops, each declared by its slope f'(x).

A slope is a graph, built with wengert's graph functions and this plugin's own (gelu's uses
erf), so every derivative here can be differentiated again: Hessians work through these ops.
"""

from __future__ import annotations

import math

import numpy as np

import wengert as wg
from wengert import Attr, Example, OpDef, ShapeError, TensorType
from wengert.plugins.shapes import floating

SQRT_HALF = math.sqrt(0.5)
SQRT_2PI = math.sqrt(2 * math.pi)
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


# -- graph functions: what SDK users, and the slopes below, call -----------------------------
def swish(x): return wg.op("swish", x)
def huber(x, delta=1.0): return wg.op("huber", x, delta=delta)
def erf(x): return wg.op("erf", x)
def gelu(x): return wg.op("gelu", x)


def elementwise(name: str, forward, slope, doc: str, **fields) -> OpDef:
    """A unary elementwise op from its slope `slope(x, **attrs)` = f'(x), a graph: the JVP
    is x_dot * f'(x) and the VJP g * f'(x), and the engine handles broadcasting and batches."""
    return OpDef(
        name=name,
        forward=forward,
        infer=fields.pop("infer", floating),
        jvp=(lambda x_dot, ans, x, **attrs: x_dot * slope(x, **attrs),),
        vjp=(lambda g, ans, x, **attrs: g * slope(x, **attrs),),
        elementwise=True,
        doc=doc,
        **fields,
    )


_erf = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf; math.erf is exact, one element at a time


def _erf_forward(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erf(x), dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _huber_type(x: TensorType, delta: float) -> TensorType:
    if not delta > 0:
        raise ShapeError(f"delta must be positive, got {delta}")
    return floating(x)


def _huber_examples(rng):
    """Both sides of the kink at |x| = delta, for the default delta and two others."""
    return [Example((rng.uniform(-3, 3, (3, 4)),)),
            Example((rng.uniform(-3, 3, (5,)),), {"delta": 0.5}),
            Example((rng.uniform(-3, 3, ()),), {"delta": 2.0})]


OPS = [
    elementwise("swish", lambda x: x * 0.5 * (1 + np.tanh(0.5 * x)),  # sigmoid via tanh: no overflow
                lambda x: wg.sigmoid(x) * (1 + x * (1 - wg.sigmoid(x))),
                "x * sigmoid(x) (SiLU)"),
    elementwise("huber", lambda x, delta: np.where(np.abs(x) <= delta, 0.5 * x * x,
                                                   delta * (np.abs(x) - 0.5 * delta)),
                lambda x, delta: wg.where(wg.abs(x) <= delta, x, delta * wg.sign(x)),
                "Huber loss: x**2 / 2 for |x| <= delta, else delta * (|x| - delta / 2)",
                infer=_huber_type, examples=_huber_examples,
                attrs=(Attr("delta", "float", 1.0, "where the quadratic turns linear; > 0"),)),
    elementwise("erf", _erf_forward, lambda x: TWO_OVER_SQRT_PI * wg.exp(-(x * x)),
                "the error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to x"),
    elementwise("gelu", lambda x: 0.5 * x * (1 + _erf_forward(x * SQRT_HALF)),
                lambda x: 0.5 * (1 + erf(x * SQRT_HALF)) + x * wg.exp(-0.5 * (x * x)) / SQRT_2PI,
                "x * Phi(x), Phi the standard normal CDF (exact GELU, not the tanh approximation)"),
]
