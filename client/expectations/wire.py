"""Expectation settings and results as protobufs, both ways (client and server go through
here, as they go through `wengert.optim.wire` for a minimisation's settings)."""

from __future__ import annotations

from wengert.expectations.settings import Expectation, ExpectationResult, StochasticNode
from wengert.transport.wire import enum_name, tensor_from_proto, tensor_to_proto
from wengert.v1 import service_pb2 as pb

ESTIMATOR_CODES = {"auto": pb.ESTIMATOR_AUTO, "pathwise": pb.ESTIMATOR_PATHWISE,
                   "score_function": pb.ESTIMATOR_SCORE_FUNCTION, "enumerate": pb.ESTIMATOR_ENUMERATE}
BASELINE_CODES = {"none": pb.BASELINE_NONE, "moving_average": pb.BASELINE_MOVING_AVERAGE,
                  "leave_one_out": pb.BASELINE_LEAVE_ONE_OUT}
DEFAULT = Expectation()


def expectation_to_proto(settings: Expectation) -> pb.Expectation:
    return pb.Expectation(samples=settings.samples, key=settings.key,
                          estimator=ESTIMATOR_CODES[settings.estimator],
                          baseline=BASELINE_CODES[settings.baseline], baseline_decay=settings.decay,
                          key_input=settings.key_input)


def expectation_from_proto(msg: pb.Expectation) -> Expectation:
    """The settings a request carries; zero fields take their documented defaults."""
    return Expectation(samples=msg.samples or DEFAULT.samples, key=msg.key,
                       estimator=enum_name(ESTIMATOR_CODES, msg.estimator, "estimator"),
                       baseline=enum_name(BASELINE_CODES, msg.baseline, "baseline"),
                       decay=msg.baseline_decay or DEFAULT.decay, key_input=msg.key_input or DEFAULT.key_input)


def result_to_proto(result: ExpectationResult, graph_id: str) -> pb.ExpectationGradientResponse:
    return pb.ExpectationGradientResponse(
        graph_id=graph_id, value=result.value, value_error=result.value_error, samples=result.samples,
        gradient={k: tensor_to_proto(v) for k, v in result.gradient.items()},
        gradient_error={k: tensor_to_proto(v) for k, v in result.gradient_error.items()},
        nodes=[pb.StochasticNode(node=n.node, op=n.op, estimator=ESTIMATOR_CODES[n.estimator])
               for n in result.nodes])


def result_from_proto(msg: pb.ExpectationGradientResponse) -> ExpectationResult:
    nodes = tuple(StochasticNode(n.node, n.op, enum_name(ESTIMATOR_CODES, n.estimator, "estimator"))
                  for n in msg.nodes)
    return ExpectationResult(
        msg.value, msg.value_error,
        {k: tensor_from_proto(v, f"gradient for {k!r}") for k, v in msg.gradient.items()},
        {k: tensor_from_proto(v, f"standard error for {k!r}") for k, v in msg.gradient_error.items()},
        nodes, msg.samples)
