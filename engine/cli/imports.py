"""`engine import leads|events FILE.csv`: load a CSV export into the lead store.

docs/import.md is the guide: encodings, column names and the mapping file, what values are
accepted, merge rules, suppressed addresses, and what happens on an error or a crash.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from engine.cli.common import FORMAT, guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.workspace import UsageError

EXIT = """\b
Exit codes:
  0  imported (with --skip-invalid: the valid rows; rejected ones are in FILE.rejected.csv)
  1  rows were rejected and nothing was written (the report lists every one)
  2  usage error: no such file, an unusable encoding, mapping or database
"""


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.argument("file", type=click.Path(dir_okay=False)),
        click.option("--source", metavar="NAME", default=None,
                     help="the source these values come from, as merge rules name it (crm, "
                          "web_form, ...); default: the file name without its extension"),
        click.option("--mapping", metavar="FILE", default=None,
                     help="TOML file mapping column headers (and values) to attributes"),
        click.option("--encoding", metavar="ENC", default=None,
                     help="the file's encoding (default: detected: UTF-8, CP932 / Shift_JIS, "
                          "UTF-16 with a BOM)"),
        click.option("--skip-invalid", is_flag=True,
                     help="import the valid rows and write the rejected ones to "
                          "FILE.rejected.csv (default: any rejected row means nothing is "
                          "written)"),
        click.option("--flows", metavar="PATH", default=None,
                     help="flows folder with the attributes, events and merge rules "
                          "(default: flows/ when it exists)"),
        click.option("--time-zone", metavar="TZ", default="Asia/Tokyo", show_default=True,
                     help="time zone of dates and times in the file that have no offset"),
        DB_OPTION,
        FORMAT,
    ]):
        fn = option(fn)
    return fn


@click.group(name="import")
def import_() -> None:
    """Load CSV exports (CRM, Excel, badge scans) into the lead store.

    The guide: docs/import.md (encodings, column mapping, merge rules, errors).
    """


@import_.command(epilog=EXIT)
@_options
def leads(**kwargs: Any) -> None:
    """Import or update leads from a CSV file, applying the flows' merge rules.

    Leads are matched by email (NFKC, lower-case). Columns named like attributes need no
    mapping; common Japanese headers (メールアドレス, 会社名, 氏名, 従業員数, 役職...) are
    recognised. Unknown columns are reported and skipped.
    """
    _run("leads", **kwargs)


@import_.command(epilog=EXIT)
@_options
def events(**kwargs: Any) -> None:
    """Import offline events (seminars, exhibition visits, downloads) for known leads.

    Columns: email, type (page view, download, seminar, exhibition, a kind declared in the
    flows...), occurred_at, and event properties (url, name, asset, campaign, form, ...).
    Emails with no lead are reported as rejected rows.
    """
    _run("events", **kwargs)


def _run(kind: str, file: str, source: str | None, mapping: str | None, encoding: str | None,
         skip_invalid: bool, flows: str | None, time_zone: str, db_url: str | None,
         fmt_: str) -> None:
    def body() -> int:
        from engine.imports import import_file
        from engine.imports.columns import MappingError
        from engine.imports.config import ConfigError
        from engine.imports.reader import FileError
        from engine.store import db

        path = Path(file)
        try:
            with store_errors():
                engine = db.connect(db_url)
                try:
                    with _progress(path) as progress:
                        report = import_file(
                            engine, kind, path, source=source, mapping=mapping, flows=flows,
                            encoding=encoding, skip_invalid=skip_invalid, time_zone=time_zone,
                            progress=progress)
                finally:
                    engine.dispose()
        except (FileError, MappingError, ConfigError) as exc:
            raise UsageError(str(exc)) from exc
        except KeyboardInterrupt:
            click.echo("engine: import cancelled; nothing of it was written", err=True)
            return 2
        try:
            if fmt_ == "json":
                _json(report)
            else:
                _text(report, db.display_url(db.database_url(db_url)))
        finally:
            report.close()
        return 0 if report.written else 1

    sys.exit(guarded(body))


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[str, int, int], None] | None]:
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                what = "bytes" if phase == "reading" else "rows"
                tasks[phase] = bar.add_task(f"{phase} {path.name} ({what})", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _json(report: Any) -> None:
    click.echo('{"summary": ' + json.dumps(report.counts(), ensure_ascii=False) +
               ', "rejected_rows": [', nl=False)
    for i, problem in enumerate(report.problems()):
        click.echo(("," if i else "") + "\n  " + json.dumps(problem, ensure_ascii=False),
                   nl=False)
    click.echo("\n]}")


def _text(report: Any, where: str) -> None:
    c = report.counts()
    for p in report.problems():
        where_ = f"row {p['row']}" + (f", {p['column']}" if p["column"] else "")
        value = f" {json.dumps(p['value'], ensure_ascii=False)}" if p["value"] else ""
        click.echo(f"{report.file}: {where_}{value}: {p['reason']}")
    if report.rejected:
        click.echo("")
    head = "Imported" if report.written else "Nothing imported"
    click.echo(f"{head}: {report.kind} from {report.file} (source {report.source}, "
               f"{report.encoding}) into {where}")
    if report.kind == "leads":
        dups = f", {c['duplicate_rows']} repeating an address above" if c["duplicate_rows"] else ""
        click.echo(f"  {c['rows']} rows ({c['rejected']} rejected{dups}); leads: "
                   f"{c['inserted']} inserted, {c['updated']} updated, {c['unchanged']} unchanged")
    else:
        click.echo(f"  {c['rows']} rows: {c['inserted']} inserted, {c['unchanged']} already "
                   f"there, {c['rejected']} rejected")
    if report.kind == "leads":
        if c["stage_changes"]:
            click.echo(f"  {c['stage_changes']} stage changes recorded as events")
        if c["erased_skipped"]:
            click.echo(f"  {c['erased_skipped']} rows skipped: the address was erased "
                       "(it stays suppressed)")
        if c["no_legal_basis"]:
            shown = ", ".join(map(str, c["no_legal_basis_rows"]))
            more = ", ..." if c["no_legal_basis"] > len(c["no_legal_basis_rows"]) else ""
            click.echo(f"  {c['no_legal_basis']} leads in Japan have no legal basis for "
                       f"marketing mail (特定電子メール法): imported, not sendable until one is "
                       f"recorded (rows {shown}{more})")
        if c["consent_withheld"]:
            click.echo(f"  {c['consent_withheld']} rows of suppressed addresses: consent "
                       "not taken")
    elif c["unknown_emails"]:
        shown = ", ".join(map(str, c["unknown_email_rows"]))
        more = ", ..." if c["unknown_emails"] > len(c["unknown_email_rows"]) else ""
        click.echo(f"  {c['unknown_emails']} rows with an email that has no lead (rows "
                   f"{shown}{more})")
    if c["unknown_columns"]:
        click.echo(f"  {len(c['unknown_columns'])} unknown columns, skipped: "
                   f"{', '.join(c['unknown_columns'])}")
    if c["rejected_file"]:
        click.echo(f"  rejected rows written to {c['rejected_file']}")
    if not report.written:
        click.echo(f"Nothing was written: fix the {c['rejected']} rejected rows above, or pass "
                   "--skip-invalid to import the others and write the rejected ones to "
                   f"{Path(report.file).name}.rejected.csv", err=True)
