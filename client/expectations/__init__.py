"""`wengert.expectations`: gradients of expectations over stochastic computation graphs.

`surrogate` is the graph transformation (`expectation_gradient`: pathwise, score function
through DiCE's magic box, enumeration), `estimate` runs it over a batch of samples with
baselines and standard errors, `settings` holds the request and result records, `wire` their
protobufs. See docs/expectations.md.
"""

from wengert.expectations.settings import (BASELINES, ESTIMATORS, Expectation, ExpectationResult,
                                           StochasticNode)
from wengert.expectations.surrogate import Surrogate, expectation_gradient, magic_box

__all__ = ["BASELINES", "ESTIMATORS", "Expectation", "ExpectationResult", "StochasticNode", "Surrogate",
           "expectation_gradient", "magic_box"]
