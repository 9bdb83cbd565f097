"""Namespaces: what a runtime keeps on a server (checkpoints, read models, dead letters) per app.

Several apps can share one NATS system: each has its own store (its own stream and subject
prefix), and everything its runtime keeps lives in KV buckets named after the app's
:class:`Namespace`, so two apps never read or overwrite each other's state. By default the
namespace is the store's stream name (what the JetStream store already names its snapshot and
correlation buckets after: ``<stream>_snapshots``, ``<stream>_correlation``):

====================  =====================================  ==========================
kept                  bucket                                 for stream ``CIM_EVENTS``
====================  =====================================  ==========================
checkpoints           ``<namespace>_checkpoints``            ``CIM_EVENTS_checkpoints``
dead letters          ``<namespace>_dead_letters``           ``CIM_EVENTS_dead_letters``
read-model rows       ``<namespace>_rm_<collection>``        ``CIM_EVENTS_rm_orders``
====================  =====================================  ==========================

>>> Namespace("shop").checkpoints_bucket
'shop_checkpoints'
>>> Namespace.of_stream("CIM_EVENTS").read_model_prefix
'CIM_EVENTS_rm_'

The buckets used before namespaces existed (``cim_checkpoints``, ``cim_dead_letters`` and
collections without a prefix) stay reachable by name: ``KvCheckpoints.open(js,
"cim_checkpoints")``, ``KvDeadLetters.open(js, "cim_dead_letters")``, ``KvReadModel(js)``.
"""

from __future__ import annotations

import re

from attrs import field, frozen

from cim import shown

__all__ = ("Namespace",)

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_NOT_IN_BUCKETS = re.compile(r"[^A-Za-z0-9_-]")
_MAX = 200  # KV bucket names end up in stream names (KV_<bucket>), which stay far below 255


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > _MAX:
        raise ValueError(
            f"a namespace is 1..{_MAX} letters, digits, '-' or '_' (it names KV buckets), "
            f"got {shown(name)}"
        )


@frozen
class Namespace:
    """The name an app's runtime state is kept under on a NATS system."""

    name: str = field()
    region: str | None = field(default=None, kw_only=True)
    """The cluster (super-cluster region) its buckets are created in; ``None``: where the
    server that creates them is. ``Namespace.of`` takes it from the store's ``bucket_region``."""

    @name.validator
    def _valid_name(self, _: object, name: object) -> None:
        _check_name(name)

    @region.validator
    def _valid_region(self, _: object, region: object) -> None:
        if region is not None and (not isinstance(region, str) or not _NAME.match(region)):
            raise ValueError(
                f"a region is a cluster name (letters, digits, '-', '_'), got {region!r}"
            )

    @classmethod
    def of_stream(cls, stream_name: str) -> Namespace:
        """The default namespace of a store on the JetStream stream *stream_name*.

        Characters a bucket name cannot hold become ``_``.
        """
        if not isinstance(stream_name, str) or not stream_name:
            raise ValueError(f"stream_name must be a non-empty str, got {shown(stream_name)}")
        return cls(_NOT_IN_BUCKETS.sub("_", stream_name))

    @classmethod
    def of(cls, store: object) -> Namespace:
        """The namespace of *store*: its ``namespace`` attribute if it has one (a
        :class:`Namespace` or a name), else derived from its ``stream_name``; placed in its
        ``bucket_region`` if it has one (a store in a super-cluster region).

        ``TypeError`` for a store with neither (e.g. an in-memory store: give a
        ``Namespace("...")`` yourself, or keep runtime state in memory too).
        """
        own = getattr(store, "namespace", None)
        if isinstance(own, Namespace):
            return own
        placed = getattr(store, "bucket_region", None)
        region = placed if isinstance(placed, str) else None
        if isinstance(own, str):
            return cls(own, region=region)
        stream_name = getattr(store, "stream_name", None)
        if isinstance(stream_name, str):
            return cls(cls.of_stream(stream_name).name, region=region)
        raise TypeError(
            f"{type(store).__name__} has no namespace and no stream_name to derive one from; "
            'name one: Namespace("my_app")'
        )

    @property
    def checkpoints_bucket(self) -> str:
        """The KV bucket of projection checkpoints: ``<name>_checkpoints``."""
        return f"{self.name}_checkpoints"

    @property
    def dead_letters_bucket(self) -> str:
        """The KV bucket of dead letters: ``<name>_dead_letters``."""
        return f"{self.name}_dead_letters"

    @property
    def read_model_prefix(self) -> str:
        """The prefix of read-model buckets: collection ``c`` is bucket ``<name>_rm_c``."""
        return f"{self.name}_rm_"

    def __str__(self) -> str:
        return self.name
