"""`engine check PATH...`: parse and check flows; exit 1 on any error."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from dsl.diagnostics import Diagnostic
from engine.cli.common import (
    FORMAT,
    TEMPLATES,
    UsageError,
    guarded,
    load_or_exit,
    print_diagnostics,
)
from engine.workspace import Workspace, display, find_templates


@click.command()
@click.argument("paths", nargs=-1)
@FORMAT
@TEMPLATES
@click.option("--db", "db_url", default=None, metavar="URL",
              help="also look in this lead store for live enrollments at steps the flows no "
                   "longer have (W0113); read only, nothing is changed")
def check(paths: tuple[str, ...], fmt_: str, templates: str | None, db_url: str | None,
          ) -> None:
    """Check flow files: syntax, names, types, reachability, overlaps, and the email templates
    they use (syntax, names, unsubscribe link, legal footer). With --db, also the live
    enrollments that an edit strands: at a step the flow no longer has, with no `move` line.

    PATHS are flow files, folders (searched recursively) or - for stdin. Definitions are shared
    by all files of a folder. Exit 0 when there is no error (warnings are printed), 1 when there
    is any error, 2 for usage errors.
    """

    def body() -> int:
        # A short run that builds a large tree with no cycles: the cycle collector would only
        # walk it again and again (a third of the time for 1,000 files). Switched back on
        # after, for callers in the same process (tests, tools that call the command).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            ws = load_or_exit(paths, templates)
            diags = ws.reported + template_diagnostics(ws, templates)
            if db_url is not None and not any(d.is_error for d in diags):
                diags += stranded_diagnostics(ws, db_url)
            print_diagnostics(ws, diags, fmt_, len(ws.targets))
            return 1 if any(d.is_error for d in diags) else 0
        finally:
            if was_enabled:
                gc.enable()

    sys.exit(guarded(body))


def template_diagnostics(ws: Workspace, templates: str | None) -> list[Diagnostic]:
    """Findings in the templates the checked flows use (engine.mail.check); their sources join
    the workspace's so the lines are shown. Nothing when there is no templates folder."""
    folder = find_templates(ws.roots, templates)
    if folder is None or not any(m.path in ws.targets for m in ws.modules):
        return []
    from engine.mail.check import check_templates

    diags, sources = check_templates(ws.modules, set(ws.targets), folder,
                                     lambda f: display(Path(f)))
    ws.sources.update(sources)
    return diags


def stranded_diagnostics(ws: Workspace, url: str) -> list[Diagnostic]:
    """W0113 for each step label that live enrollments in the store sit at, that the flow no
    longer has, and that no `move` line places: the next tick would end them. (`engine plan`
    lists moved ones too.) The store is read, never migrated or written."""
    import sqlalchemy as sa

    from dsl.diagnostics import warning
    from engine.runtime.model import Folder
    from engine.runtime.runner import stranded_enrollments
    from engine.store.db import DatabaseError, database_url, display_url, make_engine

    folder = Folder.from_modules(ws.modules, set(ws.targets))
    shown = display_url(url)
    try:
        engine = make_engine(database_url(url))
    except DatabaseError as exc:
        raise UsageError(f"{shown}: cannot read the live enrollments ({exc})") from exc
    try:
        with engine.connect() as conn:
            stranded = stranded_enrollments(conn, folder)
    except sa.exc.SQLAlchemyError as exc:
        raise UsageError(f"{shown}: cannot read the live enrollments "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    finally:
        engine.dispose()
    flows = {fr.name: fr.flow for fr in folder.flows}
    moved = {(fr.name, m.old) for fr in folder.flows for m in fr.moves}
    out = []
    for s in stranded:
        if (s["flow"], s["step"]) in moved:
            continue  # a `move` line says where they go
        n = s["enrollments"]
        out.append(warning(
            "W0113", f"{n} live enrollment{'s' if n != 1 else ''} of flow `{s['flow']}` "
            f"sit{'s' if n == 1 else ''} at `{s['step']}`, which this version no longer has: "
            "the next tick ends them", flows[s["flow"]].span,
            hint=f'say where they go: `move "{s["step"]}" to STEP`, or '
                 f'`move "{s["step"]}" to exit "REASON"`'))
    return out
