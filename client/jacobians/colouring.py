"""Colourings that compress a sparse Jacobian or Hessian into few sweeps.

Columns of J that share no row can be swept together, one forward direction per colour
(`columns`: a distance-2 colouring of the columns), rows likewise in reverse (`rows`); a
symmetric matrix needs fewer colours still (`star`). A colouring says, for every structural
nonzero, which swept vector and which entry of it holds its value, so recovery is one
fancy-indexing step.

Cyclic colourings come first, in a few passes: column j mod k, or j mod k_b within each input
b (its own colours), taken without a search when within one colour in eight of the fewest
possible. Otherwise distance-2 colourings are greedy in largest-first order, as ColPack's
are, in time near-linear in the nonzeros: rows of one entry and rows repeating another constrain nothing more and are
left out, columns with identical rows are coloured as one (they need distinct colours anyway,
like a camera's parameters), and Jones & Plassmann's rounds colour at once every column
whose higher-priority row-neighbours are coloured, which gives exactly the greedy colouring of
that order. Sorting each row's columns by priority makes a round cost only the rows of the
columns it colours. Every colouring says how it was found (`method`) and why a cheaper method
was used (`note`), so nothing degrades silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from wengert.jacobians.sparsity import Pattern

# How a colouring was found (`Colouring.method`): "basis" is none (a direction per column or row).
BASIS, CYCLIC, LARGEST_FIRST, STAR, HUBS_APART = "basis", "cyclic", "largest-first", "star", "hubs-apart"
CYCLIC_TRIES = 4  # cyclic colourings j mod k tried before a greedy one
MAX_STAR_WORK = 20_000_000  # paths the greedy star colouring may visit (it is a Python loop)
MAX_MASK_BYTES = 1 << 30  # the colours used in each row, as bitmasks, may take this much
SEED = 0  # of the tie-breaks: a pattern always gets the same colouring


@dataclass(frozen=True)
class Colouring:
    """`count` colours; structural nonzero k of the pattern is entry `position[k]` of the swept
    result for colour `colour[k]` (a result is a column of J S forward, a row of W J reverse).
    `seeds[j]` is the colour of column j (forward) or row j (reverse). `method` says how the
    colours were found, `note` more about it: why a cheaper method was used, if one was."""

    seeds: np.ndarray
    count: int
    colour: np.ndarray
    position: np.ndarray
    method: str
    note: str = ""


def index_dtype(top: int) -> np.dtype:
    """The narrowest signed integer type holding 0..top: colours and positions of tens of
    millions of entries take a quarter of the memory as int16s and int32s."""
    return np.dtype(next(t for t in (np.int8, np.int16, np.int32, np.int64) if top <= np.iinfo(t).max))


def min_colours(pattern: Pattern) -> tuple[int, int]:
    """Lower bounds on the column and row colour counts: the fullest row and column."""
    return (int(np.diff(pattern.indptr).max(initial=0)),
            int(np.bincount(pattern.cols, minlength=1).max()))


def columns(pattern: Pattern, blocks: Sequence[tuple[str, int]] = ()) -> Colouring:
    """Columns sharing no row get one colour, for forward sweeps. `blocks`: the name and first
    column of each input, in order, for cyclic colourings within each."""
    return _distance2(pattern.indptr, pattern.rows, pattern.cols, pattern.shape[1], pattern.rows,
                      _Blocks.of(blocks, pattern.shape[1], "column", "input"))


def rows(pattern: Pattern, blocks: Sequence[tuple[str, int]] = ()) -> Colouring:
    """Rows sharing no column get one colour, for reverse sweeps. `blocks`: the name and first
    row of each output, in order, for cyclic colourings within each."""
    t = pattern.matrix().tocsc()
    by_column = np.repeat(np.arange(pattern.shape[1]), np.diff(t.indptr))
    found = _distance2(t.indptr, by_column, t.indices, pattern.shape[0], by_column,
                       _Blocks.of(blocks, pattern.shape[0], "row", "output"))
    # the same colouring, entry by entry in the pattern's order
    colour = found.seeds.astype(index_dtype(found.count))[pattern.rows]
    return Colouring(found.seeds, found.count, colour, pattern.cols, found.method, found.note)


@dataclass(frozen=True)
class _Blocks:
    """Consecutive ranges of the vertices (one per input or output): `names`, `starts` and the
    vertex `size`; `vertex` and `whole` name a vertex and a block in notes."""

    names: tuple[str, ...]
    starts: np.ndarray
    size: int
    vertex: str
    whole: str

    @classmethod
    def of(cls, blocks: Sequence[tuple[str, int]], size: int, vertex: str, whole: str) -> _Blocks:
        return cls(tuple(name for name, _ in blocks), np.array([start for _, start in blocks], np.int64), size,
                   vertex, whole)


def _distance2(ptr: np.ndarray, seg: np.ndarray, members: np.ndarray, size: int,
               position: np.ndarray, blocks: _Blocks) -> Colouring:
    """Colour `size` vertices so that the members of each segment differ: segment i holds
    members[ptr[i]:ptr[i+1]] (seg[k]: the segment of entry k, position[k]: where in the swept
    result it is read). A cyclic colouring (of all vertices, or within each of `blocks`) within
    one colour in eight of the fewest possible, and fewer than a colour each, is taken without
    a search. Else a segment of
    one member, or one repeating another (a residual's components), constrains nothing more,
    so the search runs without them; the colouring is checked against every segment, so a
    hash taking two segments for one costs a second search, never a wrong colouring."""
    lower = max(int(np.diff(ptr).max(initial=0)), 1)  # no colouring has fewer colours
    cyclic = _cyclic(ptr, seg, members, size, lower, blocks)
    if cyclic is not None and cyclic[1] <= lower + lower // 8 and cyclic[1] < size:
        seeds, count, method, note = cyclic
        return Colouring(seeds, count, seeds.astype(index_dtype(count))[members], position, method, note)
    seeds, count, method, note = _better(cyclic, _search(*_constraining(ptr, members, size), size, _digests))
    if not _rainbow(ptr, colour := seeds.astype(index_dtype(count))[members]):
        seeds, count, method, note = _better(cyclic, _search(ptr, seg, members, size, None))
        colour = seeds.astype(index_dtype(count))[members]
    return Colouring(seeds, count, colour, position, method, note)


def _better(cyclic: tuple | None, greedy: tuple) -> tuple:
    """The colouring of fewer colours (the cyclic one on ties)."""
    return cyclic if cyclic is not None and cyclic[1] <= greedy[1] else greedy


def _cyclic(ptr: np.ndarray, seg: np.ndarray, members: np.ndarray, size: int, lower: int, blocks: _Blocks
            ) -> tuple[np.ndarray, int, str, str] | None:
    """Seeds, colour count, method and note of the cyclic colouring of fewest colours found
    without a search (None when none of the first few tried works): vertex j mod k, optimal
    for banded and block-diagonal patterns, or, with several blocks, j mod k_b within block b
    (its own colours), near optimal when each segment holds members of a few rows of each
    input (a residual reading one camera and one point)."""
    head = ptr[:np.searchsorted(ptr, min(members.size, 1 << 16)) + 1]  # rows to rule a colouring out early
    found = None
    for k in range(lower, min(lower + CYCLIC_TRIES, size + 1)):
        if _rainbow(head, members[:head[-1]] % k) and _rainbow(ptr, members % k):
            found = (np.arange(size) % k, k, CYCLIC, f"{blocks.vertex} mod {k}")
            break
    if found is not None and found[1] == lower or blocks.starts.size < 2 or not members.size:
        return found
    within = _block_cyclic(ptr, seg, members, head, blocks)
    return _better(found, within) if within is not None else found


def _block_cyclic(ptr: np.ndarray, seg: np.ndarray, members: np.ndarray, head: np.ndarray, blocks: _Blocks
                  ) -> tuple[np.ndarray, int, str, str] | None:
    """j mod k_b within each block b, each k_b the first from the most members of block b in
    one segment that the first segments (`head`) allow; None when the colouring fails."""
    count = blocks.starts.size
    block = np.repeat(np.arange(count, dtype=np.int8 if count < 128 else np.int64),
                      np.diff(np.append(blocks.starts, blocks.size)))[members]  # each entry's block
    most = np.bincount(seg.astype(np.int64) * count + block, minlength=(ptr.size - 1) * count)
    most = most.reshape(-1, count).max(axis=0, initial=0)
    local = members[:head[-1]] - blocks.starts[block[:head[-1]]]
    moduli = []
    for b, least in enumerate(most.tolist()):
        mine = block[:head[-1]] == b
        tried = range(least, least + CYCLIC_TRIES) if least else [0]
        k = next((k for k in tried if not k or _distinct(seg[:head[-1]][mine], local[mine] % k)), None)
        if k is None:
            return None
        moduli.append(k)
    offsets = np.cumsum([0] + moduli[:-1])
    seeds = np.zeros(blocks.size, np.int64)
    for b, (start, stop) in enumerate(zip(blocks.starts, np.append(blocks.starts[1:], blocks.size))):
        if moduli[b]:
            seeds[start:stop] = offsets[b] + np.arange(stop - start) % moduli[b]
    total = sum(moduli)
    if not _rainbow(ptr, seeds.astype(index_dtype(total))[members]):
        return None
    described = ", ".join(f"{k} ({name})" for k, name in zip(moduli, blocks.names))
    return seeds, total, CYCLIC, f"{blocks.vertex} mod k within each {blocks.whole}: {described}"


def _distinct(seg: np.ndarray, colours: np.ndarray) -> bool:
    """Whether the colours of one segment are distinct (`seg`: each entry's segment, ascending)."""
    if not seg.size:
        return True
    return _rainbow(_indptr(seg - seg[0], int(seg[-1] - seg[0]) + 1), colours)


def _search(ptr: np.ndarray, seg: np.ndarray, members: np.ndarray, size: int, digests
            ) -> tuple[np.ndarray, int, str, str]:
    """Seeds, colour count, method and note of the greedy colouring (vertices of equal
    `digests` coloured as a group; None: no groups)."""
    grouping = np.arange(size, dtype=np.uint64) if digests is None else digests(seg, members, size)
    seeds, note = _greedy(ptr, seg, members, size, grouping)
    return seeds, int(seeds.max(initial=-1)) + 1, LARGEST_FIRST, note


def _constraining(ptr: np.ndarray, members: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ptr, seg, members) of one of each distinct segment of two members or more: segments
    repeating the one before them are dropped exactly, then those whose hash (a sum of
    hashed members) was seen before."""
    counts = np.diff(ptr)
    repeats = np.zeros(counts.size, bool)
    same = np.flatnonzero((counts[1:] == counts[:-1]) & (counts[1:] > 1)) + 1  # as long as the one before
    if same.size:
        pairs, positions = _ranges(ptr, np.arange(members.size), same)
        equal = members[positions] == members[positions - counts[same].repeat(np.diff(pairs))]
        repeats[same] = np.logical_and.reduceat(equal, pairs[:-1])
    several = np.flatnonzero((counts > 1) & ~repeats)
    if several.size:
        _, first = np.unique(np.add.reduceat(_mix(np.arange(size))[members], ptr[several]), return_index=True)
        several = several[np.sort(first)]
    kept, out = _ranges(ptr, members, several)
    return kept, np.repeat(np.arange(kept.size - 1), np.diff(kept)), out


_BIT = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))


def _rainbow(ptr: np.ndarray, colours: np.ndarray) -> bool:
    """Whether the colours within every segment are distinct."""
    counts = np.diff(ptr)
    starts = ptr[:-1][counts > 0]
    if not starts.size:
        return True
    top = int(colours.max())
    if top >= 64 * 8:
        keys = np.sort(np.repeat(np.arange(counts.size), counts) * (top + 1) + colours)
        return bool((keys[1:] != keys[:-1]).all())
    found = np.zeros(starts.size, np.int64)
    for word in range(top // 64 + 1):  # a bitmask per segment and word: popcounts add up to the distinct
        bits = _BIT[colours % 64] if top < 64 else np.where(colours // 64 == word, _BIT[colours % 64], 0)
        found += np.bitwise_count(np.bitwise_or.reduceat(bits, starts))
    return bool((found == counts[counts > 0]).all())


def _digests(seg: np.ndarray, members: np.ndarray, size: int) -> np.ndarray:
    """A hash of each vertex's segments, equal for identical lists (whose sums bincount adds
    in the same order) and almost surely different otherwise: the count, sum and sum of
    squares of the segment numbers, mixed. The colouring is checked, so a collision costs
    time, not validity."""
    at = seg.astype(np.float64)
    sums = np.bincount(members, weights=at, minlength=size)
    squares = np.bincount(members, weights=at * at, minlength=size)
    count = np.bincount(members, minlength=size)
    return _mix(count) ^ _mix(sums.view(np.uint64) + np.uint64(1)) ^ _mix(squares.view(np.uint64))


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: 64 well-mixed bits of each value."""
    mixed = values.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(32)
    return mixed


# -- greedy distance-2 colouring, in rounds --------------------------------------------------
def _greedy(ptr: np.ndarray, seg: np.ndarray, members: np.ndarray, size: int,
            digest: np.ndarray) -> tuple[np.ndarray, str]:
    """Largest-first greedy colouring of vertices grouped by `digest` (a group: identical
    segment lists, coloured as one with as many colours as members)."""
    busy = np.zeros(size, bool)
    busy[members] = True
    by_digest = np.flatnonzero(busy)[np.argsort(digest[busy], kind="stable")]
    new = np.ones(by_digest.size, bool)
    new[1:] = digest[by_digest[1:]] != digest[by_digest[:-1]]
    group = np.full(size, -1, np.int64)  # -1: in no segment, any colour will do
    group[by_digest] = np.cumsum(new) - 1
    weight = np.diff(np.flatnonzero(np.append(new, True)))
    leads = np.zeros(size, bool)
    leads[by_digest[new]] = True
    keep = np.flatnonzero(leads[members])
    seg, held = seg[keep], group[members[keep]]  # the segments again, holding only groups' first members
    degree = np.bincount(held, weights=np.diff(ptr)[seg], minlength=weight.size)  # distance-2, with repeats
    chosen, note = _rounds(seg, held, _ranks(degree), weight, ptr.size - 1)
    seeds = np.zeros(size, np.int64)
    seeds[by_digest] = chosen  # chosen is laid out group by group, like by_digest
    return seeds, note


def _ranks(degree: np.ndarray) -> np.ndarray:
    """Priorities 0, 1, ...: larger degree first, ties in a fixed random order."""
    ties = np.random.default_rng(SEED).permutation(degree.size)
    ranks = np.empty(degree.size, np.int64)
    ranks[np.lexsort((ties, -degree))] = np.arange(degree.size)
    return ranks


def _rounds(seg: np.ndarray, held: np.ndarray, rank: np.ndarray, weight: np.ndarray,
            segments: int) -> tuple[np.ndarray, str]:
    """Jones-Plassmann rounds over groups (`held[k]` is in segment `seg[k]`, rank 0 first):
    each round colours the groups first among the uncoloured in all their segments, each with
    the `weight` lowest colours none of its segments has. In a segment sorted by rank the
    coloured groups are a prefix, so a segment's first uncoloured group is a pointer that moves
    on once per group coloured. Returns the colours laid out group by group, and a note."""
    groups = weight.size
    by_rank = np.empty(groups, np.int64)
    by_rank[rank] = np.arange(groups)
    indptr = _indptr(seg, segments)
    ordered = sp.csr_array((np.ones(seg.size, bool), rank[held], indptr), shape=(segments, groups))
    ordered.sort_indices()  # each segment's groups by rank
    order, starts = by_rank[ordered.indices], ordered.indptr
    spans = sp.csr_array((np.ones(seg.size, bool), held, indptr), shape=(segments, groups)).tocsc()
    span_ptr, span_seg = spans.indptr, spans.indices  # each group's segments
    chosen = np.full(int(weight.sum()), -1, np.int64)
    first = np.cumsum(weight) - weight
    used = np.zeros((segments, 1), np.uint64)  # bitmask of the colours in each segment
    at = starts[:-1].copy()  # each segment's first uncoloured group
    busy = np.flatnonzero(np.diff(starts))
    heading = np.bincount(order[at[busy]], minlength=groups)  # segments each group is first in
    needed = np.diff(span_ptr)
    winners = np.flatnonzero(heading == needed)
    while winners.size:
        wptr, wseg = _ranges(span_ptr, span_seg, winners)
        taken = np.bitwise_or.reduceat(used[wseg], wptr[:-1], axis=0)
        before = taken.copy()
        for t in range(int(weight[winners].max())):
            pick = np.flatnonzero(weight[winners] > t)
            if not _room(taken, pick):
                if (used.shape[1] + 1) * 8 * segments > MAX_MASK_BYTES:  # past the masks' budget
                    left = np.flatnonzero(chosen < 0)
                    chosen[left] = chosen.max() + 1 + np.arange(left.size)
                    return chosen, (f"with {64 * used.shape[1]} colours the colour masks reached "
                                    f"{MAX_MASK_BYTES} bytes: the {left.size} columns left got a colour each")
                taken, used = np.pad(taken, ((0, 0), (0, 1))), np.pad(used, ((0, 0), (0, 1)))
            chosen[first[winners[pick]] + t] = _lowest_free(taken, pick)
        before = np.pad(before, ((0, 0), (0, taken.shape[1] - before.shape[1])))
        used[wseg] |= np.repeat(taken ^ before, np.diff(wptr), axis=0)
        heading[winners] = -1  # coloured: first nowhere any more
        at[wseg] += 1
        moved = wseg[at[wseg] < starts[wseg + 1]]
        heirs = order[at[moved]]
        np.add.at(heading, heirs, 1)
        winners = np.sort(heirs[heading[heirs] == needed[heirs]])  # a group heading several: once
        winners = winners[np.diff(winners, prepend=-1) != 0]
    return chosen, ""


def _indptr(index: np.ndarray, count: int) -> np.ndarray:
    indptr = np.zeros(count + 1, np.int64)
    np.cumsum(np.bincount(index, minlength=count), out=indptr[1:])
    return indptr


def _room(taken: np.ndarray, pick: np.ndarray) -> bool:
    """Whether every row `pick` of `taken` has a free colour within its words."""
    return bool((~taken[pick] != 0).any(axis=1).all())


def _lowest_free(taken: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """For rows `pick` of the bitmasks `taken`: the lowest colour not taken, now taken."""
    free = ~taken[pick]
    word = np.argmax(free != 0, axis=1)
    bits = free[np.arange(pick.size), word]
    low = bits & (~bits + np.uint64(1))
    taken[pick, word] |= low
    return word * 64 + np.bitwise_count(low - np.uint64(1)).astype(np.int64)


def _ranges(ptr: np.ndarray, values: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segments `which` of a CSR (ptr, values), as a CSR of their own."""
    counts = ptr[which + 1] - ptr[which]
    out = np.zeros(which.size + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    take = np.repeat(ptr[which] - out[:-1], counts) + np.arange(out[-1])
    return out, values[take]


# -- star colourings, for Hessians -------------------------------------------------------------
def star(pattern: Pattern) -> Colouring:
    """Symmetric colouring of a symmetric pattern, for Hessians: a distance-1 colouring in
    which every path on four vertices uses at least three colours (a star colouring), so each
    H[i, j] is alone in its colour in row i or in row j and is read off directly. Cyclic
    colourings are tried first, then Gebremedhin, Manne & Pothen's (2005) greedy algorithm 1
    when its work is within budget; beyond it, the few vertices of highest degree (hubs) get a
    colour each and the rest a distance-2 colouring, which together are a star colouring."""
    n = pattern.shape[0]
    for k in range(1, CYCLIC_TRIES + 1):
        found = _symmetric_reading(pattern, np.arange(n) % k, CYCLIC, f"column mod {k}")
        if found is not None:
            return found
    off = pattern.rows != pattern.cols
    degree = np.bincount(pattern.rows[off], minlength=n).astype(np.int64)
    work = int((degree ** 3).sum())
    if work <= MAX_STAR_WORK:
        return _symmetric_reading(pattern, _star_greedy(pattern, off), STAR)
    seeds = _hubs_apart(pattern, degree)
    note = f"the greedy star colouring would visit {work} > {MAX_STAR_WORK} paths"
    return _symmetric_reading(pattern, seeds, HUBS_APART, note)


def _star_greedy(pattern: Pattern, off: np.ndarray) -> np.ndarray:
    n = pattern.shape[0]
    rows, cols = pattern.rows[off], pattern.cols[off]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    indptr, indices = indptr.tolist(), cols.tolist()
    nbrs = [indices[indptr[v]:indptr[v + 1]] for v in range(n)]
    colour = [-1] * n
    for v, around in enumerate(nbrs):
        forbidden = {colour[w] for w in around if colour[w] >= 0}
        for w in around:
            for x in nbrs[w]:
                if x == v or colour[x] < 0:
                    continue
                if colour[w] < 0:
                    forbidden.add(colour[x])  # v and x would be one colour two steps apart
                elif any(y != w and colour[y] == colour[w] for y in nbrs[x]):
                    forbidden.add(colour[x])  # v-w-x-y would be a two-coloured path
        colour[v] = next(c for c in range(len(forbidden) + 1) if c not in forbidden)
    return np.asarray(colour, dtype=np.int64)


def _hubs_apart(pattern: Pattern, degree: np.ndarray) -> np.ndarray:
    """A star colouring: the h vertices of highest degree a colour each (a vertex alone in
    its colour is on no two-coloured path), the others a distance-2 colouring among
    themselves. h minimizes h + (the next degree + 1), the fewest colours this can reach."""
    n = pattern.shape[0]
    order = np.argsort(-degree, kind="stable")
    h = int(np.argmin(np.arange(n) + degree[order] + 1))
    hub = np.zeros(n, bool)
    hub[order[:h]] = True
    rest = ~hub[pattern.rows] & ~hub[pattern.cols]
    among = Pattern(pattern.rows[rest], pattern.cols[rest], pattern.shape)
    seeds = columns(among).seeds + h
    seeds[order[:h]] = np.arange(h)
    return seeds


def _symmetric_reading(pattern: Pattern, seeds: np.ndarray, method: str, note: str = "") -> Colouring | None:
    """Where to read each H[r, c] after sweeping one direction per colour of `seeds`: B[seeds[c],
    r] when c is alone in its colour in row r, else B[seeds[r], c] when r is alone in its colour
    in row c; None when neither holds for some entry."""
    r, c = pattern.rows, pattern.cols
    if (seeds[r[r != c]] == seeds[c[r != c]]).any():
        return None
    count = int(seeds.max(initial=-1)) + 1
    key = r * count + seeds[c]
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    alone = counts[inverse] == 1
    flat = r * pattern.shape[1] + c  # sorted: the pattern is in row-major order
    mirror = np.searchsorted(flat, c * pattern.shape[1] + r)
    if not (alone | alone[mirror]).all():
        return None
    return Colouring(seeds, count, np.where(alone, seeds[c], seeds[r]), np.where(alone, r, c), method, note)
