"""The in-process differentiation core: values, JVPs, VJPs, Jacobians and traces of graphs.

The server serves exactly this, and `Client.local()` calls it directly. Derivative graphs
and compiled plans are cached per graph, so a repeated request only runs NumPy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from wengert.autodiff import COTANGENT, TANGENT, check_outputs, check_wrt, jvp_graph, prefix_for, vjp_graph
from wengert.builder import GraphBuilder
from wengert.errors import InvalidRequest
from wengert.graph import Graph, TensorType
from wengert.plan import Check, Plan

MODES = ("auto", "forward", "reverse")


@dataclass(frozen=True)
class JacobianResult:
    """`blocks[(output, input)]` is shaped `out_shape + in_shape`; `mode` is the one used."""

    values: dict[str, np.ndarray]
    blocks: dict[tuple[str, str], np.ndarray]
    mode: str


@dataclass(frozen=True)
class TraceRow:
    """One line of the evaluation trace: a value, and its tangent or adjoint when asked."""

    label: str
    id: str
    op: str
    inputs: tuple[str, ...]
    attrs: dict[str, Any]
    value: np.ndarray
    derivative: np.ndarray | None


class _LRU:
    """A small thread-safe LRU map for derivative graphs and compiled plans."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class Engine:
    """Evaluates graphs and their derivatives with the ops of `registry`."""

    def __init__(self, registry=None, cache_size: int = 512):
        if registry is None:
            from wengert.plugins.registry import default_registry

            registry = default_registry()
        self.registry = registry
        self._cache = _LRU(cache_size)

    # -- building blocks -----------------------------------------------------------------
    def derivative_graph(self, graph: Graph, kind: str, wrt: Sequence[str] | None = None, *,
                         seeds: Sequence[str] | None = None, intermediates: bool = False) -> Graph:
        """The JVP (`kind="jvp"`) or VJP (`kind="vjp"`) graph of `graph`, cached."""
        wrt = tuple(check_wrt(graph, wrt))
        if kind == "jvp":
            key = (graph, "jvp", wrt, intermediates)
            return self._cache.get(key, lambda: jvp_graph(graph, wrt, intermediates=intermediates,
                                                          registry=self.registry))
        if kind == "vjp":
            seeds = tuple(check_outputs(graph, seeds))
            key = (graph, "vjp", wrt, seeds, intermediates)
            return self._cache.get(key, lambda: vjp_graph(graph, wrt, seeds=seeds,
                                                          intermediates=intermediates,
                                                          registry=self.registry))
        raise InvalidRequest(f"unknown derivative kind {kind!r} (jvp or vjp)")

    def plan(self, graph: Graph, batched: frozenset[str] = frozenset(), keep_all: bool = False) -> Plan:
        return self._cache.get((graph, "plan", batched, keep_all),
                               lambda: Plan(graph, self.registry, batched, keep_all=keep_all))

    def specialize(self, graph: Graph, inputs: Mapping[str, np.ndarray]) -> Graph:
        """`graph` with its open (-1) dimensions fixed by the shapes of `inputs`."""
        if all(t.is_concrete for _, t in graph.inputs):
            return graph
        shapes = []
        for name, t in graph.inputs:
            array = inputs.get(name)
            if array is None:
                raise InvalidRequest(f"missing input {name!r} ({t})")
            if not t.accepts(array):
                from wengert.errors import InvalidTensor

                raise InvalidTensor(f"input {name!r} must be {t}, got {TensorType.of(array)}")
            shapes.append(TensorType(t.dtype, array.shape))
        key = (graph, "specialize", tuple(shapes))
        return self._cache.get(key, lambda: _rebuild(graph, shapes, self.registry))

    # -- requests ------------------------------------------------------------------------
    def evaluate(self, graph: Graph, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None,
                 check: Check | None = None) -> dict[str, np.ndarray]:
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        values = self.plan(graph).run(inputs, check)
        return {name: values[name] for name in check_outputs(graph, outputs)}

    def jvp(self, graph: Graph, inputs: Mapping[str, Any], tangents: Mapping[str, Any], *,
            batched: bool = False, check: Check | None = None
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(output values, output tangents) along `tangents` (input name -> direction; inputs
        not named have zero tangent). `batched`: each tangent has a leading batch axis."""
        inputs, tangents = _arrays(inputs), _arrays(tangents)
        graph = self.specialize(graph, inputs)
        wrt = [name for name in graph.input_names if name in tangents]
        _check_names(tangents, graph.input_names, "tangent for")
        if not wrt:
            raise InvalidRequest("give a tangent for at least one input")
        dgraph = self.derivative_graph(graph, "jvp", wrt)
        prefix = prefix_for(graph, TANGENT)
        feeds = {**inputs, **{prefix + k: v for k, v in tangents.items()}}
        run = self.plan(dgraph, frozenset(prefix + k for k in wrt) if batched else frozenset())
        return _split(run.run(feeds, check), run, graph.output_names, prefix,
                      _batch_size(tangents, batched))

    def vjp(self, graph: Graph, inputs: Mapping[str, Any], cotangents: Mapping[str, Any],
            wrt: Sequence[str] | None = None, *, batched: bool = False, check: Check | None = None
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(output values, cotangents of the `wrt` inputs) for output `cotangents` (outputs not
        named have zero cotangent). `batched`: each cotangent has a leading batch axis."""
        inputs, cotangents = _arrays(inputs), _arrays(cotangents)
        graph = self.specialize(graph, inputs)
        _check_names(cotangents, graph.output_names, "cotangent for")
        if not cotangents:
            raise InvalidRequest("give a cotangent for at least one output")
        seeds = [name for name in graph.output_names if name in cotangents]
        dgraph = self.derivative_graph(graph, "vjp", wrt, seeds=seeds)
        prefix = prefix_for(graph, COTANGENT)
        feeds = {**inputs, **{prefix + k: v for k, v in cotangents.items()}}
        run = self.plan(dgraph, frozenset(prefix + k for k in seeds) if batched else frozenset())
        return _split(run.run(feeds, check), run, graph.output_names, prefix,
                      _batch_size(cotangents, batched))

    def jacobian(self, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None = None,
                 outputs: Sequence[str] | None = None, mode: str = "auto",
                 check: Check | None = None) -> JacobianResult:
        """Every block d output / d input, in one vectorized sweep over a basis of directions:
        forward over the inputs' basis when they are no larger than the outputs, else reverse."""
        if mode not in MODES:
            raise InvalidRequest(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        wrt = check_wrt(graph, wrt)
        outs = check_outputs(graph, outputs or [n for n in graph.output_names
                                                if graph.output_type(n).is_float])
        for name in outs:
            if not graph.output_type(name).is_float:
                raise InvalidRequest(f"output {name!r} is not floating-point; it has no Jacobian")
        in_types = {name: dict(graph.inputs)[name] for name in wrt}
        out_types = {name: graph.output_type(name) for name in outs}
        n = sum(t.size for t in in_types.values())
        m = sum(t.size for t in out_types.values())
        if mode == "auto":
            mode = "forward" if n <= m else "reverse"
        if mode == "forward":
            basis = _basis(in_types)
            values, tangents = self.jvp(graph, inputs, basis, batched=True, check=check)
            blocks = _blocks(tangents, out_types, in_types, transpose=True)
        else:
            basis = _basis(out_types)
            values, cotangents = self.vjp(graph, inputs, basis, wrt, batched=True, check=check)
            blocks = _blocks(cotangents, in_types, out_types, transpose=False)
        return JacobianResult({k: values[k] for k in graph.output_names}, blocks, mode)

    def trace(self, graph: Graph, inputs: Mapping[str, Any], mode: str = "none",
              seeds: Mapping[str, Any] | None = None, check: Check | None = None) -> list[TraceRow]:
        """The evaluation trace (Wengert list) with every value, and in "forward" mode each
        value's tangent along `seeds` (input directions), in "reverse" mode each value's adjoint
        for `seeds` (output cotangents; default 1 for a single scalar output)."""
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        values = self.plan(graph, keep_all=True).run(inputs, check, keep_all=True)
        derivatives: dict[str, np.ndarray] = {}
        seeds = _arrays(seeds or {})
        if mode == "forward":
            _check_names(seeds, graph.input_names, "tangent for")
            dgraph = self.derivative_graph(graph, "jvp", list(seeds) or None, intermediates=True)
            prefix = prefix_for(graph, TANGENT)
            feeds = {**inputs, **{prefix + k: v for k, v in seeds.items()}}
            derivatives = _strip(self.plan(dgraph).run(feeds, check), prefix)
        elif mode == "reverse":
            if not seeds:
                if len(graph.outputs) != 1 or graph.output_type(graph.output_names[0]).size != 1:
                    raise InvalidRequest("give output cotangents unless the graph has one scalar output")
                t = graph.output_type(graph.output_names[0])
                seeds = {graph.output_names[0]: np.ones(t.shape, t.dtype)}
            _check_names(seeds, graph.output_names, "cotangent for")
            dgraph = self.derivative_graph(graph, "vjp", None, seeds=list(seeds), intermediates=True)
            prefix = prefix_for(graph, COTANGENT)
            feeds = {**inputs, **{prefix + k: v for k, v in seeds.items()}}
            derivatives = _strip(self.plan(dgraph).run(feeds, check), prefix)
        elif mode != "none":
            raise InvalidRequest(f"unknown trace mode {mode!r} (none, forward or reverse)")
        n = len(graph.inputs)
        rows = [TraceRow(f"v{i - n + 1}", name, "input", (), {}, values[name], derivatives.get(name))
                for i, name in enumerate(graph.input_names)]
        rows += [TraceRow(f"v{i + 1}", node.id, node.op, node.inputs, node.attr_dict,
                          values[node.id], derivatives.get(node.id))
                 for i, node in enumerate(graph.nodes)]
        return rows


def _rebuild(graph: Graph, input_types: list[TensorType], registry) -> Graph:
    builder = GraphBuilder(registry)
    env = {name: builder.input(name, t) for (name, _), t in zip(graph.inputs, input_types)}
    for node in graph.nodes:
        env[node.id] = builder.add(node.op, [env[x] for x in node.inputs], node.attr_dict, node.id)
    return builder.build({name: env[vid] for name, vid in graph.outputs})


def _arrays(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {name: np.asarray(v) for name, v in values.items()}


def _check_names(given: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = [name for name in given if name not in allowed]
    if unknown:
        raise InvalidRequest(f"{what} {unknown[0]!r}, which the graph does not have "
                             f"(it has {', '.join(map(repr, allowed))})")


def _batch_size(arrays: Mapping[str, np.ndarray], batched: bool) -> int | None:
    return next(iter(arrays.values())).shape[0] if batched and arrays else None


def _split(out: dict[str, np.ndarray], plan: Plan, names: Sequence[str], prefix: str,
           batch: int | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Separate primal outputs from derivative outputs; in a batched run every derivative gets
    the batch axis (one that does not depend on the directions is broadcast along it)."""
    values = {k: out[k] for k in names}
    derivs = {}
    for name, vid in plan.graph.outputs:
        if name.startswith(prefix):
            v = out[name]
            if batch is not None and not plan.is_batched[vid]:
                v = np.broadcast_to(v, (batch,) + v.shape)
            derivs[name[len(prefix):]] = v
    return values, derivs


def _strip(out: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in out.items() if k.startswith(prefix)}


def _basis(sources: dict[str, TensorType]) -> dict[str, np.ndarray]:
    """The identity basis over all of `sources` together, split per source: source k gets
    shape (n, *shape_k), its columns of the n x n identity."""
    n = sum(t.size for t in sources.values())
    eye = np.eye(n, dtype=np.result_type(*(t.dtype for t in sources.values())))
    basis, offset = {}, 0
    for name, t in sources.items():
        basis[name] = eye[:, offset:offset + t.size].astype(t.dtype, copy=False).reshape((n,) + t.shape)
        offset += t.size
    return basis


def _blocks(results: dict[str, np.ndarray], result_types: dict[str, TensorType],
            basis_types: dict[str, TensorType], *, transpose: bool) -> dict[tuple[str, str], np.ndarray]:
    """Cut the swept results into Jacobian blocks shaped out_shape + in_shape."""
    n = sum(t.size for t in basis_types.values())
    blocks = {}
    for rname, rt in result_types.items():
        swept = np.broadcast_to(results[rname], (n,) + rt.shape).reshape(n, rt.size)
        offset = 0
        for bname, bt in basis_types.items():
            rows = swept[offset:offset + bt.size]  # (basis size, result size)
            offset += bt.size
            if transpose:  # forward: results are outputs, basis is inputs (a view where possible)
                blocks[(rname, bname)] = rows.T.reshape(rt.shape + bt.shape)
            else:          # reverse: results are inputs, basis is outputs
                blocks[(bname, rname)] = rows.reshape(bt.shape + rt.shape)
    return blocks
