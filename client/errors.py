"""Domain errors. Each class carries the gRPC status code it maps to and a default `reason` (the
contract's ErrorReason, proto/wengert/v1/errors.proto), so the server maps exceptions to statuses
and structured details in one place (`wengert.transport.status`) and the client maps them back
to the same classes, with the same attributes.

Every error may carry, as attributes, what the contract's ErrorInfo metadata carries: the `node`
and `op` at fault, the request `field`, the `input` a tensor is for, the `limit` exceeded with
the amount `requested`, what is `allowed` and the `flag` that raises it, a `graph_id`, and for
an error worth retrying, `retry_delay` (seconds)."""

from __future__ import annotations

DETAILS = ("node", "op", "field", "input", "limit", "requested", "allowed", "flag", "graph_id")


class WengertError(Exception):
    """Base of every error wengert raises on purpose; `code` names a `grpc.StatusCode`, `reason`
    an ErrorReason (without its prefix)."""

    code = "UNKNOWN"
    reason = "INTERNAL"
    node = op = field = input = limit = flag = graph_id = ""
    requested: int | None = None
    allowed: int | None = None
    retry_delay: float | None = None

    def __init__(self, message: str = "", **details):
        super().__init__(message)
        for key, value in details.items():
            if key not in (*DETAILS, "reason", "retry_delay"):
                raise TypeError(f"{type(self).__name__} has no detail {key!r}")
            setattr(self, key, value)

    def __reduce__(self):
        # Pickled with its attributes (a compute worker sends errors to the server process).
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls, args, attributes):
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(attributes)
    return error


class InvalidGraph(WengertError):
    """A malformed graph: unknown reference, bad arity or attribute, shape or dtype mismatch."""

    code = "INVALID_ARGUMENT"
    reason = "INVALID_GRAPH"


class InvalidIndex(InvalidGraph, IndexError):
    """An index NumPy would refuse, or a symbolic boolean mask (its result's shape would depend on
    data). Raised while tracing `x[key]`; an IndexError too, as in NumPy."""


class DataDependentShape(InvalidGraph):
    """A function whose output's shape would depend on the values of its input (`unique_values`,
    `nonzero`, ...): a wengert graph has static shapes, so it cannot record one."""


class InvalidTensor(WengertError):
    """A tensor whose bytes, dtype or shape disagree with each other or with the graph."""

    code = "INVALID_ARGUMENT"
    reason = "INVALID_TENSOR"


class InvalidRequest(WengertError):
    """A well-formed graph asked for something that makes no sense (unknown input name, ...)."""

    code = "INVALID_ARGUMENT"
    reason = "INVALID_REQUEST"


class EvaluationError(WengertError):
    """An op failed on the values it was given (a singular matrix, say)."""

    code = "INVALID_ARGUMENT"
    reason = "EVALUATION_FAILED"


class UnknownOp(WengertError):
    """The graph names an op that no loaded plugin provides."""

    code = "UNIMPLEMENTED"
    reason = "UNKNOWN_OP"


class UnsupportedFunction(UnknownOp, TypeError):
    """A NumPy function (or ufunc method) called on a symbolic value that wengert does not offer;
    the message names it and, where there is one, the wengert function to use instead. A
    TypeError too, as NumPy raises for functions a type does not implement."""


class NoDerivative(WengertError):
    """A derivative was requested through an op that has no rule for it."""

    code = "UNIMPLEMENTED"
    reason = "NO_DERIVATIVE"


class GraphNotFound(WengertError):
    """A graph id the server does not hold (never sent, or evicted from its cache)."""

    code = "NOT_FOUND"
    reason = "GRAPH_NOT_FOUND"


class LimitExceeded(WengertError):
    """A request over one of the server's resource limits: which `limit`, the amount
    `requested` and `allowed`, the `flag` that raises it, and the node and op that pushed the
    request over (when one did)."""

    code = "RESOURCE_EXHAUSTED"
    reason = "LIMIT_EXCEEDED"


def over_limit(limit: str, requested: int, allowed: int, unit: str, flag: str, *, what: str = "",
               node: str = "", op: str = "", hint: str = "") -> LimitExceeded:
    """The one form of every refusal: `<limit> limit exceeded: [node 'v3' (op): ]<requested>
    <unit>[ what], over the limit of <allowed> (raise it with <flag>)[; hint]`."""
    at = f"node {quoted(node)} ({short(op)}): " if node else ""
    message = (f"{limit} limit exceeded: {at}{requested} {unit}{' ' + what if what else ''}, "
               f"over the limit of {allowed} (raise it with {flag})" + (f"; {hint}" if hint else ""))
    return LimitExceeded(message, limit=limit, requested=requested, allowed=allowed, flag=flag,
                         node=node, op=op)


class DeadlineExceeded(WengertError):
    """The request's deadline passed while it was being computed."""

    code = "DEADLINE_EXCEEDED"
    reason = "DEADLINE_EXCEEDED"


class Cancelled(WengertError):
    """The client cancelled the request while it was being computed."""

    code = "CANCELLED"
    reason = "CANCELLED"


class Unauthenticated(WengertError):
    """The request carried no valid credentials."""

    code = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class Unavailable(WengertError):
    """The server could not be reached, is busy (`reason` SERVER_BUSY: retry after `retry_delay`),
    or is shutting down (SHUTTING_DOWN)."""

    code = "UNAVAILABLE"
    reason = "SERVER_BUSY"


class InternalError(WengertError):
    """A bug on the server; its details are in the server's log, not in the message."""

    code = "INTERNAL"
    reason = "INTERNAL"


class PluginError(WengertError):
    """A plugin failed to load, declared a bad op record, or clashes with another plugin."""

    code = "FAILED_PRECONDITION"
    reason = "PLUGIN_ERROR"


def short(text: str, limit: int = 64) -> str:
    """`text` cut to about `limit` characters. Names and attributes in error messages come from
    the client; a 20 MB attribute echoed whole would overflow the status trailer."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quoted(text: str, limit: int = 64) -> str:
    """`text` in quotes, cut like `short`."""
    return repr(text) if len(str(text)) <= limit else repr(str(text)[:limit]) + f"... ({len(text)} characters)"


def node_error(cls: type[WengertError], node_id: str, op: str, message: str, **details) -> WengertError:
    """An error naming the node and op at fault, in the one format every message uses; it also
    carries them as `node` and `op`, and the message alone as `detail` (for a server that types
    a node that has no name yet: InferTypes)."""
    error = cls(f"node {quoted(node_id)} ({short(op)}): {message}", node=node_id, op=op, **details)
    error.detail = message
    return error


def within(where: str, error: WengertError) -> WengertError:
    """`error`, raised inside a graph a node holds (a loop's body), as the same class naming
    `where` (the node, or its attribute) in front of its own message, so both are named."""
    outer = type(error)(f"{where}: {error}")
    outer.__dict__.update(error.__dict__)
    return outer


# The classes an ErrorReason comes back as. A status with no details (gRPC itself produced it:
# a passed deadline, an unreachable server) comes back as the first class of its code.
REASONS: dict[str, type[WengertError]] = {
    "MALFORMED_REQUEST": InvalidRequest, "INVALID_GRAPH": InvalidGraph, "SHAPE_MISMATCH": InvalidGraph,
    "INVALID_TENSOR": InvalidTensor, "INVALID_REQUEST": InvalidRequest, "EVALUATION_FAILED": EvaluationError,
    "UNKNOWN_OP": UnknownOp, "NO_DERIVATIVE": NoDerivative, "GRAPH_NOT_FOUND": GraphNotFound,
    "LIMIT_EXCEEDED": LimitExceeded, "DEADLINE_EXCEEDED": DeadlineExceeded, "CANCELLED": Cancelled,
    "UNAUTHENTICATED": Unauthenticated, "SERVER_BUSY": Unavailable, "SHUTTING_DOWN": Unavailable,
    "PLUGIN_ERROR": PluginError, "INTERNAL": InternalError,
}
BY_CODE: dict[str, type[WengertError]] = {}
for _cls in REASONS.values():
    BY_CODE.setdefault(_cls.code, _cls)


def error_from_status(code: str, message: str, reason: str = "", **details) -> WengertError:
    """The error to raise for a gRPC status (`code` is a `grpc.StatusCode` name) with an
    ErrorReason and details; a status this table does not know becomes a plain `WengertError`
    carrying that code."""
    cls = REASONS.get(reason) if REASONS.get(reason, WengertError).code == code else None
    cls = cls or BY_CODE.get(code)
    if cls is None:
        error = WengertError(message, **details)
        error.code = code
        error.reason = reason or "INTERNAL"
        return error
    error = cls(message, **details)
    if reason in REASONS:
        error.reason = reason
    return error
