"""A projection runner as a discoverable NATS micro-service: its health, position and lag.

:class:`RunnerService` runs a :class:`~interpreters.runtime.runner.ProjectionRunner` (give the
supervisor the service instead of the runner) and registers a ``nats.micro`` service next to it,
so ``$SRV.PING``, ``$SRV.INFO`` and ``$SRV.STATS`` (and ``nats micro ls``) list every runner.
Service name ``<projection>-runner``; metadata ``projection``, ``namespace`` and ``kind:
projection-runner``. Endpoints, under ``cim.runner.<namespace>.<projection>``::

    status   request  {} (any body)
             reply    {"ok": true, "projection": "order_summaries", "namespace": "CIM_EVENTS",
                       "health": {"state": "healthy", "reason": "at position 41"},
                       "position": 41, "checkpoint": 41, "lag": 0, "dead_letters": 0,
                       "consumes": {"categories": ["order"], "event_types": null,
                                    "envelopes": false}}
    redrive  request  {"position": 7}
             reply    {"ok": true, "projection": "order_summaries", "position": 7}

``lag`` is the number of stored events the projection consumes (its categories) after its
position, counted by the server (an ephemeral JetStream consumer's pending count,
:func:`events_after`; ``null`` when the store is not a JetStream store). ``redrive`` is
:meth:`~interpreters.runtime.runner.ProjectionRunner.redrive` (what ``cim dead-letters redrive``
sends). :func:`runner_statuses` finds every runner on a NATS system and asks each for its status
(what ``cim runners`` prints). Failures reply ``{"ok": false, "error": {"code": ..., "message": ...}}`` with the
micro-service error headers (``Nats-Service-Error-Code`` numeric: 400 bad request, 404 no such
dead letter, 409 the event failed again, 503 store or dead letters unavailable); ``code`` is one
of ``bad_request``, ``not_dead_lettered``, ``failed_again``, ``unavailable``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio
import nats.errors
import orjson
from anyio.abc import TaskStatus
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.micro import add_service
from nats.micro.request import Request
from returns.result import Failure

from cim import validate_token
from interpreters.natsio.client_internals import record_served, service_endpoints
from interpreters.natsio.describe import describe
from interpreters.natsio.subjects import category_subjects
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.runner import (
    EffectsFailed,
    NotDeadLettered,
    PoisonEvent,
    ProjectionRunner,
    RedriveError,
)
from interpreters.runtime.service import HealthStatus

__all__ = ("RunnerService", "events_after", "runner_statuses", "runner_subject")

_log = logging.getLogger("cim.runner")
_NOT_IN_SERVICE_NAMES = re.compile(r"[^A-Za-z0-9_-]")


def runner_subject(namespace: Namespace | str, projection: str) -> str:
    """The subject root of the runner of *projection* in *namespace*:
    ``cim.runner.<namespace>.<projection>`` (endpoints ``.status`` and ``.redrive``)."""
    validate_token("projection name", projection)
    return f"cim.runner.{namespace}.{projection}"


class RunnerService:
    """Run *runner* and serve its status and re-drive as a NATS micro-service on *nc*.

    *namespace* defaults to the runner's store's (:meth:`Namespace.of
    <interpreters.runtime.namespace.Namespace.of>`); it keeps the subjects of two apps' runners
    with the same projection name apart.
    """

    def __init__(
        self,
        nc: Any,
        runner: ProjectionRunner[Any, Any],
        *,
        namespace: Namespace | None = None,
        version: str = "1.0.0",
    ) -> None:
        self.nc = nc
        self.runner = runner
        self.namespace = namespace if namespace is not None else Namespace.of(runner.store)
        self.subject = runner_subject(self.namespace, runner.name)
        self.version = version
        self._status_stats: Any = None
        self._redrive_stats: Any = None

    @property
    def name(self) -> str:
        """The runner's name (the projection's), for the supervisor's logs and health."""
        return self.runner.name

    @property
    def service_name(self) -> str:
        """The micro-service name: ``<projection>-runner`` (characters other than letters,
        digits, ``-`` and ``_`` become ``_``)."""
        return _NOT_IN_SERVICE_NAMES.sub("_", self.runner.name) + "-runner"

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Register the micro-service, then run the runner until :meth:`stop` (or its failure,
        raised as :class:`~interpreters.runtime.runner.RunnerStopped`)."""
        micro = await add_service(
            self.nc,
            name=self.service_name,
            version=self.version,
            description=f"projection runner {self.runner.name} ({self.namespace})",
            metadata={
                "kind": "projection-runner",
                "projection": self.runner.name,
                "namespace": str(self.namespace),
            },
        )
        try:
            await micro.add_endpoint(
                name="status", subject=f"{self.subject}.status", handler=self._status
            )
            await micro.add_endpoint(
                name="redrive", subject=f"{self.subject}.redrive", handler=self._redrive
            )
            self._status_stats, self._redrive_stats = service_endpoints(micro)
            await self.nc.flush()
            await self.runner.start(task_status=task_status)
        finally:
            with anyio.CancelScope(shield=True):
                await micro.stop()

    async def stop(self) -> None:
        """Stop the runner (and then the micro-service)."""
        await self.runner.stop()

    async def health_check(self) -> HealthStatus:
        """The runner's health."""
        return await self.runner.health_check()

    async def status(self) -> dict[str, Any]:
        """What the ``status`` endpoint replies."""
        runner = self.runner
        health = await runner.health_check()
        letters = runner.dead_letters
        kept: int | None = None
        if letters is not None:
            listed = await letters.letters(runner.name)
            kept = len(listed.unwrap()) if not isinstance(listed, Failure) else None
        consumes = runner.projection.consumes
        return {
            "ok": True,
            "projection": runner.name,
            "namespace": str(self.namespace),
            "health": {"state": health.state.value, "reason": health.reason},
            "position": runner.position,
            "checkpoint": runner.checkpoint,
            "lag": await self._lag(),
            "dead_letters": kept,
            "consumes": {
                "categories": sorted(consumes.categories) if consumes.categories else None,
                "event_types": sorted(
                    t if isinstance(t, str) else t.__qualname__ for t in consumes.event_types
                )
                if consumes.event_types
                else None,
                "envelopes": consumes.envelopes,
            },
        }

    async def _lag(self) -> int | None:
        store = self.runner.store
        stream_name = getattr(store, "stream_name", None)
        prefix = getattr(store, "subject_prefix", None)
        if not isinstance(stream_name, str) or not isinstance(prefix, str):
            return None
        categories = self.runner.projection.consumes.categories
        subjects = (
            [category_subjects(prefix, c) for c in sorted(categories)] if categories else None
        )
        try:
            return await events_after(
                self.nc.jetstream(), stream_name, self.runner.position, subjects
            )
        except (nats.errors.Error, TimeoutError) as exc:
            _log.warning("could not measure the lag of %s: %s", self.runner.name, describe(exc))
            return None

    async def _status(self, request: Request) -> None:
        try:
            body = await self.status()
        except Exception as exc:  # a bug must not take the service down: answer and log it
            _log.exception("status of %s failed", self.runner.name)
            await _error(request, self._status_stats, "500", "internal", describe(exc))
            return
        await request.respond(orjson.dumps(body))

    async def _redrive(self, request: Request) -> None:
        try:
            body = orjson.loads(request.data or b"{}")
        except orjson.JSONDecodeError as exc:
            await _error(
                request, self._redrive_stats, "400", "bad_request", f"request is not JSON: {exc}"
            )
            return
        position = body.get("position") if isinstance(body, dict) else None
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            await _error(
                request, self._redrive_stats, "400", "bad_request", '"position" must be an int >= 1'
            )
            return
        redriven = await self.runner.redrive(position)
        if isinstance(redriven, Failure):
            status, code = _redrive_code(redriven.failure())
            await _error(request, self._redrive_stats, status, code, str(redriven.failure()))
            return
        reply = {"ok": True, "projection": self.runner.name, "position": position}
        await request.respond(orjson.dumps(reply))


async def _error(request: Request, stats: Any, status: str, code: str, message: str) -> None:
    """Answer an error reply and count it in ``$SRV.STATS`` (nats.micro counts raised errors
    only)."""
    body = orjson.dumps({"ok": False, "error": {"code": code, "message": message}})
    await request.respond_error(status, message, data=body)
    record_served(stats, error=f"{code}: {message}")


def _redrive_code(error: RedriveError) -> tuple[str, str]:
    if isinstance(error, NotDeadLettered):
        return "404", "not_dead_lettered"
    if isinstance(error, PoisonEvent | EffectsFailed):
        return "409", "failed_again"
    return "503", "unavailable"


async def events_after(
    js: Any, stream_name: str, position: int, subjects: Sequence[str] | None = None
) -> int:
    """How many messages the JetStream stream *stream_name* holds after *position* on
    *subjects* (filters; ``None``: every subject), counted by the server: the pending count of an
    ephemeral consumer, created and deleted at once. NATS errors propagate (``nats.errors.Error``,
    ``TimeoutError``)."""
    chosen = list(subjects) if subjects else None
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=position + 1,
        ack_policy=AckPolicy.NONE,
        filter_subject=chosen[0] if chosen and len(chosen) == 1 else None,
        filter_subjects=chosen if chosen and len(chosen) > 1 else None,
        inactive_threshold=5.0,
        mem_storage=True,
        num_replicas=1,
    )
    info = await js.add_consumer(stream_name, config=config)
    with anyio.CancelScope(shield=True):
        await js.delete_consumer(stream_name, info.name)
    return int(info.num_pending or 0)


async def runner_statuses(nc: Any, *, wait: float = 0.5) -> tuple[dict[str, Any], ...]:
    """The status of every projection runner that answers ``$SRV.INFO`` within *wait* seconds,
    by namespace and projection (a runner that does not answer its ``status`` is left out)."""
    inbox = nc.new_inbox()
    infos: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        try:
            infos.append(orjson.loads(msg.data))
        except orjson.JSONDecodeError:
            return  # not a micro-service's answer

    subscription = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish("$SRV.INFO", b"", reply=inbox)
        await anyio.sleep(wait)
    finally:
        await subscription.unsubscribe()
    statuses = []
    for info in infos:
        if (info.get("metadata") or {}).get("kind") != "projection-runner":
            continue
        subject = next(
            (e["subject"] for e in info.get("endpoints") or () if e.get("name") == "status"),
            None,
        )
        if subject is None:
            continue
        try:
            reply = await nc.request(subject, b"", timeout=max(wait, 1.0))
        except (nats.errors.Error, TimeoutError):
            continue
        statuses.append(orjson.loads(reply.data))
    return tuple(sorted(statuses, key=lambda s: (s["namespace"], s["projection"])))
