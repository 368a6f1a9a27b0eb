"""Ops only the server has: how a remote client traces functions that use them.

A plugin installed on the server serves every client, so a client needs no copy of it. The
client learns the server's ops from `ListOps` (once, when a traced function first uses an op
not installed here) and asks the server for the type of each new node with `InferTypes` when
the node is added, so user code can read `.shape` right away. Answers are cached by signature
(op, input types, attributes): tracing a function again costs no round trip, and a graph costs
at most one per signature not seen before. The server types a signature with the checks it
applies to every graph it receives, so a graph typed this way is one it accepts; a refusal is
raised as the server's error, naming the node, the server and the user's line.

Ops installed here are typed here, as before; a server-only op is a proxy `OpDef` whose `infer`
asks the server and whose forward and rules never run on the client (the server evaluates and
differentiates).
"""

from __future__ import annotations

import difflib
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from wengert.errors import UnknownOp, error_from_status
from wengert.ir.builder import Value, apply, current_builder
from wengert.ir.graph import TensorType
from wengert.plugins.opdef import OpDef


@dataclass(frozen=True)
class Signature:
    """An op applied to inputs of these types with these (normalized) attributes: what the
    server types, and what its answers are cached by."""

    op: str
    inputs: tuple[TensorType, ...]
    attrs: tuple[tuple[str, Any], ...]


class ServerOps:
    """The registry functions are traced with for a remote client: the ops of `local` (the
    plugins installed here by default), then the server's other ops, typed by the server.

    `list_ops()` returns the server's catalogue (`OpInfo`s); `infer_types(signatures)` returns
    one result per signature: a `TensorType`, or an error with `code`, `reason` and
    `message` (a `SignatureError`). Both are blocking calls to the server at `target`.
    """

    def __init__(self, target: str, local, list_ops: Callable[[], list],
                 infer_types: Callable[[list[Signature]], list]):
        self.target = target
        self._local = local
        self._list_ops, self._infer_types = list_ops, infer_types
        self._server_only: dict[str, OpDef] | None = None
        self._types: dict[Signature, TensorType] = {}
        self._lock = threading.Lock()

    @property
    def local(self):
        """The registry of the plugins installed here (resolved when first needed)."""
        if self._local is None:
            from wengert.plugins.registry import default_registry

            self._local = default_registry()
        return self._local

    def get(self, name: str) -> OpDef:
        if name in self.local:
            return self.local.get(name)
        op = self.server_only().get(name)
        if op is None:
            raise UnknownOp(f"unknown op {name!r}: neither the plugins installed here nor the server "
                            f"at {self.target} provide it{close_matches(name, self.names())} "
                            f"(called at {caller()})")
        return op

    def __contains__(self, name: object) -> bool:
        return name in self.local or name in self.server_only()

    def __iter__(self) -> Iterator[OpDef]:
        yield from self.local
        yield from self.server_only().values()

    def names(self) -> list[str]:
        return sorted([*self.local.names(), *self.server_only()])

    def server_only(self) -> dict[str, OpDef]:
        """The server's ops that are not installed here, as proxies; fetched once, on first use."""
        with self._lock:
            if self._server_only is None:
                self._server_only = {info.name: self._proxy(info) for info in self._list_ops()
                                     if info.name not in self.local}
            return self._server_only

    def _proxy(self, info) -> OpDef:
        """An op record whose shape rule is the server's; its forward refuses to run here."""
        name, target = info.name, self.target

        def forward(*arrays, **attrs):
            raise UnknownOp(f"op {name!r} runs on the server at {target} only: no plugin here provides it")

        def infer(*types: TensorType, **attrs) -> TensorType:
            return self.infer(Signature(name, types, tuple(sorted(attrs.items()))))

        return OpDef(name=name, forward=forward, infer=infer, attrs=info.schema, arity=info.arity,
                     doc=info.doc, version=info.version, plugin=info.plugin)

    def infer(self, signature: Signature) -> TensorType:
        """The output type of `signature`, from the cache or from the server."""
        known = self._types.get(signature)
        if known is not None:
            return known
        (result,) = self._infer_types([signature])
        if not isinstance(result, TensorType):
            raise error_from_status(result.code, f"{result.message} (typed by the server at "
                                    f"{self.target}; called at {caller()})", result.reason)
        self._types[signature] = result
        return result


class Ops:
    """`client.ops.NAME(*args, **attrs)`: a node of op NAME in the graph being traced, for
    every op `registry` knows (the server's too, for a remote client). `dir()` lists them."""

    def __init__(self, registry):
        self._registry = registry
        target = getattr(registry, "target", None)
        self._source = "the ops installed here" if target is None else f"the ops of the server at {target}"

    def __getattr__(self, name: str) -> Callable[..., Value]:
        if name.startswith("_") or name not in self._registry:  # introspection asks for _names
            raise AttributeError(f"no op {name!r} in {self._source}"
                                 f"{close_matches(name, self._registry.names())}")
        registry, source = self._registry, self._source

        def op(*args: Any, **attrs: Any) -> Value:
            builder = current_builder(args)
            if builder is not None and builder.registry is not registry and name not in builder.registry:
                raise UnknownOp(f"op {name!r} is one of {source}, but this graph is traced without "
                                f"them: use it in a function the client traces (client.grad(f, x), "
                                f"...), or trace with wg.trace(f, x, registry=client.registry)")
            return apply(name, *args, **attrs)

        op.__name__ = op.__qualname__ = name
        op.__doc__ = registry.get(name).doc
        return op

    def __dir__(self) -> list[str]:
        return self._registry.names()


def close_matches(name: str, names: list[str]) -> str:
    """The end of an unknown-name message: ' (close matches: a, b)' for a misspelt `name`."""
    found = difflib.get_close_matches(name, names, n=3)
    return f" (close matches: {', '.join(found)})" if found else ""


def caller() -> str:
    """`file:line in function` of the innermost frame outside wengert: the user's code that
    added the node being typed."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "wengert":
        frame = frame.f_back
    if frame is None:
        return "an unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
