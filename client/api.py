"""The SDK's methods, written once for every client (local or remote, sync or async).

Each method binds its arguments to the graph (`wengert.binding`: pytrees for a function, named
inputs for a `wg.Graph`), describes the request as a transport-neutral `Call`, and hands it to
`_run` with a `finish` function that shapes the transport's raw result into what the caller
gets back. A sync client's `_run` returns that result; an async client's returns a coroutine
of it, so the same method body serves `Client` and `AsyncClient`.

`f` is a Python function, a `wg.function`, or a `wg.Graph`. A function is traced once per
signature of its arguments and the graph kept for the next call (`wengert.tracing`), so
calling a method in a loop sends the graph once and then refers to it by id.

Results follow JAX: values and JVP tangents have the structure of the function's result;
gradients, VJP cotangents and Jacobian blocks that of the argument chosen by `argnums`
(default 0; a tuple of argnums gives a tuple); a Jacobian is the result's structure holding,
at each leaf, the argument's structure of blocks shaped `out_shape + in_shape`; a Hessian nests
the argument's structure twice, as `jax.hessian` does. `wrt=` and `outputs=` pick graph inputs
and outputs by name instead (one name: one array; a list: a dict by name). `has_aux=True` (the
function returns `(output, aux)`) adds the aux values to the result, where JAX does.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from wengert import tree
from wengert.batching import Split, axes_of
from wengert.binding import Binding, Selection
from wengert.errors import InvalidRequest
from wengert.expectations.settings import Expectation
from wengert.execution.call import Call
from wengert.execution.cost import Limits, Quote
from wengert.execution.engine import MODES
from wengert.ir.graph import Graph, TensorType, dtype_name
from wengert.jacobians.sweeps import FORMATS
from wengert.plugins.opdef import Attr
from wengert.plugins.sampling import KEY_TYPE, key_array
from wengert.server_ops import Ops, ServerOps
from wengert.tables import Trace
from wengert.tracing import as_function, leaf_array

TRACE_MODES = ("none", "forward", "reverse")
PRICED = ("evaluate", "jvp", "vjp", "grad", "value_and_grad", "jacobian", "hessian", "hvp", "trace",
          "derivative_graph", "vmap", "expectation_grad")
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
class Then:
    """A result that needs one more call: `finish(result of call)` gives it (a Hessian's aux
    values come from evaluating the function)."""

    call: Call
    finish: Callable[[Any], Any]


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
        """The value of `f` at `args`: like calling it, with the result's structure."""
        bound = self._bind(f, args)
        outs = bound.outputs_of(outputs)
        return self._run(Call("Evaluate", bound.graph, bound.inputs, outs.names), outs.pack)

    def jvp(self, f, primals, tangents, *, outputs: str | Sequence[str] | None = None,
            batched: bool = False, has_aux: bool = False):
        """Forward mode, like `jax.jvp`: `(values, J·tangents)` (and the aux values with
        `has_aux`). `primals` is a tuple of arguments (or, for a graph, a dict of inputs by
        name); `tangents` has their structure, None standing for zeros. With `batched`, each
        tangent has a leading axis of B directions, and so has each result tangent."""
        bound = self._bind(f, _primals(f, primals), has_aux)
        outs, aux = bound.outputs_of(outputs), bound.aux()
        names = outs.names + (aux.names if aux else ())
        call = Call("Jvp", bound.graph, bound.inputs, names, tangents=bound.by_input(tangents),
                    batched=batched)
        return self._run(call, lambda r: (outs.pack(r[0]), outs.pack(r[1])) + _aux(aux, r[0]))

    def vjp(self, f, primals, cotangents, *, argnums: int | Sequence[int] | None = None,
            wrt: str | Sequence[str] | None = None, batched: bool = False, has_aux: bool = False):
        """Reverse mode: `(values, cotangents·J)` for the arguments chosen by `argnums` (or
        inputs by name with `wrt`), and the aux values with `has_aux`. `cotangents` has the
        structure of the function's result (None: zeros); for a graph, an array for its only
        output, else a dict by output name. With `batched`, each cotangent has a leading axis of
        B directions."""
        bound = self._bind(f, _primals(f, primals), has_aux)
        sel, outs, aux = bound.inputs_of(argnums, wrt), bound.outputs_of(), bound.aux()
        call = Call("Vjp", bound.graph, bound.inputs, cotangents=bound.by_output(cotangents),
                    wrt=sel.names, batched=batched)
        return self._run(call, lambda r: (outs.pack(r[0]), sel.pack(r[1])) + _aux(aux, r[0]))

    def jacobian(self, f, *args, argnums: int | Sequence[int] | None = None,
                 wrt: str | Sequence[str] | None = None,
                 outputs: str | Sequence[str] | None = None, mode: str = "auto",
                 format: str = "dense", stream: bool = False, has_aux: bool = False):
        """The Jacobian of the (float) outputs with respect to the chosen arguments, in
        "forward", "reverse" or "auto" mode (the one needing fewer sweeps; a sparse Jacobian is
        swept one colour at a time). `format="sparse"` gives COO `SparseBlock`s of the
        structural nonzeros. `stream=True` receives it in pieces (JacobianStream), for
        Jacobians larger than a message or than the server's memory budget. With `has_aux`:
        `(jacobian, aux)`."""
        if mode not in MODES:
            raise InvalidRequest(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        _check_format(format)
        bound = self._bind(f, args, has_aux)
        sel, outs, aux = bound.inputs_of(argnums, wrt), bound.outputs_of(outputs, floats=True), bound.aux()
        call = Call("JacobianStream" if stream else "Jacobian", bound.graph, bound.inputs, outs.names,
                    wrt=sel.names, mode=mode, format=format)

        def finish(r):
            blocks = outs.pack({o: sel.pack({i: r.blocks[(o, i)] for i in sel.names}) for o in outs.names})
            return (blocks, aux.pack(r.values)) if aux else blocks
        return self._run(call, finish)

    def hessian(self, f, *args, argnums: int | Sequence[int] | None = None,
                wrt: str | Sequence[str] | None = None, output: str | None = None,
                format: str = "dense", has_aux: bool = False):
        """The Hessian of a scalar float output (the only one, or `output`), forward over
        reverse. For one argument that is an array, an array shaped in_shape + in_shape; in
        general nested like `jax.hessian`: the argument's structure holding, at each leaf, the
        argument's structure of blocks (tuples of them for a tuple of `argnums`, dicts by name
        for `wrt`). `format="sparse"`: COO blocks. With `has_aux`: `(hessian, aux)`, the aux
        values from one more evaluation."""
        _check_format(format)
        bound = self._bind(f, args, has_aux)
        sel, aux = bound.inputs_of(argnums, wrt), bound.aux()
        if output is None and aux is not None:
            output = bound.loss()
        call = Call("Hessian", bound.graph, bound.inputs, wrt=sel.names, output=output or "", format=format)

        def finish(r):
            blocks = sel.pack({a: sel.pack({b: r.blocks[(a, b)] for b in sel.names}) for a in sel.names})
            if aux is None:
                return blocks
            return Then(Call("Evaluate", bound.graph, bound.inputs, aux.names), lambda v: (blocks, aux.pack(v)))
        return self._run(call, finish)

    def hvp(self, f, primals, directions, *, output: str | None = None, batched: bool = False):
        """Hessian-vector products H·v of a scalar float output, forward over reverse.
        `directions` has the structure of `primals` (None: no direction, and no derivative with
        respect to it); with `batched`, a leading axis of B directions. The result has the
        structure of the first argument (None where it had no direction), or a tuple of the
        arguments' for several; for a graph, one array when one input has a direction, else a
        dict by input name."""
        bound = self._bind(f, _primals(f, primals))
        given = bound.by_input(directions, "direction")
        traced = bound.traced
        if traced is None:
            sel = Selection.by_name(tuple(given), len(given) == 1)
        else:
            def pack(arrays):
                args = [None if s is None else s.unflatten(arrays.get(n) for n in names)
                        for s, names in zip(traced.args, traced.arg_names)]
                return args[0] if len(args) == 1 else tuple(args)
            sel = Selection(tuple(given), pack)
        call = Call("Hvp", bound.graph, bound.inputs, directions=given, output=output or "", batched=batched)
        return self._run(call, lambda r: sel.pack(r[2]))

    def vmap(self, f, *args, in_axes=0, out_axes=0):
        """`f` mapped over an axis of its arguments, like `jax.vmap(f, in_axes, out_axes)(*args)`,
        computed in one vectorized sweep: `f` is traced once on one example and the engine runs
        its graph with the mapped inputs carrying a batch axis (`wengert.batching` says how axes
        are given). `out_axes` None: a result that does not depend on the mapped axis, returned
        once. For a graph, the arguments are its inputs in order."""
        static = () if isinstance(f, Graph) else as_function(f).static_positions(len(args))
        split = Split.of(args, in_axes, static)
        if isinstance(f, Graph):
            bound, names = Binding(f, {}), f.input_names
        else:
            bound = self._bind(f, split.example(_one_example))
            names = bound.traced.input_names
        inputs = {name: leaf_array(leaf) if axis is None else np.moveaxis(leaf_array(leaf), axis, 0)
                  for name, (leaf, axis) in zip(names, split.flat())}
        batched = tuple(name for name, (_, axis) in zip(names, split.flat()) if axis is not None)
        outs = bound.outputs_of()
        call = Call("Evaluate", bound.graph, inputs, outs.names, batched_inputs=batched)

        def finish(values):
            leaves, structure = tree.flatten(outs.pack(values))
            axes = axes_of(structure, out_axes, "out_axes")
            return structure.unflatten(a[0] if axis is None else np.moveaxis(a, 0, axis)
                                       for a, axis in zip(leaves, axes))
        return self._run(call, finish)

    def derivative_graph(self, f, kind: str = "vjp", *args, wrt: str | Sequence[str] | None = None,
                         outputs: str | Sequence[str] | None = None) -> Graph:
        """The JVP ("jvp"), VJP ("vjp") or gradient ("gradient") graph of `f` itself, as built
        by the engine or the server: print it, save it, send it again or differentiate it once
        more. A Python function `f` is traced on `args`; `outputs` picks the seeded outputs
        (VJP) or the scalar output (gradient)."""
        if kind not in DERIVATIVE_KINDS:
            raise InvalidRequest(f"unknown derivative kind {kind!r}; use one of "
                                 f"{', '.join(DERIVATIVE_KINDS)}")
        graph = f if isinstance(f, Graph) else self._bind(f, args).graph
        names = () if wrt is None else (wrt,) if isinstance(wrt, str) else tuple(wrt)
        outs = () if outputs is None else (outputs,) if isinstance(outputs, str) else tuple(outputs)
        call = Call("DerivativeGraph", graph, outputs=outs, wrt=names, kind=kind, registry=self._registry)
        return self._run(call, lambda r: r)

    def value_and_grad(self, f, *args, argnums: int | Sequence[int] | None = None,
                       wrt: str | Sequence[str] | None = None, has_aux: bool = False):
        """`(value, gradient)` of a function with one scalar float output, like
        `jax.value_and_grad`; with `has_aux`, `((value, aux), gradient)`."""
        call, finish = self._grad(f, args, argnums, wrt, has_aux)
        return self._run(call, finish)

    def grad(self, f, *args, argnums: int | Sequence[int] | None = None,
             wrt: str | Sequence[str] | None = None, has_aux: bool = False):
        """The gradient of a function with one scalar float output, like `jax.grad`; with
        `has_aux`, `(gradient, aux)`."""
        call, finish = self._grad(f, args, argnums, wrt, has_aux)

        def gradient(r):
            value, grad = finish(r)
            return (grad, value[1]) if has_aux else grad
        return self._run(call, gradient)

    def trace(self, f, *args, tangents=None, cotangents=None, mode: str | None = None) -> Trace:
        """The evaluation trace: every value in Wengert order, with tangents along `tangents`
        (given like the arguments: forward, as in the notes' §2.4) or adjoints of `cotangents`
        (given like the result: reverse, §2.6; default 1 for a single scalar output).
        `print(result)` shows the table."""
        mode = mode or ("forward" if tangents is not None else
                        "reverse" if cotangents is not None else "none")
        if mode not in TRACE_MODES:
            raise InvalidRequest(f"unknown trace mode {mode!r}; use one of {', '.join(TRACE_MODES)}")
        if mode == "forward" and tangents is None:
            raise InvalidRequest("a forward trace needs tangents, e.g. tangents=(1.0, 0.0)")
        bound = self._bind(f, args)
        seeds = {}
        if mode == "forward":
            seeds = {"tangents": bound.by_input(tangents)}
        elif mode == "reverse":
            seeds = {"cotangents": bound.by_output(cotangents) if cotangents is not None
                     else bound.unit_seed()}
        call = Call("Trace", bound.graph, bound.inputs, mode=mode, **seeds)
        return self._run(call, lambda r: Trace.of(bound.graph, mode, *r))

    def expectation_grad(self, f, params, data=None, *, samples: int = 1000, key: int = 0,
                         estimator: str = "auto", baseline: str = "none", decay: float = 0.9,
                         output: str | None = None, key_input: str = "key"):
        """The gradient of E[f(params, data, key)] (E[f(params, key)] when `data` is None) over
        the random key `f` draws from with `wg.random`, estimated from `samples` samples in one
        vectorised sweep (sample i with key (`key`, i)). Returns an `ExpectationResult`: the
        estimate of E[f] (`value`), the gradient (`gradient`, in the structure of `params`),
        the standard errors of both (`value_error`, `gradient_error`), and the estimator used
        at each stochastic node (`nodes`). `estimator`: "auto", "pathwise", "score_function" or
        "enumerate"; `baseline`: "none", "moving_average" (`decay`) or "leave_one_out" (see
        `wg.Expectation` and docs/expectations.md). `f` may also be a graph: then `params` and
        `data` are dicts by input name and `key_input` names its key input."""
        bound, key_name = self._bind_stochastic(f, params, data, key_input)
        settings = Expectation(samples=samples, key=key, estimator=estimator, baseline=baseline, decay=decay,
                               key_input=key_name)
        sel = bound.inputs_of(0, None) if bound.traced else Selection.by_name(tuple(params), False)
        call = Call("ExpectationGradient", bound.graph, bound.inputs, wrt=sel.names, output=output or "",
                    expectation=settings)
        return self._run(call, lambda r: dataclasses.replace(r, gradient=sel.pack(r.gradient),
                                                             gradient_error=sel.pack(r.gradient_error)))

    def list_ops(self) -> list[OpInfo]:
        """The ops the engine (local) or the server (remote) can run, sorted by name."""
        return self._run(Call("ListOps"), list)

    # -- shared steps ----------------------------------------------------------------------
    def _bind(self, f, args: Sequence[Any], has_aux: bool = False) -> Binding:
        """`f`'s graph (traced, or from the cache, for a function) and `args` as its inputs."""
        return Binding.of(f, args, self._registry, has_aux)

    def _bind_stochastic(self, f, params, data, key_input: str) -> tuple[Binding, str]:
        """`f` bound to (params, data) plus a random key, which the estimator feeds: the
        binding without the key, and the key's input name. A function takes the key as its
        last argument; a graph as its input `key_input`."""
        if isinstance(f, Graph):
            if not isinstance(params, Mapping):
                raise InvalidRequest("for a graph, give the parameters as a dict by input name")
            given = {**params, **(data or {})}
            if key_input in given:
                raise InvalidRequest(f"{key_input!r} is the key input, which the estimator feeds: leave it out "
                                     "and set the seed with key=")
            return self._bind(f, (given,)), key_input
        bound = self._bind(f, (params, key_array(0)) if data is None else (params, data, key_array(0)))
        names = bound.traced.arg_names[-1]
        if len(names) != 1 or bound.graph.types[names[0]] != KEY_TYPE:
            raise InvalidRequest("a stochastic function takes the random key as its last argument, "
                                 "f(params, key) or f(params, data, key)")
        inputs = {k: v for k, v in bound.inputs.items() if k != names[0]}
        return dataclasses.replace(bound, inputs=inputs), names[0]

    def _grad(self, f, args, argnums, wrt, has_aux) -> tuple[Call, Callable[[Any], Any]]:
        bound = self._bind(f, args, has_aux)
        sel, aux = bound.inputs_of(argnums, wrt), bound.aux()
        seed = bound.unit_seed()
        (name,) = seed
        call = Call("Vjp", bound.graph, bound.inputs, cotangents=seed, wrt=sel.names)

        def finish(r):
            value = (r[0][name], aux.pack(r[0])) if aux else r[0][name]
            return value, sel.pack(r[1])
        return call, finish


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise InvalidRequest(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def _aux(aux: Selection | None, values: Mapping[str, Any]) -> tuple:
    return (aux.pack(values),) if aux is not None else ()


def _primals(f, primals) -> tuple:
    """The arguments `primals` stands for: a tuple (or list) of them; for a graph, also one
    dict of inputs by name."""
    if isinstance(f, Graph) and isinstance(primals, Mapping):
        return (primals,)
    if not isinstance(primals, (tuple, list)):
        raise InvalidRequest(f"primals must be a tuple of arguments, got {type(primals).__name__}")
    return tuple(primals)


def _one_example(leaf, axis: int) -> TensorType:
    """What one example of a mapped leaf looks like: its type without the mapped axis."""
    array = leaf_array(leaf)
    return TensorType(dtype_name(array.dtype), array.shape[:axis % array.ndim] + array.shape[axis % array.ndim + 1:])
