"""The memory budget of a sweep: how many directions to run at once.

A batched plan's profile (`wengert.execution.cost`) says how many bytes are live at each step:
fixed[k] + batch * per_direction[k]. Directions are run in chunks of the largest size whose
peak, plus what the caller holds (the assembled result), fits the budget; when not even one
direction fits, the request is refused with the numbers.
"""

from __future__ import annotations

from wengert.errors import over_limit
from wengert.execution.cost import Profile

DEFAULT_BUDGET = 1 << 30  # bytes a sweep may use when the engine sets no memory limit


def chunk_size(profile: Profile, directions: int, held: int, budget: int, what: str,
               flag: str) -> int:
    """The most directions (at most `directions`, at least 1) one sweep may take within
    `budget`, with `held` bytes kept aside for the result; LimitExceeded (naming `flag`, how to
    raise the budget) when even one does not fit."""
    if held + profile.peak(directions) <= budget:
        return max(directions, 1)
    room = budget - held - profile.fixed
    per = profile.per_direction
    if (room < per).any():
        needed = held + profile.peak(1)
        raise over_limit("memory", needed, budget, "bytes even one direction at a time", flag,
                         what=f"({held} for {what}, {profile.peak(1)} for a sweep)")
    fits = room[per > 0] // per[per > 0]
    return int(max(1, min(directions, fits.min(initial=directions))))
