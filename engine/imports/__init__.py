"""CSV imports into the lead store: ``engine import leads`` and ``engine import events``.

reader (bytes -> rows, encodings, broken quoting) -> columns (headers -> attributes) ->
validate + normalize (cells -> typed values, every problem of a row) -> merge (which source wins
each field) -> leads / events (batched writes) -> report (counts, rejected rows). ``run`` holds the
loop and the transaction; :func:`import_file` is the entry point. docs/import.md is the user's
guide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from engine.imports import columns, config
from engine.imports.reader import FileError
from engine.imports.report import Report
from engine.imports.run import Options, Progress
from engine.imports.run import run as run_import

KINDS = ("leads", "events")


def import_file(engine: sa.Engine, kind: str, path: Path, *, source: str | None = None,
                mapping: str | None = None, flows: str | None = None,
                encoding: str | None = None, skip_invalid: bool = False,
                time_zone: str = "Asia/Tokyo", now: datetime | None = None,
                progress: Progress | None = None) -> Report:
    """Import one CSV file. Raises :class:`FileError`, ``columns.MappingError`` or
    ``config.ConfigError`` for a file or setting that cannot be used at all (nothing written);
    rejected rows are in the returned report (``report.written`` says whether data went in)."""
    from engine.imports.events import EventsImport
    from engine.imports.leads import LeadsImport

    if not path.is_file():
        raise FileError(f"{path}: no such file")
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FileError(f"--time-zone {time_zone}: not an IANA time zone (e.g. Asia/Tokyo)"
                        ) from None
    name = source or path.stem
    opts = Options(name, columns.Mapping.load(mapping), config.load(flows), zone,
                   now or datetime.now(UTC), encoding, skip_invalid, progress)
    report = Report(kind, str(path), name)
    importer = LeadsImport(opts, report) if kind == "leads" else EventsImport(opts, report)
    return run_import(engine, path, importer, opts, report)


__all__ = ["KINDS", "FileError", "Report", "import_file"]
