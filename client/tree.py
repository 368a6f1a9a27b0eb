"""Pytrees: nested containers of arrays, flattened to a list of leaves and rebuilt, as in JAX.

A pytree is a tuple, list, dict, namedtuple, `None` (a node without children), or an instance
of a class registered here (`register`, or `register_dataclass` as a decorator); anything else
is a leaf. `flatten` gives the leaves in a fixed order (dict keys sorted) and the `TreeDef`
that `TreeDef.unflatten` rebuilds the tree from. Every SDK method takes and returns pytrees.

    >>> leaves, treedef = wg.tree.flatten({"w": [1.0, 2.0], "b": None})
    >>> leaves, treedef
    ([1.0, 2.0], TreeDef({'b': None, 'w': [*, *]}))

Each leaf has a path: the keys from the root joined with "/" (`w/0`, `params/layers/1/b`).
A function of pytrees is traced into a graph whose inputs and outputs are named by these
paths, so the graph stays readable, and usable from its `.proto` form alone.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Sequence

__all__ = ["TreeDef", "flatten", "flatten_with_paths", "leaves", "map", "register",
           "register_dataclass", "structure", "unflatten"]


@dataclass(frozen=True)
class _NodeType:
    """How to take a registered node apart and put it together again."""

    flatten: Callable[[Any], tuple[Iterable[Any], Hashable]]  # node -> (children, aux)
    unflatten: Callable[[Hashable, list[Any]], Any]  # (aux, children) -> node
    names: Callable[[Hashable], Sequence[str]] | None  # aux -> each child's path key


def _flatten_dict(d: dict) -> tuple[list[Any], tuple]:
    """A dict's values in the order of its sorted keys (keys of mixed types: as they are)."""
    try:
        keys = tuple(sorted(d))
    except TypeError:
        keys = tuple(d)
    return [d[k] for k in keys], keys


_NODES: dict[type, _NodeType] = {
    tuple: _NodeType(lambda t: (t, None), lambda _, c: tuple(c), None),
    list: _NodeType(lambda t: (t, None), lambda _, c: list(c), None),
    dict: _NodeType(_flatten_dict, lambda keys, c: dict(zip(keys, c)), lambda keys: [str(k) for k in keys]),
    OrderedDict: _NodeType(lambda d: (list(d.values()), tuple(d)),
                           lambda keys, c: OrderedDict(zip(keys, c)), lambda keys: [str(k) for k in keys]),
    type(None): _NodeType(lambda _: ((), None), lambda _, c: None, None),
}
_NAMEDTUPLE = _NodeType(lambda t: (t, None), None, None)  # unflattened by its own type


def _node_type(kind: type) -> _NodeType | None:
    node = _NODES.get(kind)
    if node is None and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        return _NAMEDTUPLE
    return node


def register(cls: type, flatten: Callable[[Any], tuple[Iterable[Any], Hashable]],
             unflatten: Callable[[Hashable, list[Any]], Any],
             names: Callable[[Hashable], Sequence[str]] | None = None) -> type:
    """Make instances of `cls` pytree nodes. `flatten(x)` returns `(children, aux)`: the
    children are pytrees, `aux` hashable data kept in the structure (not traced);
    `unflatten(aux, children)` rebuilds an instance. `names(aux)` gives each child's path key
    (default: its position). Returns `cls`.

        class Linear:
            def __init__(self, w, b): self.w, self.b = w, b

        wg.tree.register(Linear, lambda m: ((m.w, m.b), None),
                         lambda aux, children: Linear(*children), names=lambda aux: ("w", "b"))
    """
    if cls in _NODES or _node_type(cls) is _NAMEDTUPLE:
        raise ValueError(f"{cls.__name__} is already a pytree node type")
    _NODES[cls] = _NodeType(flatten, unflatten, names)
    return cls


def register_dataclass(cls: type | None = None, *, static: Sequence[str] = ()):
    """A decorator making a dataclass a pytree node whose children are its fields, named by
    field name. Fields listed in `static` (hashable, e.g. a layer's activation name) are kept
    in the structure instead: a function traced on the instance is re-traced when they change.

        @wg.tree.register_dataclass
        @dataclasses.dataclass
        class Params:
            w: np.ndarray
            b: np.ndarray
    """
    def wrap(cls: type) -> type:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"register_dataclass needs a dataclass, got {cls.__name__}")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = [name for name in static if name not in fields]
        if unknown:
            raise ValueError(f"{cls.__name__} has no field {unknown[0]!r} to keep static")
        data = tuple(name for name in fields if name not in static)
        fixed = tuple(name for name in fields if name in static)

        def flatten(x):
            return [getattr(x, name) for name in data], tuple(getattr(x, name) for name in fixed)

        def unflatten(aux, children):
            return cls(**dict(zip(data, children)), **dict(zip(fixed, aux)))

        return register(cls, flatten, unflatten, names=lambda aux: data)

    return wrap if cls is None else wrap(cls)


class TreeDef:
    """The structure of a pytree: a leaf (`*`), or a node type with its aux data and the
    structures of its children. Equal structures compare and hash equal."""

    __slots__ = ("kind", "aux", "children", "num_leaves", "_hash")

    def __init__(self, kind: type | None, aux: Hashable = None, children: tuple[TreeDef, ...] = ()):
        self.kind, self.aux, self.children = kind, aux, children
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in children)
        self._hash = hash((kind, aux, children))

    @property
    def is_leaf(self) -> bool:
        return self.kind is None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeDef) and self._hash == other._hash and self.kind is other.kind
                and self.aux == other.aux and self.children == other.children)

    def __hash__(self) -> int:
        return self._hash

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """The tree of this structure holding `leaves`, in `flatten`'s order."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"{self} holds {self.num_leaves} leaves, got {len(leaves)}")
        return self._build(iter(leaves))

    def _build(self, leaves) -> Any:
        if self.kind is None:
            return next(leaves)
        children = [c._build(leaves) for c in self.children]
        node = _node_type(self.kind)
        return self.kind(*children) if node is _NAMEDTUPLE else node.unflatten(self.aux, children)

    def keys(self) -> list[str]:
        """Each child's path key: dict key, field name, or position."""
        node = _node_type(self.kind)
        if node is _NAMEDTUPLE:
            return list(self.kind._fields)
        if node is not None and node.names is not None:
            return [str(k) for k in node.names(self.aux)]
        return [str(i) for i in range(len(self.children))]

    def paths(self) -> list[tuple[str, ...]]:
        """The path of every leaf, in `flatten`'s order."""
        if self.kind is None:
            return [()]
        return [(key, *path) for key, child in zip(self.keys(), self.children) for path in child.paths()]

    def flatten_up_to(self, tree: Any, broadcast: Callable[[Any], bool] = lambda x: x is None,
                      what: str = "tree") -> list[Any]:
        """One entry per leaf of this structure, read from `tree`, which has this structure
        except that a value for which `broadcast` is true may stand for a whole subtree (by
        default None: "nothing here", e.g. a zero tangent). JAX calls such a tree a prefix."""
        out: list[Any] = []
        self._up_to(tree, broadcast, what, (), out)
        return out

    def _up_to(self, tree, broadcast, what, path, out) -> None:
        if self.kind is None:
            out.append(tree)
            return
        if broadcast(tree):
            out.extend([tree] * self.num_leaves)
            return
        node = _node_type(type(tree))
        shown = "/".join(path) or "the root"
        if type(tree) is not self.kind or node is None:
            raise ValueError(f"{what} at {shown}: expected {_describe(self)}, got {type(tree).__name__}")
        children, aux = node.flatten(tree)
        children = list(children)
        if aux != self.aux or len(children) != len(self.children):
            raise ValueError(f"{what} at {shown}: expected {_describe(self)}, got {_describe(structure(tree))}")
        for key, child, sub in zip(self.keys(), children, self.children):
            sub._up_to(child, broadcast, what, (*path, key), out)

    def __repr__(self) -> str:
        return f"TreeDef({_describe(self)})"


def _describe(t: TreeDef) -> str:
    if t.kind is None:
        return "*"
    parts = [_describe(c) for c in t.children]
    if t.kind is tuple:
        return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"
    if t.kind is list:
        return f"[{', '.join(parts)}]"
    if t.kind is type(None):
        return "None"
    if t.kind in (dict, OrderedDict):
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(t.aux, parts)) + "}"
    return f"{t.kind.__name__}({', '.join(f'{k}={p}' for k, p in zip(t.keys(), parts))})"


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    """`(leaves, treedef)`; `is_leaf(x)` true stops the descent at `x`."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves, is_leaf)


def flatten_arguments(args: tuple) -> tuple[list[Any], TreeDef]:
    """`flatten(args)` for a tuple of a call's arguments; when each is a leaf (an array, a
    number), without walking them: the structure of n leaves in a tuple is made once."""
    for arg in args:
        if _node_type(type(arg)) is not None:
            return flatten(args)
    return list(args), _leaves_in_a_tuple(len(args))


@functools.lru_cache(maxsize=32)
def _leaves_in_a_tuple(count: int) -> TreeDef:
    return TreeDef(tuple, None, (_LEAF,) * count)


def _flatten(x: Any, leaves: list[Any], is_leaf) -> TreeDef:
    node = _node_type(type(x))
    if node is None or (is_leaf is not None and is_leaf(x)):
        leaves.append(x)
        return _LEAF
    children, aux = node.flatten(x)
    return TreeDef(type(x), aux, tuple(_flatten(c, leaves, is_leaf) for c in children))


_LEAF = TreeDef(None)


def unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    return treedef.unflatten(leaves)


def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    return flatten(tree, is_leaf)[0]


def structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeDef:
    return flatten(tree, is_leaf)[1]


def flatten_with_paths(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                       ) -> tuple[list[tuple[str, Any]], TreeDef]:
    """`([(path, leaf), ...], treedef)`, each path its keys joined with "/" ("" for a bare leaf)."""
    found, treedef = flatten(tree, is_leaf)
    return [("/".join(p), leaf) for p, leaf in zip(treedef.paths(), found)], treedef


def map(f: Callable[..., Any], tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:  # noqa: A001
    """`f` applied leaf by leaf: `f(leaf, *matching leaves of rest)`, in a tree like `tree`."""
    found, treedef = flatten(tree, is_leaf)
    others = [treedef.flatten_up_to(r, lambda x: False, "tree") for r in rest]
    return treedef.unflatten(f(*xs) for xs in zip(found, *others))
