"""Reverse sweeps through loops, and the checkpointing policies that decide which states they keep.

Reverse mode through a loop of n steps needs each step's incoming state, last step first. The
loop's VJP is an `adjoint_scan` node, which re-runs the loop's state recurrence (its body without
per-step outputs) and keeps states according to its policy:

* `all`: every state, n of them; n - 1 steps recomputed (the recurrence once).
* `every_k`: every k-th state, then each segment of k steps again when the backward sweep
  reaches it: n/k + k states, about 2n steps recomputed.
* `binomial`: at most s states (snapshots), placed as Griewank's revolve places them, which
  recomputes the fewest steps possible with s states: with r the least integer such that
  C(s + r, s) >= n, r·n - C(s + r, r - 1) steps (about n·log n / log s).

Each gives the same derivatives (the recomputed states are bit-for-bit the stored ones); they
trade memory for work, and the resource model prices each before anything runs. A request
chooses its policy (`Checkpoint`, default `auto`: the fastest one whose price fits the
request's memory limit, see `Engine.prepare`), which is written into every `adjoint_scan` of the
derivative graphs it builds (`with_policy`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from wengert.errors import InvalidRequest
from wengert.ir.graph import Graph, TensorType
from wengert.plugins.opdef import Cost

if TYPE_CHECKING:
    from wengert.execution.cost import Prepared

POLICIES = ("auto", "all", "every_k", "binomial")


@dataclass(frozen=True)
class Checkpoint:
    """A request's checkpointing policy: `policy` (one of POLICIES), `every` (k for every_k;
    0: the square root of each loop's length) and `snapshots` (for binomial: states kept at
    once, the initial one included; 0: about log2 of each loop's length)."""

    policy: str = "auto"
    every: int = 0
    snapshots: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidRequest(f"unknown checkpointing policy {self.policy!r}; use one of {', '.join(POLICIES)}")
        if self.every < 0 or self.snapshots < 0:
            raise InvalidRequest(f"every and snapshots must be >= 0, got {self.every}, {self.snapshots}")


_current: contextvars.ContextVar[Checkpoint] = contextvars.ContextVar("wengert_checkpoint", default=Checkpoint())


def current() -> Checkpoint:
    """The policy requests made now take (see `checkpointing`)."""
    return _current.get()


@contextlib.contextmanager
def checkpointing(policy: str = "auto", *, every: int = 0, snapshots: int = 0) -> Iterator[Checkpoint]:
    """Within the block, every request a client makes runs reverse mode through loops with this
    policy: `with wg.checkpointing("binomial", snapshots=20): client.grad(f, x)`."""
    token = _current.set(Checkpoint(policy, every, snapshots))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# -- the schedules -------------------------------------------------------------------------------
def repetitions(n: int, snapshots: int) -> int:
    """The least r with C(snapshots + r, snapshots) >= n: how often revolve runs a step at most."""
    r = 0
    while math.comb(snapshots + r, snapshots) < n:
        r += 1
    return r


def revolve_steps(n: int, snapshots: int) -> int:
    """Steps revolve recomputes to reverse n steps keeping `snapshots` states (Griewank 1992):
    r·n - C(s + r, r - 1), the least any schedule with s states can do."""
    if n <= 1:
        return 0
    r = repetitions(n, snapshots)
    return r * n - math.comb(snapshots + r, r - 1)


def revolve_split(n: int, snapshots: int) -> int:
    """How far revolve advances before it stores its next snapshot, reversing n steps with
    `snapshots` states: a split both of whose parts then need the fewest recomputations."""
    r = repetitions(n, snapshots)
    beta = lambda s, k: math.comb(s + k, s) if k >= 0 else 0  # noqa: E731 - steps reversible with s states, k repetitions
    return max(beta(snapshots, r - 2), n - beta(snapshots - 1, r), 1)


@dataclass(frozen=True)
class Schedule:
    """A policy resolved for one loop of `length` steps: `stored`, the most states held at once
    (the working one included), and `advances`, the state-recurrence steps it computes."""

    policy: str
    length: int
    every: int = 0
    snapshots: int = 0

    @classmethod
    def of(cls, attrs: dict, length: int) -> Schedule:
        policy = attrs["checkpoint"]
        if policy == "every_k":
            return cls(policy, length, every=attrs["every"] or max(1, math.isqrt(max(length - 1, 0)) + 1))
        if policy == "binomial":
            return cls(policy, length, snapshots=attrs["snapshots"] or max(2, math.ceil(math.log2(length + 1))))
        return cls("all", length)

    @property
    def stored(self) -> int:
        n = self.length
        if self.policy == "every_k":
            return -(-n // self.every) + self.every
        if self.policy == "binomial":
            return min(self.snapshots, n) + 1
        return n

    def advances(self, stops: bool = False) -> int:
        """With `stops` (a while loop's condition), a binomial schedule first runs the loop once
        to learn how many steps it takes."""
        n = self.length
        if self.policy == "every_k":
            return max(n - 1, 0) + n - -(-n // self.every)
        if self.policy == "binomial":
            return revolve_steps(n, min(self.snapshots, n) if n else 1) + (n if stops else 0)
        return max(n - 1, 0)


State = list  # the arrays of one loop state


def reverse_sweep(schedule: Schedule, start: State, advance: Callable[[int, State], State],
                  backward: Callable[[int, State], None], stop: Callable[[State], bool] | None = None) -> None:
    """Call `backward(k, state_k)` for k = t-1 down to 0, where state_0 = `start`, state_{k+1} =
    `advance(k, state_k)`, and t is the loop's length or, with `stop`, the first k at which
    `stop(state_k)` holds. Which states are kept between the calls is `schedule`'s policy."""
    n = schedule.length
    if schedule.policy == "binomial":
        t = n if stop is None else _steps_until(n, start, advance, stop)
        _revolve(0, t, start, min(schedule.snapshots, max(t, 1)), advance, backward)
        return
    every = 1 if schedule.policy == "all" else schedule.every
    kept, state, t = [], start, 0
    while t < n and not (stop is not None and stop(state)):
        if t % every == 0:
            kept.append(state)
        t += 1
        if t < n or stop is not None:
            state = advance(t - 1, state)
    for first in reversed(range(0, t, every)):
        segment = [kept.pop()]
        for k in range(first, min(first + every, t) - 1):
            segment.append(advance(k, segment[-1]))
        for k in reversed(range(first, first + len(segment))):
            backward(k, segment.pop())


def _steps_until(n: int, state: State, advance, stop) -> int:
    t = 0
    while t < n and not stop(state):
        state = advance(t, state)
        t += 1
    return t


def _revolve(first: int, steps: int, state: State, snapshots: int, advance, backward) -> None:
    """Reverse steps first .. first+steps-1 from `state` (the state before `first`), holding at
    most `snapshots` states: advance to the optimal split, reverse the part after it with one
    snapshot fewer, then the part before it with the same snapshots (Griewank and Walther)."""
    while steps > 0:
        if steps == 1:
            backward(first, state)
            return
        if snapshots == 1:  # nothing to spare: recompute from `state` for every step
            for j in reversed(range(steps)):
                current = state
                for k in range(first, first + j):
                    current = advance(k, current)
                backward(first + j, current)
            return
        split = revolve_split(steps, snapshots)
        current = state
        for k in range(first, first + split):
            current = advance(k, current)
        _revolve(first + split, steps - split, current, snapshots - 1, advance, backward)
        steps = split


# -- running and pricing an adjoint_scan ------------------------------------------------------
def run_adjoint(node, types: Sequence[TensorType]) -> np.ndarray:
    """The reverse sweep an `adjoint_scan` node describes (see `wengert.loops.constructs`)."""
    from wengert.loops.running import _each

    lay, attrs = node.lay, node.lay.attrs
    forward, backward = node.body("forward"), node.body("backward")
    cond = next((b for b in lay.bodies if b.attr == "cond"), None)
    flags = node.carry_flags([b for b in lay.bodies])
    test = node.plan(cond, flags) if cond is not None else None
    if test is not None and node.batch is not None and test.is_batched[cond.graph(attrs).outputs[0][1]]:
        return _each(node)  # the directions stop at different steps: one at a time
    step, back = node.plan(forward, flags), node.plan(backward, flags)
    out, parts = node.output(types)
    n, lower, reverse, batch = lay.length, attrs["lower"], attrs["reverse"], node.batch
    consts = node.groups["K"]
    count = len(node.groups["A"])
    adjoint = node.lifted("A", flags)
    at = (lambda k: (slice(None), k)) if batch is not None else (lambda k: k)  # noqa: E731

    def advance(s: int, state: State) -> State:
        k = n - 1 - s if reverse else s
        inputs = {"P": state, "X": node.slices("X", k), "K": consts}
        return step.run_arrays(lay.body_inputs(forward, inputs, np.int64(lower + s)), batch)

    def sweep_back(s: int, state: State) -> None:
        nonlocal adjoint
        k = n - 1 - s if reverse else s
        inputs = {"A": adjoint, "P": state, "X": node.slices("X", k), "K": consts, "G": node.slices("G", k)}
        outs = back.run_arrays(lay.body_inputs(backward, inputs, np.int64(lower + s)), batch)
        adjoint = outs[:count]
        for part, z in zip(parts[count:], outs[count:]):
            part[at(k)] = z

    stop = None if test is None else (lambda state: not test.run_arrays(state + consts, batch)[0])
    reverse_sweep(Schedule.of(attrs, n), node.lifted("P", flags), advance, sweep_back, stop)
    for part, a in zip(parts, adjoint):
        part[...] = a
    return out


def price_adjoint(node) -> Cost:
    """An adjoint_scan's price under its policy: the recurrence's steps and the backward
    sweep's, and the states the policy keeps at once on top of the bodies' peak."""
    from wengert.loops.running import Steps

    lay = node.lay
    flags = node.carry_flags(lay.bodies)
    bodies = {b.attr: Steps.of(node, b, flags) for b in lay.bodies}
    advance = bodies["forward"] + bodies["cond"] if "cond" in bodies else bodies["forward"]
    schedule = Schedule.of(lay.attrs, lay.length)
    state = [0, 0]
    for t, batched in zip(node.groups["P"], flags["P"]):
        state[batched] += t.nbytes
    advances, n = schedule.advances("cond" in bodies), lay.length
    back = bodies["backward"]
    peak = [max(advance.peak[i], back.peak[i]) + schedule.stored * state[i] for i in (0, 1)]
    return Cost(work=advances * advance.work[1] + n * back.work[1], scratch=peak[1],
                fixed_work=advances * advance.work[0] + n * back.work[0], fixed_scratch=peak[0])


# -- choosing a request's policy, and writing it into its derivative graphs ---------------------
MAX_SNAPSHOTS = 1 << 24


def fastest_fitting(prepare: Callable[[Checkpoint], Prepared], memory: int | None) -> Prepared:
    """The `auto` policy: the request `prepare`d with every state stored when its price fits
    `memory`, else with binomial checkpointing and the most snapshots that fit (found by
    bisection, as the peak grows with the snapshots), else with the fewest (which the limits
    then refuse, naming the memory it needs)."""
    everything = prepare(Checkpoint("all"))
    if memory is None or everything.price.peak_bytes <= memory:
        return everything
    tried = {1: prepare(Checkpoint("binomial", snapshots=1))}
    if tried[1].price.peak_bytes == everything.price.peak_bytes:  # no loop's reverse sweep to trade
        return everything
    fits = lambda s: s in tried and tried[s].price.peak_bytes <= memory  # noqa: E731
    if not fits(1):
        return tried[1]
    low, high = 1, 2
    while high < MAX_SNAPSHOTS:
        tried[high] = prepare(Checkpoint("binomial", snapshots=high))
        if not fits(high):
            break
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        tried[middle] = prepare(Checkpoint("binomial", snapshots=middle))
        low, high = (middle, high) if fits(middle) else (low, middle)
    return tried[low]


# -- writing a request's policy into its derivative graphs -----------------------------------
def with_policy(graph: Graph, checkpoint: Checkpoint) -> Graph:
    """`graph` with every `adjoint_scan` (bodies included) set to `checkpoint`'s policy."""
    if checkpoint.policy == "auto":
        raise ValueError("resolve an auto policy before writing it into a graph")
    attrs = {"checkpoint": checkpoint.policy, "every": checkpoint.every, "snapshots": checkpoint.snapshots}
    done: dict[int, Graph] = {}

    def rewrite(g: Graph) -> Graph:
        if id(g) not in done:
            nodes = tuple(_rewritten(node, attrs, rewrite) for node in g.nodes)
            done[id(g)] = g if all(a is b for a, b in zip(nodes, g.nodes)) else dataclasses.replace(g, nodes=nodes)
        return done[id(g)]
    return rewrite(graph)


def _rewritten(node, policy: dict, rewrite):
    if not node.bodies:
        return node
    attrs = tuple((k, policy[k] if node.op == "adjoint_scan" and k in policy else
                   rewrite(v) if isinstance(v, Graph) else
                   tuple(rewrite(g) for g in v) if isinstance(v, tuple) and v and isinstance(v[0], Graph) else v)
                  for k, v in node.attrs)
    same = all(a is b or (k in policy and a == b) for (k, a), (_, b) in zip(attrs, node.attrs))
    return node if same else dataclasses.replace(node, attrs=attrs)
