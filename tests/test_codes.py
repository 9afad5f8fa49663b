"""Diagnostic codes are stable and documented: every code the checker can emit is registered in
dsl/codes.py, and docs/language.md lists exactly the registered codes."""

from __future__ import annotations

import re
from pathlib import Path

from dsl.codes import CODES, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def emitted_codes() -> set[str]:
    found: set[str] = set()
    for folder in ("dsl", "engine"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "codes.py":
                continue
            found |= set(re.findall(r'"([EW]\d{4})"', path.read_text(encoding="utf-8")))
    return found


def test_every_emitted_code_is_registered() -> None:
    missing = emitted_codes() - set(CODES)
    assert not missing, f"register these in dsl/codes.py: {sorted(missing)}"


def test_every_registered_code_is_emitted_somewhere() -> None:
    unused = set(CODES) - emitted_codes()
    assert not unused, f"codes registered but never emitted: {sorted(unused)}"


def test_docs_list_the_registered_codes() -> None:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    block = text.split("<!-- codes -->", 1)[1].split("<!-- /codes -->", 1)[0].strip()
    assert block == markdown_table(), "regenerate the table from dsl.codes.markdown_table()"
