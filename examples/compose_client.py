"""Differentiate the notes' worked example against a running wengert server; exit 0 iff right.

    f(x1, x2) = ln x1 + x1*x2 - sin x2   at (2, 5):   f = 11.652,  grad f = (5.5, 1.716)

Also asks for the Jacobian of the elementwise g(x) = x * sin x at a vector point (a diagonal
matrix), and optionally checks that ops a plugin provides are listed by the server.

    python examples/compose_client.py --target localhost:50051
    python examples/compose_client.py --target wengert:50051 --wait 30 --expect-ops swish,gelu

It is the one-shot client of deploy/compose.yaml and the smoke test of the container test
(deploy/ci-container-test.sh). It uses only the SDK, as any service next to wengert would.
Set WENGERT_AUTH_TOKEN when the server requires a token.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import wengert as wg

VALUE = np.log(2.0) + 2.0 * 5.0 - np.sin(5.0)  # 11.6521...
GRADIENT = (1 / 2.0 + 5.0, 2.0 - np.cos(5.0))  # (5.5, 1.7163...)


def worked_example(x1, x2):
    """The notes' example, written in the order of its evaluation trace."""
    v1 = wg.log(x1)
    v2 = x1 * x2
    v3 = wg.sin(x2)
    v4 = v1 + v2
    return v4 - v3


def x_sin_x(x):
    return x * wg.sin(x)


class Checks:
    def __init__(self) -> None:
        self.passed: list[bool] = []

    def close(self, label: str, got, want) -> None:
        self.report(label, np.allclose(np.asarray(got, float), np.asarray(want, float),
                                       rtol=1e-9, atol=1e-12), got, want)

    def report(self, label: str, ok: bool, got, want=None) -> None:
        self.passed.append(ok)
        shown = np.round(np.asarray(got, float), 4).tolist() if want is not None else got
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {shown}"
              + ("" if ok or want is None else f" (expected {np.round(np.asarray(want, float), 4).tolist()})"))


def wait_until_serving(client: wg.Client, seconds: float) -> list:
    """The op catalogue, once the server answers (it may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return client.list_ops()
        except (wg.Unavailable, wg.DeadlineExceeded):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run(target: str, expect_ops: list[str], wait: float) -> bool:
    checks = Checks()
    token = os.environ.get("WENGERT_AUTH_TOKEN") or None
    with wg.Client(target, timeout=10, token=token) as client:
        ops = wait_until_serving(client, wait)

        checks.close("f(2, 5)", client.evaluate(worked_example, 2.0, 5.0), VALUE)
        # Reverse mode (one VJP), the default for a gradient.
        checks.close("grad f(2, 5)", client.grad(worked_example, 2.0, 5.0, argnums=(0, 1)), GRADIENT)
        # Forward mode: one JVP per input direction.
        for i, direction in enumerate([(1.0, 0.0), (0.0, 1.0)]):
            _, tangent = client.jvp(worked_example, (2.0, 5.0), direction)
            checks.close(f"df/dx{i + 1} by JVP", tangent, GRADIENT[i])
        # A Jacobian of a vector function: d(x sin x)/dx = diag(sin x + x cos x).
        x = np.array([0.5, 1.0, 2.0])
        checks.close("Jacobian of x sin x at (0.5, 1, 2)", client.jacobian(x_sin_x, x),
                     np.diag(np.sin(x) + x * np.cos(x)))

        by_name = {op.name: op.plugin for op in ops}
        for name in expect_ops:
            checks.report(f"op {name!r} listed", name in by_name,
                          f"from plugin {by_name[name]!r}" if name in by_name else f"not among {sorted(by_name)}")
    return all(checks.passed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", default=os.environ.get("WENGERT_TARGET", "localhost:50051"),
                        help="the server, host:port or dns:///name:port (default $WENGERT_TARGET "
                             "or localhost:50051)")
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds to wait for the server to answer")
    parser.add_argument("--expect-ops", default="",
                        help="comma-separated op names that ListOps must report")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        ok = run(args.target, [o for o in args.expect_ops.split(",") if o], args.wait)
    except wg.WengertError as exc:
        print(f"FAIL {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{'all correct' if ok else 'WRONG RESULTS'} against {args.target} "
          f"({time.monotonic() - started:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
