"""One step of a plan, and what every way of running it shares: checking the op's result
against the node's type, turning an exception raised by the op into an error that names the
node and op at fault, and knowing which dtype a ufunc step returns. The interpreter (`plan.py`) and the compiled plans
(`compiled.py`) both use these, so a failing node reads the same whichever ran it."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from wengert.errors import (EvaluationError, InternalError, LimitExceeded, WengertError, node_error, quoted,
                            within)
from wengert.ir.graph import Node, shape_text


class Step(NamedTuple):
    """Run `call(*values[args], **attrs)` into `values[out]`, then free the slots in `free`.
    (A named tuple: a plan makes one per node, and a frozen dataclass takes thrice as long.)"""

    call: Callable[..., np.ndarray]
    args: tuple[int, ...]
    out: int
    attrs: dict[str, Any]
    node: Node
    batched: bool
    free: tuple[int, ...]
    dtype: np.dtype


def conform(out: Any, step: Step, batch: int | None) -> np.ndarray:
    """The op's result as an array; a dtype or shape disagreeing with the shape rule is a plugin
    bug, reported as such rather than passed on (a silent cast would hide a float32 forward
    behind a float64 answer)."""
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.dtype != step.dtype:
        raise node_error(InternalError, step.node.id, step.node.op,
                         f"op returned dtype {out.dtype}, its shape rule says {step.dtype}")
    t = step.node.type
    core = out.shape[1:] if step.batched else out.shape
    if core != t.shape or (step.batched and out.shape[0] not in (1, batch)):
        raise node_error(InternalError, step.node.id, step.node.op,
                         f"op returned shape {shape_text(out.shape)}, its shape rule says {shape_text(t.shape)}"
                         + (" after the batch axis" if step.batched else ""))
    return out


def op_error(node: Node, exc: Exception) -> WengertError:
    """What `exc`, raised by `node`'s op (run by a plan, or on a sparsity walk's index sets),
    is reported as: naming the node and op."""
    if isinstance(exc, WengertError):  # from a graph the op runs (a loop's body): name both nodes
        return within(f"node {quoted(node.id)} ({node.op})", exc)
    if isinstance(exc, MemoryError):  # past the process's memory: a limit, not a bad input
        error = node_error(LimitExceeded, node.id, node.op, f"out of memory computing a {node.type} value ({exc})")
        error.limit = "memory"
        return error
    return node_error(EvaluationError, node.id, node.op, f"{type(exc).__name__}: {exc}")


def result_dtype(ufunc: np.ufunc, dtypes: list[np.dtype]) -> np.dtype | None:
    """The dtype `ufunc` returns for inputs of `dtypes` (the types the plan's values are
    checked to have), or None when NumPy cannot say."""
    try:
        return ufunc.resolve_dtypes(tuple(dtypes) + (None,) * ufunc.nout)[-1]
    except (TypeError, ValueError):
        return None


def elementwise_ufunc(call: Any, dtypes: Sequence[np.dtype]) -> np.ufunc | None:
    """The NumPy ufunc `call` is on inputs of `dtypes`, when it is one of one output computing
    each element on its own (not a generalized ufunc such as matmul): `call` itself, or the
    ufunc a float op declares it computes on inputs all of one float dtype (`ufunc_on_floats`:
    a forward converting other inputs to float first). None otherwise."""
    if not isinstance(call, np.ufunc):
        call = getattr(call, "ufunc_on_floats", None)
        if len(set(dtypes)) != 1 or dtypes[0] not in _FLOATS:
            return None
    if isinstance(call, np.ufunc) and call.nout == 1 and call.signature is None:
        return call
    return None


_FLOATS = frozenset({np.dtype("float32"), np.dtype("float64")})
