"""NumPy indexing of symbolic values: `x[key]` recorded as `slice`, `take`, `reshape` and
`transpose` nodes, with NumPy's meaning for every assignment-free index.

A key is ints, slices, None, one `...`, and arrays: integer arrays on any axis (several are
broadcast together; NumPy puts their axes where the first one was when they are adjacent in
the key, else first), and boolean masks known at trace time, which select through their
`nonzero()` indices. A 0-d boolean adds an axis of length 1 (True) or 0 (False). An integer
array may be a symbolic value (its values come at run time, its shape is known now); a
symbolic boolean mask is refused, since the result's shape would depend on its values.

The graph stays small: basic indexing is one `slice`, plus a `reshape` when ints drop axes or
None adds them. Advanced indices become one `take` along one axis: the indexed axes are
merged by a `reshape` (after a `transpose` when NumPy moves them to the front), and the index
arrays become one array of flat positions, computed at trace time when they are constants.
Derivatives come with those ops: take's transpose is scatter_add, so repeated indices add up.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from wengert.ir.graph import shape_text
from wengert.errors import InvalidIndex
from wengert.ir.builder import Value, apply

_VALID = ("only integers, slices (`:`), ellipsis (`...`), None and integer or boolean arrays "
          "are valid indices")


@dataclass(frozen=True)
class _Part:
    """One entry of the key. `kind`: "new" (None), "slice", "ellipsis" (full slices on `axes`),
    "int", or "array" (an advanced index: `terms` pairs each indexed axis with its integer
    index; a 0-d boolean's term has axis None and indexes no axis)."""

    kind: str
    axes: tuple[int, ...] = ()
    key: Any = None
    terms: tuple[tuple[int | None, Any], ...] = ()


def getitem(x: Value, key: Any) -> Value:
    """`x[key]` exactly as NumPy computes it (see the module docstring)."""
    found = _first_axis(x, key)
    if found is not None:
        return found
    parts = _parse(x, key if isinstance(key, tuple) else (key,))
    advanced = any(p.kind == "array" for p in parts)
    if advanced:  # next to an array, an int is an advanced index too (it decides axis order)
        parts = [_Part("array", p.axes, terms=((p.axes[0], np.asarray(p.key)),))
                 if p.kind == "int" else p for p in parts]
    sliced = _slice(x, parts)
    if not advanced:
        return _reshaped(sliced, tuple(d for p in parts for d in _dims(p, sliced.shape)))
    return _take(sliced, parts)


def _first_axis(x: Value, key: Any) -> Value | None:
    """`x[i]` or `x[start:stop:step]` (Python ints) for `x` of concrete shape, the commonest keys
    of traced loops, built as the general path builds them without parsing the key; None for any
    other key, or an int out of range (the general path reports it)."""
    shape = x.shape
    if not shape or -1 in shape:
        return None
    if type(key) is int:
        if not -shape[0] <= key < shape[0]:
            return None
        start = key + shape[0] if key < 0 else key
        sliced = _slice_node(x, [start] + [0] * (len(shape) - 1), [start + 1, *shape[1:]], [1] * len(shape))
        return _reshaped(sliced, sliced.shape[1:])
    if type(key) is slice and key.step != 0 and all(
            b is None or type(b) is int for b in (key.start, key.stop, key.step)):
        start, stop, step = key.indices(shape[0])
        zeros = [0] * (len(shape) - 1)
        return _slice_node(x, [start, *zeros], [stop, *shape[1:]], [step] + [1] * len(zeros))
    return None


# -- reading the key ---------------------------------------------------------------------------
def _parse(x: Value, key: tuple) -> list[_Part]:
    """The key's entries as parts, each knowing the axes of `x` it indexes."""
    kinds = [_classify(k) for k in key]
    if kinds.count("ellipsis") > 1:
        raise InvalidIndex("an index can only have a single ellipsis ('...')")
    used = sum(_axes_used(kind, k) for kind, k in zip(kinds, key))
    if used > x.ndim:
        raise InvalidIndex(f"too many indices: the value is {x.ndim}-dimensional, but {used} "
                           f"were indexed")
    if "ellipsis" not in kinds:
        kinds, key = kinds + ["ellipsis"], key + (Ellipsis,)
    parts, axis = [], 0
    for kind, k in zip(kinds, key):
        n = x.ndim - used if kind == "ellipsis" else _axes_used(kind, k)
        axes = tuple(range(axis, axis + n))
        axis += n
        for a in axes:
            if x.shape[a] == -1 and not (kind == "ellipsis" or kind == "slice" and k == slice(None)):
                raise InvalidIndex(f"axis {a} of {x!r} has an open size: only ':' can index it")
        if kind == "array":
            parts.append(_Part("array", axes, terms=_array_terms(x, k, axes)))
        elif kind == "int":
            parts.append(_Part("int", axes, _in_bounds(np.asarray(k), x.shape[axes[0]], axes[0])))
        else:
            parts.append(_Part(kind, axes, k))
    return parts


def _classify(k: Any) -> str:
    """The kind of one key entry; array-likes are checked to be integer or boolean."""
    if k is None:
        return "new"
    if k is Ellipsis:
        return "ellipsis"
    if isinstance(k, slice):
        for bound in (k.start, k.stop, k.step):
            if bound is not None and not isinstance(bound, numbers.Integral):
                raise InvalidIndex(f"slice bounds must be integers known at trace time, got {k!r}")
        if k.step == 0:
            raise InvalidIndex("slice step cannot be zero")
        return "slice"
    if isinstance(k, Value):
        if k.dtype == "bool":
            raise InvalidIndex(
                f"cannot index with the symbolic boolean mask {k!r}: the result's shape would "
                f"depend on its values. Keep the shape with wg.where(mask, x, 0) (or x * mask), "
                f"e.g. wg.sum(wg.where(mask, x, 0)) for the sum of x[mask]; or pass the mask as "
                f"a NumPy array, known when tracing")
        if k.dtype not in ("int64", "int32"):
            raise InvalidIndex(f"{k!r} cannot index: {_VALID}")
        return "array"
    if isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)):
        return "int"
    if isinstance(k, (bool, np.bool_, list, tuple, np.ndarray)):
        a = np.asarray(k)
        if a.dtype.kind in "iu" and a.ndim == 0:
            return "int"
        if a.dtype.kind in "biu" or a.size == 0 and not isinstance(k, np.ndarray):
            return "array"
    raise InvalidIndex(f"{k!r} cannot index: {_VALID}")


def _axes_used(kind: str, k: Any) -> int:
    if kind in ("new", "ellipsis"):
        return 0
    if kind == "array" and not isinstance(k, Value) and np.asarray(k).dtype == bool:
        return np.ndim(k)  # a mask spans as many axes as it has dimensions
    return 1


def _array_terms(x: Value, k: Any, axes: tuple[int, ...]) -> tuple:
    """(axis, integer index) for each axis an array entry indexes."""
    if isinstance(k, Value):
        return ((axes[0], k),)
    a = np.asarray(k)
    if a.dtype != bool:  # checked against the axis once broadcast (see _take)
        return ((axes[0], a.astype(np.int64)),)
    if a.ndim == 0:  # a new axis of length 1 (True) or 0 (False), indexing nothing
        return ((None, np.zeros(int(a), np.int64)),)
    spanned = tuple(x.shape[b] for b in axes)
    if a.shape != spanned:
        raise InvalidIndex(f"boolean index of shape {shape_text(a.shape)} does not match the axes "
                           f"{axes} it indexes, of shape {spanned}")
    return tuple(zip(axes, np.nonzero(a)))


def _in_bounds(index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """`index` with negative entries counted from the end; InvalidIndex if one is out of range."""
    bad = index[(index < -size) | (index >= size)]
    if bad.size:
        raise InvalidIndex(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {size}")
    return np.where(index < 0, index + size, index).astype(np.int64)


# -- basic indexing: one slice node ------------------------------------------------------------
def _slice(x: Value, parts: list[_Part]) -> Value:
    """`x` sliced by the slice and int parts; every other axis kept whole."""
    starts, stops, steps = [0] * x.ndim, list(x.shape), [1] * x.ndim
    for p in parts:
        if p.kind == "slice" and x.shape[p.axes[0]] != -1:
            (a,) = p.axes
            starts[a], stops[a], steps[a] = p.key.indices(x.shape[a])
        elif p.kind == "int":
            (a,) = p.axes
            starts[a], stops[a] = int(p.key), int(p.key) + 1
    return _slice_node(x, starts, stops, steps)


def _slice_node(x: Value, starts: list[int], stops: list[int], steps: list[int]) -> Value:
    """`x` sliced (normalized bounds, one per axis): `x` itself when that keeps every axis whole."""
    if starts == [0] * x.ndim and stops == list(x.shape) and steps == [1] * x.ndim:
        return x
    if -1 in x.shape:
        raise InvalidIndex(f"{x!r} has an open dimension, so it can only be sliced with ':' "
                           f"(integer arrays work on its other axes)")
    return apply("slice", x, starts=starts, stops=stops, steps=steps)


def _dims(p: _Part, sliced: tuple[int, ...]) -> tuple[int, ...]:
    """What a basic part contributes to the result's shape (an int: nothing)."""
    if p.kind == "new":
        return (1,)
    return () if p.kind == "int" else tuple(sliced[a] for a in p.axes)


def _reshaped(v: Value, shape: tuple[int, ...]) -> Value:
    return v if v.shape == tuple(shape) else apply("reshape", v, shape=list(shape))


# -- advanced indexing: one take ----------------------------------------------------------------
def _take(sliced: Value, parts: list[_Part]) -> Value:
    """The advanced parts as one `take` along the merged indexed axes of `sliced`."""
    where = [i for i, p in enumerate(parts) if p.kind == "array"]
    adjacent = where == list(range(where[0], where[-1] + 1))
    terms = [t for p in parts if p.kind == "array" for t in p.terms]
    indexed = [a for a, _ in terms if a is not None]
    try:
        batch = np.broadcast_shapes(*(np.shape(i) if not isinstance(i, Value) else i.shape
                                      for _, i in terms))
    except ValueError:
        shapes = " ".join(str(i.shape) for _, i in terms)
        raise InvalidIndex(f"shape mismatch: indexing arrays could not be broadcast together "
                           f"with shapes {shapes}") from None
    shape = sliced.shape
    if 0 in batch:  # nothing is selected, and NumPy checks no array entry
        terms = [(None, np.zeros(batch, np.int64))]
    terms = [(a, i if a is None or isinstance(i, Value) else _in_bounds(i, shape[a], a))
             for a, i in terms]
    rest = [a for a in range(len(shape)) if a not in indexed]
    # Where the merged axis goes: in place of the indexed axes, or in front (NumPy's rule).
    at = sum(len(p.axes) for p in parts[:where[0]]) if adjacent else 0
    order = rest[:at] + indexed + rest[at:]
    if order != list(range(len(shape))):
        sliced = apply("transpose", sliced, axes=order)
    merged = int(np.prod([shape[a] for a in indexed], dtype=np.int64))
    sliced = _reshaped(sliced, tuple(shape[a] for a in rest[:at]) + (merged,)
                       + tuple(shape[a] for a in rest[at:]))
    taken = apply("take", sliced, _flat_index(terms, shape), axis=at)
    before = [d for p in parts[:where[0]] for d in _dims(p, shape)]
    after = [d for p in parts[where[-1] + 1:] for d in _dims(p, shape)]
    between = [d for p in parts[where[0]:where[-1] + 1] if p.kind != "array" for d in _dims(p, shape)]
    target = before + list(batch) + after if adjacent else list(batch) + before + between + after
    return _reshaped(taken, tuple(target))


def _flat_index(terms: list, shape: tuple[int, ...]) -> np.ndarray | Value:
    """The positions along the merged axes (C order) the index terms select, broadcast
    together: a constant when every term is one, else a graph of the symbolic terms."""
    indexed = [a for a, _ in terms if a is not None]
    strides = {a: int(np.prod([shape[b] for b in indexed[k + 1:]], dtype=np.int64))
               for k, a in enumerate(indexed)}
    constant = [i * (0 if a is None else strides[a]) for a, i in terms if not isinstance(i, Value)]
    symbolic = [(a, i) for a, i in terms if isinstance(i, Value)]
    if not symbolic:
        return sum(constant[1:], constant[0])
    if len(terms) == 1:  # take itself wraps negative entries and rejects out-of-range ones
        return symbolic[0][1]
    flat = sum(constant[1:], constant[0]) if constant else None
    for a, i in symbolic:
        # Indexing arange(size) checks the entries (at run time) and wraps negative ones, so
        # an out-of-range entry is an error rather than a position in the next row.
        i = apply("take", np.arange(shape[a], dtype=np.int64), i, axis=0)
        term = i if strides[a] == 1 else apply("mul", i, np.int64(strides[a]))
        flat = term if flat is None else apply("add", flat, term)
    return flat
