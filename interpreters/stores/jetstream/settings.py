"""The options of a :class:`~interpreters.stores.jetstream.JetStreamEventStore`, as one value.

:class:`StoreSettings` is the single list of the store's options, with their defaults and the
checks they must pass (a bad value is a ``ValueError`` when the record is built, before anything
is sent). ``JetStreamEventStore.connect(url, types=..., stream=...)`` and ``from_client`` take
either a ready record (``settings=``) or its fields as keyword arguments (typed by
:class:`StoreOptions`, which names the same fields).

>>> StoreSettings(stream="ORDERS", subject_prefix="orders").snapshot_bucket
'ORDERS_snapshots'
>>> StoreSettings(replicas=2)
Traceback (most recent call last):
...
ValueError: replicas must be 1, 3 or 5, got 2
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypedDict
from uuid import UUID

from attrs import field, frozen
from attrs.validators import instance_of, optional
from nats.js import api
from uuid_utils.compat import uuid7

from cim import MAX_TOKEN_BYTES, validate_token
from interpreters.natsio.subjects import DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX, all_subjects
from interpreters.security.signing import EventSigner, TrustedSigners
from interpreters.stores.jetstream._stream_config import StreamSettings
from interpreters.stores.protocol import utc_now

__all__ = ("Storage", "StoreOptions", "StoreSettings")

Storage = Literal["file", "memory"]
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_stream(_: object, __: object, stream: str) -> None:
    if not isinstance(stream, str) or not _NAME.match(stream):
        raise ValueError(f"stream name {stream!r} must be letters, digits, '-' or '_'")


def _check_prefix(_: object, __: object, prefix: str) -> None:
    if not isinstance(prefix, str):
        raise TypeError(f"subject_prefix must be a str, got {type(prefix).__name__}")
    for token in prefix.split("."):
        validate_token("subject_prefix token", token)
    if len(prefix.encode()) > MAX_TOKEN_BYTES:  # subjects stay far below 4 KiB
        raise ValueError(f"subject_prefix must be at most {MAX_TOKEN_BYTES} bytes of UTF-8")


def _check_replicas(_: object, __: object, replicas: int) -> None:
    if replicas not in (1, 3, 5) or isinstance(replicas, bool):
        raise ValueError(f"replicas must be 1, 3 or 5, got {replicas!r}")


def _check_storage(_: object, __: object, storage: str) -> None:
    if storage not in ("file", "memory"):
        raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")


def _check_seconds(_: object, attribute: Any, seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds, got {seconds!r}")


def _check_threshold(_: object, __: object, threshold: int | None) -> None:
    if threshold is None:
        return
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(
            f"payload_threshold must be an int >= 1 (bytes) or None, got {threshold!r}"
        )


def _check_region(_: object, attribute: Any, region: str | None) -> None:
    if region is not None and (not isinstance(region, str) or not _NAME.match(region)):
        raise ValueError(
            f"{attribute.name} {region!r} must be a cluster name: letters, digits, '-' or '_'"
        )


def _check_tags(_: object, __: object, tags: tuple[str, ...]) -> None:
    if not isinstance(tags, tuple) or not all(isinstance(tag, str) and tag for tag in tags):
        raise ValueError(f"placement_tags must be a tuple of non-empty str, got {tags!r}")


@frozen
class StoreSettings:
    """Where a JetStream event store keeps its events and how it talks to the server.

    * ``stream``: the JetStream stream (letters, digits, ``-``, ``_``); the KV buckets of the
      correlation index and snapshots are named after it;
    * ``subject_prefix``: first token(s) of every event subject, ``<prefix>.<category>.<id>``;
    * ``replicas`` (1, 3 or 5), ``storage`` (``"file"``/``"memory"``) and ``duplicate_window``
      (seconds in which a retried publish with the same event id is stored once): used when
      the store creates the stream;
    * ``request_timeout``: seconds each round trip to the server may take (past it, an
      operation answers :class:`~cim.StoreUnavailable`);
    * ``clock`` and ``new_id``: the sources of ``recorded_at`` and of event ids (UUIDv7);
    * ``payload_threshold``: bytes of encoded payload (and metadata) above which an event's body
      is stored in the Object Store bucket :attr:`payload_bucket` and the event carries a
      reference and a SHA-256 digest (``None``, the default: never; events over the server's
      ``max_payload`` are then refused with :class:`~cim.EventTooLarge`).
    * ``signer``: an :class:`~interpreters.security.EventSigner` that signs every appended
      event; ``trusted_signers``: the :class:`~interpreters.security.TrustedSigners` whose
      signatures every read checks (an event that fails is a :class:`~cim.CorruptEvent`; see
      ``docs/security.md``).

    Multi-region (a NATS super-cluster, see ``docs/deployment.md``):

    * ``home_region``: the cluster the event stream is placed in (``placement { cluster }``),
      with ``placement_tags`` (server tags it must also match, e.g. ``("ssd",)``);
    * ``region``: the cluster this store runs in (``None``: the home region). A store in
      another region reads everything from its regional copy, the mirror stream
      :attr:`read_stream` (``regional_stream``, default ``<stream>_<REGION>``) placed in its
      region, and sends appends to the home stream (the gateways route them); its correlation
      and snapshot buckets are the copy's, placed in its region;
    * ``read_your_writes``: such a store's appends also wait (up to ``replica_timeout``
      seconds) until the regional copy has the appended position, so its next read sees it;
      past the timeout the append answers :class:`~interpreters.stores.jetstream.ReplicaBehind`
      (stored at home, not yet here).
    """

    stream: str = field(default=DEFAULT_STREAM, validator=_check_stream)
    subject_prefix: str = field(default=DEFAULT_SUBJECT_PREFIX, validator=_check_prefix)
    replicas: int = field(default=1, validator=_check_replicas)
    duplicate_window: float = field(default=120.0, validator=_check_seconds)
    storage: Storage = field(default="file", validator=_check_storage)
    request_timeout: float = field(default=5.0, validator=_check_seconds)
    clock: Callable[[], datetime] = field(default=utc_now, eq=False)
    new_id: Callable[[], UUID] = field(default=uuid7, eq=False)
    payload_threshold: int | None = field(default=None, validator=_check_threshold)
    signer: EventSigner | None = field(default=None, validator=optional(instance_of(EventSigner)))
    trusted_signers: TrustedSigners | None = field(
        default=None, validator=optional(instance_of(TrustedSigners))
    )
    home_region: str | None = field(default=None, validator=_check_region)
    region: str | None = field(default=None, validator=_check_region)
    placement_tags: tuple[str, ...] = field(default=(), validator=_check_tags)
    regional_stream: str | None = field(default=None, validator=optional(_check_stream))
    read_your_writes: bool = field(default=False, validator=instance_of(bool))
    replica_timeout: float = field(default=5.0, validator=_check_seconds)

    def __attrs_post_init__(self) -> None:
        if self.region is not None and self.home_region is None:
            raise ValueError(f"region {self.region!r} needs the home_region of the event stream")

    @property
    def in_home_region(self) -> bool:
        """Whether this store runs where the event stream is (no regional copy to read)."""
        return self.region is None or self.region == self.home_region

    @property
    def read_stream(self) -> str:
        """The stream reads come from: :attr:`stream`, or in another region than the home
        region its regional copy (``regional_stream``, default ``<stream>_<REGION>``).

        >>> StoreSettings(home_region="east", region="west").read_stream
        'CIM_EVENTS_WEST'
        """
        if self.in_home_region:
            return self.stream
        region = str(self.region).upper().replace("-", "_")
        return self.regional_stream or f"{self.stream}_{region}"

    @property
    def bucket_region(self) -> str | None:
        """The cluster the store's KV buckets are placed in: its region (or the home region)."""
        return self.region or self.home_region

    @property
    def correlation_bucket(self) -> str:
        """The KV bucket holding the correlation index: ``<read_stream>_correlation``."""
        return f"{self.read_stream}_correlation"

    @property
    def snapshot_bucket(self) -> str:
        """The KV bucket holding snapshots: ``<read_stream>_snapshots``."""
        return f"{self.read_stream}_snapshots"

    @property
    def payload_bucket(self) -> str:
        """The Object Store bucket holding payloads over the threshold: ``<stream>_payloads``."""
        return f"{self.stream}_payloads"

    def stream_settings(self) -> StreamSettings:
        """What the store asks of its JetStream stream."""
        storage = api.StorageType.FILE if self.storage == "file" else api.StorageType.MEMORY
        return StreamSettings(
            self.stream,
            (all_subjects(self.subject_prefix),),
            self.replicas,
            storage,
            self.duplicate_window,
            self.home_region,
            self.placement_tags,
        )


class StoreOptions(TypedDict, total=False):
    """The fields of :class:`StoreSettings` as keyword arguments (for type checkers)."""

    stream: str
    subject_prefix: str
    replicas: int
    duplicate_window: float
    storage: Storage
    request_timeout: float
    clock: Callable[[], datetime]
    new_id: Callable[[], UUID]
    payload_threshold: int | None
    signer: EventSigner | None
    trusted_signers: TrustedSigners | None
    home_region: str | None
    region: str | None
    placement_tags: tuple[str, ...]
    regional_stream: str | None
    read_your_writes: bool
    replica_timeout: float
