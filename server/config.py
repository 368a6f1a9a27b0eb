"""Server settings: one frozen record, one flag table.

Every setting is a `wengert serve` flag and, with the same name upper-cased, a `WENGERT_<FLAG>`
environment variable (`--max-nodes` <-> `WENGERT_MAX_NODES`); a flag on the command line wins.
Containers configure the server through the environment, people through flags.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 50051
    workers: int = 8
    compute_workers: int = -1
    worker_memory_mb: int = -1
    max_queue: int = 16
    max_calls_per_client: int = 8
    inline_work: float = 1e5
    blas_threads: int = 1
    plugins: str = ""
    disable_plugins: str = ""
    skip_broken_plugins: bool = False
    verify_plugins: bool = True
    verification_cache: str = ""
    max_message_mb: int = 16
    max_nodes: int = 10_000
    max_inputs: int = 4_096
    max_string_length: int = 1_024
    max_tensor_elements: int = 16_777_216
    max_batch: int = 4_096
    memory_budget_mb: int = 1024
    max_work: float = 2e10
    max_response_mb: int = 16
    cache_size: int = 256
    graph_cache_mb: int = 512
    grace_period: float = 10.0
    max_connection_age: float = 0.0
    log_level: str = "INFO"
    metrics_port: int = 0
    metrics_host: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    auth_token: str = ""

    @property
    def worker_address_space_mb(self) -> int:
        """RLIMIT_AS of a compute worker, in MiB (0: none)."""
        return self.memory_budget_mb + 1024 if self.worker_memory_mb < 0 else self.worker_memory_mb


HELP = {
    "host": "address to bind",
    "port": "port to bind; 0 picks a free one (the start-up log line names it)",
    "workers": "gRPC threads serving calls (with compute workers, at least compute workers + "
               "--max-queue + 4, so health checks always find one)",
    "compute_workers": "processes that compute requests (a deadline kills one, a crash fails only "
                       "its request); -1: one per CPU available to the container; 0: compute in the "
                       "gRPC threads (debugging: deadlines are then noticed only between nodes)",
    "worker_memory_mb": "address space of each compute worker, in MiB (RLIMIT_AS): an allocation "
                        "past it fails that request with RESOURCE_EXHAUSTED; -1: --memory-budget-mb + "
                        "1024 (room for Python, NumPy and an op's temporaries); 0: unlimited",
    "max_queue": "requests that may wait for a compute worker; more are refused with UNAVAILABLE "
                 "(retried by clients, with backoff)",
    "max_calls_per_client": "requests one client (bearer token, else address) may have running or "
                            "waiting; more are refused with RESOURCE_EXHAUSTED",
    "inline_work": "requests priced at most this much work (and at most 64 plan steps, 1 MiB) whose "
                   "graphs use only builtin ops without loops are computed in the gRPC thread: a "
                   "compute worker's round trip would cost more than they do; 0 sends every request "
                   "to a worker",
    "blas_threads": "threads each BLAS call (matmul, solve, ...) may use; 0 keeps the library's default. "
                    "1 suits concurrent requests: BLAS threads oversubscribe the cores under load",
    "plugins": "extra plugin modules to import, comma-separated",
    "disable_plugins": "plugin names to leave out, comma-separated",
    "skip_broken_plugins": "start without plugins that fail to load instead of exiting",
    "verify_plugins": "serve only the plugin ops that pass the derivative checker (results cached); "
                      "--no-verify-plugins serves every op unchecked, and says so",
    "verification_cache": "folder of cached verification results; '' is $XDG_CACHE_HOME/wengert/verification, "
                          "else ~/.cache/wengert/verification",
    "max_message_mb": "largest request or response message, in MiB (gRPC holds a request about "
                      "three times while receiving it, before any other check)",
    "max_nodes": "largest graph, in nodes",
    "max_inputs": "most inputs a graph may declare",
    "max_string_length": "longest name, id or string attribute in a graph, in characters",
    "max_tensor_elements": "largest tensor sent in a request or carried in a graph, in elements",
    "max_batch": "largest batch of tangents or cotangents",
    "memory_budget_mb": "peak memory one request may use, in MiB, as priced before it runs (the "
                        "largest plan's live values, what it holds meanwhile, its response while "
                        "encoded); Jacobians and Hessians are swept in chunks of directions to fit it",
    "max_work": "element or floating-point operations one request may take, as priced before it "
                "runs (about 1e9 a second on one core for elementwise work); building its "
                "derivative graphs spends 1e4 per node recorded",
    "max_response_mb": "largest response, in MiB, as priced before it runs (at most "
                       "--max-message-mb); larger Jacobians can be streamed",
    "cache_size": "graphs kept in the graph cache (least recently used are evicted)",
    "graph_cache_mb": "bytes the graph cache and the engine's cache of derivative graphs and plans "
                      "may each hold, in MiB; one client's graphs take at most half",
    "grace_period": "seconds in-flight calls get to finish after SIGTERM",
    "max_connection_age": "close client connections after this many seconds (0: never), so clients "
                          "balancing round robin over DNS find pods added by a scale-out",
    "log_level": "DEBUG, INFO (one line per request), WARNING or ERROR",
    "metrics_port": "serve Prometheus metrics over HTTP on this port; 0 is off",
    "metrics_host": "address the metrics endpoint binds (default: --host). It is plain HTTP without "
                    "authentication, by design (counts and times, no request content): bind it where "
                    "only the scraper reaches",
    "tls_cert": "PEM certificate chain; with --tls-key, serve TLS",
    "tls_key": "PEM private key of --tls-cert",
    "tls_client_ca": "PEM CA bundle; require client certificates signed by it (mutual TLS)",
    "auth_token": "require 'authorization: Bearer <token>' metadata (health checks exempt)",
}


def available_cpus() -> int:
    """The CPUs this process may use: the container's CPU quota (cgroup v2, then v1) when it
    sets one, else the CPUs it may run on."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for quota_file, period_file in (("/sys/fs/cgroup/cpu.max", None),
                                    ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")):
        try:
            with open(quota_file) as f:
                fields = f.read().split()
            if period_file is not None:
                with open(period_file) as f:
                    fields.append(f.read().strip())
        except OSError:
            continue
        if len(fields) == 2 and fields[0] not in ("max", "-1"):
            return max(1, min(cpus, math.ceil(int(fields[0]) / int(fields[1]))))
        break
    return max(1, cpus)


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
