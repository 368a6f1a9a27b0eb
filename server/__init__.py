"""The wengert gRPC server: the differentiation service plus health, reflection, metrics.

`create_server(config)` builds a ready-to-start server bound to `config.port` (0 picks a free
port, which it returns), so tests and embedders get the same server `wengert serve` runs.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from wengert.execution.cost import Limits
from wengert.execution.engine import Engine
from wengert.plugins.registry import Registry, load_plugins, set_default_registry
from wengert.plugins.verification import cache_dir, verify_plugins
from wengert.server import health as health_service
from wengert.server import reflection
from wengert.server.cache import GraphCache
from wengert.server.config import Config, available_cpus
from wengert.server.execution.inline import Inline
from wengert.server.execution.pool import Pool
from wengert.server.execution.queue import FairQueue
from wengert.server.execution.worker import Settings as WorkerSettings
from wengert.server.interceptors import CallInterceptor, TokenAuthInterceptor
from wengert.server.limits import WireLimits
from wengert.server.metrics import Metrics
from wengert.server.servicer import DifferentiationServicer
from wengert.v1 import service_pb2_grpc

__all__ = ["Config", "create_server", "load_registry"]

log = logging.getLogger("wengert.server")
MESSAGE_OVERHEAD = 1 << 16  # a response's framing and names, beyond its tensors' bytes


def load_registry(config: Config) -> Registry:
    """What the server serves: the plugins' ops (a broken plugin is a `PluginError` unless
    skipped), less those that fail verification (`wengert.plugins.verification`) unless
    --no-verify-plugins says to serve them unchecked."""
    registry = load_plugins(config.plugins, config.disable_plugins, skip_broken=config.skip_broken_plugins)
    if not config.verify_plugins:
        log.warning("plugin ops are NOT verified (--no-verify-plugins): an op with a wrong derivative "
                    "rule gives wrong derivatives without any error")
    else:
        folder = cache_dir(config.verification_cache)
        start = time.perf_counter()
        verification = verify_plugins(registry, folder)
        registry = verification.registry
        log.info("verified plugin ops in %.2f s: %s checked now, %s from the cache %s",
                 time.perf_counter() - start, ", ".join(verification.checked) or "none",
                 ", ".join(verification.cached) or "none", folder)
        if verification.unsaved:
            log.warning("verification results not saved (%s): the next start verifies again",
                        verification.unsaved)
        for op in registry.left_out:
            log.warning("leaving out op %s: it failed verification:\n%s", op.name, op.reason)
    set_default_registry(registry)  # derivative rules build graphs with the default registry
    return registry


def create_server(config: Config, *, registry: Registry | None = None, health=None,
                  calls: CallInterceptor | None = None) -> tuple[grpc.Server, int, Pool | None]:
    """A configured, bound, not yet started server, its port, and its pool of compute workers
    (started; None in in-thread mode), which the caller closes after stopping the server. Pass
    `health` (from `wengert.server.health.create()`) to control its status, and `calls` (a
    `CallInterceptor(Metrics())`) to read its metrics or drain it."""
    registry = registry if registry is not None else load_registry(config)
    health = health if health is not None else health_service.create()
    calls = calls if calls is not None else CallInterceptor(Metrics())
    interceptors: list[grpc.ServerInterceptor] = [calls]
    if config.auth_token:
        interceptors.insert(0, TokenAuthInterceptor(config.auth_token, calls.metrics))
    max_bytes = config.max_message_mb * 1024 * 1024
    computing = compute_workers(config)
    pool = start_pool(config, registry, computing, calls.metrics) if computing else None
    threads = max(config.workers, computing + config.max_queue + 4) if computing else config.workers
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wengert"),
        interceptors=interceptors,
        options=[("grpc.max_send_message_length", max_bytes),
                 ("grpc.max_receive_message_length", max_bytes),
                 ("grpc.so_reuseport", 0),
                 *_connection_age(config.max_connection_age)],
    )
    wire = WireLimits(config.max_nodes, config.max_inputs, config.max_tensor_elements, config.max_batch,
                      config.max_string_length)
    calls.wire = wire
    cache = GraphCache(config.cache_size, config.graph_cache_mb << 20, record=calls.metrics.record_cache)
    engine = Engine(registry, limits=request_limits(config), cache_bytes=config.graph_cache_mb << 20,
                    response_copies=3)
    service_pb2_grpc.add_DifferentiationServiceServicer_to_server(
        DifferentiationServicer(engine, wire, cache, pool, Inline(int(config.inline_work), registry)
                                if config.inline_work > 0 else None), server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable(server, (health_service.SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name))
    address = f"[{config.host}]:{config.port}" if ":" in config.host else f"{config.host}:{config.port}"
    tls = config.tls_cert or config.tls_key or config.tls_client_ca
    port = server.add_secure_port(address, _credentials(config)) if tls else server.add_insecure_port(address)
    return server, port, pool


def compute_workers(config: Config) -> int:
    """How many compute processes: the flag, or one per CPU the container may use."""
    return config.compute_workers if config.compute_workers >= 0 else available_cpus()


def start_pool(config: Config, registry: Registry, size: int, metrics: Metrics) -> Pool:
    """Compute workers loading the plugins `registry` came from, less the ops it left out."""
    settings = WorkerSettings(
        plugins=config.plugins, disable_plugins=config.disable_plugins, skip_broken=config.skip_broken_plugins,
        left_out=tuple(op.name for op in registry.left_out),
        blas_threads=config.blas_threads, memory_mb=config.worker_address_space_mb,
        cache_bytes=(config.graph_cache_mb << 20) // size, limits=request_limits(config))
    pool = Pool(size, settings, FairQueue(config.max_queue, config.max_calls_per_client), metrics)
    pool.start()
    return pool


def request_limits(config: Config) -> Limits:
    """What one request may cost, from the flags (the response also fits in a message)."""
    message = (config.max_message_mb << 20) - MESSAGE_OVERHEAD
    return Limits(memory=config.memory_budget_mb << 20, work=int(config.max_work),
                  response=min(config.max_response_mb << 20, message),
                  names={"memory": "--memory-budget-mb", "work": "--max-work",
                         "response": "--max-response-mb (and --max-message-mb)"})


def _connection_age(seconds: float) -> list[tuple[str, int]]:
    """gRPC's connection-age options: a closed connection makes a client re-resolve DNS."""
    if seconds <= 0:
        return []
    return [("grpc.max_connection_age_ms", int(seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", int(seconds * 1000))]


def _credentials(config: Config) -> grpc.ServerCredentials:
    if not (config.tls_cert and config.tls_key):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    client_ca = _read(config.tls_client_ca) if config.tls_client_ca else None
    return grpc.ssl_server_credentials([(_read(config.tls_key), _read(config.tls_cert))],
                                       root_certificates=client_ca, require_client_auth=client_ca is not None)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
