"""`engine plan PATH [--at T] [--format table|json|markdown] [--out DIR] [--against REF]`: a dry
run through the same code as `engine run --once`, in a transaction that is rolled back."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.cli.query import parse_time
from engine.workspace import UsageError


@click.command()
@click.argument("path", default="flows")
@DB_OPTION
@click.option("--at", "at_text", metavar="TIME", default=None,
              help="plan as of this moment (default: now), e.g. 2026-11-24T09:30+09:00")
@click.option("--format", "fmt_", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True)
@click.option("--out", "out_dir", metavar="DIR", default=None,
              help="also write plan.json, plan.md and a preview per sample recipient here")
@click.option("--against", "ref", metavar="GIT_REF", default=None,
              help="compare with the plan of the flows as they were at this git revision")
@click.option("--flow", "only", metavar="NAME", multiple=True, help="plan only this flow")
def plan(path: str, db_url: str | None, at_text: str | None, fmt_: str, out_dir: str | None,
         ref: str | None, only: tuple[str, ...]) -> None:
    """Show exactly what `engine run --once --at T` would do with the flows in PATH (default:
    flows/): every email, notification and hand-off with its recipient, template, subject and
    why; what the policy gate defers or blocks, and why. Nothing is written.

    Exit 0 when planned, 2 on a usage, configuration, flow or database error."""

    def body() -> int:
        from engine.config import load_settings
        from engine.runtime.model import Folder
        from engine.runtime.runner import make_plan
        from engine.store import db as store

        at = parse_time(at_text)
        folder = Folder.load([path])
        settings = load_settings()
        names = set(only) or None
        with store_errors():
            engine = store.connect(db_url)
            result = make_plan(engine, folder, at, settings, only=names).to_json()
            if ref is not None:
                old_folder = folder_at(ref, path)
                before = make_plan(engine, old_folder, at, settings, only=names,
                                   subjects=False).to_json()
                return show_diff(before, result, ref, fmt_)
        if out_dir is not None:
            write_out(Path(out_dir), result, engine, settings)
        show(result, fmt_)
        return 0

    sys.exit(guarded(body))


def show(result: dict[str, Any], fmt_: str) -> None:
    from engine.runtime import report

    if fmt_ == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return
    if fmt_ == "markdown":
        click.echo(report.markdown(result))
        return
    from rich.table import Table

    from engine.cli.common import console as make_console

    console = make_console()
    table = Table(title=f"plan at {result['at']} (nothing was written)", title_justify="left")
    for column in ("flow", "step", "action", "leads", "outcome", "sample"):
        # names and addresses wrap onto more lines rather than lose their ends
        table.add_column(column, justify="right" if column == "leads" else "left",
                         overflow="fold")
    for (flow, step, action), items in report.grouped(result["actions"]).items():
        sample = ", ".join(a.get("email") or "" for a in items[:report.SAMPLE])
        table.add_row(flow, step, action, str(len(items)), report.status_counts(items),
                      sample, end_section=False)
    console.print(table)
    for reason, n in report.reasons(result["actions"]):
        console.print(f"  {n:>6}  {reason}")
    if not result["actions"]:
        console.print("nothing to do at this moment")
    for s in result.get("stranded", []):
        console.print(f"[yellow]warning[/yellow]: {s['enrollments']} live enrollment(s) of "
                      f"{s['flow']} sit at step `{s['step']}`, which the flow no longer has: "
                      f"they go to {s['goes_to']}" + (f" ({s['reason']})" if s["reason"] else ""))


def show_diff(before: dict[str, Any], after: dict[str, Any], ref: str, fmt_: str) -> int:
    from engine.runtime import report

    d = report.diff(before, after)
    if fmt_ == "json":
        click.echo(json.dumps({"against": ref, **d}, ensure_ascii=False, indent=2))
    else:
        click.echo(report.diff_markdown(d, ref))
    return 0


def folder_at(ref: str, path: str) -> Any:
    """The flows of PATH as they were at git revision REF (read with `git show`, into a
    temporary folder; the working tree is not touched)."""
    from engine.runtime.model import Folder

    target = Path(path).resolve()
    try:
        top = Path(subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=target.parent
                                  if target.is_file() else target, capture_output=True,
                                  text=True, check=True).stdout.strip())
        rel = target.relative_to(top)
        listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", ref, "--", str(rel)],
                                 cwd=top, capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        raise UsageError(f"--against {ref}: cannot read {path} at that revision ({exc})") from None
    files = [f for f in listing.splitlines() if f.endswith(".flow")]
    if not files:
        raise UsageError(f"--against {ref}: no flow files under {rel} at that revision")
    tmp = Path(tempfile.mkdtemp(prefix="engine-plan-"))
    for f in files:
        data = subprocess.run(["git", "show", f"{ref}:{f}"], cwd=top, capture_output=True,
                              check=True).stdout
        dest = tmp / f
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return Folder.load([str(tmp / rel)])


def write_out(out: Path, result: dict[str, Any], engine: Any, settings: Any) -> None:
    """plan.json, plan.md, and previews (HTML, text, .eml) for the first recipients of each
    send step."""
    from engine.runtime import report

    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(result, ensure_ascii=False, indent=2,
                                              default=str), encoding="utf-8")
    (out / "plan.md").write_text(report.markdown(result), encoding="utf-8")
    try:
        from engine.runtime.previews import write_previews
    except ImportError:
        return
    write_previews(out / "previews", result, engine, settings)
