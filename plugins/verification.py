"""Verified serving: `wengert serve` serves an op only once the derivative checker has passed it,
and keeps the verdicts on disk, so a restart with the same plugins checks nothing again.

A plugin's verdicts are stored under a key made of wengert's version and files, NumPy's version,
and the plugin's name, version and files (its module's top-level package). They are
used only while every op their checks looked up is still provided by a plugin with the same key,
so editing, upgrading, adding or removing a plugin re-verifies exactly the plugins it can
affect. A cache that is missing, corrupt or read-only costs a fresh verification, never a failed
start; its files can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from wengert.plugins.checker import verify_registry
from wengert.plugins.registry import LeftOut, PluginInfo, Registry

CACHE_FORMAT = 1  # bump when the entries' layout or the checker's verdicts change meaning
log = logging.getLogger("wengert.plugins")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    report: str  # the checker's report, as `OpReport.text()` wrote it


@dataclass(frozen=True)
class Verification:
    """What `verify_plugins` did: the registry of the ops that passed (the others recorded as
    left out, with the checker's report), which plugins it checked now and which it found in
    the cache, and why new verdicts could not be saved ("" when they were, or none were new)."""

    registry: Registry
    checked: tuple[str, ...]
    cached: tuple[str, ...]
    unsaved: str = ""


def cache_dir(setting: str = "") -> Path:
    """The folder a `--verification-cache` setting names; by default (""),
    $XDG_CACHE_HOME/wengert/verification, else ~/.cache/wengert/verification."""
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wengert" / "verification"


def verify_plugins(registry: Registry, folder: Path | None) -> Verification:
    """Check every op of `registry`, or take its verdict from the cache in `folder` (None: no
    cache), and save the new verdicts there."""
    plugins = [p for p in registry.plugins if p.loaded and p.ops]
    wengert = wengert_key()
    keys = {p.name: plugin_key(p, wengert) for p in plugins}
    provider = {op.name: keys[op.plugin] for op in registry}  # op -> the key of its plugin
    verdicts: dict[str, Verdict] = {}
    stale: list[PluginInfo] = []
    for plugin in plugins:
        found = _read(folder, plugin, keys[plugin.name], provider) if folder is not None else None
        if found is None:
            stale.append(plugin)
        else:
            verdicts.update(found)
    cached = tuple(p.name for p in plugins if p not in stale)
    unsaved = ""
    if stale:
        known_failures = [op for op, verdict in verdicts.items() if not verdict.passed]
        _, reports = verify_registry(registry.restricted(known_failures), [op for p in stale for op in p.ops])
        by_op = {r.op: r for r in reports}
        verdicts.update((r.op, Verdict(r.passed, r.text())) for r in reports)
        if folder is not None:
            for plugin in stale:
                uses = sorted({name for op in plugin.ops for name in by_op[op].uses})
                entry = {"format": CACHE_FORMAT, "key": keys[plugin.name], "plugin": plugin.name,
                         "version": plugin.version, "wengert": wengert,
                         "uses": {name: provider.get(name) for name in uses},
                         "ops": {op: {"passed": verdicts[op].passed, "report": verdicts[op].report}
                                 for op in plugin.ops}}
                unsaved = _write(folder / _file_name(plugin, keys[plugin.name]), entry) or unsaved
    left_out = [LeftOut(op, registry.get(op).plugin, verdict.report)
                for op, verdict in sorted(verdicts.items()) if not verdict.passed]
    return Verification(registry.verified_as(left_out), tuple(p.name for p in stale), cached, unsaved)


# -- the cache ----------------------------------------------------------------------------------
def _file_name(plugin: PluginInfo, key: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in plugin.name)
    return f"{safe}-{key[:32]}.json"


def _read(folder: Path, plugin: PluginInfo, key: str, provider: dict[str, str]) -> dict[str, Verdict] | None:
    """The plugin's cached verdicts, or None when there are none that still hold."""
    path = folder / _file_name(plugin, key)
    try:
        entry = json.loads(path.read_text())
        if (entry["format"] != CACHE_FORMAT or entry["key"] != key or set(entry["ops"]) != set(plugin.ops)
                or any(provider.get(name) != used for name, used in entry["uses"].items())):
            return None
        return {op: Verdict(bool(v["passed"]), str(v["report"])) for op, v in entry["ops"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.info("verification cache entry %s is unusable (%s: %s): verifying again", path,
                 type(exc).__name__, exc)
        return None


def _write(path: Path, entry: dict) -> str:
    """Save `entry` atomically (a reader sees the old file or the new one, never half of one),
    readable by all (an image's cache is written by root, read by the server's user); returns
    why it could not be saved, or ""."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(handle, "w") as f:
            json.dump(entry, f, indent=1, sort_keys=True)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        return f"cannot write to {path.parent}: {exc.strerror or exc}"
    return ""


# -- keys ---------------------------------------------------------------------------------------
def wengert_key() -> str:
    """wengert's version, a hash of its files and NumPy's version (every forward runs on it): a
    changed engine, checker or NumPy re-verifies everything. Other dependencies are not tracked."""
    import numpy
    import wengert
    import wengert.plugins

    files = {}
    for package in (wengert, wengert.plugins):
        files.update(_package_files(package))
    return f"{wengert.__version__}+{_digest(files)}+numpy-{numpy.__version__}"


def plugin_key(plugin: PluginInfo, wengert: str) -> str:
    """The key of a plugin's verdicts: wengert's key, the plugin's name and version, and a hash
    of the files of its module's top-level package (the module itself, for a plain module), so
    that an editable install or a `--plugins` module is verified again when edited. (Not the
    files its distribution's metadata lists: which metadata a process finds depends on its
    working directory, and the key must be the same for `wengert verify` and the server.)"""
    top = sys.modules.get(plugin.module.split(".")[0])
    files = _package_files(top) if top is not None else {}
    identity = json.dumps([wengert, plugin.name, plugin.version, _digest(files)])
    return hashlib.sha256(identity.encode()).hexdigest()


def _package_files(module) -> dict[str, Path]:
    """A module's file, or a package's files and its subpackages', by path from its folder."""
    roots = [Path(p) for p in getattr(module, "__path__", ())]
    if not roots:
        return {module.__name__ + ".py": Path(module.__file__)} if getattr(module, "__file__", None) else {}
    files = {}
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if (Path(folder) / d / "__init__.py").is_file())
            for name in names:
                if not name.endswith(".pyc"):
                    path = Path(folder) / name
                    files[f"{module.__name__}/{path.relative_to(root).as_posix()}"] = path
    return files


def _digest(files: dict[str, Path]) -> str:
    sha = hashlib.sha256()
    for label in sorted(files):
        try:
            content = files[label].read_bytes()
        except OSError as exc:  # gone or unreadable: the key changes, start-up goes on
            content = f"unreadable: {exc}".encode()
        sha.update(label.encode() + b"\0" + hashlib.sha256(content).digest())
    return sha.hexdigest()
