"""The SDK's methods, written once for every client (local or remote, sync or async).

Each method binds its arguments to the graph, describes the request as a transport-neutral
`Call`, and hands it to `_run` with a `finish` function that packs the transport's raw result
into what the caller gets back. A sync client's `_run` returns that result; an async client's
returns a coroutine of it, so the same method body serves `Client` and `AsyncClient`.

How arguments and results are shaped (the same for every method):

* `f` is a `wg.Graph`, or a Python function traced on the fly from the given arrays.
* Inputs are positional, in graph-input order, or one dict by input name. Python numbers and
  lists take the declared dtype of their input; NumPy arrays are sent as they are.
* Output-side results (values, JVP tangents) are the array when the graph has one output (or
  `outputs="name"`), otherwise a dict by output name.
* Input-side results (VJP cotangents, gradients, Jacobian blocks) follow how the inputs were
  chosen, as in JAX: `argnums=0` (the default) gives one array, `argnums=(0, 1)` a tuple,
  `wrt="x"` one array, `wrt=["x", "b"]` a dict by input name.
* A Jacobian block is shaped `out_shape + in_shape`. With several outputs the result is a dict
  by output name of the input-side results above.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from wengert.ir.builder import trace as trace_graph
from wengert.execution.call import Call
from wengert.execution.cost import Limits, Quote
from wengert.execution.engine import MODES
from wengert.errors import InvalidRequest
from wengert.expectations.settings import Expectation
from wengert.ir.graph import Graph
from wengert.jacobians.sweeps import FORMATS
from wengert.plugins.opdef import Attr
from wengert.plugins.sampling import key_array
from wengert.server_ops import Ops, ServerOps
from wengert.tables import Trace

TRACE_MODES = ("none", "forward", "reverse")
PRICED = ("evaluate", "jvp", "vjp", "grad", "value_and_grad", "jacobian", "hessian", "hvp", "trace",
          "derivative_graph", "expectation_grad")
DERIVATIVE_KINDS = ("jvp", "vjp", "gradient")


@dataclass(frozen=True)
class OpInfo:
    """One op of the catalogue `list_ops` returns. `arity` is None for a variadic op. `schema`
    holds the attributes as `Attr` records (kind, default, doc), so that a client without the
    op's plugin can still check and normalize a node's attributes."""

    name: str
    plugin: str
    version: str
    arity: int | None
    attrs: tuple[str, ...]
    doc: str
    has_jvp: bool
    has_vjp: bool
    schema: tuple[Attr, ...] = ()


@dataclass(frozen=True)
class Selection:
    """Names picked from a graph's inputs or outputs, and the form the caller gets them in."""

    names: tuple[str, ...]
    form: str  # "one", "tuple" or "dict"

    def pack(self, arrays: Mapping[str, Any]) -> Any:
        if self.form == "one":
            return arrays[self.names[0]]
        if self.form == "tuple":
            return tuple(arrays[n] for n in self.names)
        return {n: arrays[n] for n in self.names}


class ClientAPI:
    """The methods every client offers. A subclass names its two transports (callables taking
    a `Call`, with `close()`) and defines `_run(call, finish)`.

    `target`: "host:port", "dns:///name:port", ... `timeout`: seconds per call, retries
    included. `credentials`: `grpc.ChannelCredentials` for TLS. `token`: sent as a bearer
    token. `retries`: how often UNAVAILABLE is retried. `load_balancing="round_robin"` spreads
    calls over every address the target resolves to (e.g. a headless Kubernetes service).
    `options`: extra gRPC channel options. `registry`: the ops installed here that functions
    are traced with (default: the plugins installed here); the server's other ops come on top
    of them, typed by the server (see `registry` and `ops`).
    """

    def __init__(self, target: str, *, timeout: float | None = None, credentials=None,
                 token: str | None = None, retries: int = 5,
                 options: Sequence[tuple[str, Any]] = (), load_balancing: str | None = None,
                 registry=None):
        settings = dict(timeout=timeout, credentials=credentials, token=token, retries=retries,
                        options=options, load_balancing=load_balancing)
        self._transport = self.remote_transport.connect(target, **settings)
        ask = self._blocking_transport(target, settings)
        self._registry = ServerOps(target, registry, list_ops=lambda: ask(Call("ListOps")),
                                   infer_types=lambda sigs: ask(Call("InferTypes", signatures=tuple(sigs))))

    remote_transport: Any
    local_transport: Any
    _pricing = False  # set on the copy `cost` makes: `_run` then prices the call instead

    @classmethod
    def local(cls, registry=None, limits: Limits | None = None):
        """The same API on an in-process engine (no network), with `registry`'s ops, admitting
        requests within `limits` as a server does (default: none; `cost` prices either way)."""
        client = cls.__new__(cls)
        client._transport = cls.local_transport(registry, limits)
        client._registry = registry
        return client

    def _run(self, call: Call, finish: Callable[[Any], Any]) -> Any:
        """Send `call` and `finish` its result, or, when pricing, return its `Quote`."""
        raise NotImplementedError

    def cost(self, f, *args, kind: str = "evaluate", **options) -> Quote:
        """What `getattr(client, kind)(f, *args, **options)` would cost, priced without running
        it: peak memory, work and response size, the plans it runs, and whether the limits (the
        server's, or those given to `Client.local`) admit it. `kind` is one of PRICED."""
        if kind not in PRICED:
            raise InvalidRequest(f"cannot price {kind!r}; price one of {', '.join(PRICED)}")
        pricing = copy.copy(self)
        pricing._pricing = True
        return getattr(pricing, kind)(f, *args, **options)

    def _blocking_transport(self, target: str, settings: dict) -> Callable[[Call], Any]:
        """A transport whose calls return their results: what types nodes while tracing."""
        return self._transport

    @property
    def registry(self):
        """The ops functions are traced with: the plugins installed here, then (remote) the
        server's other ops, typed by the server (`wengert.server_ops`). Pass it to `wg.trace` or
        `wg.load` to build or read a graph for this client outside its methods."""
        if self._registry is None:
            from wengert.plugins.registry import default_registry

            return default_registry()
        return self._registry

    @property
    def ops(self) -> Ops:
        """Every op of `registry` as a function, the server's included:
        `client.ops.acme_softsign(x, sharpness=2.0)` in a function this client traces."""
        return Ops(self.registry)

    def evaluate(self, f, *args, outputs: str | Sequence[str] | None = None):
        """The value(s) of `f` at the inputs `args`."""
        graph, inputs = self._bind(f, _arguments(args))
        outs = _select_outputs(graph, outputs)
        return self._run(Call("Evaluate", graph, inputs, outs.names), outs.pack)

    def jvp(self, f, primals, tangents, *, outputs: str | Sequence[str] | None = None,
            batched: bool = False):
        """Forward mode, like `jax.jvp`: `(values, J·tangents)`. `primals` is a tuple or a dict
        of inputs; `tangents` has the same form (None or a missing name: zero tangent). With
        `batched`, each tangent has a leading axis of B directions, and so has each result."""
        graph, inputs = self._bind(f, primals)
        outs = _select_outputs(graph, outputs)
        call = Call("Jvp", graph, inputs, outs.names, tangents=_by_input(graph, tangents, primals),
                    batched=batched)
        return self._run(call, lambda r: (outs.pack(r[0]), outs.pack(r[1])))

    def vjp(self, f, primals, cotangents, *, argnums: int | Sequence[int] | None = None,
            wrt: str | Sequence[str] | None = None, batched: bool = False):
        """Reverse mode: `(values, cotangents·J)` for the inputs chosen by `argnums` or `wrt`.
        `cotangents` is an array for a one-output graph, else a dict by output name (a missing
        name: zero). With `batched`, each cotangent has a leading axis of B directions."""
        graph, inputs = self._bind(f, primals)
        sel = _select_inputs(graph, argnums, wrt)
        outs = _select_outputs(graph, None)
        call = Call("Vjp", graph, inputs, cotangents=_by_output(graph, cotangents), wrt=sel.names,
                    batched=batched)
        return self._run(call, lambda r: (outs.pack(r[0]), sel.pack(r[1])))

    def jacobian(self, f, *args, argnums: int | Sequence[int] | None = None,
                 wrt: str | Sequence[str] | None = None,
                 outputs: str | Sequence[str] | None = None, mode: str = "auto",
                 format: str = "dense", stream: bool = False):
        """The Jacobian of the (float) outputs with respect to the chosen inputs, in "forward",
        "reverse" or "auto" mode (the one needing fewer sweeps; a sparse Jacobian is swept one
        colour at a time). `format="sparse"` gives COO `SparseBlock`s of the structural
        nonzeros. `stream=True` receives it in pieces (JacobianStream), for Jacobians larger
        than a message or than the server's memory budget."""
        if mode not in MODES:
            raise InvalidRequest(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        _check_format(format)
        graph, inputs = self._bind(f, _arguments(args))
        sel = _select_inputs(graph, argnums, wrt)
        floats = [n for n in graph.output_names if graph.output_type(n).is_float]
        outs = _select_outputs(graph, outputs, floats)
        call = Call("JacobianStream" if stream else "Jacobian", graph, inputs, outs.names, wrt=sel.names,
                    mode=mode, format=format)
        return self._run(call, lambda r: outs.pack(
            {o: sel.pack({i: r.blocks[(o, i)] for i in sel.names}) for o in outs.names}))

    def hessian(self, f, *args, argnums: int | Sequence[int] | None = None,
                wrt: str | Sequence[str] | None = None, output: str | None = None,
                format: str = "dense"):
        """The Hessian of a scalar float output (the only one, or `output`), forward over
        reverse. For one input, an array shaped in_shape + in_shape; for several, nested like
        `jax.hessian` (tuples for `argnums`, dicts for `wrt`). `format="sparse"`: COO blocks."""
        _check_format(format)
        graph, inputs = self._bind(f, _arguments(args))
        sel = _select_inputs(graph, argnums, wrt)
        call = Call("Hessian", graph, inputs, wrt=sel.names, output=output or "", format=format)
        return self._run(call, lambda r: sel.pack(
            {a: sel.pack({b: r.blocks[(a, b)] for b in sel.names}) for a in sel.names}))

    def hvp(self, f, primals, directions, *, output: str | None = None, batched: bool = False):
        """Hessian-vector products H·v of a scalar float output, forward over reverse.
        `directions` has the form of `primals` (None or a missing name: no direction, and no
        derivative with respect to that input); with `batched`, a leading axis of B directions.
        The result: one array when one input has a direction, else a dict by input name."""
        graph, inputs = self._bind(f, primals)
        given = _by_input(graph, directions, primals)
        sel = Selection(tuple(given), "one" if len(given) == 1 else "dict")
        call = Call("Hvp", graph, inputs, directions=given, output=output or "", batched=batched)
        return self._run(call, lambda r: sel.pack(r[2]))

    def derivative_graph(self, f, kind: str = "vjp", *args, wrt: str | Sequence[str] | None = None,
                         outputs: str | Sequence[str] | None = None) -> Graph:
        """The JVP ("jvp"), VJP ("vjp") or gradient ("gradient") graph of `f` itself, as built
        by the engine or the server: print it, save it, send it again or differentiate it once
        more. A Python function `f` is traced on `args`; `outputs` picks the seeded outputs
        (VJP) or the scalar output (gradient)."""
        if kind not in DERIVATIVE_KINDS:
            raise InvalidRequest(f"unknown derivative kind {kind!r}; use one of "
                                 f"{', '.join(DERIVATIVE_KINDS)}")
        graph = f if isinstance(f, Graph) else self._bind(f, _arguments(args))[0]
        names = () if wrt is None else (wrt,) if isinstance(wrt, str) else tuple(wrt)
        outs = () if outputs is None else (outputs,) if isinstance(outputs, str) else tuple(outputs)
        call = Call("DerivativeGraph", graph, outputs=outs, wrt=names, kind=kind, registry=self._registry)
        return self._run(call, lambda r: r)

    def value_and_grad(self, f, *args, argnums: int | Sequence[int] | None = None,
                       wrt: str | Sequence[str] | None = None):
        """`(value, gradient)` of a function with one scalar float output."""
        call, finish = self._grad(f, args, argnums, wrt)
        return self._run(call, finish)

    def grad(self, f, *args, argnums: int | Sequence[int] | None = None,
             wrt: str | Sequence[str] | None = None):
        """The gradient of a function with one scalar float output, like `jax.grad`."""
        call, finish = self._grad(f, args, argnums, wrt)
        return self._run(call, lambda r: finish(r)[1])

    def trace(self, f, *args, tangents=None, cotangents=None, mode: str | None = None) -> Trace:
        """The evaluation trace: every value in Wengert order, with tangents along `tangents`
        (forward, as in the notes' §2.4) or adjoints of `cotangents` (reverse, §2.6; default 1
        for a single scalar output). `print(result)` shows the table."""
        mode = mode or ("forward" if tangents is not None else
                        "reverse" if cotangents is not None else "none")
        if mode not in TRACE_MODES:
            raise InvalidRequest(f"unknown trace mode {mode!r}; use one of {', '.join(TRACE_MODES)}")
        if mode == "forward" and tangents is None:
            raise InvalidRequest("a forward trace needs tangents, e.g. tangents=(1.0, 0.0)")
        given = _arguments(args)
        graph, inputs = self._bind(f, given)
        seeds = {}
        if mode == "forward":
            seeds = {"tangents": _by_input(graph, tangents, given)}
        elif mode == "reverse":
            seeds = {"cotangents": _by_output(graph, cotangents) if cotangents is not None
                     else _unit_seed(graph)}
        call = Call("Trace", graph, inputs, mode=mode, **seeds)
        return self._run(call, lambda r: Trace.of(graph, mode, *r))

    def expectation_grad(self, f, params: Mapping[str, Any], data: Mapping[str, Any] | None = None, *,
                         samples: int = 1000, key: int = 0, estimator: str = "auto", baseline: str = "none",
                         decay: float = 0.9, output: str | None = None, key_input: str = "key"):
        """The gradient of E[f] over `f`'s random key, estimated from `samples` samples drawn in
        one vectorised sweep (sample i with key (`key`, i)): an `ExpectationResult` with the
        estimate of E[f] (`value`), the gradient for each input in `params` (a dict by name, like
        `gradient_error`, their standard errors) and the estimator used at each stochastic node.
        `f` draws with `wg.random` from its parameter `key_input`; `data` holds its other
        inputs, fixed. `estimator`: "auto", "pathwise", "score_function" or "enumerate";
        `baseline`: "none", "moving_average" or "leave_one_out" (see `wg.Expectation`)."""
        settings = Expectation(samples=samples, key=key, estimator=estimator, baseline=baseline, decay=decay,
                               key_input=key_input)
        graph, inputs = self._bind_stochastic(f, {**params, **(data or {})}, key_input)
        call = Call("ExpectationGradient", graph, inputs, wrt=tuple(params), output=output or "",
                    expectation=settings)
        return self._run(call, lambda r: r)

    def list_ops(self) -> list[OpInfo]:
        """The ops the engine (local) or the server (remote) can run, sorted by name."""
        return self._run(Call("ListOps"), list)

    # -- shared steps ----------------------------------------------------------------------
    def _bind(self, f, given: Mapping[str, Any] | Sequence[Any]) -> tuple[Graph, dict[str, np.ndarray]]:
        """The graph (traced if `f` is a function) and its inputs by name, as arrays."""
        if isinstance(f, Graph):
            names = f.input_names
            if not isinstance(given, Mapping):
                if len(given) != len(names):
                    raise InvalidRequest(f"the graph takes {len(names)} input(s) "
                                         f"({', '.join(names)}), got {len(given)}")
                given = dict(zip(names, given))
            declared = dict(f.inputs)
            return f, {k: _as_array(v, declared[k].dtype if k in declared else None)
                       for k, v in given.items()}
        if isinstance(given, Mapping):
            given = inspect.signature(f).bind(**given).args
        examples = [_as_array(v) for v in given]
        graph = trace_graph(f, *examples, registry=self._registry)
        return graph, dict(zip(graph.input_names, examples))

    def _bind_stochastic(self, f, given: Mapping[str, Any], key_input: str) -> tuple[Graph, dict[str, np.ndarray]]:
        """`_bind` for a stochastic function: traced with an example key for `key_input`,
        which the estimator feeds (so it is not among the inputs returned)."""
        if key_input in given:
            raise InvalidRequest(f"{key_input!r} is the key input, which the estimator feeds: leave it out "
                                 "and set the seed with key=")
        if isinstance(f, Graph):
            return self._bind(f, given)
        if key_input not in inspect.signature(f).parameters:
            raise InvalidRequest(f"{getattr(f, '__name__', f)!r} has no parameter {key_input!r} to receive the "
                                 "random key (name it with key_input)")
        graph, inputs = self._bind(f, {**given, key_input: key_array(0)})
        del inputs[key_input]
        return graph, inputs

    def _grad(self, f, args, argnums, wrt) -> tuple[Call, Callable[[Any], Any]]:
        graph, inputs = self._bind(f, _arguments(args))
        sel = _select_inputs(graph, argnums, wrt)
        seed = _unit_seed(graph)
        (name,) = seed
        call = Call("Vjp", graph, inputs, cotangents=seed, wrt=sel.names)
        return call, lambda r: (r[0][name], sel.pack(r[1]))


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise InvalidRequest(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def _arguments(args: tuple) -> Mapping[str, Any] | tuple:
    """`*args` as given: one dict means inputs by name."""
    return args[0] if len(args) == 1 and isinstance(args[0], Mapping) else args


def _as_array(value: Any, dtype: str | None = None) -> np.ndarray:
    """NumPy values as they are; Python numbers and lists in the declared dtype."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return np.asarray(value, dtype=dtype)


def _select_inputs(graph: Graph, argnums, wrt) -> Selection:
    if wrt is not None and argnums is not None:
        raise InvalidRequest("give argnums or wrt, not both")
    if wrt is not None:
        return Selection((wrt,), "one") if isinstance(wrt, str) else Selection(tuple(wrt), "dict")
    argnums = 0 if argnums is None else argnums
    numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    count = len(graph.inputs)
    bad = [i for i in numbers if not -count <= i < count]
    if bad:
        raise InvalidRequest(f"argnums {bad[0]} is out of range: the graph takes {count} input(s)")
    names = tuple(graph.input_names[i] for i in numbers)
    return Selection(names, "one" if isinstance(argnums, int) else "tuple")


def _select_outputs(graph: Graph, outputs, default: Sequence[str] | None = None) -> Selection:
    if isinstance(outputs, str):
        return Selection((outputs,), "one")
    if outputs is not None:
        return Selection(tuple(outputs), "dict")
    names = tuple(graph.output_names if default is None else default)
    return Selection(names, "one" if len(names) == 1 else "dict")


def _by_input(graph: Graph, directions, primals) -> dict[str, np.ndarray]:
    """Tangents given like the primals (a sequence aligned with them, or a dict), by input name,
    in the input's dtype; None entries are left out (zero)."""
    if isinstance(primals, Mapping) != isinstance(directions, Mapping):
        raise InvalidRequest("give tangents in the same form as the inputs (a sequence or a dict)")
    if not isinstance(directions, Mapping):
        if len(directions) != len(graph.inputs):
            raise InvalidRequest(f"give one tangent (or None) per input: the graph takes "
                                 f"{len(graph.inputs)}, got {len(directions)}")
        directions = dict(zip(graph.input_names, directions))
    declared = dict(graph.inputs)
    return {k: _as_array(v, declared[k].dtype if k in declared else None)
            for k, v in directions.items() if v is not None}


def _by_output(graph: Graph, cotangents) -> dict[str, np.ndarray]:
    """Cotangents by output name, in the output's dtype: an array means the only output's."""
    if not isinstance(cotangents, Mapping):
        if len(graph.outputs) != 1:
            raise InvalidRequest(f"the graph has {len(graph.outputs)} outputs: give cotangents "
                                 f"as a dict by output name ({', '.join(graph.output_names)})")
        cotangents = {graph.output_names[0]: cotangents}
    names = set(graph.output_names)
    return {k: _as_array(v, graph.output_type(k).dtype if k in names else None)
            for k, v in cotangents.items()}


def _unit_seed(graph: Graph) -> dict[str, np.ndarray]:
    """Cotangent 1 on the graph's only output, which must be a float scalar (a loss)."""
    types = [graph.output_type(n) for n in graph.output_names]
    if len(types) != 1 or types[0].size != 1 or not types[0].is_float:
        shown = ", ".join(f"{n}: {t}" for n, t in zip(graph.output_names, types))
        raise InvalidRequest(f"a gradient needs one scalar float output; the graph has {shown}")
    return {graph.output_names[0]: np.ones(types[0].shape, types[0].dtype)}
