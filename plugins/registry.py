"""The registry of ops and norms: built once from the loaded plugins, read-only afterwards.

Plugins are found through the `wengert.plugins` entry-point group (the builtin ops and norms are
one of them) and, optionally, as plain modules named by the operator. A plugin that fails to
import, yields a bad record or clashes with another op or norm name stops loading with a
`PluginError` naming it, unless `skip_broken` is set: then it is left out and reported as not
loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Iterable, Iterator

import pluggy

from wengert.errors import InvalidRequest, PluginError, UnknownOp
from wengert.plugins import spec
from wengert.plugins.normdef import NormDef
from wengert.plugins.opdef import OpDef

ENTRY_POINT_GROUP = "wengert.plugins"
log = logging.getLogger("wengert.plugins")


@dataclass(frozen=True)
class _Kind:
    """One kind of record plugins provide: the hook returning them, their type, their noun."""

    hook: str
    record: type
    noun: str


# Everything a plugin can provide, keyed by the registry table it fills.
KINDS = {"ops": _Kind("wengert_ops", OpDef, "op"), "norms": _Kind("wengert_norms", NormDef, "norm")}


@dataclass(frozen=True)
class PluginInfo:
    """What `wengert plugins` and `ListOps` report about one plugin."""

    name: str
    version: str
    ops: tuple[str, ...]
    loaded: bool = True
    error: str = ""
    norms: tuple[str, ...] = ()


class Registry:
    """Ops and norms by name, and the plugins they came from."""

    def __init__(self, ops: dict[str, OpDef], plugins: list[PluginInfo],
                 norms: dict[str, NormDef] | None = None):
        self._ops = dict(ops)
        self._norms = dict(norms or {})
        self.plugins = tuple(plugins)

    def get(self, name: str) -> OpDef:
        try:
            return self._ops[name]
        except KeyError:
            raise UnknownOp(f"unknown op {name!r}: no loaded plugin provides it") from None

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[OpDef]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def names(self) -> list[str]:
        return sorted(self._ops)

    def norm(self, name: str) -> NormDef:
        try:
            return self._norms[name]
        except KeyError:
            raise InvalidRequest(f"unknown norm {name!r}: no loaded plugin provides it "
                                 f"(known: {', '.join(self.norm_names())})") from None

    def norm_names(self) -> list[str]:
        return sorted(self._norms)

    def with_ops(self, ops: Iterable[OpDef]) -> Registry:
        """The same registry with `ops` added or replacing those of the same name."""
        return Registry({**self._ops, **{op.name: op for op in ops}}, list(self.plugins), self._norms)

    def restricted(self, names: Iterable[str]) -> Registry:
        """The same registry without the ops in `names` (e.g. ops that failed verification)."""
        dropped = set(names)
        return Registry({k: v for k, v in self._ops.items() if k not in dropped}, list(self.plugins),
                        self._norms)

    @classmethod
    def load(
        cls,
        *,
        modules: Iterable[str] = (),
        disabled: Iterable[str] = (),
        skip_broken: bool = False,
        use_entry_points: bool = True,
    ) -> Registry:
        """Load plugins from entry points and `modules`, leaving out the `disabled` names."""
        disabled = set(disabled)
        pm = pluggy.PluginManager(spec.PROJECT)
        pm.add_hookspecs(spec)
        candidates: list[tuple[str, str, object]] = []  # (name, version, loader)
        if use_entry_points:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                version = ep.dist.version if ep.dist is not None else ""
                candidates.append((ep.name, version, ep.load))
        for module in modules:
            candidates.append((module, "", lambda m=module: importlib.import_module(m)))

        tables: dict[str, dict] = {kind: {} for kind in KINDS}
        plugins: list[PluginInfo] = []
        for name, version, loader in candidates:
            if name in disabled:
                log.info("plugin %s disabled", name)
                continue
            try:
                provided = _load_one(pm, name, loader, tables)
            except PluginError as exc:
                if not skip_broken:
                    raise
                log.error("skipping broken plugin: %s", exc)
                plugins.append(PluginInfo(name, version, (), loaded=False, error=str(exc)))
                continue
            for kind, records in provided.items():
                tables[kind].update({r.name: dataclasses.replace(r, plugin=name) for r in records})
            names = {kind: tuple(r.name for r in records) for kind, records in provided.items()}
            plugins.append(PluginInfo(name, version, names["ops"], norms=names["norms"]))
        return cls(tables["ops"], plugins, tables["norms"])


def _load_one(pm: pluggy.PluginManager, name: str, loader, known: dict[str, dict]) -> dict[str, list]:
    """Import one plugin and collect its records of every kind, all checked before any is
    accepted; `known` holds the records of the plugins loaded before it, by kind."""
    try:
        module = loader()
    except Exception as exc:
        raise PluginError(f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}") from exc
    try:
        pm.register(module, name=name)
        pm.check_pending()  # a @hookimpl that no hookspec declares: a misspelt hook name
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} is registered twice: {str(exc).splitlines()[0]}") from exc
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        detail = "; ".join(str(exc).splitlines())
        raise PluginError(f"plugin {name!r} does not match the hookspecs: {detail}") from exc
    provided, problems = {}, []
    for kind_name, kind in KINDS.items():
        provided[kind_name] = records = _call(pm, name, kind.hook)
        seen: set[str] = set()
        for i, record in enumerate(records):
            if not isinstance(record, kind.record):
                problems.append(f"{kind.hook} record #{i} is a {type(record).__name__}, "
                                f"not a {kind.record.__name__} record")
            elif record.name in known[kind_name]:
                problems.append(f"{kind.noun} {record.name!r} is provided by both plugin "
                                f"{known[kind_name][record.name].plugin!r} and plugin {name!r}")
            elif record.name in seen:
                problems.append(f"{kind.noun} {record.name!r} is declared twice")
            else:
                seen.add(record.name)
    if problems:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r}: " + "; ".join(problems))
    return provided


def _call(pm: pluggy.PluginManager, name: str, hook: str) -> list:
    """The records plugin `name` returns from `hook` ([] when it does not implement it)."""
    impl = next((i for i in getattr(pm.hook, hook).get_hookimpls() if i.plugin_name == name), None)
    if impl is None:
        return []
    try:
        return list(impl.function())
    except Exception as exc:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r}: {hook}() failed: {type(exc).__name__}: {exc}") from exc


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry: entry-point plugins, plus WENGERT_PLUGINS modules, less
    WENGERT_DISABLE_PLUGINS (both comma-separated). Built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry.load(
                modules=_split(os.environ.get("WENGERT_PLUGINS", "")),
                disabled=_split(os.environ.get("WENGERT_DISABLE_PLUGINS", "")),
            )
        return _default


def set_default_registry(registry: Registry) -> None:
    """Make `registry` the one builders use by default (the server does this at start-up)."""
    global _default
    with _default_lock:
        _default = registry


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
