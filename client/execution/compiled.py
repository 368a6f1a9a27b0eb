"""Plans as straight-line Python: one generated line per step over local variables, compiled once.

The interpreter (`Plan._execute`) looks up each step's arguments in a list and checks each
result with a general function: about a microsecond per node, which is what a graph of scalar
ops costs. The function generated here does the same work with those look-ups resolved when it
is compiled (`v7 = f7(v3)`; `v8 = v7 * k2`). Its results are the interpreter's bit for bit:
the same NumPy functions on the same values in the same order. Two shortcuts, invisible
from outside:

* a 0-d result of a ufunc stays the NumPy scalar the ufunc returns (turning it into a 0-d
  array costs more than the op); it becomes an array before any other op sees it and before it
  leaves the plan;
* add, sub, mul, div and neg are written as Python operators, which call the same ufunc on
  arrays, and on NumPy scalars the same IEEE operation through NumPy's scalar math, without the
  ufunc's dispatch.

Consecutive elementwise steps over large arrays run as one `FusedChain`, block by block
(`wengert.execution.fusion`). An exception is traced back to the line, and so the step, that
raised it, and reported as the interpreter reports it (`steps.op_error`). With a `check` (a
worker's cancellation and status callback) a second variant calls it before every step, as the
interpreter does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from wengert.execution.fusion import chains
from wengert.execution.steps import Step, conform, elementwise_ufunc, op_error, result_dtype
from wengert.ir.graph import TensorType

# Ufuncs whose Python operator is the same computation: the ufunc itself on arrays, the same
# IEEE operation on NumPy scalars.
_OPERATORS = {np.add: "{} + {}", np.subtract: "{} - {}", np.multiply: "{} * {}", np.true_divide: "{} / {}",
              np.negative: "-{}"}


class CompiledPlan:
    """The steps of a plan as one generated `function` of the inputs, the batch size and the
    check, returning the outputs; its `source` is kept for reading and debugging. `inputs` and
    `outputs` are slots in order; `template` holds the constants' values (None elsewhere);
    `types` and `batched` say each slot's type and whether it carries a batch axis."""

    def __init__(self, steps: Sequence[Step], inputs: Sequence[int], outputs: Sequence[int],
                 template: Sequence[Any], types: Sequence[TensorType], batched: Sequence[bool], checked: bool):
        lines, namespace, self._at = _generate(steps, inputs, outputs, template, types, batched, checked)
        self.source = "\n".join(lines) + "\n"
        exec(compile(self.source, f"<compiled plan of {len(steps)} steps>", "exec"), namespace)
        # Taken out of its own globals: a function in its globals is a reference cycle, which
        # would keep the plan's constants alive after the cache drops the plan, until a full
        # garbage collection.
        self.function = namespace.pop("plan")

    def __call__(self, arrays: Sequence[np.ndarray], batch: int | None, check) -> tuple[np.ndarray, ...]:
        try:
            return self.function(*arrays, batch, check)
        except Exception as exc:
            step = self._failed_step(exc)
            if step is None:  # a check, a result refused by `conform`, a fused chain: already reported
                raise
            raise op_error(step.node, exc) from exc

    def _failed_step(self, exc: Exception) -> Step | None:
        """The step whose op raised `exc` (None when something else on its line raised)."""
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code is self.function.__code__:
                line = tb.tb_lineno
            tb = tb.tb_next
        return self._at.get(line)


def _generate(steps: Sequence[Step], inputs: Sequence[int], outputs: Sequence[int], template: Sequence[Any],
              types: Sequence[TensorType], batched: Sequence[bool], checked: bool
              ) -> tuple[list[str], dict[str, Any], dict[int, Step]]:
    """The source lines, the names they use, and which line runs which step's op."""
    namespace: dict[str, Any] = {"conform": conform, "asarray": np.asarray}
    zero_d = [t.ndim == 0 and not b for t, b in zip(types, batched)]
    scalar = set()  # slots that may hold a NumPy scalar rather than a 0-d array

    def name(slot: int, for_ufunc: bool) -> str:
        if template[slot] is not None:  # a constant
            value = template[slot]
            key = f"s{slot}" if for_ufunc and value.ndim == 0 else f"k{slot}"
            namespace[key] = value[()] if key[0] == "s" else value
            return key
        return f"v{slot}" if for_ufunc or slot not in scalar else f"asarray(v{slot})"

    def free(*run: Step) -> None:
        freed = [f"v{i}" for step in run for i in step.free
                 if template[i] is None and not zero_d[i] and not any(i == s.out for s in run)]
        if freed:
            lines.append(f"    {' = '.join(dict.fromkeys(freed))} = None")

    fused = chains(steps, types, outputs)
    lines = [f"def plan({''.join(f'v{i}, ' for i in inputs)}batch, check):"]
    # A 0-d float input a ufunc reads enters as the NumPy scalar it holds, like a 0-d ufunc result.
    ufunc_reads = {i for step in steps if _ufunc(step, types) is not None for i in step.args}
    for i in inputs:
        if zero_d[i] and types[i].is_float and i in ufunc_reads:
            scalar.add(i)
            lines.append(f"    v{i} = v{i}[()]")
    at: dict[int, Step] = {}
    k = 0
    while k < len(steps):
        if k in fused:
            chain = fused[k]
            if checked:
                namespace.update({f"n{k + j}": step.node for j, step in enumerate(chain.steps)})
                lines.append("    " + "; ".join(f"check(n{k + j})" for j in range(len(chain.steps))))
            namespace[f"g{k}"] = chain
            outs = "".join(f"v{i}, " for i in chain.outputs)
            lines.append(f"    {outs or '_'} = g{k}({', '.join(name(i, True) for i in chain.inputs)})")
            free(*chain.steps)
            k += len(chain.steps)
            continue
        step = steps[k]
        if checked:
            namespace[f"n{k}"] = step.node
            lines.append(f"    check(n{k})")
        dtypes = [np.dtype(types[i].dtype) for i in step.args]
        ufunc = _ufunc(step, types)
        args = [name(i, ufunc is not None) for i in step.args]
        if ufunc in _OPERATORS and len(args) == ufunc.nin:
            call = _OPERATORS[ufunc].format(*args)
        else:
            namespace[f"f{k}"] = ufunc or step.call
            if step.attrs:
                namespace[f"a{k}"] = step.attrs
            call = f"f{k}({', '.join(args)}{f', **a{k}' if step.attrs else ''})"
        out = f"v{step.out}"
        lines.append(f"    {out} = {call}")
        at[len(lines)] = step
        namespace[f"t{k}"] = step
        if ufunc is not None and zero_d[step.out]:
            scalar.add(step.out)
            if (any(types[i].ndim for i in step.args)  # a shape rule making 0-d of arrays: check it
                    or result_dtype(ufunc, dtypes) != step.dtype):
                # Not known to be a NumPy scalar of the node's dtype (which is 0-d and of that dtype).
                namespace[f"T{k}"] = step.dtype.type
                lines.append(f"    if {out}.__class__ is not T{k}: {out} = conform({out}, t{k}, batch)")
        else:
            lines.append(f"    {out} = conform({out}, t{k}, batch)")
        free(step)
        k += 1
    lines.append(f"    return ({''.join(name(i, False) + ', ' for i in outputs)})")
    return lines, namespace, at


def _ufunc(step: Step, types: Sequence[TensorType]) -> np.ufunc | None:
    """The ufunc `step` computes on its operands' types, when it is one (see `elementwise_ufunc`)."""
    if step.batched or step.attrs:
        return None
    return elementwise_ufunc(step.call, [np.dtype(types[i].dtype) for i in step.args])
