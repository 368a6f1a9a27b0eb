"""wengert: automatic differentiation as a network service.

`import wengert as wg` gives the SDK: symbolic values and NumPy-named graph functions
(`wg.sin`, `wg.sum`, ...: every function of the array API standard, with `wg.linalg`),
`wg.trace` to turn a Python function into a graph, the engine's `evaluate`/`jvp`/`vjp`/`jacobian`, `wg.optim` (steepest descent under any norm), typed errors,
and `hookimpl`/`OpDef`/`NormDef` for plugin authors. The clients (`wg.Client`,
`wg.Client.local()`, `wg.AsyncClient`) offer `evaluate`/`jvp`/`vjp`/`jacobian`/`grad`/`trace`
in-process or over gRPC; `wg.grad(f)(x)` is the JAX-style shorthand; `wg.save`/`wg.load` keep
graphs in files. `wg.random` draws samples with explicit keys, and
`client.expectation_grad` estimates gradients of expectations (`wg.Expectation`).
"""

from wengert import linalg, optim, random
from wengert.aio import AsyncClient
from wengert.api import OpInfo
from wengert.ir.builder import GraphBuilder, Value, apply, spec, trace
from wengert.client import Client
from wengert.execution.cost import Limits, Quote
from wengert.expectations import Expectation, ExpectationResult
from wengert.errors import (
    Cancelled,
    DataDependentShape,
    DeadlineExceeded,
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
from wengert.transforms import grad, jacobian, value_and_grad

__version__ = "0.1.0"
