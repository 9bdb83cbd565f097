"""The event store on a TLS + authorization server: who may append, who may only read.

A client without permission to append gets a ``PermissionDenied`` value, within
``REFUSAL_BOUND_S`` (not a hang until a timeout); a reader reads; logins work with passwords and
nkeys; the store refuses to connect without TLS.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from returns.result import Failure, Success

from cim import NewEvent, PermissionDenied, StreamId
from interpreters.natsio import ConnectOptions
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._figures import Record
from tests.faults._harness import TYPES, Tick
from tests.security._auth import NkeyUser, PasswordUser
from tests.security.conftest import Users, login_options

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

REFUSAL_BOUND_S = 2.0
STREAM = StreamId("secure", "s-1")
NO_RETRY: dict[str, Any] = {
    "allow_reconnect": False,
    "max_reconnect_attempts": 0,
    "connect_timeout": 2,
}


def open_store(server: NatsServer, tls: dict[str, Any], user: PasswordUser | NkeyUser) -> Any:
    """``JetStreamEventStore.connect`` over TLS as *user* (awaitable / async context manager)."""
    return JetStreamEventStore.connect(
        ConnectOptions(server.url, nats_options={**tls, **login_options(user)}),
        types=TYPES,
        request_timeout=REFUSAL_BOUND_S,
    )


@pytest.fixture
async def written(secure_server: NatsServer, tls_options: dict[str, Any], users: Users) -> int:
    """The writer appended one more event to ``STREAM``; its version."""
    async with open_store(secure_server, tls_options, users.writer) as store:
        return int((await store.append(STREAM, [NewEvent(Tick(0, 0))])).unwrap().version)


@pytest.mark.parametrize("who", ["writer", "nkey_writer"])
async def test_writers_append_and_read(
    secure_server: NatsServer, tls_options: dict[str, Any], users: Users, who: str, written: int
) -> None:
    """Password and nkey writers append and read their events back."""
    async with open_store(secure_server, tls_options, getattr(users, who)) as store:
        appended = (await store.append(STREAM, [NewEvent(Tick(1, 1))])).unwrap()
        events = (await store.read(STREAM)).unwrap()
    assert appended.version == written + 1
    assert events[-1].payload == Tick(1, 1)


@pytest.mark.parametrize("who", ["reader", "nkey_reader"])
async def test_reader_reads_but_append_is_permission_denied_at_once(
    secure_server: NatsServer,
    tls_options: dict[str, Any],
    users: Users,
    who: str,
    written: int,
    figures: Record,
) -> None:
    """A reader reads; its appends are PermissionDenied values within the bound; it keeps reading."""
    async with open_store(secure_server, tls_options, getattr(users, who)) as store:
        assert (await store.read(STREAM)).unwrap()[-1].version == written
        started = time.monotonic()
        denied = await store.append(STREAM, [NewEvent(Tick(2, 2))])
        seconds = time.monotonic() - started
        again = await store.append(STREAM, [NewEvent(Tick(2, 3))])
        after = await store.read(STREAM)
        version = await store.version(STREAM)
    match denied:
        case Failure(PermissionDenied(operation="publish", subject=subject)):
            assert subject == "events.secure.s-1"
        case _:
            pytest.fail(f"expected PermissionDenied, got {denied}")
    assert isinstance(again, Failure)
    assert isinstance(again.failure(), PermissionDenied)
    assert seconds < REFUSAL_BOUND_S / 2
    assert isinstance(after, Success)
    assert after.unwrap()[-1].version == written
    assert version == Success(written)
    figures("security", **{f"{who}_append_denied_after_ms": round(seconds * 1000, 1)})


async def test_store_without_tls_is_refused(
    secure_server: NatsServer, users: Users, figures: Record
) -> None:
    """Connecting the store without a TLS context trusting the CA fails, within the bound."""
    started = time.monotonic()
    with pytest.raises(Exception) as refused:
        await JetStreamEventStore.connect(
            ConnectOptions(
                secure_server.url, nats_options={**login_options(users.writer), **NO_RETRY}
            ),
            types=TYPES,
        )
    seconds = time.monotonic() - started
    assert seconds < REFUSAL_BOUND_S, repr(refused.value)
    figures("security", store_without_tls_refused_after_ms=round(seconds * 1000, 1))


async def test_read_only_login_can_open_the_store_and_read(
    secure_server: NatsServer, tls_options: dict[str, Any], users: Users, written: int
) -> None:
    """A login with only JetStream read APIs opens the store and reads (no bucket declaration)."""
    async with open_store(secure_server, tls_options, users.reader) as store:
        assert (await store.read(STREAM)).unwrap()[-1].version == written


async def test_login_without_jetstream_rights_is_refused_clearly_and_fast(
    secure_server: NatsServer, tls_options: dict[str, Any], users: Users
) -> None:
    """Opening the store as 'nobody' fails at once with an error that names the permission."""
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)permission"):
        await JetStreamEventStore.connect(
            ConnectOptions(
                secure_server.url, nats_options={**tls_options, **login_options(users.nobody)}
            ),
            types=TYPES,
            request_timeout=3.0,
        )
    assert time.monotonic() - started < REFUSAL_BOUND_S
