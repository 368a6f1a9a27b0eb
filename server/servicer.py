"""The `wengert.v1.DifferentiationService` servicer: resolve -> decode -> price -> run -> encode.

Nothing here computes or converts: graphs come from `GraphCache` (checked against the wire
limits when sent in full), requests become `Call`s and results responses in `calls`, the
`Engine` prepares each call and prices it before anything large is allocated, its limits admit
it, and a compute worker of the `Pool` runs it (or, in in-thread mode, this thread). Errors are
raised as domain exceptions and turned into status codes by `CallInterceptor`.
"""

from __future__ import annotations

import hashlib
import time

from wengert.errors import Cancelled, DeadlineExceeded, InvalidRequest
from wengert.execution.engine import Engine
from wengert.ir.graph import Graph
from wengert.server import calls
from wengert.server.cache import GraphCache
from wengert.server.execution.inline import Inline
from wengert.server.execution.pool import Pool
from wengert.server.limits import WireLimits
from wengert.server.type_inference import infer_types
from wengert.transport.wire import ATTR_KINDS, attr_to_proto, graph_from_proto, graph_to_proto
from wengert.v1 import service_pb2, service_pb2_grpc

# CostRequest's fields, by the RPC whose request each holds.
PRICED = {"evaluate": "Evaluate", "jvp": "Jvp", "vjp": "Vjp", "jacobian": "Jacobian",
          "jacobian_stream": "JacobianStream", "hessian": "Hessian", "hvp": "Hvp", "trace": "Trace",
          "derivative_graph": "DerivativeGraph", "minimize": "Minimize",
          "expectation_gradient": "ExpectationGradient"}


class DifferentiationServicer(service_pb2_grpc.DifferentiationServiceServicer):
    def __init__(self, engine: Engine, limits: WireLimits, cache: GraphCache, pool: Pool | None = None,
                 inline: Inline | None = None):
        self.engine = engine
        self.pool = pool
        self.inline = inline  # which requests skip the pool (None: none do)
        self.registry = engine.registry
        self.limits = limits
        self.cache = cache
        self._catalogue = catalogue(engine.registry)  # the registry never changes: build it once

    def Evaluate(self, request, context):
        return self._answer("Evaluate", request, context)

    def Jvp(self, request, context):
        return self._answer("Jvp", request, context)

    def Vjp(self, request, context):
        return self._answer("Vjp", request, context)

    def Jacobian(self, request, context):
        return self._answer("Jacobian", request, context)

    def JacobianStream(self, request, context):
        yield from self._answer("JacobianStream", request, context)

    def Hessian(self, request, context):
        return self._answer("Hessian", request, context)

    def Hvp(self, request, context):
        return self._answer("Hvp", request, context)

    def Trace(self, request, context):
        return self._answer("Trace", request, context)

    def Minimize(self, request, context):
        yield from self._answer("Minimize", request, context)

    def ExpectationGradient(self, request, context):
        return self._answer("ExpectationGradient", request, context)

    def DerivativeGraph(self, request, context):
        graph_id, graph = self._graph(request, context)
        call = calls.decode("DerivativeGraph", request, graph, self.limits)
        derivative = self.engine.run(self.engine.prepare(call))
        msg = graph_to_proto(derivative)
        derivative_id, _ = self.cache.put(msg, lambda _: derivative, owner(context))
        return service_pb2.DerivativeGraphResponse(graph_id=graph_id, graph=msg,
                                                   derivative_graph_id=derivative_id)

    def Cost(self, request, context):
        field = request.WhichOneof("request")
        if field is None:
            raise InvalidRequest("the Cost request holds no request to price")
        rpc, inner = PRICED[field], getattr(request, field)
        graph_id, graph = self._graph(inner, context)
        price = self.engine.cost(calls.decode(rpc, inner, graph, self.limits))
        return calls.cost_response(graph_id, self.engine.limits.quote(price), self.engine.limits)

    def ListOps(self, request, context):
        return self._catalogue

    def InferTypes(self, request, context):
        self.limits.check_signatures(request.signatures)
        return infer_types(request.signatures, self.registry)

    # -- the shared steps ------------------------------------------------------------------
    def _answer(self, rpc: str, request, context):
        graph_id, graph = self._graph(request, context)
        call = calls.decode(rpc, request, graph, self.limits)
        prepared = self.engine.prepare(call, interruption(context))
        self.engine.limits.admit(prepared.price)
        if self.pool is None:
            result = prepared.run()
        elif self.inline is not None and self.inline(graph_id, graph, prepared.price):
            self.pool.metrics.inline.inc()
            result = prepared.run()
        else:
            result = self.pool.run(call, graph_id, owner(context), context)
        return calls.encode(rpc, request, graph_id, graph, call, result)

    def _graph(self, request, context) -> tuple[str, Graph]:
        """The request's graph, by id or in full (checked against the limits, then cached)."""
        if request.WhichOneof("graph_ref") == "graph_id":
            if not request.graph_id:
                raise InvalidRequest("graph_id is empty: name a graph the server returned, or send the graph",
                                     field="graph_id")
            return request.graph_id, self.cache.get(request.graph_id)
        if not request.HasField("graph"):
            raise InvalidRequest("the request carries neither a graph nor a graph_id")
        self.limits.check_graph(request.graph)
        return self.cache.put(request.graph, lambda msg: graph_from_proto(msg, self.registry),
                              owner(context))


def owner(context) -> str:
    """Whose graph a request caches, for the cache's per-client share: its bearer token (as a
    digest), else the peer's address without the port."""
    token = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), "")
    if token:
        return "token:" + hashlib.sha256(str(token).encode()).hexdigest()[:16]
    return (context.peer() or "").rsplit(":", 1)[0]


# How often a computation in a gRPC thread asks gRPC whether its call is still wanted:
# `is_active` takes the call's lock, and asked after every step it cost a third of a small
# graph's time under load.
ASK_SECONDS = 0.002


def interruption(context):
    """The engine's between-nodes check: stop once the deadline passed or the client left
    (asking gRPC at most every ASK_SECONDS)."""
    next_ask = 0.0

    def check(node=None) -> None:
        nonlocal next_ask
        now = time.monotonic()
        if now < next_ask:
            return
        next_ask = now + ASK_SECONDS
        if context.is_active():
            return
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the deadline passed while computing")
        raise Cancelled("the client cancelled the call")

    return check


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
