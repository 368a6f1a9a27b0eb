"""The memory budget of a sweep: estimate its peak before running it, and chunk if needed.

A batched plan holds, after each step, the values not yet freed: unbatched ones cost their
size, batched ones their size times the batch. So step k needs fixed[k] + batch * per[k]
bytes, and the peak for `batch` directions is the largest of those; while a step runs, its op
is allowed scratch as large as its result (NumPy temporaries). Directions are then run in
chunks of the largest size whose peak, plus what the caller holds (the assembled result), fits
the budget; when not even one direction fits, the request is refused with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wengert.errors import LimitExceeded
from wengert.execution.plan import Plan

DEFAULT_BUDGET = 1 << 30  # bytes a single request may use for its sweeps and result


@dataclass(frozen=True)
class SweepCost:
    """Bytes alive after each step of a plan: fixed[k] + batch * per_direction[k]."""

    fixed: np.ndarray
    per_direction: np.ndarray

    def peak(self, batch: int) -> int:
        return int((self.fixed + batch * self.per_direction).max(initial=0))


def sweep_cost(plan: Plan) -> SweepCost:
    """Walk `plan`'s steps, adding each value when computed and dropping it when freed."""
    types = plan.graph.types
    nbytes = [0] * len(plan.slots)
    batched = [False] * len(plan.slots)
    for vid, slot in plan.slots.items():
        nbytes[slot] = types[vid].size * np.dtype(types[vid].dtype).itemsize
        batched[slot] = plan.is_batched[vid]
    live = [0, 0]  # (fixed, per direction)
    inputs = {plan.slots[name] for name in plan.graph.input_names}  # the caller holds these
    for slot in inputs:
        live[batched[slot]] += nbytes[slot]
    fixed, per = [live[0]], [live[1]]
    for step in plan.steps:
        live[batched[step.out]] += nbytes[step.out]
        scratch = [0, 0]  # an op may need temporaries as large as its result while it runs
        scratch[batched[step.out]] = nbytes[step.out]
        fixed.append(live[0] + scratch[0])
        per.append(live[1] + scratch[1])
        for slot in set(step.free) - inputs:
            live[batched[slot]] -= nbytes[slot]
    # Python integers (object arrays): byte counts of absurd shapes must not wrap around int64.
    return SweepCost(np.array(fixed, dtype=object), np.array(per, dtype=object))


def chunk_size(cost: SweepCost, directions: int, held: int, budget: int, what: str) -> int:
    """The most directions (at most `directions`, at least 1) one sweep may take within
    `budget`, with `held` bytes kept aside for the result; LimitExceeded when even one does
    not fit."""
    if held + cost.peak(directions) <= budget:
        return max(directions, 1)
    room = budget - held - cost.fixed
    if (room < cost.per_direction).any():
        raise LimitExceeded(
            f"{what} needs at least {held + cost.peak(1)} bytes even one direction at a time "
            f"({held} for the result, {cost.peak(1)} for a sweep), over the memory budget of "
            f"{budget} bytes")
    per = cost.per_direction
    fits = room[per > 0] // per[per > 0]
    return int(max(1, min(directions, fits.min(initial=directions))))
