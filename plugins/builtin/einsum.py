"""einsum: the contraction of any number of operands in Einstein notation, as one op.

The op takes subscripts in canonical form: an explicit output (`ij,jk->ik`), letters only, one
per axis (`wg.einsum` expands `...` and the implicit output before recording the node).
einsum is linear in each operand, so its JVP for operand i is the same einsum with x_dot in
place of operand i, and its VJP is the einsum contracting g with the other operands into
operand i's subscript. Two cases need one more operand there: a letter repeated within
operand i (a diagonal, `ii->i`) is renamed and tied to its first occurrence by an identity
matrix, and a letter found nowhere else (summed away, `ij->i`) is brought back by a vector of
ones. So every rule is an einsum, and they differentiate again.

The forward contracts in the order NumPy's `einsum_path` finds (greedy, pairwise, through BLAS
where it can), cached per subscripts and shapes; the cost is that order's multiply-adds.
`wg.einsum` records an einsum of three or more operands as a chain of pairwise einsum nodes in
that same order, so that derivatives share the intermediate contractions; the op itself takes
any number of operands (a graph from elsewhere may hold one).
"""

from __future__ import annotations

import functools
import string

import numpy as np

import wengert as wg
from wengert.errors import LimitExceeded, NoDerivative
from wengert.ir.graph import TensorType
from wengert.plugins.opdef import Attr, Cost, Example, OpDef, ShapeError
from wengert.plugins.shapes import result_dtype, same_dim

IDENTITY_LIMIT = 1 << 24  # elements of the identity a derivative may build (what --max-tensor-elements allows)

LETTERS = string.ascii_letters


def parse(subscripts: str) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, from canonical subscripts."""
    if subscripts.count("->") != 1:
        raise ShapeError(f"subscripts {subscripts!r} need one explicit output, as in 'ij,jk->ik'")
    inputs, out = subscripts.split("->")
    terms = inputs.split(",")
    odd = set(inputs.replace(",", "") + out) - set(LETTERS)
    if odd:
        raise ShapeError(f"subscripts {subscripts!r} may hold only letters, commas and one '->' "
                         f"(got {''.join(sorted(odd))!r}); wg.einsum expands '...'")
    if len(set(out)) != len(out):
        raise ShapeError(f"the output subscript {out!r} repeats a letter")
    unknown = set(out) - set(inputs)
    if unknown:
        raise ShapeError(f"output letter(s) {''.join(sorted(unknown))!r} appear in no operand")
    return terms, out


def letter_sizes(terms: list[str], types: tuple[TensorType, ...]) -> dict[str, int]:
    """Each letter's size; ShapeError when the operands disagree."""
    sizes: dict[str, int] = {}
    for i, (term, t) in enumerate(zip(terms, types)):
        if len(term) != t.ndim:
            raise ShapeError(f"operand {i} has {t.ndim} dimension(s) but its subscript {term!r} "
                             f"names {len(term)}")
        for letter, d in zip(term, t.shape):
            known = sizes.get(letter, -1)
            if not same_dim(known, d):
                raise ShapeError(f"letter {letter!r} has size {known} in one operand and {d} in "
                                 f"operand {i}")
            sizes[letter] = d if known == -1 else known
    return sizes


def _infer(*xs: TensorType, subscripts) -> TensorType:
    terms, out = parse(subscripts)
    if len(terms) != len(xs):
        raise ShapeError(f"subscripts {subscripts!r} name {len(terms)} operand(s), got {len(xs)}")
    if any(t.dtype == "bool" for t in xs):
        raise ShapeError("einsum needs numeric operands, got bool")
    sizes = letter_sizes(terms, xs)
    return TensorType(result_dtype(*xs), tuple(sizes[letter] for letter in out))


@functools.lru_cache(maxsize=1024)
def contraction_path(subscripts: str, shapes: tuple[tuple[int, ...], ...]):
    """NumPy's greedy contraction order for these shapes (False: one operand, nothing to order):
    ['einsum_path', (i, j), ...], each step contracting operands i and j of the list left by the
    steps before it, the result appended to the list."""
    if len(shapes) < 2:
        return False
    shaped = [np.broadcast_to(np.zeros(()), s) for s in shapes]  # shapes only, nothing allocated
    return np.einsum_path(subscripts, *shaped, optimize="greedy")[0]


def _forward(*xs, subscripts):
    return np.asarray(np.einsum(subscripts, *xs, optimize=contraction_path(subscripts, tuple(x.shape for x in xs))))


def _batched(*xs, subscripts):
    """One einsum over the batch: a spare letter labels the batch axis of the operands that
    have one (a size-1 batch axis is an operand shared by the whole batch)."""
    terms, out = parse(subscripts)
    spare = [letter for letter in LETTERS if letter not in subscripts]
    varying = [x.shape[0] != 1 for x in xs]
    if not any(varying):
        return _forward(*(x[0] for x in xs), subscripts=subscripts)[None]
    if not spare:
        size = max(x.shape[0] for x in xs)
        return np.stack([_forward(*(x[b] if v else x[0] for x, v in zip(xs, varying)), subscripts=subscripts)
                         for b in range(size)])
    b = spare[0]
    batched = ",".join(b + t if v else t for t, v in zip(terms, varying)) + "->" + b + out
    return _forward(*(x if v else x[0] for x, v in zip(xs, varying)), subscripts=batched)


def _cost(out: TensorType, *xs: TensorType, subscripts) -> Cost:
    """Multiply-adds of the pairwise contractions in the forward's order: each step costs the
    product of the sizes of the letters it involves, once per operand it multiplies."""
    terms, output = parse(subscripts)
    sizes = {k: max(v, 1) for k, v in letter_sizes(terms, xs).items()}
    shapes = tuple(x.shape for x in xs)
    path = False if any(-1 in s for s in shapes) else contraction_path(subscripts, shapes)
    steps = path[1:] if path else [tuple(range(len(terms)))]
    live, work = list(terms), 0
    for step in steps:
        picked = [live[i] for i in step]
        for i in sorted(step, reverse=True):
            del live[i]
        letters = set("".join(picked))
        work += max(len(picked), 1) * int(np.prod([sizes[letter] for letter in letters]))
        live.append("".join(sorted(letters & set(output + "".join(live)))))
    return Cost(work + out.size)


def _einsum_jvp(x_dot, ans, *xs, subscripts, argnum):
    operands = list(xs)
    operands[argnum] = x_dot
    return wg.op("einsum", *operands, subscripts=subscripts)


def _einsum_vjp(g, ans, *xs, subscripts, argnum):
    """g contracted with the other operands into operand `argnum`'s subscript (see the module
    docstring for the identity and ones operands)."""
    terms, out = parse(subscripts)
    target, shape = terms[argnum], xs[argnum].shape
    subs = [out] + [t for i, t in enumerate(terms) if i != argnum]
    operands = [g] + [x for i, x in enumerate(xs) if i != argnum]
    spare = iter(letter for letter in LETTERS if letter not in subscripts)
    renamed = ""
    for pos, letter in enumerate(target):
        if letter not in target[:pos]:
            renamed += letter
            continue
        fresh = next(spare, None)
        if fresh is None:
            raise NoDerivative(f"einsum {subscripts!r}: no letters left to write its derivative")
        if shape[pos] ** 2 > IDENTITY_LIMIT:  # built now, as a constant: as large as the operand's diagonal block
            raise LimitExceeded(f"einsum {subscripts!r}: its derivative needs a {shape[pos]} x {shape[pos]} "
                                f"identity matrix as a constant, more than {IDENTITY_LIMIT} elements",
                                limit="constant size", requested=shape[pos] ** 2, allowed=IDENTITY_LIMIT)
        operands.append(np.eye(shape[pos], dtype=g.dtype))
        subs.append(letter + fresh)
        renamed += fresh
    present = set("".join(subs))
    for letter, size in zip(renamed, shape):
        if letter not in present:  # ones broadcast in the graph: never built, whatever the size
            operands.append(wg.broadcast_to(g.builder.constant(np.ones((), dtype=g.dtype)), (size,)))
            subs.append(letter)
    return wg.op("einsum", *operands, subscripts=",".join(subs) + "->" + renamed)


_EXAMPLES = [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("ii->", [(3, 3)]), ("ii->i", [(3, 3)]), ("ij->i", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ij,ij->i", [(3, 4), (3, 4)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]), (",i->i", [(), (4,)]), ("ijk->kji", [(2, 3, 4)]),
]

OPS = [
    OpDef("einsum", _forward, _infer, arity=None, attrs=(Attr("subscripts", "str", doc="canonical "
          "subscripts: letters, commas and an explicit output, e.g. 'ij,jk->ik'"),),
          doc="Einstein summation over any number of operands (canonical subscripts, see wg.einsum)",
          jvp=(_einsum_jvp,), vjp=(_einsum_vjp,), batched_forward=_batched, cost=_cost,
          examples=lambda rng: [Example(tuple(rng.standard_normal(s) for s in shapes), {"subscripts": subs})
                                for subs, shapes in _EXAMPLES]),
]
