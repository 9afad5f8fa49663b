"""One import run, the same for leads and events: read, validate, write in batches, report.

Transaction semantics (docs/import.md):

- The whole file is written in **one transaction**, in batches of :data:`BATCH` rows
  (SQLAlchemy Core ``executemany``; constant memory whatever the file's size).
- Without ``--skip-invalid``, the first rejected row stops the writing (the rest of the file is
  still read, so that every rejected row is reported) and the transaction is rolled back at the
  end: nothing is written.
- With ``--skip-invalid``, the valid rows are committed together and the rejected ones go to
  ``<input>.rejected.csv``.
- A crash, a lost connection or Ctrl-C rolls the transaction back: nothing of the run is in the
  store. Every run is recorded in the ``imports`` table, in its own transaction, as ``running``
  before the data transaction starts; it becomes ``done`` inside the data transaction (so
  ``done`` and the data commit together) or ``failed`` afterwards. A ``running`` row with no
  process behind it is a crash that wrote nothing; resuming is re-running the command, which is
  safe because an import is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from engine.imports import columns as C
from engine.imports.config import Config
from engine.imports.reader import BadRow, FileError, Reader, detect
from engine.imports.report import RejectedFile, Report
from engine.imports.validate import Columns, Problem, is_blank
from engine.store.db import write_transaction
from engine.store.schema import imports

BATCH = 1000
# (phase, done, total): "reading" counts bytes of the file, "merging" rows of the staging table
Progress = Callable[[str, int, int], None]


@dataclass
class Options:
    source: str
    mapping: C.Mapping
    config: Config
    zone: tzinfo
    now: datetime
    encoding: str | None = None
    skip_invalid: bool = False
    progress: Progress | None = None


class Item(Protocol):
    number: int


class Kind(Protocol):
    """What differs between a leads and an events import."""

    name: str
    required: tuple[str, ...]

    def known(self) -> set[str]: ...

    def builtin(self) -> dict[str, str]: ...

    def row(self, number: int, cells: list[str], columns: Columns) -> Any: ...

    def begin(self, conn: sa.Connection) -> None:
        """Called once the data transaction has started."""

    def write(self, conn: sa.Connection, batch: list[Any], write: bool
              ) -> list[tuple[Any, Problem]]:
        """Write a batch (or, with ``write`` false, only look for the rows the database
        rejects, such as unknown emails); returns those rows with their problem."""
        ...

    def finish(self, conn: sa.Connection, write: bool) -> None:
        """Called after the last batch (``write``: whether the data will be committed)."""


class Abort(Exception):
    """Rejected rows without --skip-invalid: roll back."""




def run(engine: sa.Engine, path: Path, kind: Kind, opts: Options, report: Report) -> Report:
    detected = detect(path, opts.encoding)
    report.encoding = detected.note
    report.rules = opts.config.origin
    reader = Reader(path, detected)
    rows = iter(reader)
    header = next(rows, None)
    if header is None:
        raise FileError(f"{path}: the file is empty")
    if isinstance(header, BadRow):
        raise FileError(f"{path}: the header row cannot be read: {header.reason}")
    headers = [h.lstrip("\ufeff") for h in header.cells]
    columns = _columns(path, headers, kind, opts.mapping, report)
    report.import_id = _start(engine, path, kind, opts, detected.encoding)
    rejected = RejectedFile(path, headers) if opts.skip_invalid else None
    try:
        with write_transaction(engine) as conn:
            kind.begin(conn)
            _stream(conn, rows, reader, columns, kind, opts, report, rejected)
            report.sha256 = reader.sha256
            writing = opts.skip_invalid or not report.rejected
            kind.finish(conn, writing)
            if not writing:
                raise Abort
            report.status, report.written = "done", True
            if rejected is not None:
                kept = rejected.close(keep=True)
                report.rejected_file = str(kept) if kept else None
                rejected = None
            _finish(conn, report, opts.now)
    except BaseException as exc:
        report.status, report.written = "failed", False
        if rejected is not None:
            rejected.close(keep=False)
        with _quietly():
            with write_transaction(engine) as conn:
                _finish(conn, report, opts.now, None if isinstance(exc, Abort) else exc)
        if not isinstance(exc, Abort):
            raise
    return report


def _columns(path: Path, headers: list[str], kind: Kind, mapping: C.Mapping,
             report: Report) -> Columns:
    known = kind.known()
    wrong = sorted({t for t in mapping.columns.values() if t != C.SKIP and t not in known})
    if wrong:
        raise FileError(f"the mapping file maps columns to {', '.join(wrong)}: not "
                        f"{'an attribute' if kind.name == 'leads' else 'an event column'}")
    resolved = C.resolve(headers, known, mapping, kind.builtin())
    if resolved.duplicates:
        target, names = resolved.duplicates[0]
        raise FileError(f"{path}: columns {', '.join(names)} all give `{target}`: keep one (or "
                        'skip the others in the mapping file: "header" = "")')
    missing = [r for r in kind.required if r not in resolved.targets.values()]
    if missing:
        raise FileError(f"{path}: no {' / '.join(missing)} column (the header is "
                        f"{', '.join(headers)}); name it so, or map it with --mapping")
    report.unknown_columns = [name for _, name in resolved.unknown]
    return Columns(headers, resolved.targets)


def _stream(conn: sa.Connection, rows: Iterator[Any], reader: Reader, columns: Columns,
            kind: Kind, opts: Options, report: Report, rejected: RejectedFile | None) -> None:
    batch: list[Any] = []
    cells_of: dict[int, list[str]] = {}  # this batch's rows, for the rejected-rows file

    def reject(number: int, cells: list[str], problems: list[Problem]) -> None:
        report.reject(problems)
        if rejected is not None:
            rejected.write(number, cells, "; ".join(
                f"{p.column}: {p.reason}" if p.column else p.reason for p in problems))

    def flush() -> None:
        for item, problem in kind.write(conn, batch, opts.skip_invalid or not report.rejected):
            reject(item.number, cells_of[item.number], [problem])
        batch.clear()
        cells_of.clear()
        if opts.progress is not None:
            opts.progress("reading", reader.bytes_read, reader.size)

    for row in rows:
        if isinstance(row, BadRow):
            report.rows += 1
            reject(row.number, [row.raw], [Problem(row.number, "", row.raw, row.reason)])
            continue
        if is_blank(row.cells):
            report.blank += 1
            continue
        report.rows += 1
        got = kind.row(row.number, row.cells, columns)
        if isinstance(got, list):
            reject(row.number, row.cells, got)
            continue
        batch.append(got)
        cells_of[row.number] = row.cells
        if len(batch) >= BATCH:
            flush()
    flush()


def _start(engine: sa.Engine, path: Path, kind: Kind, opts: Options, encoding: str) -> int:
    with write_transaction(engine) as conn:
        new = conn.execute(imports.insert().values(
            kind=kind.name, source=opts.source, file_name=path.name, encoding=encoding,
            status="running", started_at=opts.now).returning(imports.c.id))
        return int(new.scalar_one())


def _finish(conn: sa.Connection, report: Report, now: datetime,
            error: BaseException | None = None) -> None:
    summary: dict[str, Any] = {k: v for k, v in report.counts().items()
                               if k not in ("kind", "source", "status", "import_id")}
    if error is not None:
        summary["error"] = f"{type(error).__name__}: {error}"[:500]
    conn.execute(imports.update().where(imports.c.id == report.import_id).values(
        status=report.status, file_sha256=report.sha256, finished_at=datetime.now(now.tzinfo),
        rows_total=report.rows,
        rows_inserted=report.inserted, rows_updated=report.updated,
        rows_unchanged=report.unchanged, rows_rejected=report.rejected, report=summary))


@contextmanager
def _quietly() -> Iterator[None]:
    """Recording a failure must not hide the failure itself (the database may be gone)."""
    try:
        yield
    except Exception:  # noqa: BLE001
        pass
