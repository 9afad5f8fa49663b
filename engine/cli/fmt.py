"""`engine fmt [--check] PATH...`: rewrite flow files canonically.

A file that does not parse is never touched (its errors are printed and the exit code is 1), and
the other files are still formatted: one broken flow must not block tidying the rest. Files are
replaced atomically, so an interrupted run leaves each file either old or new, never half
written. With ``-`` the text comes from standard input and the result goes to standard output,
for editors; the summary line then goes to standard error, so standard output is the text alone.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from engine.cli.common import guarded

STDIN = "<stdin>"  # as `engine check` names it in diagnostics


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--check", "check_only", is_flag=True, help="change nothing; exit 1 listing files "
              "that would be reformatted")
def fmt(paths: tuple[str, ...], check_only: bool) -> None:
    """Rewrite flow files in the canonical format (comments are kept).

    PATHS are flow files, folders (searched recursively for *.flow) or - for stdin (the result
    is printed). Exit 0 when all is well, 1 when a file does not parse or (with --check) would
    be reformatted, 2 for usage errors.
    """
    sys.exit(guarded(lambda: _run(paths, check_only)))


class _Tally:
    """What happened to each file, for the summary line and the exit code."""

    def __init__(self) -> None:
        self.changed = 0
        self.unchanged = 0
        self.failed = 0

    def summary(self, check_only: bool) -> str:
        noun = "file" if self.changed == 1 else "files"
        verb = ("would be reformatted" if check_only else "reformatted")
        line = f"{self.changed} {noun} {verb}, {self.unchanged} left unchanged"
        if self.failed:
            line += f", {self.failed} could not be formatted"
        return line


def _run(paths: tuple[str, ...], check_only: bool) -> int:
    from engine.workspace import UsageError, display, resolve_targets

    if not paths:
        raise UsageError("no path given (a flow file, a folder of flows, or - for stdin)")
    targets, _, stdin = resolve_targets(list(paths))
    tally = _Tally()
    to_stdout = stdin and not check_only
    if stdin:
        data = sys.stdin.buffer.read()
        _one(STDIN, data, tally, check_only, partial(click.echo, nl=False))
    seen: set[Path] = set()
    for path in targets:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"engine: {display(path)}: cannot read the file: {exc.strerror}", err=True)
            tally.failed += 1
            continue
        _one(display(path), data, tally, check_only, partial(_replace, path))
    click.echo(tally.summary(check_only), err=to_stdout)
    return 1 if tally.failed or (check_only and tally.changed) else 0


def _one(name: str, data: bytes, tally: _Tally, check_only: bool,
         write: Callable[[str], None]) -> None:
    """Format one file's bytes; report it, count it, and hand changed text to ``write``."""
    from dsl.diagnostics import render_all
    from dsl.formatter import format_source
    from dsl.parser import decode

    text, diags = decode(name, data)
    new = None
    if text is not None:
        new, diags = format_source(name, text)
    if new is None:
        click.echo(render_all([d for d in diags if d.is_error] or diags,
                              {name: text} if text is not None else {}), err=True)
        tally.failed += 1
        return
    changed = new.encode("utf-8") != data
    if check_only:
        if changed:
            click.echo(f"would reformat {name}")
    elif name == STDIN or changed:
        write(new)
    tally.changed += changed
    tally.unchanged += not changed


def _replace(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: readers see the old file or the new one."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
