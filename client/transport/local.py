"""Calls on an in-process `Engine`: the transport of `Client.local()`.

It returns exactly what the remote transport decodes from a server's responses, so the methods
in `wengert.api` finish both the same way.
"""

from __future__ import annotations

from typing import Any

from wengert.api import OpInfo
from wengert.execution.call import Call
from wengert.execution.cost import Limits, Quote
from wengert.execution.engine import Engine


class LocalTransport:
    """Runs calls on an engine with `registry`'s ops, within `limits` (default: none)."""

    def __init__(self, registry=None, limits: Limits | None = None):
        self.engine = Engine(registry, limits=limits)

    def __call__(self, call: Call) -> Any:
        engine = self.engine
        if call.rpc == "ListOps":
            return [OpInfo(op.name, op.plugin, op.version, op.arity,
                           tuple(sorted(a.name for a in op.attrs)), op.doc,
                           op.jvp is not None, op.vjp is not None,
                           tuple(sorted(op.attrs, key=lambda a: a.name)))
                    for op in sorted(engine.registry, key=lambda op: op.name)]
        result = engine.run(engine.prepare(call))
        if call.rpc == "Trace":
            return ({r.id: r.value for r in result},
                    {r.id: r.derivative for r in result if r.derivative is not None})
        if call.rpc == "JacobianStream":  # in-process, nothing to stream through
            return result.collect(call.format)
        return result

    def cost(self, call: Call) -> Quote:
        """What `call` would cost on this engine, by its limits, without running it."""
        return self.engine.limits.quote(self.engine.cost(call))

    def close(self) -> None:
        """Nothing to release."""
