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


@hookspec
def wengert_norms() -> list:
    """Return the norms this plugin provides, as a list of `wengert.NormDef` records.

    Called once when the registry is built, like `wengert_ops`; norm names are global too. A
    norm is the geometry of steepest descent (`wg.optim.SteepestDescent(params, norm="l4")`):
    write its dual norm and the unit step that attains it, plus the norm itself, which the
    checker (`wengert.plugins.norm_checker.check_norm`) needs to verify the other two. Each
    function receives the parameters (or their gradient) as a list of arrays.

    **Example**::

        import numpy as np
        from wengert import NormDef, hookimpl

        P, Q = 4.0, 4.0 / 3.0  # the l4 norm and the exponent of its dual

        def _lp(w, p):
            return float(sum(np.sum(np.abs(b) ** p) for b in w) ** (1 / p))

        def _dualize(g):
            scale = _lp(g, Q) or 1.0  # a zero gradient dualizes to zero
            return [np.sign(b) * (np.abs(b) / scale) ** (Q - 1) for b in g]

        @hookimpl
        def wengert_norms():
            return [NormDef(
                name="l4",
                norm=lambda w: _lp(w, P),
                dual_norm=lambda g: _lp(g, Q),
                dualize=_dualize,
                doc="l4 norm: between gradient descent (l2) and sign descent (l-inf)",
            )]
    """
