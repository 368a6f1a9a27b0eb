"""wengert: automatic differentiation as a network service.

`import wengert as wg` gives the SDK: symbolic values and NumPy-named graph functions
(`wg.sin`, `wg.sum`, ...), `wg.trace` to turn a Python function into a graph, the engine's
`evaluate`/`jvp`/`vjp`/`jacobian`, typed errors, and `hookimpl`/`OpDef` for plugin authors.
"""

from wengert.builder import GraphBuilder, Value, apply, spec, trace
from wengert.errors import (
    Cancelled,
    DeadlineExceeded,
    GraphNotFound,
    InternalError,
    InvalidGraph,
    InvalidRequest,
    InvalidTensor,
    LimitExceeded,
    NoDerivative,
    PluginError,
    Unauthenticated,
    Unavailable,
    UnknownOp,
    WengertError,
)
from wengert.graph import Graph, Literal, Node, TensorType, wengert_list
from wengert.numpy_api import *  # noqa: F403 - the NumPy-named graph functions
from wengert.numpy_api import abs, max, min, sum  # noqa: A004 - NumPy's names, on purpose
from wengert.plugins import REQUIRED, Attr, Example, OpDef, ShapeError, hookimpl

__version__ = "0.1.0"
