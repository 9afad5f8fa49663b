"""`engine serve [--host 127.0.0.1] [--port 8080] [--db URL] [--flows PATH]`: run the tracking
server (click redirects, open pixel, unsubscribe, page tag, beacons, forms) on uvicorn.

It reads the same store as every other verb and the same settings (engine.toml, ENGINE_*): the
signing secret, the site origins and UTM parameters. docs/tracking.md is the guide; in
production, run it behind a reverse proxy that terminates TLS on the tracking URL's host.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.workspace import UsageError


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again after its graceful stop: nothing more to do."""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0: every interface)")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="port to listen on")
@DB_OPTION
@click.option("--flows", metavar="PATH", default=None,
              help="flows folder with the attributes and merge rules forms use "
                   "(default: flows/ when it exists)")
@click.option("--forwarded-allow-ips", metavar="IPS", default="127.0.0.1", show_default=True,
              help="reverse proxies whose X-Forwarded-For is trusted for the client address "
                   "(rate limits); comma-separated")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="log every request (paths carry tracking tokens: off by default)")
def serve(host: str, port: int, db_url: str | None, flows: str | None,
          forwarded_allow_ips: str, access_log: bool) -> None:
    """Run the tracking server until stopped (Ctrl-C).

    Exit 0 after a clean stop; 2 on a usage or configuration error (an unusable database,
    engine.toml, flows folder, or a port already in use).
    """

    def body() -> int:
        import uvicorn

        from engine.config import load_settings
        from engine.imports.config import ConfigError as FlowsError
        from engine.imports.config import load as load_flows
        from engine.store import db
        from engine.track import create_app
        from engine.track.settings import load_track_settings

        settings = load_settings()  # a ConfigError is reported by guarded (exit 2)
        track = load_track_settings(settings.site_origins)
        try:
            config = load_flows(flows)
        except FlowsError as exc:
            raise UsageError(str(exc)) from exc
        with store_errors():
            engine = db.connect(db_url)
        try:
            app = create_app(engine, settings, track, config=config)
            where = db.display_url(db.database_url(db_url))
            click.echo(f"engine serve: http://{host}:{port} (store {where}; links point at "
                       f"{settings.tracking_url}; site origins: "
                       f"{', '.join(track.site_origins) or 'none: beacons and forms refused'})",
                       err=True)
            server = uvicorn.Server(uvicorn.Config(
                app, host=host, port=port, access_log=access_log, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, server_header=False,
                limit_concurrency=1000, timeout_keep_alive=5, log_level="info"))
            # uvicorn handles SIGINT / SIGTERM itself (a graceful stop) and raises the signal
            # again once stopped; these handlers make that a clean exit 0.
            for stop in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop, _stopped)
            try:
                server.run()
            except SystemExit:  # uvicorn exits when it cannot bind
                pass
            if not server.started:
                raise UsageError(f"could not listen on {host}:{port} (in use, or not an "
                                 "address of this machine?)")
        finally:
            engine.dispose()
        return 0

    sys.exit(guarded(body))
