"""Work several passes need (the node index, the symbol table, the reasoner) done once per run.

The passes are independent functions of the modules; this only avoids recomputing the same
derived structures for the same modules (a folder of 1,000 flows made that a third of a check).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from dsl import ast as A
from dsl.logic.facts import Facts
from dsl.logic.solve import Reasoner

T = TypeVar("T")

# (ids of the modules, the modules themselves so the ids stay theirs, the cached values)
_last: tuple[tuple[int, ...], Sequence[A.Module], dict[str, object]] | None = None


def per_folder(modules: Sequence[A.Module], name: str,
               build: Callable[[Sequence[A.Module]], T]) -> T:
    global _last
    key = tuple(id(m) for m in modules)
    if _last is None or _last[0] != key:
        _last = (key, tuple(modules), {})
    cache = _last[2]
    if name not in cache:
        cache[name] = build(modules)
    return cache[name]  # type: ignore[return-value]


def shared_reasoner(modules: Sequence[A.Module]) -> Reasoner:
    """One never-true reasoner (and its caches) for every pass of a run."""
    return per_folder(modules, "reasoner", lambda ms: Reasoner(Facts.of(ms)))
