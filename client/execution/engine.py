"""The in-process differentiation core: values, JVPs, VJPs, Jacobians and traces of graphs.

The server serves exactly this, and `Client.local()` calls it directly. Every request is
first *prepared*: its inputs are checked against the graph, the derivative graphs and plans it
needs are built (or found in the cache), and its `Price` is computed from their types
(`wengert.execution.cost`). The engine's `limits` admit or refuse that price before anything
large is allocated; then the request runs. Derivative graphs, plans and their profiles are
cached per graph, so a repeated request only runs NumPy.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from wengert.autodiff.hessian import HessianResult, prepare_hessian, prepare_hvp
from wengert.autodiff.transform import (COTANGENT, TANGENT, check_outputs, check_wrt, jvp_graph,
                                        prefix_for, vjp_graph)
from wengert.errors import InvalidRequest
from wengert.execution.call import Call
from wengert.execution.cost import Again, Limits, Prepared, Price, Profile, Run, nbytes, profile
from wengert.execution.plan import Check, Plan, check_feeds, check_tensors
from wengert.expectations.estimate import prepare_expectation
from wengert.ir.builder import GraphBuilder, collector_paused
from wengert.ir.graph import Graph, Node, TensorType
from wengert.jacobians.chunking import DEFAULT_BUDGET
from wengert.jacobians.sweeps import (MODES, PIECE_BYTES, JacobianResult, SparseBlock,  # noqa: F401
                                      Sweeps, plan_sweep, sweep)
from wengert.loops.checkpointing import Checkpoint, fastest_fitting, with_policy
from wengert.lru import LRU
from wengert.optim.steepest import prepare_minimize

DEFAULT_CACHE_BYTES = 512 << 20  # derivative graphs, plans and patterns kept for repeated requests
STREAM_HINT = "ask for it in pieces (JacobianStream, or stream=True in the SDK)"
SPARSE_HINT = "or for its structural nonzeros only (format=SPARSE)"


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
    """Evaluates graphs and their derivatives with the ops of `registry`, within `limits`
    (default: none). A Jacobian's sweeps are chunked to fit `limits.memory`, or 1 GiB. The
    caches keep at most `cache_size` entries and `cache_bytes` of derivative graphs, plans and
    patterns; `response_copies` is how often a response is held while it is sent (a server: 3,
    the arrays, their messages and the serialized bytes). `checkpoint` is how the reverse
    sweeps of loops keep their states in the derivative graphs the engine builds (a request
    brings its own: see `prepare`)."""

    def __init__(self, registry=None, cache_size: int = 512, limits: Limits | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, response_copies: int = 1,
                 checkpoint: Checkpoint = Checkpoint("all")):
        if registry is None:
            from wengert.plugins.registry import default_registry

            registry = default_registry()
        self.registry = registry
        self.checkpoint = checkpoint
        self.limits = limits or Limits()
        self.memory_budget = self.limits.memory or DEFAULT_BUDGET  # bytes of a sweep
        self.response_copies = response_copies  # how often a response is held while it is sent
        self._cache = LRU(cache_size, cache_bytes, lambda key, value: footprint(key) + footprint(value))

    def using(self, checkpoint: Checkpoint) -> Engine:
        """This engine (its caches and limits) building derivative graphs with `checkpoint`."""
        if checkpoint == self.checkpoint:
            return self
        engine = copy.copy(self)
        engine.checkpoint = checkpoint
        return engine

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
            policy = self.checkpoint if self.checkpoint.policy != "auto" else Checkpoint("all")
            key = (graph, kind, wrt, seeds, intermediates, policy)
            return self._cache.get_or_make(key, lambda: with_policy(
                vjp_graph(graph, wrt, seeds=seeds, intermediates=intermediates, unit_seeds=kind == "gradient",
                          registry=self.registry), policy))
        raise InvalidRequest(f"unknown derivative kind {kind!r} (jvp, vjp or gradient)")

    def plan(self, graph: Graph, batched: frozenset[str] = frozenset(), keep_all: bool = False) -> Plan:
        return self._cache.get_or_make((graph, "plan", batched, keep_all),
                                       lambda: Plan(graph, self.registry, batched, keep_all=keep_all))

    def profile(self, plan: Plan) -> Profile:
        """`plan`'s costs step by step (see `wengert.execution.cost`), cached with it."""
        return self._cache.get_or_make((plan, "profile"), lambda: profile(plan, self.registry))

    def specialize(self, graph: Graph, inputs: Mapping[str, np.ndarray],
                   batched: frozenset[str] = frozenset()) -> Graph:
        """`graph` with its open (-1) dimensions fixed by the shapes of `inputs`, which are
        checked against it first (names, dtypes, shapes; those in `batched` after their
        leading batch axis)."""
        check_feeds(graph, inputs, batched)
        if all(t.is_concrete for _, t in graph.inputs):
            return graph
        shapes = tuple(TensorType(t.dtype, inputs[name].shape[name in batched:]) for name, t in graph.inputs)
        return self._cache.get_or_make((graph, "specialize", shapes),
                                       lambda: _rebuild(graph, shapes, self.registry))

    # -- running prepared requests ---------------------------------------------------------
    def run(self, prepared: Prepared) -> Any:
        """Admit `prepared`'s price within the limits (LimitExceeded otherwise), then run it."""
        self.limits.admit(prepared.price)
        return prepared.run()

    def priced(self, key: Hashable, make: Callable[[], Price]) -> Price:
        """The price `make()` builds, with this engine's response copies, cached under `key`
        (the plans and sizes it is made of), so a repeated request pays for pricing once."""
        return self._cache.get_or_make((key, "price"), lambda: dataclasses.replace(
            make(), copies=self.response_copies))

    def prepare(self, call: Call, check: Check | None = None) -> Prepared:
        """`call` (one SDK method call or RPC) checked, priced and ready to run, its loops'
        reverse sweeps checkpointed per `call.checkpoint` (auto: the fastest policy whose price
        fits the memory limit, see `wengert.loops.checkpointing.fastest_fitting`). Graphs,
        plans and profiles are built with the garbage collector paused (see
        `wengert.ir.builder.collector_paused`), and building them spends the work limit (see
        `Limits.recording`)."""
        shape = _request_shape(call)
        if shape is not None:
            again = self._cache.get(shape)
            if again is not None:  # the lean path: a request of this shape was prepared before
                return again(_arrays(call.inputs), _arrays(_seeds(call)), check)
        with collector_paused(), self.limits.recording():
            if call.checkpoint.policy != "auto":
                prepared = self.using(call.checkpoint)._prepare(call, check)
            else:
                prepared = fastest_fitting(lambda policy: self.using(policy)._prepare(call, check),
                                           self.limits.memory)
        if shape is not None and prepared.again is not None:
            self._cache.setdefault(shape, prepared.again)
        return prepared

    def _prepare(self, call: Call, check: Check | None) -> Prepared:
        match call.rpc:
            case "Evaluate":
                return self.prepare_evaluate(call.graph, call.inputs, call.outputs, check,
                                             batched=call.batched_inputs)
            case "Jvp":
                return self.prepare_jvp(call.graph, call.inputs, call.tangents, batched=call.batched,
                                        check=check)
            case "Vjp":
                return self.prepare_vjp(call.graph, call.inputs, call.cotangents, call.wrt,
                                        batched=call.batched, check=check)
            case "Jacobian":
                return self.prepare_jacobian(call.graph, call.inputs, call.wrt, call.outputs, call.mode,
                                             check, call.format)
            case "JacobianStream":
                return self.prepare_jacobian_stream(call.graph, call.inputs, call.wrt, call.outputs,
                                                    call.mode, check)
            case "Hessian":
                return self.prepare_hessian(call.graph, call.inputs, call.output or None, call.wrt,
                                            call.format, check)
            case "Hvp":
                return self.prepare_hvp(call.graph, call.inputs, call.directions, call.output or None,
                                        batched=call.batched, check=check)
            case "Trace":
                return self.prepare_trace(call.graph, call.inputs, call.mode,
                                          call.tangents or call.cotangents, check)
            case "DerivativeGraph":
                return self.prepare_derivative_graph(call.graph, call.kind, call.wrt or None,
                                                     call.outputs or None)
            case "Minimize":
                return prepare_minimize(self, call.graph, call.inputs, call.data, call.settings, check)
            case "ExpectationGradient":
                return prepare_expectation(self, call.graph, call.inputs, call.wrt or None, call.output or None,
                                           call.expectation, check)
        raise InvalidRequest(f"unknown request {call.rpc!r}")

    # -- requests: each one prepared, admitted, run ----------------------------------------
    def evaluate(self, graph: Graph, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None,
                 check: Check | None = None) -> dict[str, np.ndarray]:
        return self.run(self.prepare_evaluate(graph, inputs, outputs, check))

    def jvp(self, graph: Graph, inputs: Mapping[str, Any], tangents: Mapping[str, Any], *,
            batched: bool = False, check: Check | None = None
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(output values, output tangents) along `tangents` (input name -> direction; inputs
        not named have zero tangent). `batched`: each tangent has a leading batch axis."""
        return self.run(self.prepare_jvp(graph, inputs, tangents, batched=batched, check=check))

    def vjp(self, graph: Graph, inputs: Mapping[str, Any], cotangents: Mapping[str, Any],
            wrt: Sequence[str] | None = None, *, batched: bool = False, check: Check | None = None
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(output values, cotangents of the `wrt` inputs) for output `cotangents` (outputs not
        named have zero cotangent). `batched`: each cotangent has a leading batch axis."""
        return self.run(self.prepare_vjp(graph, inputs, cotangents, wrt, batched=batched, check=check))

    def jacobian(self, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None = None,
                 outputs: Sequence[str] | None = None, mode: str = "auto",
                 check: Check | None = None, format: str = "dense") -> JacobianResult:
        """Every block d output / d input, shaped out_shape + in_shape ("sparse": COO blocks).
        Directions are basis vectors, or one per colour when the sparsity pattern allows
        (see `wengert.jacobians.sweeps`); "auto" picks the mode needing fewer sweeps."""
        return self.run(self.prepare_jacobian(graph, inputs, wrt, outputs, mode, check, format))

    def jacobian_stream(self, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None = None,
                        outputs: Sequence[str] | None = None, mode: str = "auto",
                        check: Check | None = None, max_chunk: int | None = None) -> Sweeps:
        """The Jacobian as pieces to hand out one by one (results larger than memory or a
        message), in chunks of at most `max_chunk` directions."""
        return self.run(self.prepare_jacobian_stream(graph, inputs, wrt, outputs, mode, check, max_chunk))

    def hessian(self, graph: Graph, inputs: Mapping[str, Any], output: str | None = None,
                wrt: Sequence[str] | None = None, format: str = "dense",
                check: Check | None = None) -> HessianResult:
        """The Hessian of scalar `output`: blocks (a, b) shaped a's shape + b's shape."""
        return self.run(self.prepare_hessian(graph, inputs, output, wrt, format, check))

    def hvp(self, graph: Graph, inputs: Mapping[str, Any], directions: Mapping[str, Any],
            output: str | None = None, *, batched: bool = False, check: Check | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(value, gradient, Hessian-vector products) of scalar `output` along `directions`
        (input name -> direction, a leading batch axis when `batched`)."""
        return self.run(self.prepare_hvp(graph, inputs, directions, output, batched=batched, check=check))

    def trace(self, graph: Graph, inputs: Mapping[str, Any], mode: str = "none",
              seeds: Mapping[str, Any] | None = None, check: Check | None = None) -> list[TraceRow]:
        """The evaluation trace (Wengert list) with every value, and in "forward" mode each
        value's tangent along `seeds` (input directions), in "reverse" mode each value's adjoint
        for `seeds` (output cotangents; default 1 for a single scalar output)."""
        return self.run(self.prepare_trace(graph, inputs, mode, seeds, check))

    def cost(self, call: Call) -> Price:
        """What `call` would cost, without running it (and whether or not it is admitted)."""
        return self.prepare(call).price

    # -- preparing ---------------------------------------------------------------------------
    def prepare_evaluate(self, graph: Graph, inputs: Mapping[str, Any], outputs: Sequence[str] | None = None,
                         check: Check | None = None, batched: Sequence[str] = ()) -> Prepared:
        """The outputs' values; the inputs named in `batched` carry a leading batch axis of
        one size B, and then so does every output (one that does not depend on them is
        broadcast along it): the graph evaluated at B points in one vectorized sweep."""
        inputs, batched = _arrays(inputs), frozenset(batched)
        _check_names(dict.fromkeys(batched), graph.input_names, "batch axis on")
        graph = self.specialize(graph, inputs, batched)
        names = check_outputs(graph, outputs)
        plan = self.plan(graph, batched)
        batch = check_feeds(graph, inputs, batched) if batched else None
        response = _output_bytes(graph, names) * (batch or 1)
        price = self.priced((plan, tuple(names), batch), lambda: Price(
            (Run("the graph", self.profile(plan), batch or 1),), response))
        outs = dict(plan.graph.outputs)
        broadcast = {name for name in names if batch is not None and not plan.is_batched[outs[name]]}

        def runner(inputs, seeds, check):
            def run():
                values = plan.run(inputs, check)  # checks the inputs
                if not broadcast:
                    return {name: values[name] for name in names}
                return {name: np.broadcast_to(values[name], (batch,) + values[name].shape) if name in broadcast
                        else values[name] for name in names}
            return run
        return Again(price, runner)(inputs, {}, check)

    def prepare_jvp(self, graph: Graph, inputs: Mapping[str, Any], tangents: Mapping[str, Any], *,
                    batched: bool = False, check: Check | None = None) -> Prepared:
        inputs, tangents = _arrays(inputs), _arrays(tangents)
        graph = self.specialize(graph, inputs)
        _check_names(tangents, graph.input_names, "tangent for")
        wrt = [name for name in graph.input_names if name in tangents]
        if not wrt:
            raise InvalidRequest("give a tangent for at least one input")
        dgraph = self.derivative_graph(graph, "jvp", wrt)
        prefix = prefix_for(graph, TANGENT)
        check_tensors(dict(graph.inputs), tangents, set(tangents) if batched else (), "tangent for input",
                      "tangents")
        return self._derivative_run(graph, dgraph, inputs, tangents, prefix, batched, "JVP graph",
                                    graph.output_names, check)

    def prepare_vjp(self, graph: Graph, inputs: Mapping[str, Any], cotangents: Mapping[str, Any],
                    wrt: Sequence[str] | None = None, *, batched: bool = False,
                    check: Check | None = None) -> Prepared:
        inputs, cotangents = _arrays(inputs), _arrays(cotangents)
        graph = self.specialize(graph, inputs)
        _check_names(cotangents, graph.output_names, "cotangent for")
        if not cotangents:
            raise InvalidRequest("give a cotangent for at least one output")
        seeds = [name for name in graph.output_names if name in cotangents]
        dgraph = self.derivative_graph(graph, "vjp", wrt, seeds=seeds)
        prefix = prefix_for(graph, COTANGENT)
        check_tensors({n: graph.output_type(n) for n in seeds}, cotangents, set(cotangents) if batched else (),
                      "cotangent for output", "cotangents")
        return self._derivative_run(graph, dgraph, inputs, cotangents, prefix, batched, "VJP graph",
                                    check_wrt(graph, wrt), check)

    def _derivative_run(self, graph: Graph, dgraph: Graph, inputs, seeds, prefix: str, batched: bool,
                        what: str, derived: Sequence[str], check) -> Prepared:
        """A JVP or VJP run: `seeds` (tangents or cotangents) fed under `prefix`; the response
        holds the outputs and the derivatives of `derived`, each with the batch axis."""
        feeds = {**inputs, **{prefix + k: v for k, v in seeds.items()}}
        plan = self.plan(dgraph, frozenset(prefix + k for k in seeds) if batched else frozenset())
        plan_batch = check_feeds(dgraph, feeds, plan.batched_inputs)
        batch = plan_batch or 1
        response = _output_bytes(graph, graph.output_names) + batch * sum(
            nbytes(dgraph.output_type(prefix + name)) for name in derived)
        price = self.priced((plan, batch, response), lambda: Price((Run(what, self.profile(plan), batch),),
                                                                  response))
        # The plan's inputs in order, each from the inputs (False) or the seeds (True) by name.
        sources = [(True, name[len(prefix):]) if name.startswith(prefix) and name[len(prefix):] in seeds
                   else (False, name) for name in dgraph.input_names]
        split = _splitter(plan, graph.output_names, prefix, batched, batch)

        def runner(inputs, seeds, check):
            # Checked above, or by the request's shape on the lean path: the same names, dtypes and shapes.
            arrays = [seeds[name] if seed else inputs[name] for seed, name in sources]
            return lambda: split(plan.run_arrays(arrays, plan_batch, check))
        return Again(price, runner)(inputs, seeds, check)

    def prepare_jacobian(self, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None = None,
                         outputs: Sequence[str] | None = None, mode: str = "auto",
                         check: Check | None = None, format: str = "dense") -> Prepared:
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        planned = plan_sweep(self, graph, wrt, outputs, mode, hold=format)
        response = _output_bytes(graph, graph.output_names) + planned.held
        hint = STREAM_HINT + ("" if format == "sparse" else ", " + SPARSE_HINT)
        price = self.priced((planned, format), lambda: Price(planned.runs, response, planned.held, hint))

        def runner(inputs, seeds, check):
            check_feeds(graph, inputs)
            return lambda: sweep(self, graph, inputs, planned, check).collect(format)
        return Again(price, runner)(inputs, {}, check)

    def prepare_jacobian_stream(self, graph: Graph, inputs: Mapping[str, Any],
                                wrt: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                                mode: str = "auto", check: Check | None = None,
                                max_chunk: int | None = None) -> Prepared:
        """Pieces of at most `max_chunk` directions (default: a slab of them fits in one
        streamed piece, PIECE_BYTES)."""
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        if max_chunk is None:
            longest = max([t.size for _, t in graph.inputs]
                          + [graph.output_type(n).size for n in graph.output_names] + [1])
            max_chunk = max(1, PIECE_BYTES // (8 * longest))
        planned = plan_sweep(self, graph, wrt, outputs, mode, hold=None, max_chunk=max_chunk)
        price = self.priced(planned, lambda: Price(planned.runs, _output_bytes(graph, graph.output_names)))
        return Prepared(price, lambda: sweep(self, graph, inputs, planned, check))

    def prepare_hessian(self, graph: Graph, inputs: Mapping[str, Any], output: str | None = None,
                        wrt: Sequence[str] | None = None, format: str = "dense",
                        check: Check | None = None) -> Prepared:
        inputs = _arrays(inputs)
        graph = self.specialize(graph, inputs)
        return prepare_hessian(self, graph, inputs, output, wrt, format, check)

    def prepare_hvp(self, graph: Graph, inputs: Mapping[str, Any], directions: Mapping[str, Any],
                    output: str | None = None, *, batched: bool = False,
                    check: Check | None = None) -> Prepared:
        inputs, directions = _arrays(inputs), _arrays(directions)
        graph = self.specialize(graph, inputs)
        return prepare_hvp(self, graph, inputs, directions, output, batched, check)

    def prepare_trace(self, graph: Graph, inputs: Mapping[str, Any], mode: str = "none",
                      seeds: Mapping[str, Any] | None = None, check: Check | None = None) -> Prepared:
        inputs, seeds = _arrays(inputs), _arrays(seeds or {})
        graph = self.specialize(graph, inputs)
        plan = self.plan(graph, keep_all=True)
        runs = [Run("the graph, keeping every value", self.profile(plan))]
        response = sum(nbytes(t) for t in graph.types.values())
        derivative = None  # (plan, feeds, prefix) of the tangents or adjoints, if asked
        if mode == "forward":
            _check_names(seeds, graph.input_names, "tangent for")
            dgraph = self.derivative_graph(graph, "jvp", list(seeds) or None, intermediates=True)
            prefix = prefix_for(graph, TANGENT)
            derivative = (self.plan(dgraph), {**inputs, **{prefix + k: v for k, v in seeds.items()}}, prefix)
        elif mode == "reverse":
            if not seeds:
                if len(graph.outputs) != 1 or graph.output_type(graph.output_names[0]).size != 1:
                    raise InvalidRequest("give output cotangents unless the graph has one scalar output")
                t = graph.output_type(graph.output_names[0])
                seeds = {graph.output_names[0]: np.ones(t.shape, t.dtype)}
            _check_names(seeds, graph.output_names, "cotangent for")
            dgraph = self.derivative_graph(graph, "vjp", None, seeds=list(seeds), intermediates=True)
            prefix = prefix_for(graph, COTANGENT)
            derivative = (self.plan(dgraph), {**inputs, **{prefix + k: v for k, v in seeds.items()}}, prefix)
        elif mode != "none":
            raise InvalidRequest(f"unknown trace mode {mode!r} (none, forward or reverse)")
        if derivative is not None:
            dplan, feeds, prefix = derivative
            check_feeds(dplan.graph, feeds)
            runs.append(Run(f"the {mode} derivative of every value", self.profile(dplan)))
            response += sum(nbytes(dplan.graph.output_type(n)) for n in dplan.graph.output_names
                            if n.startswith(prefix))
        # The rows hold every value while the derivatives are computed.
        held = sum(nbytes(t) for t in graph.types.values()) if derivative is not None else 0
        price = self.priced((plan, derivative and derivative[0], response),
                            lambda: Price(tuple(runs), response, held))

        def run() -> list[TraceRow]:
            values = plan.run(inputs, check, keep_all=True)
            derivatives = {}
            if derivative is not None:
                dplan, feeds, prefix = derivative
                derivatives = _strip(dplan.run(feeds, check), prefix)
            n = len(graph.inputs)
            rows = [TraceRow(f"v{i - n + 1}", name, "input", (), {}, values[name], derivatives.get(name))
                    for i, name in enumerate(graph.input_names)]
            rows += [TraceRow(f"v{i + 1}", node.id, node.op, node.inputs, node.attr_dict,
                              values[node.id], derivatives.get(node.id))
                     for i, node in enumerate(graph.nodes)]
            return rows
        return Prepared(price, run)

    def prepare_derivative_graph(self, graph: Graph, kind: str, wrt: Sequence[str] | None = None,
                                 seeds: Sequence[str] | None = None) -> Prepared:
        """The derivative graph is built while preparing (graph work is bounded by the node
        limit); the response is that graph, constants included."""
        derivative = self.derivative_graph(graph, kind, wrt, seeds=seeds)
        price = self.priced(derivative, lambda: Price((), derivative.constant_bytes + 64 * len(derivative.nodes)))
        return Prepared(price, lambda: derivative)


def footprint(value: Any, depth: int = 2) -> int:
    """Bytes a cached entry holds, roughly: a graph's or plan's tensors and nodes, the arrays
    of a record (a sparsity pattern, a colouring, a profile) and of the records it holds, what a
    closure holds (a lean path's plans stay alive with it, however long ago their own entries
    were used), and what a key tuple holds (a graph or plan it names stays alive with the
    entry)."""
    if isinstance(value, tuple):
        return sum(footprint(v, depth) for v in value)
    if isinstance(value, Graph):
        return value.constant_bytes + 512 * len(value.nodes)
    if isinstance(value, Node):  # a graph's node (a profile names them): counted with its graph
        return 64
    if isinstance(value, Plan):
        return footprint(value.graph) + 256 * len(value.steps)
    if isinstance(value, np.ndarray):
        return value.nbytes
    if depth and isinstance(value, Profile):  # its arrays, and the nodes it names (64 each, as below)
        return 64 + sum(a.nbytes for a in (value.fixed, value.per_direction, value.work_fixed,
                                           value.work_per_direction)) + 64 * len(value.nodes)
    if depth and isinstance(value, types.FunctionType):  # a lean path's runner: the plans it holds
        return 64 + sum(footprint(cell.cell_contents, depth - 1) for cell in value.__closure__ or ())
    if depth and hasattr(value, "__dict__"):
        return 64 + sum(footprint(v, depth - 1) for v in vars(value).values())
    return 64


def _rebuild(graph: Graph, input_types: tuple[TensorType, ...], registry) -> Graph:
    builder = GraphBuilder(registry)
    env = {name: builder.input(name, t) for (name, _), t in zip(graph.inputs, input_types)}
    for node in graph.nodes:
        env[node.id] = builder.add(node.op, [env[x] for x in node.inputs], node.attrs, node.id)
    return builder.build({name: env[vid] for name, vid in graph.outputs})


# The requests with a lean path, and the field holding their seeds ("": none).
_SEEDS = {"Evaluate": "", "Jvp": "tangents", "Vjp": "cotangents", "Jacobian": "", "Hessian": ""}


def _seeds(call: Call) -> dict[str, Any]:
    field = _SEEDS[call.rpc]
    return getattr(call, field) if field else {}


def _request_shape(call: Call) -> tuple | None:
    """What preparing a request with a lean path depends on besides its values (the names,
    dtypes and shapes of its arrays, inputs then seeds), as a cache key; None for other
    requests, or arrays not yet arrays."""
    field = _SEEDS.get(call.rpc)
    if field is None:
        return None
    checkpoint = call.checkpoint
    key = ["lean", call.rpc, call.graph, call.outputs, call.wrt, call.batched, call.batched_inputs, call.mode,
           call.format, call.output, checkpoint.policy, checkpoint.every, checkpoint.snapshots, len(call.inputs)]
    for given in (call.inputs, getattr(call, field) if field else {}):
        for name, a in given.items():
            if type(a) is not np.ndarray and not isinstance(a, np.generic):
                return None
            key += (name, a.dtype, a.shape)
    return tuple(key)


def _arrays(values: Mapping[str, Any]) -> Mapping[str, np.ndarray]:
    """`values` as arrays: `values` itself when they are already (nothing changes a request's
    mappings), else a dict of them."""
    for v in values.values():
        if type(v) is not np.ndarray:
            return {name: np.asarray(v) for name, v in values.items()}
    return values


def _output_bytes(graph: Graph, names: Sequence[str]) -> int:
    return sum(nbytes(graph.output_type(name)) for name in names)


def _check_names(given: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = [name for name in given if name not in allowed]
    if unknown:
        raise InvalidRequest(f"{what} {unknown[0]!r}, which the graph does not have "
                             f"(it has {', '.join(map(repr, allowed))})")


def _splitter(plan: Plan, names: Sequence[str], prefix: str, batched: bool, batch: int
              ) -> Callable[[Sequence[np.ndarray]], tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """What separates the outputs of a JVP or VJP plan (in order) into the primal outputs
    `names` and the derivatives (those named with `prefix`, by their names without it); in a
    batched run, a derivative that does not depend on the directions is broadcast along the
    batch axis, so that every derivative has it."""
    position = {name: i for i, name in enumerate(plan.graph.output_names)}
    primal = [(name, position[name]) for name in names]
    derivatives = [(name[len(prefix):], position[name]) for name in plan.graph.output_names
                   if name.startswith(prefix)]
    broadcast = [(short, i) for short, i in derivatives
                 if batched and not plan.is_batched[plan.graph.outputs[i][1]]]

    def split(outs):
        values, grads = {name: outs[i] for name, i in primal}, {short: outs[i] for short, i in derivatives}
        for short, i in broadcast:
            grads[short] = np.broadcast_to(outs[i], (batch,) + outs[i].shape)
        return values, grads
    return split


def _strip(out: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in out.items() if k.startswith(prefix)}
