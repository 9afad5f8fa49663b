"""`engine check PATH...`: parse and check flows; exit 1 on any error."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from dsl.diagnostics import Diagnostic
from engine.cli.common import FORMAT, TEMPLATES, guarded, load_or_exit, print_diagnostics
from engine.workspace import Workspace, display, find_templates


@click.command()
@click.argument("paths", nargs=-1)
@FORMAT
@TEMPLATES
def check(paths: tuple[str, ...], fmt_: str, templates: str | None) -> None:
    """Check flow files: syntax, names, types, reachability, overlaps, and the email templates
    they use (syntax, names, unsubscribe link, legal footer).

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
