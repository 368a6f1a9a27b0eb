"""The norm checker: proves a norm's dual pair numerically before steepest descent relies on it.

Steepest descent steps by -lr * ||g||_* * dualize(g), which is the steepest step only if, for
every gradient g,

    <g, dualize(g)> = ||g||_*        the direction attains the dual norm, and
    ||dualize(g)|| <= 1              it is a unit step.

Both hold for a dual norm that is too small paired with a step that is too short, so the
checker also tries other directions v (random ones, g itself, sign(g)): none may beat the
claimed maximum, <g, v> <= ||g||_* ||v||. It runs these on random gradients of several block
layouts, and checks that dualize keeps the blocks' shapes and maps a zero gradient to finite
values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wengert.plugins.normdef import NormDef
from wengert.plugins.registry import Registry, default_registry

# Block layouts to draw gradients in: one vector, one matrix, a small network, a 3-D tensor.
LAYOUTS = [[(5,)], [(3, 4)], [(4, 3), (4,), ()], [(2, 3, 2)]]
TRIALS = 10  # random gradients per layout
TOLERANCE = 1e-9  # relative


@dataclass
class NormReport:
    """What `check_norm` found: one line per identity that failed."""

    norm: str
    plugin: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def text(self) -> str:
        head = f"{'ok  ' if self.passed else 'FAIL'} norm {self.norm} ({self.plugin or 'unregistered'})"
        return "\n".join([head] + [f"     {f}" for f in self.failures])


def check_norm(norm: NormDef | str, registry: Registry | None = None, *, seed: int = 0) -> NormReport:
    """Check one norm (a `NormDef`, or a name in `registry`); each failed identity is reported
    once, with the block shapes and the two sides."""
    if isinstance(norm, str):
        norm = (registry or default_registry()).norm(norm)
    rng = np.random.default_rng(seed)
    report = NormReport(norm.name, norm.plugin)
    failed: set[str] = set()

    def fail(check: str, shapes, detail: str) -> None:
        if check not in failed:
            failed.add(check)
            report.failures.append(f"{check} [blocks {shapes}]: {detail}")

    for shapes in LAYOUTS:
        zero = norm.dualize([np.zeros(s) for s in shapes])
        if not all(np.all(np.isfinite(d)) for d in zero):
            fail("dualize(0) is finite", shapes, "got NaN or infinity")
        for _ in range(TRIALS):
            g = [rng.standard_normal(s) * rng.uniform(0.1, 10) for s in shapes]
            d = norm.dualize(g)
            if [np.shape(x) for x in d] != [tuple(s) for s in shapes]:
                fail("dualize keeps the block shapes", shapes, f"got {[np.shape(x) for x in d]}")
                break
            dual = norm.dual_norm(g)
            attained = _inner(g, d)
            if not _close(attained, dual):
                fail("<g, dualize(g)> = ||g||_*", shapes, f"{attained:.6g} != {dual:.6g}")
            length = norm.norm(d)
            if length > 1 + TOLERANCE:
                fail("||dualize(g)|| <= 1", shapes, f"||dualize(g)|| = {length:.6g}")
            for v in ([rng.standard_normal(s) for s in shapes], g, [np.sign(b) for b in g]):
                reached = _inner(g, v) / (norm.norm(v) or 1.0)
                if reached > dual * (1 + TOLERANCE) + TOLERANCE:
                    fail("<g, v> <= ||g||_* ||v||", shapes,
                         f"a unit v reaches {reached:.6g} > {dual:.6g}")
    return report


def _inner(a, b) -> float:
    return float(sum(np.vdot(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(a, b)))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b), 1.0)
