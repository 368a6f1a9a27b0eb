"""The estimator of a gradient of an expectation is a graph: `expectation_gradient(G, wrt,
estimator)` replays G into a surrogate graph whose gradient, averaged over samples of G's key,
is an unbiased estimate of the gradient of E[f] (Schulman et al. 2016; DiCE, Foerster et al.
2018), like `jvp_graph` and `vjp_graph` replay a graph into its derivative.

Each stochastic node (a sampling op, `OpDef.sampler`) gets an estimator:

* pathwise: the node is replayed as it is; derivatives flow through its pathwise rules.
* score function: the node's value is cut from its parameters (`stop_gradient`) and its log
  density l_w joins the magic box of every cost downstream of it: a cost c becomes
  box(sum of the l_w upstream of c) * c, with box(l) = exp(l - stop_gradient(l)). The box is 1
  in value and d box = box * dl, so every derivative of the surrogate, of any order, is an
  unbiased estimate of the same derivative of E[f]. A baseline b_w (an input) adds
  (1 - box(l_w)) * b_w: zero in value and in expectation, it subtracts b_w * dl_w.
* enumerate: the node becomes an input that runs over its whole (finite) support, along the
  batch axis, and everything is weighted by exp(sum of the enumerated l_e): summed over the
  support this is the exact expectation over those nodes, and its gradient is exact.

The costs are the terms of f's top-level sum (f = c_1 + c_2 - c_3 ...): a node's score then
multiplies only the costs downstream of it, which lowers the variance and keeps the estimate
unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import wengert.numpy_api as wg
from wengert.autodiff.transform import check_wrt, prefix_for, scalar_output
from wengert.errors import InvalidRequest, node_error
from wengert.expectations.settings import ESTIMATORS, StochasticNode
from wengert.ir.builder import GraphBuilder, Value
from wengert.ir.graph import Graph, Node, TensorType
from wengert.plugins.sampling import KEY_TYPE, MAX_SUPPORT

ENUMERATED, BASELINE, COST = "enumerate:", "baseline:", "cost:"
FOLD_IN = "random_fold_in"


@dataclass(frozen=True)
class Surrogate:
    """The surrogate of graph G for one estimator.

    `graph` has G's inputs, one input per enumerated node (`enumerate:<node id>`) and, with
    baselines, one scalar input per score-function node (`baseline:<node id>`); its outputs
    are `value` (f, times the enumeration weight) and `surrogate` (to differentiate). `costs`
    (with baselines) has the same inputs and outputs `cost:<node id>`: each score-function
    node's downstream cost, times the enumeration weight. `support` holds the values the
    enumerated inputs run through together (rows of their Cartesian product)."""

    graph: Graph
    costs: Graph | None
    nodes: tuple[StochasticNode, ...]
    key: str
    wrt: tuple[str, ...]
    support: dict[str, np.ndarray] = field(default_factory=dict)
    baselines: dict[str, str] = field(default_factory=dict)  # node id -> its baseline input
    cost_outputs: dict[str, str] = field(default_factory=dict)  # node id -> its cost output

    @property
    def sampled(self) -> bool:
        """Whether any stochastic node is sampled (not enumerated): then samples vary."""
        return any(n.estimator != "enumerate" for n in self.nodes)

    @property
    def support_size(self) -> int:
        return len(next(iter(self.support.values()))) if self.support else 1


def magic_box(log_prob: Value) -> Value:
    """exp(l - stop_gradient(l)): 1 in value, and d box = box * dl (DiCE's magic box)."""
    return wg.exp(log_prob - wg.stop_gradient(log_prob))


def expectation_gradient(graph: Graph, wrt: Sequence[str] | None = None, estimator: str = "auto", *,
                         output: str | None = None, key: str = "key", baseline: bool = False,
                         registry=None) -> Surrogate:
    """The surrogate of `graph` whose gradient in `wrt` estimates the gradient of E[output]
    over the graph's key input `key`, with `estimator` at each stochastic node (see the
    module doc); `baseline` adds a baseline input per score-function node."""
    if estimator not in ESTIMATORS:
        raise InvalidRequest(f"unknown estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}")
    builder = GraphBuilder(registry)
    registry = builder.registry
    output = scalar_output(graph, output, "objective")
    check_key_input(graph, key)
    wrt = tuple(check_wrt(graph, wrt))
    kinds = {node.id: _estimator(node, registry.get(node.op).sampler, estimator)
             for node in _stochastic_nodes(graph, key, registry)}
    prefixes = {p: prefix_for(graph, p) for p in (ENUMERATED, BASELINE, COST)}

    env, scores, upstream = _replay(graph, builder, kinds, prefixes[ENUMERATED])
    boxes: dict[tuple[str, ...], Value] = {}

    def box(nodes: list[str]) -> Value:
        """The magic box of these nodes' log densities, built once per set."""
        if tuple(nodes) not in boxes:
            boxes[tuple(nodes)] = magic_box(_total([scores[n] for n in nodes]))
        return boxes[tuple(nodes)]

    scored = [n for n, kind in kinds.items() if kind == "score_function"]
    enumerated = [n for n, kind in kinds.items() if kind == "enumerate"]
    value = env[dict(graph.outputs)[output]]
    surrogate, downstream = None, {n: None for n in scored}
    for sign, vid in _cost_terms({n.id: n for n in graph.nodes}, dict(graph.outputs)[output]):
        cost = env[vid] if sign > 0 else -env[vid]
        boxed = [n for n in scored if n in upstream[vid]]
        surrogate = _add(surrogate, box(boxed) * cost if boxed else cost)
        for n in boxed:
            downstream[n] = _add(downstream[n], cost)
    baselines, costs = {}, {}
    weight = wg.exp(_total([scores[n] for n in enumerated])) if enumerated else None
    weighted = (lambda v: v) if weight is None else (lambda v: weight * v)  # noqa: E731
    if baseline:
        nothing = builder.constant(np.zeros((), value.dtype))  # the cost of a node no cost depends on
        for n in scored:
            baselines[n] = prefixes[BASELINE] + n
            surrogate = surrogate + (1 - box([n])) * builder.input(baselines[n], TensorType(value.dtype, ()))
            costs[prefixes[COST] + n] = weighted(nothing if downstream[n] is None else downstream[n])
    return Surrogate(
        graph=builder.build({"value": weighted(value), "surrogate": weighted(surrogate)}),
        costs=builder.build(costs) if costs else None,
        nodes=tuple(StochasticNode(n.id, n.op, kinds[n.id]) for n in graph.nodes if n.id in kinds),
        key=key, wrt=wrt, support=_joint_support(graph, enumerated, prefixes[ENUMERATED], registry),
        baselines=baselines, cost_outputs={n: prefixes[COST] + n for n in baselines})


def _replay(graph: Graph, builder: GraphBuilder, kinds: dict[str, str], enumerated_prefix: str):
    """Record `graph` with its stochastic nodes changed by their estimator; returns the values
    (id -> value), each score-function or enumerated node's summed log density, and the set of
    such nodes upstream of each value."""
    env: dict[str, Value] = {name: builder.input(name, t) for name, t in graph.inputs}
    scores: dict[str, Value] = {}
    upstream: dict[str, frozenset[str]] = {name: frozenset() for name in graph.input_names}
    for node in graph.nodes:
        args = [env[x] for x in node.inputs]
        kind = kinds.get(node.id)
        if kind == "enumerate":
            value = builder.input(enumerated_prefix + node.id, node.type)
        else:
            value = builder.add(node.op, args, node.attr_dict)
            if kind == "score_function":
                value = wg.stop_gradient(value)
        env[node.id] = value
        upstream[node.id] = frozenset().union(*(upstream[x] for x in node.inputs))
        if kind in ("score_function", "enumerate"):
            log_prob = builder.add(builder.registry.get(node.op).sampler.log_prob, [value, *args[1:]], {})
            scores[node.id] = wg.sum(log_prob)
            upstream[node.id] |= {node.id}
    return env, scores, upstream


def check_key_input(graph: Graph, key: str) -> None:
    if dict(graph.inputs).get(key) != KEY_TYPE:
        raise InvalidRequest(f"the graph has no key input {key!r} of type {KEY_TYPE}: add one "
                             f"(a parameter named {key!r} of the traced function) or name it with key_input")


def _stochastic_nodes(graph: Graph, key: str, registry) -> list[Node]:
    """The sampling nodes, each checked to draw from its own key derived from `key`."""
    paths: dict[str, tuple[int, ...]] = {key: ()}  # key values: the fold_in data leading to them
    drawn: dict[tuple[int, ...], str] = {}
    found = []
    for node in graph.nodes:
        if node.op == FOLD_IN and node.inputs[0] in paths:
            paths[node.id] = paths[node.inputs[0]] + (node.attr_dict["data"],)
        if registry.get(node.op).sampler is None:
            continue
        path = paths.get(node.inputs[0])
        if path is None:
            raise node_error(InvalidRequest, node.id, node.op,
                             f"its key does not come from the key input {key!r}: derive every key from it "
                             "(wg.random.split)")
        if path in drawn:
            raise node_error(InvalidRequest, node.id, node.op,
                             f"draws with the same key as node {drawn[path]!r}, so the two are not "
                             "independent: give each its own key (wg.random.split)")
        drawn[path] = node.id
        found.append(node)
    return found


def _estimator(node: Node, sampler, estimator: str) -> str:
    if estimator == "pathwise" and not sampler.reparameterized:
        raise node_error(InvalidRequest, node.id, node.op,
                         "is not reparameterised, so no pathwise estimator exists: use score_function, auto "
                         "or enumerate")
    if estimator == "enumerate" and sampler.support is not None:
        return "enumerate"
    if estimator == "score_function" or not sampler.reparameterized:
        return "score_function"
    return "pathwise"


def _cost_terms(nodes: dict[str, Node], vid: str, sign: float = 1.0) -> list[tuple[float, str]]:
    """f's top-level sum as (sign, value) terms: f = c1 + c2 - c3 gives three costs."""
    node = nodes.get(vid)
    if node is None or node.type.shape != () or node.op not in ("add", "sub", "neg"):
        return [(sign, vid)]
    if node.op == "neg":
        return _cost_terms(nodes, node.inputs[0], -sign)
    x, y = node.inputs
    return _cost_terms(nodes, x, sign) + _cost_terms(nodes, y, sign if node.op == "add" else -sign)


def _joint_support(graph: Graph, enumerated: list[str], prefix: str, registry) -> dict[str, np.ndarray]:
    """The enumerated nodes' supports, as aligned rows of their Cartesian product."""
    nodes = {n.id: n for n in graph.nodes}
    supports = {}
    for n in enumerated:
        node = nodes[n]
        sampler = registry.get(node.op).sampler
        try:
            supports[n] = sampler.support(node.type, *(graph.types[x] for x in node.inputs[1:]))
        except ValueError as exc:  # ShapeError: a support too large to enumerate
            raise node_error(InvalidRequest, node.id, node.op, f"cannot be enumerated: {exc}") from None
    sizes = [len(s) for s in supports.values()]
    if math.prod(sizes) > MAX_SUPPORT:
        raise InvalidRequest(f"the enumerated nodes ({', '.join(supports)}) take {math.prod(sizes)} values "
                             f"together, more than {MAX_SUPPORT}: sample some of them (estimator 'auto')")
    rows = np.unravel_index(np.arange(math.prod(sizes)), sizes) if sizes else ()
    return {prefix + n: s[index] for (n, s), index in zip(supports.items(), rows)}


def _total(values: list[Value]) -> Value:
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _add(total: Value | None, term: Value) -> Value:
    return term if total is None else total + term
