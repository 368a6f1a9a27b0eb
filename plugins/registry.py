"""The registry of ops and norms: built once from the loaded plugins, read-only afterwards.

Plugins are found through the `wengert.plugins` entry-point group (the builtin ops and norms are
one of them) and, optionally, as plain modules named by the operator. A plugin that fails to
import, yields a bad record or clashes with another op or norm name stops loading with a
`PluginError` naming it, unless `skip_broken` is set: then it is left out and reported as not
loaded. `load_plugins` is how the server, the `wengert` commands and the SDK all load them.
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
    module: str = ""  # the module it was imported from


@dataclass(frozen=True)
class LeftOut:
    """An op a loaded plugin provides that the registry does not serve, and why."""

    name: str
    plugin: str
    reason: str


class Registry:
    """Ops and norms by name, the plugins they came from, and the ops left out of it.

    `verified` says every op in it passed the derivative checker (`verified_as`)."""

    def __init__(self, ops: dict[str, OpDef], plugins: list[PluginInfo],
                 norms: dict[str, NormDef] | None = None, *, left_out: Iterable[LeftOut] = (),
                 verified: bool = False):
        self._ops = dict(ops)
        self._norms = dict(norms or {})
        self.plugins = tuple(plugins)
        self.left_out = tuple(left_out)
        self.verified = verified

    def get(self, name: str) -> OpDef:
        try:
            return self._ops[name]
        except KeyError:
            raise UnknownOp(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        """Why `name` is not here: left out (and why), or maybe in a plugin that failed to load."""
        left_out = next((op for op in self.left_out if op.name == name), None)
        if left_out is not None:
            failures = [line.strip() for line in left_out.reason.splitlines()[1:]]
            return (f"op {name!r} of plugin {left_out.plugin!r} is not served: it failed verification"
                    + (f" ({failures[0]})" if failures else ""))
        message = f"unknown op {name!r}: no loaded plugin provides it"
        broken = [p.error for p in self.plugins if not p.loaded]
        if broken:
            message += "; plugins that failed to load, and may provide it: " + "; ".join(broken)
        return message

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
        """The same registry with `ops` added or replacing those of the same name (unverified)."""
        return Registry({**self._ops, **{op.name: op for op in ops}}, list(self.plugins), self._norms,
                        left_out=self.left_out)

    def restricted(self, names: Iterable[str]) -> Registry:
        """The same registry without the ops in `names`."""
        dropped = set(names)
        return Registry({k: v for k, v in self._ops.items() if k not in dropped}, list(self.plugins),
                        self._norms, left_out=self.left_out, verified=self.verified)

    def verified_as(self, left_out: Iterable[LeftOut]) -> Registry:
        """This registry less the ops that failed verification (kept in `left_out`, with why),
        marked as verified."""
        left_out = tuple(left_out)
        kept = self.restricted(op.name for op in left_out)
        return Registry(kept._ops, list(self.plugins), self._norms, left_out=self.left_out + left_out,
                        verified=True)

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
        candidates: list[tuple[PluginInfo, object]] = []  # (the plugin before loading, its loader)
        if use_entry_points:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                version = ep.dist.version if ep.dist is not None else ""
                candidates.append((PluginInfo(ep.name, version, (), module=ep.module), ep.load))
        for module in modules:
            candidates.append((PluginInfo(module, "", (), module=module),
                               lambda m=module: importlib.import_module(m)))

        tables: dict[str, dict] = {kind: {} for kind in KINDS}
        plugins: list[PluginInfo] = []
        for plugin, loader in candidates:
            name = plugin.name
            if name in disabled:
                log.info("plugin %s disabled", name)
                continue
            try:
                provided = _load_one(pm, name, loader, tables)
            except PluginError as exc:
                if not skip_broken:
                    raise
                plugins.append(dataclasses.replace(plugin, loaded=False, error=str(exc)))
                continue
            for kind, records in provided.items():
                tables[kind].update({r.name: dataclasses.replace(r, plugin=name) for r in records})
            names = {kind: tuple(r.name for r in records) for kind, records in provided.items()}
            plugins.append(dataclasses.replace(plugin, ops=names["ops"], norms=names["norms"]))
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


def load_plugins(plugins: str = "", disable_plugins: str = "", *, skip_broken: bool) -> Registry:
    """The registry every part of wengert uses: entry-point plugins plus the `plugins` modules,
    less the `disable_plugins` names (both comma-separated, as --plugins and --disable-plugins or
    WENGERT_PLUGINS and WENGERT_DISABLE_PLUGINS give them). A plugin that fails to load is a
    `PluginError`, or with `skip_broken` is left out with a warning: then it costs only its own
    ops, and asking for an op names it and its error (see `Registry.get`)."""
    registry = Registry.load(modules=_split(plugins), disabled=_split(disable_plugins), skip_broken=True)
    broken = [p for p in registry.plugins if not p.loaded]
    if broken and not skip_broken:
        raise PluginError(broken[0].error)
    for plugin in broken:
        log.warning("skipping broken plugin %s (its ops are not available): %s", plugin.name, plugin.error)
    return registry


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry: `load_plugins` with WENGERT_PLUGINS and WENGERT_DISABLE_PLUGINS,
    built on first use. A library never refuses to work for a plugin it was not asked about, so
    broken plugins are always skipped here (as `wengert serve --skip-broken-plugins` does)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load_plugins(os.environ.get("WENGERT_PLUGINS", ""),
                                    os.environ.get("WENGERT_DISABLE_PLUGINS", ""), skip_broken=True)
        return _default


def set_default_registry(registry: Registry) -> None:
    """Make `registry` the one builders use by default (the server does this at start-up)."""
    global _default
    with _default_lock:
        _default = registry


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
