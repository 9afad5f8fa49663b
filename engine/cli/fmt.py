"""`engine fmt [--check] PATH...`: rewrite flow files canonically."""

from __future__ import annotations

import click


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--check", "check_only", is_flag=True, help="change nothing; exit 1 listing files "
              "that would be reformatted")
def fmt(paths: tuple[str, ...], check_only: bool) -> None:
    """Rewrite flow files in the canonical format (comments are kept)."""
    raise click.ClickException("not built yet")
