"""The checker: a tuple of passes over all modules of a folder, each returning diagnostics.

Every pass sees the whole folder (definitions are shared across its files) and returns
diagnostics rather than raising, so one run reports everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dsl import ast as A
from dsl.checks.definitions import check_definitions
from dsl.checks.events import check_events
from dsl.checks.logic import check_logic
from dsl.checks.moves import check_moves
from dsl.checks.names import check_names
from dsl.checks.overlap import check_overlap
from dsl.checks.references import check_references
from dsl.checks.shared import check_shared
from dsl.checks.structure import check_structure
from dsl.checks.types import check_types
from dsl.checks.values import check_values
from dsl.diagnostics import Diagnostic


@dataclass(frozen=True)
class Context:
    """What the passes may know besides the flows: the template names found on disk
    (``None`` when there is no templates folder, and template names are not checked)."""

    templates: frozenset[str] | None = None


Pass = Callable[[Sequence[A.Module], Context], list[Diagnostic]]

PASSES: tuple[Pass, ...] = (
    check_structure, check_shared, check_logic, check_overlap,
    check_definitions, check_names, check_references, check_events, check_types, check_values,
    check_moves,
)


def check_modules(modules: Sequence[A.Module], ctx: Context | None = None) -> list[Diagnostic]:
    ctx = ctx or Context()
    out: list[Diagnostic] = []
    for p in PASSES:
        out.extend(p(modules, ctx))
    return out
