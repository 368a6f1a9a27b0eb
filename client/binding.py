"""How a client method's arguments become a graph's inputs, and how its results come back.

`f` is a Python function (or a `wg.function`) or a `wg.Graph`:

* **A function**: arguments are pytrees (`wengert.tree`), as in JAX. The function is traced
  once per signature (`wengert.tracing`); each leaf is an input named by its path. Results on
  the output side (values, JVP tangents) have the structure of what the function returns;
  results on the input side (gradients, VJP cotangents, Jacobian blocks) the structure of the
  argument chosen by `argnums` (default 0), or a tuple of them for a tuple of `argnums`.
  Tangents are given with the structure of the arguments, cotangents with that of the result;
  None anywhere in them stands for zeros.
* **A graph**: arguments are its inputs, positionally or as one dict by input name; a result
  is the array of the only input or output concerned, else a dict by name. Python numbers and
  lists take the dtype the graph declares; NumPy arrays are sent as they are.

For either, `wrt=` (input names) and `outputs=` (output names) pick by graph name: one name
gives one array, a list of names a dict by name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from wengert.errors import InvalidRequest
from wengert.ir.graph import DTYPES, Graph, TensorType
from wengert.tracing import Traced, as_function

Pack = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Selection:
    """Graph inputs or outputs picked by a request, and how to shape their arrays (by name)
    into what the caller gets back."""

    names: tuple[str, ...]
    pack: Pack

    @classmethod
    def by_name(cls, names: tuple[str, ...], one: bool) -> Selection:
        if one:
            return cls(names, lambda arrays: arrays[names[0]])
        return cls(names, lambda arrays: {n: arrays[n] for n in names})


@dataclass(frozen=True)
class Binding:
    """`f` bound to arguments: its graph, the inputs by name, and (for a function) how the
    graph's names map onto the arguments' and result's leaves."""

    graph: Graph
    inputs: dict[str, np.ndarray]
    traced: Traced | None = None
    by_name: bool = False  # a graph's inputs given as one dict by name, not in order

    @classmethod
    def of(cls, f, args: Sequence[Any], registry=None, has_aux: bool = False) -> Binding:
        if isinstance(f, Graph):
            if has_aux:
                raise InvalidRequest("has_aux needs a function returning (output, aux), not a graph")
            by_name = len(args) == 1 and isinstance(args[0], Mapping)
            return cls(f, _graph_inputs(f, args[0] if by_name else args), by_name=by_name)
        traced, inputs = as_function(f).bind(tuple(args), registry, has_aux)
        return cls(traced.graph, inputs, traced)

    # -- the input side --------------------------------------------------------------------
    def inputs_of(self, argnums: int | Sequence[int] | None, wrt: str | Sequence[str] | None) -> Selection:
        """The inputs chosen by `argnums` (default 0) or by name with `wrt`."""
        if wrt is not None and argnums is not None:
            raise InvalidRequest("give argnums or wrt, not both")
        if wrt is not None:
            return Selection.by_name((wrt,) if isinstance(wrt, str) else tuple(wrt), isinstance(wrt, str))
        argnums = 0 if argnums is None else argnums
        numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        count = len(self.traced.args) if self.traced else len(self.graph.inputs)
        bad = [i for i in numbers if not -count <= i < count]
        if bad:
            what = "function was called with" if self.traced else "graph takes"
            raise InvalidRequest(f"argnums {bad[0]} is out of range: the {what} {count} input(s)")
        if self.traced is None:
            names = tuple(self.graph.input_names[i] for i in numbers)
            if isinstance(argnums, int):
                return Selection.by_name(names, True)
            return Selection(names, lambda arrays: tuple(arrays[n] for n in names))
        traced = self.traced
        names = tuple(n for i in numbers for n in traced.arg_names[i])
        if not names:
            raise InvalidRequest(f"argnums {argnums} selects no arrays to differentiate")
        if isinstance(argnums, int):
            return Selection(names, lambda arrays: traced.argument(argnums, arrays))
        return Selection(names, lambda arrays: tuple(traced.argument(i, arrays) for i in numbers))

    def by_input(self, given, what: str = "tangent") -> dict[str, np.ndarray]:
        """Directions (tangents, Hessian directions) given like the arguments, by input name,
        in the input's dtype; None stands for zeros and is left out."""
        if self.traced is None:
            if self.by_name != isinstance(given, Mapping):
                raise InvalidRequest(f"give {what}s in the same form as the inputs (a sequence or a dict)")
            if not isinstance(given, Mapping):
                if len(given) != len(self.graph.inputs):
                    raise InvalidRequest(f"give one {what} (or None) per input: the graph takes "
                                         f"{len(self.graph.inputs)}, got {len(given)}")
                given = dict(zip(self.graph.input_names, given))
            pairs = given.items()
        else:
            pairs = self.traced.like_arguments(given, what)
        declared = self.graph.input_types
        return {k: _as_array(v, declared[k].dtype if k in declared else None) for k, v in pairs if v is not None}

    # -- the output side -------------------------------------------------------------------
    def outputs_of(self, outputs: str | Sequence[str] | None = None, floats: bool = False) -> Selection:
        """The outputs a request is about: `outputs` by name, else every output of the
        function's result (not its aux) or of the graph; with `floats`, only float ones (a
        function's other leaves come back as None)."""
        if outputs is not None:
            one = isinstance(outputs, str)
            return Selection.by_name((outputs,) if one else tuple(outputs), one)
        graph = self.graph
        if self.traced is None:
            names = tuple(n for n in graph.output_names if not floats or graph.output_type(n).is_float)
            return Selection.by_name(names, len(names) == 1)
        traced = self.traced
        names = tuple(n for n in traced.out_names if not floats or graph.output_type(n).is_float)
        return Selection(names, lambda arrays: traced.out.unflatten(arrays.get(n) for n in traced.out_names))

    def by_output(self, cotangents) -> dict[str, np.ndarray]:
        """Cotangents by output name, in the output's dtype: like the function's result (None:
        zeros), or for a graph an array for its only output or a dict by output name."""
        graph = self.graph
        if self.traced is not None:
            traced = self.traced
            pairs = zip(traced.out_names, _up_to(traced.out, cotangents, "cotangents"))
            cotangents = {k: v for k, v in pairs if v is not None}
        elif not isinstance(cotangents, Mapping):
            if len(graph.outputs) != 1:
                raise InvalidRequest(f"the graph has {len(graph.outputs)} outputs: give cotangents "
                                     f"as a dict by output name ({', '.join(graph.output_names)})")
            cotangents = {graph.output_names[0]: cotangents}
        names = set(graph.output_names)
        return {k: _as_array(v, graph.output_type(k).dtype if k in names else None)
                for k, v in cotangents.items()}

    def aux(self) -> Selection | None:
        """The auxiliary outputs of a function traced with has_aux, as its aux result."""
        traced = self.traced
        if traced is None or traced.aux is None:
            return None
        return Selection(traced.aux_names, traced.aux_result)

    def loss(self) -> str:
        """The one output a gradient is of, which must be a float scalar."""
        names = self.traced.out_names if self.traced is not None else self.graph.output_names
        if len(names) == 1:
            t = self.graph.output_type(names[0])
            if t.size == 1 and t.is_float:
                return names[0]
        shown = ", ".join(f"{n}: {self.graph.output_type(n)}" for n in names)
        what = "graph" if self.traced is None else "function"
        raise InvalidRequest(f"a gradient needs one scalar float output; the {what} has {shown}")

    def unit_seed(self) -> dict[str, np.ndarray]:
        """Cotangent 1 on the loss output."""
        name = self.loss()
        return {name: _one(self.graph.output_type(name)).copy()}


def _up_to(structure, given, what: str) -> list[Any]:
    try:
        return structure.flatten_up_to(given, what=what)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _graph_inputs(graph: Graph, given: Sequence[Any] | Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A graph's inputs given in order or by name, as arrays."""
    if type(given) is tuple or not isinstance(given, Mapping):
        names = graph.input_names
        if len(given) != len(names):
            raise InvalidRequest(f"the graph takes {len(names)} input(s) ({', '.join(names)}), got {len(given)}")
        return {name: _as_array(v, t.dtype) for (name, t), v in zip(graph.inputs, given)}
    declared = graph.input_types
    return {k: _as_array(v, declared[k].dtype if k in declared else None) for k, v in given.items()}


def _as_array(value: Any, dtype: str | None = None) -> np.ndarray:
    """NumPy values as they are; Python numbers and lists in the declared dtype."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return np.asarray(value, dtype=DTYPES.get(dtype, dtype))  # a dtype object: no name to parse


@functools.lru_cache(maxsize=256)
def _one(t: TensorType) -> np.ndarray:
    """Ones of type `t`, to copy (copying is cheaper than making them)."""
    return np.ones(t.shape, t.dtype)
