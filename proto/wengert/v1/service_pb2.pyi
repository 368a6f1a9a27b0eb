from wengert.v1 import graph_pb2 as _graph_pb2
from wengert.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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

class TraceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACE_MODE_NONE: _ClassVar[TraceMode]
    TRACE_MODE_FORWARD: _ClassVar[TraceMode]
    TRACE_MODE_REVERSE: _ClassVar[TraceMode]
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
TRACE_MODE_NONE: TraceMode
TRACE_MODE_FORWARD: TraceMode
TRACE_MODE_REVERSE: TraceMode

class EvaluateRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs")
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
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ...) -> None: ...

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

class VjpRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "cotangents", "wrt", "batched")
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
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    cotangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    wrt: _containers.RepeatedScalarFieldContainer[str]
    batched: bool
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., cotangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., wrt: _Optional[_Iterable[str]] = ..., batched: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "wrt", "mode")
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
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    wrt: _containers.RepeatedScalarFieldContainer[str]
    mode: Mode
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., wrt: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class JacobianBlock(_message.Message):
    __slots__ = ("output", "input", "jacobian")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    JACOBIAN_FIELD_NUMBER: _ClassVar[int]
    output: str
    input: str
    jacobian: _tensor_pb2.Tensor
    def __init__(self, output: _Optional[str] = ..., input: _Optional[str] = ..., jacobian: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class JacobianResponse(_message.Message):
    __slots__ = ("graph_id", "outputs", "mode", "blocks")
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
    graph_id: str
    outputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    mode: Mode
    blocks: _containers.RepeatedCompositeFieldContainer[JacobianBlock]
    def __init__(self, graph_id: _Optional[str] = ..., outputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., mode: _Optional[_Union[Mode, str]] = ..., blocks: _Optional[_Iterable[_Union[JacobianBlock, _Mapping]]] = ...) -> None: ...

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

class ListOpsResponse(_message.Message):
    __slots__ = ("ops", "plugins")
    OPS_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[OpInfo]
    plugins: _containers.RepeatedCompositeFieldContainer[PluginInfo]
    def __init__(self, ops: _Optional[_Iterable[_Union[OpInfo, _Mapping]]] = ..., plugins: _Optional[_Iterable[_Union[PluginInfo, _Mapping]]] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("graph", "graph_id", "inputs", "outputs", "mode", "tangents", "cotangents")
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
    graph: _graph_pb2.Graph
    graph_id: str
    inputs: _containers.MessageMap[str, _tensor_pb2.Tensor]
    outputs: _containers.RepeatedScalarFieldContainer[str]
    mode: TraceMode
    tangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    cotangents: _containers.MessageMap[str, _tensor_pb2.Tensor]
    def __init__(self, graph: _Optional[_Union[_graph_pb2.Graph, _Mapping]] = ..., graph_id: _Optional[str] = ..., inputs: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., outputs: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[TraceMode, str]] = ..., tangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ..., cotangents: _Optional[_Mapping[str, _tensor_pb2.Tensor]] = ...) -> None: ...

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
