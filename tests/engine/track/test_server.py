"""The tracking server on a real uvicorn on loopback (httpx and raw sockets), and `engine serve`
itself as a process: the same contracts over real HTTP, early 413s on the wire (T-H6)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.store import db
from engine.store.schema import suppressions
from engine.track import create_app
from engine.track.settings import TrackSettings
from tests.engine.track.conftest import (
    LINKS,
    NO_RATE_LIMITS,
    SECRET,
    SITE,
    UTM,
    event_rows,
    rows,
    send_message,
)
from tests.engine.track.live import LiveServer
from tests.pg import free_port


@pytest.fixture
def live(store: sa.Engine) -> Iterator[LiveServer]:
    app = create_app(store, Settings(site_origins=(SITE,)),
                     TrackSettings(site_origins=(SITE,), utm=UTM, limits=NO_RATE_LIMITS),
                     secret=SECRET)
    with LiveServer(app) as server:
        yield server


def test_clicks_opens_beacons_and_unsubscribes_over_real_http(live: LiveServer,
                                                               store: sa.Engine) -> None:
    sent = send_message(store, sent_at=None)
    browser = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}
    with httpx.Client(base_url=live.url, headers=browser, timeout=10) as http:
        click = http.get(sent.click(0), params={"url": "https://evil.example/"})
        assert click.status_code == 302 and click.headers["location"].startswith(LINKS[0] + "?")
        assert http.get(sent.open()).content.startswith(b"GIF89a")
        assert http.get(sent.unsubscribe()).status_code == 200
        assert rows(store, suppressions) == []  # the GET changed nothing
        token = click.headers["location"].rsplit("_nv=", 1)[1]
        body = {"kind": "view", "visitor": "v" * 22, "view": "w" * 22, "url": f"{SITE}/pricing",
                "token": token}
        beacon = http.post("/collect", headers={"origin": SITE, "content-type": "text/plain"},
                           content=json.dumps(body))
        assert beacon.status_code == 204
        done = http.post(sent.unsubscribe(), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "location" not in done.headers
    assert [e["type"] for e in event_rows(store)] == [
        "email_click", "email_open", "page_view", "unsubscribe"]
    assert len(rows(store, suppressions)) == 1


def raw(port: int, request: bytes, then: bytes = b"") -> bytes:
    """Send ``request`` (and ``then``), return what the server answers before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        try:
            sock.sendall(then)
        except OSError:
            pass  # the server answered and closed while we were still sending: fine
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except OSError:
            pass
    return answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_t_h6_oversized_bodies_are_refused_on_the_wire(live: LiveServer) -> None:
    start = time.monotonic()
    declared = raw(live.port, b"POST /u/x.y HTTP/1.1\r\nHost: t\r\nContent-Type: "
                   b"application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\n"
                   b"List-Unsubscribe=One-Click")
    assert declared.startswith(b"HTTP/1.1 413"), declared[:100]
    chunk = b"%x\r\n%s\r\n" % (1024, b"x" * 1024)
    streamed = raw(live.port, b"POST /collect HTTP/1.1\r\nHost: t\r\nOrigin: " + SITE.encode()
                   + b"\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                   chunk * 8)
    assert streamed.startswith(b"HTTP/1.1 413"), streamed[:100]
    assert time.monotonic() - start < 5
    assert httpx.get(live.url + "/healthz", timeout=5).text == "ok"  # still serving


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_")}
    env.update(ENGINE_SECRET=SECRET.decode(), ENGINE_SITE_ORIGINS=SITE,
               ENGINE_CONFIG=str(tmp_path / "engine.toml"))
    return env


def test_engine_serve_runs_until_interrupted(tmp_path: Path, serve_env: dict[str, str]) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    store = db.connect(url)
    sent = send_message(store)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                             "--db", url], cwd=tmp_path, env=serve_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        click = httpx.get(f"http://127.0.0.1:{port}{sent.click(0)}")
        assert click.status_code == 302 and "_nv=" in click.headers["location"]
        assert "server" not in click.headers
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "site origins: https://www.example.co.jp" in err
    assert len(event_rows(store, "email_click")) == 1
    store.dispose()


def test_engine_serve_on_a_busy_port_is_a_usage_error(tmp_path: Path,
                                                      serve_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", str(port),
                               "--db", f"sqlite:///{tmp_path}/s.db"], cwd=tmp_path,
                              env=serve_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"could not listen on 127.0.0.1:{port}" in done.stderr


def test_engine_serve_refuses_a_bad_site_origin(tmp_path: Path,
                                                serve_env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--db",
                           f"sqlite:///{tmp_path}/s.db"], cwd=tmp_path,
                          env={**serve_env, "ENGINE_SITE_ORIGINS": "https://x.example/path"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "site origin" in done.stderr
