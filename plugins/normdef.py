"""The norm record a plugin yields, and the product of norms.

A norm gives steepest descent its geometry (see `wengert.optim`). It measures a point of
parameter space, which is a list of arrays, one per parameter ("blocks"), and provides

    norm(w) -> float          ||w||, used by the checker only
    dual_norm(g) -> float     ||g||_* = max over ||v|| <= 1 of <g, v>
    dualize(g) -> blocks      the v that attains it: the unit step g points along

Steepest descent then steps by -lr * ||g||_* * dualize(g), whatever the norm. `dualize` returns
arrays shaped like the blocks it gets, and a zero gradient dualizes to zero (no NaNs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Blocks = Sequence[np.ndarray]


@dataclass(frozen=True)
class NormDef:
    """A norm on parameter space: its primal, its dual and the dual's maximizer."""

    name: str
    norm: Callable[[Blocks], float]
    dual_norm: Callable[[Blocks], float]
    dualize: Callable[[Blocks], list[np.ndarray]]
    doc: str = ""
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.name or not isinstance(self.name, str):
            problems.append("name must be a non-empty string")
        problems += [f"{fn} must be callable" for fn in ("norm", "dual_norm", "dualize")
                     if not callable(getattr(self, fn))]
        if problems:
            raise TypeError(f"norm {self.name!r}: " + "; ".join(problems))


def product(parts: NormDef | Sequence[NormDef], name: str = "product", doc: str = "") -> NormDef:
    """Block i under its own norm (`parts[i]`, or `parts` for every block), combined by max:
    ||w|| = max_i ||w_i||_i. Its dual norm is the sum of the blocks' dual norms and it dualizes
    block by block, so a step moves every block the same distance, each in its own geometry."""

    def per_block(method: str, blocks: Blocks) -> list:
        if not isinstance(parts, NormDef) and len(parts) != len(blocks):
            raise ValueError(f"norm {name!r} has {len(parts)} parts for {len(blocks)} blocks")
        return [getattr(parts if isinstance(parts, NormDef) else parts[i], method)([b])
                for i, b in enumerate(blocks)]

    return NormDef(
        name=name,
        norm=lambda w: max(per_block("norm", w), default=0.0),
        dual_norm=lambda g: math.fsum(per_block("dual_norm", g)),
        dualize=lambda g: [d for (d,) in per_block("dualize", g)],
        doc=doc,
    )
