from wengert.v1 import graph_pb2 as _graph_pb2
from wengert.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckpointPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKPOINT_POLICY_AUTO: _ClassVar[CheckpointPolicy]
    CHECKPOINT_POLICY_ALL: _ClassVar[CheckpointPolicy]
    CHECKPOINT_POLICY_EVERY_K: _ClassVar[CheckpointPolicy]
    CHECKPOINT_POLICY_BINOMIAL: _ClassVar[CheckpointPolicy]

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_AUTO: _ClassVar[Mode]
    MODE_FORWARD: _ClassVar[Mode]
    MODE_REVERSE: _ClassVar[Mode]

class AttrKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTR_KIND_UNSPECIFIED: _ClassVar[AttrKind]
    ATTR_KIND_INT: _ClassVar[AttrKind]
    ATTR_KIND_FLOAT: _ClassVar[AttrKind]
    ATTR_KIND_BOOL: _ClassVar[AttrKind]
    ATTR_KIND_STR: _ClassVar[AttrKind]
    ATTR_KIND_INTS: _ClassVar[AttrKind]
    ATTR_KIND_FLOATS: _ClassVar[AttrKind]
    ATTR_KIND_AXES: _ClassVar[AttrKind]
    ATTR_KIND_TENSOR: _ClassVar[AttrKind]
    ATTR_KIND_GRAPH: _ClassVar[AttrKind]
    ATTR_KIND_GRAPHS: _ClassVar[AttrKind]

class TraceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACE_MODE_NONE: _ClassVar[TraceMode]
    TRACE_MODE_FORWARD: _ClassVar[TraceMode]
    TRACE_MODE_REVERSE: _ClassVar[TraceMode]

class ScheduleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_KIND_CONSTANT: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_EXPONENTIAL: _ClassVar[ScheduleKind]
    SCHEDULE_KIND_COSINE: _ClassVar[ScheduleKind]

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOP_REASON_NONE: _ClassVar[StopReason]
    STOP_REASON_CONVERGED: _ClassVar[StopReason]
    STOP_REASON_MAX_STEPS: _ClassVar[StopReason]
    STOP_REASON_TIME_LIMIT: _ClassVar[StopReason]
    STOP_REASON_DIVERGED: _ClassVar[StopReason]
    STOP_REASON_WORK_LIMIT: _ClassVar[StopReason]

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_DENSE: _ClassVar[Format]
    FORMAT_SPARSE: _ClassVar[Format]

class Colouring(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOURING_UNSPECIFIED: _ClassVar[Colouring]
    COLOURING_BASIS: _ClassVar[Colouring]
    COLOURING_CYCLIC: _ClassVar[Colouring]
    COLOURING_LARGEST_FIRST: _ClassVar[Colouring]
    COLOURING_STAR: _ClassVar[Colouring]
    COLOURING_HUBS_APART: _ClassVar[Colouring]

class DerivativeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DERIVATIVE_KIND_UNSPECIFIED: _ClassVar[DerivativeKind]
    DERIVATIVE_KIND_JVP: _ClassVar[DerivativeKind]
    DERIVATIVE_KIND_VJP: _ClassVar[DerivativeKind]
    DERIVATIVE_KIND_GRADIENT: _ClassVar[DerivativeKind]

class Estimator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESTIMATOR_AUTO: _ClassVar[Estimator]
    ESTIMATOR_PATHWISE: _ClassVar[Estimator]
    ESTIMATOR_SCORE_FUNCTION: _ClassVar[Estimator]
    ESTIMATOR_ENUMERATE: _ClassVar[Estimator]

class Baseline(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BASELINE_NONE: _ClassVar[Baseline]
    BASELINE_MOVING_AVERAGE: _ClassVar[Baseline]
    BASELINE_LEAVE_ONE_OUT: _ClassVar[Baseline]
CHECKPOINT_POLICY_AUTO: CheckpointPolicy
CHECKPOINT_POLICY_ALL: CheckpointPolicy
CHECKPOINT_POLICY_EVERY_K: CheckpointPolicy
CHECKPOINT_POLICY_BINOMIAL: CheckpointPolicy
MODE_AUTO: Mode
MODE_FORWARD: Mode
MODE_REVERSE: Mode
ATTR_KIND_UNSPECIFIED: AttrKind
ATTR_KIND_INT: AttrKind
ATTR_KIND_FLOAT: AttrKind
ATTR_KIND_BOOL: AttrKind
ATTR_KIND_STR: AttrKind
ATTR_KIND_INTS: AttrKind
ATTR_KIND_FLOATS: AttrKind
ATTR_KIND_AXES: AttrKind
ATTR_KIND_TENSOR: AttrKind
ATTR_KIND_GRAPH: AttrKind
ATTR_KIND_GRAPHS: AttrKind
TRACE_MODE_NONE: TraceMode
TRACE_MODE_FORWARD: TraceMode
TRACE_MODE_REVERSE: TraceMode
SCHEDULE_KIND_CONSTANT: ScheduleKind
SCHEDULE_KIND_EXPONENTIAL: ScheduleKind
SCHEDULE_KIND_COSINE: ScheduleKind
STOP_REASON_NONE: StopReason
STOP_REASON_CONVERGED: StopReason
STOP_REASON_MAX_STEPS: StopReason
STOP_REASON_TIME_LIMIT: StopReason
STOP_REASON_DIVERGED: StopReason
STOP_REASON_WORK_LIMIT: StopReason
FORMAT_DENSE: Format
FORMAT_SPARSE: Format
COLOURING_UNSPECIFIED: Colouring
COLOURING_BASIS: Colouring
COLOURING_CYCLIC: Colouring
COLOURING_LARGEST_FIRST: Colouring
COLOURING_STAR: Colouring
COLOURING_HUBS_APART: Colouring
DERIVATIVE_KIND_UNSPECIFIED: DerivativeKind
DERIVATIVE_KIND_JVP: DerivativeKind
DERIVATIVE_KIND_VJP: DerivativeKind
DERIVATIVE_KIND_GRADIENT: DerivativeKind
ESTIMATOR_AUTO: Estimator
ESTIMATOR_PATHWISE: Estimator
ESTIMATOR_SCORE_FUNCTION: Estimator
ESTIMATOR_ENUMERATE: Estimator
BASELINE_NONE: Baseline
BASELINE_MOVING_AVERAGE: Baseline
BASELINE_LEAVE_ONE_OUT: Baseline

class EvaluateRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "batched_inputs")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    BATCHED_INPUTS_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    batched_inputs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., batched_inputs: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("graph_id", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ...) -> None: ...

class JvpRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "tangents", "batched")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class TangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    TANGENTS_FIELD_NUMBER: _ClassVar[int]
    BATCHED_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    tangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    batched: bool
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., tangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., batched: _Optional[bool] = ...) -> None: ...

class JvpResponse(_message.Message):
    __slots__ = ("graph_id", "outputs", "tangents")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class TangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    TANGENTS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    tangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., tangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ...) -> None: ...

class Checkpointing(_message.Message):
    __slots__ = ("policy", "every", "snapshots")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    policy: CheckpointPolicy
    every: int
    snapshots: int
    def __init__(self, policy: _Optional[_Union[CheckpointPolicy, str]] = ..., every: _Optional[int] = ..., snapshots: _Optional[int] = ...) -> None: ...

class VjpRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "cotangents", "wrt", "batched", "checkpoint")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class CotangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    COTANGENTS_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    BATCHED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    cotangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    wrt: _containers.RepeatedScalarFieldContainer[str]
    batched: bool
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., cotangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., wrt: _Optional[_Iterable[str]] = ..., batched: _Optional[bool] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class VjpResponse(_message.Message):
    __slots__ = ("graph_id", "outputs", "cotangents")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class CotangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    COTANGENTS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    cotangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., cotangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ...) -> None: ...

class JacobianRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "wrt", "mode", "format", "checkpoint")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    wrt: _containers.RepeatedScalarFieldContainer[str]
    mode: Mode
    format: Format
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., wrt: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[Mode, str]] = ..., format: _Optional[_Union[Format, str]] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class JacobianBlock(_message.Message):
    __slots__ = ("output", "input", "jacobian", "sparse")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    JACOBIAN_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    output: str
    input: str
    jacobian: _tensor_pb2.Tensor
    sparse: SparseTensor
    def __init__(self, output: _Optional[str] = ..., input: _Optional[str] = ..., jacobian: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sparse: _Optional[_Union[SparseTensor, _Mapping]] = ...) -> None: ...

class JacobianResponse(_message.Message):
    __slots__ = ("graph_id", "outputs", "mode", "blocks", "sweep")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    mode: Mode
    blocks: _containers.RepeatedCompositeFieldContainer[JacobianBlock]
    sweep: SweepInfo
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., mode: _Optional[_Union[Mode, str]] = ..., blocks: _Optional[_Iterable[_Union[JacobianBlock, _Mapping]]] = ..., sweep: _Optional[_Union[SweepInfo, _Mapping]] = ...) -> None: ...

class ListOpsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AttrInfo(_message.Message):
    __slots__ = ("name", "kind", "required", "default_value", "doc")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: AttrKind
    required: bool
    default_value: _graph_pb2.AttrValue
    doc: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[AttrKind, str]] = ..., required: _Optional[bool] = ..., default_value: _Optional[_Union[_graph_pb2.AttrValue, _Mapping]] = ..., doc: _Optional[str] = ...) -> None: ...

class OpInfo(_message.Message):
    __slots__ = ("name", "plugin", "plugin_version", "op_version", "arity", "attrs", "doc", "has_jvp", "has_vjp")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    OP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARITY_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    HAS_JVP_FIELD_NUMBER: _ClassVar[int]
    HAS_VJP_FIELD_NUMBER: _ClassVar[int]
    name: str
    plugin: str
    plugin_version: str
    op_version: str
    arity: int
    attrs: _containers.RepeatedCompositeFieldContainer[AttrInfo]
    doc: str
    has_jvp: bool
    has_vjp: bool
    def __init__(self, name: _Optional[str] = ..., plugin: _Optional[str] = ..., plugin_version: _Optional[str] = ..., op_version: _Optional[str] = ..., arity: _Optional[int] = ..., attrs: _Optional[_Iterable[_Union[AttrInfo, _Mapping]]] = ..., doc: _Optional[str] = ..., has_jvp: _Optional[bool] = ..., has_vjp: _Optional[bool] = ...) -> None: ...

class PluginInfo(_message.Message):
    __slots__ = ("name", "version", "loaded", "error", "ops")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    loaded: bool
    error: str
    ops: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., loaded: _Optional[bool] = ..., error: _Optional[str] = ..., ops: _Optional[_Iterable[str]] = ...) -> None: ...

class UnservedOp(_message.Message):
    __slots__ = ("name", "plugin", "plugin_version", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    plugin: str
    plugin_version: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., plugin: _Optional[str] = ..., plugin_version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListOpsResponse(_message.Message):
    __slots__ = ("ops", "plugins", "unserved_ops", "verified")
    OPS_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    UNSERVED_OPS_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[OpInfo]
    plugins: _containers.RepeatedCompositeFieldContainer[PluginInfo]
    unserved_ops: _containers.RepeatedCompositeFieldContainer[UnservedOp]
    verified: bool
    def __init__(self, ops: _Optional[_Iterable[_Union[OpInfo, _Mapping]]] = ..., plugins: _Optional[_Iterable[_Union[PluginInfo, _Mapping]]] = ..., unserved_ops: _Optional[_Iterable[_Union[UnservedOp, _Mapping]]] = ..., verified: _Optional[bool] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "mode", "tangents", "cotangents", "checkpoint")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class TangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class CotangentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TANGENTS_FIELD_NUMBER: _ClassVar[int]
    COTANGENTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    mode: TraceMode
    tangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    cotangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[TraceMode, str]] = ..., tangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., cotangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class TraceRow(_message.Message):
    __slots__ = ("label", "id", "op", "inputs", "attrs", "value", "tangent", "adjoint")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _graph_pb2.AttrValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_graph_pb2.AttrValue, _Mapping]] = ...) -> None: ...
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TANGENT_FIELD_NUMBER: _ClassVar[int]
    ADJOINT_FIELD_NUMBER: _ClassVar[int]
    label: str
    id: str
    op: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    attrs: _containers.MessageMap[str, _graph_pb2.AttrValue]
    value: _tensor_pb2.Tensor
    tangent: _tensor_pb2.Tensor
    adjoint: _tensor_pb2.Tensor
    def __init__(self, label: _Optional[str] = ..., id: _Optional[str] = ..., op: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., attrs: _Optional[_Mapping[str, _graph_pb2.AttrValue]] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., tangent: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., adjoint: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class TraceResponse(_message.Message):
    __slots__ = ("graph_id", "rows", "output_labels", "text")
    class OutputLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LABELS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    rows: _containers.RepeatedCompositeFieldContainer[TraceRow]
    output_labels: _containers.ScalarMap[str, str]
    text: str
    def __init__(self, graph_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[TraceRow, _Mapping]]] = ..., output_labels: _Optional[_Mapping[str, str]] = ..., text: _Optional[str] = ...) -> None: ...

class Norm(_message.Message):
    __slots__ = ("name", "parameter_norms")
    class ParameterNormsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_NORMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    parameter_norms: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., parameter_norms: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("kind", "decay", "steps")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    kind: ScheduleKind
    decay: float
    steps: int
    def __init__(self, kind: _Optional[_Union[ScheduleKind, str]] = ..., decay: _Optional[float] = ..., steps: _Optional[int] = ...) -> None: ...

class StopRule(_message.Message):
    __slots__ = ("max_steps", "gradient_tolerance", "max_seconds")
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_steps: int
    gradient_tolerance: float
    max_seconds: float
    def __init__(self, max_steps: _Optional[int] = ..., gradient_tolerance: _Optional[float] = ..., max_seconds: _Optional[float] = ...) -> None: ...

class MinimizeRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "loss", "parameters", "data", "norm", "learning_rate", "schedule", "momentum", "stop", "report_every", "report_parameters", "checkpoint", "expectation")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    REPORT_EVERY_FIELD_NUMBER: _ClassVar[int]
    REPORT_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    EXPECTATION_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    loss: str
    parameters: _containers.MessageMap[str, _tensor_pb2.Tensor]
    data: _containers.MessageMap[str, _tensor_pb2.Tensor]
    norm: Norm
    learning_rate: float
    schedule: Schedule
    momentum: float
    stop: StopRule
    report_every: int
    report_parameters: bool
    checkpoint: Checkpointing
    expectation: Expectation
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., loss: _Optional[str] = ..., parameters: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., data: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., norm: _Optional[_Union[Norm, _Mapping]] = ..., learning_rate: _Optional[float] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., momentum: _Optional[float] = ..., stop: _Optional[_Union[StopRule, _Mapping]] = ..., report_every: _Optional[int] = ..., report_parameters: _Optional[bool] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ..., expectation: _Optional[_Union[Expectation, _Mapping]] = ...) -> None: ...

class MinimizeResponse(_message.Message):
    __slots__ = ("graph_id", "step", "loss", "gradient_norm", "parameters", "stop_reason")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_NORM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    step: int
    loss: float
    gradient_norm: float
    parameters: _containers.MessageMap[str, _tensor_pb2.Tensor]
    stop_reason: StopReason
    def __init__(self, graph_id: _Optional[str] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., gradient_norm: _Optional[float] = ..., parameters: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., stop_reason: _Optional[_Union[StopReason, str]] = ...) -> None: ...

class SparseTensor(_message.Message):
    __slots__ = ("shape", "indices", "values")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    indices: _tensor_pb2.Tensor
    values: _tensor_pb2.Tensor
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., indices: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class SweepInfo(_message.Message):
    __slots__ = ("sweeps", "nnz", "chunk", "colouring", "pattern_found", "note")
    SWEEPS_FIELD_NUMBER: _ClassVar[int]
    NNZ_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    COLOURING_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FOUND_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    sweeps: int
    nnz: int
    chunk: int
    colouring: Colouring
    pattern_found: bool
    note: str
    def __init__(self, sweeps: _Optional[int] = ..., nnz: _Optional[int] = ..., chunk: _Optional[int] = ..., colouring: _Optional[_Union[Colouring, str]] = ..., pattern_found: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class HessianRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "output", "wrt", "format", "checkpoint")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    output: str
    wrt: _containers.RepeatedScalarFieldContainer[str]
    format: Format
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., output: _Optional[str] = ..., wrt: _Optional[_Iterable[str]] = ..., format: _Optional[_Union[Format, str]] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class HessianBlock(_message.Message):
    __slots__ = ("row", "column", "hessian", "sparse")
    ROW_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    HESSIAN_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    row: str
    column: str
    hessian: _tensor_pb2.Tensor
    sparse: SparseTensor
    def __init__(self, row: _Optional[str] = ..., column: _Optional[str] = ..., hessian: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., sparse: _Optional[_Union[SparseTensor, _Mapping]] = ...) -> None: ...

class HessianResponse(_message.Message):
    __slots__ = ("graph_id", "value", "gradient", "blocks", "sweep")
    class GradientEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    value: _tensor_pb2.Tensor
    gradient: _containers.MessageMap[str, _tensor_pb2.Tensor]
    blocks: _containers.RepeatedCompositeFieldContainer[HessianBlock]
    sweep: SweepInfo
    def __init__(self, graph_id: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., gradient: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., blocks: _Optional[_Iterable[_Union[HessianBlock, _Mapping]]] = ..., sweep: _Optional[_Union[SweepInfo, _Mapping]] = ...) -> None: ...

class HvpRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "output", "directions", "batched", "checkpoint")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class DirectionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    BATCHED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    output: str
    directions: _containers.MessageMap[str, _tensor_pb2.Tensor]
    batched: bool
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., output: _Optional[str] = ..., directions: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., batched: _Optional[bool] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class HvpResponse(_message.Message):
    __slots__ = ("graph_id", "value", "gradient", "products")
    class GradientEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class ProductsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    value: _tensor_pb2.Tensor
    gradient: _containers.MessageMap[str, _tensor_pb2.Tensor]
    products: _containers.MessageMap[str, _tensor_pb2.Tensor]
    def __init__(self, graph_id: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., gradient: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., products: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ...) -> None: ...

class NamedType(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: _tensor_pb2.TensorType
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[_tensor_pb2.TensorType, _Mapping]] = ...) -> None: ...

class JacobianHeader(_message.Message):
    __slots__ = ("graph_id", "outputs", "mode", "sweep", "rows", "columns")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    mode: Mode
    sweep: SweepInfo
    rows: _containers.RepeatedCompositeFieldContainer[NamedType]
    columns: _containers.RepeatedCompositeFieldContainer[NamedType]
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., mode: _Optional[_Union[Mode, str]] = ..., sweep: _Optional[_Union[SweepInfo, _Mapping]] = ..., rows: _Optional[_Iterable[_Union[NamedType, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[NamedType, _Mapping]]] = ...) -> None: ...

class JacobianSlab(_message.Message):
    __slots__ = ("start", "values")
    START_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    start: int
    values: _tensor_pb2.Tensor
    def __init__(self, start: _Optional[int] = ..., values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class JacobianEntries(_message.Message):
    __slots__ = ("rows", "columns", "values")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    rows: _tensor_pb2.Tensor
    columns: _tensor_pb2.Tensor
    values: _tensor_pb2.Tensor
    def __init__(self, rows: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., columns: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., values: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class JacobianPiece(_message.Message):
    __slots__ = ("header", "slab", "entries")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SLAB_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    header: JacobianHeader
    slab: JacobianSlab
    entries: JacobianEntries
    def __init__(self, header: _Optional[_Union[JacobianHeader, _Mapping]] = ..., slab: _Optional[_Union[JacobianSlab, _Mapping]] = ..., entries: _Optional[_Union[JacobianEntries, _Mapping]] = ...) -> None: ...

class DerivativeGraphRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "kind", "wrt", "outputs", "checkpoint")
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    kind: DerivativeKind
    wrt: _containers.RepeatedScalarFieldContainer[str]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    checkpoint: Checkpointing
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., kind: _Optional[_Union[DerivativeKind, str]] = ..., wrt: _Optional[_Iterable[str]] = ..., outputs: _Optional[_Iterable[str]] = ..., checkpoint: _Optional[_Union[Checkpointing, _Mapping]] = ...) -> None: ...

class DerivativeGraphResponse(_message.Message):
    __slots__ = ("graph_id", "graph", "derivative_graph_id")
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    DERIVATIVE_GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    graph: _graph_pb2.Graph
    derivative_graph_id: str
    def __init__(self, graph_id: _Optional[str] = ..., graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., derivative_graph_id: _Optional[str] = ...) -> None: ...

class CostRequest(_message.Message):
    __slots__ = ("evaluate", "jvp", "vjp", "jacobian", "jacobian_stream", "hessian", "hvp", "trace", "derivative_graph", "minimize", "expectation_gradient")
    EVALUATE_FIELD_NUMBER: _ClassVar[int]
    JVP_FIELD_NUMBER: _ClassVar[int]
    VJP_FIELD_NUMBER: _ClassVar[int]
    JACOBIAN_FIELD_NUMBER: _ClassVar[int]
    JACOBIAN_STREAM_FIELD_NUMBER: _ClassVar[int]
    HESSIAN_FIELD_NUMBER: _ClassVar[int]
    HVP_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    DERIVATIVE_GRAPH_FIELD_NUMBER: _ClassVar[int]
    MINIMIZE_FIELD_NUMBER: _ClassVar[int]
    EXPECTATION_GRADIENT_FIELD_NUMBER: _ClassVar[int]
    evaluate: EvaluateRequest
    jvp: JvpRequest
    vjp: VjpRequest
    jacobian: JacobianRequest
    jacobian_stream: JacobianRequest
    hessian: HessianRequest
    hvp: HvpRequest
    trace: TraceRequest
    derivative_graph: DerivativeGraphRequest
    minimize: MinimizeRequest
    expectation_gradient: ExpectationGradientRequest
    def __init__(self, evaluate: _Optional[_Union[EvaluateRequest, _Mapping]] = ..., jvp: _Optional[_Union[JvpRequest, _Mapping]] = ..., vjp: _Optional[_Union[VjpRequest, _Mapping]] = ..., jacobian: _Optional[_Union[JacobianRequest, _Mapping]] = ..., jacobian_stream: _Optional[_Union[JacobianRequest, _Mapping]] = ..., hessian: _Optional[_Union[HessianRequest, _Mapping]] = ..., hvp: _Optional[_Union[HvpRequest, _Mapping]] = ..., trace: _Optional[_Union[TraceRequest, _Mapping]] = ..., derivative_graph: _Optional[_Union[DerivativeGraphRequest, _Mapping]] = ..., minimize: _Optional[_Union[MinimizeRequest, _Mapping]] = ..., expectation_gradient: _Optional[_Union[ExpectationGradientRequest, _Mapping]] = ...) -> None: ...

class PlanCost(_message.Message):
    __slots__ = ("what", "times", "peak_bytes", "work")
    WHAT_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    what: str
    times: int
    peak_bytes: int
    work: int
    def __init__(self, what: _Optional[str] = ..., times: _Optional[int] = ..., peak_bytes: _Optional[int] = ..., work: _Optional[int] = ...) -> None: ...

class RequestLimits(_message.Message):
    __slots__ = ("memory_bytes", "work", "response_bytes")
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    memory_bytes: int
    work: int
    response_bytes: int
    def __init__(self, memory_bytes: _Optional[int] = ..., work: _Optional[int] = ..., response_bytes: _Optional[int] = ...) -> None: ...

class CostResponse(_message.Message):
    __slots__ = ("graph_id", "peak_bytes", "work", "response_bytes", "plans", "admitted", "refusal", "limits")
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    peak_bytes: int
    work: int
    response_bytes: int
    plans: _containers.RepeatedCompositeFieldContainer[PlanCost]
    admitted: bool
    refusal: str
    limits: RequestLimits
    def __init__(self, graph_id: _Optional[str] = ..., peak_bytes: _Optional[int] = ..., work: _Optional[int] = ..., response_bytes: _Optional[int] = ..., plans: _Optional[_Iterable[_Union[PlanCost, _Mapping]]] = ..., admitted: _Optional[bool] = ..., refusal: _Optional[str] = ..., limits: _Optional[_Union[RequestLimits, _Mapping]] = ...) -> None: ...

class OpSignature(_message.Message):
    __slots__ = ("op", "inputs", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _graph_pb2.AttrValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_graph_pb2.AttrValue, _Mapping]] = ...) -> None: ...
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    op: str
    inputs: _containers.RepeatedCompositeFieldContainer[_tensor_pb2.TensorType]
    attrs: _containers.MessageMap[str, _graph_pb2.AttrValue]
    def __init__(self, op: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[_tensor_pb2.TensorType, _Mapping]]] = ..., attrs: _Optional[_Mapping[str, _graph_pb2.AttrValue]] = ...) -> None: ...

class InferTypesRequest(_message.Message):
    __slots__ = ("signatures",)
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    signatures: _containers.RepeatedCompositeFieldContainer[OpSignature]
    def __init__(self, signatures: _Optional[_Iterable[_Union[OpSignature, _Mapping]]] = ...) -> None: ...

class SignatureError(_message.Message):
    __slots__ = ("code", "reason", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    reason: str
    message: str
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class InferredType(_message.Message):
    __slots__ = ("type", "error")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    type: _tensor_pb2.TensorType
    error: SignatureError
    def __init__(self, type: _Optional[_Union[_tensor_pb2.TensorType, _Mapping]] = ..., error: _Optional[_Union[SignatureError, _Mapping]] = ...) -> None: ...

class InferTypesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[InferredType]
    def __init__(self, results: _Optional[_Iterable[_Union[InferredType, _Mapping]]] = ...) -> None: ...

class Expectation(_message.Message):
    __slots__ = ("samples", "key", "estimator", "baseline", "baseline_decay", "key_input")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_DECAY_FIELD_NUMBER: _ClassVar[int]
    KEY_INPUT_FIELD_NUMBER: _ClassVar[int]
    samples: int
    key: int
    estimator: Estimator
    baseline: Baseline
    baseline_decay: float
    key_input: str
    def __init__(self, samples: _Optional[int] = ..., key: _Optional[int] = ..., estimator: _Optional[_Union[Estimator, str]] = ..., baseline: _Optional[_Union[Baseline, str]] = ..., baseline_decay: _Optional[float] = ..., key_input: _Optional[str] = ...) -> None: ...

class ExpectationGradientRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "wrt", "output", "expectation")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXPECTATION_FIELD_NUMBER: _ClassVar[int]
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    wrt: _containers.RepeatedScalarFieldContainer[str]
    output: str
    expectation: Expectation
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., wrt: _Optional[_Iterable[str]] = ..., output: _Optional[str] = ..., expectation: _Optional[_Union[Expectation, _Mapping]] = ...) -> None: ...

class StochasticNode(_message.Message):
    __slots__ = ("node", "op", "estimator")
    NODE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    node: str
    op: str
    estimator: Estimator
    def __init__(self, node: _Optional[str] = ..., op: _Optional[str] = ..., estimator: _Optional[_Union[Estimator, str]] = ...) -> None: ...

class ExpectationGradientResponse(_message.Message):
    __slots__ = ("graph_id", "value", "value_error", "gradient", "gradient_error", "nodes", "samples")
    class GradientEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    class GradientErrorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _tensor_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_ERROR_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ERROR_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    graph_id: str
    value: float
    value_error: float
    gradient: _containers.MessageMap[str, _tensor_pb2.Tensor]
    gradient_error: _containers.MessageMap[str, _tensor_pb2.Tensor]
    nodes: _containers.RepeatedCompositeFieldContainer[StochasticNode]
    samples: int
    def __init__(self, graph_id: _Optional[str] = ..., value: _Optional[float] = ..., value_error: _Optional[float] = ..., gradient: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., gradient_error: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., nodes: _Optional[_Iterable[_Union[StochasticNode, _Mapping]]] = ..., samples: _Optional[int] = ...) -> None: ...
