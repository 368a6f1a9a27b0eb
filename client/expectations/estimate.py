"""Running an expectation: the surrogate's gradient graph over a batch of samples, in one
vectorised sweep.

Sample i runs with key (seed, i), so N samples are the key input with a leading batch axis of
N; an enumerated support of S values multiplies it to N * S rows, (sample, value) in C order.
One run of the gradient plan gives every row's value of f and gradient, which are summed over
the support and averaged over the samples; the standard errors are their spread over sqrt(N).
Baselines need every sample's downstream costs first, so they add one run of the costs' plan.
The request is priced before anything runs: the plans' profiles at batch N * S.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.signal import lfilter

from wengert.autodiff.transform import COTANGENT, check_wrt, prefix_for
from wengert.errors import InvalidRequest
from wengert.execution.cost import Prepared, Price, Run
from wengert.expectations.settings import Expectation, ExpectationResult
from wengert.expectations.surrogate import Surrogate, check_key_input, expectation_gradient
from wengert.ir.graph import Graph
from wengert.plugins.sampling import fold_in, key_array, sample_keys


class Estimation:
    """An expectation request prepared on `engine`: its surrogate, plans and price. `run`
    estimates at any inputs and seed (a stochastic minimisation runs it once per step)."""

    def __init__(self, engine, graph: Graph, inputs: Mapping[str, np.ndarray], wrt: Sequence[str] | None,
                 output: str | None, settings: Expectation, check=None):
        key = settings.key_input
        if key in inputs:
            raise InvalidRequest(f"input {key!r} is the key, which the estimator feeds (one stream per "
                                 "sample): leave it out and set the seed with `key`")
        check_key_input(graph, key)
        graph = engine.specialize(graph, {**inputs, key: key_array(settings.key)})
        wrt = tuple(check_wrt(graph, wrt))
        baseline = settings.baseline != "none"
        self.engine, self.settings, self.check = engine, settings, check
        self.surrogate: Surrogate = engine.cached(
            (graph, "expectation", wrt, output, settings.estimator, key, baseline),
            lambda: expectation_gradient(graph, wrt, settings.estimator, output=output, key=key,
                                         baseline=baseline, registry=engine.registry))
        surrogate = self.surrogate
        self.gradient_graph = engine.derivative_graph(surrogate.graph, "gradient", wrt, seeds=["surrogate"])
        self.prefix = prefix_for(surrogate.graph, COTANGENT)
        varying = frozenset({key, *surrogate.support})
        self.plan = engine.plan(self.gradient_graph, varying | frozenset(surrogate.baselines.values()))
        self.cost_plan = engine.plan(surrogate.costs, varying) if surrogate.costs is not None else None
        self.samples = settings.samples if surrogate.sampled else 1
        batch = self.samples * surrogate.support_size
        sizes = sum(self.gradient_graph.output_type(self.prefix + name).nbytes for name in wrt)
        runs = [Run(f"the surrogate's gradient, {self.samples} sample(s) x {surrogate.support_size} "
                    "enumerated value(s)", engine.profile(self.plan), batch)]
        if self.cost_plan is not None:
            runs.insert(0, Run("the downstream costs, for the baselines", engine.profile(self.cost_plan), batch))
        # Per-sample gradients are summed and spread into two arrays while they are held.
        self.price = engine.priced((self.plan, self.cost_plan, batch),
                                   lambda: Price(tuple(runs), 2 * sizes + 16, held=2 * batch * sizes))

    def run(self, inputs: Mapping[str, np.ndarray], seed: int,
            moving: Mapping[str, float] | None = None) -> ExpectationResult:
        """The estimate at `inputs` with samples of seed `seed`; `moving` holds the moving
        averages to start from (a minimisation's previous step), returned updated."""
        surrogate, count, size = self.surrogate, self.samples, self.surrogate.support_size
        feeds = {**inputs, surrogate.key: np.repeat(sample_keys(seed, count), size, axis=0)}
        feeds.update((name, np.tile(values, (count,) + (1,) * (values.ndim - 1)))
                     for name, values in surrogate.support.items())
        baselines = {}
        if self.cost_plan is not None:
            zeros = {name: np.zeros((), self.surrogate.graph.types[name].dtype) for name in surrogate.baselines.values()}
            costs = self.cost_plan.run({**feeds, **zeros}, self.check)
            for node, name in surrogate.baselines.items():
                per_sample = self._per_sample(self.cost_plan, costs, surrogate.cost_outputs[node])
                values, baselines[node] = _baseline(per_sample, self.settings, (moving or {}).get(node, 0.0))
                feeds[name] = np.repeat(values, size).astype(zeros[name].dtype)
        out = self.plan.run(feeds, self.check)
        value, value_error = _mean(self._per_sample(self.plan, out, "value"), surrogate.sampled)
        gradient, gradient_error = {}, {}
        for name in surrogate.wrt:
            mean, error = _mean(self._per_sample(self.plan, out, self.prefix + name), surrogate.sampled)
            dtype = self.gradient_graph.output_type(self.prefix + name).dtype
            gradient[name], gradient_error[name] = np.asarray(mean, dtype), np.asarray(error, dtype)
        return ExpectationResult(float(value), float(value_error), gradient, gradient_error, surrogate.nodes,
                                 count, baselines)

    def _per_sample(self, plan, out: Mapping[str, np.ndarray], name: str) -> np.ndarray:
        """Output `name` per sample: summed over the enumerated values, (samples,) + its shape."""
        count, size = self.samples, self.surrogate.support_size
        array = out[name]
        core = plan.graph.output_type(name).shape
        if not plan.is_batched[dict(plan.graph.outputs)[name]]:
            array = np.broadcast_to(array, (count * size,) + core)
        return np.asarray(array, dtype=np.float64).reshape((count, size) + core).sum(axis=1)


def _mean(per_sample: np.ndarray, sampled: bool) -> tuple[np.ndarray, np.ndarray]:
    """The mean over samples and its standard error (0 when nothing was sampled, NaN from one
    sample)."""
    count = len(per_sample)
    mean = per_sample.mean(axis=0)
    if not sampled:
        return mean, np.zeros_like(mean)
    if count < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, per_sample.std(axis=0, ddof=1) / math.sqrt(count)


def _baseline(costs: np.ndarray, settings: Expectation, start: float) -> tuple[np.ndarray, float]:
    """Each sample's baseline, from the other samples' downstream costs only (so it does not
    bias the score function), and the moving average after the last sample."""
    count = len(costs)
    if settings.baseline == "leave_one_out":
        return ((costs.sum() - costs) / (count - 1) if count > 1 else np.zeros(count)), start
    decay = settings.decay
    averages = lfilter([1 - decay], [1, -decay], costs, zi=[decay * start])[0]
    return np.concatenate([[start], averages[:-1]]), float(averages[-1])


def prepare_expectation(engine, graph: Graph, inputs: Mapping[str, Any], wrt: Sequence[str] | None,
                        output: str | None, settings: Expectation, check=None) -> Prepared:
    """An ExpectationGradient request: checked, priced, ready to run."""
    inputs = {name: np.asarray(v) for name, v in inputs.items()}
    estimation = Estimation(engine, graph, inputs, wrt, output, settings, check)
    return Prepared(estimation.price, lambda: estimation.run(inputs, settings.key))


def stochastic_objective(engine, graph: Graph, inputs: Mapping[str, Any], parameters: Sequence[str],
                         loss: str, settings: Expectation, check=None
                         ) -> tuple[Price, Callable[[Mapping[str, np.ndarray], int], tuple[float, dict]]]:
    """What a stochastic minimisation runs each step: the price of one step, and
    `step(params, t) -> (estimate of E[loss], gradient estimate)`, with fresh samples at every
    step (seed fold_in(key, t)) and the moving-average baselines carried from step to step."""
    data = {name: np.asarray(v) for name, v in inputs.items() if name not in parameters}
    estimation = Estimation(engine, graph, {**data, **{k: np.asarray(inputs[k]) for k in parameters}},
                            parameters, loss, settings, check)
    moving: dict[str, float] = {}
    seed = key_array(settings.key)

    def step(params: Mapping[str, np.ndarray], t: int) -> tuple[float, dict[str, np.ndarray]]:
        result = estimation.run({**data, **params}, int(fold_in(seed, t)[0]), moving)
        moving.update(result.baselines)
        return result.value, result.gradient
    return estimation.price, step
