"""Interpreters: everything in cim that touches the world, one module per idea.

Import what you need from its module (importing this package loads nothing else):

========================== ==============================================================
``interpreters.store``     the ``EventStore`` protocol (and snapshots)
``interpreters.memory``    ``InMemoryEventStore``: the whole contract, no server
``interpreters.jetstream`` ``JetStreamEventStore``: streams, KV snapshots, correlation index
``interpreters.executors`` executors that run effects: null, collecting, logging, routing...
``interpreters.nats_executor`` effects on NATS: publish, KV read models, emitted events
``interpreters.commands``  ``CommandHandler``: load, decide, append, retry on conflict
``interpreters.runner``    ``ProjectionRunner``: catch-up, live, checkpoints, dead letters
``interpreters.service``   ``Service`` protocol and ``Supervisor`` (structured shutdown)
``interpreters.endpoints`` command and query endpoints as NATS micro-services
``interpreters.server``    embedded ``nats-server`` launcher (single node or cluster)
``interpreters.cli``       the ``cim`` command line
========================== ==============================================================
"""
