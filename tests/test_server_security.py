"""Transport security and authentication: TLS, mutual TLS and a bearer token, each against a
real server, with certificates made on the spot (a CA, a server and a client certificate)."""

from __future__ import annotations

import datetime
import ipaddress
import re
import urllib.request

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from wengert.testing import cli, free_port, start_server
from wengert.v1 import service_pb2 as pb
from wengert.v1 import service_pb2_grpc

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _certificate(name: str, key, issuer_name, issuer_key, *, ca: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """Paths of ca.pem, server.pem/server.key and client.pem/client.key (both signed by the CA)."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("wengert test CA", ca_key, None, None, ca=True)
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(who, key, ca.subject, ca_key)
        (folder / f"{who}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{who}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        paths[who], paths[f"{who}_key"] = folder / f"{who}.pem", folder / f"{who}.key"
    return {name: str(path) for name, path in paths.items()}


def credentials(pki, client: bool = False) -> grpc.ChannelCredentials:
    read = lambda name: open(pki[name], "rb").read()  # noqa: E731
    if client:
        return grpc.ssl_channel_credentials(read("ca"), read("client_key"), read("client"))
    return grpc.ssl_channel_credentials(read("ca"))


def answers(channel: grpc.Channel, metadata=()) -> bool | str:
    """True when ListOps succeeds, else the status code's name."""
    try:
        return bool(service_pb2_grpc.DifferentiationServiceStub(channel).ListOps(
            pb.ListOpsRequest(), timeout=5, metadata=metadata).ops)
    except grpc.RpcError as exc:
        return exc.code().name


def test_tls_serves_encrypted_only(pki):
    flags = ("--tls-cert", pki["server"], "--tls-key", pki["server_key"])
    with start_server(*flags, credentials=credentials(pki)) as server:
        with server.channel() as channel:
            assert answers(channel) is True
        with grpc.insecure_channel(server.target) as plain:
            assert answers(plain) == "UNAVAILABLE"
        probe = cli("health", "--target", server.target, env={"WENGERT_TLS_CA": pki["ca"]})
        assert probe.returncode == 0, probe.stderr


def test_mutual_tls_requires_a_client_certificate(pki):
    env = {"WENGERT_TLS_CERT": pki["server"], "WENGERT_TLS_KEY": pki["server_key"],
           "WENGERT_TLS_CLIENT_CA": pki["ca"]}  # configured the container's way
    with start_server(env=env, credentials=credentials(pki, client=True)) as server:
        with server.channel() as channel:
            assert answers(channel) is True
        with grpc.secure_channel(server.target, credentials(pki)) as anonymous:
            assert answers(anonymous) == "UNAVAILABLE"
        assert "tls=mutual" in server.log()
        probe = cli("health", "--target", server.target, env={**env, "WENGERT_TLS_CA": pki["ca"]})
        assert probe.returncode == 0, probe.stderr


def test_bearer_token_guards_everything_but_health_and_refusals_are_counted():
    port = free_port()
    env = {"WENGERT_AUTH_TOKEN": "s3cret", "WENGERT_METRICS_PORT": str(port), "WENGERT_METRICS_HOST": "127.0.0.1"}
    with start_server(env=env) as server, server.channel() as channel:
        assert answers(channel) == "UNAUTHENTICATED"
        assert answers(channel, [("authorization", "Bearer wrong")]) == "UNAUTHENTICATED"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert re.search(r'wengert_requests_total\{code="UNAUTHENTICATED",method="\w+"\} 2\.0', metrics)
        assert answers(channel, [("authorization", "Bearer s3cret")]) is True
        assert server.health(channel) == "SERVING"
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "auth=token" in server.log() and "s3cret" not in server.log()
