"""Steps to tolerance under different norms (issue 7), on a problem where geometry matters.

Badly scaled matrix factorisation: fit M (20x15, rank 5, singular values spread log-evenly
from 1 to kappa) by U V^T, loss 1/2 ||U V^T - M||^2, from a small random start. Plain steepest
descent (constant step, no momentum) under l2 (gradient descent), spectral and l-inf; each norm
gets its best learning rate from a log grid, and the table reports the steps until the loss is
below TOLERANCE times its start. Gradient descent learns the large singular values first and
the small ones last, so its step count grows with kappa; the spectral step U V^T moves every
singular direction of the gradient alike.

    python bench/bench_optim.py                               # the table
    python bench/bench_optim.py --plot docs/optimization.png  # and the figure (needs matplotlib)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import wengert as wg  # noqa: E402
from timing import available  # noqa: E402
from wengert.execution.engine import Engine  # noqa: E402
from wengert.optim import SteepestDescent, Stop, minimize  # noqa: E402

ENGINE = Engine()
NORMS = ("l2", "spectral", "linf")
KAPPAS = (3, 10, 30, 100)
TOLERANCE = 1e-6  # of the starting loss
MAX_STEPS = 2000
LEARNING_RATES = np.logspace(0, -6, 25)  # four per decade, largest first: they fail fastest


def factorization(kappa: float, seed: int = 0):
    """The graph, the starting parameters, the data and the starting loss."""
    rng = np.random.default_rng(seed)
    p, _ = np.linalg.qr(rng.standard_normal((20, 5)))
    q, _ = np.linalg.qr(rng.standard_normal((15, 5)))
    m = p @ np.diag(np.logspace(0, np.log10(kappa), 5)) @ q.T
    start = {"U": 0.1 * rng.standard_normal((20, 5)), "V": 0.1 * rng.standard_normal((15, 5))}
    graph = wg.trace(lambda U, V, M: 0.5 * wg.sum((U @ V.T - M) ** 2), start["U"], start["V"], m)
    return graph, start, {"M": m}


def run(graph, start, data, norm: str, lr: float, limit: int) -> tuple[list[float], float]:
    """Losses until the tolerance is met (or `limit` steps, or divergence), and seconds per step."""
    opt = SteepestDescent({k: v.copy() for k, v in start.items()}, norm=norm, lr=lr)
    losses: list[float] = []
    began = time.perf_counter()
    for progress in minimize(ENGINE, graph, opt, data, stop=Stop(max_steps=limit)):
        losses.append(progress.loss)
        if progress.loss <= TOLERANCE * losses[0] or not progress.loss < 100 * losses[0]:
            break
    return losses, (time.perf_counter() - began) / len(losses)


def best(graph, start, data, norm: str) -> tuple[float, list[float], float]:
    """The learning rate reaching the tolerance in the fewest steps, its losses and step time
    (each run stops once it has taken as many steps as the best so far: it cannot win)."""
    found, limit = None, MAX_STEPS
    with np.errstate(all="ignore"):  # the largest rates diverge, on purpose
        for lr in LEARNING_RATES:
            losses, per_step = run(graph, start, data, norm, lr, limit)
            reached = losses[-1] <= TOLERANCE * losses[0]
            limit = min(limit, len(losses) - 1) if reached else limit
            key = (not reached, len(losses) if reached else losses[-1] / losses[0])
            if found is None or key < found[0]:
                found = (key, lr, losses, per_step)
    return found[1:]


def steps(losses: list[float]) -> int | None:
    return len(losses) - 1 if losses[-1] <= TOLERANCE * losses[0] else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="PNG", help="save the figure here (needs matplotlib)")
    args = parser.parse_args()
    print(f"steps until the loss is below {TOLERANCE:g} of its start (best learning rate per norm, "
          f"at most {MAX_STEPS} steps); step time relative to l2")
    results = {}
    for kappa in KAPPAS:
        problem = factorization(kappa)
        print(f"\nkappa = {kappa}")
        for norm in NORMS:
            lr, losses, per_step = results[kappa, norm] = best(*problem, norm)
            found = steps(losses)
            ratio = per_step / results[kappa, "l2"][2]
            print(f"  {norm:<10} {found if found is not None else f'> {MAX_STEPS}':>8} steps"
                  f"   lr {lr:8.2g}   {per_step * 1e3:6.3f} ms/step  {ratio:5.2f}x")
    if args.plot:
        if not available("matplotlib"):
            sys.exit('--plot needs matplotlib: pip install "wengert[plot]"')
        plot(results, args.plot)
        print(f"\nfigure saved to {args.plot}")


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, scaling) = plt.subplots(1, 2, figsize=(11, 4.2))
    kappa = KAPPAS[-1]
    for norm in NORMS:
        lr, losses, _ = results[kappa, norm]
        curves.semilogy(np.array(losses) / losses[0], label=f"{norm} (lr {lr:.2g})")
        found = [steps(results[k, norm][1]) for k in KAPPAS]
        line, = scaling.loglog(KAPPAS, [s or MAX_STEPS for s in found], "o-", label=norm)
        missed = [k for k, s in zip(KAPPAS, found) if s is None]
        if missed:
            scaling.loglog(missed, [MAX_STEPS] * len(missed), "x", color=line.get_color(),
                           markersize=10)
    curves.axhline(TOLERANCE, color="grey", linestyle=":", linewidth=1)
    curves.set(title=f"loss / starting loss, $\\kappa$ = {kappa}", xlabel="step",
               ylabel="relative loss")
    curves.legend()
    scaling.set(title=f"steps to {TOLERANCE:g} of the starting loss",
                xlabel=r"$\kappa$ (condition number of M)",
                ylabel=f"steps (x: not reached in {MAX_STEPS})")
    scaling.legend()
    fig.suptitle(r"Steepest descent on $\frac{1}{2}\|UV^{\top} - M\|_F^2$ under three norms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
