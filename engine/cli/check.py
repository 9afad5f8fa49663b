"""`engine check PATH...`: parse and check flows; exit 1 on any error."""

from __future__ import annotations

import sys

import click

from engine.cli.common import FORMAT, TEMPLATES, guarded, load_or_exit, print_diagnostics


@click.command()
@click.argument("paths", nargs=-1)
@FORMAT
@TEMPLATES
def check(paths: tuple[str, ...], fmt_: str, templates: str | None) -> None:
    """Check flow files: syntax, names, types, reachability, overlaps.

    PATHS are flow files, folders (searched recursively) or - for stdin. Definitions are shared
    by all files of a folder. Exit 0 when there is no error (warnings are printed), 1 when there
    is any error, 2 for usage errors.
    """

    def body() -> int:
        ws = load_or_exit(paths, templates)
        diags = ws.reported
        print_diagnostics(ws, diags, fmt_, len(ws.targets))
        return 1 if any(d.is_error for d in diags) else 0

    sys.exit(guarded(body))
