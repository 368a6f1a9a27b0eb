"""Graph surgery on bodies: the derivative rules of loops build new bodies from old ones.

A body is an ordinary `Graph`; these helpers choose and order its inputs and outputs, and say
which outputs depend on which inputs (`GraphBuilder.inline` copies one into a graph being built).
"""

from __future__ import annotations

from typing import Sequence

from wengert.ir.graph import Graph, TensorType


def relayout(graph: Graph, inputs: Sequence[str], outputs: Sequence[str],
             extra: Sequence[tuple[str, TensorType]] = ()) -> Graph:
    """`graph` taking its inputs in the order `inputs` names them (with `extra` inputs it does
    not use, declared where they are named) and returning the outputs `outputs` names, in
    that order; nodes no chosen output needs are dropped."""
    types = {**dict(graph.inputs), **dict(extra)}
    where = dict(graph.outputs)
    needed = {where[name] for name in outputs}
    kept = []
    for node in reversed(graph.nodes):
        if node.id in needed:
            kept.append(node)
            needed.update(node.inputs)
    return Graph(tuple((name, types[name]) for name in inputs), tuple(reversed(kept)),
                 tuple((name, where[name]) for name in outputs))


def dependence(graph: Graph) -> list[int]:
    """For each output, the inputs it depends on through float values, as a bit set (bit k:
    input k). Derivatives flow only along these paths."""
    bits = {name: (1 << k) if t.is_float else 0 for k, (name, t) in enumerate(graph.inputs)}
    for node in graph.nodes:
        mask = 0
        if node.type.is_float:
            for x in node.inputs:
                mask |= bits[x]
        bits[node.id] = mask
    return [bits[vid] for _, vid in graph.outputs]


def fresh(base: str, taken: set[str]) -> str:
    """`base`, or `base` with a number, whichever is not in `taken` (which it joins)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    taken.add(name)
    return name
