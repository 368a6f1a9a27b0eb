"""The Minimize RPC's settings and reports as protobufs, both ways.

Client and server both go through here (as they go through `wengert.transport.wire` for tensors and
graphs), so a norm, a schedule, a stopping rule and a progress report mean the same thing on
both ends. Only what can travel does: a norm by name, a schedule of the three known kinds.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from wengert.errors import InvalidRequest
from wengert.optim.steepest import NormSpec, Progress, Schedule, Stop
from wengert.plugins.normdef import NormDef
from wengert.v1 import service_pb2 as pb
from wengert.transport.wire import tensor_from_proto, tensor_to_proto

SCHEDULE_KINDS = {"constant": pb.SCHEDULE_KIND_CONSTANT, "exponential": pb.SCHEDULE_KIND_EXPONENTIAL,
                  "cosine": pb.SCHEDULE_KIND_COSINE}
STOP_REASONS = {"": pb.STOP_REASON_NONE, "converged": pb.STOP_REASON_CONVERGED,
                "max_steps": pb.STOP_REASON_MAX_STEPS, "time_limit": pb.STOP_REASON_TIME_LIMIT,
                "work_limit": pb.STOP_REASON_WORK_LIMIT,
                "diverged": pb.STOP_REASON_DIVERGED}


def norm_to_proto(norm: NormSpec) -> pb.Norm:
    """A norm name, or {parameter: name} for the product norm."""
    if isinstance(norm, Mapping):
        return pb.Norm(name="product", parameter_norms={k: _name(v) for k, v in norm.items()})
    return pb.Norm(name=_name(norm))


def norm_from_proto(msg: pb.Norm) -> str | dict[str, str]:
    if not msg.parameter_norms:
        return msg.name or "l2"
    if msg.name not in ("", "product"):
        raise InvalidRequest(f"parameter_norms need the product norm, not {msg.name!r}")
    return dict(msg.parameter_norms)


def _name(norm: str | NormDef) -> str:
    if isinstance(norm, NormDef):
        raise InvalidRequest(f"norm {norm.name!r} is a NormDef: only names travel; register it as "
                             "a plugin on the server and name it")
    return norm


def schedule_to_proto(schedule: Schedule) -> pb.Schedule:
    if not isinstance(schedule, Schedule):
        raise InvalidRequest("only a wg.optim.Schedule travels to the server, not a callable")
    return pb.Schedule(kind=SCHEDULE_KINDS[schedule.kind], decay=schedule.decay, steps=schedule.steps)


def schedule_from_proto(msg: pb.Schedule) -> Schedule:
    kinds = {v: k for k, v in SCHEDULE_KINDS.items()}
    if msg.kind not in kinds:
        raise InvalidRequest(f"unknown schedule kind {msg.kind}")
    return Schedule(kinds[msg.kind], msg.decay, msg.steps)


def stop_to_proto(stop: Stop) -> pb.StopRule:
    return pb.StopRule(max_steps=stop.max_steps, gradient_tolerance=stop.tolerance,
                       max_seconds=stop.max_seconds)


def stop_from_proto(msg: pb.StopRule) -> Stop:
    return Stop(msg.max_steps, msg.gradient_tolerance, msg.max_seconds)


def progress_to_proto(progress: Progress, graph_id: str, with_parameters: bool) -> pb.MinimizeResponse:
    """A report; the final one (with a reason) always carries the parameters."""
    params = progress.params if progress.reason or with_parameters else {}
    return pb.MinimizeResponse(
        graph_id=graph_id, step=progress.step, loss=progress.loss, gradient_norm=progress.gradient_norm,
        parameters={k: tensor_to_proto(v) for k, v in params.items()},
        stop_reason=STOP_REASONS[progress.reason])


def progress_from_proto(msg: pb.MinimizeResponse) -> Progress:
    """The report as the in-process loop gives it (`params` writeable copies, or empty when it
    carried none). A stop reason newer than this client still ends the run, as "unknown (N)"."""
    reasons = {v: k for k, v in STOP_REASONS.items()}
    reason = reasons.get(msg.stop_reason, f"unknown ({msg.stop_reason})")
    params = {k: np.array(tensor_from_proto(v, f"parameter {k!r}")) for k, v in msg.parameters.items()}
    return Progress(msg.step, msg.loss, msg.gradient_norm, params, reason)
