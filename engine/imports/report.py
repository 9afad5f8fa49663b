"""What an import tells its user: counts, every rejected row, and the rejected-rows file.

Problems are spooled to a temporary file as they are found (JSON lines), so a file with a million
bad rows is reported in full without holding them in memory. The rejected-rows file
(``<input>.rejected.csv``, UTF-8 with a BOM so Excel opens Japanese text) has the file's own
columns plus ``rejected_row`` and ``rejected_reason``, every cell neutralised against formula
injection (:func:`csv_safe`, RELIABILITY 3.4), and is written under a temporary name and renamed
when the import ends, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.imports.validate import Problem

FORMULA_START = frozenset("=+-@\t\r\0＝＋－＠")
SHOWN_UNKNOWN_ROWS = 20


def csv_safe(cell: str) -> str:
    """``=cmd|' /C calc'!A0`` -> ``'=cmd|' /C calc'!A0`` (OWASP ASVS 1.2.10, full-width too)."""
    stripped = cell.lstrip(" ")
    if stripped and stripped[0] in FORMULA_START:
        return "'" + cell
    return cell


def rejected_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejected.csv")


class RejectedFile:
    """``<input>.rejected.csv``: written beside the input, renamed into place by :meth:`close`."""

    def __init__(self, source: Path, headers: list[str]) -> None:
        self.path = rejected_path(source)
        fd, tmp = tempfile.mkstemp(prefix=".rejected-", suffix=".csv", dir=self.path.parent)
        self.tmp = Path(tmp)
        self.fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.fh)
        self.width = len(headers)
        self.writer.writerow([csv_safe(h) for h in [*headers, "rejected_row",
                                                    "rejected_reason"]])
        self.rows = 0

    def write(self, number: int, cells: list[str], reason: str) -> None:
        padded = (cells + [""] * self.width)[: self.width] if len(cells) <= self.width else cells
        self.writer.writerow([csv_safe(c) for c in [*padded, str(number), reason]])
        self.rows += 1

    def close(self, keep: bool) -> Path | None:
        self.fh.close()
        if keep and self.rows:
            os.replace(self.tmp, self.path)
            return self.path
        self.tmp.unlink(missing_ok=True)
        return None


@dataclass
class Report:
    kind: str  # leads, events
    file: str
    source: str
    encoding: str = ""
    import_id: int | None = None
    status: str = "running"
    rows: int = 0  # data rows read (the header and blank rows not counted)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    blank: int = 0
    duplicates: int = 0  # leads: rows merged into an earlier row of the same address
    erased_skipped: int = 0  # leads: addresses erased earlier (GDPR), not imported again
    consent_withheld: int = 0  # leads: suppressed addresses whose `consent` was not taken
    stage_changes: int = 0
    # leads: leads in Japan (or of unknown country) with no record of how consent was obtained
    no_legal_basis: int = 0
    no_legal_basis_rows: list[int] = field(default_factory=list)
    unknown_emails: int = 0  # events: rows whose email has no lead
    unknown_email_rows: list[int] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    rejected_file: str | None = None
    rules: str = ""
    written: bool = False
    sha256: str | None = None
    _spool: IO[str] | None = field(default=None, repr=False)

    def reject(self, problems: list[Problem]) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        for p in problems:
            self._spool.write(json.dumps(p.to_json(), ensure_ascii=False) + "\n")
        self.rejected += 1

    def unknown_email(self, row: int) -> None:
        self.unknown_emails += 1
        if len(self.unknown_email_rows) < SHOWN_UNKNOWN_ROWS:
            self.unknown_email_rows.append(row)

    def problems(self) -> Iterator[dict[str, Any]]:
        if self._spool is None:
            return
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "file": self.file, "source": self.source,
            "encoding": self.encoding, "import_id": self.import_id, "status": self.status,
            "written": self.written, "rows": self.rows, "inserted": self.inserted,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "blank_rows": self.blank, "unknown_columns": self.unknown_columns,
            "rejected_file": self.rejected_file, "rules": self.rules,
        }
        if self.kind == "leads":
            out |= {"duplicate_rows": self.duplicates, "stage_changes": self.stage_changes,
                    "erased_skipped": self.erased_skipped,
                    "consent_withheld": self.consent_withheld,
                    "no_legal_basis": self.no_legal_basis,
                    "no_legal_basis_rows": self.no_legal_basis_rows}
        else:
            out |= {"unknown_emails": self.unknown_emails,
                    "unknown_email_rows": self.unknown_email_rows}
        return out
