"""The builtin ops and norms: a plugin like any other, registered through the `wengert.plugins`
entry point. Read these modules to learn how to write ops (and norms): one stanza each."""

from wengert.plugins.builtin import (
    control_flow, decompositions, discrete, distributions, einsum, elementwise, linalg, norms, reductions,
    shape, sorting, special,
)
from wengert.plugins.spec import hookimpl


@hookimpl
def wengert_ops():
    return [*elementwise.OPS, *discrete.OPS, *reductions.OPS, *sorting.OPS, *linalg.OPS,
            *decompositions.OPS, *einsum.OPS, *shape.OPS, *control_flow.OPS, *special.OPS,
            *distributions.OPS]


@hookimpl
def wengert_norms():
    return norms.NORMS
