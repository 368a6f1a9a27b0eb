"""Second derivatives, forward over reverse: the Hessian is the Jacobian of the gradient graph.

The gradient graph (the VJP graph of a scalar output with its cotangent fixed to 1) is an
ordinary graph, so its JVP gives Hessian-vector products and its Jacobian the Hessian, swept
forward with a symmetric (star) colouring when the Hessian is sparse. Every op whose rules are
written with graph ops works unchanged. When an op's rules cannot be differentiated again, the
error names that op of the user's graph, not a node of the derivative graph.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from wengert.autodiff.transform import COTANGENT, check_wrt, jvp_graph, prefix_for, scalar_output, vjp_graph
from wengert.ir.builder import GraphBuilder
from wengert.errors import InvalidRequest, NoDerivative, node_error
from wengert.ir.graph import Graph
from wengert.execution.cost import Again, Prepared, Price, nbytes
from wengert.execution.plan import check_feeds
from wengert.jacobians.sweeps import plan_sweep, sweep

if TYPE_CHECKING:
    from wengert.execution.engine import Engine


@dataclass(frozen=True)
class HessianResult:
    """`blocks[(a, b)]` holds d²f / da db, shaped a's shape + b's shape (a `SparseBlock` when
    `format` is "sparse"); `sweeps`, `nnz`, `chunk`, `colouring`, `pattern_found` and `note`
    as for `JacobianResult`."""

    value: np.ndarray
    gradient: dict[str, np.ndarray]
    blocks: dict[tuple[str, str], Any]
    format: str
    sweeps: int
    nnz: int
    chunk: int
    colouring: str = "basis"
    pattern_found: bool = False
    note: str = ""


def prepare_hessian(engine: Engine, graph: Graph, inputs: Mapping[str, np.ndarray], output: str | None,
                    wrt: Sequence[str] | None, format: str = "dense", check=None) -> Prepared:
    """The Jacobian of the gradient graph of specialized `graph` with respect to `wrt`, swept
    forward with a symmetric colouring: priced, ready to run."""
    output, wrt = scalar_output(graph, output), check_wrt(graph, wrt)
    gradient = engine.derivative_graph(graph, "gradient", wrt, seeds=[output])
    prefix = prefix_for(graph, COTANGENT)
    with _second_order(engine, graph):
        planned = plan_sweep(engine, gradient, wrt, [prefix + name for name in wrt], "forward",
                             hold=format, symmetric=True)
    hint = "" if format == "sparse" else "ask for its structural nonzeros only (format=SPARSE)"
    response = nbytes(graph.output_type(output)) + sum(nbytes(graph.type_of(a)) for a in wrt) + planned.held
    price = engine.priced((planned, format, response), lambda: Price(planned.runs, response, planned.held, hint))

    def runner(inputs, seeds, check):
        check_feeds(graph, inputs)

        def run() -> HessianResult:
            result = sweep(engine, gradient, inputs, planned, check).collect(format)
            return HessianResult(
                result.values[output], {name: result.values[prefix + name] for name in wrt},
                {(a[len(prefix):], b): block for (a, b), block in result.blocks.items()},
                format, result.sweeps, result.nnz, result.chunk, result.colouring, result.pattern_found,
                result.note)
        return run
    return Again(price, runner)(inputs, {}, check)


def prepare_hvp(engine: Engine, graph: Graph, inputs: Mapping[str, np.ndarray],
                directions: Mapping[str, np.ndarray], output: str | None, batched: bool = False,
                check=None) -> Prepared:
    """(value, gradient, H v) for input `directions` of specialized `graph`: the JVP of the
    gradient graph, priced, ready to run."""
    output = scalar_output(graph, output)
    if not directions:
        raise InvalidRequest("give a direction for at least one input")
    wrt = check_wrt(graph, list(directions))
    gradient = engine.derivative_graph(graph, "gradient", wrt, seeds=[output])
    prefix = prefix_for(graph, COTANGENT)
    with _second_order(engine, graph):
        jvp = engine.prepare_jvp(gradient, inputs, directions, batched=batched, check=check)

    def run():
        values, tangents = jvp.run()
        return (values[output], {name: values[prefix + name] for name in wrt},
                {name: tangents[prefix + name] for name in wrt})
    return Prepared(jvp.price, run)


@contextmanager
def _second_order(engine: Engine, graph: Graph):
    """Re-raise a NoDerivative met while differentiating the gradient graph as one naming the
    op of `graph` whose derivative rules are not differentiable again."""
    try:
        yield
    except NoDerivative as exc:
        for node in graph.nodes:
            if not _twice_differentiable(node, graph, engine.registry):
                raise node_error(NoDerivative, node.id, node.op,
                                 f"second derivatives need this op's derivative rules to be "
                                 f"differentiable again, and they are not ({exc})") from exc
        raise


def _twice_differentiable(node, graph: Graph, registry) -> bool:
    """Whether the JVP of the VJP graph of `node` alone can be built."""
    if not node.type.is_float or not any(graph.type_of(x).is_float for x in node.inputs):
        return True
    builder = GraphBuilder(registry)
    args = [builder.input(f"x{i}", graph.type_of(x)) for i, x in enumerate(node.inputs)]
    alone = builder.build({"y": builder.add(node.op, args, node.attrs)})
    try:
        jvp_graph(vjp_graph(alone, registry=registry), registry=registry)
    except NoDerivative:
        return False
    return True
