"""Server settings: one frozen record, one flag table.

Every setting is a `wengert serve` flag and, with the same name upper-cased, a `WENGERT_<FLAG>`
environment variable (`--max-nodes` <-> `WENGERT_MAX_NODES`); a flag on the command line wins.
Containers configure the server through the environment, people through flags.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 50051
    workers: int = 8
    blas_threads: int = 1
    plugins: str = ""
    disable_plugins: str = ""
    skip_broken_plugins: bool = False
    verify_plugins: bool = True
    verification_cache: str = ""
    max_message_mb: int = 64
    max_nodes: int = 10_000
    max_tensor_elements: int = 16_777_216
    max_jacobian_elements: int = 4_194_304
    max_batch: int = 4_096
    memory_budget_mb: int = 1024
    cache_size: int = 256
    grace_period: float = 10.0
    max_connection_age: float = 0.0
    log_level: str = "INFO"
    metrics_port: int = 0
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    auth_token: str = ""


HELP = {
    "host": "address to bind",
    "port": "port to bind; 0 picks a free one (the start-up log line names it)",
    "workers": "worker threads serving calls",
    "blas_threads": "threads each BLAS call (matmul, solve, ...) may use; 0 keeps the library's default. "
                    "1 suits concurrent requests: BLAS threads oversubscribe the cores under load",
    "plugins": "extra plugin modules to import, comma-separated",
    "disable_plugins": "plugin names to leave out, comma-separated",
    "skip_broken_plugins": "start without plugins that fail to load instead of exiting",
    "verify_plugins": "serve only the plugin ops that pass the derivative checker (results cached); "
                      "--no-verify-plugins serves every op unchecked, and says so",
    "verification_cache": "folder of cached verification results; '' is $XDG_CACHE_HOME/wengert/verification, "
                          "else ~/.cache/wengert/verification",
    "max_message_mb": "largest request or response message, in MiB",
    "max_nodes": "largest graph, in nodes",
    "max_tensor_elements": "largest tensor, in elements",
    "max_jacobian_elements": "largest Jacobian, in elements (outputs x inputs)",
    "max_batch": "largest batch of tangents or cotangents",
    "memory_budget_mb": "memory one Jacobian or Hessian request may use, in MiB; larger ones are "
                        "computed in chunks of directions, or refused if even one chunk does not fit",
    "cache_size": "graphs kept in the graph cache (least recently used are evicted)",
    "grace_period": "seconds in-flight calls get to finish after SIGTERM",
    "max_connection_age": "close client connections after this many seconds (0: never), so clients "
                          "balancing round robin over DNS find pods added by a scale-out",
    "log_level": "DEBUG, INFO (one line per request), WARNING or ERROR",
    "metrics_port": "serve Prometheus metrics over HTTP on this port; 0 is off",
    "tls_cert": "PEM certificate chain; with --tls-key, serve TLS",
    "tls_key": "PEM private key of --tls-cert",
    "tls_client_ca": "PEM CA bundle; require client certificates signed by it (mutual TLS)",
    "auth_token": "require 'authorization: Bearer <token>' metadata (health checks exempt)",
}


def env_default(name: str, default):
    """The `WENGERT_<NAME>` environment value converted like `default`, else `default`."""
    raw = os.environ.get("WENGERT_" + name.upper())
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(raw)


def add_flags(parser: argparse.ArgumentParser, names=None) -> None:
    """Add the flags for `names` (default: every setting), defaulting to the environment."""
    for f in fields(Config):
        if names is not None and f.name not in names:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = env_default(f.name, f.default)
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=HELP[f.name])
        else:
            parser.add_argument(flag, type=type(f.default), default=default, metavar=f.name.upper(),
                                help=f"{HELP[f.name]} (default {f.default!r})")


def from_args(args: argparse.Namespace) -> Config:
    """The settings a command's parsed flags give; those it has no flag for keep their defaults."""
    return Config(**{f.name: getattr(args, f.name) for f in fields(Config) if hasattr(args, f.name)})
