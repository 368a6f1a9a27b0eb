"""Server interceptors: bearer-token authentication, and the one place where a call's outcome
becomes a status code, a log line and metrics.

Domain errors carry their status (`WengertError.code`) and are sent with their message (a
request that does not parse is one); running out of memory is RESOURCE_EXHAUSTED; any other
exception is a server bug: its traceback goes to the log and the client sees only a generic
INTERNAL, so nothing about the server's insides leaks.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError, EncodeError
from grpc_status import rpc_status

from wengert.errors import (InternalError, InvalidRequest, LimitExceeded, Unauthenticated, Unavailable,
                            WengertError)
from wengert.server.calls import Spliced
from wengert.server.limits import WireLimits
from wengert.server.metrics import Metrics
from wengert.transport.status import to_status

SERVICE_PREFIX = "/wengert.v1."
HEALTH_PREFIX = "/grpc.health.v1.Health/"
INTERNAL_MESSAGE = "internal server error (details are in the server log)"

log = logging.getLogger("wengert.server")
request_log = logging.getLogger("wengert.server.requests")


class CallInterceptor(grpc.ServerInterceptor):
    """Maps errors to status codes, logs one line per call and records metrics, for the
    unary and server-streaming methods of the wengert service (health and reflection pass
    through untouched).

    It also admits calls: once `close()`d (draining) it refuses new ones with UNAVAILABLE,
    which the contract calls safe to retry, and `wait_idle` waits for the admitted ones."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics
        self.wire: WireLimits | None = None  # set by create_server: requests are screened before parsing
        self._open = True
        self._active = 0
        self._idle = threading.Condition()
        self._wrapped: dict[str, tuple] = {}  # method path: (its handler, the handler wrapping it)
        metrics.in_flight.set_function(lambda: self._active)

    def close(self) -> None:
        with self._idle:
            self._open = False

    def wait_idle(self, timeout: float, interrupted: threading.Event) -> bool:
        """True once no admitted call is running; False after `timeout` or `interrupted`."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active and not interrupted.is_set() and time.monotonic() < deadline:
                self._idle.wait(min(0.1, max(deadline - time.monotonic(), 0)))
            return not self._active

    def _admit(self) -> bool:
        with self._idle:
            if not self._open:
                return False
            self._active += 1
            return True

    def _release(self) -> None:
        with self._idle:
            self._active -= 1
            if not self._active:
                self._idle.notify_all()

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        wrapped = self._wrapped.get(details.method)  # wrapped once per method: this runs every call
        if wrapped is None or wrapped[0] is not handler:
            wrapped = self._wrapped[details.method] = (handler, self._wrap(handler, details.method))
        return wrapped[1]

    def _wrap(self, handler, path: str):
        """`handler` taking and giving raw bytes, its calls guarded. grpcio answers INTERNAL
        when a handler's (de)serializer raises, so parsing and encoding happen in the guarded
        call, where a request that does not parse is INVALID_ARGUMENT like any other bad one."""
        method = path.rsplit("/", 1)[-1]
        parsed, encode = self._parser(handler.request_deserializer, method, path), handler.response_serializer
        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            def unary(raw: bytes, context):
                with _Guard(self, method, raw, context) as call:
                    call.request = parsed(raw)
                    call.response = behavior(call.request, context)
                    return _encoded(encode, call.response)
            return grpc.unary_unary_rpc_method_handler(unary)
        if handler.unary_stream is not None:
            behavior = handler.unary_stream

            def stream(raw: bytes, context):
                with _Guard(self, method, raw, context) as call:
                    call.request = parsed(raw)
                    for call.response in behavior(call.request, context):
                        yield _encoded(encode, call.response)
            return grpc.unary_stream_rpc_method_handler(stream)
        return handler

    def _parser(self, parse, method: str, path: str):
        """`parse` for `method` (`path` in full): the request message from its bytes, screened
        first by the wire limits (a huge string is refused before the parser copies it);
        InvalidRequest when the bytes are not a message."""
        wire = self.wire
        request_type = descriptor_pool.Default().FindMethodByName(path[1:].replace("/", ".")).input_type

        def parsed(raw: bytes):
            if wire is not None:
                wire.check_request_bytes(raw, request_type)
            try:
                return parse(raw)
            except DecodeError as exc:
                raise InvalidRequest(f"the {method} request does not parse: {exc}",
                                     reason="MALFORMED_REQUEST") from None
        return parsed


class _Guard:
    """Around one call (a whole stream, for a streaming RPC): admission, the status code of
    whatever it raises, its metrics and its log line. Entered, it is what the log line reports:
    the call's status code, its request once parsed and its (last) response. (A class rather
    than a generator: this runs on every call.)"""

    __slots__ = ("calls", "method", "raw", "context", "start", "code", "request", "response")

    def __init__(self, calls: CallInterceptor, method: str, raw: bytes, context):
        self.calls, self.method, self.raw, self.context = calls, method, raw, context
        self.code, self.request, self.response = "OK", None, None

    def __enter__(self) -> _Guard:
        self.start = time.perf_counter()
        if not self.calls._admit():
            self.code = "UNAVAILABLE"
            self._record()
            abort(self.context, Unavailable("the server is shutting down; retry on another replica",
                                            reason="SHUTTING_DOWN", retry_delay=0.0))
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        self.calls._release()
        try:
            if exc is not None:
                self._abort(exc)
        finally:
            self._record()
        return False

    def _abort(self, exc: BaseException) -> None:
        """End the call with the status `exc` calls for."""
        if isinstance(exc, WengertError):
            self.code = exc.code
            if exc.code == "INTERNAL":  # a plugin's bug (an op disagreeing with its shape rule)
                log.error("internal error in %s: %s", self.method, exc)
            abort(self.context, exc, self.request)
        elif isinstance(exc, MemoryError):  # what pricing did not foresee: the request's fault
            self.code = "RESOURCE_EXHAUSTED"
            log.warning("out of memory in %s", self.method, exc_info=exc)
            abort(self.context, LimitExceeded("the server ran out of memory computing this request",
                                              limit="memory"))
        elif isinstance(exc, Exception):
            self.code = "INTERNAL"
            log.error("internal error in %s", self.method, exc_info=exc)
            abort(self.context, InternalError(INTERNAL_MESSAGE))

    def _record(self) -> None:
        seconds = time.perf_counter() - self.start
        self.calls.metrics.record_call(self.method, self.code, seconds)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("rpc method=%s code=%s ms=%.3f %s", self.method, self.code, seconds * 1e3,
                             describe(self.request, self.response, len(self.raw)))


def _encoded(encode, response) -> bytes:
    """The response's bytes (a `Spliced` one's joined); LimitExceeded when protobuf cannot
    encode it (2 GiB or more)."""
    try:
        data = response.encode(encode) if isinstance(response, Spliced) else encode(response)
    except EncodeError:
        data = None
    if data is None or len(data) >= 2**31:
        raise LimitExceeded("the response is too large to encode (protobuf messages hold less than "
                            "2 GiB); ask for less per call")
    return data


def abort(context, error: WengertError, request=None) -> None:
    """End the call with `error`'s status and its structured details (wengert.transport.status)."""
    context.abort_with_status(rpc_status.to_status(to_status(error, request)))


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Requires `authorization: Bearer <token>` metadata on every call except health checks,
    so orchestrator probes work without the secret; refusals are counted in `metrics`."""

    def __init__(self, token: str, metrics: Metrics):
        self._expected = f"Bearer {token}"
        self.metrics = metrics

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(HEALTH_PREFIX) or self._authorized(details):
            return handler
        self.metrics.record_call(details.method.rsplit("/", 1)[-1], "UNAUTHENTICATED", 0.0)
        return _refusal(handler)

    def _authorized(self, details) -> bool:
        given = next((v for k, v in details.invocation_metadata or () if k == "authorization"), "")
        return hmac.compare_digest(str(given).encode(), self._expected.encode())


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that answers UNAUTHENTICATED."""

    def refuse(request, context):
        abort(context, Unauthenticated("missing or invalid bearer token: send 'authorization: Bearer <token>' "
                                       "metadata"))

    kind = {(False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler}
    return kind[handler.request_streaming, handler.response_streaming](
        refuse, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


def describe(request, response, size: int) -> str:
    """The request's graph id, size (`size` bytes) and mode as `key=value` pairs for the request
    log; only the size for a request that did not parse (`request` None)."""
    if request is None:
        return f"graph=- in_bytes={size}"
    response = getattr(response, "message", response)  # a Spliced one's message
    graph_id = getattr(response, "graph_id", "") or getattr(request, "graph_id", "")
    elements = 0
    for field in ("inputs", "tangents", "cotangents"):
        for tensor in getattr(request, field, {}).values():
            count = 1
            for d in tensor.shape:
                count *= d
            elements += count
    parts = [f"graph={graph_id[:12] or '-'}", f"in_bytes={size}", f"in_elements={elements}"]
    mode_field = request.DESCRIPTOR.fields_by_name.get("mode")
    if mode_field is not None:
        mode = response.mode if getattr(response, "mode", 0) else request.mode
        value = mode_field.enum_type.values_by_number.get(mode)
        parts.append(f"mode={value.name if value else mode}")
    if getattr(request, "batched", False):
        parts.append("batched=true")
    return " ".join(parts)
