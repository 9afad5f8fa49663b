"""Every case under tests/cases/{syntax,check}/ is a flow with a mistake and its expected output.

A case is one `.flow` file, or a folder of them (definitions shared across files); the expected
output sits beside it as `<case>.out`: exactly what `engine check` prints, diagnostics then the
summary line. Template names are checked against tests/cases/templates/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.diagnostics import render_all, summary
from engine.workspace import load
from tests.golden import CASES, assert_golden

TEMPLATES = CASES / "templates"


def cases() -> list[Path]:
    out: list[Path] = []
    for kind in ("syntax", "check"):
        folder = CASES / kind
        out.extend(p for p in sorted(folder.iterdir()) if p.suffix == ".flow" or p.is_dir())
    return out


def run_case(case: Path) -> str:
    root = CASES.parent.parent
    rel = case.relative_to(root)
    import os

    cwd = os.getcwd()
    os.chdir(root)  # paths in the output are relative, as a user would see them
    try:
        ws = load([str(rel)], templates=str(TEMPLATES.relative_to(root)), siblings=False)
    finally:
        os.chdir(cwd)
    diags = ws.reported
    body = render_all(diags, ws.sources)
    return (body + "\n\n" if body else "") + summary(diags, len(ws.targets)) + "\n"


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.stem)
def test_golden(case: Path) -> None:
    out = run_case(case)
    expected = case.with_suffix(".out") if case.is_file() else case.parent / f"{case.name}.out"
    assert_golden(out, expected)
    # every case is a mistake: it must produce at least one finding
    assert "no problems" not in out, f"{case.name} produced no diagnostic"


def test_there_are_enough_distinct_mistakes() -> None:
    codes = set()
    for case in cases():
        out = case.with_suffix(".out") if case.is_file() else case.parent / f"{case.name}.out"
        if out.exists():
            for line in out.read_text(encoding="utf-8").splitlines():
                if "[" in line and "]: " in line and (": error[" in line or ": warning[" in line):
                    codes.add(line.split("[", 1)[1].split("]", 1)[0])
    assert len(cases()) >= 25
    assert len(codes) >= 15, sorted(codes)
