"""A condition written on the command line (``engine query "CONDITION"``): parsed and checked
against a folder's definitions, as if it were a segment of that folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dsl import ast as A
from dsl.check import check_modules
from dsl.diagnostics import Diagnostic
from dsl.parser import parse_source

QUERY_FILE = "<query>"
QUERY_NAME = "query_condition_"
PREFIX = f"segment {QUERY_NAME}: "


def parse_condition(text: str, modules: Sequence[A.Module] = (), check: bool = True
                    ) -> tuple[A.Condition | None, list[Diagnostic]]:
    """``(condition, diagnostics)``; the condition is None when there is an error in it.
    ``modules``: the folder's flow files, whose definitions the condition may use."""
    module, diags = parse_source(QUERY_FILE, PREFIX + query_source(text))
    if module is None:
        return None, _shifted(diags)
    if check:
        diags = [d for d in check_modules([*modules, module])
                 if d.span.file == QUERY_FILE]
    errors = [d for d in diags if d.is_error]
    if errors:
        return None, _shifted(errors)
    seg = module.items[0]
    assert isinstance(seg, A.Segment)
    return seg.condition, _shifted(diags)


def _shifted(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics pointing into the condition as the user wrote it (without the wrapper)."""
    def col(c: int) -> int:
        return max(1, c - len(PREFIX))

    return [replace(d, message=d.message.replace(f"segment `{QUERY_NAME}`", "a query"),
                    span=replace(d.span, column=col(d.span.column),
                                 end_column=col(d.span.end_column))) for d in diags]


def query_source(text: str) -> str:
    """The condition on one line: what the diagnostics of ``parse_condition`` point into."""
    return " ".join(text.split()) + "\n"
