"""Derivatives of control flow, as graphs: each rule records new control-flow nodes whose bodies
are derivative graphs of the old bodies.

* JVP (every construct, one rule): the same op over the JVP of its bodies. Each operand group
  gets a twin group of tangents, carries first (`[tangents, carries]`), others after
  (`[xs, tangents]`), so the node's primal results stay one contiguous slice of the new result:
  the transformation uses that slice as the primal, and the loop runs once. Only active
  members get a twin: a carry is active when its tangent is given or a step makes it depend on
  an active operand (a fixed point, as in JAX's scan).
* VJP of scan, fori_loop and while_loop: an `adjoint_scan`, a reverse scan over the VJP of the
  body that recomputes the states it needs under the request's checkpointing policy
  (`wengert.loops.checkpointing`). A while loop's reverse sweep covers the steps it took.
* VJP of cond, switch and checkpoint: the same op over the VJPs of the branches, so only the
  taken branch is differentiated; `checkpoint`'s VJP recomputes its body instead of storing it.
* VJP of adjoint_scan (reverse over reverse): the VJP of its definition, a forward scan storing
  the states followed by a reverse scan of the backward body, both differentiated by the rules
  above.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from wengert.autodiff.transform import COTANGENT, TANGENT, jvp_graph, prefix_for, vjp_graph
from wengert.ir.builder import GraphBuilder, Value
from wengert.ir.graph import Graph, TensorType
from wengert.loops.bodies import dependence, fresh, relayout
from wengert.loops.constructs import SPECS, layout
from wengert.loops.layout import CARRY, FLAG, INDEX, PRED, Layout, offsets, unpack


def _zeros(builder: GraphBuilder, t: TensorType) -> Value:
    import wengert.numpy_api as wg

    zero = builder.constant(np.zeros((), t.dtype))
    return zero if not t.shape else wg.broadcast_to(zero, t.shape)


# -- JVP: twins ----------------------------------------------------------------------------------
def active_members(lay: Layout, given: dict[str, list[bool]]) -> dict[str, list[bool]]:
    """Which members of each group carry a tangent: those `given`, and every carry or output
    some body makes depend on an active input, to a fixed point."""
    active = {name: list(flags) for name, flags in given.items()}
    for body in lay.bodies:
        for name in body.outputs:
            if name != FLAG:
                active.setdefault(name, [False] * lay.size(name))
    changed = True
    while changed:
        changed = False
        for body in lay.bodies:
            graph = body.graph(lay.attrs)
            ins = lay.positions(body.inputs)
            live = sum(1 << k for k, (g, m) in enumerate(ins) if g != INDEX and active[g][m])
            for (g, m), deps, (_, vid) in zip(lay.positions(body.outputs), dependence(graph), graph.outputs):
                if g != FLAG and deps & live and graph.type_of(vid).is_float and not active[g][m]:
                    active[g][m] = changed = True
    return active


def _twin_body(lay: Layout, body, active: dict[str, list[bool]], registry) -> Graph:
    """`body`'s JVP graph laid out with twin groups (see module doc)."""
    graph = body.graph(lay.attrs)
    ins, outs = lay.positions(body.inputs), lay.positions(body.outputs)
    names_in = [name for name, _ in graph.inputs]
    wrt = [names_in[k] for k, (g, m) in enumerate(ins) if g != INDEX and active[g][m]]
    jvp = jvp_graph(graph, wrt, registry=registry) if wrt else graph
    prefix = prefix_for(graph, TANGENT)
    inputs = _twinned(lay, body.inputs, ins, names_in, active, prefix)
    outputs = _twinned(lay, body.outputs, outs, [name for name, _ in graph.outputs], active, prefix)
    return relayout(jvp, inputs, outputs)


def _set_body(attrs: dict[str, Any], body, graph: Graph) -> None:
    """Put `graph` in `body`'s place among `attrs`: the attribute itself, or one item of it (a
    switch's branches)."""
    if body.item is None:
        attrs[body.attr] = graph
    else:
        items = list(attrs[body.attr])
        items[body.item] = graph
        attrs[body.attr] = tuple(items)


def _twinned(lay: Layout, groups: Sequence[str], positions, names: Sequence[str], active, prefix: str) -> list[str]:
    """Names in twin layout: per group, the tangents of its active members before (carries)
    or after (the rest) the members."""
    out = []
    for group in groups:
        members = [names[k] for k, (g, _) in enumerate(positions) if g == group]
        if group in (INDEX, FLAG):
            out += members
            continue
        twins = [prefix + name for name, on in zip(members, active[group]) if on]
        out += twins + members if lay.role(group) == CARRY else members + twins
    return out


def joint_jvp(op: str, tangents: Sequence[Value | None], ans: Value, *primals: Value, **attrs):
    """The JVP rule of every control-flow op: (primal, tangent) of its packed result."""
    import wengert.numpy_api as wg

    b = ans.builder
    lay = layout(op, attrs, len(primals))
    ops, dots = lay.split(list(primals)), lay.split(list(tangents))
    given = {g.name: [t is not None and p.type.is_float for p, t in zip(ops[g.name], dots[g.name])]
             for g in lay.operands}
    active = active_members(lay, given)
    operands, sizes = [], {}
    for g in lay.operands:
        members = ops[g.name]
        twins = [] if g.role == PRED else [
            dot if dot is not None else _zeros(b, p.type)
            for p, dot, on in zip(members, dots[g.name], active[g.name]) if on]
        group = twins + members if g.role == CARRY else members + twins
        operands += group
        sizes[g.name] = len(group)
    new_attrs = SPECS[op].sized(dict(attrs), sizes)
    for body in lay.bodies:
        twin = _twin_body(lay, body, active, b.registry)
        _set_body(new_attrs, body, twin)
    node = b.add(op, operands, new_attrs)
    # Where each original result and each twin sits in the new packed result.
    new_starts = offsets(layout(op, new_attrs, len(operands)).result_types([v.type for v in operands]))
    old_types = lay.result_types([p.type for p in primals])
    index, primal_at, twin_at = 0, [], []
    for name in lay.results:
        flags = active.get(name, [False] * lay.size(name))
        count, twins = lay.size(name), sum(flags)
        members = list(range(index + twins, index + twins + count)) if lay.role(name) == CARRY else \
            list(range(index, index + count))
        spots = iter(range(index, index + twins) if lay.role(name) == CARRY else
                     range(index + count, index + count + twins))
        primal_at += members
        twin_at += [next(spots) if on else None for on in flags]
        index += count + twins
    assert primal_at == list(range(primal_at[0], primal_at[0] + len(primal_at))), "primal results are contiguous"
    primal = node[new_starts[primal_at[0]]:new_starts[primal_at[-1] + 1]]
    pieces: list[list] = []  # [start, stop] in the new result, or a size of zeros (negative)
    for k, t in zip(twin_at, old_types):
        if k is not None and pieces and pieces[-1][0] >= 0 and pieces[-1][1] == new_starts[k]:
            pieces[-1][1] = new_starts[k + 1]
        elif k is not None:
            pieces.append([new_starts[k], new_starts[k + 1]])
        elif pieces and pieces[-1][0] < 0:
            pieces[-1][1] += t.size
        else:
            pieces.append([-1, t.size])
    parts = [node[a:z] if a >= 0 else _zeros(b, TensorType(ans.dtype, (z,))) for a, z in pieces]
    return primal, parts[0] if len(parts) == 1 else wg.concatenate(parts)


# -- VJP of the loops: adjoint_scan ------------------------------------------------------------
def loop_vjp(op: str, g: Value, ans: Value, *primals: Value, needed: Sequence[bool], **attrs) -> list:
    """Cotangents of a scan's, fori_loop's or while_loop's operands: an `adjoint_scan`."""
    b = ans.builder
    lay = layout(op, attrs, len(primals))
    ops, need = lay.split(list(primals)), lay.split(list(needed))
    carries, xs, consts = ops["C"], ops.get("X", []), ops["K"]
    body = next(bd for bd in lay.bodies if bd.attr == "body")
    graph = body.graph(attrs)
    in_name = dict(zip(lay.positions(body.inputs), graph.input_names))
    out_name = dict(zip(lay.positions(body.outputs), graph.output_names))
    float_c = [k for k, c in enumerate(carries) if c.type.is_float]
    float_x = [k for k, x in enumerate(xs) if x.type.is_float and need["X"][k]]
    float_k = [k for k, v in enumerate(consts) if v.type.is_float and need["K"][k]]
    float_y = [k for k in range(lay.size("Y") if "Y" in body.outputs else 0)
               if graph.output_type(out_name[("Y", k)]).is_float]
    wrt = [in_name[("C", k)] for k in float_c] + [in_name[("X", k)] for k in float_x] + \
          [in_name[("K", k)] for k in float_k]
    seeds = [out_name[("C", k)] for k in float_c] + [out_name[("Y", k)] for k in float_y]
    if not wrt or not seeds:
        return [None] * len(primals)
    vjp = vjp_graph(graph, wrt, seeds=seeds, registry=b.registry)
    prefix = prefix_for(graph, COTANGENT)

    # The backward body: (step?, adjoints, sums, states, x, consts, seeds) -> (adjoints, sums, z).
    gb = GraphBuilder(b.registry, simplify=True)
    taken: set[str] = set()
    step = [gb.input(fresh("step", taken), TensorType("int64", ()))] if INDEX in body.inputs else []
    adj = [gb.input(fresh("adjoint", taken), carries[k].type) for k in float_c]
    sums = [gb.input(fresh("sum", taken), consts[k].type) for k in float_k]
    states = [gb.input(fresh("state", taken), c.type) for c in carries]
    x_in = [gb.input(fresh("x", taken), TensorType(x.dtype, x.shape[1:])) for x in xs]
    k_in = [gb.input(fresh("operand", taken), v.type) for v in consts]
    y_types = [graph.output_type(out_name[("Y", k)]) for k in float_y]
    seed_in = [gb.input(fresh("seed", taken), t) for t in y_types]
    feed = {in_name[(INDEX, 0)]: step[0]} if step else {}
    feed.update({in_name[("C", k)]: v for k, v in enumerate(states)})
    feed.update({in_name[("X", k)]: v for k, v in enumerate(x_in)})
    feed.update({in_name[("K", k)]: v for k, v in enumerate(k_in)})
    feed.update({prefix + out_name[("C", k)]: v for k, v in zip(float_c, adj)})
    feed.update({prefix + out_name[("Y", k)]: v for k, v in zip(float_y, seed_in)})
    result = gb.inline(vjp, feed)
    outputs = [result[prefix + in_name[("C", k)]] for k in float_c]
    outputs += [s + result[prefix + in_name[("K", k)]] for s, k in zip(sums, float_k)]
    outputs += [result[prefix + in_name[("X", k)]] for k in float_x]
    backward = gb.build({f"out{j}": v for j, v in enumerate(outputs)})
    forward = relayout(graph, graph.input_names, [out_name[("C", k)] for k in range(len(carries))])

    parts = unpack(g, lay.result_types([p.type for p in primals]))
    seeds_c, seeds_y = parts[:len(carries)], parts[len(carries):]
    operands = carries + xs + consts + [seeds_c[k] for k in float_c] + \
        [_zeros(b, consts[k].type) for k in float_k] + [seeds_y[k] for k in float_y]
    node = b.add("adjoint_scan", operands, {
        "forward": forward, "backward": backward, "cond": attrs.get("cond"),
        "length": lay.length, "reverse": attrs.get("reverse", False), "lower": attrs.get("lower", 0),
        "indexed": bool(step), "num_state": len(carries), "num_xs": len(xs), "num_consts": len(consts),
        "num_adjoint": len(float_c) + len(float_k)})
    types = [carries[k].type for k in float_c] + [consts[k].type for k in float_k] + \
        [xs[k].type for k in float_x]
    results = iter(unpack(node, types))
    out = [None] * len(primals)
    base = {g.name: sum(x.size for x in lay.operands[:i]) for i, g in enumerate(lay.operands)}
    for group, members in (("C", float_c), ("K", float_k), ("X", float_x)):
        for k in members:
            out[base[group] + k] = next(results)
    return out


# -- VJP of the branches -----------------------------------------------------------------------
def branch_vjp(op: str, g: Value, ans: Value, *primals: Value, needed: Sequence[bool], **attrs) -> list:
    """Cotangents of a cond's, switch's or checkpoint's operands: the same op over the VJPs of
    its bodies, so the branch taken is the one differentiated (and `checkpoint` recomputes)."""
    b = ans.builder
    lay = layout(op, attrs, len(primals))
    ops, need = lay.split(list(primals)), lay.split(list(needed))
    operands = ops["O"]
    wanted = [k for k, v in enumerate(operands) if v.type.is_float and need["O"][k]]
    results = lay.result_types([p.type for p in primals])
    float_r = [k for k, t in enumerate(results) if t.is_float]
    if not wanted or not float_r:
        return [None] * len(primals)
    seeds = [part for k, part in enumerate(unpack(g, results)) if k in float_r]
    new_attrs = dict(attrs)
    for body in lay.bodies:
        graph = body.graph(attrs)
        names = graph.input_names
        vjp = vjp_graph(graph, [names[k] for k in wanted], seeds=[graph.output_names[k] for k in float_r],
                        registry=b.registry)
        prefix = prefix_for(graph, COTANGENT)
        reverse = relayout(vjp, list(names) + [prefix + graph.output_names[k] for k in float_r],
                           [prefix + names[k] for k in wanted])
        _set_body(new_attrs, body, reverse)
    node = b.add(op, ops.get("I", []) + operands + seeds, new_attrs)
    cotangents = iter(unpack(node, [operands[k].type for k in wanted]))
    first = len(ops.get("I", []))
    out = [None] * len(primals)
    for k in wanted:
        out[first + k] = next(cotangents)
    return out


# -- VJP of adjoint_scan: through its definition -------------------------------------------------
def adjoint_vjp(op: str, g: Value, ans: Value, *primals: Value, needed: Sequence[bool], **attrs) -> list:
    """Cotangents of an adjoint_scan's operands: the VJP of the graph that defines it (a scan
    storing the states, then a reverse scan of the backward body), differentiated by the
    rules above and recorded here."""
    b = ans.builder
    names = [f"operand{k}" for k in range(len(primals))]
    definition = _definition(b.registry, [p.type for p in primals], names, attrs)
    wrt = [n for n, p, want in zip(names, primals, needed) if want and p.type.is_float]
    if not wrt:
        return [None] * len(primals)
    vjp = vjp_graph(definition, wrt, seeds=["out"], registry=b.registry)
    prefix = prefix_for(definition, COTANGENT)
    feeds = dict(zip(names, primals))
    feeds[prefix + "out"] = g
    result = b.inline(vjp, feeds)
    return [result.get(prefix + n) for n in names]


def _inline(builder: GraphBuilder, graph: Graph, feeds: Sequence[Value]) -> list[Value]:
    """`graph` recorded in `builder`, fed `feeds` in input order; its outputs in order."""
    out = builder.inline(graph, dict(zip(graph.input_names, feeds)))
    return [out[name] for name in graph.output_names]


def _definition(registry, types: Sequence[TensorType], names: Sequence[str], attrs: dict[str, Any]) -> Graph:
    """The graph an adjoint_scan node stands for, with scans only: a scan of the forward body
    whose per-step outputs are the states (and, with a condition, whether each step ran, the
    state frozen once it stops), then a reverse scan of the backward body over them, each step
    that did not run leaving the adjoints alone."""
    import wengert.numpy_api as wg

    lay = layout("adjoint_scan", attrs, len(types))
    builder = GraphBuilder(registry)
    inputs = lay.split([builder.input(n, t) for n, t in zip(names, types)])
    forward, backward = attrs["forward"], attrs["backward"]
    cond = attrs["cond"]
    indexed = attrs["indexed"]
    n_p = len(inputs["P"])

    # the forward scan: carries (index?, states), xs X, consts K; ys: the states (and flags)
    fb = GraphBuilder(registry)
    index = [fb.input("index", TensorType("int64", ()))] if indexed else []
    p = [fb.input(f"p{k}", v.type) for k, v in enumerate(inputs["P"])]
    x = [fb.input(f"x{k}", TensorType(v.dtype, v.shape[1:])) for k, v in enumerate(inputs["X"])]
    k_ = [fb.input(f"k{k}", v.type) for k, v in enumerate(inputs["K"])]
    stepped = _inline(fb, forward, index + p + x + k_)
    outs = {f"c{j}": v for j, v in enumerate(index)}
    ran = _inline(fb, cond, p + k_)[0] if cond is not None else None
    nxt = stepped if ran is None else [wg.where(ran, new, old) for new, old in zip(stepped, p)]
    outs = {**({"i": index[0] + 1} if indexed else {}), **{f"p{j}": v for j, v in enumerate(nxt)},
            **({"y_i": index[0]} if indexed else {}), **{f"y_p{j}": v for j, v in enumerate(p)},
            **({"y_ran": ran} if ran is not None else {})}
    carries = len(index) + n_p
    scan_body = fb.build(outs)
    init = ([builder.constant(np.asarray(attrs["lower"], np.int64))] if indexed else []) + inputs["P"]
    first = builder.add("scan", init + inputs["X"] + inputs["K"],
                        {"body": scan_body, "length": lay.length, "reverse": attrs["reverse"],
                         "num_carry": carries, "num_xs": len(inputs["X"])})
    first_types = layout("scan", dict(builder.node_of(first).attrs), len(init) + len(inputs["X"]) +
                         len(inputs["K"])).result_types([v.type for v in init + inputs["X"] + inputs["K"]])
    stacked = unpack(first, first_types)[carries:]  # (indices?), states, (flags?)

    # the reverse scan: carries A, xs (indices?, states, flags?, X, G), consts K
    rb = GraphBuilder(registry)
    a = [rb.input(f"a{k}", v.type) for k, v in enumerate(inputs["A"])]
    per_step = [rb.input(f"s{k}", TensorType(v.dtype, v.shape[1:])) for k, v in enumerate(stacked)]
    xg = [rb.input(f"x{k}", TensorType(v.dtype, v.shape[1:])) for k, v in enumerate(inputs["X"])]
    gg = [rb.input(f"g{k}", TensorType(v.dtype, v.shape[1:])) for k, v in enumerate(inputs["G"])]
    kk = [rb.input(f"k{k}", v.type) for k, v in enumerate(inputs["K"])]
    step_index = per_step[:1] if indexed else []
    states = per_step[len(step_index):len(step_index) + n_p]
    swept = _inline(rb, backward, step_index + a + states + xg + kk + gg)
    if cond is not None:
        ran = per_step[-1]
        swept = [wg.where(ran, new, old) for new, old in zip(swept, a)] + \
            [wg.where(ran, z, wg.zeros_like(z)) for z in swept[len(a):]]
    reverse_body = rb.build({f"r{j}": v for j, v in enumerate(swept)})
    second = builder.add("scan", inputs["A"] + stacked + inputs["X"] + inputs["G"] + inputs["K"],
                         {"body": reverse_body, "length": lay.length, "reverse": not attrs["reverse"],
                          "num_carry": len(inputs["A"]),
                          "num_xs": len(stacked) + len(inputs["X"]) + len(inputs["G"])})
    return builder.build({"out": second})
