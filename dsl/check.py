"""The checker: a tuple of passes over all modules of a folder, each returning diagnostics.

Every pass sees the whole folder (definitions are shared across its files) and returns
diagnostics rather than raising, so one run reports everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dsl import ast as A
from dsl.diagnostics import Diagnostic


@dataclass(frozen=True)
class Context:
    """What the passes may know besides the flows: the template names found on disk
    (``None`` when there is no templates folder, and template names are not checked)."""

    templates: frozenset[str] | None = None


Pass = Callable[[Sequence[A.Module], Context], list[Diagnostic]]

PASSES: tuple[Pass, ...] = ()


def check_modules(modules: Sequence[A.Module], ctx: Context | None = None) -> list[Diagnostic]:
    ctx = ctx or Context()
    out: list[Diagnostic] = []
    for p in PASSES:
        out.extend(p(modules, ctx))
    return out
