"""Interpreters: everything in cim that touches the world, in rooms by job.

=========================== ===========================================================
``interpreters.stores``     the ``EventStore`` protocol, ``InMemoryEventStore``, and
                            ``interpreters.stores.jetstream`` (``JetStreamEventStore``)
``interpreters.runtime``    commands, projection runners, checkpoints, dead letters,
                            executors, read models, supervised services, NATS endpoints
``interpreters.natsio``     NATS plumbing shared by stores, runtime and tools
``interpreters.server``     embedded ``nats-server`` launcher (node, cluster, regions)
``interpreters.security``   operator-mode setups, least-privilege roles, signed events
``interpreters.cli``        the ``cim`` command line (and its inspection helpers)
``interpreters.demo``       ``cim demo``: the order lifecycle, an application of the above
=========================== ===========================================================

The public names of the stores, the runtime and the launcher are re-exported here, loaded on
first use: ``from interpreters import InMemoryEventStore`` does not import NATS.

>>> from interpreters import InMemoryEventStore, CommandHandler
>>> InMemoryEventStore.__module__
'interpreters.stores.memory'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreters._lazy import lazy_exports

if TYPE_CHECKING:
    from interpreters.natsio.connection import (
        CannotConnect,
        ConnectOptions,
        CredentialsRefused,
        connect,
    )
    from interpreters.runtime.checkpoints import (
        CheckpointConflict,
        CheckpointError,
        CheckpointStore,
        CheckpointUnavailable,
        InMemoryCheckpoints,
        KvCheckpoints,
    )
    from interpreters.runtime.command_client import request_command
    from interpreters.runtime.commands import (
        CommandError,
        CommandHandler,
        CommandIdReused,
        ConcurrencyExhausted,
        Handled,
        Overloaded,
    )
    from interpreters.runtime.dead_letters import (
        DeadLetter,
        DeadLetters,
        DeadLetterUnavailable,
        InMemoryDeadLetters,
        KvDeadLetters,
    )
    from interpreters.runtime.endpoints import (
        BadRequest,
        CommandService,
        CommandTypes,
        QueryService,
        ReadModelQueries,
    )
    from interpreters.runtime.executors import (
        CollectingExecutor,
        EffectError,
        EffectFailed,
        Executor,
        FilteringExecutor,
        InMemoryReadModel,
        LoggingExecutor,
        NullExecutor,
        RoutingExecutor,
        UnhandledEffect,
    )
    from interpreters.runtime.namespace import (
        Namespace,
    )
    from interpreters.runtime.nats_executor import (
        NatsExecutor,
    )
    from interpreters.runtime.ownership import OwnedCommandService
    from interpreters.runtime.read_model import (
        Applied,
        InvalidName,
        KvReadModel,
        ReadModelError,
        ReadModelUnavailable,
        Row,
    )
    from interpreters.runtime.rollout import (
        ProjectionVersions,
        RolloutError,
        RolloutFailed,
        RolloutStatus,
        RolloutUnavailable,
        ServingReadModel,
        roll_out,
    )
    from interpreters.runtime.runner import (
        BatchExecutor,
        CheckpointFailed,
        EffectsFailed,
        EventScopedExecutor,
        NotDeadLettered,
        PoisonEvent,
        PoisonPolicy,
        ProjectionLag,
        ProjectionRunner,
        RedriveError,
        ResettableExecutor,
        RunnerError,
        RunnerStopped,
        SkipToDeadLetters,
        StopOnPoison,
        StoreFailed,
    )
    from interpreters.runtime.runner_service import (
        RunnerService,
        runner_statuses,
        runner_subject,
    )
    from interpreters.runtime.service import (
        HealthState,
        HealthStatus,
        Service,
        ServiceFailed,
        Shutdown,
        Supervisor,
        SupervisorHealth,
    )
    from interpreters.runtime.status import SystemStatus, system_status
    from interpreters.security.operator import OperatorSetup
    from interpreters.security.roles import Deployment, RolePermissions
    from interpreters.security.signing import EventSigner, TrustedSigners
    from interpreters.server.launcher import (
        NatsCluster,
        NatsServer,
        ServerStartError,
    )
    from interpreters.server.supercluster import NatsSuperCluster
    from interpreters.stores.jetstream.regions import ReplicaBehind
    from interpreters.stores.jetstream.settings import StoreSettings
    from interpreters.stores.jetstream.store import (
        IncompatibleStream,
        JetStreamEventStore,
        OverlappingSubjects,
        StoreAccessDenied,
    )
    from interpreters.stores.memory import (
        InMemoryEventStore,
    )
    from interpreters.stores.protocol import (
        ChainedAppends,
        EventStore,
        LastPosition,
        Loaded,
        ReusedEventIds,
        Snapshot,
        SnapshotStore,
    )

__all__ = (
    "Applied",
    "BadRequest",
    "CannotConnect",
    "ChainedAppends",
    "LastPosition",
    "CheckpointConflict",
    "CheckpointError",
    "CheckpointFailed",
    "CheckpointStore",
    "CheckpointUnavailable",
    "CollectingExecutor",
    "CommandError",
    "CommandHandler",
    "CommandIdReused",
    "CommandService",
    "CommandTypes",
    "ConcurrencyExhausted",
    "ConnectOptions",
    "CredentialsRefused",
    "DeadLetter",
    "DeadLetterUnavailable",
    "DeadLetters",
    "Deployment",
    "EffectError",
    "EffectFailed",
    "EffectsFailed",
    "BatchExecutor",
    "EventScopedExecutor",
    "EventSigner",
    "EventStore",
    "Executor",
    "FilteringExecutor",
    "Handled",
    "HealthState",
    "HealthStatus",
    "InMemoryCheckpoints",
    "InMemoryDeadLetters",
    "InMemoryEventStore",
    "InMemoryReadModel",
    "IncompatibleStream",
    "InvalidName",
    "JetStreamEventStore",
    "KvCheckpoints",
    "KvDeadLetters",
    "KvReadModel",
    "Loaded",
    "LoggingExecutor",
    "Namespace",
    "NatsCluster",
    "NatsExecutor",
    "NatsServer",
    "NatsSuperCluster",
    "NotDeadLettered",
    "NullExecutor",
    "OperatorSetup",
    "OverlappingSubjects",
    "ReplicaBehind",
    "Overloaded",
    "OwnedCommandService",
    "PoisonEvent",
    "PoisonPolicy",
    "ProjectionLag",
    "ProjectionRunner",
    "ProjectionVersions",
    "QueryService",
    "ReadModelError",
    "ReadModelQueries",
    "ReadModelUnavailable",
    "RedriveError",
    "ResettableExecutor",
    "ReusedEventIds",
    "RolePermissions",
    "RolloutError",
    "RolloutFailed",
    "RolloutStatus",
    "RolloutUnavailable",
    "RoutingExecutor",
    "Row",
    "RunnerError",
    "RunnerService",
    "RunnerStopped",
    "ServerStartError",
    "Service",
    "ServiceFailed",
    "ServingReadModel",
    "Shutdown",
    "SkipToDeadLetters",
    "Snapshot",
    "SnapshotStore",
    "StopOnPoison",
    "StoreAccessDenied",
    "StoreFailed",
    "StoreSettings",
    "Supervisor",
    "SupervisorHealth",
    "TrustedSigners",
    "UnhandledEffect",
    "connect",
    "roll_out",
    "runner_statuses",
    "runner_subject",
    "SystemStatus",
    "system_status",
    "request_command",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RunnerService": "interpreters.runtime.runner_service",
        "runner_statuses": "interpreters.runtime.runner_service",
        "SystemStatus": "interpreters.runtime.status",
        "system_status": "interpreters.runtime.status",
        "runner_subject": "interpreters.runtime.runner_service",
        "NotDeadLettered": "interpreters.runtime.runner",
        "RedriveError": "interpreters.runtime.runner",
        "Namespace": "interpreters.runtime.namespace",
        "EventStore": "interpreters.stores.protocol",
        "Loaded": "interpreters.stores.protocol",
        "ReusedEventIds": "interpreters.stores.protocol",
        "Snapshot": "interpreters.stores.protocol",
        "SnapshotStore": "interpreters.stores.protocol",
        "InMemoryEventStore": "interpreters.stores.memory",
        "IncompatibleStream": "interpreters.stores.jetstream.store",
        "JetStreamEventStore": "interpreters.stores.jetstream.store",
        "OverlappingSubjects": "interpreters.stores.jetstream.store",
        "ReplicaBehind": "interpreters.stores.jetstream.regions",
        "StoreAccessDenied": "interpreters.stores.jetstream.store",
        "StoreSettings": "interpreters.stores.jetstream.settings",
        "CommandError": "interpreters.runtime.commands",
        "CommandHandler": "interpreters.runtime.commands",
        "ConcurrencyExhausted": "interpreters.runtime.commands",
        "Handled": "interpreters.runtime.commands",
        "ProjectionVersions": "interpreters.runtime.rollout",
        "RolloutError": "interpreters.runtime.rollout",
        "RolloutFailed": "interpreters.runtime.rollout",
        "RolloutStatus": "interpreters.runtime.rollout",
        "RolloutUnavailable": "interpreters.runtime.rollout",
        "ServingReadModel": "interpreters.runtime.rollout",
        "roll_out": "interpreters.runtime.rollout",
        "OwnedCommandService": "interpreters.runtime.ownership",
        "CommandIdReused": "interpreters.runtime.commands",
        "Overloaded": "interpreters.runtime.commands",
        "request_command": "interpreters.runtime.command_client",
        "ChainedAppends": "interpreters.stores.protocol",
        "LastPosition": "interpreters.stores.protocol",
        "CheckpointFailed": "interpreters.runtime.runner",
        "EffectsFailed": "interpreters.runtime.runner",
        "BatchExecutor": "interpreters.runtime.runner",
        "EventScopedExecutor": "interpreters.runtime.runner",
        "PoisonEvent": "interpreters.runtime.runner",
        "PoisonPolicy": "interpreters.runtime.runner",
        "ProjectionLag": "interpreters.runtime.runner",
        "ProjectionRunner": "interpreters.runtime.runner",
        "ResettableExecutor": "interpreters.runtime.runner",
        "RunnerError": "interpreters.runtime.runner",
        "RunnerStopped": "interpreters.runtime.runner",
        "SkipToDeadLetters": "interpreters.runtime.runner",
        "StopOnPoison": "interpreters.runtime.runner",
        "StoreFailed": "interpreters.runtime.runner",
        "CheckpointConflict": "interpreters.runtime.checkpoints",
        "CheckpointError": "interpreters.runtime.checkpoints",
        "CheckpointStore": "interpreters.runtime.checkpoints",
        "CheckpointUnavailable": "interpreters.runtime.checkpoints",
        "InMemoryCheckpoints": "interpreters.runtime.checkpoints",
        "KvCheckpoints": "interpreters.runtime.checkpoints",
        "DeadLetter": "interpreters.runtime.dead_letters",
        "DeadLetterUnavailable": "interpreters.runtime.dead_letters",
        "DeadLetters": "interpreters.runtime.dead_letters",
        "InMemoryDeadLetters": "interpreters.runtime.dead_letters",
        "KvDeadLetters": "interpreters.runtime.dead_letters",
        "CollectingExecutor": "interpreters.runtime.executors",
        "EffectError": "interpreters.runtime.executors",
        "EffectFailed": "interpreters.runtime.executors",
        "Executor": "interpreters.runtime.executors",
        "FilteringExecutor": "interpreters.runtime.executors",
        "InMemoryReadModel": "interpreters.runtime.executors",
        "LoggingExecutor": "interpreters.runtime.executors",
        "NullExecutor": "interpreters.runtime.executors",
        "RoutingExecutor": "interpreters.runtime.executors",
        "UnhandledEffect": "interpreters.runtime.executors",
        "NatsExecutor": "interpreters.runtime.nats_executor",
        "Applied": "interpreters.runtime.read_model",
        "InvalidName": "interpreters.runtime.read_model",
        "KvReadModel": "interpreters.runtime.read_model",
        "ReadModelError": "interpreters.runtime.read_model",
        "ReadModelUnavailable": "interpreters.runtime.read_model",
        "Row": "interpreters.runtime.read_model",
        "HealthState": "interpreters.runtime.service",
        "HealthStatus": "interpreters.runtime.service",
        "Service": "interpreters.runtime.service",
        "ServiceFailed": "interpreters.runtime.service",
        "Shutdown": "interpreters.runtime.service",
        "Supervisor": "interpreters.runtime.service",
        "SupervisorHealth": "interpreters.runtime.service",
        "BadRequest": "interpreters.runtime.endpoints",
        "CommandService": "interpreters.runtime.endpoints",
        "CommandTypes": "interpreters.runtime.endpoints",
        "QueryService": "interpreters.runtime.endpoints",
        "ReadModelQueries": "interpreters.runtime.endpoints",
        "NatsCluster": "interpreters.server.launcher",
        "NatsServer": "interpreters.server.launcher",
        "ServerStartError": "interpreters.server.launcher",
        "NatsSuperCluster": "interpreters.server.supercluster",
        "CannotConnect": "interpreters.natsio.connection",
        "ConnectOptions": "interpreters.natsio.connection",
        "connect": "interpreters.natsio.connection",
        "CredentialsRefused": "interpreters.natsio.connection",
        "OperatorSetup": "interpreters.security.operator",
        "Deployment": "interpreters.security.roles",
        "RolePermissions": "interpreters.security.roles",
        "EventSigner": "interpreters.security.signing",
        "TrustedSigners": "interpreters.security.signing",
    },
)
