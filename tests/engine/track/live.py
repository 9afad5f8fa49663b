"""Real servers on loopback for the tracking tests: the app on uvicorn, and a tiny customer site.

    with LiveServer(app) as server:          # uvicorn in a thread, on a free port
        httpx.get(server.url + "/healthz")
    with Site({"/": "<html>..."}) as site:   # static pages on another port (another origin)
        ...

The end-to-end mail loop reuses both (with tests/browser.py for the browser).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import uvicorn

from tests.pg import free_port


class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread (lifespan on)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
            lifespan="on", server_header=False))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class Site:
    """Static HTML pages by path on 127.0.0.1 (the customer's own web site)."""

    def __init__(self, pages: dict[str, str], port: int | None = None) -> None:
        self.pages = pages
        self.port = port or free_port()
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                site.requests.append(self.path)
                page = site.pages.get(self.path.split("?", 1)[0])
                body = (page or "not found").encode("utf-8")
                self.send_response(200 if page is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
