"""A derivative graph split at its seeds, so that a Jacobian's sweeps evaluate the primal once.

A JVP or VJP graph computes the primal values and, from them and the seeds (tangents or
cotangents), the derivatives. Only the second part depends on the directions: run as one
graph per chunk of directions, the primal would be evaluated again for every chunk. Split, the
`primal` graph runs once and hands on the values the other part reads (the `residuals`: the
linearisation point), and the `linear` graph, which only propagates seeds, runs per chunk.
The two graphs hold the derivative graph's own nodes, so every value is computed by the same
ops on the same operands: the results are the same bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

from wengert.autodiff.transform import prefix_for
from wengert.ir.graph import Graph, Node, make_node

RESIDUAL = "residual:"  # names the primal graph's outputs that the linear graph reads


@dataclass(frozen=True, eq=False)
class Linearised:
    """`primal`: the derivative graph's inputs but the seeds -> the primal outputs (unless
    `entangled`), and each residual value id under `prefix` + id. `linear`: the residuals (named by their value ids)
    and the seeds -> the derivative outputs."""

    primal: Graph
    linear: Graph
    residuals: tuple[str, ...]
    prefix: str
    entangled: bool = False  # the primal outputs come out of nodes that take seeds: evaluate them apart

    def feeds(self, found: dict) -> dict:
        """The linear graph's residual inputs, out of the primal graph's outputs."""
        return {vid: found[self.prefix + vid] for vid in self.residuals}


def linearise(dgraph: Graph, seeds: frozenset[str], values: tuple[str, ...], derivatives: tuple[str, ...]
              ) -> Linearised:
    """Split `dgraph` at its inputs `seeds`: the nodes that the outputs `derivatives` need and
    that depend on the seeds make the linear graph, with the constants they read (computed once
    per plan); the primal graph computes the outputs `values` and the residuals."""
    depends = set(seeds)
    for node in dgraph.nodes:
        if any(x in depends for x in node.inputs):
            depends.add(node.id)
    outputs = dict(dgraph.outputs)
    linear_outputs = tuple((name, outputs[name]) for name in derivatives)
    nodes = _needed([node for node in dgraph.nodes if node.id in depends or not node.inputs], linear_outputs)
    read = {x for node in nodes for x in node.inputs} | {vid for _, vid in linear_outputs}
    made = {node.id for node in nodes}
    residuals = tuple(vid for vid in dgraph.types if vid in read and vid not in made and vid not in seeds)
    prefix = prefix_for(dgraph, RESIDUAL)
    entangled = any(outputs[name] in depends for name in values)  # a node computes both (a loop)
    primal_outputs = (tuple((name, outputs[name]) for name in values if not entangled)
                      + tuple((prefix + vid, vid) for vid in residuals))
    primal = Graph(tuple((name, t) for name, t in dgraph.inputs if name not in seeds),
                   _needed([node for node in dgraph.nodes if node.id not in depends], primal_outputs),
                   primal_outputs)
    linear = Graph(tuple((vid, dgraph.types[vid]) for vid in residuals)
                   + tuple((name, t) for name, t in dgraph.inputs if name in seeds), nodes, linear_outputs)
    return Linearised(primal, linear, residuals, prefix, entangled)


def _needed(nodes: list[Node], outputs: tuple[tuple[str, str], ...]) -> tuple[Node, ...]:
    """The `nodes` (in order) that `outputs` depend on: the derivatives of outputs not asked
    for are not computed."""
    wanted = {vid for _, vid in outputs}
    kept = []
    for node in reversed(nodes):
        if node.id in wanted:
            kept.append(node)
            wanted.update(node.inputs)
    return tuple(reversed(kept))


def restricted(linear: Graph, zero: set[str]) -> Graph:
    """`linear` without computing the values in `zero` (known to be exactly zero, e.g. for a
    chunk of directions that none of them is seeded in): a sum or difference with a zero
    operand becomes its other operand (or its negation), and a zero value another node cannot
    do without this way is computed after all, as are zero outputs. The same numbers, but for
    the signs of zeros."""
    same = {}  # value id -> the value it equals
    computed: set[str] = set()
    nodes = {node.id: node for node in linear.nodes}

    def compute(vid: str) -> None:  # a zero value some node needs as it is
        if vid in zero and vid not in computed and vid in nodes:
            computed.add(vid)
            for x in nodes[vid].inputs:
                compute(x)

    rewritten = {}
    for node in linear.nodes:
        if node.id in zero:
            continue
        inputs = tuple(same.get(x, x) for x in node.inputs)
        zeros = [x in zero and x not in computed for x in inputs]
        if node.op in ("add", "sub") and sum(zeros) == 1:
            other = inputs[zeros.index(False)]
            if linear.types[other].shape == node.type.shape:
                if zeros[1] or node.op == "add":
                    same[node.id] = other
                else:  # 0 - b
                    rewritten[node.id] = make_node(node.id, "neg", (other,), (), node.type)
                continue
        for x, is_zero in zip(inputs, zeros):
            if is_zero:
                compute(x)
        rewritten[node.id] = make_node(node.id, node.op, inputs, node.attrs, node.type) \
            if inputs != node.inputs else node
    outputs = tuple((name, same.get(vid, vid)) for name, vid in linear.outputs)
    for _, vid in outputs:
        compute(vid)
    kept = [rewritten.get(node.id, node) for node in linear.nodes if node.id in rewritten or node.id in computed]
    return Graph(linear.inputs, _needed(kept, outputs), outputs)
