"""The `wengert` command: `serve`, `health`, and the plugin commands when installed."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys

import grpc
from threadpoolctl import threadpool_limits

from wengert.errors import PluginError
from wengert.server import config as settings
from wengert.server import create_server, health, load_registry
from wengert.server.interceptors import CallInterceptor
from wengert.server.metrics import Metrics
from wengert.server.shutdown import ShutdownSignals, drain

log = logging.getLogger("wengert.server")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not hasattr(args, "func"):
        parser().print_help(sys.stderr)
        return 2
    return args.func(args) or 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="wengert", description="Automatic differentiation as a network service.")
    commands = root.add_subparsers(title="commands", metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="run the gRPC server (every flag also reads WENGERT_<FLAG>)")
    settings.add_flags(serve_cmd)
    serve_cmd.set_defaults(func=serve)

    health_cmd = commands.add_parser("health", help="check a server's health; exit 0 iff SERVING")
    health_cmd.add_argument("--target", default=settings.env_default("health_target", _local_target()),
                            help="host:port to check (default: this machine's WENGERT_PORT)")
    health_cmd.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    health_cmd.add_argument("--tls-ca", default=settings.env_default("tls_ca", ""),
                            help="CA bundle that signed the server's certificate "
                                 "(default: --tls-cert itself, right for a self-signed certificate)")
    health_cmd.add_argument("--tls-server-name", default=settings.env_default("tls_server_name", ""),
                            help="name to verify the server's certificate against instead of the host")
    settings.add_flags(health_cmd, {"tls_cert", "tls_key", "tls_client_ca"})
    health_cmd.set_defaults(func=check_health)

    if importlib.util.find_spec("wengert.plugins.commands") is not None:
        importlib.import_module("wengert.plugins.commands").register(commands)
    return root


def serve(args: argparse.Namespace) -> int:
    config = settings.from_args(args)
    configure_logging(config.log_level)
    if config.blas_threads:
        # NumPy's BLAS runs one thread per core in every matmul; concurrent requests then
        # oversubscribe the cores and everything slows down (see PERF-NOTES).
        threadpool_limits(config.blas_threads, user_api="blas")
    try:
        registry = load_registry(config)
    except PluginError as exc:  # a broken plugin stops start-up with one line naming it
        print(f"wengert: error: {exc}", file=sys.stderr)
        return 1
    status, calls = health.create(), CallInterceptor(Metrics())
    try:
        server, port, pool = create_server(config, registry=registry, health=status, calls=calls)
    except (ValueError, OSError, RuntimeError) as exc:
        log.error("cannot start: %s", exc)
        return 2
    if config.metrics_port:
        calls.metrics.serve(config.metrics_port, config.metrics_host or config.host)
    signals = ShutdownSignals()
    server.start()
    health.set_serving(status)
    plugins = ", ".join(f"{p.name} {p.version or '?'}" + ("" if p.loaded else " (NOT LOADED)")
                        for p in registry.plugins)
    verified = (f"verified, {len(registry.left_out)} left out" if registry.verified
                else "NOT VERIFIED: --no-verify-plugins")
    log.info("wengert serving on %s:%d with %d ops (%s) from plugins [%s]; tls=%s auth=%s metrics=%s "
             "compute_workers=%s blas_threads=%s",
             config.host, port, len(registry), verified, plugins,
             "mutual" if config.tls_client_ca else "on" if config.tls_cert else "off",
             "token" if config.auth_token else "off", config.metrics_port or "off",
             pool.size if pool else "0 (in-thread)", config.blas_threads or "default")
    signals.wait()
    drain(server, status, calls, config.grace_period, signals, pool)
    log.info("wengert stopped")
    logging.shutdown()
    os._exit(0)  # a thread stuck in an op (in-thread mode) must not keep the process alive


def configure_logging(level_name: str) -> None:
    """`level_name` for everything, the request log included; the server's own start-up and
    shutdown lines are shown at any level (tests and operators read the port from them)."""
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        raise SystemExit(f"wengert: unknown log level {level_name!r}")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("wengert.server").setLevel(min(level, logging.INFO))
    logging.getLogger("wengert.server.requests").setLevel(level)


def check_health(args: argparse.Namespace) -> int:
    credentials = None
    if args.tls_cert or args.tls_ca:
        mutual = bool(args.tls_client_ca and args.tls_cert and args.tls_key)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(args.tls_ca or args.tls_cert),
            private_key=_read(args.tls_key) if mutual else None,
            certificate_chain=_read(args.tls_cert) if mutual else None)
    try:
        status = health.probe(args.target, args.timeout, credentials, args.tls_server_name)
    except grpc.RpcError as exc:
        print(f"{args.target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(f"{args.target}: {status}")
    return 0 if status == "SERVING" else 1


def _local_target() -> str:
    return f"127.0.0.1:{os.environ.get('WENGERT_PORT', '50051')}"


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


if __name__ == "__main__":
    sys.exit(main())
