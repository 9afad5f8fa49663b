"""What every verb shares: loading paths with a usage error on bad ones, and printing findings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from dsl.diagnostics import Diagnostic, render_all, summary
from engine.config import ConfigError
from engine.workspace import UsageError, Workspace, load

if TYPE_CHECKING:
    from rich.console import Console

    from engine.config import Settings

T = TypeVar("T")

FORMAT = click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="text for people, json for machines")
TEMPLATES = click.option("--templates", metavar="DIR", default=None,
                         help="templates folder (default: templates/ beside the flows folder)")


def console() -> Console:
    """Where tables go: the terminal's width, or 160 columns into a pipe or a file (Rich's 80
    would cut names and addresses short in CI logs), or $COLUMNS when set."""
    import os

    from rich.console import Console

    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(width=None if wide else 160)


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; usage and configuration errors exit 2 with one line saying what is
    wrong, and an internal failure says it is ours.

    A configuration error (engine.config.ConfigError: a bad engine.toml or ENGINE_* value, a
    missing or unusable DKIM key, an SMTP URL...) may surface deep inside a verb, when the part
    that needs the setting first reads it; wherever it comes from, it is the operator's to fix,
    not a bug, so it is reported here once for every verb."""
    try:
        return fn()
    except UsageError as exc:
        click.echo(f"engine: {exc}", err=True)
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"engine: configuration error: {one_line(str(exc))}", err=True)
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


def one_line(text: str) -> str:
    """A message on one line (TOML and key errors may span several)."""
    return " ".join(text.split()) or "(no details)"


def check_delivery_settings(settings: Settings) -> None:
    """Read what delivery needs before anything runs: the DKIM key (and its alignment), the
    SMTP URL and the delivery options. A bad one is then one configuration error at start
    (exit 2), not a failure of every delivery round of a long-running `engine run`."""
    from engine.delivery import WorkerOptions, transport_for
    from engine.mail.render import Renderer

    Renderer(settings, b"")  # loads the DKIM signer; the secret is not used to construct it
    transport_for(settings)
    WorkerOptions.from_environ()


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
