"""wengert: automatic differentiation as a network service.

`import wengert as wg` gives the SDK:

* symbolic values and NumPy-named graph functions (`wg.sin`, `wg.sum`, ...: every function of
  the array API standard, with `wg.linalg`); NumPy's own functions work on symbolic values too;
* pytrees (`wg.tree`): nested tuples, lists, dicts, dataclasses as arguments and results;
* `wg.trace` (a function to a `wg.Graph`) and `wg.function` (traced once per signature);
* loops and branches that stay loops in the graph: `wg.scan`, `wg.fori_loop`, `wg.while_loop`,
  `wg.cond`, `wg.switch`, `wg.checkpoint`, and `wg.checkpointing` for reverse mode through them;
* JAX's transforms: `wg.grad`, `wg.value_and_grad`, `wg.jvp`, `wg.vjp`, `wg.jacfwd`,
  `wg.jacrev`, `wg.jacobian`, `wg.hessian`, `wg.hvp`, `wg.vmap`, running on a client or
  nested inside a traced function;
* the clients (`wg.Client` over gRPC, `wg.Client.local()` in-process, `wg.AsyncClient`),
  `wg.default_client`, `wg.optim` (steepest descent under any norm), `wg.save`/`wg.load`,
  the typed errors, and `hookimpl`/`OpDef`/`NormDef` for plugin authors;
* `wg.random` (samples drawn with explicit keys) and `client.expectation_grad`, gradients of
  expectations with standard errors (`wg.Expectation`, docs/expectations.md).
"""

from wengert import linalg, optim, random, tree
from wengert.control_flow import checkpoint, checkpointing, cond, fori_loop, scan, switch, while_loop
from wengert.aio import AsyncClient
from wengert.api import OpInfo
from wengert.ir.builder import GraphBuilder, Value, apply, spec
from wengert.client import Client
from wengert.execution.cost import Limits, Quote
from wengert.expectations import Expectation, ExpectationResult
from wengert.errors import (
    Cancelled,
    DataDependentShape,
    DeadlineExceeded,
    EvaluationError,
    GraphNotFound,
    InternalError,
    InvalidGraph,
    InvalidIndex,
    InvalidRequest,
    InvalidTensor,
    LimitExceeded,
    NoDerivative,
    PluginError,
    Unauthenticated,
    Unavailable,
    UnknownOp,
    UnsupportedFunction,
    WengertError,
)
from wengert.ir.graph import Graph, Literal, Node, TensorType, wengert_list
from wengert.numpy_api import *  # noqa: F403 - the NumPy-named graph functions
from wengert.numpy_api import abs, all, any, max, min, pow, round, sum  # noqa: A004 - the standard's names
from wengert.linalg import einsum, matrix_transpose, tensordot, vecdot
from wengert.plugins import REQUIRED, Attr, Cost, Example, NormDef, OpDef, ShapeError, hookimpl
from wengert.serialization import load, save
from wengert.tables import Trace, TraceRow
from wengert.tracing import Function, function, trace
from wengert.transforms import (default_client, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp,
                                value_and_grad, vjp, vmap)

__version__ = "0.1.0"
