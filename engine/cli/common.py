"""What every verb shares: loading paths with a usage error on bad ones, and printing findings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from dsl.diagnostics import Diagnostic, render_all, summary
from engine.workspace import UsageError, Workspace, load

T = TypeVar("T")

FORMAT = click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="text for people, json for machines")
TEMPLATES = click.option("--templates", metavar="DIR", default=None,
                         help="templates folder (default: templates/ beside the flows folder)")


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; usage errors exit 2 and an internal failure says it is ours."""
    try:
        return fn()
    except UsageError as exc:
        click.echo(f"engine: {exc}", err=True)
        sys.exit(2)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        import tempfile
        import traceback

        with tempfile.NamedTemporaryFile("w", prefix="engine-crash-", suffix=".txt",
                                         delete=False) as fh:
            traceback.print_exc(file=fh)
        click.echo(f"engine: internal error ({type(exc).__name__}: {exc}). This is a bug in the "
                   f"engine, not in your flows; details are in {fh.name}", err=True)
        sys.exit(2)


def load_or_exit(paths: tuple[str, ...], templates: str | None = None,
                 check: bool = True) -> Workspace:
    if not paths:
        raise UsageError("no path given (a flow file, a folder of flows, or - for stdin)")
    return load(list(paths), templates=templates, check=check)


def print_diagnostics(ws: Workspace, diags: list[Diagnostic], fmt_: str, files: int) -> None:
    if fmt_ == "json":
        ordered = sorted(diags, key=Diagnostic.sort_key)
        click.echo(json.dumps([d.to_json() for d in ordered], ensure_ascii=False, indent=2))
        return
    if diags:
        click.echo(render_all(diags, ws.sources))
        click.echo("")
    click.echo(summary(diags, files), err=bool(diags))
