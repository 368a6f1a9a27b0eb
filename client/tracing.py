"""Tracing Python functions of pytrees into graphs, once per input signature.

`wg.trace(f, *args)` calls `f` once on symbolic values shaped like `args` and returns what it
computed as a `Graph`; Python control flow is unrolled. Arguments and results are pytrees
(`wengert.tree`). Each leaf of an argument becomes a graph input named by its path from the
parameter's name (`x`, `params/w1`, `xs/0`), each leaf of the result an output: `y` for a
single value, `y0, y1, ...` along a tuple or list, the keys along a dict (`loss`,
`stats/mean`). Those names are what a graph's `.proto` form shows, and what `wrt=` and
`outputs=` pick.

`wg.function(f, static_argnums=...)` keeps the graph of each *signature* it is called with:
the arguments' tree structure, each leaf's shape and dtype and whether it is weakly typed (a
Python number), and the values of the static arguments (any hashable Python values, seen by
`f` as they are). Client methods and transforms trace a plain function the same way, keyed by
the function object, so calling `client.grad(f, x)` in a loop traces `f` once. As with
`jax.jit`, a graph holds what the function read when it was traced: a global array it uses is
a constant of the graph, and later changes to the global are not seen (pass it as an argument,
or call `f.clear()` on the `wg.function`). A new lambda each time is a new function, traced
anew.

Called inside a function being traced, a `wg.function` records into the enclosing graph: its
cached graph is inlined there, so a loop body wrapped in one is traced once however many times
the loop runs.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np

from wengert import tree
from wengert.errors import InvalidGraph, InvalidRequest
from wengert.ir.builder import GraphBuilder, Value, current_builder, is_tracing, lift, pausing_collector
from wengert.ir.graph import Graph, TensorType
from wengert.lru import LRU
from wengert.tree import TreeDef

CACHE_SIZE = 64  # signatures kept per function
_WEAK = {bool: "bool", int: "int64", float: "float64"}  # a Python number's dtype in a graph


@dataclass(frozen=True, eq=False)
class Traced:
    """A function traced on one signature: its graph, and how the arguments' and results'
    leaves map onto the graph's inputs and outputs."""

    graph: Graph
    args: tuple[TreeDef | None, ...]  # each positional argument's structure (None: static)
    arg_names: tuple[tuple[str, ...], ...]  # the inputs holding each argument's leaves
    out: TreeDef
    out_names: tuple[str, ...]
    aux: TreeDef | None = None  # with has_aux: the auxiliary result's structure
    aux_names: tuple[str, ...] = ()
    captures: tuple[Value, ...] = ()  # values of the enclosing graph feeding `capture:` inputs

    def result(self, arrays: Mapping[str, Any]) -> Any:
        """The function's result rebuilt from output arrays by name."""
        return self.out.unflatten(arrays[n] for n in self.out_names)

    def aux_result(self, arrays: Mapping[str, Any]) -> Any:
        return self.aux.unflatten(arrays[n] for n in self.aux_names)

    def argument(self, i: int, arrays: Mapping[str, Any]) -> Any:
        """Argument `i`'s structure holding the arrays given for its inputs, by name."""
        structure = self.args[i]
        if structure is None:
            raise InvalidRequest(f"argument {i} is static: it has no derivative")
        if structure.kind is None:  # an array: no structure to rebuild
            return arrays[self.arg_names[i][0]]
        return structure.unflatten(arrays[n] for n in self.arg_names[i])

    def like_arguments(self, given: Sequence[Any], what: str) -> list[tuple[str, Any]]:
        """(input name, leaf) for `given` (tangents, directions): a tuple with one entry per
        argument, each of that argument's structure, None standing for a whole subtree."""
        given = tuple(given) if isinstance(given, list) else given
        if not isinstance(given, tuple) or len(given) != len(self.args):
            raise InvalidRequest(f"give {what}s as a tuple with one entry per argument "
                                 f"({len(self.args)}), like the primals")
        pairs = []
        for i, (structure, names) in enumerate(zip(self.args, self.arg_names)):
            if structure is not None:
                try:
                    pairs += zip(names, structure.flatten_up_to(given[i], what=f"{what}s of argument {i}"))
                except ValueError as exc:
                    raise InvalidRequest(str(exc)) from None
        return pairs

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        """The graph inputs of the arguments' leaves, in order (the captures come after)."""
        return tuple(n for names in self.arg_names for n in names)


def leaf_type(leaf: Any, where: str) -> tuple[TensorType, bool]:
    """The graph input type of one leaf of an argument, and whether it is weakly typed."""
    if isinstance(leaf, Value):
        return leaf.type, leaf.weak
    if isinstance(leaf, TensorType):
        return leaf, False
    weak = _WEAK.get(type(leaf))
    if weak is not None:
        return TensorType(weak, ()), True
    try:
        return TensorType.of(np.asarray(leaf)), False
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{where} is a {type(leaf).__name__}, not an array ({exc}); a "
                             f"non-array argument must be static: wg.function(f, static_argnums=...)"
                             ) from None


def leaf_array(leaf: Any) -> np.ndarray:
    """The array sent for one leaf: NumPy values as they are, Python numbers in their weak
    dtype (float64, int64, bool)."""
    weak = _WEAK.get(type(leaf))
    return np.asarray(leaf, dtype=weak) if weak is not None else np.asarray(leaf)


def _leaf_key(leaf: Any) -> Hashable:
    """What of a leaf a traced graph depends on: dtype and shape, and weak typing."""
    kind = type(leaf)
    if kind is np.ndarray or isinstance(leaf, np.generic):
        return leaf.dtype, leaf.shape
    if kind in _WEAK:
        return kind
    if isinstance(leaf, Value):
        return leaf.type, leaf.weak
    if isinstance(leaf, TensorType):  # a wg.spec: the same graph as an array of its type
        return np.dtype(leaf.dtype), leaf.shape
    return leaf_type(leaf, "an argument")


@pausing_collector
def trace_function(fn: Callable[..., Any], args: Sequence[Any], *, static: Iterable[int] = (),
                   names: Sequence[str] | None = None, registry=None, has_aux: bool = False,
                   parent: GraphBuilder | None = None) -> Traced:
    """Trace `fn(*args)`: each leaf of the non-static arguments is an input (typed by the
    leaf: an array, a number, a `wg.spec` or a symbolic value), the arguments in `static` are
    passed as they are. `parent`: the builder of the graph being traced that this one is
    nested in (its values used by `fn` become `capture:` inputs)."""
    static = frozenset(i % len(args) for i in static) if args else frozenset()
    params = list(names) if names is not None else _parameter_names(fn, len(args))
    builder = GraphBuilder(registry, parent=parent)
    structures, input_names, called = [], [], list(args)
    with builder:
        for i, arg in enumerate(args):
            if i in static:
                structures.append(None)
                input_names.append(())
                continue
            pairs, treedef = tree.flatten_with_paths(arg)
            leaf_names = tuple("/".join(p for p in (params[i], path) if p) for path, _ in pairs)
            values = []
            for n, (_, leaf) in zip(leaf_names, pairs):
                type_, weak = leaf_type(leaf, f"argument {n!r}")
                values.append(builder.input(n, type_, weak=weak))
            called[i] = treedef.unflatten(values)
            structures.append(treedef)
            input_names.append(leaf_names)
        result = fn(*called)
        if has_aux:
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise InvalidRequest(f"with has_aux=True the function must return a pair "
                                     f"(output, aux), got {type(result).__name__}")
            result, aux = result
    out_pairs, out = tree.flatten_with_paths(result)
    out_names = tuple(_output_names(out))
    if not out_names:
        raise InvalidGraph(f"{_name(fn)} returns no arrays")
    leaves = [leaf for _, leaf in out_pairs]
    aux_tree, aux_names = None, ()
    if has_aux:
        aux_pairs, aux_tree = tree.flatten_with_paths(aux)
        aux_names = tuple("/".join(p for p in ("aux", path) if p) for path, _ in aux_pairs)
        leaves += [leaf for _, leaf in aux_pairs]
    outputs: dict[str, Value] = {}
    for name, leaf in zip(out_names + aux_names, leaves):
        if name in outputs:
            raise InvalidGraph(f"two results of {_name(fn)} are both named {name!r}")
        outputs[name] = lift(builder, leaf)
    graph = builder.build(outputs)
    return Traced(graph, tuple(structures), tuple(input_names), out, out_names, aux_tree, aux_names,
                  tuple(outer for outer, _ in builder.captures))


def trace(fn: Callable[..., Any], *args: Any, names: Iterable[str] | None = None, registry=None) -> Graph:
    """The graph of `fn` called once on symbolic values shaped like `args` (pytrees of arrays,
    numbers or `wg.spec`s); inputs and outputs are named as the module doc says, `names`
    overrides the parameters' names. `registry`: the ops to trace with (a client's
    `registry` for a server's ops)."""
    return trace_function(fn, args, names=None if names is None else list(names), registry=registry).graph


def _output_names(out: TreeDef) -> list[str]:
    """`y` for one leaf; along a sequence `y0, y1, ...`; along named children, their names."""
    if out.is_leaf:
        return ["y"]
    keys = out.keys()
    positional = keys == [str(i) for i in range(len(keys))]
    return ["/".join((f"y{path[0]}" if positional else path[0], *path[1:])) for path in out.paths()]


def _parameter_names(fn: Callable, count: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:count]]
    return names + [f"x{i}" for i in range(len(names) + 1, count + 1)]


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class Function:
    """A Python function whose graph is traced once per signature (see the module doc): what
    `wg.function` returns. Calling it outside a trace evaluates it on the default client
    (`wg.default_client`); inside a traced function it adds its nodes to the graph being
    traced. Client methods and every `wg` transform take it where they take a function."""

    def __init__(self, fn: Callable[..., Any], static_argnums: int | Sequence[int] = (),
                 static_argnames: str | Sequence[str] = (), *, _traces: LRU | None = None):
        if isinstance(fn, Function):
            fn = fn.fn
        self.fn = fn
        numbers = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
        if names:
            params = list(inspect.signature(fn).parameters)
            unknown = [n for n in names if n not in params]
            if unknown:
                raise ValueError(f"static_argnames: {_name(fn)} has no parameter {unknown[0]!r}")
            numbers += tuple(params.index(n) for n in names)
        self.static_argnums = tuple(sorted(set(numbers)))
        self._traces = LRU(CACHE_SIZE) if _traces is None else _traces

    def __repr__(self) -> str:
        return f"wg.function({_name(self.fn)})"

    def clear(self) -> None:
        """Forget every traced graph: the next call traces again."""
        self._traces = LRU(CACHE_SIZE)

    def static_positions(self, count: int) -> tuple[int, ...]:
        out = []
        for i in self.static_argnums:
            if not -count <= i < count:
                raise InvalidRequest(f"static_argnums {i} is out of range: {_name(self.fn)} was "
                                     f"called with {count} argument(s)")
            out.append(i % count)
        return tuple(sorted(out))

    def _key(self, args: Sequence[Any], static: tuple[int, ...], registry, has_aux: bool) -> tuple[Hashable, list]:
        dynamic = tuple(a for i, a in enumerate(args) if i not in static) if static else tuple(args)
        leaves, structure = tree.flatten_arguments(dynamic)
        try:
            types = tuple(map(_leaf_key, leaves))
        except InvalidRequest:  # a leaf that is not an array: say which, by its input name
            trace_function(self.fn, args, static=static, registry=registry)
            raise
        key = (structure, types, tuple(args[i] for i in static), registry, has_aux)
        try:
            hash(key)
        except TypeError:
            raise InvalidRequest(f"the static arguments of {_name(self.fn)} must be hashable") from None
        return key, leaves

    def trace(self, *args: Any, registry=None, has_aux: bool = False) -> Traced:
        """The traced graph for arguments like `args` (from the cache when seen before)."""
        return self.bind(args, registry, has_aux)[0]

    def bind(self, args: Sequence[Any], registry=None, has_aux: bool = False
             ) -> tuple[Traced, dict[str, np.ndarray]]:
        """The traced graph for `args`, and the arrays of their leaves by input name."""
        static = self.static_positions(len(args))
        key, leaves = self._key(args, static, registry, has_aux)
        traced = self._traces.get(key)
        if traced is None:
            traced = trace_function(self.fn, args, static=static, registry=registry, has_aux=has_aux)
            self._traces.setdefault(key, traced)
        return traced, dict(zip(traced.input_names, map(leaf_array, leaves)))

    def inline(self, args: Sequence[Any], has_aux: bool = False) -> tuple[Traced, dict[str, Value]]:
        """Trace `fn(*args)` nested in the graph being traced (args may hold its values): the
        traced graph (cached when it uses no value of the enclosing graphs) and the values of
        the enclosing graph to feed its inputs with, by name."""
        static = self.static_positions(len(args))
        leaves = tree.leaves(tuple(a for i, a in enumerate(args) if i not in static))
        parent = current_builder(leaves)
        key, leaves = self._key(args, static, parent.registry, has_aux)
        traced = self._traces.get(key)
        if traced is None:
            traced = trace_function(self.fn, args, static=static, registry=parent.registry,
                                    has_aux=has_aux, parent=parent)
            if not traced.captures:
                self._traces.setdefault(key, traced)
        names = traced.graph.input_names
        feeds = dict(zip(traced.input_names, (lift(parent, leaf) for leaf in leaves)))
        feeds.update(zip(names[len(feeds):], traced.captures))
        return traced, feeds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = _positional(self.fn, args, kwargs)
        if is_tracing(tree.leaves(args)):
            traced, feeds = self.inline(args)
            return traced.result(current_builder(feeds.values()).inline(traced.graph, feeds))
        from wengert.transforms import current_client

        return current_client().evaluate(self, *args)


def _positional(fn: Callable, args: tuple, kwargs: dict) -> tuple:
    """`args` and `kwargs` as positional arguments of `fn` (keyword-only ones are refused)."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    if bound.kwargs:
        raise TypeError(f"{_name(fn)}: keyword-only arguments ({', '.join(bound.kwargs)}) cannot be "
                        f"traced; bind them with functools.partial")
    return bound.args


def function(fn: Callable[..., Any] | None = None, *, static_argnums: int | Sequence[int] = (),
             static_argnames: str | Sequence[str] = ()) -> Function:
    """`fn` traced once per signature, like `jax.jit`: see the module doc. Usable as a
    decorator, bare or with arguments (`@wg.function(static_argnums=1)`)."""
    if fn is None:
        return functools.partial(function, static_argnums=static_argnums, static_argnames=static_argnames)
    wrapped = Function(fn, static_argnums, static_argnames)
    functools.update_wrapper(wrapped, fn, updated=())
    return wrapped


_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # plain function -> its graphs


def as_function(f: Callable[..., Any]) -> Function:
    """`f` itself if a `wg.function`, else a Function sharing one cache per function object
    (uncached when `f` cannot be weakly referenced, e.g. a NumPy ufunc)."""
    if isinstance(f, Function):
        return f
    if not callable(f):
        raise InvalidRequest(f"expected a function or a wg.Graph, got {type(f).__name__}")
    try:
        traces = _TRACES.get(f)
        if traces is None:
            traces = _TRACES.setdefault(f, LRU(CACHE_SIZE))
    except TypeError:
        traces = None
    return Function(f, _traces=traces)
