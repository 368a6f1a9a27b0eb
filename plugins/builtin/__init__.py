"""The builtin ops and norms: a plugin like any other, registered through the `wengert.plugins`
entry point. Read these modules to learn how to write ops (and norms): one stanza each."""

from wengert.plugins.builtin import elementwise, linalg, norms, reductions, shape
from wengert.plugins.spec import hookimpl


@hookimpl
def wengert_ops():
    return [*elementwise.OPS, *reductions.OPS, *linalg.OPS, *shape.OPS]


@hookimpl
def wengert_norms():
    return norms.NORMS
