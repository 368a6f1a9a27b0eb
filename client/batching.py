"""`wg.vmap`'s arguments: which leaves are mapped, along which axis, over how many examples.

Both ways of mapping read them here: at the top level (`ClientAPI.vmap`, where the mapped axes
are moved first and sent as the engine's batch axis) and inside a traced function
(`wengert.autodiff.inline.vmap`, one example at a time). Axes follow `jax.vmap`: an int or None
for every argument, or a tuple with one entry per argument, each an int, None or a tree of them
(a prefix of the argument's structure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from wengert import tree
from wengert.errors import InvalidRequest
from wengert.tree import TreeDef


def is_axis(a: Any) -> bool:
    return a is None or isinstance(a, int)


def axes_of(structure: TreeDef, axes: Any, what: str) -> list[int | None]:
    """One axis (or None) per leaf of `structure`, from `axes` given as a prefix of it."""
    try:
        return structure.flatten_up_to(tuple(axes) if isinstance(axes, list) else axes, is_axis, what)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


@dataclass(frozen=True)
class Split:
    """The arguments of a mapped call, leaf by leaf: each leaf with its mapped axis (None: the
    same for every example), and the number of examples."""

    args: tuple
    structures: tuple[TreeDef | None, ...]  # None: a static argument, passed as it is
    leaves: tuple[list[Any], ...]
    axes: tuple[list[int | None], ...]
    size: int

    @classmethod
    def of(cls, args: Sequence[Any], in_axes: Any, static: Sequence[int] = ()) -> Split:
        per_arg = (in_axes,) * len(args) if is_axis(in_axes) else tuple(in_axes)
        if len(per_arg) != len(args):
            raise InvalidRequest(f"in_axes has {len(per_arg)} entries for {len(args)} arguments")
        structures, leaves, axes, size = [], [], [], None
        for i, arg in enumerate(args):
            found, structure = tree.flatten(arg) if i not in static else ([], None)
            found_axes = axes_of(structure, per_arg[i], f"in_axes of argument {i}") if found else []
            for leaf, axis in zip(found, found_axes):
                if axis is None:
                    continue
                shape = np.shape(leaf) if not hasattr(leaf, "shape") else tuple(leaf.shape)
                if not -len(shape) <= axis < len(shape):
                    raise InvalidRequest(f"in_axes {axis} is out of range for an argument of shape {shape}")
                if size is not None and shape[axis] != size:
                    raise InvalidRequest(f"vmap: mapped axes have different sizes, {size} and {shape[axis]}")
                size = shape[axis]
            structures.append(structure)
            leaves.append(found)
            axes.append(found_axes)
        if size is None:
            raise InvalidRequest("vmap needs at least one mapped argument (in_axes all None)")
        return cls(tuple(args), tuple(structures), tuple(leaves), tuple(axes), size)

    def example(self, take: Callable[[Any, int], Any]) -> tuple:
        """The arguments with each mapped leaf replaced by `take(leaf, axis)`."""
        return tuple(arg if structure is None else
                     structure.unflatten(leaf if axis is None else take(leaf, axis)
                                         for leaf, axis in zip(leaves, axes))
                     for arg, structure, leaves, axes in zip(self.args, self.structures, self.leaves, self.axes))

    def flat(self) -> list[tuple[Any, int | None]]:
        """(leaf, axis) for every leaf of the non-static arguments, in order."""
        return [pair for leaves, axes in zip(self.leaves, self.axes) for pair in zip(leaves, axes)]
