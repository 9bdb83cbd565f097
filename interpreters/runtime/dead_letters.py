"""Dead letters: events a projection could not process, kept with the reason (never lost silently).

A :class:`DeadLetter` names the projection, the global position of the event, what is known about
it and why it was set aside. :class:`InMemoryDeadLetters` keeps them in a list;
:class:`KvDeadLetters` in a JetStream KV bucket, key ``<projection>.<position>``, JSON value.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import nats.errors
import nats.js.errors
import orjson
from attrs import asdict, define, field, frozen
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe
from interpreters.natsio.kv import bucket_keys, open_or_create_bucket
from interpreters.runtime.namespace import Namespace

__all__ = (
    "DeadLetter",
    "DeadLetterUnavailable",
    "DeadLetters",
    "InMemoryDeadLetters",
    "KvDeadLetters",
)

_KEY_PART = re.compile(r"^[-_=a-zA-Z0-9]+$")


@frozen
class DeadLetter:
    """The event at ``position`` that ``projection`` set aside, and why."""

    projection: str
    position: int
    reason: str
    event_id: str | None = None
    event_type: str | None = None

    def __str__(self) -> str:
        about = f" ({self.event_type} {self.event_id})" if self.event_type else ""
        return f"{self.projection} skipped position {self.position}{about}: {self.reason}"


@frozen
class DeadLetterUnavailable:
    """The dead letter could not be recorded (so the runner must not skip the event)."""

    letter: DeadLetter
    detail: str

    def __str__(self) -> str:
        return f"could not record dead letter [{self.letter}]: {self.detail}"


@runtime_checkable
class DeadLetters(Protocol):
    """Where skipped events are recorded."""

    async def record(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Keep *letter* (recording the same position twice keeps the latest)."""
        ...

    async def letters(
        self, projection: str
    ) -> Result[tuple[DeadLetter, ...], DeadLetterUnavailable]:
        """Every letter of *projection*, by position."""
        ...

    async def remove(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Forget *letter* (after a successful re-drive); forgetting a missing one is fine."""
        ...


@define
class InMemoryDeadLetters:
    """Dead letters in a dict (tests, single process)."""

    _letters: dict[tuple[str, int], DeadLetter] = field(factory=dict)

    async def record(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Keep *letter*."""
        self._letters[letter.projection, letter.position] = letter
        return Success(None)

    async def letters(
        self, projection: str
    ) -> Result[tuple[DeadLetter, ...], DeadLetterUnavailable]:
        """Every letter of *projection*, by position."""
        mine = [v for (name, _), v in self._letters.items() if name == projection]
        return Success(tuple(sorted(mine, key=lambda letter: letter.position)))

    async def remove(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Forget *letter*."""
        self._letters.pop((letter.projection, letter.position), None)
        return Success(None)


@define
class KvDeadLetters:
    """Dead letters in a JetStream KV bucket (created by :meth:`open` if missing)."""

    js: Any
    bucket: str
    kv: Any

    @classmethod
    async def open(cls, js: Any, bucket: Namespace | str, *, replicas: int = 1) -> KvDeadLetters:
        """Open (creating if needed, with *replicas*) the dead letters of *bucket* through *js*.

        *bucket* is an app's :class:`~interpreters.runtime.namespace.Namespace` (its
        ``<name>_dead_letters`` bucket: ``KvDeadLetters.open(js, Namespace.of(store))``) or a
        bucket name (e.g. ``"cim_dead_letters"``, the bucket shared before namespaces).
        In a cluster, give the event stream's replica count so dead letters survive a node loss.
        """
        name = bucket.dead_letters_bucket if isinstance(bucket, Namespace) else bucket
        region = bucket.region if isinstance(bucket, Namespace) else None
        kv = await open_or_create_bucket(js, name, replicas=replicas, placement=region)
        return cls(js, name, kv)

    async def record(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Keep *letter* under ``<projection>.<position>``."""
        if not _KEY_PART.match(letter.projection):
            raise ValueError(f"projection name {letter.projection!r} cannot be part of a KV key")
        try:
            await self.kv.put(
                f"{letter.projection}.{letter.position}", orjson.dumps(asdict(letter))
            )
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(DeadLetterUnavailable(letter, describe(exc)))
        return Success(None)

    async def letters(
        self, projection: str
    ) -> Result[tuple[DeadLetter, ...], DeadLetterUnavailable]:
        """Every letter of *projection*, by position."""
        return await self._listed(projection)

    async def all_letters(self) -> Result[tuple[DeadLetter, ...], DeadLetterUnavailable]:
        """Every letter in the bucket, by projection, then position."""
        return await self._listed(None)

    async def _listed(
        self, projection: str | None
    ) -> Result[tuple[DeadLetter, ...], DeadLetterUnavailable]:
        found: list[DeadLetter] = []
        try:
            for key in await bucket_keys(self.js, self.bucket):
                if projection is None or key.rpartition(".")[0] == projection:
                    try:
                        entry = await self.kv.get(key)
                    except nats.js.errors.KeyNotFoundError:
                        continue  # removed (re-driven)
                    found.append(DeadLetter(**orjson.loads(entry.value)))
        except (nats.errors.Error, TimeoutError) as exc:
            probe = DeadLetter(projection or "*", 0, "listing")
            return Failure(DeadLetterUnavailable(probe, describe(exc)))
        return Success(
            tuple(sorted(found, key=lambda letter: (letter.projection, letter.position)))
        )

    async def remove(self, letter: DeadLetter) -> Result[None, DeadLetterUnavailable]:
        """Forget *letter* (its key is purged, so listing no longer shows it)."""
        try:
            await self.kv.purge(f"{letter.projection}.{letter.position}")
        except (nats.errors.Error, TimeoutError) as exc:
            return Failure(DeadLetterUnavailable(letter, describe(exc)))
        return Success(None)
