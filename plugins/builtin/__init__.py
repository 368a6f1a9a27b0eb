"""The builtin ops: a plugin like any other, registered through the `wengert.plugins` entry
point. Read these modules to learn how to write ops: one stanza per op."""

from wengert.plugins.builtin import elementwise, linalg, reductions, shape
from wengert.plugins.spec import hookimpl


@hookimpl
def wengert_ops():
    return [*elementwise.OPS, *reductions.OPS, *linalg.OPS, *shape.OPS]
