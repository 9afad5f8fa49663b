"""The checker's passes, one concern per module, each ``(modules, ctx) -> list[Diagnostic]``.

Names and types (E02xx, E03xx): ``definitions`` (names defined twice), ``names`` (unknown or
misused names), ``references`` (steps, goal, templates), ``events`` (kinds and filters),
``types`` (with ``typeinfo``), ``values`` (units, days, times, zones, cron via ``cron``),
``moves`` (``move`` lines for live flows, with ``dsl.labels``).
Structure and logic (E04xx, W01xx): ``structure``, ``shared``, ``logic``, ``overlap``.
``walk`` finds nodes and conditions; ``dsl.symbols`` is the folder's symbol table.
"""
