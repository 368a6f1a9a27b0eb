"""Steepest descent under any norm: one optimizer, parameterized by a norm.

Steepest descent moves the parameters along the unit direction (in a chosen norm) that lowers
the loss fastest, scaled by how fast that is (the notes, section 3):

    dw = -lr * ||g||_* * dualize(g),    dualize(g) = argmax over ||v|| <= 1 of <g, v>

The norm (a `NormDef` from a plugin; builtins "l2", "l1", "linf", "spectral", "product")
supplies `dual_norm` and `dualize`. Everything else is written once, here, for every norm:
momentum, learning-rate schedules and the minimization loop. Under l2 this is plain gradient
descent, under l-inf sign descent, under the spectral norm orthogonalized updates U V^T.

    params = {"W": W0.copy(), "b": b0.copy()}   # float arrays, updated in place
    opt = wg.optim.SteepestDescent(params, norm="spectral", lr=0.1, momentum=0.9)
    for _ in range(100):
        _, grads = engine.vjp(graph, {**params, **data}, {"y": 1.0}, wrt=list(params))
        opt.step(grads)

`minimize` runs that loop with stopping rules; the Minimize RPC serves exactly it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

import numpy as np

from wengert import tree
from wengert.autodiff.transform import scalar_output
from wengert.errors import InvalidRequest
from wengert.execution.cost import Prepared, Price
from wengert.expectations.estimate import stochastic_objective
from wengert.expectations.settings import Expectation
from wengert.ir.graph import Graph, shape_text
from wengert.plugins.normdef import NormDef, product
from wengert.plugins.registry import default_registry

NormSpec = Union[str, NormDef, Mapping[Any, Union[str, NormDef]]]
SCHEDULES = ("constant", "exponential", "cosine")


def resolve_norm(norm: NormSpec, keys: Sequence, registry=None) -> NormDef:
    """The norm for the parameters `keys`: a registered name, a `NormDef`, or a mapping
    {parameter: name or NormDef}, meaning the product norm in which each parameter named has
    its own norm and the others are Euclidean."""
    registry = registry or default_registry()

    def one(spec: str | NormDef) -> NormDef:
        return spec if isinstance(spec, NormDef) else registry.norm(spec)

    if not isinstance(norm, Mapping):
        return one(norm)
    unknown = [k for k in norm if k not in keys]
    if unknown:
        raise InvalidRequest(f"norm given for {unknown[0]!r}, which is not a parameter")
    return product([one(norm.get(k, "l2")) for k in keys])


@dataclass(frozen=True)
class Schedule:
    """The learning-rate multiplier at step t = 0, 1, ...: step t uses lr * schedule(t).

    "constant": 1. "exponential": decay**t. "cosine": (1 + cos(pi * min(t, steps) / steps)) / 2,
    from 1 down to 0 over `steps` steps. These three also travel over the wire (Minimize);
    `SteepestDescent` takes any callable t -> multiplier as well.
    """

    kind: str = "constant"
    decay: float = 1.0
    steps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise InvalidRequest(f"unknown schedule {self.kind!r}; use one of {', '.join(SCHEDULES)}")
        if self.kind == "exponential" and not 0 < self.decay <= 1:
            raise InvalidRequest(f"exponential schedule: decay must be in (0, 1], got {self.decay}")
        if self.kind == "cosine" and self.steps < 1:
            raise InvalidRequest(f"cosine schedule: steps must be at least 1, got {self.steps}")

    def __call__(self, t: int) -> float:
        if self.kind == "exponential":
            return self.decay**t
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(t, self.steps) / self.steps))
        return 1.0


class SteepestDescent:
    """Steepest descent under `norm`, with optional momentum and learning-rate schedule.

    `params` is a dict of float NumPy arrays (keyed by name, e.g. graph input names), a list
    of them, or any pytree of them (a list of dicts of layers, a registered dataclass; its
    leaves are then keyed by their paths, `"0/w"`, as `wg.tree` names them); `step` updates
    those arrays in place, as PyTorch optimizers update tensors, from a gradient of the same
    structure (what `client.grad` returns). With momentum mu the step direction comes from
    m <- mu * m + g instead of g: heavy-ball momentum, exactly PyTorch's SGD momentum under l2,
    and the same rule under any other norm.
    """

    def __init__(self, params: Any, norm: NormSpec = "l2", lr: float = 0.01, momentum: float = 0.0,
                 schedule: Callable[[int], float] = Schedule(), registry=None):
        self._structure = None  # a nested pytree's structure; flat dicts and lists keep their keys
        if not _flat(params):
            pairs, self._structure = tree.flatten_with_paths(params)
            params = dict(pairs)
        self.params = params
        self.keys = list(params) if isinstance(params, Mapping) else list(range(len(params)))
        for k in self.keys:
            p = params[k]
            if not (isinstance(p, np.ndarray) and p.dtype.kind == "f" and p.flags.writeable):
                got = f"{type(p).__name__} {getattr(p, 'dtype', '')}".strip()
                raise InvalidRequest(f"parameter {k!r} must be a writeable float NumPy array "
                                     f"(it is updated in place), got {got}")
        if not lr > 0:
            raise InvalidRequest(f"the learning rate must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise InvalidRequest(f"momentum must be in [0, 1), got {momentum}")
        self.norm = resolve_norm(norm, self.keys, registry)
        self.lr, self.momentum, self.schedule = lr, momentum, schedule
        self.steps = 0
        self._velocity = [np.zeros_like(params[k]) for k in self.keys] if momentum else None

    def step(self, grads: Any) -> None:
        """One step against `grads`: the gradient, keyed (or ordered, or structured) like the
        parameters."""
        if self._structure is not None:
            try:
                grads = dict(zip(self.keys, self._structure.flatten_up_to(grads, lambda g: False, "gradient")))
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
        g = [np.asarray(grads[k]) for k in self.keys]
        for k, gk in zip(self.keys, g):
            if gk.shape != self.params[k].shape:
                raise InvalidRequest(f"gradient for {k!r} is shaped {shape_text(gk.shape)}, "
                                     f"the parameter {shape_text(self.params[k].shape)}")
        if self._velocity is not None:
            self._velocity = g = [self.momentum * v + gk for v, gk in zip(self._velocity, g)]
        scale = self.lr * self.schedule(self.steps) * self.norm.dual_norm(g)
        for k, d in zip(self.keys, self.norm.dualize(g)):
            self.params[k] -= scale * d
        self.steps += 1


def _flat(params: Any) -> bool:
    """A dict or list of arrays, which the optimizer keys as it is."""
    values = params.values() if isinstance(params, Mapping) else params if isinstance(params, (list, tuple)) else None
    return values is not None and all(isinstance(v, np.ndarray) for v in values)


@dataclass(frozen=True)
class Stop:
    """When `minimize` stops: once the gradient's dual norm is at most `tolerance`, after
    `max_steps` steps, or after `max_seconds` (wall clock, checked between steps), whichever
    comes first; also when the loss or gradient stops being finite. 0 turns a limit off, and
    at least one of `max_steps` and `max_seconds` must be on."""

    max_steps: int = 0
    tolerance: float = 0.0
    max_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not all(0 <= limit < math.inf for limit in (self.max_steps, self.tolerance, self.max_seconds)):
            raise InvalidRequest("stopping limits must be finite and not negative (NaN never stops a run), "
                                 f"got max_steps={self.max_steps}, tolerance={self.tolerance}, "
                                 f"max_seconds={self.max_seconds}")
        if not (self.max_steps or self.max_seconds):
            raise InvalidRequest("set max_steps or max_seconds: a tolerance alone may never be met")

    def reason(self, step: int, loss: float, gradient_norm: float, seconds: float) -> str:
        """Why to stop after `step` steps ("" to go on)."""
        if not (math.isfinite(loss) and math.isfinite(gradient_norm)):
            return "diverged"
        if gradient_norm <= self.tolerance:
            return "converged"
        if self.max_steps and step >= self.max_steps:
            return "max_steps"
        if self.max_seconds and seconds >= self.max_seconds:
            return "time_limit"
        return ""


@dataclass(frozen=True)
class Progress:
    """Where `minimize` is after `step` steps: the loss and the gradient's dual norm ||g||_*
    at `params` (a copy); `reason` says why it stopped, on the last report only."""

    step: int
    loss: float
    gradient_norm: float
    params: dict[str, np.ndarray]
    reason: str = ""


@dataclass(frozen=True)
class Settings:
    """A minimization as the SDK and the Minimize RPC describe it: the stopping rule, the
    geometry and step size, how often to report, and the scalar output to minimize (its
    expectation over the graph's key, stepping along gradient estimates, with `expectation`)."""

    stop: Stop
    norm: NormSpec = "l2"
    lr: float = 0.01
    momentum: float = 0.0
    schedule: Schedule = Schedule()
    every: int = 1
    loss: str | None = None
    expectation: Expectation | None = None


Objective = Callable[[Mapping[str, np.ndarray], int], tuple[float, Mapping[str, np.ndarray]]]


def prepare_minimize(engine, graph: Graph, parameters: Mapping[str, Any], data: Mapping[str, Any],
                     settings: Settings, check=None) -> Prepared:
    """A minimization of `graph` from `parameters` (not modified), priced before its first
    step: one step is a VJP (or a gradient estimate), so the run costs `stop.max_steps` of them.
    A run stopped by time alone does as many steps as the engine's work limit allows, then ends
    with "work_limit"."""
    data = dict(data)
    loss = scalar_output(graph, settings.loss, "loss")
    expectation = settings.expectation
    _check_inputs(graph, parameters, data, expectation and expectation.key_input)
    # In graph input order, as an SDK user's dict built from the graph would be: sums over the
    # parameters then round alike, and the results agree to the last bit.
    order = {name: i for i, name in enumerate(graph.input_names)}
    names = sorted(parameters, key=lambda k: order.get(k, len(order)))
    out = graph.output_type(loss)
    if expectation is None:
        step_price = engine.prepare_vjp(graph, {**data, **parameters}, {loss: np.ones(out.shape, out.dtype)},
                                        names, check=check).price
    else:
        step_price, objective = stochastic_objective(engine, graph, {**data, **parameters}, names, loss,
                                                     expectation, check)
    per_step = step_price.work
    allowed = engine.limits.work // per_step if engine.limits.work is not None and per_step else None
    steps = settings.stop.max_steps or allowed or 1
    params_bytes = sum(np.asarray(parameters[k]).nbytes for k in names)
    price = engine.priced((step_price, steps, params_bytes, bool(settings.momentum)), lambda: Price(
        tuple(dataclasses.replace(run, times=run.times * steps) for run in step_price.runs),
        params_bytes, held=params_bytes * (3 if settings.momentum else 2)))

    def run() -> Iterator[Progress]:
        optimizer = SteepestDescent({k: np.array(parameters[k]) for k in names}, norm=settings.norm,
                                    lr=settings.lr, momentum=settings.momentum,
                                    schedule=settings.schedule, registry=engine.registry)
        gradient = _loss_gradient(engine, graph, data, loss, names, check) if expectation is None else objective
        return _run(optimizer, gradient, settings.stop, settings.every, None if settings.stop.max_steps else allowed)
    return Prepared(price, run)


def minimize(engine, graph: Graph, optimizer: SteepestDescent, data: Mapping[str, Any] | None = None,
             *, loss: str | None = None, stop: Stop, every: int = 1, check=None,
             expectation: Expectation | None = None) -> Iterator[Progress]:
    """Minimize `graph`'s scalar output `loss` (default: its only output) with `optimizer`,
    whose parameters (a dict keyed by graph input name) are the starting point and are updated
    in place; `data` holds every other input. Yields the start, every `every`-th step and the
    last, which has a `reason`. `check` is the engine's cancellation callback. A request that
    does not fit the graph is refused at once, before the first step. With `expectation`, the
    objective is E[loss] over the graph's key input, and each step follows a gradient estimate
    (`wengert.expectations`)."""
    data = dict(data or {})
    loss = scalar_output(graph, loss, "loss")
    _check_inputs(graph, optimizer.params, data, expectation and expectation.key_input)
    if expectation is None:
        gradient = _loss_gradient(engine, graph, data, loss, optimizer.keys, check)
    else:
        _, gradient = stochastic_objective(engine, graph, {**data, **optimizer.params}, optimizer.keys, loss,
                                           expectation, check)
    return _run(optimizer, gradient, stop, every)


def _loss_gradient(engine, graph: Graph, data: dict[str, Any], loss: str, keys: Sequence[str],
                   check) -> Objective:
    """The deterministic objective: the loss and its gradient by one VJP."""
    out = graph.output_type(loss)
    seed = {loss: np.ones(out.shape, out.dtype)}

    def gradient(params: Mapping[str, np.ndarray], step: int) -> tuple[float, Mapping[str, np.ndarray]]:
        values, grads = engine.vjp(graph, {**data, **params}, seed, keys, check=check)
        return values[loss].item(), grads  # one element, any shape
    return gradient


def _run(optimizer: SteepestDescent, gradient: Objective, stop: Stop, every: int,
         work_steps: int | None = None) -> Iterator[Progress]:
    """The loop, stepping along `gradient(params, step)`; `work_steps`, when given, is the
    most steps the work limit allows."""
    params = optimizer.params
    started = time.monotonic()
    for step in itertools.count():
        value, grads = gradient(params, step)
        g = [grads[k] for k in optimizer.keys]
        finite = all(np.all(np.isfinite(b)) for b in g)  # an SVD, say, would raise on NaNs
        gradient_norm = optimizer.norm.dual_norm(g) if finite else math.inf
        reason = stop.reason(step, value, gradient_norm, time.monotonic() - started)
        if not reason and work_steps is not None and step >= work_steps:
            reason = "work_limit"
        if reason or step % every == 0:
            yield Progress(step, value, gradient_norm, {k: p.copy() for k, p in params.items()}, reason)
        if reason:
            return
        optimizer.step(grads)


def _check_inputs(graph: Graph, params: Any, data: Mapping[str, Any], key: str | None = None) -> None:
    """Every graph input is exactly one of: a float parameter, or data (or the random `key`
    of a stochastic objective, which the estimator feeds)."""
    if not isinstance(params, Mapping):
        raise InvalidRequest("minimize needs the parameters as a dict keyed by graph input name")
    inputs = dict(graph.inputs)
    for name in [*params, *data]:
        if name not in inputs:
            raise InvalidRequest(f"{name!r} is not an input of the graph (it has {', '.join(inputs)})")
    for name, t in inputs.items():
        if name in params and name in data:
            raise InvalidRequest(f"input {name!r} is given both as a parameter and as data")
        if name not in params and name not in data and name != key:
            raise InvalidRequest(f"input {name!r} is neither a parameter nor data")
        if name in params and not t.is_float:
            raise InvalidRequest(f"parameter {name!r} is {t}: only float inputs can be optimized")
