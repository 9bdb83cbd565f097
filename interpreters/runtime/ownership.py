"""One owner per stream across :class:`~interpreters.runtime.endpoints.CommandService`
instances: streams hashed to partitions, partitions leased in a NATS KV bucket.

:class:`OwnedCommandService` is a ``CommandService`` (same subject, same queue group, same
requests and replies) whose instances agree, through compare-and-set on a KV bucket with a TTL,
which instance owns which partition (``partition_of(stream, partitions)``): the instance that
receives a request for a partition it does not own forwards it to the owner
(``<subject>.owner.<partition>``, one plain subscription per owned partition) and relays the
reply. So the commands of one stream meet in one process, where its per-stream writer groups
them, instead of racing other instances.

* Leases: ``p.<n>`` holds the owner's instance id; the owner renews it every third of
  *lease_seconds*; the bucket's TTL removes a lease its owner stopped renewing (a process that
  died), and the others take it at their next round: a dead instance's partitions move within
  about ``lease_seconds + lease_seconds / 3``. Each instance takes at most its fair share
  (partitions / live instances, counted from heartbeat keys ``i.<id>`` with the same TTL) and
  gives up what exceeds it, so a new instance gets partitions too. A stopped instance deletes
  its leases at once.
* Nothing here is a consensus of its own: the KV bucket's compare-and-set decides, and the
  store's optimistic concurrency stays the safety net. While a partition has no owner (or the
  owner died and its subscriptions are gone), the receiving instance serves the request itself;
  two instances that both believe they own a partition for a moment are still correct.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from typing import Any

import anyio
import orjson
from anyio.abc import TaskStatus
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import StreamId
from interpreters.runtime.command_client import decode_reply
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import BadRequest, CommandService, CommandTypes

__all__ = ("OwnedCommandService", "partition_of")

_log = logging.getLogger("cim.ownership")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def partition_of(stream: StreamId | str, partitions: int) -> int:
    """The partition (``0 .. partitions - 1``) of *stream*: CRC-32 of its text, modulo.

    >>> partition_of(StreamId("order", "o-1"), 16) == partition_of("order.o-1", 16)
    True
    """
    return zlib.crc32(str(stream).encode()) % partitions


class OwnedCommandService(CommandService):
    """A :class:`CommandService` that routes each stream to the instance owning its partition.

    *partitions* (default 32) must be the same for every instance of a service; the lease
    bucket is ``<name>-owners`` (created if missing, memory storage, TTL *lease_seconds*).
    *forward_timeout* bounds the wait for the owner's reply (a timeout is answered
    ``store_error``: the command may have been applied; retry with the same ``command_id``).
    """

    def __init__(
        self,
        nc: Any,
        handler: CommandHandler[Any, Any, Any],
        commands: CommandTypes,
        *,
        partitions: int = 32,
        lease_seconds: float = 3.0,
        forward_timeout: float = 5.0,
        **options: Any,
    ) -> None:
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
        if not lease_seconds > 0 or not forward_timeout > 0:
            raise ValueError("lease_seconds and forward_timeout must be > 0 seconds")
        super().__init__(nc, handler, commands, **options)
        self.partitions = partitions
        self.lease_seconds = float(lease_seconds)
        self.forward_timeout = float(forward_timeout)
        self.instance_id = uuid7().hex
        self.bucket = _UNSAFE.sub("_", self.name) + "-owners"
        self._owned: dict[int, tuple[int, Any]] = {}  # partition -> (lease revision, subscription)
        self._kv: Any = None

    @property
    def owned(self) -> frozenset[int]:
        """The partitions this instance owns now."""
        return frozenset(self._owned)

    def owner_subject(self, partition: int) -> str:
        """Where the owner of *partition* takes forwarded requests."""
        return f"{self.subject}.owner.{partition}"

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve (see :meth:`CommandService.start`) while keeping this instance's leases."""
        js = self._nc.jetstream()
        self._kv = await js.create_key_value(
            api.KeyValueConfig(
                bucket=self.bucket, ttl=self.lease_seconds, storage=api.StorageType.MEMORY
            )
        )
        async with anyio.create_task_group() as leases:
            await self._lease_round()
            leases.start_soon(self._keep_leases)
            try:
                await super().start(task_status=task_status)
            finally:
                leases.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._release_all()

    async def _keep_leases(self) -> None:
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                await self._lease_round()
            except Exception as exc:  # NATS trouble: try again next round, keep serving
                _log.warning("lease round of %s failed: %r", self.instance_id, exc)

    async def _lease_round(self) -> None:
        """Renew this instance's leases, take free partitions up to the fair share, give up
        the ones above it."""
        kv = self._kv
        await kv.put(f"i.{self.instance_id}", b"1")
        try:
            keys = await kv.keys()
        except Exception:  # no keys at all
            keys = []
        live = max(1, sum(1 for key in keys if key.startswith("i.")))
        share = math.ceil(self.partitions / live)
        for partition in range(self.partitions):
            key = f"p.{partition}"
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                entry = None
            mine = entry is not None and entry.value == self.instance_id.encode()
            if mine and len(self._owned) > share:
                await self._release(partition, entry.revision)
            elif mine:
                try:
                    revision = await kv.update(key, self.instance_id.encode(), last=entry.revision)
                except KeyWrongLastSequenceError:
                    await self._lose(partition)
                else:
                    self._owned[partition] = (revision, self._owned[partition][1])
            elif partition in self._owned:
                await self._lose(partition)
            elif entry is None and len(self._owned) < share:
                await self._take(partition)

    async def _take(self, partition: int) -> None:
        try:
            revision = await self._kv.create(f"p.{partition}", self.instance_id.encode())
        except KeyWrongLastSequenceError:
            return  # another instance was quicker
        subscription = await self._nc.subscribe(
            self.owner_subject(partition), cb=self._on_forwarded
        )
        self._owned[partition] = (revision, subscription)

    async def _lose(self, partition: int) -> None:
        _, subscription = self._owned.pop(partition, (0, None))
        if subscription is not None:
            await subscription.unsubscribe()

    async def _release(self, partition: int, revision: int) -> None:
        await self._lose(partition)
        try:
            await self._kv.delete(f"p.{partition}", last=revision)
        except Exception as exc:  # it expires anyway
            _log.debug("lease p.%d not released: %r", partition, exc)

    async def _release_all(self) -> None:
        for partition, (revision, _) in list(self._owned.items()):
            try:
                await self._release(partition, revision)
            except Exception as exc:  # the connection may be gone: the leases expire
                _log.debug("lease p.%d not released: %r", partition, exc)
        try:
            await self._kv.delete(f"i.{self.instance_id}")
        except Exception as exc:
            _log.debug("heartbeat not deleted: %r", exc)

    async def _on_forwarded(self, msg: Any) -> None:
        if self._tg is None:  # stopping: the sender serves it itself after no responders
            return
        self._tg.start_soon(self._serve_forwarded, msg)

    async def _serve_forwarded(self, msg: Any) -> None:
        async with self._limiter:
            try:
                reply = await CommandService._reply(self, msg.data)
            except Exception as exc:  # a bug must not take the service down
                _log.exception("forwarded request on %s failed", msg.subject)
                reply = Failure(BadRequest("internal", f"{type(exc).__name__}: {exc}"))
            body = reply.unwrap() if isinstance(reply, Success) else reply.failure().to_json()
            try:
                await msg.respond(body)
            except Exception as exc:  # the forwarding instance may be gone
                _log.warning("could not answer a forwarded request: %s", exc)

    async def _reply(self, data: bytes) -> Result[bytes, BadRequest]:
        try:
            body = orjson.loads(data)
            stream = body["stream"] if isinstance(body, dict) else None
        except (orjson.JSONDecodeError, KeyError):
            stream = None
        if not isinstance(stream, str) or self._kv is None:
            return await super()._reply(data)  # let the command service say what is wrong
        partition = partition_of(stream, self.partitions)
        if partition in self._owned:
            return await super()._reply(data)
        try:
            answer = await self._nc.request(
                self.owner_subject(partition), data, timeout=self.forward_timeout
            )
        except NoRespondersError:  # no owner right now: serve it here (still correct)
            return await super()._reply(data)
        except NatsTimeout:
            return Failure(
                BadRequest(
                    "store_error",
                    f"the owner of partition {partition} did not answer in time: the command "
                    "may have been applied; retry with the same command_id",
                    {"partition": partition},
                )
            )
        relayed = decode_reply(answer.data)  # an error reply stays that error
        return relayed.map(lambda _: answer.data)
