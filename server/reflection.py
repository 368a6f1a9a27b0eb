"""Server reflection, both versions clients use (grpc.reflection.v1 and v1alpha), serving the
contract's descriptors *with their comments*, so a client discovering the service (grpcurl,
Postman, a generated client in another language) reads the same documentation as the .proto
files.

The generated Python modules carry descriptors without comments; `proto/generate.py` also writes
`contract.binpb`, the descriptors compiled with their source info, which is served here. The v1
protocol is v1alpha's, message for message and field for field, under another package name, so
one servicer answers both.
"""

from __future__ import annotations

from importlib.resources import files

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1 = "grpc.reflection.v1.ServerReflection"
V1ALPHA = reflection.SERVICE_NAME


def enable(server: grpc.Server, service_names: tuple[str, ...]) -> None:
    """Serve reflection v1 and v1alpha on `server`, listing `service_names` and themselves."""
    servicer = _Servicer((*service_names, V1, V1ALPHA), served_files())
    server.add_generic_rpc_handlers([_handler(V1ALPHA, servicer), _handler(V1, servicer)])


def served_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """The contract's files with comments, health, and both reflection protocols, each after
    the files it imports."""
    contract = descriptor_pb2.FileDescriptorSet.FromString(
        (files("wengert.v1") / "contract.binpb").read_bytes())
    others = [descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
              for module in (health_pb2, reflection_pb2)]
    return [*contract.file, *others, _v1_file()]


class _Servicer(reflection.ReflectionServicer):
    """Answers with the files as compiled, comments included (the base class re-serializes a
    pool's descriptors, which keep none)."""

    def __init__(self, service_names, protos: list[descriptor_pb2.FileDescriptorProto]):
        pool = descriptor_pool.DescriptorPool()
        for proto in protos:
            pool.Add(proto)
        super().__init__(service_names, pool=pool)
        self._protos = {proto.name: proto.SerializeToString() for proto in protos}

    def _file_by_filename(self, request, filename):
        return self._answer(request, lambda: self._pool.FindFileByName(filename))

    def _file_containing_symbol(self, request, fully_qualified_name):
        return self._answer(request, lambda: self._pool.FindFileContainingSymbol(fully_qualified_name))

    def _answer(self, request, find) -> reflection_pb2.ServerReflectionResponse:
        try:
            found = find()
        except KeyError:
            return reflection_pb2.ServerReflectionResponse(
                original_request=request, error_response=reflection_pb2.ErrorResponse(
                    error_code=grpc.StatusCode.NOT_FOUND.value[0], error_message="not found"))
        names, todo = [], [found]
        while todo:  # the file and everything it imports
            file = todo.pop()
            if file.name not in names:
                names.append(file.name)
                todo += file.dependencies
        return reflection_pb2.ServerReflectionResponse(
            original_request=request, file_descriptor_response=reflection_pb2.FileDescriptorResponse(
                file_descriptor_proto=[self._protos[name] for name in names]))


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto: v1alpha's file under the v1 package."""
    file = descriptor_pb2.FileDescriptorProto.FromString(reflection_pb2.DESCRIPTOR.serialized_pb)
    file.name = "grpc/reflection/v1/reflection.proto"
    file.package = "grpc.reflection.v1"
    for message in file.message_type:
        for field in message.field:
            if field.type_name.startswith(".grpc.reflection.v1alpha."):
                field.type_name = field.type_name.replace(".v1alpha.", ".v1.")
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(".v1alpha.", ".v1.")
            method.output_type = method.output_type.replace(".v1alpha.", ".v1.")
    return file


def _handler(service: str, servicer: reflection.ReflectionServicer) -> grpc.GenericRpcHandler:
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    return grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": method})
