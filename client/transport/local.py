"""Calls on an in-process `Engine`: the transport of `Client.local()`.

It returns exactly what the remote transport decodes from a server's responses, so the methods
in `wengert.api` finish both the same way.
"""

from __future__ import annotations

from typing import Any

from wengert.api import Call, OpInfo
from wengert.execution.engine import Engine


class LocalTransport:
    """Runs calls on an engine with `registry`'s ops."""

    def __init__(self, registry=None):
        self.engine = Engine(registry)

    def __call__(self, call: Call) -> Any:
        engine, graph = self.engine, call.graph
        match call.rpc:
            case "Evaluate":
                return engine.evaluate(graph, call.inputs, call.outputs)
            case "Jvp":
                return engine.jvp(graph, call.inputs, call.tangents, batched=call.batched)
            case "Vjp":
                return engine.vjp(graph, call.inputs, call.cotangents, call.wrt, batched=call.batched)
            case "Jacobian" | "JacobianStream":  # in-process, nothing to stream through
                return engine.jacobian(graph, call.inputs, call.wrt, call.outputs, call.mode,
                                       format=call.format)
            case "Hessian":
                return engine.hessian(graph, call.inputs, call.output or None, call.wrt, call.format)
            case "Hvp":
                return engine.hvp(graph, call.inputs, call.directions, call.output or None,
                                  batched=call.batched)
            case "DerivativeGraph":
                return engine.derivative_graph(graph, call.kind, call.wrt or None, seeds=call.outputs or None)
            case "Trace":
                rows = engine.trace(graph, call.inputs, call.mode, call.tangents or call.cotangents)
                return ({r.id: r.value for r in rows},
                        {r.id: r.derivative for r in rows if r.derivative is not None})
            case "ListOps":
                return [OpInfo(op.name, op.plugin, op.version, op.arity,
                               tuple(sorted(a.name for a in op.attrs)), op.doc,
                               op.jvp is not None, op.vjp is not None,
                               tuple(sorted(op.attrs, key=lambda a: a.name)))
                        for op in sorted(engine.registry, key=lambda op: op.name)]
        raise ValueError(f"unknown rpc {call.rpc!r}")

    def close(self) -> None:
        """Nothing to release."""
