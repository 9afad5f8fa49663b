"""The `engine` command. One module per verb; heavy imports happen inside each command."""

from __future__ import annotations

import click

from engine.cli.check import check
from engine.cli.db import db
from engine.cli.demo import demo
from engine.cli.explain import explain
from engine.cli.fmt import fmt
from engine.cli.graph import graph
from engine.cli.imports import import_
from engine.cli.plan import plan
from engine.cli.preview import preview
from engine.cli.query import query
from engine.cli.run import run
from engine.cli.serve import serve
from engine.cli.simulate import simulate

EXIT_CODES = """\b
Exit codes:
  0  no problems (warnings may be printed)
  1  findings: an error in a flow, or `fmt --check` would change a file
  2  usage, configuration or internal error
"""


@click.group(help=f"Code-first nurture automation.\n\n{EXIT_CODES}")
@click.version_option(package_name="nurture-engine", prog_name="engine")
def main() -> None:
    pass


main.add_command(check)
main.add_command(fmt)
main.add_command(graph)
main.add_command(db)
main.add_command(demo)
main.add_command(import_)
main.add_command(query)
main.add_command(explain)
main.add_command(serve)
main.add_command(plan)
main.add_command(preview)
main.add_command(run)
main.add_command(simulate)
