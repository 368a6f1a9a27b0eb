"""Shape ops: constants, reshaping, broadcasting, slicing, gathering, joining.

These are linear, so each rule applies a shape op to the tangent or its transpose to the
cotangent (reshape <-> reshape back, slice <-> scatter into zeros, take <-> scatter-add).
`scatter_slice` and `scatter_add` exist as the transposes of `slice` and `take`; their own
rules are `slice` and `take` again, so derivatives of any order stay within this family.
"""

from __future__ import annotations

import functools

import numpy as np

import wengert as wg
from wengert.ir.graph import TensorType, shape_text
from wengert.plugins.opdef import Attr, Example, OpDef, ShapeError
from wengert.plugins.shapes import (
    batch_lift, batched_axes, broadcast_batch, normalize_axes, result_dtype, same_dim,
)


def _constant_infer(*, value) -> TensorType:
    return TensorType.of(value.array)


def _axis(axis: int, ndim: int) -> int:
    return normalize_axes((axis,), ndim)[0]


def _cases(*cases):
    """The checker's examples: (input shapes, attrs) per case, inputs drawn standard normal."""
    return lambda rng: [Example(tuple(rng.standard_normal(s) for s in shapes), attrs)
                        for shapes, attrs in cases]


# -- transpose ------------------------------------------------------------------------------
def _perm(axes, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(ndim)))
    if len(axes) != ndim:
        raise ShapeError(f"axes {shape_text(axes)} do not match {ndim} dimension(s)")
    normalize_axes(axes, ndim)
    return tuple(a % ndim for a in axes)


def _transpose_infer(x: TensorType, axes) -> TensorType:
    return TensorType(x.dtype, tuple(x.shape[a] for a in _perm(axes, x.ndim)))


# -- reshape, broadcast_to, expand_dims, squeeze ----------------------------------------------
def _reshape_infer(x: TensorType, shape) -> TensorType:
    if sum(d == -1 for d in shape) > 1 or min(shape, default=0) < -1:
        raise ShapeError(f"shape {shape_text(shape)} may hold one -1 and otherwise sizes >= 0")
    known = int(np.prod([d for d in shape if d != -1]))
    if x.is_concrete:
        fits = known > 0 and x.size % known == 0 if -1 in shape else x.size == known
        if not fits:
            raise ShapeError(f"cannot reshape size {x.size} (shape {shape_text(x.shape)}) into shape {shape_text(shape)}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    return TensorType(x.dtype, tuple(shape))


def _broadcast_to_infer(x: TensorType, shape) -> TensorType:
    lead = len(shape) - x.ndim
    if min(shape, default=0) < 0 or lead < 0 or not all(
            d == 1 or same_dim(d, t) for d, t in zip(x.shape, shape[lead:])):
        raise ShapeError(f"cannot broadcast shape {shape_text(x.shape)} to {shape_text(shape)}")
    return TensorType(x.dtype, tuple(shape))


def _expand_dims_infer(x: TensorType, axis) -> TensorType:
    if axis is None:
        raise ShapeError("expand_dims needs the new axes")
    axes, dims = normalize_axes(axis, x.ndim + len(axis)), iter(x.shape)
    return TensorType(x.dtype, tuple(1 if a in axes else next(dims) for a in range(x.ndim + len(axis))))


def _squeezed(shape: tuple[int, ...], axis) -> tuple[int, ...]:
    """The axes `squeeze` removes (None: every axis of size 1; open dims stay)."""
    if axis is None:
        return tuple(a for a, d in enumerate(shape) if d == 1)
    axes = normalize_axes(axis, len(shape))
    for a in axes:
        if shape[a] not in (1, -1):
            raise ShapeError(f"cannot squeeze axis {a} of size {shape[a]}")
    return axes


def _squeeze_infer(x: TensorType, axis) -> TensorType:
    axes = _squeezed(x.shape, axis)
    return TensorType(x.dtype, tuple(d for a, d in enumerate(x.shape) if a not in axes))


def _flip_infer(x: TensorType, axis) -> TensorType:
    normalize_axes(axis, x.ndim)
    return x


# -- concatenate, stack ------------------------------------------------------------------------
def _joined(xs: tuple[TensorType, ...], axis: int, join: str) -> tuple[int, tuple[int, ...]]:
    """The normalized axis and the common per-input shape (off the join axis for concatenate)."""
    first = xs[0]
    if join == "concatenate" and first.ndim == 0:
        raise ShapeError("zero-dimensional inputs cannot be concatenated")
    ax = _axis(axis, first.ndim + (join == "stack"))
    shape = list(first.shape)
    for i, t in enumerate(xs[1:], 1):
        if t.ndim != first.ndim or not all(
                same_dim(d, e) or (join == "concatenate" and a == ax)
                for a, (d, e) in enumerate(zip(t.shape, first.shape))):
            raise ShapeError(f"cannot {join} input {i} of shape {shape_text(t.shape)} with input 0 of shape "
                             f"{shape_text(first.shape)} along axis {ax}")
        shape = [d if d != -1 else e for d, e in zip(shape, t.shape)]
    return ax, tuple(shape)


def _concatenate_infer(*xs: TensorType, axis) -> TensorType:
    ax, shape = _joined(xs, axis, "concatenate")
    sizes = [t.shape[ax] for t in xs]
    size = -1 if -1 in sizes else sum(sizes)
    return TensorType(result_dtype(*xs), shape[:ax] + (size,) + shape[ax + 1:])


def _stack_infer(*xs: TensorType, axis) -> TensorType:
    ax, shape = _joined(xs, axis, "stack")
    return TensorType(result_dtype(*xs), shape[:ax] + (len(xs),) + shape[ax:])


def _pad_axis(x, axis: int, before: int, after: int):
    """`x` with `before` and `after` zeros added along `axis`."""
    return wg.op("pad", x, pad_width=[w for a in range(x.ndim) for w in ((before, after) if a == axis else (0, 0))],
                 constant_value=0.0)  # as `wg.pad` records it, without its NumPy round trip


def _slice_axis(x, axis: int, start: int, stop: int):
    """x[..., start:stop, ...] with the slice on `axis`."""
    return wg.op("slice", x, starts=[start if a == axis else 0 for a in range(x.ndim)],
                 stops=[stop if a == axis else d for a, d in enumerate(x.shape)], steps=[1] * x.ndim)


def _offset(xs, ax: int, argnum: int) -> tuple[int, int, int]:
    """Where input `argnum` sits in a concatenation: (before, its size, after) along `ax`."""
    sizes = [x.shape[ax] for x in xs]
    before = sum(sizes[:argnum])
    return before, sizes[argnum], sum(sizes) - before - sizes[argnum]


def _concatenate_jvp(x_dot, ans, *xs, axis, argnum):
    ax = _axis(axis, ans.ndim)
    before, _, after = _offset(xs, ax, argnum)
    return _pad_axis(x_dot, ax, before, after)


def _concatenate_vjp(g, ans, *xs, axis, argnum):
    ax = _axis(axis, ans.ndim)
    before, size, _ = _offset(xs, ax, argnum)
    return _slice_axis(g, ax, before, before + size)


def _stack_jvp(x_dot, ans, *xs, axis, argnum):
    ax = _axis(axis, ans.ndim)
    return _pad_axis(wg.expand_dims(x_dot, ax), ax, argnum, len(xs) - 1 - argnum)


def _stack_vjp(g, ans, *xs, axis, argnum):
    ax = _axis(axis, ans.ndim)
    return wg.squeeze(_slice_axis(g, ax, argnum, argnum + 1), ax)


# -- slice, scatter_slice ----------------------------------------------------------------------
def _slice_shape(shape: tuple[int, ...], starts, stops, steps) -> tuple[int, ...]:
    """The shape of `x[start:stop:step, ...]` for normalized (`slice.indices`) bounds."""
    if not len(starts) == len(stops) == len(steps) == len(shape):
        raise ShapeError(f"starts, stops and steps need one entry per axis ({len(shape)}), "
                         f"got {len(starts)}, {len(stops)} and {len(steps)}")
    out = []
    for axis, (dim, start, stop, step) in enumerate(zip(shape, starts, stops, steps)):
        if step == 0:
            raise ShapeError(f"slice step cannot be zero (axis {axis})")
        r = range(start, stop, step)
        if r and (min(r[0], r[-1]) < 0 or dim != -1 and max(r[0], r[-1]) >= dim):
            raise ShapeError(f"slice {start}:{stop}:{step} is out of bounds for axis {axis} of size {dim}")
        out.append(len(r))
    return tuple(out)


def _index(starts, stops, steps) -> tuple[slice, ...]:
    """Python slices selecting exactly range(start, stop, step) on each axis."""
    return _slices(tuple(starts), tuple(stops), tuple(steps))


@functools.lru_cache(maxsize=4096)
def _slices(starts: tuple[int, ...], stops: tuple[int, ...], steps: tuple[int, ...]) -> tuple[slice, ...]:
    """`_index`, made once per bounds: a loop's body slices the same way on every iteration."""
    out = []
    for start, stop, step in zip(starts, stops, steps):
        r = range(start, stop, step)
        end = r[-1] + step if r else start
        out.append(slice(start, end if end >= 0 else None, step) if r else slice(0, 0))
    return tuple(out)


def _slice_infer(x: TensorType, starts, stops, steps) -> TensorType:
    return TensorType(x.dtype, _slice_shape(x.shape, starts, stops, steps))


def _scatter_slice_infer(g: TensorType, shape, starts, stops, steps) -> TensorType:
    fits = _slice_shape(tuple(shape), starts, stops, steps)
    if len(fits) != g.ndim or not all(same_dim(a, b) for a, b in zip(fits, g.shape)):
        raise ShapeError(f"values of shape {shape_text(g.shape)} do not fit the slice, of shape {shape_text(fits)}")
    return TensorType(g.dtype, tuple(shape))


def _scatter_slice(g, shape, starts, stops, steps, batch=()):
    out = np.zeros(batch + tuple(shape), dtype=g.dtype)
    out[(slice(None),) * len(batch) + _index(starts, stops, steps)] = g
    return out


# -- take, scatter_add -------------------------------------------------------------------------
def _check_indices(indices: TensorType) -> None:
    if indices.dtype not in ("int64", "int32"):
        raise ShapeError(f"indices must be integers, got {indices.dtype}")


def _take_infer(x: TensorType, indices: TensorType, axis) -> TensorType:
    _check_indices(indices)
    ax = _axis(axis, x.ndim)
    return TensorType(x.dtype, x.shape[:ax] + indices.shape + x.shape[ax + 1:])


def _scatter_add_infer(updates: TensorType, indices: TensorType, axis, size) -> TensorType:
    _check_indices(indices)
    k = indices.ndim
    if updates.ndim < k or size < 0:
        raise ShapeError(f"updates of shape {shape_text(updates.shape)} cannot fill {size} rows by indices "
                         f"of shape {shape_text(indices.shape)}")
    ax = _axis(axis, updates.ndim - k + 1)
    block = updates.shape[ax:ax + k]
    if not all(same_dim(a, b) for a, b in zip(block, indices.shape)):
        raise ShapeError(f"updates of shape {shape_text(updates.shape)} do not match indices of shape "
                         f"{shape_text(indices.shape)} at axis {ax}")
    return TensorType(updates.dtype, updates.shape[:ax] + (size,) + updates.shape[ax + k:])


def _gathered(x: np.ndarray, indices: np.ndarray, ax: int) -> tuple:
    """For per-item indices (x and indices batched to the same B): x with the batch axis and
    axis `ax` of the items moved to the front (a view), the index tuple into it, and the
    permutation from that indexing's layout, (B, *indices, *rest), to take's, (B, *before,
    *indices, *after)."""
    k, rest = indices.ndim - 1, x.ndim - 2
    batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * k)
    perm = (0, *range(1 + k, 1 + k + ax), *range(1, 1 + k), *range(1 + k + ax, 1 + k + rest))
    return np.moveaxis(x, ax + 1, 1), (batch, indices), perm


def _take_batched(x, indices, axis):
    ax = _axis(axis, x.ndim - 1)
    if indices.shape[0] == 1:
        return np.take(x, indices[0], axis=ax + 1)
    moved, index, perm = _gathered(*broadcast_batch(x, indices), ax)
    return moved[index].transpose(perm)


def _scatter_add(updates, indices, axis, size):
    ax = _axis(axis, updates.ndim - indices.ndim + 1)
    out = np.zeros(updates.shape[:ax] + (size,) + updates.shape[ax + indices.ndim:], updates.dtype)
    np.add.at(out, (slice(None),) * ax + (indices,), updates)
    return out


def _scatter_add_batched(updates, indices, axis, size):
    if indices.shape[0] == 1:  # shared indices: the batch axis is one more leading axis
        return _scatter_add(updates, indices[0], axis + (axis >= 0), size)
    updates, indices = broadcast_batch(updates, indices)
    ax = _axis(axis, updates.ndim - indices.ndim + 1)
    out = np.zeros(updates.shape[:ax + 1] + (size,) + updates.shape[ax + indices.ndim:], updates.dtype)
    moved, index, perm = _gathered(out, indices, ax)
    np.add.at(moved, index, updates.transpose(np.argsort(perm)))
    return out


# -- pad ----------------------------------------------------------------------------------------
def _pairs(pad_width) -> list[tuple[int, int]]:
    return list(zip(pad_width[::2], pad_width[1::2]))


def _pad_infer(x: TensorType, pad_width, constant_value) -> TensorType:
    if len(pad_width) != 2 * x.ndim or min(pad_width, default=0) < 0:
        raise ShapeError(f"pad_width needs a (before, after) pair of sizes >= 0 for each of "
                         f"{x.ndim} axes, got {shape_text(pad_width)}")
    return TensorType(x.dtype, tuple(-1 if d == -1 else d + b + a
                                     for d, (b, a) in zip(x.shape, _pairs(pad_width))))


def _pad(x, pad_width, constant_value):
    """NumPy's constant-mode pad; a scalar has no axes to pad and stays as it is (np.pad
    refuses 0-d arrays)."""
    if x.ndim == 0:
        return x.copy()
    return np.pad(x, _pairs(pad_width), constant_values=constant_value)


def _unpad(g, x, pad_width):
    before = pad_width[::2]
    return wg.op("slice", g, starts=before, stops=[b + d for b, d in zip(before, x.shape)],
                 steps=[1] * x.ndim)


_AXIS0 = Attr("axis", "int", 0, "the axis joined or indexed along")
_BOUNDS = (Attr("starts", "ints", doc="first index per axis"),
           Attr("stops", "ints", doc="end index per axis (exclusive; -1 before index 0)"),
           Attr("steps", "ints", doc="step per axis (nonzero)"))
_SHAPE = Attr("shape", "ints", doc="the output shape")


OPS = [
    OpDef("constant", lambda value: value.array, _constant_infer, arity=0, jvp=(), vjp=(),
          attrs=(Attr("value", "tensor", doc="the tensor, carried in the graph"),), doc="a constant tensor carried in the graph",
          batched_forward=lambda value: value.array[None],
          examples=lambda rng: [Example((), {"value": rng.standard_normal((2, 3))}),
                                Example((), {"value": np.arange(4)})]),
    OpDef("transpose", lambda x, axes: np.transpose(x, axes), _transpose_infer,
          attrs=(Attr("axes", "axes", None, "the permutation (left out: reverse the axes)"),),
          view=True, doc="permute the axes",
          jvp=(lambda x_dot, ans, x, axes: wg.transpose(x_dot, axes),),
          vjp=(lambda g, ans, x, axes: wg.transpose(g, tuple(np.argsort(_perm(axes, x.ndim)))),),
          batched_forward=lambda x, axes: np.transpose(x, (0, *(a + 1 for a in _perm(axes, x.ndim - 1)))),
          examples=_cases(([(3, 4)], {}), ([(2, 3, 4)], {"axes": (1, -1, 0)}))),
    OpDef("reshape", lambda x, shape: x.reshape(shape), _reshape_infer,
          attrs=(Attr("shape", "ints", doc="the new shape; one -1 is inferred"),),
          doc="the same entries in a new shape (C order)",
          jvp=(lambda x_dot, ans, x, shape: wg.reshape(x_dot, ans.shape),),
          vjp=(lambda g, ans, x, shape: wg.reshape(g, x.shape),),
          batched_forward=lambda x, shape: np.reshape(x, (x.shape[0], *shape)),
          examples=_cases(([(3, 4)], {"shape": (2, 6)}), ([(2, 3, 4)], {"shape": (4, -1)}))),
    OpDef("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), _broadcast_to_infer,
          attrs=(_SHAPE,), view=True, doc="x repeated NumPy-style to `shape`",
          jvp=(lambda x_dot, ans, x, shape: wg.broadcast_to(x_dot, shape),),
          vjp=(lambda g, ans, x, shape: g,),  # the engine sums g down to x's shape
          batched_forward=lambda x, shape: np.broadcast_to(batch_lift(x, len(shape) + 1),
                                                           (x.shape[0], *shape)),
          examples=_cases(([(3, 1)], {"shape": (2, 3, 4)}), ([()], {"shape": (3,)}))),
    OpDef("expand_dims", lambda x, axis: np.expand_dims(x, axis), _expand_dims_infer,
          attrs=(Attr("axis", "axes", doc="positions of the new size-1 axes in the output"),),
          view=True, doc="insert size-1 axes",
          jvp=(lambda x_dot, ans, x, axis: wg.expand_dims(x_dot, axis),),
          vjp=(lambda g, ans, x, axis: wg.squeeze(g, axis),),
          batched_forward=lambda x, axis: np.expand_dims(x, batched_axes(axis, x.ndim - 1 + len(axis))),
          examples=_cases(([(3, 4)], {"axis": 1}), ([(3,)], {"axis": (0, -1)}))),
    OpDef("squeeze", lambda x, axis: np.squeeze(x, _squeezed(x.shape, axis)), _squeeze_infer,
          attrs=(Attr("axis", "axes", None, "size-1 axes to remove (left out: all of them)"),),
          view=True, doc="remove size-1 axes",
          jvp=(lambda x_dot, ans, x, axis: wg.squeeze(x_dot, axis),),
          vjp=(lambda g, ans, x, axis: wg.expand_dims(g, _squeezed(x.shape, axis)),),
          batched_forward=lambda x, axis: np.squeeze(
              x, tuple(a + 1 for a in _squeezed(x.shape[1:], axis))),
          examples=_cases(([(3, 1, 4, 1)], {}), ([(1, 3)], {"axis": 0}))),
    OpDef("concatenate", lambda *xs, axis: np.concatenate(xs, axis), _concatenate_infer, arity=None,
          attrs=(_AXIS0,), doc="join inputs along an existing axis",
          jvp=(_concatenate_jvp,), vjp=(_concatenate_vjp,),
          batched_forward=lambda *xs, axis: np.concatenate(
              broadcast_batch(*xs), _axis(axis, xs[0].ndim - 1) + 1),
          examples=_cases(([(2, 3), (4, 3)], {}), ([(2, 3), (2, 1), (2, 2)], {"axis": -1}),
                            ([(5,)], {}))),
    OpDef("stack", lambda *xs, axis: np.stack(xs, axis), _stack_infer, arity=None,
          attrs=(_AXIS0,), doc="join same-shaped inputs along a new axis",
          jvp=(_stack_jvp,), vjp=(_stack_vjp,),
          batched_forward=lambda *xs, axis: np.stack(
              broadcast_batch(*xs), _axis(axis, xs[0].ndim) + 1),
          examples=_cases(([(2, 3), (2, 3)], {}), ([(3,), (3,), (3,)], {"axis": -1}), ([()], {}))),
    OpDef("flip", lambda x, axis: np.flip(x, normalize_axes(axis, x.ndim)), _flip_infer,
          attrs=(Attr("axis", "axes", None, "axes to reverse (left out: all of them)"),),
          view=True, doc="reverse the order of entries along axes",
          jvp=(lambda x_dot, ans, x, axis: wg.flip(x_dot, axis),),
          vjp=(lambda g, ans, x, axis: wg.flip(g, axis),),
          batched_forward=lambda x, axis: np.flip(x, batched_axes(axis, x.ndim - 1)),
          examples=_cases(([(3, 4)], {}), ([(2, 3, 4)], {"axis": (0, 2)}))),
    OpDef("slice", lambda x, starts, stops, steps: x[_index(starts, stops, steps)], _slice_infer,
          attrs=_BOUNDS, view=True, doc="on each axis, the elements at start, start + step, ... up to but excluding stop (bounds normalized: 0 <= start <= size, -1 <= stop <= size, step nonzero)",
          jvp=(lambda x_dot, ans, x, **bounds: wg.op("slice", x_dot, **bounds),),
          vjp=(lambda g, ans, x, **bounds: wg.scatter_slice(g, x.shape, **bounds),),
          batched_forward=lambda x, starts, stops, steps: x[
              (slice(None),) + _index(starts, stops, steps)],
          examples=_cases(([(5, 4)], {"starts": (1, 0), "stops": (4, 4), "steps": (2, 1)}),
                            ([(6,)], {"starts": (5,), "stops": (-1,), "steps": (-2,)}))),
    OpDef("scatter_slice", _scatter_slice, _scatter_slice_infer,
          attrs=(_SHAPE, *_BOUNDS), doc="zeros of `shape` with x written into the slice (slice's transpose)",
          jvp=(lambda x_dot, ans, g, **attrs: wg.scatter_slice(x_dot, **attrs),),
          vjp=(lambda g, ans, x, shape, **bounds: wg.op("slice", g, **bounds),),
          batched_forward=lambda g, **attrs: _scatter_slice(g, batch=g.shape[:1], **attrs),
          examples=_cases(
              ([(2, 4)], {"shape": (5, 4), "starts": (1, 0), "stops": (4, 4), "steps": (2, 1)}),
              ([(3,)], {"shape": (6,), "starts": (5,), "stops": (-1,), "steps": (-2,)}))),
    OpDef("take", lambda x, indices, axis: np.take(x, indices, axis), _take_infer, arity=2,
          attrs=(_AXIS0,),
          doc="gather entries at integer `indices` along axis (NumPy take); no derivative for indices",
          jvp=(lambda x_dot, ans, x, indices, axis: wg.take(x_dot, indices, axis), None),
          vjp=(lambda g, ans, x, indices, axis: wg.scatter_add(g, indices, axis, x.shape[axis]), None),
          batched_forward=_take_batched,
          examples=lambda rng: [
              Example((rng.standard_normal((4, 3)), np.array([2, 0, 2, -1]))),
              Example((rng.standard_normal((2, 5, 3)), np.array([[1, 4], [4, 0]])), {"axis": 1})]),
    OpDef("scatter_add", _scatter_add, _scatter_add_infer, arity=2,
          attrs=(_AXIS0, Attr("size", "int", doc="the output's length along axis")),
          doc="zeros with updates added at `indices` along axis (take's transpose); none for indices",
          jvp=(lambda x_dot, ans, u, indices, axis, size: wg.scatter_add(x_dot, indices, axis, size), None),
          vjp=(lambda g, ans, u, indices, axis, size: wg.take(g, indices, axis), None),
          batched_forward=_scatter_add_batched,
          examples=lambda rng: [
              Example((rng.standard_normal((4, 3)), np.array([2, 0, 2, -1])), {"size": 3}),
              Example((rng.standard_normal((2, 2, 2, 3)), np.array([[1, 4], [4, 0]])),
                      {"axis": 1, "size": 5})]),
    OpDef("pad", _pad, _pad_infer,
          attrs=(Attr("pad_width", "ints", doc="(before, after) per axis, flattened"),
                 Attr("constant_value", "float", 0.0, "the value padded with")),
          doc="x surrounded by a constant (NumPy pad, constant mode)",
          jvp=(lambda x_dot, ans, x, pad_width, constant_value: wg.op("pad", x_dot, pad_width=pad_width),),
          vjp=(lambda g, ans, x, pad_width, constant_value: _unpad(g, x, pad_width),),
          batched_forward=lambda x, pad_width, constant_value: np.pad(
              x, [(0, 0)] + _pairs(pad_width), constant_values=constant_value),
          examples=_cases(([(3, 4)], {"pad_width": (1, 0, 2, 3), "constant_value": 1.5}),
                            ([(2,)], {"pad_width": (0, 2)}), ([()], {"pad_width": ()}))),
]
