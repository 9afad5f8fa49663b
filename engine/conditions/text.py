"""A condition written on the command line (``engine query "CONDITION"``): parsed and checked
against a folder's definitions, as if it were a segment of that folder."""

from __future__ import annotations

from collections.abc import Sequence

from dsl import ast as A
from dsl.check import check_modules
from dsl.diagnostics import Diagnostic
from dsl.parser import parse_source

QUERY_FILE = "<query>"
QUERY_NAME = "query_condition_"


def parse_condition(text: str, modules: Sequence[A.Module] = (), check: bool = True
                    ) -> tuple[A.Condition | None, list[Diagnostic]]:
    """``(condition, diagnostics)``; the condition is None when there is an error in it.
    ``modules``: the folder's flow files, whose definitions the condition may use."""
    one_line = " ".join(text.split())
    source = f"segment {QUERY_NAME}: {one_line}\n"
    module, diags = parse_source(QUERY_FILE, source)
    if module is None:
        return None, diags
    if check:
        diags = [d for d in check_modules([*modules, module])
                 if d.span.file == QUERY_FILE]
    errors = [d for d in diags if d.is_error]
    if errors:
        return None, errors
    seg = module.items[0]
    assert isinstance(seg, A.Segment)
    return seg.condition, diags


def query_source(text: str) -> str:
    """The text the diagnostics of ``parse_condition`` point into (for rendering them)."""
    return f"segment {QUERY_NAME}: {' '.join(text.split())}\n"
