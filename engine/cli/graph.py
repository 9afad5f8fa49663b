"""`engine graph FLOW_FILE`: a Mermaid flowchart of each flow in a file."""

from __future__ import annotations

import click


@click.command()
@click.argument("path")
def graph(path: str) -> None:
    """Print a Mermaid flowchart of the flows in PATH, for a pull request."""
    raise click.ClickException("not built yet")
