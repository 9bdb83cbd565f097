"""Provisioning: make sure the stream and the two KV buckets exist with the settings the store
needs, and turn the server's permission violations into fast failures.

Connecting only looks at a stream and buckets that are already right (a read-only login can open
the store); what is missing is created and what is out of date updated, if the login may. A
refused JetStream API call is :class:`StoreAccessDenied` at once (not a timeout); a stream whose
settings would lose or misplace events is :class:`IncompatibleStream`; subjects another stream
already captures are :class:`OverlappingSubjects`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from attrs import define, field
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError

from interpreters.natsio.client_internals import (
    ErrorCallback,
    error_callback,
    set_error_callback,
)
from interpreters.natsio.kv import create_bucket
from interpreters.stores.jetstream._acks import AckInbox
from interpreters.stores.jetstream._stream_config import (
    IncompatibleStream,
    OverlappingSubjects,
    StreamSettings,
    desired_config,
    needs_update,
    problems,
)
from interpreters.stores.jetstream.regions import mirror_config
from interpreters.stores.jetstream.settings import StoreSettings

__all__ = (
    "IncompatibleStream",
    "OverlappingSubjects",
    "PermissionWatch",
    "StoreAccessDenied",
    "ensure_stream",
)

SUBJECTS_OVERLAP = 10065  # JetStream API error: subjects overlap with an existing stream
_QUOTED = re.compile(r'"([^"]+)"')
_T = TypeVar("_T")

Refusal = Callable[[str | None, str], None]


class StoreAccessDenied(PermissionError):
    """The NATS login may not use a JetStream API the store needs to open (a configuration error).

    Raised by ``JetStreamEventStore.connect`` / ``from_client`` at once, instead of a timeout:
    ``subject`` is the refused subject (when the server names it; nats-py lower-cases the
    server's error text), ``detail`` that text.
    """

    def __init__(self, purpose: str, subject: str | None, detail: str) -> None:
        self.subject = subject
        self.detail = detail
        target = f"publish to {subject!r}" if subject else "use a subject it needs"
        super().__init__(
            f"{purpose}: permission denied, this login may not {target} ({detail}); "
            "grant it the JetStream API subjects listed in docs/deployment.md"
        )


@define(eq=False)
class PermissionWatch:
    """Turn the server's asynchronous permission violations into fast failures.

    nats-py reports ``-ERR 'Permissions Violation for Publish to "x"'`` only to the error
    callback, and a request would wait for its timeout; this fails the store's pending appends
    at once, and tells the listeners (the connect phase) about it. Installed before the store
    makes its first request; :meth:`uninstall` restores the client's own callback.
    """

    nc: Client
    acks: AckInbox
    listeners: list[Refusal] = field(factory=list)
    _original: ErrorCallback | None = field(default=None, init=False)

    def install(self) -> None:
        """Wrap the client's error callback."""
        self._original = error_callback(self.nc)
        set_error_callback(self.nc, self._on_error)

    def uninstall(self) -> None:
        """Give the client its own error callback back (if nobody wrapped ours since)."""
        if self._original is not None and error_callback(self.nc) == self._on_error:
            set_error_callback(self.nc, self._original)
        self.listeners.clear()

    async def _on_error(self, error: Exception) -> None:
        text = str(error)
        if "permissions violation" in text.lower():
            quoted = _QUOTED.search(text)
            subject = quoted.group(1) if quoted else None
            self.acks.deny(subject, text)
            for listener in list(self.listeners):
                listener(subject, text)
        if self._original is not None:
            await self._original(error)

    async def admin(self, call: Awaitable[_T], purpose: str) -> _T:
        """Await a JetStream API *call*, failing at once if the server refuses its subject."""
        refusals: list[tuple[str | None, str]] = []
        with anyio.CancelScope() as scope:

            def refused(subject: str | None, detail: str) -> None:
                if subject is None or subject.startswith("$js.") or "subscription" in detail:
                    refusals.append((subject, detail))
                    scope.cancel()

            self.listeners.append(refused)
            try:
                return await call
            finally:
                if refused in self.listeners:  # closing the store clears them meanwhile
                    self.listeners.remove(refused)
        raise StoreAccessDenied(purpose, *refusals[0])


async def ensure_stream(nc: Client, watch: PermissionWatch, settings: StoreSettings) -> None:
    """Create or update the stream and the two KV buckets; only look when they are right.

    In another region than the home region, the stream read is the regional copy (a mirror,
    :mod:`.regions`), and the buckets are placed in the store's region.

    A login that may only read opens the store when everything exists (it needs no create
    or update rights then); a refusal is :class:`StoreAccessDenied` at once.
    """
    js = nc.jetstream(timeout=settings.request_timeout)
    wanted = settings.stream_settings()
    if settings.in_home_region:
        await _ensure_events(watch, js, wanted)
    else:
        await _ensure_copy(watch, js, settings, wanted)
    for bucket in (settings.correlation_bucket, settings.snapshot_bucket):
        bucket_stream = f"KV_{bucket}"
        info = await _stream_info(watch, js, bucket_stream)
        if info is None:
            await watch.admin(
                create_bucket(
                    js,
                    api.KeyValueConfig(
                        bucket=bucket,
                        history=1,
                        storage=wanted.storage,
                        replicas=wanted.replicas,
                        direct=True,
                    ),
                    settings.bucket_region,
                ),
                f"KV bucket {bucket!r} does not exist and cannot be created",
            )
        elif (info.config.num_replicas or 1) != wanted.replicas or not info.config.allow_direct:
            config = dataclasses.replace(
                info.config, num_replicas=wanted.replicas, allow_direct=True
            )
            await _update(watch, js, config, bucket_stream)


async def _ensure_copy(
    watch: PermissionWatch, js: JetStreamContext, settings: StoreSettings, wanted: StreamSettings
) -> None:
    """The regional copy of a store in another region: when it exists (mirroring the event
    stream) nothing is asked of the home region; else the event stream, then the copy."""
    name = settings.read_stream
    info = await _stream_info(watch, js, name)
    if info is None:
        await _ensure_events(watch, js, wanted)
        await watch.admin(
            js.add_stream(mirror_config(settings)),
            f"regional copy {name!r} does not exist and cannot be created",
        )
    elif info.config.mirror is None or info.config.mirror.name != settings.stream:
        raise IncompatibleStream(name, [f"it is not a mirror of {settings.stream!r}"])


async def _ensure_events(
    watch: PermissionWatch, js: JetStreamContext, wanted: StreamSettings
) -> None:
    """The event stream, created or brought up to date."""
    name = wanted.name
    info = await _stream_info(watch, js, name)
    if info is None:
        try:
            await watch.admin(
                js.add_stream(desired_config(wanted)),
                f"stream {name!r} does not exist and cannot be created",
            )
        except BadRequestError as error:
            if error.err_code != SUBJECTS_OVERLAP:
                raise
            subjects = wanted.subjects[0]
            other = None
            with contextlib.suppress(NatsError):
                other = await js.find_stream_name_by_subject(subjects)
            raise OverlappingSubjects(name, subjects, other) from None
    else:
        found = problems(wanted, info.config)
        if found:
            raise IncompatibleStream(name, found)
        if needs_update(wanted, info.config):
            await _update(watch, js, desired_config(wanted), name)


async def _stream_info(
    watch: PermissionWatch, js: JetStreamContext, name: str
) -> api.StreamInfo | None:
    try:
        return await watch.admin(js.stream_info(name), f"cannot look up stream {name!r}")
    except NotFoundError:
        return None


async def _update(
    watch: PermissionWatch, js: JetStreamContext, config: api.StreamConfig, name: str
) -> None:
    try:
        await watch.admin(js.update_stream(config), f"stream {name!r} needs an update")
    except NatsError as error:
        raise IncompatibleStream(name, [f"update refused: {error}"]) from None
