"""The memory budget of a sweep: how many directions to run at once.

A batched plan's profile (`wengert.execution.cost`) says how many bytes are live at each step:
fixed[k] + batch * per_direction[k]. Directions are run in chunks of the largest size whose
peak, plus what the caller holds (the assembled result), fits the budget. When not even one
direction fits, the chunk is one direction, and pricing the request says by how much it is over.
"""

from __future__ import annotations

from wengert.execution.cost import Profile

DEFAULT_BUDGET = 1 << 30  # bytes a sweep may use when the engine sets no memory limit


def chunk_size(profile: Profile, directions: int, held: int, budget: int) -> int:
    """The most directions (at most `directions`, at least 1) one sweep may take within
    `budget`, with `held` bytes kept aside for the result."""
    if held + profile.peak(directions) <= budget:
        return max(directions, 1)
    room = budget - held - profile.fixed
    per = profile.per_direction
    if (room < per).any():
        return 1
    fits = room[per > 0] // per[per > 0]
    return int(max(1, min(directions, fits.min(initial=directions))))
