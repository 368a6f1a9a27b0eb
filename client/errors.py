"""Domain errors. Each class carries the gRPC status code it maps to, so the server maps
exceptions to statuses in one place and the client maps statuses back to the same classes.

Several classes share a status (INVALID_ARGUMENT, UNIMPLEMENTED), so the server also names the
class in the trailing metadata key `ERROR_CLASS_KEY` (see `error_metadata`); `error_from_status`
reads both back through the one table, `BY_STATUS`."""

from __future__ import annotations


class WengertError(Exception):
    """Base of every error wengert raises on purpose; `code` names a `grpc.StatusCode`."""

    code = "UNKNOWN"

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


class InvalidIndex(InvalidGraph, IndexError):
    """An index NumPy would refuse, or a symbolic boolean mask (its result's shape would depend on
    data). Raised while tracing `x[key]`; an IndexError too, as in NumPy."""


class DataDependentShape(InvalidGraph):
    """A function whose output's shape would depend on the values of its input (`unique_values`,
    `nonzero`, ...): a wengert graph has static shapes, so it cannot record one."""


class InvalidTensor(WengertError):
    """A tensor whose bytes, dtype or shape disagree with each other or with the graph."""

    code = "INVALID_ARGUMENT"


class InvalidRequest(WengertError):
    """A well-formed graph asked for something that makes no sense (unknown input name, ...)."""

    code = "INVALID_ARGUMENT"


class EvaluationError(WengertError):
    """An op failed on the values it was given (a singular matrix, say)."""

    code = "INVALID_ARGUMENT"


class UnknownOp(WengertError):
    """The graph names an op that no loaded plugin provides."""

    code = "UNIMPLEMENTED"


class UnsupportedFunction(UnknownOp, TypeError):
    """A NumPy function (or ufunc method) called on a symbolic value that wengert does not offer;
    the message names it and, where there is one, the wengert function to use instead. A
    TypeError too, as NumPy raises for functions a type does not implement."""


class NoDerivative(WengertError):
    """A derivative was requested through an op that has no rule for it."""

    code = "UNIMPLEMENTED"


class GraphNotFound(WengertError):
    """A graph id the server does not hold (never sent, or evicted from its cache)."""

    code = "NOT_FOUND"


class LimitExceeded(WengertError):
    """A request over one of the server's resource limits: which `limit`, the amount
    `requested` and `allowed`, the `flag` that raises it, and the node and op that pushed the
    request over (when one did)."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, limit: str = "", requested: int | None = None,
                 allowed: int | None = None, flag: str = "", node: str = "", op: str = ""):
        super().__init__(message)
        self.limit, self.requested, self.allowed, self.flag = limit, requested, allowed, flag
        self.node, self.op = node, op


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


class Cancelled(WengertError):
    """The client cancelled the request while it was being computed."""

    code = "CANCELLED"


class Unauthenticated(WengertError):
    """The request carried no valid credentials."""

    code = "UNAUTHENTICATED"


class Unavailable(WengertError):
    """The server could not be reached or is draining."""

    code = "UNAVAILABLE"


class InternalError(WengertError):
    """A bug on the server; its details are in the server's log, not in the message."""

    code = "INTERNAL"


class PluginError(WengertError):
    """A plugin failed to load, declared a bad op record, or clashes with another plugin."""

    code = "FAILED_PRECONDITION"


def short(text: str, limit: int = 64) -> str:
    """`text` cut to about `limit` characters. Names and attributes in error messages come from
    the client; a 20 MB attribute echoed whole would overflow the status trailer."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def quoted(text: str, limit: int = 64) -> str:
    """`text` in quotes, cut like `short`."""
    return repr(text) if len(str(text)) <= limit else repr(str(text)[:limit]) + f"... ({len(text)} characters)"


def node_error(cls: type[WengertError], node_id: str, op: str, message: str) -> WengertError:
    """An error naming the node and op at fault, in the one format every message uses; it also
    carries them as `node` and `op`, and the message alone as `detail` (for a server that types
    a node that has no name yet: InferTypes)."""
    error = cls(f"node {quoted(node_id)} ({short(op)}): {message}")
    error.node, error.op, error.detail = node_id, op, message
    return error


ERROR_CLASS_KEY = "wengert-error-class"

# gRPC status -> the classes that travel under it. The first is raised when the status names no
# class of its own (gRPC itself produced it: a passed deadline, an unreachable server, ...).
BY_STATUS: dict[str, tuple[type[WengertError], ...]] = {
    "INVALID_ARGUMENT": (InvalidRequest, InvalidGraph, InvalidIndex, DataDependentShape, InvalidTensor,
                         EvaluationError),
    "UNIMPLEMENTED": (UnknownOp, UnsupportedFunction, NoDerivative),
    "NOT_FOUND": (GraphNotFound,),
    "RESOURCE_EXHAUSTED": (LimitExceeded,),
    "DEADLINE_EXCEEDED": (DeadlineExceeded,),
    "CANCELLED": (Cancelled,),
    "UNAUTHENTICATED": (Unauthenticated,),
    "UNAVAILABLE": (Unavailable,),
    "INTERNAL": (InternalError,),
    "FAILED_PRECONDITION": (PluginError,),
}
_TABLED = {cls for classes in BY_STATUS.values() for cls in classes}


def error_metadata(error: WengertError) -> tuple[tuple[str, str], ...]:
    """The trailing metadata a server sends with `error`'s status: the name of its class in the
    table (for a subclass, the nearest tabled ancestor), so the client can raise the same class."""
    cls = next(c for c in type(error).__mro__ if c in _TABLED or c is WengertError)
    return ((ERROR_CLASS_KEY, cls.__name__),)


def error_from_status(code: str, message: str, class_name: str | None = None) -> WengertError:
    """The error to raise for a gRPC status (`code` is a `grpc.StatusCode` name). A status outside
    the table becomes a plain `WengertError` carrying that code."""
    classes = BY_STATUS.get(code)
    if classes is None:
        error = WengertError(message)
        error.code = code
        return error
    cls = next((c for c in classes if c.__name__ == class_name), classes[0])
    return cls(message)
