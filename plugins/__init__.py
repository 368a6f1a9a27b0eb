"""Op plugins: the hookspecs, the op record, the registry, the builtin ops and the checker."""

from wengert.plugins.opdef import REQUIRED, Attr, Example, OpDef, ShapeError
from wengert.plugins.spec import hookimpl, hookspec

__all__ = ["REQUIRED", "Attr", "Example", "OpDef", "ShapeError", "hookimpl", "hookspec"]
