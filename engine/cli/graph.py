"""`engine graph FLOW_FILE`: a Mermaid flowchart of each flow in a file."""

from __future__ import annotations

import sys

import click

from engine.cli.common import guarded, load_or_exit, print_diagnostics


@click.command()
@click.argument("path")
@click.option("--fenced", is_flag=True,
              help="wrap the chart in a ```mermaid fence, ready to paste into a pull request")
def graph(path: str, fenced: bool) -> None:
    """Print a Mermaid flowchart of the flows in PATH, for a pull request.

    PATH is one flow file (or - for stdin); definitions from the other files of its folder
    label the chart. The output starts with `flowchart TD`. Exit 1 when the file has a syntax
    error (the errors are printed), 2 when it is not a file or defines no flow.
    """

    def body() -> int:
        from engine.graph import fence, flows_of, render_module
        from engine.workspace import UsageError

        ws = load_or_exit((path,), check=False)
        if len(ws.targets) != 1 or path != "-" and not path.endswith(".flow"):
            raise UsageError(f"{path}: give one flow file (a .flow file, or - for stdin)")
        target = ws.targets[0]
        module = ws.module(target)
        if module is None:
            print_diagnostics(ws, ws.reported, "text", 1)
            return 1
        if not flows_of(module):
            raise UsageError(f"{target}: this file defines no flow (only shared definitions)")
        others = [m for m in ws.modules if m is not module]
        text = render_module(module, others)
        click.echo(fence(text) if fenced else text, nl=False)
        return 0

    sys.exit(guarded(body))
