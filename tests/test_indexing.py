"""`x[key]` on symbolic values means what it means in NumPy.

A generated table of index expressions over random shapes (ints, negative ints, slices with any
step, None, `...`, integer arrays on any axis and several broadcast together, boolean masks and
lists of bools, 0-d booleans, symbolic integer arrays) is compared with NumPy: values, JVPs
(indexing is linear, so the tangent is t[key]) and VJPs (the cotangent of x is NumPy's
scatter-add `np.add.at(zeros, key, w)`). A key NumPy refuses must be refused too. A smaller
fixed table runs through a real server.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wengert as wg
from wengert.errors import EvaluationError

LOCAL = wg.Client.local()


class Sym:
    """An integer index array that enters the graph as an input (a symbolic index)."""

    def __init__(self, array):
        self.array = array

    def __repr__(self) -> str:
        return f"Sym({self.array.tolist()!r}, {self.array.dtype})"


def numpy_key(key: tuple) -> tuple:
    return tuple(k.array if isinstance(k, Sym) else k for k in key)


def indexing(key: tuple):
    """f(x, *symbolic index arrays) = x[key], and the arrays to call it with."""
    symbolic = [k.array for k in key if isinstance(k, Sym)]

    def f(x, *indices):
        given = iter(indices)
        return x[tuple(next(given) if isinstance(k, Sym) else k for k in key)]

    return f, symbolic


def check_against_numpy(client, x: np.ndarray, key: tuple, rng: np.random.Generator) -> None:
    """Value, JVP and VJP of x[key] equal NumPy's; or both refuse the key."""
    f, indices = indexing(key)
    try:
        expected = x[numpy_key(key)]
    except IndexError:
        with pytest.raises(wg.InvalidIndex):
            wg.trace(f, x, *indices)
        return
    np.testing.assert_array_equal(client.evaluate(f, x, *indices), expected)
    t, w = rng.standard_normal(x.shape), rng.standard_normal(expected.shape)
    value, tangent = client.jvp(f, (x, *indices), (t, *[None] * len(indices)))
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(tangent, t[numpy_key(key)])
    scattered = np.zeros_like(x)
    np.add.at(scattered, numpy_key(key), w)
    _, cotangent = client.vjp(f, (x, *indices), w, argnums=0)
    np.testing.assert_allclose(cotangent, scattered, rtol=1e-13, atol=1e-13)


# -- the generated table --------------------------------------------------------------------
def draw_array(draw, shape: tuple[int, ...], elements, dtype) -> np.ndarray:
    n = int(np.prod(shape))
    return np.asarray(draw(st.lists(elements, min_size=n, max_size=n)), dtype).reshape(shape)


KINDS = ["int", "slice", "full", "full", "array", "list", "mask", "mask list", "symbolic"]


@st.composite
def index_cases(draw):
    """A shape and a key for it: one entry per axis (or a mask over several), None and 0-d
    booleans in between, maybe a run of ':' written as `...` or left off at the end.
    Integer arrays share one broadcast shape, but masks, out-of-range entries and arrays on
    empty axes make some keys invalid on purpose: NumPy's refusals are part of the table."""
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4]), max_size=4)))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    key, axis = [], 0
    while axis < len(shape):
        size = shape[axis]
        kind = draw(st.sampled_from(KINDS if size else KINDS[:-1]))  # no symbolic entry fits 0
        # Entries leave the axis now and then, except symbolic ones (tested on their own below).
        stray = kind != "symbolic" and (size == 0 or draw(st.integers(0, 9)) == 0)
        entries = st.integers(-size - stray, size - 1 + stray)
        if kind == "int":
            key.append(draw(entries))
        elif kind == "slice":
            bound = st.none() | st.integers(-size - 2, size + 2)
            step = st.sampled_from([None, 1, 2, 3, -1, -2, -3])
            key.append(slice(draw(bound), draw(bound), draw(step)))
        elif kind == "full":
            key.append(slice(None))
        elif kind in ("array", "list", "symbolic"):
            lead = draw(st.integers(0, len(batch)))
            ishape = tuple(draw(st.sampled_from([d, 1])) for d in batch[lead:])
            values = draw_array(draw, ishape, entries, np.int64)
            key.append(Sym(values.astype(draw(st.sampled_from([np.int64, np.int32]))))
                       if kind == "symbolic" else values.tolist() if kind == "list" else values)
        else:
            span = draw(st.integers(1, min(2, len(shape) - axis)))
            mask = draw_array(draw, shape[axis:axis + span], st.booleans(), bool)
            # (an empty list would be an integer index, so an empty mask stays an array)
            key.append(mask.tolist() if kind == "mask list" and mask.size else mask)
            axis += span - 1
        axis += 1
    for _ in range(draw(st.integers(0, 2))):
        key.insert(draw(st.integers(0, len(key))), draw(st.sampled_from([None, True, False])))
    full = [i for i, k in enumerate(key) if isinstance(k, slice) and k == slice(None)]
    if full and draw(st.booleans()):
        start = draw(st.sampled_from(full))
        stop = start
        while stop < len(key) and isinstance(key[stop], slice) and key[stop] == slice(None):
            stop += 1
        key[start:draw(st.integers(start, stop))] = [Ellipsis]
    elif draw(st.booleans()):
        while key and isinstance(key[-1], slice) and key[-1] == slice(None):
            key.pop()
    return shape, tuple(key)


@settings(max_examples=400, deadline=None)
@given(case=index_cases(), seed=st.integers(0, 2**32 - 1))
def test_generated_keys_match_numpy(case, seed):
    shape, key = case
    rng = np.random.default_rng(seed)
    check_against_numpy(LOCAL, rng.standard_normal(shape), key, rng)


def kind_of(k) -> str:
    """"None", "...", "slice", "symbolic", "list", or an array's dtype kind and whether it has
    dimensions ("i0" for an int, "b1" for a mask, ...)."""
    for kind, test in [("None", k is None), ("...", k is Ellipsis), ("slice", isinstance(k, slice)),
                       ("symbolic", isinstance(k, Sym)), ("list", isinstance(k, list))]:
        if test:
            return kind
    return f"{np.asarray(k).dtype.kind}{min(np.ndim(k), 1)}"


def test_the_generated_table_covers_every_kind_of_index():
    """The table above is only as good as its spread: each kind of entry shows up, valid."""
    seen = set()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(case=index_cases())
    def record(case):
        shape, key = case
        try:
            np.zeros(shape)[numpy_key(key)]
        except IndexError:
            seen.add("refused")
            return
        kinds = [kind_of(k) for k in key]
        seen.update(kinds)
        if sum(k not in ("slice", "None", "...") for k in kinds) > 1:
            seen.add("several advanced")

    record()
    assert seen >= {"refused", "None", "...", "slice", "symbolic", "list", "i0", "i1", "b0", "b1",
                    "several advanced"}, seen


# -- the example and the rules, one by one -------------------------------------------
X4 = np.array([10.0, 20.0, 30.0, 40.0])
MASK = np.array([True, False, True, False])


@pytest.mark.parametrize("mask", [MASK, MASK.tolist()], ids=["array", "list"])
def test_a_boolean_mask_selects_like_numpy(mask):
    np.testing.assert_array_equal(LOCAL.evaluate(lambda x: x[mask], X4), [10.0, 30.0])
    np.testing.assert_array_equal(LOCAL.grad(lambda x: wg.sum(x[mask]), X4), [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(LOCAL.jacobian(lambda x: x[mask], X4), [[1, 0, 0, 0], [0, 0, 1, 0]])


def test_a_symbolic_mask_is_refused_with_a_way_out():
    with pytest.raises(wg.InvalidIndex, match=r"wg\.where") as caught:
        wg.trace(lambda x: x[x > 15], X4)
    assert isinstance(caught.value, IndexError) and caught.value.code == "INVALID_ARGUMENT"
    # The suggested fixed-shape form gives what x[mask] would sum to.
    assert LOCAL.evaluate(lambda x: wg.sum(wg.where(x > 15, x, 0.0)), X4) == X4[X4 > 15].sum()


@pytest.mark.parametrize("key, message", [
    ((4,), "index 4 is out of bounds for axis 0 with size 4"),
    ((slice(None), -4), "index -4 is out of bounds for axis 1 with size 3"),
    ((0, 0, 0), "too many indices"),
    ((Ellipsis, 0, Ellipsis), "single ellipsis"),
    ((np.array([True, False]),), "does not match"),
    (([0, 1], [0, 1, 2]), "could not be broadcast"),
    ((1.5,), "cannot index"),
    ((np.array([0.0, 1.0]),), "cannot index"),
    ((slice(0, 2, 0),), "step cannot be zero"),
])
def test_keys_numpy_refuses_are_refused_while_tracing(key, message):
    with pytest.raises(wg.InvalidIndex, match=message):
        wg.trace(lambda x: x[key], np.zeros((4, 3)))


def test_int_arrays_work_on_any_axis_and_follow_numpys_axis_order():
    x = np.arange(60.0).reshape(3, 4, 5)
    keys = [np.s_[:, [2, 0]], np.s_[..., [[4], [-1]]], np.s_[:, [0, 1], [1, 2]],
            np.s_[[0, 1], :, [1, 2]], np.s_[0, :, [1, 1, 2]], np.s_[:, 0, [1, 2]],
            np.s_[[0, 2], None, [1, 3]], np.s_[True, [0, 1]], np.s_[:, MASK, 1:]]
    for key in keys:
        np.testing.assert_array_equal(LOCAL.evaluate(lambda v: v[key], x), x[key])


def test_repeated_indices_accumulate_in_the_gradient():
    x = np.arange(6.0).reshape(2, 3)
    grad = LOCAL.grad(lambda v: wg.sum(v[[0, 0, 1, 0], [2, 2, 0, -1]]), x)
    np.testing.assert_array_equal(grad, [[0, 0, 3], [1, 0, 0]])


def test_second_derivatives_flow_through_indexing():
    x = np.array([1.0, 2.0, 3.0])
    hessian = LOCAL.hessian(lambda v: wg.sum(v[[0, 2, 2]] ** 3), x)
    np.testing.assert_allclose(hessian, np.diag([6.0, 0.0, 2 * 6 * 3.0]))


def test_sparse_jacobians_see_which_entries_are_selected():
    x = np.arange(12.0).reshape(3, 4)
    key = (np.array([[True, False, True, False]] * 3),)
    block = LOCAL.jacobian(lambda v: v[key] * 2, x, format="sparse")
    dense = np.zeros((6, 3, 4))
    np.add.at(dense.reshape(6, 12), (np.arange(6), np.flatnonzero(key[0])), 2.0)
    np.testing.assert_array_equal(block.todense(), dense)
    assert len(block.values) == 6  # the structural nonzeros: one per selected entry


# -- symbolic integer indices -----------------------------------------------------------------
def test_symbolic_indices_on_any_axis_and_together_with_constants():
    x = np.arange(12.0).reshape(3, 4)
    i, j = np.array([2, -3, 2]), np.array([[-1], [0]], np.int32)
    cases = [(lambda v, a: v[:, a], (i,), x[:, i]),
             (lambda v, a: v[a, 1:], (i,), x[i, 1:]),
             (lambda v, a, b: v[a, b], (i, j), x[i, j]),
             (lambda v, a: v[a, [0, 3, -1]], (i,), x[i, [0, 3, -1]])]
    for f, indices, expected in cases:
        np.testing.assert_array_equal(LOCAL.evaluate(f, x, *indices), expected)
    scattered = np.zeros_like(x)
    np.add.at(scattered, (i, j), 1.0)
    np.testing.assert_array_equal(LOCAL.grad(lambda v, a, b: wg.sum(v[a, b]), x, i, j), scattered)


def test_an_out_of_range_symbolic_index_is_an_error_not_another_entry():
    """With two symbolic arrays the positions are combined; column 5 of a 4-column row must
    not silently read the next row."""
    x = np.arange(12.0).reshape(3, 4)
    for f, args in [(lambda v, a, b: v[a, b], (np.array([0]), np.array([5]))),
                    (lambda v, a: v[:, a], (np.array([4]),))]:
        with pytest.raises(EvaluationError, match=r"\(take\).*out of bounds"):
            LOCAL.evaluate(f, x, *args)


# -- graphs stay small ------------------------------------------------------------------------
@pytest.mark.parametrize("key, ops", [
    (np.s_[1:3], ["slice"]),
    (np.s_[::-1, 2], ["slice", "reshape"]),
    (np.s_[:, :], []),
    (np.s_[:, [0, 2]], ["take"]),
    (np.s_[MASK[:3]], ["take"]),
    (np.s_[[0, 1], [1, 2]], ["reshape", "take"]),
    (np.s_[1:, [0, 1]], ["slice", "take"]),
    (np.s_[[0, 1], None, [1, 2]], ["reshape", "take", "reshape"]),
    (np.s_[1, None, [1, 2]], ["reshape", "take", "reshape"]),
])
def test_indexing_records_few_nodes(key, ops):
    graph = wg.trace(lambda v: v[key], np.zeros((3, 4)))
    assert [n.op for n in graph.nodes if n.op != "constant"] == ops


def test_a_symbolic_index_on_one_axis_is_one_take():
    graph = wg.trace(lambda v, i: v[:, i], np.zeros((3, 4)), np.zeros(2, np.int64))
    assert [n.op for n in graph.nodes] == ["take"]


def test_an_open_dimension_can_be_kept_whole():
    graph = wg.trace(lambda v: v[:, [2, 0]], wg.spec((-1, 3)))
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(LOCAL.evaluate(graph, x), x[:, [2, 0]])
    with pytest.raises(wg.InvalidIndex, match="open"):
        wg.trace(lambda v: v[0], wg.spec((-1, 3)))


# -- through a real server ---------------------------------------------------------------------
REMOTE_TABLE = [
    ((4,), (MASK,)),
    ((4,), (MASK.tolist(),)),
    ((3, 4), (slice(None, None, -2), -1)),
    ((3, 4), (Ellipsis, None, [3, 3, 0])),
    ((3, 4, 5), ([0, 2], slice(1, None), np.array([[4], [-5]]))),
    ((3, 4, 5), (np.array([[True, False, True, True]] * 3), [0, -1, 2, 2, 1, 0, 0, 4, 4])),
    ((3, 4), (True, Sym(np.array([-1, 0])))),
    ((3, 4), (Sym(np.array([[2], [0]])), Sym(np.array([1, -1, 3], np.int32)))),
]


def test_the_fixed_table_through_a_real_server(server):
    rng = np.random.default_rng(12)
    with wg.Client(server.target, timeout=30) as remote:
        for shape, key in REMOTE_TABLE:
            x = rng.standard_normal(shape)
            check_against_numpy(remote, x, key, rng)
            f, indices = indexing(key)
            expected = np.zeros(x[numpy_key(key)].shape + shape)
            flat = expected.reshape(-1, x.size)
            np.add.at(flat, (np.arange(flat.shape[0]),
                             np.arange(x.size).reshape(shape)[numpy_key(key)].ravel()), 1.0)
            np.testing.assert_array_equal(remote.jacobian(f, x, *indices, argnums=0), expected)
