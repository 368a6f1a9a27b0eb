"""Prometheus metrics: request counts by method and status, latency, in-flight calls, cache use.

Each server owns its own `CollectorRegistry`, so several servers in one process (tests) do not
collide. They are recorded always and exposed over HTTP only with `--metrics-port`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[str, str], tuple] = {}
        self.requests = Counter("wengert_requests", "RPCs handled, by method and status code",
                                ["method", "code"], registry=self.registry)
        self.latency = Histogram("wengert_request_duration_seconds", "RPC handling time, by method",
                                 ["method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("wengert_requests_in_flight", "RPCs being handled now",
                               registry=self.registry)
        self.cache = Counter("wengert_graph_cache", "Graph cache look-ups, by result",
                             ["result"], registry=self.registry)
        self.queue_length = Gauge("wengert_queue_length", "Requests waiting for a compute worker",
                                  registry=self.registry)
        self.busy_workers = Gauge("wengert_busy_workers", "Compute workers running a request",
                                  registry=self.registry)
        self.restarts = Counter("wengert_worker_restarts", "Compute workers replaced, by cause "
                                "(deadline, cancelled, memory, crash)", ["cause"], registry=self.registry)
        self.queued = Histogram("wengert_queued_seconds", "Time a request waited for a compute worker",
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inline = Counter("wengert_inline_requests", "Requests computed in the gRPC thread, being "
                              "too small to be worth a compute worker's round trip (--inline-work)",
                              registry=self.registry)
        self.computing = Histogram("wengert_computing_seconds", "Time a compute worker spent on a request",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self._cache_results = {True: self.cache.labels("hit"), False: self.cache.labels("miss")}

    def record_cache(self, hit: bool) -> None:
        self._cache_results[hit].inc()  # labels() takes a lock and builds a key: not on every call

    def record_call(self, method: str, code: str, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:  # labels() takes a lock and builds a key: once per method and code
            children = self._children[method, code] = (self.requests.labels(method, code),
                                                         self.latency.labels(method))
        children[0].inc()
        children[1].observe(seconds)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Expose /metrics on `port` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
