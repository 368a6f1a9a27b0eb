"""--max-connection-age: the server closes connections when they get old, so a client balancing
round robin over DNS reconnects and re-resolves, and finds pods added by a scale-out."""

from __future__ import annotations

import threading
import time

import grpc

from wengert.testing import start_server
from wengert.v1 import service_pb2


def _states_seen(channel: grpc.Channel, stub, seconds: float) -> list[grpc.ChannelConnectivity]:
    states: list[grpc.ChannelConnectivity] = []
    lock = threading.Lock()

    def record(state):
        with lock:
            states.append(state)
    channel.subscribe(record, try_to_connect=True)
    stub.ListOps(service_pb2.ListOpsRequest(), timeout=10)
    time.sleep(seconds)
    channel.unsubscribe(record)
    with lock:
        return list(states)


def test_old_connections_are_closed_and_calls_keep_working():
    with start_server("--max-connection-age", "0.5") as server:
        with server.channel() as channel:
            stub = server.stub(channel)
            states = _states_seen(channel, stub, 2.5)
            assert grpc.ChannelConnectivity.READY in states
            after_ready = states[states.index(grpc.ChannelConnectivity.READY) + 1:]
            assert grpc.ChannelConnectivity.IDLE in after_ready, states
            assert stub.ListOps(service_pb2.ListOpsRequest(), timeout=10).ops  # reconnects


def test_without_the_flag_connections_stay_open():
    with start_server() as server:
        with server.channel() as channel:
            states = _states_seen(channel, server.stub(channel), 2.5)
            after_ready = states[states.index(grpc.ChannelConnectivity.READY) + 1:]
            assert grpc.ChannelConnectivity.IDLE not in after_ready, states
