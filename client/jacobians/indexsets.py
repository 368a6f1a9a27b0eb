"""Sets of input elements, one per element of a value: what sparsity detection propagates.

The elements of an input are numbered in words of at most 64 bits (`Words`): one word per row
when the input's rows hold at most 64 elements (a camera array shaped (n, 11): a word per
camera), else runs of 64 consecutive elements. Which elements of one input an element of a value
depends on is then a few (word, bitmask) pairs, kept in one of two layouts:

* `Slot`: at most one word per element, as two arrays shaped like the value: `code` (the word
  plus one; 0: no dependence) and `mask`. Values computed record by record look like this (a
  bundle-adjustment residual depends on one camera row and one point row), and operations on a
  slot are NumPy operations on its two arrays, as cheap as evaluating the op: broadcasting,
  moving elements (the op's own forward runs on them, zeros filling in as "nothing"), reducing.
* `Sets`: any number of words per element, as compressed rows (CSR) sorted by word. A slot
  becomes sets when an element needs two words of one input (a sum over rows); unions and
  reductions of sets sort (element, word) keys, and sets that fit a slot become one again.

Work and memory are linear in the number of (element, word) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce as fold
from typing import Sequence

import numpy as np

_LAST = np.iinfo(np.int64).max
SHORT = 8  # reductions over at most this many elements are unrolled into elementwise ops
EXPAND_BLOCK = 1 << 14  # elements whose candidate columns are tabled at once


@dataclass(frozen=True)
class Words:
    """How input elements are numbered in words: element e of the flattened input is bit
    e % width of word e // width; column `offset + e` of the Jacobian."""

    offset: int
    width: int

    @classmethod
    def of(cls, shape: tuple[int, ...], offset: int) -> Words:
        row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 0
        return cls(offset, row if 0 < row <= 64 else 64)

    def identity(self, shape: tuple[int, ...]) -> Slot:
        """An input's own elements: each depends on itself."""
        e = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
        return Slot(e // self.width + 1, np.left_shift(np.uint64(1), (e % self.width).astype(np.uint64)))


class OverBudget(Exception):
    """Raised before building index sets larger than the budget allows."""


@dataclass(frozen=True)
class Budget:
    """Bytes one array of index sets may take (None: no limit)."""

    limit: int | None = None

    def check(self, nbytes: int) -> None:
        if self.limit is not None and nbytes > self.limit:
            raise OverBudget


@dataclass(frozen=True)
class Slot:
    """At most one word per element: `code` (word + 1, 0: none) and `mask` shaped like the
    value (either may be a view, broadcast or not)."""

    code: np.ndarray
    mask: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.code.shape

    @property
    def nbytes(self) -> int:
        return 16 * self.code.size

    @property
    def nonzeros(self) -> int:
        """(element, input element) pairs."""
        return int(np.bitwise_count(self.mask).sum(dtype=np.int64))

    def reshape(self, shape: tuple[int, ...]) -> Slot:
        return Slot(self.code.reshape(shape), self.mask.reshape(shape))

    def broadcast(self, shape: tuple[int, ...], budget: Budget) -> Slot:
        return self if self.shape == shape else Slot(np.broadcast_to(self.code, shape),
                                                     np.broadcast_to(self.mask, shape))

    def gather(self, source: np.ndarray, shape: tuple[int, ...], budget: Budget) -> Slot:
        """Element o takes element source[o] (-1: nothing)."""
        code, mask = self.code.ravel()[source], self.mask.ravel()[source]
        if source.size and source.min() < 0:
            code[source < 0], mask[source < 0] = 0, 0
        return Slot(code.reshape(shape), mask.reshape(shape))

    def reduce(self, axes: tuple[int, ...], keepdims: bool, budget: Budget, spread: int = 1) -> Part:
        """The union over `axes`: still a slot, unless a reduced group spans two words. Sets
        about to be copied to `spread` elements each are priced first, from the words each
        group can hold at most, before any is built."""
        high = _reduce(np.maximum, self.code, axes, keepdims)
        low = _reduce(np.minimum, np.where(self.code == 0, _LAST, self.code), axes, keepdims)
        if ((low != high) & (high != 0)).any():
            length = int(np.prod([self.shape[axis] for axis in axes], dtype=np.int64))
            words = np.minimum(np.where(high != 0, high - low + 1, 0), length)
            budget.check(16 * spread * int(words.sum(dtype=np.int64)))
            return self.sets().reduce(axes, keepdims, budget)
        return Slot(high, _reduce(np.bitwise_or, self.mask, axes, keepdims))

    def sets(self) -> Sets:
        element, word, mask = self.entries()
        indptr = np.zeros(self.code.size + 1, np.int64)
        np.cumsum(self.code.ravel() != 0, out=indptr[1:])
        return Sets(self.shape, indptr, word, mask)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(element, word, mask) of every pair, elements ascending."""
        code = self.code.ravel()
        element = np.flatnonzero(code)
        return element, code[element] - 1, self.mask.ravel()[element]


def _reduce(ufunc: np.ufunc, a: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """`ufunc.reduce` over `axes`; a short reduction as elementwise steps (NumPy reduces a
    short axis element by element, which is many times slower)."""
    length = int(np.prod([a.shape[axis] for axis in axes], dtype=np.int64))
    if not 0 < length <= SHORT:
        identity = 0 if ufunc is not np.minimum else _LAST
        return ufunc.reduce(a, axis=axes, keepdims=keepdims, initial=identity)
    kept = [axis for axis in range(a.ndim) if axis not in axes]
    front = np.transpose(a, list(axes) + kept).reshape((length,) + tuple(a.shape[k] for k in kept))
    out = fold(ufunc, front)
    shape = tuple(1 if axis in axes else d for axis, d in enumerate(a.shape)) if keepdims else out.shape
    return out.reshape(shape)


@dataclass(frozen=True)
class Sets:
    """Any number of words per element: those of flat element k are word[indptr[k]:indptr[k+1]]
    (ascending), with their masks."""

    shape: tuple[int, ...]
    indptr: np.ndarray
    word: np.ndarray
    mask: np.ndarray

    @property
    def size(self) -> int:
        return self.indptr.size - 1

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.word.nbytes + self.mask.nbytes

    @property
    def nonzeros(self) -> int:
        return int(np.bitwise_count(self.mask).sum(dtype=np.int64))

    def reshape(self, shape: tuple[int, ...]) -> Sets:
        return Sets(shape, self.indptr, self.word, self.mask)

    def broadcast(self, shape: tuple[int, ...], budget: Budget) -> Sets:
        if self.shape == shape:
            return self
        source = np.broadcast_to(np.arange(self.size).reshape(self.shape), shape).ravel()
        return self.gather(source, shape, budget)

    def gather(self, source: np.ndarray, shape: tuple[int, ...], budget: Budget) -> Sets:
        counts = np.where(source >= 0, np.diff(self.indptr)[source], 0)
        indptr = np.zeros(source.size + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        budget.check(32 * int(indptr[-1]))
        take = np.repeat(self.indptr[source] - indptr[:-1], counts) + np.arange(indptr[-1])
        return Sets(shape, indptr, self.word[take], self.mask[take])

    def reduce(self, axes: tuple[int, ...], keepdims: bool, budget: Budget, spread: int = 1) -> Part:
        kept = tuple(1 if a in axes else d for a, d in enumerate(self.shape))
        count = int(np.prod(kept, dtype=np.int64))
        groups = np.broadcast_to(np.arange(count).reshape(kept), self.shape).ravel()
        shape = kept if keepdims else tuple(d for a, d in enumerate(self.shape) if a not in axes)
        return group([self], groups, count, shape, budget)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.repeat(np.arange(self.size), np.diff(self.indptr)), self.word, self.mask


Part = Slot | Sets


def group(parts: Sequence[Part], groups: np.ndarray | None, count: int, shape: tuple[int, ...],
          budget: Budget) -> Part:
    """Element g of the result: the union of every element k of `parts` (all of one size) with
    groups[k] == g (`groups` None: element k of each part goes to k). A slot when it fits."""
    found = [part.entries() for part in parts]
    budget.check(40 * sum(e.size for e, _, _ in found))
    words = 1 + max((int(w.max(initial=-1)) for _, w, _ in found), default=0)
    if count * words >= 1 << 62:  # (group, word) keys would not fit in an int64
        raise OverBudget
    element = np.concatenate([e for e, _, _ in found])
    if groups is not None:
        element = groups[element]
    keys = element * words + np.concatenate([w for _, w, _ in found])
    order = np.argsort(keys)
    keys = keys[order]
    first = np.flatnonzero(np.diff(keys, prepend=-1))
    mask = np.bitwise_or.reduceat(np.concatenate([m for _, _, m in found])[order], first) if first.size \
        else np.zeros(0, np.uint64)
    keys = keys[first]
    element = keys // words
    counts = np.bincount(element, minlength=count)
    if counts.max(initial=0) <= 1:  # one word per element at most: back to a slot
        code = np.zeros(count, np.int64)
        full = np.zeros(count, np.uint64)
        code[element], full[element] = keys - element * words + 1, mask
        return Slot(code.reshape(shape), full.reshape(shape))
    indptr = np.zeros(count + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return Sets(shape, indptr, keys - element * words, mask)


def union(parts: Sequence[Part], budget: Budget) -> Part:
    """Element by element, the union of `parts`, all of one shape."""
    distinct = list({id(p): p for p in parts}.values())
    merged = distinct[0]
    for part in distinct[1:]:
        merged = _merge(merged, part) if isinstance(merged, Slot) and isinstance(part, Slot) else None
        if merged is None:
            size = int(np.prod(distinct[0].shape, dtype=np.int64))
            return group(distinct, None, size, distinct[0].shape, budget)
    return merged


def _merge(a: Slot, b: Slot) -> Slot | None:
    """Two slots' union as a slot, or None when some element depends on two words."""
    if _same_view(a.code, b.code) or np.array_equal(a.code, b.code):
        return Slot(a.code, a.mask | b.mask)
    if ((np.minimum(a.code, b.code) != 0) & (a.code != b.code)).any():
        return None
    return Slot(np.maximum(a.code, b.code), a.mask | b.mask)


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (live) arrays are the same elements of the same memory: equal, unread."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and (a.shape, a.strides, a.dtype) == (b.shape, b.strides, b.dtype))


def expand(parts: Sequence[tuple[Part, Words]], size: int, rows: np.ndarray, cols: np.ndarray,
           first_row: int = 0) -> None:
    """Write the (element + first_row, column) pairs of one value's index sets over several
    inputs (`parts`, in column order) into `rows` and `cols`, sorted by element, then column."""
    if all(isinstance(part, Slot) for part, _ in parts):
        return _expand_slots(parts, size, rows, cols, first_row)
    found = [(part.entries(), words) for part, words in parts]
    bits = [np.bitwise_count(mask).astype(np.int64) for (_, _, mask), _ in found]
    counts = [np.bincount(e, weights=b, minlength=size).astype(np.int64) for ((e, _, _), _), b in zip(found, bits)]
    total = sum(counts, np.zeros(size, np.int64))
    before = np.cumsum(total) - total  # where each element's columns of the next part go
    for ((element, word, mask), words), b, count in zip(found, bits, counts):
        start = np.cumsum(b) - b  # each pair's first bit among the part's bits
        first = np.flatnonzero(np.diff(element, prepend=-1))  # each element's first pair
        at = before[element] + start - np.repeat(start[first], np.diff(first, append=element.size))
        pair, bit = _set_bits(mask, words.width, b)
        place = at[pair] + np.arange(pair.size) - start[pair]
        rows[place] = element[pair] + first_row
        cols[place] = words.offset + word[pair] * words.width + bit
        before += count


def _set_bits(mask: np.ndarray, width: int, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, bit) of every set bit of `mask`'s low `width` bits (`bits`: their counts), by
    index, then bit: unpacked when the masks are dense, else peeled off lowest first."""
    if bits.sum() * 8 >= mask.size * width:
        octets = mask.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :-(-width // 8)]
        return np.nonzero(np.unpackbits(octets, axis=1, bitorder="little")[:, :width])
    pair = np.empty(int(bits.sum()), np.int64)
    bit = np.empty(pair.size, np.int64)
    at = np.cumsum(bits) - bits
    left = mask.copy()
    live = np.flatnonzero(left)
    while live.size:
        low = left[live] & (~left[live] + np.uint64(1))
        pair[at[live]] = live
        bit[at[live]] = np.bitwise_count(low - np.uint64(1))
        left[live] ^= low
        at[live] += 1
        live = live[left[live] != 0]
    return pair, bit


def _expand_slots(parts: Sequence[tuple[Slot, Words]], size: int, rows: np.ndarray, cols: np.ndarray,
                  first_row: int) -> None:
    """`expand` when every part is a slot (one word per element at most): an element's columns
    are the set bits of its parts' masks in turn, already in column order. Each part gives a
    table of candidate columns per element (a column per bit of the word when its masks are
    dense, else the k-th lowest set bit for k up to the fullest mask), and the present ones are
    read out row by row, a block of elements at a time so that the tables stay in the cache."""
    codes = [part.code.ravel() for part, _ in parts]
    masks = [part.mask.ravel() for part, _ in parts]
    bits = [np.bitwise_count(mask) for mask in masks]
    counts = sum((b.astype(np.int64) for b in bits), np.zeros(size, np.int64))
    rows[:] = np.repeat(np.arange(first_row, first_row + size, dtype=rows.dtype), counts)
    most = [int(b.max(initial=0)) for b in bits]
    dense = [8 * int(b.sum(dtype=np.int64)) >= size * words.width for b, (_, words) in zip(bits, parts)]
    at = 0
    for low in range(0, size, EXPAND_BLOCK):
        high = min(low + EXPAND_BLOCK, size)
        columns, present = [], []
        for code, mask, (_, words), full, k in zip(codes, masks, parts, dense, most):
            base = (code[low:high] - 1) * words.width + words.offset
            if full:  # a candidate per bit of the word
                octets = mask[low:high].astype("<u8").view(np.uint8).reshape(-1, 8)[:, :-(-words.width // 8)]
                present.append(np.unpackbits(octets, axis=1, bitorder="little")[:, :words.width].view(bool))
                columns.append(base[:, None] + np.arange(words.width))
                continue
            left = mask[low:high].copy()
            for _ in range(k):  # the lowest set bit left, k times
                lowest = left & (~left + np.uint64(1))
                present.append((lowest != 0)[:, None])
                columns.append((base + np.bitwise_count(lowest - np.uint64(1)))[:, None])
                left ^= lowest
        if columns:
            found = np.concatenate(columns, axis=1)[np.concatenate(present, axis=1)]
            cols[at:at + found.size] = found
            at += found.size
