"""The server configs themselves, checked with raw clients: TLS required, logins, permissions.

These do not involve cim: they prove that the configs documented in ``docs/deployment.md`` refuse
what they should, so the store-level tests build on a known-good server setup.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import nats
import pytest
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig

from interpreters.server import LOOPBACK, NatsServer
from tests.security._auth import new_nkey_user
from tests.security._certs import TlsFiles, client_context, tls_config
from tests.security.conftest import Users, login_options

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

REFUSAL_BOUND_S = 2.0
NO_RETRY: dict[str, Any] = {
    "allow_reconnect": False,
    "max_reconnect_attempts": 0,
    "connect_timeout": 2,
}


async def refused(connect: Callable[[], Awaitable[Any]]) -> tuple[BaseException, float]:
    """Run *connect*, expect it to fail; the exception and how long refusal took (seconds)."""
    started = time.monotonic()
    try:
        client = await connect()
    except Exception as error:  # the type varies with the refusal path; callers check it
        return error, time.monotonic() - started
    await client.close()
    pytest.fail("the connection was accepted")


def plaintext_handshake(port: int) -> bytes:
    """Speak the NATS protocol without TLS: read INFO, send CONNECT + PING, return all replies."""
    with socket.create_connection((LOOPBACK, port), timeout=3) as sock:
        received = sock.recv(4096)
        sock.sendall(b'CONNECT {"verbose":false,"user":"writer","pass":"w-secret"}\r\nPING\r\n')
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


async def test_plaintext_client_is_refused(secure_server: NatsServer) -> None:
    """A client that does not upgrade to TLS never gets a PONG and is disconnected."""
    started = time.monotonic()
    replies = await anyio.to_thread.run_sync(plaintext_handshake, secure_server.port)
    assert b'"tls_required":true' in replies
    assert b"PONG" not in replies
    assert time.monotonic() - started < 3.5


async def test_client_not_trusting_the_ca_is_refused(
    secure_server: NatsServer, users: Users
) -> None:
    """A TLS client with only the system CAs refuses the server's certificate."""
    error, seconds = await refused(
        lambda: nats.connect(secure_server.url, **login_options(users.writer), **NO_RETRY)
    )
    assert "CERTIFICATE_VERIFY_FAILED" in repr(error) or isinstance(error, NatsError), repr(error)
    assert seconds < REFUSAL_BOUND_S


@pytest.mark.parametrize("login", [{"user": "writer", "password": "wrong"}, {}])
async def test_bad_or_missing_password_is_refused(
    secure_server: NatsServer, tls_options: dict[str, Any], login: dict[str, str]
) -> None:
    """A wrong password, or none at all, is an authorization error, within the bound."""
    error, seconds = await refused(
        lambda: nats.connect(secure_server.url, **tls_options, **login, **NO_RETRY)
    )
    assert "uthorization" in repr(error) or "NoServers" in type(error).__name__, repr(error)
    assert seconds < REFUSAL_BOUND_S


async def test_unknown_nkey_is_refused(
    secure_server: NatsServer, tls_options: dict[str, Any]
) -> None:
    """An nkey the server does not list cannot log in."""
    stranger = new_nkey_user("{}")
    error, seconds = await refused(
        lambda: nats.connect(
            secure_server.url, **tls_options, nkeys_seed_str=stranger.seed, **NO_RETRY
        )
    )
    assert seconds < REFUSAL_BOUND_S, repr(error)


async def test_nkey_writer_can_use_jetstream(
    secure_server: NatsServer, tls_options: dict[str, Any], users: Users
) -> None:
    """An nkey login with writer permissions creates a stream and publishes with acks."""
    client = await nats.connect(
        secure_server.url, **tls_options, **login_options(users.nkey_writer)
    )
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name="RAW_NKEY", subjects=["events.rawnkey.>"]))
        ack = await js.publish("events.rawnkey.a", b"x", timeout=2)
        assert ack.seq >= 1
        await js.delete_stream("RAW_NKEY")
    finally:
        await client.close()


async def test_reader_publish_on_event_subject_is_a_permissions_violation(
    secure_server: NatsServer, tls_options: dict[str, Any], users: Users
) -> None:
    """The server reports the reader's publish on an event subject as a permissions violation."""
    violations: list[str] = []
    reported = anyio.Event()

    async def on_error(error: Exception) -> None:
        violations.append(str(error))
        reported.set()

    client = await nats.connect(
        secure_server.url, **tls_options, **login_options(users.reader), error_cb=on_error
    )
    try:
        await client.publish("events.raw.a", b"x")
        await client.flush()
        with anyio.fail_after(REFUSAL_BOUND_S):
            await reported.wait()
        assert "permissions violation for publish" in violations[0].lower()
        assert client.is_connected
    finally:
        await client.close()


async def test_mutual_tls_requires_a_client_certificate(tls_files: TlsFiles, users: Users) -> None:
    """With ``verify: true`` a client without a certificate is refused, one with it is accepted."""
    async with NatsServer(
        name="mtls", extra_config=tls_config(tls_files, verify_clients=True)
    ) as server:
        without = client_context(tls_files, with_client_cert=False)
        error, seconds = await refused(lambda: nats.connect(server.url, tls=without, **NO_RETRY))
        assert seconds < REFUSAL_BOUND_S, repr(error)
        client = await nats.connect(
            server.url, tls=client_context(tls_files, with_client_cert=True), **NO_RETRY
        )
        assert client.is_connected
        await client.close()
