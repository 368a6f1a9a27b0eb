"""Control flow: scan, fori_loop, while_loop, cond, switch, checkpoint, and adjoint_scan, the reverse
sweep of a loop (see docs/control-flow.md).

Their bodies are graphs held in attributes; a node packs its results into one flat tensor (final
carries, then stacked per-step outputs). Everything an op of this family needs lives in
`wengert.loops` (layouts and shape rules, running and pricing, derivative rules, sparsity);
each stanza here names its attributes and the checker's examples.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from wengert.ir.builder import spec
from wengert.tracing import trace
from wengert.loops import constructs, derivatives, patterns, running
from wengert.plugins.opdef import REQUIRED, Attr, Example, OpDef


def _control(name: str, doc: str, attrs: tuple[Attr, ...], vjp, examples) -> OpDef:
    """An op of the family: shape rule, running, pricing and rules from `wengert.loops`."""

    def forward(*arrays, **attrs):
        from wengert.plugins.registry import default_registry

        return running.run(default_registry(), name, arrays, attrs)

    def bind(registry, batched: tuple[bool, ...]) -> OpDef:
        return dataclasses.replace(
            op, forward=lambda *arrays, **attrs: running.run(registry, name, arrays, attrs),
            batched_forward=lambda *arrays, **attrs: running.run(
                registry, name, [a if f else a[0] for a, f in zip(arrays, batched)], attrs, batched),
            cost=lambda out, *types, **attrs: running.price(registry, name, types, attrs, batched),
            sparsity=lambda node, types, consts: patterns.local(registry, node, types))

    def joint_jvp(tangents, ans, *primals, **attrs):
        return derivatives.joint_jvp(name, tangents, ans, *primals, **attrs)

    def joint_vjp(g, ans, *primals, needed, **attrs):
        return vjp(name, g, ans, *primals, needed=needed, **attrs)

    def one_jvp(x_dot, ans, *primals, argnum, **attrs):  # the rule for one input, from the joint one
        return joint_jvp([x_dot if i == argnum else None for i in range(len(primals))], ans, *primals, **attrs)[1]

    def one_vjp(g, ans, *primals, argnum, **attrs):
        return joint_vjp(g, ans, *primals, needed=tuple(i == argnum for i in range(len(primals))), **attrs)[argnum]

    op = OpDef(name, forward, lambda *types, **attrs: constructs.check(name, types, attrs),
               jvp=(one_jvp,), vjp=(one_vjp,), attrs=attrs, arity=None, doc=doc, examples=examples,
               cost=lambda out, *types, **attrs: running.price(_default(), name, types, attrs, ()),
               bind=bind, joint_jvp=joint_jvp, joint_vjp=joint_vjp)
    return op


def _default():
    from wengert.plugins.registry import default_registry

    return default_registry()


# -- the checker's examples: small bodies, each in both float dtypes ---------------------------------
def _body(fn, *types, dtype):
    return trace(fn, *[spec(shape, dtype if kind == "f" else kind) for shape, kind in types])


def _each_dtype(make):
    """Examples whose bodies are typed for one float dtype each."""
    return lambda rng: [dataclasses.replace(e, dtypes=(dtype,)) for dtype in ("float64", "float32")
                        for e in make(rng, dtype)]


def _scan_examples(rng, dtype):
    import wengert as wg

    body = _body(lambda c, x, k: (wg.sin(c) * k + x, c * x), ((3,), "f"), ((3,), "f"), ((3,), "f"), dtype=dtype)
    summed = _body(lambda c, x: (c + x, wg.sum(c * c)), ((2,), "f"), ((2,), "f"), dtype=dtype)
    return [Example((rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(3)),
                    {"body": body, "length": 4, "num_carry": 1, "num_xs": 1}),
            Example((rng.standard_normal(2), rng.standard_normal((3, 2))),
                    {"body": summed, "length": 3, "num_carry": 1, "num_xs": 1, "reverse": True})]


def _fori_examples(rng, dtype):
    import wengert as wg

    body = _body(lambda i, c, k: wg.tanh(c @ k) + wg.cast(i, dtype) * 0.1, ((), "int64"), ((3,), "f"),
                 ((3, 3), "f"), dtype=dtype)
    return [Example((rng.standard_normal(3), 0.5 * rng.standard_normal((3, 3))),
                    {"body": body, "lower": 1, "upper": 4, "num_carry": 1})]


def _while_examples(rng, dtype):
    import wengert as wg

    cond = _body(lambda c, k: wg.sum(c * c) < 4.0, ((2,), "f"), ((2,), "f"), dtype=dtype)
    body = _body(lambda c, k: c * 1.5 + k * 0.1, ((2,), "f"), ((2,), "f"), dtype=dtype)
    start = np.array([0.3, 0.2])
    return [Example((start + 0.01 * rng.standard_normal(2), rng.standard_normal(2)),
                    {"cond": cond, "body": body, "max_steps": 10, "num_carry": 1})]


def _branches(dtype):
    import wengert as wg

    return (_body(lambda x, y: wg.sin(x) * y, ((3,), "f"), ((3,), "f"), dtype=dtype),
            _body(lambda x, y: x * x + y, ((3,), "f"), ((3,), "f"), dtype=dtype))


def _switch_examples(rng, dtype):
    operands = (rng.standard_normal(3), rng.standard_normal(3))
    return [Example((np.int64(k),) + operands, {"branches": _branches(dtype)}) for k in (0, 1, 5)]


def _cond_examples(rng, dtype):
    false, true = _branches(dtype)
    operands = (rng.standard_normal(3), rng.standard_normal(3))
    return [Example((np.bool_(p),) + operands, {"true_branch": true, "false_branch": false}) for p in (True, False)]


def _checkpoint_examples(rng, dtype):
    import wengert as wg

    body = _body(lambda x, w: wg.tanh(w @ x), ((3,), "f"), ((3, 3), "f"), dtype=dtype)
    return [Example((rng.standard_normal(3), rng.standard_normal((3, 3))), {"body": body})]


def _adjoint_examples(rng, dtype):
    """The reverse sweep of the scan example above, under each policy."""
    import wengert as wg

    forward = _body(lambda c, x, k: wg.sin(c) * k + x, ((3,), "f"), ((3,), "f"), ((3,), "f"), dtype=dtype)
    backward = _body(lambda a, c, x, k, g: (a * wg.cos(c) * k + g, a * wg.sin(c) + g * c),
                     ((3,), "f"), ((3,), "f"), ((3,), "f"), ((3,), "f"), ((3,), "f"), dtype=dtype)
    base = {"forward": forward, "backward": backward, "length": 5, "num_state": 1, "num_xs": 1,
            "num_consts": 1, "num_adjoint": 1}
    inputs = (rng.standard_normal(3), rng.standard_normal((5, 3)), rng.standard_normal(3),
              rng.standard_normal(3), rng.standard_normal((5, 3)))
    return [Example(inputs, {**base, **policy}) for policy in
            ({"checkpoint": "all"}, {"checkpoint": "every_k", "every": 2},
             {"checkpoint": "binomial", "snapshots": 2})]


GRAPH = "graph"
OPS = [
    _control("scan", "scan a body (carries, x slices, operands) -> (carries, ys) over the xs' leading axis; "
             "packed (final carries, stacked ys)",
             (Attr("body", GRAPH, REQUIRED, "(carries, x slices, operands) -> (carries, per-step outputs)"),
              Attr("length", "int", REQUIRED, "steps: the xs' leading dimension"),
              Attr("num_carry", "int", REQUIRED, "how many operands (first) are carries"),
              Attr("num_xs", "int", 0, "how many operands (after the carries) are scanned along axis 0"),
              Attr("reverse", "bool", False, "scan from the last slice to the first")),
             derivatives.loop_vjp, _each_dtype(_scan_examples)),
    _control("fori_loop", "body (i, carries, operands) -> carries for i = lower .. upper-1; packed final carries",
             (Attr("body", GRAPH, REQUIRED, "(i: int64, carries, operands) -> carries"),
              Attr("lower", "int", REQUIRED, "first index"), Attr("upper", "int", REQUIRED, "one past the last"),
              Attr("num_carry", "int", REQUIRED, "how many operands (first) are carries")),
             derivatives.loop_vjp, _each_dtype(_fori_examples)),
    _control("while_loop", "body (carries, operands) -> carries while cond (carries, operands) holds, "
             "at most max_steps times; packed final carries",
             (Attr("cond", GRAPH, REQUIRED, "(carries, operands) -> bool scalar"),
              Attr("body", GRAPH, REQUIRED, "(carries, operands) -> carries"),
              Attr("max_steps", "int", REQUIRED, "the most steps it runs (it stops there, cond or not)"),
              Attr("num_carry", "int", REQUIRED, "how many operands (first) are carries")),
             derivatives.loop_vjp, _each_dtype(_while_examples)),
    _control("cond", "true_branch(operands) if pred else false_branch(operands); packed outputs",
             (Attr("true_branch", GRAPH, REQUIRED, "(operands) -> outputs"),
              Attr("false_branch", GRAPH, REQUIRED, "(operands) -> outputs of the same types")),
             derivatives.branch_vjp, _each_dtype(_cond_examples)),
    _control("switch", "branches[index](operands), the index clamped to the branches; packed outputs",
             (Attr("branches", "graphs", REQUIRED, "(operands) -> outputs, the same types for each"),),
             derivatives.branch_vjp, _each_dtype(_switch_examples)),
    _control("checkpoint", "body(operands), recomputed by its derivatives instead of stored; packed outputs",
             (Attr("body", GRAPH, REQUIRED, "(operands) -> outputs"),),
             derivatives.branch_vjp, _each_dtype(_checkpoint_examples)),
    _control("adjoint_scan", "a loop's reverse sweep: backward (adjoints, state, x, operands, seeds) over the "
             "states of forward (state, x, operands) -> state, recomputed per a checkpointing policy; "
             "packed (final adjoints, stacked per-step results)",
             (Attr("forward", GRAPH, REQUIRED, "([i], states, x slices, operands) -> states"),
              Attr("backward", GRAPH, REQUIRED, "([i], adjoints, states, x slices, operands, seed slices) "
                                               "-> (adjoints, per-step results)"),
              Attr("cond", GRAPH, None, "(states, operands) -> bool: the loop stops where it fails"),
              Attr("length", "int", REQUIRED, "steps (the most, with cond)"),
              Attr("reverse", "bool", False, "the forward recurrence runs from the last slice to the first"),
              Attr("indexed", "bool", False, "the bodies take the step index first"),
              Attr("lower", "int", 0, "the index of the first step"),
              Attr("num_state", "int", REQUIRED, "states (first operands)"),
              Attr("num_xs", "int", 0, "scanned operands after them"),
              Attr("num_consts", "int", 0, "loop-invariant operands after those"),
              Attr("num_adjoint", "int", REQUIRED, "adjoints after those; the rest are per-step seeds"),
              Attr("checkpoint", "str", "all", "all, every_k or binomial"),
              Attr("every", "int", 0, "every_k: steps between stored states (0: sqrt of length)"),
              Attr("snapshots", "int", 0, "binomial: states kept at once (0: about log2 of length)")),
             derivatives.adjoint_vjp, _each_dtype(_adjoint_examples)),
]
