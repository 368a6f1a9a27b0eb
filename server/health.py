"""The standard `grpc.health.v1.Health` service, both sides.

Server side: every service starts NOT_SERVING, turns SERVING once the server is up with its
plugins loaded, and goes back to NOT_SERVING for good when draining. Client side: `probe`,
behind `wengert health`, the container HEALTHCHECK (exit 0 iff SERVING).
"""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from wengert.v1 import service_pb2

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["DifferentiationService"].full_name
SERVICES = ("", SERVICE_NAME)  # "" is the whole server, what probes ask by default


def create() -> health.HealthServicer:
    servicer = health.HealthServicer(experimental_non_blocking=True,
                                     experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1))
    for name in SERVICES:
        servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    return servicer


def set_serving(servicer: health.HealthServicer) -> None:
    for name in SERVICES:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)


def probe(target: str, timeout: float, credentials: grpc.ChannelCredentials | None = None,
          server_name: str = "", service: str = "") -> str:
    """The health status name (e.g. "SERVING") of `service` at `target`; RpcError if unreachable."""
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    channel = (grpc.secure_channel(target, credentials, options) if credentials
               else grpc.insecure_channel(target, options))
    with channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
