"""The `wengert.v1.DifferentiationService` servicer: validate -> decode -> engine -> encode.

Nothing here computes or converts: limits are `Limits`, graphs come from `GraphCache`,
protobuf <-> NumPy is `wengert.transport.wire`, derivatives are the `Engine`. Errors are raised as
domain exceptions and turned into status codes by `CallInterceptor`.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from wengert.autodiff.transform import check_outputs, check_wrt
from wengert.jacobians.chunking import DEFAULT_BUDGET
from wengert.execution.engine import Engine
from wengert.errors import Cancelled, DeadlineExceeded, InvalidRequest
from wengert.ir.graph import Graph, format_value, wengert_list
from wengert.server.cache import GraphCache
from wengert.server.higher_order import (format_of, jacobian_blocks, run_derivative_graph,
                                         run_hessian, run_hvp, run_jacobian_stream, sweep_info)
from wengert.server.limits import Limits
from wengert.server.minimize import run_minimize
from wengert.v1 import service_pb2, service_pb2_grpc, tensor_pb2
from wengert.transport.wire import (JACOBIAN_MODES, TRACE_MODES, attr_to_proto, enum_name, graph_from_proto,
                          tensor_from_proto, tensor_to_proto)

ATTR_KINDS = {name: service_pb2.AttrKind.Value(f"ATTR_KIND_{name.upper()}")
              for name in ("int", "float", "bool", "str", "ints", "floats", "axes", "tensor")}


class DifferentiationServicer(service_pb2_grpc.DifferentiationServiceServicer):
    def __init__(self, registry, limits: Limits, cache: GraphCache, memory_budget: int = DEFAULT_BUDGET):
        self.registry = registry
        self.engine = Engine(registry, memory_budget=memory_budget)
        self.limits = limits
        self.cache = cache
        self._catalogue = catalogue(registry)  # the registry never changes: build it once

    def Evaluate(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        values = self.engine.evaluate(graph, inputs, request.outputs, check=interruption(context))
        return service_pb2.EvaluateResponse(graph_id=graph_id, outputs=encode(values))

    def Jvp(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        tangents = self._tensors(request.tangents, "tangent for", batched=request.batched)
        names = check_outputs(graph, request.outputs)
        values, out_tangents = self.engine.jvp(graph, inputs, tangents, batched=request.batched,
                                               check=interruption(context))
        return service_pb2.JvpResponse(graph_id=graph_id, outputs=encode(values, names),
                                       tangents=encode(out_tangents, names))

    def Vjp(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        cotangents = self._tensors(request.cotangents, "cotangent for", batched=request.batched)
        names = check_outputs(graph, request.outputs)
        _only_selected(cotangents, names, request.outputs)
        values, grads = self.engine.vjp(graph, inputs, cotangents, request.wrt, batched=request.batched,
                                        check=interruption(context))
        return service_pb2.VjpResponse(graph_id=graph_id, outputs=encode(values, names),
                                       cotangents=encode(grads))

    def Jacobian(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        mode, format = _mode(request), format_of(request)
        if format == "dense":
            self._check_dense_jacobian(graph, inputs, request)
        result = self.engine.jacobian(graph, inputs, request.wrt, request.outputs, mode,
                                      check=interruption(context), format=format)
        return service_pb2.JacobianResponse(
            graph_id=graph_id, outputs=encode(result.values), blocks=jacobian_blocks(result),
            mode=JACOBIAN_MODES[result.mode], sweep=sweep_info(result))

    def JacobianStream(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        yield from run_jacobian_stream(self.engine, request, graph=graph, graph_id=graph_id,
                                       inputs=inputs, mode=_mode(request), check=interruption(context))

    def Hessian(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        return run_hessian(self.engine, request, graph=graph, graph_id=graph_id, inputs=inputs,
                           check=interruption(context), check_size=self.limits.check_jacobian)

    def Hvp(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        directions = self._tensors(request.directions, "direction for", batched=request.batched)
        return run_hvp(self.engine, request, graph=graph, graph_id=graph_id, inputs=inputs,
                       directions=directions, check=interruption(context))

    def DerivativeGraph(self, request, context):
        graph_id, graph = self._graph(request)
        return run_derivative_graph(self.engine, request, graph=graph, graph_id=graph_id, cache=self.cache)

    def Minimize(self, request, context):
        graph_id, graph = self._graph(request)
        parameters = self._tensors(request.parameters, "parameter")
        data = self._tensors(request.data, "data")
        yield from run_minimize(self.engine, request, graph=graph, graph_id=graph_id,
                                parameters=parameters, data=data, check=interruption(context))

    def ListOps(self, request, context):
        return self._catalogue

    def Trace(self, request, context):
        graph_id, graph = self._graph(request)
        inputs = self._tensors(request.inputs, "input")
        mode = enum_name(TRACE_MODES, request.mode, "trace mode")
        if request.tangents and mode != "forward":
            raise InvalidRequest("tangents are only allowed with TRACE_MODE_FORWARD")
        if request.cotangents and mode != "reverse":
            raise InvalidRequest("cotangents are only allowed with TRACE_MODE_REVERSE")
        seeds = self._tensors(request.tangents if mode == "forward" else request.cotangents,
                              "tangent for" if mode == "forward" else "cotangent for")
        names = check_outputs(graph, request.outputs)
        _only_selected(seeds if mode == "reverse" else {}, names, request.outputs)
        rows = self.engine.trace(graph, inputs, mode, seeds, check=interruption(context))
        labels = {row.id: row.label for row in rows}
        slot = {"forward": "tangent", "reverse": "adjoint"}.get(mode)
        response = service_pb2.TraceResponse(
            graph_id=graph_id, output_labels={n: labels[dict(graph.outputs)[n]] for n in names},
            text=trace_text(graph, rows, mode))
        for row in rows:
            out = response.rows.add(
                label=row.label, id=row.id, op="" if row.op == "input" else row.op,
                inputs=[labels[i] for i in row.inputs], value=tensor_to_proto(row.value),
                attrs={k: attr_to_proto(v) for k, v in row.attrs.items() if v is not None})
            if slot and row.derivative is not None:
                getattr(out, slot).CopyFrom(tensor_to_proto(row.derivative))
        return response

    # -- the shared steps ------------------------------------------------------------------
    def _check_dense_jacobian(self, graph: Graph, inputs, request) -> None:
        """A dense Jacobian is allocated whole: refuse it over the limit before computing."""
        concrete = self.engine.specialize(graph, inputs)
        wrt = check_wrt(concrete, request.wrt)
        outputs = check_outputs(concrete, request.outputs or [
            n for n in concrete.output_names if concrete.output_type(n).is_float])
        self.limits.check_jacobian(sum(concrete.output_type(n).size for n in outputs),
                                   sum(concrete.type_of(n).size for n in wrt))

    def _graph(self, request) -> tuple[str, Graph]:
        """The request's graph, by id or in full (checked against the limits, then cached)."""
        if request.WhichOneof("graph_ref") == "graph_id":
            return request.graph_id, self.cache.get(request.graph_id)
        if not request.HasField("graph"):
            raise InvalidRequest("the request carries neither a graph nor a graph_id")
        self.limits.check_graph(request.graph)
        return self.cache.put(request.graph, lambda msg: graph_from_proto(msg, self.registry))

    def _tensors(self, tensors: Mapping[str, tensor_pb2.Tensor], what: str,
                 batched: bool = False) -> dict[str, np.ndarray]:
        self.limits.check_tensors(tensors, what, batched)
        return {name: tensor_from_proto(t, f"{what} {name!r}") for name, t in tensors.items()}


def _mode(request) -> str:
    return enum_name(JACOBIAN_MODES, request.mode, "Jacobian mode")


def interruption(context):
    """The engine's between-nodes check: stop once the deadline passed or the client left."""

    def check() -> None:
        if context.is_active():
            return
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the deadline passed while computing")
        raise Cancelled("the client cancelled the call")

    return check


def encode(arrays: Mapping[str, np.ndarray], names: Iterable[str] | None = None) -> dict:
    """`Tensor` messages for `arrays` (only `names`, in their order, when given)."""
    names = arrays if names is None else names
    return {name: tensor_to_proto(arrays[name]) for name in names}


def _only_selected(cotangents: Mapping, selected: list[str], requested) -> None:
    if requested:
        extra = [n for n in cotangents if n not in selected]
        if extra:
            raise InvalidRequest(f"cotangent for output {extra[0]!r}, which the request does not select")


def trace_text(graph: Graph, rows, mode: str) -> str:
    """The Wengert list with values, then the tangent (v̇) or adjoint (v̄) table of the notes."""
    text = wengert_list(graph, {row.id: row.value for row in rows})
    if mode == "none":
        return text
    mark, order = ("\u0307", rows) if mode == "forward" else ("\u0304", rows[::-1])
    lines = [f"v{mark}{row.label[1:]} = {format_value(row.derivative)}"
             for row in order if row.derivative is not None]
    return text + "\n\n" + "\n".join(lines)


def catalogue(registry) -> service_pb2.ListOpsResponse:
    """The ListOps answer: every op (sorted), every plugin the registry tried to load, the ops
    left out by verification and why, and whether the ops were verified at all."""
    response = service_pb2.ListOpsResponse(verified=registry.verified)
    for name in registry.names():
        op = registry.get(name)
        info = response.ops.add(name=op.name, plugin=op.plugin, plugin_version=_version(registry, op.plugin),
                                op_version=op.version, arity=-1 if op.arity is None else op.arity,
                                doc=op.doc, has_jvp=op.jvp is not None, has_vjp=op.vjp is not None)
        for attr in sorted(op.attrs, key=lambda a: a.name):
            entry = info.attrs.add(name=attr.name, kind=ATTR_KINDS[attr.kind], required=attr.required,
                                   doc=attr.doc)
            if not attr.required and attr.default is not None:
                entry.default_value.CopyFrom(attr_to_proto(attr.default))
    for plugin in registry.plugins:
        response.plugins.add(name=plugin.name, version=plugin.version, loaded=plugin.loaded,
                             error=plugin.error, ops=[n for n in plugin.ops if n in registry])
    for op in sorted(registry.left_out, key=lambda op: op.name):
        response.unserved_ops.add(name=op.name, plugin=op.plugin, plugin_version=_version(registry, op.plugin),
                                  reason=op.reason)
    return response


def _version(registry, plugin: str) -> str:
    return next((p.version for p in registry.plugins if p.name == plugin), "")
