from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    ERROR_REASON_MALFORMED_REQUEST: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_GRAPH: _ClassVar[ErrorReason]
    ERROR_REASON_SHAPE_MISMATCH: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_TENSOR: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_REQUEST: _ClassVar[ErrorReason]
    ERROR_REASON_EVALUATION_FAILED: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_OP: _ClassVar[ErrorReason]
    ERROR_REASON_NO_DERIVATIVE: _ClassVar[ErrorReason]
    ERROR_REASON_GRAPH_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_LIMIT_EXCEEDED: _ClassVar[ErrorReason]
    ERROR_REASON_DEADLINE_EXCEEDED: _ClassVar[ErrorReason]
    ERROR_REASON_CANCELLED: _ClassVar[ErrorReason]
    ERROR_REASON_UNAUTHENTICATED: _ClassVar[ErrorReason]
    ERROR_REASON_SERVER_BUSY: _ClassVar[ErrorReason]
    ERROR_REASON_SHUTTING_DOWN: _ClassVar[ErrorReason]
    ERROR_REASON_PLUGIN_ERROR: _ClassVar[ErrorReason]
    ERROR_REASON_INTERNAL: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
ERROR_REASON_MALFORMED_REQUEST: ErrorReason
ERROR_REASON_INVALID_GRAPH: ErrorReason
ERROR_REASON_SHAPE_MISMATCH: ErrorReason
ERROR_REASON_INVALID_TENSOR: ErrorReason
ERROR_REASON_INVALID_REQUEST: ErrorReason
ERROR_REASON_EVALUATION_FAILED: ErrorReason
ERROR_REASON_UNKNOWN_OP: ErrorReason
ERROR_REASON_NO_DERIVATIVE: ErrorReason
ERROR_REASON_GRAPH_NOT_FOUND: ErrorReason
ERROR_REASON_LIMIT_EXCEEDED: ErrorReason
ERROR_REASON_DEADLINE_EXCEEDED: ErrorReason
ERROR_REASON_CANCELLED: ErrorReason
ERROR_REASON_UNAUTHENTICATED: ErrorReason
ERROR_REASON_SERVER_BUSY: ErrorReason
ERROR_REASON_SHUTTING_DOWN: ErrorReason
ERROR_REASON_PLUGIN_ERROR: ErrorReason
ERROR_REASON_INTERNAL: ErrorReason
