"""The evaluation trace a client returns: rows in Wengert order, printed as the notes' tables.

Rows are rebuilt from the graph and the values keyed by id, so a local and a remote trace of
the same graph are the same object whatever labels a server would print.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from wengert.ir.graph import Graph, wengert_list

# Combining marks that turn a label into its tangent (v̇1) or adjoint (v̄1), as the notes write.
_MARK = {"forward": "\u0307", "reverse": "\u0304"}
_HEADER = {"forward": ("Forward primal trace", "Forward tangent trace"),
           "reverse": ("Forward primal trace", "Reverse adjoint trace")}


@dataclass(frozen=True)
class TraceRow:
    """One value: its label (v-1, v0, v1, ...), id, op ("input" for a graph input), operand
    labels, value, and tangent or adjoint (None in mode "none" or where no derivative flows)."""

    label: str
    id: str
    op: str
    inputs: tuple[str, ...]
    value: np.ndarray
    derivative: np.ndarray | None


@dataclass(frozen=True)
class Trace:
    """The rows of a trace, and `outputs`: output name -> label of the value it exposes."""

    graph: Graph
    mode: str
    rows: tuple[TraceRow, ...]
    outputs: dict[str, str]

    @classmethod
    def of(cls, graph: Graph, mode: str, values: Mapping[str, np.ndarray],
           derivatives: Mapping[str, np.ndarray]) -> Trace:
        n = len(graph.inputs)
        label = {name: f"v{i - n + 1}" for i, name in enumerate(graph.input_names)}
        label.update((node.id, f"v{i + 1}") for i, node in enumerate(graph.nodes))
        rows = [TraceRow(label[name], name, "input", (), values[name], derivatives.get(name))
                for name in graph.input_names]
        rows += [TraceRow(label[node.id], node.id, node.op, tuple(label[x] for x in node.inputs),
                          values[node.id], derivatives.get(node.id)) for node in graph.nodes]
        return cls(graph, mode, tuple(rows), {name: label[vid] for name, vid in graph.outputs})

    def __str__(self) -> str:
        values = {r.id: r.value for r in self.rows}
        primal = wengert_list(self.graph, values).splitlines()
        if self.mode not in _MARK:
            return "\n".join(primal)
        bare = wengert_list(self.graph).splitlines()
        derivs = wengert_list(self.graph, {r.id: r.derivative for r in self.rows
                                           if r.derivative is not None}).splitlines()
        width = max(map(len, primal)) + 3
        left, right = _HEADER[self.mode]
        lines = [f"{left:<{width}}{right}"]
        for expr, p, d in zip(bare, primal, derivs):
            shown = d[len(expr):]  # the printer's " = <value>" suffix; empty where none flows
            name = expr.split(" = ", 1)[0]
            lines.append(f"{p:<{width}}{name[0]}{_MARK[self.mode]}{name[1:]}{shown}" if shown else p)
        return unicodedata.normalize("NFC", "\n".join(lines))  # y + dot above -> one glyph
