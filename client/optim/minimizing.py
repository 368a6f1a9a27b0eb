"""`Client.minimize`: steepest descent on the server (the Minimize RPC), or in-process for
`Client.local()`, followed to its end with an optional progress line and a clean early stop.

Both run `wengert.optim.minimize`, so they take the same steps. Stopping early (a `callback`
returning True, or Ctrl-C) cancels the call and returns the newest parameters received: the
remote call asks for the parameters in every report, because gRPC delivers nothing after a
cancel (see `MinimizeResponse` in service.proto).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Iterator, Mapping

import grpc
import numpy as np

from wengert.expectations.settings import Expectation
from wengert.expectations.wire import expectation_to_proto
from wengert.optim import steepest
from wengert.transport.local import LocalTransport
from wengert.optim.steepest import NormSpec, Progress, Schedule, Stop
from wengert.optim.wire import norm_to_proto, progress_from_proto, schedule_to_proto, stop_to_proto
from wengert.transport.remote import error_from_rpc
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import graph_to_proto, tensor_to_proto


def minimize(client, f, params: Mapping[str, Any], data: Mapping[str, Any] | None = None, *,
             stop: Stop, loss: str | None = None, norm: NormSpec = "l2", lr: float = 0.01,
             momentum: float = 0.0, schedule: Schedule = Schedule(), report_every: int = 1,
             progress: bool = False, callback: Callable[[Progress], bool | None] | None = None,
             expectation: Expectation | None = None) -> Progress:
    """Minimize the scalar output `loss` of `f` (a graph, or a function traced on the inputs)
    over the inputs in `params` (name -> starting value), holding `data` fixed, by steepest
    descent under `norm` (see `wg.optim.SteepestDescent`) until `stop`.

    Returns the final report: `params` (new arrays; the given ones are not touched), `loss`,
    `gradient_norm`, `step` and `reason`, which is "cancelled" when stopped early. The server
    reports every `report_every` steps; each report goes to `callback` (return True to stop)
    and, with `progress`, to a line on stderr.

    With `expectation` (a `wg.Expectation`), `f` is stochastic: the objective is E[loss] over
    its key input (which is neither a parameter nor data), each step follows a gradient
    estimate from fresh samples, and the reported loss is that step's estimate.
    """
    given = {**params, **(data or {})}
    if expectation is None:
        graph, inputs = client._bind(f, given)
    else:
        graph, inputs = client._bind_stochastic(f, given, expectation.key_input)
    start, fixed = {k: inputs[k] for k in params}, {k: v for k, v in inputs.items() if k not in params}
    if isinstance(client._transport, LocalTransport):
        engine = client._transport.engine
        opt = steepest.SteepestDescent({k: np.array(v) for k, v in start.items()}, norm=norm, lr=lr,
                                    momentum=momentum, schedule=schedule, registry=engine.registry)
        reports = steepest.minimize(engine, graph, opt, fixed, loss=loss, stop=stop, every=report_every,
                                    expectation=expectation)
        return _follow(reports, reports.close, progress, callback)
    request = pb.MinimizeRequest(
        graph=graph_to_proto(graph), loss=loss or "", norm=norm_to_proto(norm), learning_rate=lr,
        schedule=schedule_to_proto(schedule), momentum=momentum, stop=stop_to_proto(stop),
        parameters={k: tensor_to_proto(v) for k, v in start.items()},
        data={k: tensor_to_proto(v) for k, v in fixed.items()},
        report_every=report_every, report_parameters=True,
        expectation=expectation_to_proto(expectation) if expectation is not None else None)
    transport = client._transport
    call = transport.stub.Minimize(request, timeout=transport.policy.timeout, metadata=transport.metadata)
    try:
        return _follow((progress_from_proto(m) for m in call), call.cancel, progress, callback)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


def _follow(reports: Iterator[Progress], cancel: Callable[[], None], progress: bool,
            callback: Callable[[Progress], bool | None] | None) -> Progress:
    """The final report, or on an early stop the newest one with parameters, as "cancelled"."""
    newest = None
    try:
        for report in reports:
            newest = report if report.params else newest
            if progress:
                _show(report)
            if report.reason:
                return report
            if callback is not None and callback(report):
                break
    except KeyboardInterrupt:
        if newest is None:
            raise
    cancel()
    if progress:
        print(file=sys.stderr)
    return dataclasses.replace(newest, reason="cancelled")


def _show(report: Progress) -> None:
    """One progress line on stderr, rewritten in place; the final report ends it."""
    line = f"\rstep {report.step:>7}  loss {report.loss:.6e}  |g|* {report.gradient_norm:.3e}"
    print(line + (f"  {report.reason}\n" if report.reason else ""), end="", file=sys.stderr, flush=True)
