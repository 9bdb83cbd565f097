"""Least-privilege NATS permissions per role of a cim deployment, generated from its names.

A cim system has five kinds of client, and each gets only the subjects its job needs
(:class:`Deployment` names the stream, subject prefix and buckets; the defaults are the
store's and runtime's):

* :meth:`Deployment.command_service`: appends to its categories' subjects, reads the event
  stream, reads and writes the correlation and snapshot buckets;
* :meth:`Deployment.projection`: reads the event stream, writes only its own read-model
  collections and its own checkpoint key (and dead letters under its name); it cannot append;
* :meth:`Deployment.query_service`: reads the read-model collections it serves;
* :meth:`Deployment.auditor`: reads the event stream, writes nothing;
* :meth:`Deployment.admin`: everything (creates streams and buckets, changes their config).

No role but ``admin`` may delete, purge or update a stream or delete a message: the JetStream
API subjects for those are denied explicitly (see ``docs/security.md``, "immutable").
:meth:`RolePermissions.config_block` renders a role as a nats-server ``permissions`` block (for
``authorization { users = [...] }``); :class:`~interpreters.security.operator.OperatorSetup`
puts it in a user JWT.

>>> roles = Deployment()
>>> "events.order.>" in roles.command_service(["order"]).publish_allow
True
>>> "events.>" in roles.projection("revenue", ["revenue"]).publish_deny
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from attrs import frozen

__all__ = ("ADMIN_ONLY", "Deployment", "RolePermissions")

ADMIN_ONLY = (
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.RESTORE.>",
    "$JS.API.STREAM.SNAPSHOT.>",
    "$JS.API.ACCOUNT.PURGE.>",
)
"""JetStream API subjects denied to every role but ``admin``: stream config changes, deletes
and purges (what keeps the event log append-only). Creating a stream is not listed: no role
but ``admin`` is allowed to create any but its own KV buckets."""

_INBOX = "_INBOX.>"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@frozen
class RolePermissions:
    """The subjects a role may publish and subscribe to (NATS allow/deny lists)."""

    publish_allow: tuple[str, ...] = ()
    publish_deny: tuple[str, ...] = ()
    subscribe_allow: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()

    def config_block(self) -> str:
        """A nats-server ``permissions`` block with these lists.

        >>> print(RolePermissions(("a.>",), (), ("_INBOX.>",)).config_block())
        { publish: { allow: ["a.>"] }, subscribe: { allow: ["_INBOX.>"] } }
        """

        def part(allow: tuple[str, ...], deny: tuple[str, ...]) -> str:
            items = []
            if allow:
                items.append("allow: [" + ", ".join(f'"{s}"' for s in allow) + "]")
            if deny:
                items.append("deny: [" + ", ".join(f'"{s}"' for s in deny) + "]")
            return "{ " + ", ".join(items) + " }"

        return (
            f"{{ publish: {part(self.publish_allow, self.publish_deny)}, "
            f"subscribe: {part(self.subscribe_allow, self.subscribe_deny)} }}"
        )


def _read_stream(stream: str) -> tuple[str, ...]:
    """The JetStream API a client uses to read *stream*: info, direct gets, ordered consumers."""
    return (
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.FC.{stream}.>",
        f"$JS.ACK.{stream}.>",
    )


@frozen
class Deployment:
    """The names a cim deployment's permissions are made of (defaults: the library's).

    ``stream`` and ``subject_prefix`` are the event store's; ``correlation_bucket`` and
    ``snapshot_bucket`` its KV buckets (default ``<stream>_correlation``/``_snapshots``);
    ``namespace`` the runtime's (default: the stream name, as ``Namespace.of_stream``), which
    names the checkpoint and dead-letter buckets (``<namespace>_checkpoints``,
    ``<namespace>_dead_letters``) and the read-model bucket prefix (``<namespace>_rm_``: a
    collection ``c`` is bucket ``<prefix>c``); each can be given instead (for example the
    buckets shared before namespaces: ``checkpoint_bucket="cim_checkpoints"``,
    ``dead_letter_bucket="cim_dead_letters"``, ``read_model_prefix=""``).

    >>> Deployment().checkpoints
    'CIM_EVENTS_checkpoints'
    >>> Deployment(namespace="shop").models
    'shop_rm_'
    """

    stream: str = "CIM_EVENTS"
    subject_prefix: str = "events"
    correlation_bucket: str | None = None
    snapshot_bucket: str | None = None
    namespace: str | None = None
    checkpoint_bucket: str | None = None
    dead_letter_bucket: str | None = None
    read_model_prefix: str | None = None

    @property
    def buckets(self) -> tuple[str, str]:
        """The store's correlation and snapshot buckets."""
        return (
            self.correlation_bucket or f"{self.stream}_correlation",
            self.snapshot_bucket or f"{self.stream}_snapshots",
        )

    @property
    def runtime_namespace(self) -> str:
        """The runtime's namespace: ``namespace``, else the stream name made bucket-safe."""
        return self.namespace or re.sub(r"[^A-Za-z0-9_-]", "_", self.stream)

    @property
    def checkpoints(self) -> str:
        """The checkpoint bucket."""
        return self.checkpoint_bucket or f"{self.runtime_namespace}_checkpoints"

    @property
    def dead_letters(self) -> str:
        """The dead-letter bucket."""
        return self.dead_letter_bucket or f"{self.runtime_namespace}_dead_letters"

    @property
    def models(self) -> str:
        """The prefix of read-model bucket names."""
        if self.read_model_prefix is not None:
            return self.read_model_prefix
        return f"{self.runtime_namespace}_rm_"

    def _reader(self) -> tuple[str, ...]:
        """Read the event stream (and look at the store's buckets, which opening it checks)."""
        return (
            "$JS.API.INFO",
            "$JS.API.STREAM.NAMES",
            *_read_stream(self.stream),
            *(f"$JS.API.STREAM.INFO.KV_{bucket}" for bucket in self.buckets),
        )

    def _bucket(self, bucket: str, keys: str = ">") -> tuple[str, ...]:
        """Read *bucket*, write its keys matching *keys*, create it if missing."""
        return (
            f"$JS.API.STREAM.CREATE.KV_{bucket}",
            *_read_stream(f"KV_{bucket}"),
            f"$KV.{bucket}.{keys}",
        )

    def _role(
        self, allow: Iterable[str], deny: Iterable[str] = (), endpoints: Iterable[str] = ()
    ) -> RolePermissions:
        denied = _unique([*deny, *ADMIN_ONLY])
        served = tuple(endpoints)
        if served:  # a NATS service: its request subjects, discovery, and replies to callers
            return RolePermissions(
                _unique([*allow, _INBOX]), denied, _unique([_INBOX, *served, "$SRV.>"]), ()
            )
        return RolePermissions(_unique(allow), denied, (_INBOX,), ())

    def command_service(
        self, categories: Iterable[str], endpoints: Iterable[str] = ()
    ) -> RolePermissions:
        """Append to *categories*, read the events, use the correlation and snapshot buckets;
        serve requests on the *endpoints* subjects (a ``CommandService``), if any."""
        appends = [f"{self.subject_prefix}.{category}.>" for category in categories]
        kv = [subject for bucket in self.buckets for subject in self._bucket(bucket)]
        return self._role([*appends, *self._reader(), *kv], (), endpoints)

    def projection(self, name: str, collections: Iterable[str]) -> RolePermissions:
        """Read the events; write only read-model *collections*, checkpoint key *name*, and dead
        letters of *name*; never append."""
        writes = [
            *(s for c in collections for s in self._bucket(self.models + c)),
            *self._bucket(self.checkpoints, name),
            *self._bucket(self.dead_letters, f"{name}.>"),
        ]
        return self._role([*self._reader(), *writes], [f"{self.subject_prefix}.>"])

    def query_service(
        self, collections: Iterable[str], endpoints: Iterable[str] = ()
    ) -> RolePermissions:
        """Read the read-model *collections*; write nothing; serve requests on the *endpoints*
        subjects (a ``QueryService``), if any."""
        reads = [s for c in collections for s in _read_stream(f"KV_{self.models}{c}")]
        return self._role(
            ["$JS.API.INFO", *reads], [f"{self.subject_prefix}.>", "$KV.>"], endpoints
        )

    def caller(self, endpoints: Iterable[str]) -> RolePermissions:
        """Send requests to the services on the *endpoints* subjects, and nothing else."""
        return self._role(endpoints)

    def auditor(self) -> RolePermissions:
        """Read the event stream; write nothing."""
        return self._role(self._reader(), [f"{self.subject_prefix}.>", "$KV.>"])

    def admin(self) -> RolePermissions:
        """Everything."""
        return RolePermissions((">",), (), (">",), ())
