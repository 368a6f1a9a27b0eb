"""What tracing with ops only the server has costs (docs/plugins.md, "Using a server's ops from
a remote client"), against a server whose only extra plugin is the tests' acme-ops, all in this
run:

* one ListOps round trip: the reference (a round trip to this server);
* tracing a chain of 20 `acme_softsign` nodes of 20 different shapes with a new client (one
  ListOps, then one InferTypes per signature) and again with the same client (all cached);
* the same chain with the builtin `tanh`, typed here: what tracing costs without the server.

Run: python bench/bench_server_ops.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wengert as wg  # noqa: E402
from wengert.testing import start_server  # noqa: E402
from timing import median_seconds, row  # noqa: E402

SITE = HERE.parent / "tests" / "plugin_fixtures" / "server_site"
SIGNATURES = 20
X = np.linspace(-1.0, 1.0, SIGNATURES + 1)


def chain(op: str):
    """x -> op(x[:1]) + op(x[:2]) + ...: one node per input length, so SIGNATURES signatures."""
    def f(x):
        return sum(wg.sum(wg.apply(op, x[:n])) for n in range(1, SIGNATURES + 1))
    return f


def main() -> None:
    with start_server(pythonpath=(str(SITE),)) as server:
        with wg.Client(server.target) as client:
            round_trip = median_seconds(client.list_ops)
            warm = median_seconds(lambda: wg.trace(chain("acme_softsign"), X, registry=client.registry))

        def cold() -> None:
            with wg.Client(server.target) as fresh:
                wg.trace(chain("acme_softsign"), X, registry=fresh.registry)

        cold_time = median_seconds(cold, repeat=7)
        local = median_seconds(lambda: wg.trace(chain("tanh"), X))
    print(f"tracing {SIGNATURES} nodes of an op only the server has (ratios: to one ListOps round trip)")
    print(row("ListOps round trip", round_trip, round_trip))
    print(row(f"new client: ListOps + {SIGNATURES} InferTypes + trace", cold_time, round_trip))
    print(row("same client again (all signatures cached)", warm, round_trip))
    print(row("builtin op instead, typed here", local, round_trip))
    print(f"  per new signature: {(cold_time - round_trip - local) / SIGNATURES * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
