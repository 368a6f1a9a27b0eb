"""What an expectation request asks for and what it answers, as plain records shared by the
SDK, the engine, the optimiser and the wire (`wengert.expectations.wire`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wengert.errors import InvalidRequest

ESTIMATORS = ("auto", "pathwise", "score_function", "enumerate")
BASELINES = ("none", "moving_average", "leave_one_out")
MAX_SAMPLES = 10**8  # the price stays exact (64-bit) below this many samples


@dataclass(frozen=True)
class Expectation:
    """How to estimate E[f] and its gradient: `samples` draws of the graph's key input
    (`key_input`, an int64[2] input), sample i drawn with key (`key`, i); the `estimator`
    used at each stochastic node ("auto": pathwise where the node is reparameterised, the
    score function elsewhere; "enumerate": also sum exactly over every node with a finite
    support); a `baseline` for the score function ("moving_average" of the downstream cost over
    the samples in order, with weight `decay` on the past; "leave_one_out": the mean of the
    other samples'). See docs/expectations.md."""

    samples: int = 1000
    key: int = 0
    estimator: str = "auto"
    baseline: str = "none"
    decay: float = 0.9
    key_input: str = "key"

    def __post_init__(self) -> None:
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise InvalidRequest(f"samples must be between 1 and {MAX_SAMPLES}, got {self.samples}")
        if self.estimator not in ESTIMATORS:
            raise InvalidRequest(f"unknown estimator {self.estimator!r}; use one of {', '.join(ESTIMATORS)}")
        if self.baseline not in BASELINES:
            raise InvalidRequest(f"unknown baseline {self.baseline!r}; use one of {', '.join(BASELINES)}")
        if not 0 <= self.decay < 1:
            raise InvalidRequest(f"the moving average's decay must be in [0, 1), got {self.decay}")
        if not self.key_input:
            raise InvalidRequest("name the key input")


@dataclass(frozen=True)
class StochasticNode:
    """A sampling node of the graph and the estimator its gradient went through."""

    node: str
    op: str
    estimator: str  # "pathwise", "score_function" or "enumerate"


@dataclass(frozen=True)
class ExpectationResult:
    """The estimate of E[f] and of its gradient (by `wrt` input name, or for `expectation_grad`
    of a function in the structure of its parameters), with standard errors (the spread of the
    per-sample estimates over sqrt(samples); zero when every stochastic node was enumerated,
    NaN from a single sample), and the estimator used at each node."""

    value: float
    value_error: float
    gradient: dict[str, np.ndarray]
    gradient_error: dict[str, np.ndarray]
    nodes: tuple[StochasticNode, ...] = ()
    samples: int = 0
    baselines: dict[str, float] = field(default_factory=dict, compare=False)  # moving averages at the end

    @property
    def estimators(self) -> dict[str, str]:
        """Node id -> the estimator used there."""
        return {n.node: n.estimator for n in self.nodes}

    def __repr__(self) -> str:
        error = "" if math.isnan(self.value_error) else f" ± {self.value_error:.3g}"
        with np.printoptions(precision=4, threshold=8):
            return f"ExpectationResult(value={self.value:.6g}{error}, gradient={self.gradient!r}, samples={self.samples})"
