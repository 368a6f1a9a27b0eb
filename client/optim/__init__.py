"""`wg.optim`: steepest descent under any norm (`steepest`), its wire form (`wire`), and
`Client.minimize` (`minimizing`)."""

from wengert.optim.steepest import (SCHEDULES, NormSpec, Progress, Schedule, SteepestDescent, Stop,
                                    minimize, resolve_norm)

__all__ = ["SCHEDULES", "NormSpec", "Progress", "Schedule", "SteepestDescent", "Stop", "minimize",
           "resolve_norm"]
