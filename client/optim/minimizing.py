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
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import grpc
import numpy as np

from wengert.errors import InvalidRequest
from wengert.expectations.settings import Expectation
from wengert.expectations.wire import expectation_to_proto
from wengert.ir.graph import Graph
from wengert.optim import steepest
from wengert.transport.local import LocalTransport
from wengert.optim.steepest import NormSpec, Progress, Schedule, Stop
from wengert.optim.wire import norm_to_proto, progress_from_proto, schedule_to_proto, stop_to_proto
from wengert.transport.remote import error_from_rpc
from wengert.v1 import service_pb2 as pb
from wengert.loops.checkpointing import current
from wengert.transport.wire import checkpoint_to_proto, graph_to_proto, tensor_to_proto


def minimize(client, f, params: Any, data: Any = None, *, stop: Stop, loss: str | None = None,
             norm: NormSpec = "l2", lr: float = 0.01, momentum: float = 0.0,
             schedule: Schedule = Schedule(), report_every: int = 1, progress: bool = False,
             callback: Callable[[Progress], bool | None] | None = None,
             expectation: Expectation | None = None) -> Progress:
    """Minimize `f(params, data)` (or `f(params)` when `data` is None), a function with a
    scalar output, over the float leaves of the pytree `params`, holding `data` (any pytree)
    fixed, by steepest descent under `norm` (see `wg.optim.SteepestDescent`) until `stop`.
    `f` may also be a graph: then `params` and `data` are dicts by input name, and `loss`
    names its scalar output when it has several.

    `norm` is a norm name, a `NormDef`, or a dict from parameter paths (`"W"`,
    `"layers/0/w"`, as `wg.tree` names the leaves of `params`) to norms, for the product
    norm (parameters left out use l2). Returns the final report: `params` (new arrays in the
    structure of the given ones, which are not touched), `loss`, `gradient_norm`, `step` and
    `reason`, which is "cancelled" when stopped early. The server reports every
    `report_every` steps; each report goes to `callback` (return True to stop) and, with
    `progress`, to a line on stderr.

    With `expectation` (a `wg.Expectation`) the objective is stochastic: `f(params, data, key)`
    (or `f(params, key)`) draws with `wg.random` from its last argument, a random key; each
    step follows a gradient estimate of E[loss] from fresh samples, and the reported loss is
    that step's estimate (for a graph, `expectation.key_input` names the key input).
    """
    problem = _Problem.of(client, f, params, data, expectation and expectation.key_input)
    norm = problem.norm(norm)
    if expectation is not None:
        expectation = dataclasses.replace(expectation, key_input=problem.key)
    checkpoint = current()  # wg.checkpointing: how reverse mode through loops keeps their states
    if isinstance(client._transport, LocalTransport):
        engine = client._transport.engine
        engine = engine if checkpoint.policy == "auto" else engine.using(checkpoint)
        opt = steepest.SteepestDescent({k: np.array(v) for k, v in problem.start.items()}, norm=norm, lr=lr,
                                       momentum=momentum, schedule=schedule, registry=engine.registry)
        reports = steepest.minimize(engine, problem.graph, opt, problem.fixed, loss=loss, stop=stop,
                                    every=report_every, expectation=expectation)
        return _follow(problem.shaped(reports), reports.close, progress, callback)
    request = pb.MinimizeRequest(
        graph=graph_to_proto(problem.graph), loss=loss or "", norm=norm_to_proto(norm), learning_rate=lr,
        schedule=schedule_to_proto(schedule), momentum=momentum, stop=stop_to_proto(stop),
        parameters={k: tensor_to_proto(v) for k, v in problem.start.items()},
        data={k: tensor_to_proto(v) for k, v in problem.fixed.items()},
        report_every=report_every, report_parameters=True, checkpoint=checkpoint_to_proto(checkpoint),
        expectation=expectation_to_proto(expectation) if expectation is not None else None)
    transport = client._transport
    call = transport.stub.Minimize(request, timeout=transport.policy.timeout, metadata=transport.metadata)
    try:
        return _follow(problem.shaped(progress_from_proto(m) for m in call), call.cancel, progress, callback)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


@dataclass(frozen=True)
class _Problem:
    """A minimization bound to its graph: the parameters' inputs with their starting values,
    the fixed inputs, each parameter's path, how to shape parameters by input name back into
    the structure the caller gave, and for a stochastic objective its key input (which the
    estimator feeds: neither a parameter nor fixed)."""

    graph: Graph
    start: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]
    paths: dict[str, str]  # parameter path -> input name
    pack: Callable[[Mapping[str, np.ndarray]], Any]
    key: str | None = None

    @classmethod
    def of(cls, client, f, params, data, key_input: str | None = None) -> _Problem:
        key = None
        if key_input is not None:
            bound, key = client._bind_stochastic(f, params, data, key_input)
        if isinstance(f, Graph):
            if not isinstance(params, Mapping):
                raise InvalidRequest("for a graph, give the parameters as a dict by input name")
            bound = bound if key else client._bind(f, ({**params, **(data or {})},))
            names = tuple(params)
            paths = {n: n for n in names}

            def pack(arrays):
                return {n: arrays[n] for n in names}
        else:
            bound = bound if key else client._bind(f, (params,) if data is None else (params, data))
            traced = bound.traced
            names = traced.arg_names[0]
            paths = {"/".join(p): n for p, n in zip(traced.args[0].paths(), names)}

            def pack(arrays):
                return traced.argument(0, arrays)
        inputs = bound.inputs
        return cls(bound.graph, {k: inputs[k] for k in names},
                   {k: v for k, v in inputs.items() if k not in names}, paths, pack, key)

    def norm(self, norm: NormSpec) -> NormSpec:
        """A per-parameter norm keyed by input name instead of parameter path."""
        if not isinstance(norm, Mapping):
            return norm
        unknown = [k for k in norm if k not in self.paths]
        if unknown:
            raise InvalidRequest(f"norm given for {unknown[0]!r}, which is not a parameter "
                                 f"(the parameters are {', '.join(map(repr, self.paths))})")
        return {self.paths[k]: v for k, v in norm.items()}

    def shaped(self, reports: Iterator[Progress]) -> Iterator[Progress]:
        """The reports with their parameters (when they carry some) in the caller's structure."""
        for report in reports:
            yield dataclasses.replace(report, params=self.pack(report.params)) if report.params else report


def _follow(reports: Iterator[Progress], cancel: Callable[[], None], progress: bool,
            callback: Callable[[Progress], bool | None] | None) -> Progress:
    """The final report, or on an early stop the newest one with parameters, as "cancelled"."""
    newest = None
    try:
        for report in reports:
            newest = report if _carries_params(report) else newest
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


def _carries_params(report: Progress) -> bool:
    """Whether a report has parameters (in the caller's structure: maybe a bare array)."""
    return not (isinstance(report.params, dict) and not report.params)


def _show(report: Progress) -> None:
    """One progress line on stderr, rewritten in place; the final report ends it."""
    line = f"\rstep {report.step:>7}  loss {report.loss:.6e}  |g|* {report.gradient_norm:.3e}"
    print(line + (f"  {report.reason}\n" if report.reason else ""), end="", file=sys.stderr, flush=True)
