"""The in-process differentiation core: values, JVPs, VJPs, Jacobians and traces of graphs.

The server serves exactly this, and `Client.local()` calls it directly. Derivative graphs
and compiled plans are cached per graph, so a repeated request only runs NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from wengert.autodiff.transform import COTANGENT, TANGENT, check_outputs, check_wrt, jvp_graph, prefix_for, vjp_graph
from wengert.ir.builder import GraphBuilder
from wengert.jacobians.chunking import DEFAULT_BUDGET
from wengert.errors import InvalidRequest, InvalidTensor
from wengert.ir.graph import Graph, TensorType
from wengert.autodiff.hessian import HessianResult, hessian, hvp
from wengert.lru import LRU
from wengert.jacobians.sweeps import MODES, JacobianResult, Sweeps, sweep  # noqa: F401 - MODES re-exported
from wengert.execution.plan import Check, Plan

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


class Engine:
    """Evaluates graphs and their derivatives with the ops of `registry`."""

    def __init__(self, registry=None, cache_size: int = 512, memory_budget: int = DEFAULT_BUDGET):
        if registry is None:
            from wengert.plugins.registry import default_registry

            registry = default_registry()
        self.registry = registry
        self.memory_budget = memory_budget  # bytes one Jacobian or Hessian request may use
        self._cache = LRU(cache_size)

    def cached(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """`make()`, computed once per `key`: for structure found in a graph (sparsity, ...)."""
        return self._cache.get_or_make(key, make)

    # -- building blocks -----------------------------------------------------------------
    def derivative_graph(self, graph: Graph, kind: str, wrt: Sequence[str] | None = None, *,
                         seeds: Sequence[str] | None = None, intermediates: bool = False) -> Graph:
        """The JVP (`kind="jvp"`), VJP (`"vjp"`) or gradient (`"gradient"`: the VJP graph of
        scalar `seeds` with cotangent 1) graph of `graph`, cached."""
        wrt = tuple(check_wrt(graph, wrt))
        if kind == "jvp":
            if seeds:
                raise InvalidRequest("a JVP graph has tangents of every output: name no seeds")
            key = (graph, "jvp", wrt, intermediates)
            return self._cache.get_or_make(key, lambda: jvp_graph(graph, wrt, intermediates=intermediates,
                                                          registry=self.registry))
        if kind in ("vjp", "gradient"):
            seeds = tuple(check_outputs(graph, seeds))
            if kind == "gradient" and len(seeds) != 1:
                raise InvalidRequest("a gradient graph is of one scalar output: name it")
            key = (graph, kind, wrt, seeds, intermediates)
            return self._cache.get_or_make(key, lambda: vjp_graph(graph, wrt, seeds=seeds,
                                                          intermediates=intermediates,
                                                          unit_seeds=kind == "gradient",
                                                          registry=self.registry))
        raise InvalidRequest(f"unknown derivative kind {kind!r} (jvp, vjp or gradient)")

    def plan(self, graph: Graph, batched: frozenset[str] = frozenset(), keep_all: bool = False) -> Plan:
        return self._cache.get_or_make((graph, "plan", batched, keep_all),
                               lambda: Plan(graph, self.registry, batched, keep_all=keep_all))

    def specialize(self, graph: Graph, inputs: Mapping[str, np.ndarray]) -> Graph:
        """`graph` with its open (-1) dimensions fixed by the shapes of `inputs`, which must all
        fit it: everything planned from the result (sparsity patterns, chunks) may trust its
        types."""
        shapes = []
        for name, t in graph.inputs:
            array = inputs.get(name)
            if array is None:
                raise InvalidRequest(f"missing input {name!r} ({t})")
            if not t.accepts(array):
                raise InvalidTensor(f"input {name!r} must be {t}, got {TensorType.of(array)}")
            shapes.append(TensorType(t.dtype, array.shape))
        if all(t.is_concrete for _, t in graph.inputs):
            return graph
        key = (graph, "specialize", tuple(shapes))
        return self._cache.get_or_make(key, lambda: _rebuild(graph, shapes, self.registry))

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
                 check: Check | None = None, format: str = "dense") -> JacobianResult:
        """Every block d output / d input, shaped out_shape + in_shape ("sparse": COO blocks).
        Directions are basis vectors, or one per colour when the sparsity pattern allows
        (see `wengert.jacobians.sweeps`); "auto" picks the mode needing fewer sweeps."""
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        return sweep(self, graph, inputs, wrt, outputs, mode, hold=format, check=check).collect(format)

    def jacobian_stream(self, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None = None,
                        outputs: Sequence[str] | None = None, mode: str = "auto",
                        check: Check | None = None, max_chunk: int | None = None) -> Sweeps:
        """The Jacobian as pieces to hand out one by one (results larger than memory or a
        message), in chunks of at most `max_chunk` directions."""
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        return sweep(self, graph, inputs, wrt, outputs, mode, hold=None, max_chunk=max_chunk, check=check)

    def hessian(self, graph: Graph, inputs: Mapping[str, Any], output: str | None = None,
                wrt: Sequence[str] | None = None, format: str = "dense",
                check: Check | None = None) -> HessianResult:
        """The Hessian of scalar `output`: blocks (a, b) shaped a's shape + b's shape."""
        return hessian(self, graph, _arrays(inputs), output, wrt, format, check)

    def hvp(self, graph: Graph, inputs: Mapping[str, Any], directions: Mapping[str, Any],
            output: str | None = None, *, batched: bool = False, check: Check | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(value, gradient, Hessian-vector products) of scalar `output` along `directions`
        (input name -> direction, a leading batch axis when `batched`)."""
        return hvp(self, graph, _arrays(inputs), _arrays(directions), output,
                                batched, check)

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
