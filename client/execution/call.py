"""`Call`: one request as plain data, the same for every transport and for the engine.

The SDK describes each method call as a `Call`; the remote transport encodes it as the RPC's
request, and the server decodes a request back into one; `Engine.prepare(call)` prices and
readies it. So a request means the same thing whether it runs in-process or on a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from wengert.ir.graph import Graph
from wengert.loops.checkpointing import Checkpoint, current

if TYPE_CHECKING:
    from wengert.expectations.settings import Expectation
    from wengert.optim.steepest import Settings
    from wengert.server_ops import Signature


@dataclass
class Call:
    """One request, before any transport sees it: the RPC's name and its fields as arrays.
    Nothing changes a call once made (`dataclasses.replace` makes another); it is not a frozen
    dataclass because making one of those, field by field, costs 4 us of a call's 20."""

    rpc: str
    graph: Graph | None = None
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    tangents: dict[str, np.ndarray] = field(default_factory=dict)
    cotangents: dict[str, np.ndarray] = field(default_factory=dict)
    wrt: tuple[str, ...] = ()
    batched: bool = False
    mode: str = ""
    directions: dict[str, np.ndarray] = field(default_factory=dict)  # Hvp
    output: str = ""  # Hessian, Hvp: the scalar output ("" for the only one)
    format: str = "dense"  # Jacobian, Hessian: "dense" or "sparse" (COO) blocks
    kind: str = ""  # DerivativeGraph: "jvp", "vjp" or "gradient"
    data: dict[str, np.ndarray] = field(default_factory=dict)  # Minimize: the inputs held fixed
    settings: Settings | None = None  # Minimize: the run (`inputs` are the parameters)
    expectation: Expectation | None = None  # ExpectationGradient: samples, key, estimator, baseline
    signatures: tuple[Signature, ...] = ()  # InferTypes
    registry: Any = field(default=None, compare=False)  # DerivativeGraph: what checks the result
    batched_inputs: tuple[str, ...] = ()  # Evaluate: inputs with a leading batch axis (vmap)
    checkpoint: Checkpoint = field(default_factory=current)  # loops' reverse sweeps (wg.checkpointing)
