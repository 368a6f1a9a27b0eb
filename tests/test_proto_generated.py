"""The checked-in generated code is exactly what `proto/generate.py` produces from the protos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("grpc_tools")

PROTO = Path(__file__).resolve().parents[1] / "proto"


def load_generator():
    spec = importlib.util.spec_from_file_location("wengert_proto_generate", PROTO / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_code_matches_regenerated(tmp_path):
    gen = load_generator()
    fresh = gen.generate(tmp_path)
    assert fresh, "protoc produced nothing"
    assert gen.generated_files(PROTO) == fresh, "generated file set differs; run python proto/generate.py"
    stale = [str(rel) for rel in fresh if (PROTO / rel).read_bytes() != (tmp_path / rel).read_bytes()]
    assert not stale, f"stale generated code {stale}; run python proto/generate.py"


def test_every_proto_has_its_generated_modules():
    gen = load_generator()
    expected = {
        Path(proto).with_suffix("").as_posix() + suffix
        for proto in gen.proto_files() for suffix in gen.SUFFIXES
    } | {gen.DESCRIPTOR_SET}
    assert {p.as_posix() for p in gen.generated_files(PROTO)} == expected


def test_generated_modules_import_as_wengert_v1():
    from wengert.v1 import graph_pb2, service_pb2, service_pb2_grpc, tensor_pb2

    assert service_pb2.DESCRIPTOR.package == "wengert.v1"
    assert graph_pb2.DESCRIPTOR.dependencies[0] is tensor_pb2.DESCRIPTOR
    assert hasattr(service_pb2_grpc, "DifferentiationServiceStub")
    methods = service_pb2.DESCRIPTOR.services_by_name["DifferentiationService"].methods_by_name
    assert sorted(methods) == ["Cost", "DerivativeGraph", "Evaluate", "ExpectationGradient", "Hessian", "Hvp",
                               "InferTypes", "Jacobian", "JacobianStream", "Jvp", "ListOps", "Minimize", "Trace",
                               "Vjp"]
