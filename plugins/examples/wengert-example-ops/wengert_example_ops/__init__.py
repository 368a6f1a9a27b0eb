"""wengert-example-ops: the plugin hook, and SDK functions that build nodes of its ops.

The hook is all wengert needs; the functions just save users from spelling `wg.op("gelu", x)`.
"""

from wengert import hookimpl
from wengert_example_ops import activations, matrix
from wengert_example_ops.activations import erf, gelu, huber, swish
from wengert_example_ops.matrix import expm, expm_frechet

__all__ = ["erf", "expm", "expm_frechet", "gelu", "huber", "swish"]


@hookimpl
def wengert_ops():
    return [*activations.OPS, *matrix.OPS]
