"""The hookspecs: everything a plugin can provide. All hooks are prefixed `wengert_`."""

from __future__ import annotations

import pluggy

PROJECT = "wengert"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def wengert_ops() -> list:
    """Return the elementary ops this plugin provides, as a list of `wengert.OpDef` records.

    Called once when the registry is built. Op names are global: a name another loaded plugin
    already provides stops start-up, naming both plugins.

    **Example**::

        import numpy as np
        import wengert as wg
        from wengert import Attr, OpDef, hookimpl
        from wengert.plugins.shapes import same_as_first

        @hookimpl
        def wengert_ops():
            return [OpDef(
                name="swish",
                forward=lambda x: x / (1 + np.exp(-x)),
                infer=same_as_first,
                jvp=(lambda x_dot, ans, x: x_dot * _dswish(x),),
                vjp=(lambda g, ans, x: g * _dswish(x),),
                elementwise=True,
                doc="x * sigmoid(x)",
            )]
    """
