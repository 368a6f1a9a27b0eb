"""Regenerate the checked-in Python code for the wengert.v1 protos.

Run from anywhere: `python proto/generate.py`. It compiles every `wengert/v1/*.proto` with
`grpc_tools.protoc -Iproto` and writes `*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` next to the
`.proto` files, and `contract.binpb`, their descriptors with comments (served by reflection).
Because the include root is `proto/` and the files live in `wengert/v1/`, the
generated imports read `from wengert.v1 import tensor_pb2`, which is exactly the installed
package name (pyproject maps `proto/wengert/v1` to `wengert.v1`): no import rewriting needed.

The output depends on the grpcio-tools version (it stamps protobuf/grpcio versions into the
files); `tests/test_proto_generated.py` fails when the checked-in files are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = "wengert/v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# The contract's descriptors with their comments: what the server's reflection service serves.
DESCRIPTOR_SET = f"{PACKAGE_DIR}/contract.binpb"


def proto_files() -> list[str]:
    """The .proto files, relative to PROTO_ROOT (the include root), in a stable order."""
    return sorted(p.relative_to(PROTO_ROOT).as_posix() for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def generated_files(root: Path) -> list[Path]:
    """The generated files under `root`, relative to it."""
    return sorted(
        p.relative_to(root) for p in (root / PACKAGE_DIR).glob("*")
        if p.name.endswith(SUFFIXES) or p.relative_to(root).as_posix() == DESCRIPTOR_SET
    )


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Compile the protos into `out_dir` (default: next to them); returns the files written."""
    from importlib.resources import files

    from grpc_tools import protoc

    out_dir = Path(out_dir)
    (out_dir / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    well_known = str(files("grpc_tools") / "_proto")  # google/protobuf/*.proto, should we import them
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--descriptor_set_out={out_dir / DESCRIPTOR_SET}",
        "--include_source_info",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    return generated_files(out_dir)


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT):
        print(path)
