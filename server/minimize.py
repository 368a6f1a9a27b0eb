"""The Minimize RPC: steepest descent run on the server, streamed back as it goes.

The loop is `wengert.optim.minimize`, the same code an SDK user runs in-process, so the service
and `opt.step` give the same results; the fields convert through `wengert.optim.wire`, the same
code the client uses. Why cancellation works the way it does is written on `MinimizeResponse` in
service.proto: gRPC delivers nothing after a client cancels.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np

from wengert.execution.engine import Engine
from wengert.ir.graph import Graph
from wengert.optim.steepest import SteepestDescent, minimize
from wengert.optim.wire import norm_from_proto, progress_to_proto, schedule_from_proto, stop_from_proto
from wengert.v1 import service_pb2


def run_minimize(engine: Engine, request: service_pb2.MinimizeRequest, *, graph: Graph, graph_id: str,
                 parameters: Mapping[str, np.ndarray], data: Mapping[str, np.ndarray],
                 check=None) -> Iterator[service_pb2.MinimizeResponse]:
    """The response stream for `request`, whose graph and tensors the servicer has resolved and
    decoded (within its limits). A request that does not fit is refused here, before the
    stream starts; `check` is the servicer's cancellation and deadline check."""
    # In graph input order, as an SDK user's dict built from the graph would be: sums over the
    # parameters then round alike, and the results agree to the last bit.
    order = {name: i for i, name in enumerate(graph.input_names)}
    names = sorted(parameters, key=lambda k: order.get(k, len(order)))
    optimizer = SteepestDescent({k: np.array(parameters[k]) for k in names},
                                norm=norm_from_proto(request.norm), lr=request.learning_rate,
                                momentum=request.momentum,
                                schedule=schedule_from_proto(request.schedule), registry=engine.registry)
    reports = minimize(engine, graph, optimizer, data, loss=request.loss or None,
                       stop=stop_from_proto(request.stop), every=request.report_every or 1, check=check)
    return (progress_to_proto(p, graph_id, request.report_parameters) for p in reports)
