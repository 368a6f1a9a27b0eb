"""Plugins: the hookspecs, the op and norm records, the registry, the builtins and the checkers."""

from wengert.plugins.normdef import NormDef
from wengert.plugins.opdef import REQUIRED, Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.spec import hookimpl, hookspec

__all__ = ["REQUIRED", "Attr", "Cost", "Example", "NormDef", "OpDef", "ShapeError", "hookimpl", "hookspec"]
