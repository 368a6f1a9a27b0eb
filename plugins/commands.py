"""`wengert plugins`, `wengert check-plugin` and `wengert verify`: the plugin commands.

`wengert.server.cli` adds them through `register`. They load plugins exactly as `wengert serve`
does, from the same flags and environment variables (--plugins / WENGERT_PLUGINS,
--disable-plugins, --skip-broken-plugins), so what they show is what a server would serve.
`check-plugin` is the author's command (every op of one plugin, checked afresh, every report
printed); `verify` is the operator's (every op, as `wengert serve` verifies it, through the
verification cache, which it fills: an image runs it at build time).
Each handler returns the process exit code: 0 when all is well, 1 when a plugin is broken or
an op fails its check, 2 when the plugin asked for does not exist.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from wengert.errors import PluginError
from wengert.plugins.checker import check_plugin
from wengert.plugins.norm_checker import check_norm
from wengert.plugins.registry import Registry, load_plugins
from wengert.plugins.verification import cache_dir, verify_plugins
from wengert.server import config

PLUGIN_FLAGS = {"plugins", "disable_plugins", "skip_broken_plugins"}


def register(subparsers) -> None:
    """Add `plugins` and `check-plugin` to the `wengert` command's subparsers."""
    listing = subparsers.add_parser("plugins", help="list the plugins a server would load, and their ops")
    config.add_flags(listing, PLUGIN_FLAGS)
    listing.set_defaults(func=list_plugins)

    check = subparsers.add_parser("check-plugin", help="check every op (and norm) of one plugin")
    check.add_argument("name", help="the plugin's name, as `wengert plugins` shows it")
    check.add_argument("--seed", type=int, default=0, help="seed of the random inputs and directions")
    config.add_flags(check, PLUGIN_FLAGS)
    check.set_defaults(func=check_plugin_command)

    verify = subparsers.add_parser("verify", help="verify every op as `wengert serve` does, and cache the "
                                                  "results (run it when building an image)")
    config.add_flags(verify, PLUGIN_FLAGS | {"verification_cache"})
    verify.set_defaults(func=verify_command)


def list_plugins(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    for plugin in registry.plugins:
        if plugin.loaded:
            norms = f", {len(plugin.norms)} norm(s)" if plugin.norms else ""
            print(f"{plugin.name} {plugin.version or '(no version)'}: {len(plugin.ops)} op(s){norms}")
            print(_wrapped(" ".join(sorted(plugin.ops))))
            if plugin.norms:
                print(_wrapped("norms: " + " ".join(sorted(plugin.norms))))
        else:
            print(f"{plugin.name} {plugin.version or '(no version)'}: NOT LOADED")
            print(f"    {plugin.error}")
    return 0


def check_plugin_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    plugin = next((p for p in registry.plugins if p.name == args.name), None)
    if plugin is None:
        known = ", ".join(p.name for p in registry.plugins) or "none"
        print(f"wengert: error: no plugin named {args.name!r} (plugins: {known})", file=sys.stderr)
        return 2
    if not plugin.loaded:
        print(f"wengert: error: {plugin.error}", file=sys.stderr)
        return 1
    ops = check_plugin(args.name, registry, seed=args.seed)
    norms = [check_norm(name, registry, seed=args.seed) for name in plugin.norms]
    for report in [*ops, *norms]:
        print(report.text())
    failed = [r.op for r in ops if not r.passed] + [f"norm {r.norm}" for r in norms if not r.passed]
    checked = len(ops) + len(norms)
    if failed:
        print(f"{args.name}: {len(failed)} of {checked} FAILED: {', '.join(failed)}")
        return 1
    print(f"{args.name}: all {checked} passed")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    registry = _load(args)
    if registry is None:
        return 1
    folder = cache_dir(args.verification_cache)
    verification = verify_plugins(registry, folder)
    left_out = verification.registry.left_out
    for plugin in registry.plugins:
        if not plugin.loaded:
            print(f"{plugin.name} {plugin.version or '(no version)'}: NOT LOADED")
            print(f"    {plugin.error}")
            continue
        failed = [op for op in left_out if op.plugin == plugin.name]
        how = "cached" if plugin.name in verification.cached else "checked now"
        print(f"{plugin.name} {plugin.version or '(no version)'}: {len(plugin.ops) - len(failed)} of "
              f"{len(plugin.ops)} op(s) verified ({how})")
        for op in failed:
            print(textwrap.indent(op.reason, "    "))
    print(f"verification cache: {folder}" + (f" (NOT SAVED: {verification.unsaved})" if verification.unsaved else ""))
    broken = [p for p in registry.plugins if not p.loaded]
    return 1 if left_out or broken or verification.unsaved else 0


def _load(args: argparse.Namespace) -> Registry | None:
    """The plugins `wengert serve` would load with these flags, or None (and the reason on
    stderr) when a plugin fails to load."""
    settings = config.from_args(args)
    try:
        return load_plugins(settings.plugins, settings.disable_plugins, skip_broken=settings.skip_broken_plugins)
    except PluginError as exc:
        print(f"wengert: error: {exc}", file=sys.stderr)
        return None


def _wrapped(text: str) -> str:
    return textwrap.fill(text, width=96, initial_indent="    ", subsequent_indent="    ")
