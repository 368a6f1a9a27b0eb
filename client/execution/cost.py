"""The price of a request, known before anything runs: peak live bytes, work, response bytes.

A graph has static shapes, so every allocation a plan makes is known from its types. Walking
the plan's steps in order, a value is added when computed and dropped after its last use, a
view (`OpDef.view`) allocates nothing but keeps its base alive, and each op may use scratch
while it runs (`OpDef.cost`). In a batched run (many directions at once) a value carrying the
batch axis costs B times its size, so a plan's `Profile` is two arrays, bytes live at step k
= fixed[k] + B * per_direction[k], and the same for work; the Jacobian machinery sizes its
chunks of directions with the same profile.

A request runs one or more plans (a Jacobian runs its derivative plan once per chunk of
directions), so its `Price` adds up their work, takes the largest peak plus what the request
holds meanwhile (the Jacobian being assembled), and counts the bytes of the response, which
is held `copies` times while it is sent (a server holds the arrays, their protobuf messages and
the serialized bytes: three).
`Limits.admit` refuses a price over a limit, naming the node and op that push it over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

import numpy as np

from wengert.errors import LimitExceeded, over_limit
from wengert.execution.plan import Plan
from wengert.ir.builder import recording_budget
from wengert.ir.graph import Node, TensorType

def nbytes(t: TensorType) -> int:
    return t.nbytes


@dataclass(frozen=True, eq=False)
class Profile:
    """A plan's costs step by step (entry 0: the inputs alone; entry k: after step k, its
    scratch included): bytes live and cumulative work, each `fixed + batch * per_direction`."""

    fixed: np.ndarray
    per_direction: np.ndarray
    work_fixed: np.ndarray
    work_per_direction: np.ndarray
    nodes: tuple[Node | None, ...]

    def live(self, batch: int) -> np.ndarray:
        return self.fixed + batch * self.per_direction

    def peak(self, batch: int = 1) -> int:
        return int(self.live(batch).max(initial=0))

    def work(self, batch: int = 1) -> int:
        return int(self.work_fixed[-1] + batch * self.work_per_direction[-1])


def profile(plan: Plan, registry) -> Profile:
    """Walk `plan`'s steps, adding each value when computed and dropping it when freed. A view
    shares its input's storage, which is freed when the last value using it is.

    Ops are bound, and their costs asked, once per signature (op, batch flags, types,
    attributes): a graph of a hundred thousand nodes has a few hundred."""
    types = plan.graph.types
    slot_type = [types[vid] for vid in plan.slots]  # slots number the values in order
    batched = [plan.is_batched[vid] for vid in plan.slots]
    base = list(range(len(slot_type)))  # the slot whose storage a value uses
    users = [1] * len(slot_type)  # live values using each storage
    allocated = [False] * len(slot_type)  # storages this run allocates (not inputs, nor constants)
    live = [0, 0]  # bytes (fixed, per direction)
    work = [0, 0]
    for name in plan.graph.input_names:  # the caller holds these for the whole run
        slot = plan.slots[name]
        live[batched[slot]] += nbytes(slot_type[slot])
    fixed, per, work_fixed, work_per, nodes = [live[0]], [live[1]], [0], [0], [None]
    bound: dict[tuple, Any] = {}  # (op name, batch flags) -> the op as it runs
    costs: dict[tuple, Any] = {}  # signature -> the op's Cost
    for step in plan.steps:
        node, args, out = step.node, step.args, step.out
        flags = tuple([batched[i] for i in args])
        key = (node.op, flags)
        op = bound.get(key)
        if op is None:
            op = bound[key] = registry.get(node.op).bound(registry, flags)
        if op.view:
            storage = base[out] = base[args[0]]
            users[storage] += 1
            fixed.append(live[0])
            per.append(live[1])
        else:
            out_t, is_b = slot_type[out], batched[out]
            signature = (key, out_t, tuple([slot_type[i] for i in args]), node.attrs)
            cost = costs.get(signature)
            if cost is None:
                cost = costs[signature] = op.cost(out_t, *signature[2], **step.attrs)
            allocated[out] = True
            size = nbytes(out_t)
            live[is_b] += size
            scratch = [0, 0]
            scratch[is_b] = size if cost.scratch is None else cost.scratch
            scratch[0] += cost.fixed_scratch
            work[is_b] += cost.work
            work[0] += cost.fixed_work
            fixed.append(live[0] + scratch[0])
            per.append(live[1] + scratch[1])
        work_fixed.append(work[0])
        work_per.append(work[1])
        nodes.append(node)
        for slot in step.free:
            storage = base[slot]
            users[storage] -= 1
            if users[storage] == 0 and allocated[storage]:
                live[batched[storage]] -= nbytes(slot_type[storage])
    # Python integers (object arrays): byte and work counts of absurd shapes must not wrap around.
    as_array = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return Profile(as_array(fixed), as_array(per), as_array(work_fixed), as_array(work_per), tuple(nodes))


@dataclass(frozen=True)
class Run:
    """A plan run `times` times with `batch` directions each (1: unbatched): one part of a
    request, e.g. "JVP graph, 12 directions a sweep"."""

    what: str
    profile: Profile
    batch: int = 1
    times: int = 1

    @property
    def peak(self) -> int:
        return self.profile.peak(self.batch) if self.times else 0

    @property
    def work(self) -> int:
        return self.profile.work(self.batch) * self.times


@dataclass(frozen=True)
class Price:
    """What a request will cost: the `runs` it makes, `held` bytes it keeps throughout (a
    result being assembled), and the bytes of its `response` (`hint` says how to ask for a
    smaller one), held `copies` times while it is sent."""

    runs: tuple[Run, ...]
    response_bytes: int = 0
    held: int = 0
    hint: str = ""
    copies: int = 1

    @cached_property
    def peak_bytes(self) -> int:
        return max([run.peak + self.held for run in self.runs] + [self.copies * self.response_bytes])

    @cached_property
    def work(self) -> int:
        return sum(run.work for run in self.runs)

    @cached_property
    def steps(self) -> int:
        """Plan steps the request runs, each run counted as many times as it is made."""
        return sum(run.times * (len(run.profile.nodes) - 1) for run in self.runs)

    def peak_at(self) -> tuple[Node | None, str]:
        """Where the peak is reached: the node at that step (None: the inputs, or sending the
        response) and what is running then, in words."""
        peak = self.peak_bytes
        for run in self.runs:
            live = run.profile.live(run.batch) + self.held
            if run.times and live.max(initial=0) == peak:
                held = f", with {self.held} bytes of the result held" if self.held else ""
                return run.profile.nodes[int(live.argmax())], f"in {run.what}{held}"
        return None, f"sending the response ({self.copies} x {self.response_bytes} bytes)"

    def node_over(self, allowed: int) -> Node | None:
        """The node whose work takes the running total past `allowed`."""
        before = 0
        for run in self.runs:
            each = run.profile.work(run.batch)
            if before + each * run.times > allowed and each > 0:
                rest = (allowed - before) % each  # how far into the repetition that crosses
                cumulative = run.profile.work_fixed + run.batch * run.profile.work_per_direction
                return run.profile.nodes[int(np.searchsorted(cumulative, rest, side="right"))]
            before += each * run.times
        return None

    def __str__(self) -> str:
        lines = [f"peak {self.peak_bytes} bytes, work {self.work} operations, "
                 f"response {self.response_bytes} bytes"]
        lines += [f"  {run.what}: {run.times} x (peak {run.peak} bytes, work {run.profile.work(run.batch)})"
                  for run in self.runs]
        return "\n".join(lines)


@dataclass(frozen=True)
class Prepared:
    """A request ready to run: its price, known before anything runs, and how to run it.
    `again(inputs, seeds, check)`, when given, prepares a request of the same shape (inputs and
    seeds of the same names, dtypes and shapes) with other values, skipping the work done."""

    price: Price
    run: Callable[[], Any]
    again: Again | None = None


@dataclass(frozen=True)
class Again:
    """How to prepare a request of a shape prepared before: its `price`, and `runner(inputs,
    seeds, check)` making the function that runs it on those values (and checks them). A record
    rather than a closure handing itself on: that would be a reference cycle, keeping its plans
    alive after a cache drops it, until a full garbage collection."""

    price: Price
    runner: Callable[[Mapping[str, Any], Mapping[str, Any], Any], Callable[[], Any]]

    def __call__(self, inputs: Mapping[str, Any], seeds: Mapping[str, Any], check) -> Prepared:
        return Prepared(self.price, self.runner(inputs, seeds, check), self)


LOCAL_NAMES = {"memory": "Limits(memory=...)", "work": "Limits(work=...)",
               "response": "Limits(response=...)"}
# What recording one node of a graph built while preparing a request (derivative graphs,
# specialisations) is priced at, in operations: about 10 us of Python at 1e9 operations a second.
RECORD_WORK = 10_000


@dataclass(frozen=True)
class Limits:
    """What one request may cost (None: unlimited): `memory` in peak bytes, `work` in
    operations, `response` in bytes. `names` says how to raise each, for the refusal: a server
    names its flags, an in-process client the fields of this record."""

    memory: int | None = None
    work: int | None = None
    response: int | None = None
    names: Mapping[str, str] = field(default_factory=lambda: dict(LOCAL_NAMES))

    def quote(self, price: Price) -> Quote:
        """`price` summed up, with whether these limits admit it."""
        try:
            self.admit(price)
            refusal = ""
        except LimitExceeded as exc:
            refusal = str(exc)
        runs = tuple(PlanCost(run.what, run.times, run.peak, run.profile.work(run.batch))
                     for run in price.runs)
        return Quote(price.peak_bytes, price.work, price.response_bytes, runs, not refusal, refusal)

    def recording(self):
        """A context in which building graphs for a request spends its work limit: at most
        `work / RECORD_WORK` nodes recorded (see `wengert.ir.builder.recording_budget`). Graph
        building is not a plan to price beforehand, and a rule may loop over an attribute."""
        if self.work is None:
            return recording_budget(None, None)
        nodes = max(1, int(self.work // RECORD_WORK))
        return recording_budget(nodes, lambda: over_limit(
            "work", (nodes + 1) * RECORD_WORK, self.work, "operations", self.names["work"],
            what=f"building graphs for the request (over {nodes} nodes recorded, "
                 f"{RECORD_WORK} operations each)"))

    def admit(self, price: Price) -> None:
        """Nothing when `price` fits; LimitExceeded (RESOURCE_EXHAUSTED) naming the limit, the
        amount, what is allowed, how to raise it and the node that pushes it over."""
        if self.response is not None and price.response_bytes > self.response:
            raise over_limit("response size", price.response_bytes, self.response, "bytes",
                             self.names["response"], hint=price.hint)
        if self.memory is not None and price.peak_bytes > self.memory:
            node, where = price.peak_at()
            raise over_limit("memory", price.peak_bytes, self.memory, "bytes at the peak", self.names["memory"],
                             what=where, node=node.id if node else "", op=node.op if node else "")
        if self.work is not None and price.work > self.work:
            node = price.node_over(self.work)
            raise over_limit("work", price.work, self.work, "operations", self.names["work"],
                             node=node.id if node else "", op=node.op if node else "")


@dataclass(frozen=True)
class PlanCost:
    """One plan of a request: what it is, how often it runs, its peak bytes and work per run."""

    what: str
    times: int
    peak_bytes: int
    work: int


@dataclass(frozen=True)
class Quote:
    """What `client.cost(...)` returns: a request's price, and whether the limits of the
    engine or server that priced it admit it (`refusal`: the message it would be refused with)."""

    peak_bytes: int
    work: int
    response_bytes: int
    plans: tuple[PlanCost, ...]
    admitted: bool
    refusal: str = ""
