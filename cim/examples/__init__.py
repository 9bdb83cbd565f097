"""Pure example domains shipped with cim, used by the tests, the benchmarks, the docs and the demo.

Each module is a complete small domain: event records with an ``EventTypes`` registry, commands,
a ``Decider`` and read-model projections. Import the one you want, e.g.
``from cim.examples import bank``.
"""
