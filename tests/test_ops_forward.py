"""Forward behaviour of the reduction, linear-algebra and shape ops: values against NumPy, the
shape rule against the forward's actual output, `batched_forward` against a loop over the batch
(with size-1 batch inputs mixed in), and the shape rules' rejections. Derivatives are checked
registry-wide by tests/test_gradcheck.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import wengert as wg
from wengert.execution.engine import Engine
from wengert.ir.graph import TensorType
from wengert.plugins.registry import default_registry

REGISTRY = default_registry()


def _normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def _invertible(*shape):
    return lambda rng: rng.standard_normal(shape) + 3 * np.eye(shape[-1])


def _spd(*shape):
    def make(rng):
        a = rng.standard_normal(shape)
        return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
    return make


def _ints(high, *shape):
    return lambda rng: rng.integers(-high, high, size=shape)


def _fixed(array):
    return lambda rng: np.asarray(array)


# (op, input makers, attrs, NumPy reference)
CASES = [
    ("sum", [_normal(3, 4)], {}, np.sum),
    ("sum", [_normal(2, 3, 4)], {"axis": (0, 2)}, lambda x: np.sum(x, axis=(0, 2))),
    ("sum", [_normal(3, 4)], {"axis": -1, "keepdims": True}, lambda x: np.sum(x, -1, keepdims=True)),
    ("sum", [_ints(5, 3, 4)], {"axis": 0}, lambda x: np.sum(x, 0)),
    ("sum", [_fixed([[True, False], [True, True]])], {"axis": 1}, lambda x: np.sum(x, 1)),
    ("mean", [_normal(3, 4)], {"axis": 1}, lambda x: np.mean(x, 1)),
    ("mean", [_ints(5, 3, 4)], {}, np.mean),
    ("prod", [_normal(3, 4)], {"axis": 0, "keepdims": True}, lambda x: np.prod(x, 0, keepdims=True)),
    ("prod", [_ints(3, 2, 3)], {}, np.prod),
    ("max", [_normal(2, 3, 4)], {"axis": (1,)}, lambda x: np.max(x, 1)),
    ("max", [_fixed([[True, False], [False, False]])], {"axis": 0}, lambda x: np.max(x, 0)),
    ("min", [_normal(3, 4)], {}, np.min),
    ("min", [_ints(9, 5)], {"keepdims": True}, lambda x: np.min(x, keepdims=True)),
    ("logsumexp", [_normal(3, 4)], {"axis": 1}, lambda x: np.log(np.sum(np.exp(x), 1))),
    ("logsumexp", [_normal(2, 3)], {}, lambda x: np.log(np.sum(np.exp(x)))),
    ("logsumexp", [_fixed([[1000.0, 1000.0], [-np.inf, 0.0]])], {"axis": 1, "keepdims": True},
     lambda x: np.array([[1000 + np.log(2)], [0.0]])),
    ("softmax", [_normal(3, 4)], {}, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("softmax", [_normal(3, 4)], {"axis": 0}, lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True)),
    ("softmax", [_fixed([1000.0, 1000.0])], {}, lambda x: np.array([0.5, 0.5])),
    ("log_softmax", [_normal(2, 3, 4)], {"axis": 1},
     lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
    ("log_softmax", [_ints(3, 4)], {}, lambda x: x - np.log(np.exp(x).sum())),
    # -- linear algebra
    ("matmul", [_normal(3, 4), _normal(4, 2)], {}, np.matmul),
    ("matmul", [_normal(4), _normal(4, 2)], {}, np.matmul),
    ("matmul", [_normal(3, 4), _normal(4)], {}, np.matmul),
    ("matmul", [_normal(4), _normal(4)], {}, np.matmul),
    ("matmul", [_normal(2, 1, 3, 4), _normal(5, 4, 2)], {}, np.matmul),
    ("matmul", [_normal(4), _normal(2, 4, 3)], {}, np.matmul),
    ("matmul", [_normal(2, 3, 4), _normal(4)], {}, np.matmul),
    ("matmul", [_ints(3, 2, 3), _ints(3, 3)], {}, np.matmul),
    ("dot", [_normal(3, 4), _normal(4, 2)], {}, np.dot),
    ("dot", [_normal(4), _normal(4)], {}, np.dot),
    ("dot", [_normal(4), _normal(4, 3)], {}, np.dot),
    ("dot", [_normal(), _normal(2, 3)], {}, np.dot),
    ("dot", [_normal(3), _normal()], {}, np.dot),
    ("solve", [_invertible(3, 3), _normal(3)], {}, np.linalg.solve),
    ("solve", [_invertible(3, 3), _normal(3, 2)], {}, np.linalg.solve),
    ("solve", [_invertible(2, 3, 3), _normal(3)], {}, np.linalg.solve),
    ("solve", [_invertible(2, 1, 3, 3), _normal(4, 3, 2)], {}, np.linalg.solve),
    ("solve", [_fixed([[2, 0], [0, 4]]), _fixed([2, 2])], {}, np.linalg.solve),
    ("inv", [_invertible(3, 3)], {}, np.linalg.inv),
    ("inv", [_invertible(2, 4, 4)], {}, np.linalg.inv),
    ("det", [_invertible(3, 3)], {}, np.linalg.det),
    ("det", [_invertible(2, 2, 2)], {}, np.linalg.det),
    ("cholesky", [_spd(3, 3)], {}, np.linalg.cholesky),
    ("cholesky", [_spd(2, 4, 4)], {}, np.linalg.cholesky),
    # -- shapes
    ("transpose", [_normal(3, 4)], {}, np.transpose),
    ("transpose", [_normal(2, 3, 4)], {"axes": (1, -1, 0)}, lambda x: np.transpose(x, (1, 2, 0))),
    ("reshape", [_normal(3, 4)], {"shape": (2, -1)}, lambda x: x.reshape(2, 6)),
    ("reshape", [_normal(1)], {"shape": ()}, lambda x: x.reshape(())),
    ("broadcast_to", [_normal(3, 1)], {"shape": (2, 3, 4)}, lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("broadcast_to", [_normal()], {"shape": (3,)}, lambda x: np.broadcast_to(x, (3,))),
    ("expand_dims", [_normal(3, 4)], {"axis": (0, -1)}, lambda x: x[None, :, :, None]),
    ("expand_dims", [_normal(3)], {"axis": 1}, lambda x: x[:, None]),
    ("squeeze", [_normal(3, 1, 4, 1)], {}, np.squeeze),
    ("squeeze", [_normal(1, 3, 1)], {"axis": -1}, lambda x: x[..., 0]),
    ("concatenate", [_normal(2, 3), _normal(4, 3)], {}, lambda *xs: np.concatenate(xs)),
    ("concatenate", [_normal(2, 3), _normal(2, 1), _ints(3, 2, 2)], {"axis": -1},
     lambda *xs: np.concatenate(xs, -1)),
    ("stack", [_normal(2, 3), _normal(2, 3)], {"axis": 1}, lambda *xs: np.stack(xs, 1)),
    ("stack", [_normal(3), _normal(3), _normal(3)], {"axis": -1}, lambda *xs: np.stack(xs, -1)),
    ("stack", [_normal()], {}, lambda *xs: np.stack(xs)),
    ("flip", [_normal(3, 4)], {}, np.flip),
    ("flip", [_normal(2, 3, 4)], {"axis": (0, -1)}, lambda x: x[::-1, :, ::-1]),
    ("slice", [_normal(5, 4)], {"starts": (1, 0), "stops": (4, 4), "steps": (2, 1)}, lambda x: x[1:4:2]),
    ("slice", [_normal(6)], {"starts": (5,), "stops": (-1,), "steps": (-2,)}, lambda x: x[::-2]),
    ("slice", [_normal(6)], {"starts": (4,), "stops": (0,), "steps": (-3,)}, lambda x: x[4:0:-3]),
    ("slice", [_normal(3, 2)], {"starts": (2, 0), "stops": (2, 2), "steps": (1, 1)}, lambda x: x[2:2]),
    ("scatter_slice", [_normal(2, 4)], {"shape": (5, 4), "starts": (1, 0), "stops": (4, 4), "steps": (2, 1)},
     lambda g: _put((5, 4), np.s_[1:4:2], g)),
    ("scatter_slice", [_normal(3)], {"shape": (6,), "starts": (5,), "stops": (-1,), "steps": (-2,)},
     lambda g: _put((6,), np.s_[::-2], g)),
    ("take", [_normal(4, 3), _fixed([2, 0, 2, -1])], {}, lambda x, i: np.take(x, i, 0)),
    ("take", [_normal(2, 5, 3), _ints(5, 2, 2)], {"axis": 1}, lambda x, i: np.take(x, i, 1)),
    ("take", [_normal(2, 5), _fixed(3)], {"axis": -1}, lambda x, i: np.take(x, i, -1)),
    ("scatter_add", [_normal(4, 3), _fixed([2, 0, 2, -1])], {"size": 3}, lambda u, i: _add((3, 3), i, u, 0)),
    ("scatter_add", [_normal(2, 2, 2, 3), _ints(5, 2, 2)], {"axis": 1, "size": 5},
     lambda u, i: _add((2, 5, 3), i, u, 1)),
    ("scatter_add", [_normal(2), _fixed(3)], {"axis": -1, "size": 4},
     lambda u, i: _add((2, 4), i, u, 1)),
    ("pad", [_normal(3, 4)], {"pad_width": (1, 0, 2, 3), "constant_value": 1.5},
     lambda x: np.pad(x, ((1, 0), (2, 3)), constant_values=1.5)),
    ("pad", [_ints(3, 2)], {"pad_width": (0, 2)}, lambda x: np.pad(x, (0, 2))),
    ("tril", [_normal(3, 4)], {"k": 1}, lambda x: np.tril(x, 1)),
    ("triu", [_normal(2, 3, 4)], {}, np.triu),
    # -- reductions and scans added for the array API
    ("all", [_fixed([[True, False], [True, True]])], {"axis": 0}, lambda x: np.all(x, 0)),
    ("any", [_normal(3, 4)], {"keepdims": True}, lambda x: np.any(x, keepdims=True)),
    ("vector_norm", [_normal(3, 4)], {"axis": 1, "ord": np.inf}, lambda x: np.max(np.abs(x), 1)),
    ("vector_norm", [_ints(4, 3, 4)], {}, lambda x: np.linalg.norm(x.reshape(-1))),
    ("cumulative_sum", [_normal(3, 4)], {"axis": 0, "include_initial": True},
     lambda x: np.concatenate([np.zeros((1, 4)), np.cumsum(x, 0)])),
    ("cumulative_sum", [_ints(4, 5)], {"axis": -1}, np.cumsum),
    # -- sorting and searching
    ("sort", [_normal(3, 4)], {"axis": 0}, lambda x: np.sort(x, 0)),
    ("sort", [_normal(2, 5)], {"descending": True}, lambda x: -np.sort(-x)),
    ("argsort", [_ints(2, 3, 5)], {"descending": True}, lambda x: np.argsort(-x, kind="stable")),
    ("argmax", [_normal(3, 4)], {"axis": 1, "keepdims": True}, lambda x: np.argmax(x, 1, keepdims=True)),
    ("argmin", [_normal(3, 4)], {}, np.argmin),
    ("searchsorted", [lambda rng: np.sort(rng.standard_normal(5)), _normal(3, 2)], {}, np.searchsorted),
    # -- decompositions (packed results: see plugins/builtin/decompositions.py)
    ("pinv", [_normal(3, 2)], {"rtol": 1e-12}, lambda x: np.linalg.pinv(x, 1e-12)),
    ("eigvalsh", [_spd(2, 3, 3)], {}, np.linalg.eigvalsh),
    ("svdvals", [_normal(3, 2)], {}, lambda x: np.linalg.svd(x, compute_uv=False)),
    ("eigh", [_spd(3, 3)], {}, lambda x: _packed(*np.linalg.eigh(x), batch=())),
    ("svd", [_normal(2, 4, 3)], {"full_matrices": False},
     lambda x: _packed(*np.linalg.svd(x, full_matrices=False), batch=(2,))),
    ("qr", [_normal(4, 3)], {"mode": "complete"}, lambda x: _packed(*np.linalg.qr(x, "complete"), batch=())),
    ("slogdet", [_invertible(2, 3, 3)], {}, lambda x: _packed(*np.linalg.slogdet(x), batch=(2,))),
    # -- einsum
    ("einsum", [_normal(3, 4), _normal(4, 2)], {"subscripts": "ij,jk->ik"}, np.matmul),
    ("einsum", [_normal(3, 3)], {"subscripts": "ii->i"}, np.diagonal),
    ("einsum", [_normal(2, 3), _normal(3, 4), _normal(4)], {"subscripts": "ij,jk,k->i"},
     lambda a, b, c: a @ b @ c),
    ("einsum", [_ints(3, 2, 3), _ints(3, 3, 2)], {"subscripts": "ij,jk->ik"}, np.matmul),
]


def _packed(*results, batch):
    """A decomposition's results as its op packs them: flattened, joined along a last axis."""
    return np.concatenate([np.reshape(r, batch + (-1,)) for r in results], axis=-1)


def _put(shape, index, values):
    out = np.zeros(shape)
    out[index] = values
    return out


def _add(shape, indices, updates, axis):
    out = np.zeros(shape)
    np.add.at(out, (slice(None),) * axis + (indices,), updates)
    return out


def _ids():
    seen: dict[str, int] = {}
    for name, *_ in CASES:
        seen[name] = seen.get(name, -1) + 1
        yield f"{name}-{seen[name]}"


def _node(name, arrays, attrs):
    """The op's checked node: (op, normalized attrs, output type from the shape rule)."""
    builder = wg.GraphBuilder(REGISTRY)
    inputs = [builder.input(f"x{i}", TensorType.of(a)) for i, a in enumerate(arrays)]
    out = builder.add(name, inputs, attrs)
    return REGISTRY.get(name), builder.nodes[-1].attr_dict, out.type


@pytest.mark.parametrize("name,makers,attrs,reference", CASES, ids=list(_ids()))
def test_forward_matches_numpy_and_shape_rule(name, makers, attrs, reference):
    rng = np.random.default_rng(0)
    arrays = [np.asarray(make(rng)) for make in makers]
    op, attrs, expected = _node(name, arrays, attrs)
    got = np.asarray(op.forward(*arrays, **attrs))
    assert TensorType.of(got) == expected
    np.testing.assert_allclose(got, reference(*arrays), rtol=1e-12, atol=1e-12)
    if expected.is_float:  # float32 stays float32
        low = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in arrays]
        op, attrs32, expected32 = _node(name, low, attrs)
        got32 = np.asarray(op.forward(*low, **attrs32))
        assert TensorType.of(got32) == expected32
        if all(a.dtype == np.float32 for a in low):
            assert expected32.dtype == "float32"


@pytest.mark.parametrize("name,makers,attrs,reference", CASES, ids=list(_ids()))
def test_batched_forward_matches_a_loop(name, makers, attrs, reference):
    rng = np.random.default_rng(1)
    batch = 3
    stacks = [np.stack([np.asarray(make(rng)) for _ in range(batch)]) for make in makers]
    op, attrs, _ = _node(name, [s[0] for s in stacks], attrs)
    assert op.batched_forward is not None, f"{name} has no batched_forward"
    # every pattern of which inputs vary across the batch (B) and which are shared (1)
    for varying in itertools.product([True, False], repeat=len(stacks)):
        arrays = [s if v else s[:1] for s, v in zip(stacks, varying)]
        size = batch if any(varying) else 1
        want = np.stack([op.forward(*[a[b % a.shape[0]] for a in arrays], **attrs) for b in range(size)])
        got = np.asarray(op.batched_forward(*arrays, **attrs))
        assert got.shape == want.shape and got.dtype == want.dtype, varying
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=str(varying))


def _f(*shape, dtype="float64"):
    return TensorType(dtype, shape)


# (op, input types, attrs, expected message fragment)
REJECTIONS = [
    ("sum", [_f(3, 4)], {"axis": 2}, r"axis 2 is out of bounds for 2 dimension\(s\)"),
    ("mean", [_f(3, 4)], {"axis": (0, -2)}, "repeated axis"),
    ("softmax", [_f()], {}, r"axis -1 is out of bounds for 0 dimension\(s\)"),
    ("max", [_f(3)], {"keepdims": 1}, "'keepdims' must be a boolean"),
    ("matmul", [_f(3, 4), _f(5, 2)], {}, r"shapes \[3,4\] and \[5,2\] cannot be multiplied"),
    ("matmul", [_f(3), _f(4)], {}, r"shapes \[3\] and \[4\] cannot be multiplied"),
    ("matmul", [_f(2, 3, 4), _f(5, 4, 2)], {}, r"batch dimensions \[2\] and \[5\] do not broadcast"),
    ("matmul", [_f(), _f(3)], {}, "at least 1 dimension"),
    ("dot", [_f(2, 3, 4), _f(4)], {}, "at most 2 dimensions"),
    ("dot", [_f(3, 4), _f(3)], {}, "cannot be multiplied"),
    ("solve", [_f(3, 4), _f(3)], {}, r"solve needs square matrices \(\.\.\., n, n\), got shape \[3,4\]"),
    ("solve", [_f(3, 3), _f(4)], {}, "b needs 3 rows"),
    ("solve", [_f(3, 3), _f()], {}, "incompatible"),
    ("solve", [_f(2, 3, 3), _f(4, 3, 1)], {}, "do not broadcast"),
    ("inv", [_f(3)], {}, r"inv needs square matrices"),
    ("det", [_f(2, 3)], {}, r"det needs square matrices .* got shape \[2,3\]"),
    ("cholesky", [_f(4, 3)], {}, "cholesky needs square matrices"),
    ("transpose", [_f(2, 3)], {"axes": (0,)}, r"axes \[0\] do not match 2 dimension"),
    ("transpose", [_f(2, 3)], {"axes": (0, 0)}, "repeated axis"),
    ("reshape", [_f(3, 4)], {"shape": (5, 3)},
     r"cannot reshape size 12 \(shape \[3,4\]\) into shape \[5,3\]"),
    ("reshape", [_f(3, 4)], {"shape": (5, -1)}, "cannot reshape size 12"),
    ("reshape", [_f(3, 4)], {"shape": (-1, -1)}, "one -1"),
    ("broadcast_to", [_f(3)], {"shape": (4,)}, r"cannot broadcast shape \[3\] to \[4\]"),
    ("broadcast_to", [_f(2, 3)], {"shape": (3,)}, "cannot broadcast"),
    ("expand_dims", [_f(3)], {"axis": 2}, "axis 2 is out of bounds for 2 dimension"),
    ("squeeze", [_f(1, 3)], {"axis": 1}, "cannot squeeze axis 1 of size 3"),
    ("concatenate", [_f(2, 3), _f(2, 4)], {},
     r"cannot concatenate input 1 of shape \[2,4\] with input 0 of shape \[2,3\] along axis 0"),
    ("concatenate", [_f(2, 3), _f(3)], {}, "cannot concatenate input 1"),
    ("concatenate", [_f(), _f()], {}, "zero-dimensional"),
    ("stack", [_f(2, 3), _f(3, 2)], {}, "cannot stack input 1"),
    ("stack", [_f(2), _f(2)], {"axis": 2}, "axis 2 is out of bounds for 2 dimension"),
    ("flip", [_f(2)], {"axis": 1}, "axis 1 is out of bounds"),
    ("slice", [_f(5)], {"starts": (2,), "stops": (9,), "steps": (1,)},
     "slice 2:9:1 is out of bounds for axis 0 of size 5"),
    ("slice", [_f(5)], {"starts": (0,), "stops": (5,), "steps": (0,)}, "step cannot be zero"),
    ("slice", [_f(5, 2)], {"starts": (0,), "stops": (5,), "steps": (1,)}, "one entry per axis"),
    ("scatter_slice", [_f(4)], {"shape": (5,), "starts": (0,), "stops": (5,), "steps": (2,)},
     r"values of shape \[4\] do not fit the slice, of shape \[3\]"),
    ("scatter_slice", [_f(2)], {"shape": (5,), "starts": (0,), "stops": (5,), "steps": (2,)}, "do not fit"),
    ("take", [_f(3), _f(2)], {}, "indices must be integers, got float64"),
    ("take", [_f(3), _f(2, dtype="int64")], {"axis": 1}, "axis 1 is out of bounds for 1 dimension"),
    ("scatter_add", [_f(4, 3), _f(5, dtype="int64")], {"size": 3}, r"do not match indices of shape \[5\]"),
    ("pad", [_f(3)], {"pad_width": (1, 2, 3, 4)}, "pair of sizes >= 0 for each of 1 axes"),
    ("pad", [_f(3)], {"pad_width": (-1, 2)}, "sizes >= 0"),
    ("tril", [_f(3)], {}, r"needs \(stacks of\) matrices"),
    ("pinv", [_f(3)], {"rtol": 1e-3}, r"pinv needs \(stacks of\) matrices"),
    ("eigh", [_f(3, 4)], {}, r"eigh needs square matrices \(\.\.\., n, n\), got shape \[3,4\]"),
    ("svdvals", [_f(3)], {}, "needs \\(stacks of\\) matrices"),
    ("qr", [_f(3, 3)], {"mode": "raw"}, "mode must be 'reduced' or 'complete', got 'raw'"),
    ("vector_norm", [_f(3)], {"ord": float("nan")}, "ord must be a number, got nan"),
    ("cumulative_sum", [_f(3)], {"axis": 1}, "axis 1 is out of bounds for 1 dimension"),
    ("cumulative_sum", [_f()], {"axis": 0}, "at least 1 dimension"),
    ("sort", [_f()], {}, "at least 1 dimension"),
    ("argmax", [_f(3, 4)], {"axis": (0, 1)}, r"axis must be one axis or None, got \[0,1\]"),
    ("argmin", [_f(0)], {}, "empty sequence"),
    ("searchsorted", [_f(2, 3), _f(3)], {}, r"must be 1-dimensional, got shape \[2,3\]"),
    ("searchsorted", [_f(3), _f(3)], {"side": "middle"}, "side must be 'left' or 'right'"),
    ("bitwise_and", [_f(3), _f(3, dtype="int64")], {}, "needs integer or bool inputs, got float64, int64"),
    ("bitwise_left_shift", [_f(3, dtype="bool"), _f(3, dtype="int64")], {}, "shifts need integer inputs"),
    ("einsum", [_f(3, 4)], {"subscripts": "ij"}, "need one explicit output"),
    ("einsum", [_f(3, 4)], {"subscripts": "i...->i"}, "may hold only letters"),
    ("einsum", [_f(3, 4), _f(5, 2)], {"subscripts": "ij,jk->ik"},
     "letter 'j' has size 4 in one operand and 5 in operand 1"),
    ("einsum", [_f(3)], {"subscripts": "ij->i"}, r"operand 0 has 1 dimension\(s\) but its subscript 'ij' names 2"),
    ("einsum", [_f(3)], {"subscripts": "i->ii"}, "repeats a letter"),
    ("einsum", [_f(3)], {"subscripts": "i->j"}, "appear in no operand"),
    ("einsum", [_f(3), _f(3)], {"subscripts": "i->i"}, r"name 1 operand\(s\), got 2"),
    ("einsum", [_f(3, dtype="bool")], {"subscripts": "i->"}, "numeric operands"),
]


@pytest.mark.parametrize("name,types,attrs,message", REJECTIONS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(REJECTIONS)])
def test_shape_rule_rejects(name, types, attrs, message):
    builder = wg.GraphBuilder(REGISTRY)
    inputs = [builder.input(f"x{i}", t) for i, t in enumerate(types)]
    with pytest.raises(wg.InvalidGraph, match=message):
        builder.add(name, inputs, attrs)


@pytest.mark.parametrize("name,types,attrs,shape", [
    ("matmul", [_f(-1, 4), _f(4, 2)], {}, (-1, 2)),
    ("matmul", [_f(3, -1), _f(5, 2)], {}, (3, 2)),
    ("sum", [_f(-1, 3)], {"axis": 1}, (-1,)),
    ("reshape", [_f(-1, 3)], {"shape": (-1,)}, (-1,)),
    ("concatenate", [_f(-1, 3), _f(2, 3)], {}, (-1, 3)),
    ("concatenate", [_f(2, -1), _f(2, 3)], {}, (4, 3)),
    ("pad", [_f(-1, 2)], {"pad_width": (1, 1, 0, 1)}, (-1, 3)),
    ("take", [_f(-1, 3), _f(-1, dtype="int64")], {}, (-1, 3)),
    ("solve", [_f(-1, 3, 3), _f(3)], {}, (-1, 3)),
])
def test_open_dimensions_are_accepted(name, types, attrs, shape):
    builder = wg.GraphBuilder(REGISTRY)
    inputs = [builder.input(f"x{i}", t) for i, t in enumerate(types)]
    assert builder.add(name, inputs, attrs).shape == shape


def test_getitem_records_slice_and_reshape():
    x = np.arange(24.0).reshape(4, 6)
    keys = [np.s_[::-1], np.s_[1:4:2, None], np.s_[-1], np.s_[..., 2:0:-1], np.s_[3:1]]
    graph = wg.trace(lambda v: tuple(v[k] for k in keys), x)
    out = Engine(REGISTRY).evaluate(graph, {"v": x})
    for i, k in enumerate(keys):
        np.testing.assert_array_equal(out[f"y{i}"], x[k])


def test_max_splits_ties_evenly_and_prod_is_exact_at_zeros():
    engine = Engine(REGISTRY)
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 5.0], [0.0, 0.0, 4.0]])
    graph = wg.trace(lambda v: (wg.max(v, axis=1), wg.prod(v, axis=1)), x)
    _, grads = engine.vjp(graph, {"v": x}, {"y0": np.ones(3)})
    np.testing.assert_allclose(grads["v"], [[0, 0.5, 0.5], [0, 0, 1], [0, 0, 1]])
    _, grads = engine.vjp(graph, {"v": x}, {"y1": np.ones(3)})
    np.testing.assert_allclose(grads["v"], [[9, 3, 3], [0, 10, 0], [0, 0, 0]])


def _cost(name, types, attrs):
    builder = wg.GraphBuilder(REGISTRY)
    out = builder.add(name, [builder.input(f"x{i}", t) for i, t in enumerate(types)], attrs)
    return REGISTRY.get(name).cost(out.type, *types, **builder.nodes[-1].attr_dict).work


def test_costs_of_the_new_ops_follow_their_algorithms():
    n = 100
    matmul = _cost("matmul", [_f(n, n), _f(n, n)], {})
    assert _cost("einsum", [_f(n, n), _f(n, n)], {"subscripts": "ij,jk->ik"}) == matmul + n * n
    # a chain is priced in the order it runs: (ab)(cv) costs about two matrix-vector products
    chain = _cost("einsum", [_f(n, n), _f(n, n), _f(n)], {"subscripts": "ij,jk,k->i"})
    assert chain < matmul / 10
    assert _cost("sort", [_f(2 ** 10)], {}) == 10 * 2 ** 10 + 2 ** 10
    assert _cost("eigh", [_f(n, n)], {}) > n ** 3 > _cost("eigvalsh", [_f(n, n)], {}) / 2


def test_einsum_of_three_operands_records_pairwise_contractions():
    graph = wg.trace(lambda a, b, v: wg.einsum("ij,jk,k->i", a, b, v), np.ones((3, 4)), np.ones((4, 5)),
                     np.ones(5))
    assert [node.attr_dict["subscripts"] for node in graph.nodes] == ["jk,k->j", "ij,j->i"]


# -- float ops on integer and bool inputs --------------------------------------------------------
@pytest.mark.parametrize("name, inputs, want", [
    ("cos", (np.array([True, False]),), np.cos([1.0, 0.0])),  # NumPy alone computes bools in float16
    ("reciprocal", (np.array([2, -4]),), np.array([0.5, -0.25])),  # np.reciprocal keeps integers
    ("sigmoid", (np.array([1, -2], dtype=np.int32),), 1 / (1 + np.exp([-1.0, 2.0]))),
    ("softplus", (np.array([3]),), np.log1p(np.exp([3.0]))),
    ("square", (np.array([70000], dtype=np.int32),), np.array([4.9e9])),  # no int32 overflow
    ("div", (np.array([True]), np.array([True])), np.array([1.0])),
    ("solve", (np.eye(2, dtype=np.float32), np.array([True, False])), np.array([1.0, 0.0], np.float32)),
])
def test_float_ops_compute_integer_and_bool_inputs_in_the_float_dtype_they_promise(name, inputs, want):
    graph = wg.trace(lambda *xs: wg.op(name, *xs), *inputs, registry=REGISTRY)
    got = Engine(REGISTRY).evaluate(graph, {n: x for n, x in zip(graph.input_names, inputs)})["y"]
    assert got.dtype == want.dtype and np.allclose(got, want, rtol=1e-15, atol=0), (got, want)


@pytest.mark.parametrize("name", ["remainder", "floor_divide"])  # pow is arithmetic: bools refused
def test_integer_ops_of_two_bools_give_the_dtype_their_shape_rule_promises(name):
    x, y = np.array([True, True]), np.array([True, True])
    graph = wg.trace(lambda a, b: wg.op(name, a, b), x, y, registry=REGISTRY)
    got = Engine(REGISTRY).evaluate(graph, dict(zip(graph.input_names, (x, y))))["y"]
    assert got.dtype.name == graph.output_type("y").dtype
    assert np.array_equal(got.astype(np.int64), getattr(np, name)(x, y))


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.filterwarnings("ignore:divide by zero encountered")
@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_pow_of_negative_bases_agrees_with_numpy():
    """pow raises a negative base as |x| with the sign of (-1) ** y: C99's special values exactly,
    NumPy's own results within an ulp elsewhere."""
    pow_ = REGISTRY.get("pow").forward
    bases = np.array([-np.inf, -3.5, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 2.0, np.inf, np.nan])
    exponents = np.array([-np.inf, -3.0, -2.0, -1.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 2.0 ** 53 + 2, np.inf, np.nan])
    x, y = np.meshgrid(bases, exponents)
    got, want = pow_(x, y), np.power(x, y)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(want)]), np.signbit(want[~np.isnan(want)]))
    rng = np.random.default_rng(0)
    for dtype, ulp in [("float64", 2.0 ** -52), ("float32", 2.0 ** -23)]:
        x = rng.uniform(-1.5, 1.5, size=(300, 1)).astype(dtype)
        y = np.arange(-4.0, 6.0, dtype=dtype)[None, :]
        got, want = pow_(x, y), np.power(x, y)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=ulp, atol=0)
    np.testing.assert_array_equal(pow_(np.array([-2, 3]), np.array([3, 2])), [-8, 9])  # integers: NumPy's


@pytest.mark.filterwarnings("error")  # no overflow or invalid-value warning, even at the extremes
def test_sigmoid_is_the_textbook_formula_on_each_side_of_zero_exactly():
    """1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, bit for bit, in both float dtypes,
    without ever overflowing."""
    sigmoid = REGISTRY.get("sigmoid").forward
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        x = np.concatenate([rng.normal(0, 30, 1000), [0.0, -0.0, np.inf, -np.inf, np.nan, 800.0, -800.0]]).astype(dtype)
        got = sigmoid(x)
        with np.errstate(over="ignore"):
            above, below = 1 / (1 + np.exp(-x[x >= 0])), np.exp(x[~(x >= 0)]) / (1 + np.exp(x[~(x >= 0)]))
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got[x >= 0], above)
        np.testing.assert_array_equal(got[~(x >= 0)], below)
