"""Large payloads by reference: event bodies over a threshold live in a JetStream Object Store.

With ``StoreSettings.payload_threshold`` set, an append whose encoded body (payload and metadata
JSON) is larger stores the body as the object ``<event id>`` of the Object Store bucket
``StoreSettings.payload_bucket`` (``<stream>_payloads``) *before* publishing the event, which
then carries the headers ``Cim-Payload-Ref: <bucket>/<event id>`` and ``Cim-Payload-Sha256``
and a small JSON body naming the same. So the event is stored only once its payload is (an
append is still all or nothing: a failed publish leaves at most an unreferenced object, which a
retry with the same event ids reuses; an object already holding the same bytes is not written
again, and one holding other bytes is never overwritten: that event id names another event,
:class:`~interpreters.stores.protocol.ReusedEventIds`). Every read (``read``, ``iter_stream``, ``read_all``, ``subscribe``, hence projections)
fetches the object (its chunks with batch direct gets), checks its SHA-256 against the event's header and decodes the original
body: a missing object is :class:`~cim.PayloadMissing`, other bytes are
:class:`~cim.PayloadDigestMismatch` (inside :class:`~cim.CorruptEvent`, like any unreadable
event).

Tools that read raw messages (``cim check upcasting``) resolve them with
:meth:`PayloadObjects.fetch` too.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
from typing import Any
from uuid import UUID

import nats.js.errors
import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.js.api import ObjectStoreConfig, StorageType

from cim import DecodeError, PayloadDigestMismatch, PayloadMissing, StoreUnavailable
from interpreters.natsio.errors import SERVER_ERRORS, unavailable
from interpreters.stores.jetstream._direct_get import DirectGetError, DirectReader
from interpreters.stores.jetstream._failure import OperationFailed
from interpreters.stores.jetstream.settings import StoreSettings
from interpreters.stores.protocol import ReusedEventIds

__all__ = ("PAYLOAD_DIGEST", "PAYLOAD_REF", "OperationFailed", "PayloadObjects")

PAYLOAD_REF = "Cim-Payload-Ref"
PAYLOAD_DIGEST = "Cim-Payload-Sha256"
_MISSING = (nats.js.errors.NotFoundError,)


@define(eq=False)
class PayloadObjects:
    """Where an event store puts payloads over its threshold, and how it gets them back."""

    nc: Client
    settings: StoreSettings
    js: Any = field(init=False)
    _buckets: dict[str, Any] = field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self.js = self.nc.jetstream()

    def oversized(self, body: bytes) -> bool:
        """Whether *body* goes to the Object Store (the threshold is set and exceeded)."""
        threshold = self.settings.payload_threshold
        return threshold is not None and len(body) > threshold

    async def offload(self, event_id: UUID, body: bytes) -> tuple[dict[str, str], bytes]:
        """Store *body* as the object of *event_id*; the headers and stub body of its event.

        Raises :class:`OperationFailed` when the server cannot be used.
        """
        digest = hashlib.sha256(body)
        bucket, name = self.settings.payload_bucket, str(event_id)
        try:
            objects = await self._bucket(bucket, create=True)
            held = await _held(objects, name, len(body), digest.digest())
            if held is _Held.OTHER:  # never overwrite: an event may already refer to it
                raise ReusedEventIds([event_id], f"the payload object {bucket}/{name}")
            if held is _Held.NOTHING:
                await objects.put(name, body)
        except SERVER_ERRORS as error:
            raise OperationFailed(unavailable(error, f"object store {bucket!r}")) from None
        reference, hexdigest = f"{bucket}/{name}", digest.hexdigest()
        stub = {"payload_ref": {"object": reference, "sha256": hexdigest, "size": len(body)}}
        return {PAYLOAD_REF: reference, PAYLOAD_DIGEST: hexdigest}, orjson.dumps(stub)

    async def fetch(self, headers: dict[str, str]) -> bytes | DecodeError:
        """The body an event with these *headers* refers to, checked against its digest.

        Raises :class:`OperationFailed` when the server cannot be used.
        """
        reference = headers[PAYLOAD_REF]
        expected = headers.get(PAYLOAD_DIGEST, "")
        bucket, _, name = reference.partition("/")
        try:
            objects = await self._bucket(bucket, create=False)
            if objects is None:
                return PayloadMissing(reference, f"there is no object store {bucket!r}")
            info = await objects.get_info(name)
            data = await self._chunks(bucket, info.nuid or "")
        except _MISSING:
            return PayloadMissing(reference, "no such object")
        except DirectGetError as error:
            raise OperationFailed(StoreUnavailable(f"object store {bucket!r}: {error}")) from None
        except SERVER_ERRORS as error:
            raise OperationFailed(unavailable(error, f"object store {bucket!r}")) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            return PayloadDigestMismatch(reference, expected, actual)
        return data

    async def _chunks(self, bucket: str, nuid: str) -> bytes:
        """The object's bytes: its chunks, read with batch direct gets (no consumer)."""
        reader = DirectReader(self.nc, f"OBJ_{bucket}", self.settings.request_timeout)
        await reader.open()
        parts: list[bytes] = []
        try:
            async with contextlib.aclosing(reader.batches(f"$O.{bucket}.C.{nuid}")) as batches:
                async for messages in batches:
                    parts.extend(msg.data or b"" for msg in messages)
        finally:
            await reader.close()
        return b"".join(parts)

    async def _bucket(self, bucket: str, *, create: bool) -> Any:
        found = self._buckets.get(bucket)
        if found is not None:
            return found
        try:
            found = await self.js.object_store(bucket)
        except nats.js.errors.BucketNotFoundError:
            if not create:
                return None
            storage = StorageType.FILE if self.settings.storage == "file" else StorageType.MEMORY
            config = ObjectStoreConfig(
                bucket=bucket, replicas=self.settings.replicas, storage=storage
            )
            found = await self.js.create_object_store(bucket, config=config)
        self._buckets[bucket] = found
        return found


class _Held(enum.Enum):
    NOTHING = "no such object"
    SAME = "the same bytes (a retry)"
    OTHER = "other bytes"


async def _held(objects: Any, name: str, size: int, digest: bytes) -> _Held:
    """What object *name* holds, compared with *size* bytes of SHA-256 *digest*."""
    try:
        info = await objects.get_info(name)
    except _MISSING:
        return _Held.NOTHING
    stored = (info.digest or "").partition("=")[2]
    try:
        same = info.size == size and base64.urlsafe_b64decode(stored) == digest
    except ValueError:
        same = False
    return _Held.SAME if same else _Held.OTHER
